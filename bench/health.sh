#!/usr/bin/env bash
# Benchmark: AEX's GET /health against nginx serving the same bytes, same run, same machine.
# Several alternating rounds at 50 and at 1,000 keep-alive connections; prints req/s and p99 for
# both and the ratio (medians over rounds), then AEX's RSS while holding 1,000 idle connections.
#   bench/health.sh [ROUNDS] [SECONDS]      (defaults: 3 rounds of 5 s)
#   AEX_BIN=path/to/aex bench/health.sh     (use an existing build instead of scripts/setup.sh release)
set -euo pipefail
cd "$(dirname "$0")/.."
rounds="${1:-3}"
seconds="${2:-5}"

. bench/common.sh
bench_install "wrk nginx" wrk nginx-light
if [ -z "${AEX_BIN:-}" ]; then scripts/setup.sh release >/dev/null; fi
ulimit -n "$(ulimit -Hn)"

work="$(mktemp -d)"
export AEX_HOME="$work/aex"
aex="${AEX_BIN:-.build/release/aex}"
cleanup() {
    "$aex" daemon stop >/dev/null 2>&1 || true
    [ -f "$work/nginx.pid" ] && kill "$(cat "$work/nginx.pid")" 2>/dev/null || true
    rm -rf "$work"
}
trap cleanup EXIT

"$aex" init >/dev/null
"$aex" daemon start --port 0 >/dev/null
aex_port="$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["port"])' "$AEX_HOME/daemon.json")"
aex_pid="$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["pid"])' "$AEX_HOME/daemon.json")"
rss_kb() { awk '/VmRSS/ { print $2 }' "/proc/$1/status"; }
rss_fresh_mb=$(( $(rss_kb "$aex_pid") / 1024 ))
body="$(curl -s "http://127.0.0.1:$aex_port/health")"

nginx_port="$(bench_free_port)"
{ bench_nginx_head "$work" 2 8192; cat <<CONF
    server {
        listen 127.0.0.1:$nginx_port reuseport;
        location = /health {
            default_type application/json;
            add_header x-request-id \$request_id;
            return 200 '$body';
        }
    }
}
CONF
} > "$work/nginx.conf"
nginx -c "$work/nginx.conf"
sleep 0.3

# wrk prints "Requests/sec:  N" and, with --latency, "99%  X(us|ms|s)".
run_wrk() { # url connections -> "rps p99_ms"
    wrk -t2 -c"$2" -d"${seconds}s" --latency "$1" | awk '
        /Requests\/sec/ { rps = $2 }
        /^ +99%/ { v = $2; unit = v; gsub(/[0-9.]/, "", unit); sub(/[a-z]+$/, "", v);
                   p99 = (unit == "us") ? v / 1000 : (unit == "s") ? v * 1000 : v }
        / Non-2xx/ { bad = $NF }
        END { printf "%.0f %.3f %d\n", rps, p99, bad }'
}
median() { sort -n | awk '{ a[NR] = $1 } END { print (NR % 2) ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2 }'; }

echo "health benchmark: $rounds rounds x ${seconds}s, wrk -t2, $(nproc) cores"
printf '%-12s %-7s %12s %10s %10s\n' connections server req/s p99_ms non2xx
for connections in 50 1000; do
    : > "$work/aex.$connections"; : > "$work/nginx.$connections"
    for round in $(seq "$rounds"); do
        for server in aex nginx; do
            port=$([ "$server" = aex ] && echo "$aex_port" || echo "$nginx_port")
            result="$(run_wrk "http://127.0.0.1:$port/health" "$connections")"
            echo "$result" >> "$work/$server.$connections"
            read -r rps p99 bad <<<"$result"
            printf '%-12s %-7s %12s %10s %10s\n' "$connections" "$server" "$rps" "$p99" "$bad"
        done
    done
done

echo
echo "medians over $rounds rounds"
printf '%-12s %14s %14s %10s %12s %12s\n' connections aex_req/s nginx_req/s ratio aex_p99_ms nginx_p99_ms
for connections in 50 1000; do
    a_rps="$(cut -d' ' -f1 "$work/aex.$connections" | median)"
    n_rps="$(cut -d' ' -f1 "$work/nginx.$connections" | median)"
    a_p99="$(cut -d' ' -f2 "$work/aex.$connections" | median)"
    n_p99="$(cut -d' ' -f2 "$work/nginx.$connections" | median)"
    ratio="$(awk -v a="$a_rps" -v n="$n_rps" 'BEGIN { printf "%.2f", a / n }')"
    printf '%-12s %14s %14s %10s %12s %12s\n' "$connections" "$a_rps" "$n_rps" "$ratio" "$a_p99" "$n_p99"
done

echo
echo "AEX RSS at start: $rss_fresh_mb MB; after the load: $(( $(rss_kb "$aex_pid") / 1024 )) MB"
python3 - "$aex_port" "$aex_pid" <<'PY'
import socket, sys, time
port, pid = int(sys.argv[1]), int(sys.argv[2])
held = []
for _ in range(1000):
    s = socket.create_connection(("127.0.0.1", port))
    s.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n")
    data = b""
    while b"\r\n\r\n" not in data or not data.endswith(b"\n"):
        data += s.recv(4096)
    held.append(s)
time.sleep(0.5)
rss = next(int(line.split()[1]) for line in open(f"/proc/{pid}/status") if line.startswith("VmRSS"))
print(f"AEX RSS holding {len(held)} idle keep-alive connections: {rss // 1024} MB")
PY
