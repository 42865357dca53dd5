#!/usr/bin/env bash
# Instructions per governed call, counted by callgrind: a figure the machine's load does not move,
# to compare builds where `perf stat` has no hardware counters (virtual machines).
# AEX runs under valgrind in front of nginx answering a fixed completion (as in bench/proxy.sh);
# after a warm-up the counters are zeroed, wrk sends ~1 KB unique chat bodies at 10 connections for
# SECONDS, the counters are dumped, and the calls settled in between (from the agent's spent) divide
# them. Prints the total per call and the share of the event loops and of the ledger writer.
# User-space instructions only (callgrind does not see the kernel); SHA-256 runs without the CPU's
# SHA extensions under valgrind, so hashing counts more here than it costs natively.
#   bench/instructions.sh [SECONDS]          (default 10)
#   AEX_BIN=path/to/aex bench/instructions.sh
#   BENCH_CALLGRIND_OUT=/tmp/cg.out bench/instructions.sh    (keeps the dump for callgrind_annotate)
#   BENCH_IDEMPOTENCY=unique bench/instructions.sh   (every request with a new Idempotency-Key)
#   BENCH_STREAM=1 bench/instructions.sh   (streamed calls: the provider answers 5 content chunks,
#                                          the usage chunk and [DONE], bench/common.sh)
set -euo pipefail
cd "$(dirname "$0")/.."
seconds="${1:-10}"

. bench/common.sh
bench_install "wrk nginx valgrind" wrk nginx-light valgrind
if [ -n "${AEX_BIN:-}" ]; then
    built="$(dirname "$(realpath "$AEX_BIN")")"
else
    scripts/setup.sh release >/dev/null
    built="$PWD/.build/release"
fi

work="$(mktemp -d)"
export AEX_HOME="$work/aex"
cleanup() {
    [ -n "${valgrind_pid:-}" ] && kill "$valgrind_pid" 2>/dev/null && wait "$valgrind_pid" 2>/dev/null || true
    [ -f "$work/nginx.pid" ] && kill "$(cat "$work/nginx.pid")" 2>/dev/null || true
    rm -rf "$work"
}
trap cleanup EXIT

# valgrind 3.19 cannot read the DWARF 5 the Swift toolchain writes: count a copy without debug
# sections (symbols stay). Plugins are loaded from the executable's folder, so they come along.
mkdir -p "$work/bin"
cp "$built/aex" "$work/bin/"
cp "$built"/lib*.so "$work/bin/" 2>/dev/null || true
strip --strip-debug "$work/bin/aex" "$work/bin"/*.so 2>/dev/null || true
aex="$work/bin/aex"

provider_port="$(bench_free_port)"
aex_port="$(bench_free_port)"
completion='{"id":"chatcmpl-bench","object":"chat.completion","created":1700000000,"model":"mock-model","choices":[{"index":0,"message":{"role":"assistant","content":"Hello! This is a fixed benchmark completion.","refusal":null},"logprobs":null,"finish_reason":"stop"}],"usage":{"prompt_tokens":250,"completion_tokens":12,"total_tokens":262}}'
cost_micro=$(( 250 * 1 + 12 * 2 ))
{ bench_nginx_head "$work" 1 1024; cat <<CONF
    server {
        listen 127.0.0.1:$provider_port;
        location = /v1/chat/completions { default_type application/json; return 200 '$completion'; }
        location = /stream/v1/chat/completions { default_type text/event-stream; return 200 '$BENCH_STREAM_EVENTS'; }
    }
}
CONF
} > "$work/nginx.conf"
nginx -c "$work/nginx.conf"

"$aex" init >/dev/null
bench_models_yaml "$provider_port" 1 2 > "$AEX_HOME/config/models.yaml"
export BENCH_PROVIDER_KEY="sk-bench-provider"
out="$work/callgrind.out"
valgrind --tool=callgrind --callgrind-out-file="$out" "$aex" daemon start --foreground --port "$aex_port" \
    >"$work/valgrind.log" 2>&1 &
valgrind_pid=$!
for _ in $(seq 240); do
    curl -s -o /dev/null "http://127.0.0.1:$aex_port/health" && break
    kill -0 "$valgrind_pid" 2>/dev/null || { cat "$work/valgrind.log" >&2; exit 1; }
    sleep 0.5
done
token="$("$aex" agent create bench 1000000 100000000 --json | python3 -c 'import json,sys; print(json.load(sys.stdin)["token"])')"
export BENCH_TOKEN="$token" BENCH_MODEL="bench-model"
[ "${BENCH_STREAM:-}" = 1 ] && export BENCH_MODEL="bench-stream-model"
spent() { "$aex" agent inspect bench --json | python3 -c 'import json,sys; print(json.load(sys.stdin)["spent_micro"])'; }

BENCH_RUN=warm-up wrk -t1 -c10 -d3s -s bench/chat_body.lua "http://127.0.0.1:$aex_port/v1/chat/completions" >/dev/null
before="$(spent)"
callgrind_control -z "$valgrind_pid" >/dev/null 2>&1
BENCH_RUN=measured wrk -t1 -c10 -d"${seconds}s" -s bench/chat_body.lua "http://127.0.0.1:$aex_port/v1/chat/completions" >/dev/null
callgrind_control -d "$valgrind_pid" >/dev/null 2>&1
after="$(spent)"
calls=$(( (after - before) / cost_micro ))
[ "$calls" -gt 0 ] || { echo "instructions: no call was settled" >&2; exit 1; }

dump="$(ls "$out".* | sort -V | tail -1)"
# BENCH_CALLGRIND_OUT=FILE keeps the dump, for callgrind_annotate by function.
[ -n "${BENCH_CALLGRIND_OUT:-}" ] && cp "$dump" "$BENCH_CALLGRIND_OUT" && echo "calls: $calls" > "$BENCH_CALLGRIND_OUT.calls"
callgrind_annotate --inclusive=yes --threshold=100 "$dump" 2>/dev/null | python3 -c '
import sys
calls = int(sys.argv[1])
total = loops = writer = 0
for line in sys.stdin:
    parts = line.split()
    if len(parts) < 3 or not parts[0][0].isdigit():
        continue
    count = int(parts[0].replace(",", ""))
    if "PROGRAM TOTALS" in line:
        total = count
    elif "EventLoopC3run" in line and not loops:
        loops = count
    elif "StoreWriterC7runLoop" in line and not writer:
        writer = count
print(f"instructions per governed {sys.argv[2]}call (callgrind, {calls} calls): {total / calls:,.0f} "
      f"(event loops {loops / calls:,.0f}, ledger writer {writer / calls:,.0f})")
' "$calls" "$([ "${BENCH_STREAM:-}" = 1 ] && echo 'streamed ')"
