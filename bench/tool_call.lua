-- wrk script for bench/tools.sh: the calculator through POST /v1/tools/execute, or, with
-- BENCH_MCP_SESSION set, through MCP's tools/call (POST /mcp in that session).
--   BENCH_TOKEN   bearer token
local token = os.getenv("BENCH_TOKEN") or "sk-bench"
local expression = os.getenv("BENCH_EXPRESSION") or "(1.5 + 2) * 3^2 / 7"
local session = os.getenv("BENCH_MCP_SESSION")
wrk.method = "POST"
wrk.headers["Authorization"] = "Bearer " .. token
wrk.headers["Content-Type"] = "application/json"
if session then
    wrk.path = "/mcp"
    wrk.headers["Accept"] = "application/json, text/event-stream"
    wrk.headers["Mcp-Session-Id"] = session
    wrk.body = string.format('{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"calculator","arguments":{"expression":"%s"}}}', expression)
else
    wrk.path = "/v1/tools/execute"
    wrk.body = string.format('{"tool_name":"calculator","arguments":{"expression":"%s"}}', expression)
end
