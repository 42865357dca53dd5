-- wrk script for bench/tools.sh: POST /v1/tools/execute running the calculator.
--   BENCH_TOKEN   bearer token
local token = os.getenv("BENCH_TOKEN") or "sk-bench"
local expression = os.getenv("BENCH_EXPRESSION") or "(1.5 + 2) * 3^2 / 7"
wrk.method = "POST"
wrk.path = "/v1/tools/execute"
wrk.headers["Authorization"] = "Bearer " .. token
wrk.headers["Content-Type"] = "application/json"
wrk.body = string.format('{"tool_name":"calculator","arguments":{"expression":"%s"}}', expression)
