#!/usr/bin/env bash
# Benchmark: governed tool calls (POST /v1/tools/execute, the bundled calculator) run in tool worker
# processes, against the same tool function called in process (aex-tool-bench).
#   - tool calls/s at 50 concurrent calls (wrk -c50), p50 and p99;
#   - added latency at one connection: p50 of a governed call minus the in-process call;
#   - 200 concurrent calls (wrk -c200): every answer 2xx;
#   - the workers' memory (RSS of every `aex __tool-worker`) and the daemon's;
#   - the same through MCP (tools/call on POST /mcp, one session), at 50 connections and at one;
#   - cross-check: the agent was charged exactly the tool's price per answered call; ledger verify.
#   bench/tools.sh [SECONDS]      (default 5)
#   AEX_BIN=path/to/aex bench/tools.sh
set -euo pipefail
cd "$(dirname "$0")/.."
seconds="${1:-5}"

. bench/common.sh
bench_install "wrk curl" wrk curl
aex="$(bench_aex_binary)"
tool_bench="$(dirname "$aex")/aex-tool-bench"
[ -x "$tool_bench" ] || { echo "tools bench: $tool_bench is missing (scripts/setup.sh release builds it)" >&2; exit 1; }
ulimit -n "$(ulimit -Hn)"

work="$(mktemp -d)"
export AEX_HOME="$work/aex"
cleanup() {
    "$aex" daemon stop >/dev/null 2>&1 || true
    rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

"$aex" init >/dev/null
"$aex" daemon start --port 0 >/dev/null
port="$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["port"])' "$AEX_HOME/daemon.json")"
daemon_pid="$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["pid"])' "$AEX_HOME/daemon.json")"
token="$("$aex" agent create bench 1000000 100000000 --json | python3 -c 'import json,sys; print(json.load(sys.stdin)["token"])')"
export BENCH_TOKEN="$token"
price="$(curl -s -H "Authorization: Bearer $token" "http://127.0.0.1:$port/v1/tools" |
    python3 -c 'import json,sys; print([t["price_micro"] for t in json.load(sys.stdin)["data"] if t["function"]["name"] == "calculator"][0])')"
probe="$(curl -s -H "Authorization: Bearer $token" -H 'Content-Type: application/json' \
    --data '{"tool_name":"calculator","arguments":{"expression":"(1.5 + 2) * 3^2 / 7"}}' "http://127.0.0.1:$port/v1/tools/execute")"
echo "$probe" | grep -q '"result":"4.5"' || { echo "tools bench: unexpected answer: $probe" >&2; exit 1; }
mcp_session="$(curl -s -D - -o /dev/null -H "Authorization: Bearer $token" -H 'Content-Type: application/json' \
    --data '{"jsonrpc":"2.0","id":0,"method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"bench","version":"1"}}}' \
    "http://127.0.0.1:$port/mcp" | awk 'tolower($1) == "mcp-session-id:" { gsub(/\r/, "", $2); print $2 }')"
mcp_probe="$(curl -s -H "Authorization: Bearer $token" -H 'Content-Type: application/json' -H "Mcp-Session-Id: $mcp_session" \
    --data '{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"calculator","arguments":{"expression":"(1.5 + 2) * 3^2 / 7"}}}' \
    "http://127.0.0.1:$port/mcp")"
echo "$mcp_probe" | grep -q '"structuredContent":{"result":"4.5"}' || { echo "tools bench: unexpected MCP answer: $mcp_probe" >&2; exit 1; }

spent() { "$aex" agent inspect bench --json | python3 -c 'import json,sys; print(json.load(sys.stdin)["spent_micro"])'; }
run_wrk() { # connections -> "rps p50_ms p99_ms non2xx requests"
    wrk -t"$(( $1 < 2 ? 1 : 2 ))" -c"$1" -d"${seconds}s" --latency -s bench/tool_call.lua "http://127.0.0.1:$port" | awk '
        function ms(v,   unit) { unit = v; gsub(/[0-9.]/, "", unit); sub(/[a-z]+$/, "", v);
                                 return (unit == "us") ? v / 1000 : (unit == "s") ? v * 1000 : v }
        /Requests\/sec/ { rps = $2 }
        /^ +50%/ { p50 = ms($2) }
        /^ +99%/ { p99 = ms($2) }
        /Non-2xx/ { bad = $NF }
        / requests in / { requests = $1 }
        END { printf "%.0f %.3f %.3f %d %d\n", rps, p50, p99, bad, requests }'
}

in_process="$("$tool_bench" 200000)"
before="$(spent)"
read -r rps50 p50_50 p99_50 bad50 n50 <<<"$(run_wrk 50)"
read -r rps1 p50_1 p99_1 bad1 n1 <<<"$(run_wrk 1)"
read -r rps200 p50_200 p99_200 bad200 n200 <<<"$(run_wrk 200)"
read -r mrps50 mp50_50 mp99_50 mbad50 mn50 <<<"$(BENCH_MCP_SESSION="$mcp_session" run_wrk 50)"
read -r mrps1 mp50_1 mp99_1 mbad1 mn1 <<<"$(BENCH_MCP_SESSION="$mcp_session" run_wrk 1)"
sleep 0.5
after="$(spent)"
in_process_us="$(echo "$in_process" | awk '{ print $3 }')"

echo "tools benchmark: the calculator through POST /v1/tools/execute, ${seconds}s per run, $(nproc) cores"
echo "$in_process"
printf '50 concurrent calls:  %s calls/s, p50 %s ms, p99 %s ms, non-2xx %s\n' "$rps50" "$p50_50" "$p99_50" "$bad50"
printf '1 connection:         %s calls/s, p50 %s ms, p99 %s ms, non-2xx %s\n' "$rps1" "$p50_1" "$p99_1" "$bad1"
awk -v p="$p50_1" -v i="$in_process_us" 'BEGIN { printf "added latency at one connection: %.3f ms over the in-process call (%.2f us)\n", p - i / 1000, i }'
printf '200 concurrent calls: %s calls/s, p50 %s ms, p99 %s ms, non-2xx %s\n' "$rps200" "$p50_200" "$p99_200" "$bad200"
printf 'MCP tools/call, 50 connections: %s calls/s, p50 %s ms, p99 %s ms, non-2xx %s\n' "$mrps50" "$mp50_50" "$mp99_50" "$mbad50"
printf 'MCP tools/call, 1 connection:   %s calls/s, p50 %s ms, p99 %s ms, non-2xx %s\n' "$mrps1" "$mp50_1" "$mp99_1" "$mbad1"
awk -v m="$mrps50" -v r="$rps50" -v mp="$mp50_1" -v rp="$p50_1" 'BEGIN { printf "MCP / tools/execute: %.2f of the calls/s at 50 connections; %+.3f ms at p50 on one connection\n", (r > 0 ? m / r : 0), mp - rp }'
workers_kb="$(for pid in $(pgrep -f -- '__tool-worker' || true); do awk '/^VmRSS/ { print $2 }' "/proc/$pid/status" 2>/dev/null; done | awk '{ s += $1; n += 1 } END { printf "%d %d", s, n }')"
read -r rss_kb count <<<"$workers_kb"
daemon_kb="$(awk '/^VmRSS/ { print $2 }' "/proc/$daemon_pid/status")"
awk -v s="$rss_kb" -v n="$count" -v d="$daemon_kb" 'BEGIN { printf "memory: %d tool workers, %.1f MB RSS together (%.1f MB each); the daemon %.1f MB\n", n, s / 1024, (n > 0 ? s / 1024 / n : 0), d / 1024 }'
charged=$(( (after - before) / price ))
answered=$(( n50 + n1 + n200 + mn50 + mn1 - bad50 - bad1 - bad200 - mbad50 - mbad1 ))
echo "settlement: $charged calls charged x $price micro; wrk counted $answered 2xx answers (calls in flight when wrk stopped are charged but not counted)"
"$aex" ledger verify
if [ "$bad200" -ne 0 ] || [ "$bad50" -ne 0 ]; then
    echo "tools bench: some calls failed" >&2
    exit 1
fi
