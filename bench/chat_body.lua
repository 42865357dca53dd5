-- wrk script for bench/proxy.sh: POST /v1/chat/completions with a ~1 KB chat body that is unique
-- per request (thread id and counter in the user message), a bearer token and a JSON content type.
--   BENCH_TOKEN   bearer token (default "sk-bench")
--   BENCH_MODEL   model name in the body (default "bench-model")
--   BENCH_PATH    request path (default "/v1/chat/completions")
--   BENCH_IDEMPOTENCY   "" (default: no Idempotency-Key), "unique" (a new key per request, with
--                       its unique body) or "replay" (every request the same body and key)
--   BENCH_RUN           a name for this run, part of every key
--   BENCH_STREAM        "1": a streamed call ("stream":true with the usage chunk asked for)

local threads = {}
local next_id = 0

function setup(thread)
    next_id = next_id + 1
    thread:set("thread_id", next_id)
    table.insert(threads, thread)
end

local token = os.getenv("BENCH_TOKEN") or "sk-bench"
local model = os.getenv("BENCH_MODEL") or "bench-model"
local path = os.getenv("BENCH_PATH") or "/v1/chat/completions"
local idempotency = os.getenv("BENCH_IDEMPOTENCY") or ""
local run = os.getenv("BENCH_RUN") or ""   -- in the key, so that runs against one agent never share keys
local stream = os.getenv("BENCH_STREAM") == "1" and '"stream":true,"stream_options":{"include_usage":true},' or ""
local headers = {
    ["Authorization"] = "Bearer " .. token,
    ["Content-Type"] = "application/json",
}
-- ~900 bytes of system prompt so the whole body is about 1 KB.
local system = string.rep("You are a careful assistant. Answer briefly and cite nothing. ", 15)
local counter = 0

function init(args)
    thread_id = thread_id or 0
end

function request()
    counter = counter + 1
    if idempotency == "replay" then counter = 1 end
    if idempotency ~= "" then
        headers["Idempotency-Key"] = string.format("bench-%s-%s-%d-%d", run, idempotency, idempotency == "replay" and 0 or thread_id, counter)
    end
    local thread = idempotency == "replay" and 0 or thread_id
    local body = string.format(
        '{"model":"%s",%s"max_tokens":64,"temperature":0.2,"messages":[' ..
        '{"role":"system","content":"%s"},' ..
        '{"role":"user","content":"Benchmark request %d-%d: say hello."}]}',
        model, stream, system, thread, counter)
    return wrk.format("POST", path, headers, body)
end
