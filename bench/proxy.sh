#!/usr/bin/env bash
# Benchmark: the governed chat proxy against nginx, same run, same machine.
#   direct  wrk → nginx answering a fixed chat.completion (the "fast provider")
#   nginx   wrk → nginx plain reverse proxy (upstream keepalive) → direct
#   aex     wrk → AEX with full governance (auth, policy, rate limit, reservation, settlement,
#           ledger) → direct, with the default durability (synchronous=FULL: no acknowledged
#           commit lost on power loss)
#   aex-nor the same with AEX_DURABILITY=normal: what the default durability costs
# Every request is a POST with a ~1 KB chat body unique per request (bench/chat_body.lua). Several
# alternating rounds at 50 connections (req/s, p50, p99, non-2xx; ratio AEX/nginx-proxy), the same
# streamed (the provider answers 5 content chunks, the usage chunk and [DONE] as text/event-stream;
# nginx relays it unbuffered), then at one connection for the latency AEX adds (p50 of aex minus p50
# of direct; medians over rounds), against the disk's fdatasync p50 measured in the same run.
# AEX's CPU per call (non-streamed and streamed, hence per relayed event) and the machine's context
# switches per call (ctxt of /proc/stat) come from the same runs.
# Then: ledger appends per second during the AEX runs, the ledger's bytes per governed request
# (indexes included), `aex ledger verify` over everything the runs wrote, and the ledger writer's
# own capacity (bench/LedgerAppends: reserve + commit pairs with no HTTP, FULL and NORMAL).
#   bench/proxy.sh [ROUNDS] [SECONDS]      (defaults: 3 rounds of 5 s)
#   AEX_BIN=path/to/aex bench/proxy.sh     (use an existing build instead of scripts/setup.sh release)
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
nginx_pid=""
cleanup() {
    "$aex" daemon stop >/dev/null 2>&1 || true
    AEX_HOME="$work/aex-normal" "$aex" daemon stop >/dev/null 2>&1 || true
    if [ -f "$work/nginx.pid" ]; then kill "$(cat "$work/nginx.pid")" 2>/dev/null || true; fi
    if [ -n "$nginx_pid" ]; then kill "$nginx_pid" 2>/dev/null || true; fi
    rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

direct_port="$(bench_free_port)"
proxy_port="$(bench_free_port)"
while [ "$proxy_port" = "$direct_port" ]; do proxy_port="$(bench_free_port)"; done

input_micro=1
output_micro=2
cost_micro=$(( 250 * input_micro + 12 * output_micro ))

{ bench_nginx_head "$work" 2 16384; bench_provider_servers "$direct_port" "$proxy_port"; echo "}"; } > "$work/nginx.conf"
nginx -c "$work/nginx.conf"
sleep 0.3

# (c) AEX in front of the fast provider, an agent with a huge budget and rate limit.
"$aex" init >/dev/null
bench_models_yaml "$direct_port" "$input_micro" "$output_micro" > "$AEX_HOME/config/models.yaml"
export BENCH_PROVIDER_KEY="sk-bench-provider"
"$aex" daemon start --port 0 >/dev/null
aex_port="$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["port"])' "$AEX_HOME/daemon.json")"
token="$("$aex" agent create bench 1000000 100000000 --json | python3 -c 'import json,sys; print(json.load(sys.stdin)["token"])')"
export BENCH_TOKEN="$token" BENCH_MODEL="bench-model"

# (d) the same AEX with AEX_DURABILITY=normal, its own home; the same agent token works nowhere
# else, so its wrk runs get their own.
AEX_HOME="$work/aex-normal" "$aex" init >/dev/null
cp "$AEX_HOME/config/models.yaml" "$work/aex-normal/config/models.yaml"
AEX_HOME="$work/aex-normal" AEX_DURABILITY=normal "$aex" daemon start --port 0 >/dev/null
normal_port="$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["port"])' "$work/aex-normal/daemon.json")"
normal_token="$(AEX_HOME="$work/aex-normal" "$aex" agent create bench 1000000 100000000 --json | python3 -c 'import json,sys; print(json.load(sys.stdin)["token"])')"
aex_pid="$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["pid"])' "$AEX_HOME/daemon.json")"
clock_ticks="$(getconf CLK_TCK)"
# perf, when this machine lets us count the daemon's instructions (optional).
perf_cmd=""
# (A virtual machine without hardware counters answers "<not supported>" instead of a number.)
if command -v perf >/dev/null && perf stat -x, -e instructions:u -- true 2>&1 >/dev/null | grep -q '^[0-9][0-9]*,'; then perf_cmd="perf"; fi
# CPU ticks of AEX's threads so far, summed by role: aex-writer, aex-loop (all loops), other.
cpu_by_role() {
    for task in /proc/"$aex_pid"/task/*; do
        printf '%s %s\n' "$(cat "$task/comm")" "$(awk '{ print $14 + $15 }' "$task/stat")"
    done | awk '{ role = ($1 == "aex-writer") ? "writer" : ($1 ~ /^aex-loop-/) ? "loops" : "other"; ticks[role] += $2 }
                END { printf "%d %d %d\n", ticks["writer"], ticks["loops"], ticks["other"] }'
}
# Context switches of AEX's threads so far: "loops_voluntary loops_involuntary writer_voluntary writer_involuntary".
switches_by_role() {
    for task in /proc/"$aex_pid"/task/*; do
        printf '%s %s\n' "$(cat "$task/comm")" "$(awk '/^voluntary_ctxt_switches/ { v = $2 } /^nonvoluntary_ctxt_switches/ { n = $2 } END { print v + 0, n + 0 }' "$task/status")"
    done | awk '{ if ($1 == "aex-writer") { wv += $2; wn += $3 } else if ($1 ~ /^aex-loop-/) { lv += $2; ln += $3 } }
                END { printf "%d %d %d %d\n", lv, ln, wv, wn }'
}
ledger_seq() { python3 -c 'import sqlite3,sys; print(sqlite3.connect(f"file:{sys.argv[1]}?mode=ro", uri=True).execute("SELECT coalesce(max(seq), 0) FROM event_log").fetchone()[0])' "$AEX_HOME/aex.db"; }

# Check every target once before measuring.
probe_body='{"model":"bench-model","max_tokens":64,"messages":[{"role":"user","content":"probe"}]}'
for target in "direct:$direct_port" "nginx:$proxy_port" "aex:$aex_port"; do
    name="${target%%:*}"; port="${target##*:}"
    answer="$(curl -s -D "$work/probe.headers" -o "$work/probe.body" -w '%{http_code}' \
        -H "Authorization: Bearer $token" -H 'Content-Type: application/json' \
        --data "$probe_body" "http://127.0.0.1:$port/v1/chat/completions")"
    if [ "$answer" != 200 ]; then
        echo "proxy bench: $name answered $answer: $(head -c 300 "$work/probe.body")" >&2
        exit 1
    fi
done
probe_cost="$(awk 'tolower($1) == "x-aex-cost-micro:" { gsub(/\r/, "", $2); print $2 }' "$work/probe.headers")"
if [ "$probe_cost" != "$cost_micro" ]; then
    echo "proxy bench: AEX charged '$probe_cost' micro for a call, expected $cost_micro" >&2
    exit 1
fi
stream_probe="$(curl -s -N -H "Authorization: Bearer $token" -H 'Content-Type: application/json' \
    --data '{"model":"bench-stream-model","stream":true,"stream_options":{"include_usage":true},"max_tokens":64,"messages":[{"role":"user","content":"probe"}]}' \
    "http://127.0.0.1:$aex_port/v1/chat/completions")"
if [ "$(grep -c '^data: ' <<<"$stream_probe")" != 7 ] || ! grep -q '^data: \[DONE\]' <<<"$stream_probe" ||
   ! grep -q '"model":"bench-stream-model"' <<<"$stream_probe"; then
    echo "proxy bench: AEX's stream is not the provider's 7 events under the alias: $(head -c 600 <<<"$stream_probe")" >&2
    exit 1
fi
grep -q '"model":"bench-model"' "$work/probe.body" || grep -q '"model": "bench-model"' "$work/probe.body" ||
    { echo "proxy bench: AEX did not answer with the alias: $(head -c 300 "$work/probe.body")" >&2; exit 1; }

# wrk prints "Requests/sec:  N", "50%  X(us|ms|s)" and "99% ..." with --latency, and
# "Non-2xx or 3xx responses: N" / "Socket errors: connect A, read B, write C, timeout D" when any.
run_wrk() { # port threads connections [token] [mode: plain|stream-provider|stream-aex] -> "rps p50_ms p99_ms non2xx socket_errors requests"
    local path=/v1/chat/completions model=bench-model stream=0
    case "${5:-plain}" in
        stream-provider) path=/stream/v1/chat/completions; stream=1 ;;
        stream-aex) model=bench-stream-model; stream=1 ;;
    esac
    BENCH_TOKEN="${4:-$BENCH_TOKEN}" BENCH_MODEL="$model" BENCH_STREAM="$stream" BENCH_PATH="$path" \
        wrk -t"$2" -c"$3" -d"${seconds}s" --latency -s bench/chat_body.lua "http://127.0.0.1:$1$path" | awk '
        function ms(v,   unit) { unit = v; gsub(/[0-9.]/, "", unit); sub(/[a-z]+$/, "", v);
                                 return (unit == "us") ? v / 1000 : (unit == "s") ? v * 1000 : (unit == "m") ? v * 60000 : v }
        /Requests\/sec/ { rps = $2 }
        /^ +50%/ { p50 = ms($2) }
        /^ +99%/ { p99 = ms($2) }
        /Non-2xx/ { bad = $NF }
        /Socket errors/ { gsub(/,/, ""); errors = $4 + $6 + $8 + $10 }
        / requests in / { requests = $1 }
        END { printf "%.0f %.3f %.3f %d %d %d\n", rps, p50, p99, bad, errors, requests }'
}
median() { sort -g | awk '{ a[NR] = $1 } END { if (NR == 0) print 0; else print (NR % 2) ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2 }'; }
mode_of() { # server kind(plain|stream)
    if [ "$2" = plain ]; then echo plain; elif [ "${1%%-*}" = aex ]; then echo stream-aex; else echo stream-provider; fi
}
ctxt_total() { awk '$1 == "ctxt" { print $2 }' /proc/stat; }
port_of() { case "$1" in direct) echo "$direct_port" ;; nginx) echo "$proxy_port" ;; aex) echo "$aex_port" ;; aex-nor) echo "$normal_port" ;; esac; }
token_of() { case "$1" in aex-nor) echo "$normal_token" ;; *) echo "$token" ;; esac; }

spent_before="$("$aex" agent inspect bench --json | python3 -c 'import json,sys; print(json.load(sys.stdin)["spent_micro"])')"
aex_ok=0

echo "proxy benchmark: $rounds rounds x ${seconds}s, ~1 KB unique chat bodies, $(nproc) cores"
printf '%-6s %-12s %-7s %-7s %12s %10s %10s %8s %8s\n' round connections kind server req/s p50_ms p99_ms non2xx errors
for round in $(seq "$rounds"); do
    for setting in "2 $connections plain" "2 $connections stream" "1 1 plain"; do
        read -r threads conns kind <<<"$setting"
        for server in direct nginx aex aex-nor; do
            c0="$(ctxt_total)"
            if [ "$server" = aex ]; then seq_before="$(ledger_seq)"; read -r w0 l0 o0 <<<"$(cpu_by_role)"; read -r s0 <<<"$(switches_by_role)"; fi
            result="$(run_wrk "$(port_of "$server")" "$threads" "$conns" "$(token_of "$server")" "$(mode_of "$server" "$kind")")"
            requests="$(echo "$result" | cut -d' ' -f6)"
            echo "$(( $(ctxt_total) - c0 )) $requests" >> "$work/ctxt.$server.$conns.$kind"
            if [ "$server" = aex ]; then
                [ "$kind" = plain ] && echo "$(( $(ledger_seq) - seq_before ))" >> "$work/appends"
                read -r w1 l1 o1 <<<"$(cpu_by_role)"
                read -r s1 <<<"$(switches_by_role)"
                paste -d' ' <(tr ' ' '\n' <<<"$s1") <(tr ' ' '\n' <<<"$s0") | awk '{ printf "%d ", $1 - $2 }' >> "$work/switches.$conns.$kind"
                echo "$requests" >> "$work/switches.$conns.$kind"
                [ "$conns" = "$connections" ] && echo "$(( w1 - w0 )) $(( l1 - l0 )) $(( o1 - o0 )) $requests" >> "$work/cpu.$kind"
            fi
            echo "$result" >> "$work/$server.$conns.$kind"
            read -r rps p50 p99 bad errors requests <<<"$result"
            if [ "$server" = aex ]; then aex_ok=$(( aex_ok + requests - bad )); fi
            printf '%-6s %-12s %-7s %-7s %12s %10s %10s %8s %8s\n' "$round" "$conns" "$kind" "$server" "$rps" "$p50" "$p99" "$bad" "$errors"
        done
    done
done

column_median() { cut -d' ' -f"$1" "$2" | median; }

# Instructions per call, counted in extra AEX runs after the measured ones (counting slows a
# process that switches threads this often, so it never overlaps a timed run): unlike time, a
# measure the machine's load barely moves, to compare builds across runs.
if [ -n "$perf_cmd" ]; then
    for run in 1 2 3; do
        $perf_cmd stat -x, -e instructions:u,instructions:k -p "$aex_pid" -o "$work/perf.$run" -- sleep "$seconds" &
        counting=$!
        result="$(run_wrk "$aex_port" 2 "$connections" "$token")"
        read -r rps p50 p99 bad errors requests <<<"$result"
        aex_ok=$(( aex_ok + requests - bad ))
        wait "$counting" || true
        awk -F, -v n="$(echo "$result" | cut -d' ' -f6)" '$3 == "instructions:u" && $1 ~ /^[0-9]+$/ { u = $1 } $3 == "instructions:k" && $1 ~ /^[0-9]+$/ { k = $1 }
            END { if (n > 0 && u > 0) print u / n, k / n }' "$work/perf.$run" >> "$work/instructions"
    done
fi
echo
echo "medians over $rounds rounds"
printf '%-12s %-7s %-7s %12s %10s %10s %10s\n' connections kind server req/s p50_ms p99_ms non2xx
for setting in "$connections plain" "$connections stream" "1 plain"; do
    read -r conns kind <<<"$setting"
    for server in direct nginx aex aex-nor; do
        file="$work/$server.$conns.$kind"
        printf '%-12s %-7s %-7s %12s %10s %10s %10s\n' "$conns" "$kind" "$server" "$(column_median 1 "$file")" \
            "$(column_median 2 "$file")" "$(column_median 3 "$file")" "$(awk '{ s += $4 } END { print s + 0 }' "$file")"
    done
done

aex_p50_1="$(column_median 2 "$work/aex.1.plain")"
normal_p50_1="$(column_median 2 "$work/aex-nor.1.plain")"
direct_p50_1="$(column_median 2 "$work/direct.1.plain")"
nginx_p50_1="$(column_median 2 "$work/nginx.1.plain")"
echo
for kind in plain stream; do
    aex_rps="$(column_median 1 "$work/aex.$connections.$kind")"
    nginx_rps="$(column_median 1 "$work/nginx.$connections.$kind")"
    awk -v a="$aex_rps" -v n="$nginx_rps" -v c="$connections" -v k="$kind" \
        'BEGIN { printf "throughput at %d connections, %s: AEX/nginx-proxy = %.2f (%s vs %s req/s)\n", c, (k == "plain" ? "non-streamed" : "streamed"), (n > 0 ? a / n : 0), a, n }'
    # Per round, same seconds: the ratio moves with the machine's load, so show each.
    paste -d' ' "$work/aex.$connections.$kind" "$work/nginx.$connections.$kind" |
        awk '{ r = r sprintf(" %.2f", ($7 > 0 ? $1 / $7 : 0)) } END { print "  per round:" r }'
done
# The disk's own durable-write latency, same run: what one synchronous commit costs at least.
fdatasync_p50="$(python3 - "$AEX_HOME" <<'PY'
import os, statistics, sys, time
path = os.path.join(sys.argv[1], "fdatasync-probe")
fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
block, samples = b"x" * 4096, []
for i in range(400):
    os.pwrite(fd, block, (i % 64) * 4096)
    started = time.perf_counter()
    os.fdatasync(fd)
    samples.append(time.perf_counter() - started)
os.close(fd)
os.unlink(path)
print(f"{statistics.median(samples[50:]) * 1000:.3f}")
PY
)"
awk -v a="$aex_p50_1" -v nr="$normal_p50_1" -v d="$direct_p50_1" -v n="$nginx_p50_1" -v f="$fdatasync_p50" \
    'BEGIN { printf "added latency at 1 connection (p50 minus direct p50 of %.3f ms): AEX +%.3f ms (%.0f us), AEX with NORMAL +%.3f ms, nginx-proxy +%.3f ms (%.0f us)\n",
             d, a - d, (a - d) * 1000, nr - d, n - d, (n - d) * 1000
             printf "  this disk: fdatasync p50 %.3f ms (4 KB writes, same run): bound for the default durability 2 x %.3f + 0.1 = %.3f ms\n", f, f, 2 * f + 0.1 }'
aex_rps="$(column_median 1 "$work/aex.$connections.plain")"
normal_rps="$(column_median 1 "$work/aex-nor.$connections.plain")"
awk -v a="$aex_rps" -v n="$normal_rps" \
    'BEGIN { printf "durability: AEX with synchronous=FULL (default) %s req/s, with NORMAL %s req/s: FULL costs %.0f%%\n", a, n, (n > 0 ? (1 - a / n) * 100 : 0) }'
for kind in plain stream; do
    awk -v hz="$clock_ticks" -v c="$connections" -v k="$kind" '{ w += $1; l += $2; o += $3; n += $4 }
        END { if (n > 0) printf "AEX CPU per %s call at %d connections: %.1f us (event loops %.1f, ledger writer %.1f, other threads %.1f)\n",
                                (k == "plain" ? "non-streamed" : "streamed"), c, (w + l + o) * 1e6 / hz / n, l * 1e6 / hz / n, w * 1e6 / hz / n, o * 1e6 / hz / n }' "$work/cpu.$kind"
done
awk -v hz="$clock_ticks" 'FNR == 1 { f++ } { t[f] += $1 + $2 + $3; n[f] += $4 }
    END { if (n[1] > 0 && n[2] > 0) { p = t[1] * 1e6 / hz / n[1]; s = t[2] * 1e6 / hz / n[2]
          printf "  streamed / non-streamed CPU per call: %.2f; the stream'"'"'s extra CPU per relayed event (7 events: 5 chunks, usage, [DONE]): %.2f us\n", s / p, (s - p) / 7 } }' \
    "$work/cpu.plain" "$work/cpu.stream"
for setting in "$connections plain" "$connections stream" "1 plain"; do
    read -r conns kind <<<"$setting"
    awk -v c="$conns" -v k="$kind" '{ lv += $1; ln += $2; wv += $3; wn += $4; n += $5 }
        END { if (n > 0) printf "AEX threads'"'"' own switches per call, %d connections, %s: event loops %.2f voluntary + %.2f preempted, ledger writer %.2f + %.2f\n",
                                c, k, lv / n, ln / n, wv / n, wn / n }' "$work/switches.$conns.$kind"
done
for setting in "nginx $connections plain" "aex $connections plain" "nginx $connections stream" "aex $connections stream" "nginx 1 plain" "aex 1 plain" "aex-nor 1 plain"; do
    read -r server conns kind <<<"$setting"
    awk -v s="$server" -v c="$conns" -v k="$kind" '{ x += $1; n += $2 }
        END { if (n > 0) printf "context switches per call (ctxt of /proc/stat, whole machine), %s, %d connections, %s: %.2f\n", s, c, k, x / n }' \
        "$work/ctxt.$server.$conns.$kind"
done
if [ -s "$work/instructions" ]; then
    printf 'AEX instructions per call at %d connections (perf stat, median of %d extra runs): %.0f in user space, %.0f in the kernel\n' \
        "$connections" "$(wc -l < "$work/instructions")" "$(column_median 1 "$work/instructions")" "$(column_median 2 "$work/instructions")"
else
    echo "AEX instructions per call: not counted (perf has no instruction counters on this machine)"
fi
awk -v s="$seconds" '{ total += $1; runs += 1 } END { printf "ledger appends during the AEX runs (default durability): %.0f events/s (%d events in %d runs of %d s)\n", total / (runs * s), total, runs, s }' "$work/appends"
python3 bench/ledger_size.py "$AEX_HOME/aex.db"
verify_started="$(date +%s.%N)"
verify_output="$("$aex" ledger verify)" || { echo "proxy bench: aex ledger verify failed" >&2; exit 1; }
echo "$verify_output (in $(awk -v a="$verify_started" -v b="$(date +%s.%N)" 'BEGIN { printf "%.2f", b - a }') s)"

# The ledger writer on its own, same machine, same run: its capacity against what the proxy used.
ledger_bench="$(dirname "$aex")/aex-ledger-bench"
if [ -x "$ledger_bench" ]; then
    "$ledger_bench" "$work" "$seconds" "$connections"
else
    echo "proxy bench: $ledger_bench is missing (scripts/setup.sh release builds it)" >&2
    exit 1
fi

spent_after="$("$aex" agent inspect bench --json | python3 -c 'import json,sys; d=json.load(sys.stdin); print(d["spent_micro"], d["reserved_micro"])')"
read -r spent reserved <<<"$spent_after"
settled=$(( (spent - spent_before) / cost_micro ))
echo "settlement: AEX charged $settled calls x $cost_micro micro (reserved now $reserved); wrk counted $aex_ok 2xx answers from AEX" \
     "(calls still in flight when wrk stopped are charged but not counted)"
