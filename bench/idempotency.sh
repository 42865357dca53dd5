#!/usr/bin/env bash
# Benchmark: what an Idempotency-Key costs, and what a replay costs, against the nginx proxy in the
# same run. wrk at 50 connections, ~1 KB chat bodies (bench/chat_body.lua), alternating rounds of:
#   nginx    wrk → nginx plain reverse proxy → nginx answering a fixed completion (the provider)
#   plain    wrk → AEX, unique bodies, no Idempotency-Key (every call governed and paid)
#   keyed    wrk → AEX, unique bodies, a new key per request (every answer stored with its commit)
#   replay   wrk → AEX, one body and one key for every request (answered from the store: no
#            admission, no reservation, no provider call)
# Then cross-checks: the replay rounds charged nothing (the agent's spent moved by one call at
# most per round), the stored answers' bytes stay within AEX_IDEMPOTENCY_STORE_BYTES_MAX, and
# `aex ledger verify` passes.
#   bench/idempotency.sh [ROUNDS] [SECONDS]      (defaults: 3 rounds of 5 s)
#   AEX_BIN=path/to/aex bench/idempotency.sh
set -euo pipefail
cd "$(dirname "$0")/.."
rounds="${1:-3}"
seconds="${2:-5}"
connections=50

. bench/common.sh
bench_install "wrk nginx curl" wrk nginx-light curl
aex="$(bench_aex_binary)"
ulimit -n "$(ulimit -Hn)"

work="$(mktemp -d)"
export AEX_HOME="$work/aex"
cleanup() {
    "$aex" daemon stop >/dev/null 2>&1 || true
    if [ -f "$work/nginx.pid" ]; then kill "$(cat "$work/nginx.pid")" 2>/dev/null || true; fi
    rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

direct_port="$(bench_free_port)"
proxy_port="$(bench_free_port)"
while [ "$proxy_port" = "$direct_port" ]; do proxy_port="$(bench_free_port)"; done
cost_micro=$(( 250 * 1 + 12 * 2 ))
store_bytes_max=$(( 64 * 1024 * 1024 ))

{ bench_nginx_head "$work" 2 16384; bench_provider_servers "$direct_port" "$proxy_port"; echo "}"; } > "$work/nginx.conf"
nginx -c "$work/nginx.conf"
sleep 0.3

"$aex" init >/dev/null
bench_models_yaml "$direct_port" 1 2 > "$AEX_HOME/config/models.yaml"
export BENCH_PROVIDER_KEY="sk-bench-provider"
AEX_IDEMPOTENCY_STORE_BYTES_MAX="$store_bytes_max" "$aex" daemon start --port 0 >/dev/null
aex_port="$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["port"])' "$AEX_HOME/daemon.json")"
token="$("$aex" agent create bench 1000000 100000000 --json | python3 -c 'import json,sys; print(json.load(sys.stdin)["token"])')"
export BENCH_TOKEN="$token" BENCH_MODEL="bench-model"
spent() { "$aex" agent inspect bench --json | python3 -c 'import json,sys; print(json.load(sys.stdin)["spent_micro"])'; }

run_wrk() { # port mode run-name -> "rps p50_ms p99_ms non2xx requests"
    BENCH_IDEMPOTENCY="$2" BENCH_RUN="$3" wrk -t2 -c"$connections" -d"${seconds}s" --latency -s bench/chat_body.lua \
        "http://127.0.0.1:$1/v1/chat/completions" | awk '
        function ms(v,   unit) { unit = v; gsub(/[0-9.]/, "", unit); sub(/[a-z]+$/, "", v);
                                 return (unit == "us") ? v / 1000 : (unit == "s") ? v * 1000 : v }
        /Requests\/sec/ { rps = $2 }
        /^ +50%/ { p50 = ms($2) }
        /^ +99%/ { p99 = ms($2) }
        /Non-2xx/ { bad = $NF }
        / requests in / { requests = $1 }
        END { printf "%.0f %.3f %.3f %d %d\n", rps, p50, p99, bad, requests }'
}
median() { sort -g | awk '{ a[NR] = $1 } END { if (NR == 0) print 0; else print (NR % 2) ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2 }'; }

echo "idempotency benchmark: $rounds rounds x ${seconds}s at $connections connections, ~1 KB chat bodies, $(nproc) cores"
printf '%-6s %-7s %12s %10s %10s %8s\n' round target req/s p50_ms p99_ms non2xx
replay_charged=0
for round in $(seq "$rounds"); do
    for target in nginx plain keyed replay; do
        case "$target" in
            nginx) result="$(run_wrk "$proxy_port" "" "r$round")" ;;
            plain) result="$(run_wrk "$aex_port" "" "r$round")" ;;
            keyed) result="$(run_wrk "$aex_port" unique "r$round")" ;;
            replay)
                before="$(spent)"
                result="$(run_wrk "$aex_port" replay "r$round")"
                replay_charged=$(( replay_charged + ($(spent) - before) / cost_micro ))
                ;;
        esac
        echo "$result" >> "$work/res.$target"
        read -r rps p50 p99 bad requests <<<"$result"
        printf '%-6s %-7s %12s %10s %10s %8s\n' "$round" "$target" "$rps" "$p50" "$p99" "$bad"
    done
done

echo
echo "medians over $rounds rounds"
for target in nginx plain keyed replay; do
    printf '%-7s %12s req/s  p50 %s ms  p99 %s ms\n' "$target" "$(cut -d' ' -f1 "$work/res.$target" | median)" \
        "$(cut -d' ' -f2 "$work/res.$target" | median)" "$(cut -d' ' -f3 "$work/res.$target" | median)"
done
nginx_rps="$(cut -d' ' -f1 "$work/res.nginx" | median)"
for target in plain keyed replay; do
    paste -d' ' "$work/res.$target" "$work/res.nginx" |
        awk -v t="$target" '{ r = r sprintf(" %.2f", ($6 > 0 ? $1 / $6 : 0)) } END { print t " / nginx-proxy per round:" r }'
done
awk -v k="$(cut -d" " -f1 "$work/res.keyed" | median)" -v p="$(cut -d" " -f1 "$work/res.plain" | median)" \
    'BEGIN { printf "keyed / plain: %.2f (storing every answer with its commit)\n", (p > 0 ? k / p : 0) }'

rows_bytes="$(python3 -c 'import sqlite3,sys; print(*sqlite3.connect(f"file:{sys.argv[1]}?mode=ro", uri=True).execute("SELECT count(*), coalesce(sum(length(body)), 0), (SELECT total FROM idempotent_answer_bytes) FROM idempotent_answers").fetchone())' "$AEX_HOME/aex.db")"
read -r rows bytes total <<<"$rows_bytes"
echo "stored answers: $rows rows, $bytes body bytes (running total $total; bound $store_bytes_max)"
if [ "$bytes" != "$total" ] || [ "$bytes" -gt "$store_bytes_max" ]; then
    echo "idempotency bench: stored bytes $bytes, running total $total, bound $store_bytes_max" >&2
    exit 1
fi
echo "replay rounds charged $replay_charged calls (at most one per round: each round's first request runs)"
if [ "$replay_charged" -gt "$rounds" ]; then
    echo "idempotency bench: replays were charged" >&2
    exit 1
fi
"$aex" ledger verify
