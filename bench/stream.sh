#!/usr/bin/env bash
# Benchmark: streamed chat completions through AEX, same run, same machine.
#   mock    bench/stream_mock.py, a streaming provider: 20 chat.completion.chunk events 50 ms apart,
#           the usage chunk, data: [DONE] (a second instance, 2 chunks 20 ms apart, for latency)
#   direct  the client → mock
#   aex     the client → AEX with full governance (auth, policy, rate limit, reservation, stream
#           relay, settlement, ledger) → mock
# The client is raw asyncio HTTP/1.1 (no SDK), embedded below. Measured, in alternating rounds:
#   1. STREAMS concurrent streams, opened at once, read to data: [DONE]: errors (non-200, missing
#      [DONE], short reads, error events), wall time, chunks relayed, AEX's peak RSS sampled every
#      100 ms (targets: peak RSS <= 200 MB, 0 errors); the same burst direct to the mock as baseline.
#   2. AEX's CPU per relayed chunk and per stream: utime+stime (/proc/PID/stat) around each burst.
#   3. Time to first chunk at one stream: 200 sequential streams direct and 200 through AEX on
#      reused keep-alive connections, alternating in blocks of 20; medians and AEX minus direct
#      (target <= 0.5 ms).
# Then settlement: the burst agent's spent_micro is exactly bursts x STREAMS x the per-stream cost
# from the usage the mock reports, and nothing stays reserved.
#   bench/stream.sh [STREAMS] [ROUNDS]      (defaults: 1000 streams, 3 rounds)
#   AEX_BIN=path/to/aex bench/stream.sh     (use an existing build instead of scripts/setup.sh release)
set -euo pipefail
cd "$(dirname "$0")/.."
streams="${1:-1000}"
rounds="${2:-3}"
chunks=20            # content chunks per stream in the burst
interval_ms=50       # between them: a stream lasts about chunks x interval_ms
ttfc_streams=200     # per target, sequential, after 20 unmeasured warm-up streams each
ttfc_block=20
input_micro=1
output_micro=1

if ! command -v python3 >/dev/null; then
    sudo_cmd=""
    [ "$(id -u)" -eq 0 ] || sudo_cmd="sudo"
    $sudo_cmd apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y -qq python3 >/dev/null
fi
if [ -n "${AEX_BIN:-}" ]; then
    aex="$(realpath "$AEX_BIN")"
else
    scripts/setup.sh release >/dev/null
    aex="$PWD/.build/release/aex"
fi
ulimit -n "$(ulimit -Hn)"
if [ "$(ulimit -n)" -lt $(( 3 * streams + 256 )) ]; then
    echo "stream bench: ulimit -n is $(ulimit -n), $streams streams need about $(( 3 * streams + 256 ))" >&2
    exit 1
fi

work="$(mktemp -d)"
export AEX_HOME="$work/aex"
mock_pid=""
ttfc_mock_pid=""
aex_pid=""
cleanup() {
    "$aex" daemon stop >/dev/null 2>&1 || true
    if [ -n "$aex_pid" ] && kill -0 "$aex_pid" 2>/dev/null; then kill "$aex_pid" 2>/dev/null || true; fi
    for pid in "$mock_pid" "$ttfc_mock_pid"; do
        if [ -n "$pid" ]; then kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; fi
    done
    rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# ------------------------------------------------------------------------------------------ client
cat > "$work/client.py" <<'PY'
"""bench/stream.sh's client: raw asyncio HTTP/1.1 keep-alive connections, one request at a time each.
  client.py burst PORT STREAMS BODY_FILE TOKEN PID TIMEOUT_S     -> one line of key=value
  client.py ttfc DIRECT_PORT DIRECT_BODY AEX_PORT AEX_BODY TOKEN COUNT BLOCK WARMUP -> key=value
  client.py probe PORT BODY_FILE TOKEN                           -> key=value
Error details go to stderr."""
import asyncio
import collections
import json
import os
import statistics
import sys
import threading
import time

perf = time.perf_counter


def request_bytes(port, token, body):
    head = [f"POST /v1/chat/completions HTTP/1.1", f"Host: 127.0.0.1:{port}", "Content-Type: application/json",
            "Accept: text/event-stream", f"Content-Length: {len(body)}"]
    if token:
        head.append(f"Authorization: Bearer {token}")
    return ("\r\n".join(head) + "\r\n\r\n").encode() + body


class Result:
    __slots__ = ("status", "events", "content", "done", "error_events", "usage", "t0", "t_first", "t_end",
                 "complete", "problem", "body_head")

    def __init__(self):
        self.status = None
        self.events = self.content = self.error_events = 0
        self.done = self.complete = False
        self.usage = None
        self.t0 = self.t_first = self.t_end = None
        self.problem = None
        self.body_head = bytearray()

    def error(self):
        """None when the stream is good, else why not."""
        if self.problem and not self.complete:
            return self.problem
        if self.status != 200:
            return f"status {self.status}: {bytes(self.body_head[:200]).decode(errors='replace')}"
        if not self.complete:
            return "short read (the response did not end)"
        if self.error_events:
            return f"error event: {self.problem}"
        if not self.done:
            return "no data: [DONE]"
        return None


class Conn(asyncio.Protocol):
    def __init__(self):
        self.transport = None
        self.buf = bytearray()
        self.future = None
        self.result = None
        self.lost = False

    def connection_made(self, transport):
        self.transport = transport

    def connection_lost(self, exc):
        self.lost = True
        if self.future is not None and not self.future.done():
            if self.state == 1 and self.mode == "close":
                return self.finish()
            self.result.problem = f"connection closed mid-response ({exc or 'EOF'})"
            self.future.set_result(self.result)

    def send(self, data):
        self.result = Result()
        self.state, self.mode = 0, None
        self.chunk_left = self.crlf_left = self.length_left = 0
        self.ending = False
        self.sse = bytearray()
        self.future = asyncio.get_running_loop().create_future()
        self.result.t0 = perf()
        self.transport.write(data)
        return self.future

    def data_received(self, data):
        if self.future is None or self.future.done():
            return
        self.buf += data
        try:
            self.parse()
        except Exception as error:  # a malformed response: report it, drop the connection
            self.result.problem = f"client could not parse the response: {error!r}"
            self.future.set_result(self.result)
            self.transport.close()

    def finish(self):
        self.result.t_end = perf()
        self.result.complete = True
        self.state = 2
        self.future.set_result(self.result)

    def parse(self):
        buf, r = self.buf, self.result
        if self.state == 0:
            end = buf.find(b"\r\n\r\n")
            if end < 0:
                return
            lines = bytes(buf[:end]).decode("latin-1").split("\r\n")
            del buf[:end + 4]
            r.status = int(lines[0].split(" ", 2)[1])
            headers = {}
            for line in lines[1:]:
                name, _, value = line.partition(":")
                headers[name.strip().lower()] = value.strip().lower()
            if "chunked" in headers.get("transfer-encoding", ""):
                self.mode = "chunked"
            elif "content-length" in headers:
                self.mode, self.length_left = "length", int(headers["content-length"])
            else:
                self.mode = "close"
            self.state = 1
            if self.mode == "length" and self.length_left == 0:
                return self.finish()
        if self.state != 1:
            return
        if self.mode == "chunked":
            pos, n = 0, len(buf)
            while pos < n:
                if self.chunk_left:
                    take = min(self.chunk_left, n - pos)
                    self.feed(buf[pos:pos + take])
                    pos += take
                    self.chunk_left -= take
                    if not self.chunk_left:
                        self.crlf_left = 2
                    continue
                if self.crlf_left:
                    take = min(self.crlf_left, n - pos)
                    pos += take
                    self.crlf_left -= take
                    if not self.crlf_left and self.ending:
                        del buf[:pos]
                        return self.finish()
                    continue
                eol = buf.find(b"\r\n", pos)
                if eol < 0:
                    break
                size = int(bytes(buf[pos:eol]).split(b";")[0], 16)
                pos = eol + 2
                if size:
                    self.chunk_left = size
                else:
                    self.ending, self.crlf_left = True, 2   # no trailers expected
            del buf[:pos]
        elif self.mode == "length":
            take = min(self.length_left, len(buf))
            self.feed(buf[:take])
            del buf[:take]
            self.length_left -= take
            if not self.length_left:
                self.finish()
        else:
            self.feed(buf)
            buf.clear()

    def feed(self, piece):
        r = self.result
        if r.status != 200:
            if len(r.body_head) < 500:
                r.body_head += piece[:500]
            return
        sse = self.sse
        sse += piece
        start = 0
        while True:
            end = sse.find(b"\n\n", start)
            if end < 0:
                break
            event = bytes(sse[start:end])
            start = end + 2
            if event.startswith(b"data: ") and b"\n" not in event:
                self.data(event[6:])
            else:
                for line in event.split(b"\n"):
                    if line.startswith(b"data:"):
                        self.data(line[5:].lstrip(b" "))
        if start:
            del sse[:start]

    def data(self, data):
        r = self.result
        r.events += 1
        if r.t_first is None:
            r.t_first = perf()
        if data == b"[DONE]":
            r.done = True
        elif data.startswith(b'{"error"'):
            r.error_events += 1
            r.problem = data[:300].decode(errors="replace")
        elif b'"usage"' in data and b'"usage":null' not in data:
            value = json.loads(data)
            usage = value.get("usage")
            if usage and not value.get("choices"):
                r.usage = (usage.get("prompt_tokens"), usage.get("completion_tokens"))
            else:
                r.content += 1
        else:
            r.content += 1


def rss_kb(pid):
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def cpu_ticks(pid):
    with open(f"/proc/{pid}/stat") as stat:
        text = stat.read()
    fields = text[text.rindex(")") + 2:].split()   # fields[0] is field 3 (state)
    return int(fields[11]) + int(fields[12])        # field 14 utime + field 15 stime


def fd_count(pid):
    return len(os.listdir(f"/proc/{pid}/fd"))


class Sampler(threading.Thread):
    """The process's VmRSS every 100 ms until stopped; the peak."""

    def __init__(self, pid):
        super().__init__(daemon=True)
        self.pid, self.peak, self.samples = pid, 0, 0
        self.halt = threading.Event()

    def run(self):
        while True:
            self.peak = max(self.peak, rss_kb(self.pid))
            self.samples += 1
            if self.halt.wait(0.1):
                return

    def stop(self):
        self.halt.set()
        self.join()
        self.peak = max(self.peak, rss_kb(self.pid))


def percentile(values, fraction):
    if not values:
        return 0.0
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(fraction * (len(ordered) - 1))))]


def report(**fields):
    print(" ".join(f"{key}={value}" for key, value in fields.items()), flush=True)


def tell_errors(label, problems):
    for problem, count in collections.Counter(problems).most_common(5):
        print(f"  {label}: {count} x {problem}", file=sys.stderr)


async def burst(port, streams, body_file, token, pid, timeout):
    loop = asyncio.get_running_loop()
    request = request_bytes(port, token, open(body_file, "rb").read())
    rss_before, fds_before = rss_kb(pid), fd_count(pid)
    sampler = Sampler(pid)
    sampler.start()
    cpu_before = cpu_ticks(pid)
    connecting = perf()
    made = await asyncio.gather(*(loop.create_connection(Conn, "127.0.0.1", port) for _ in range(streams)),
                                return_exceptions=True)
    connections = [pair[1] for pair in made if not isinstance(pair, BaseException)]
    connect_problems = [f"connect failed: {pair!r}" for pair in made if isinstance(pair, BaseException)]
    connect_s = perf() - connecting
    started = perf()
    futures = [connection.send(request) for connection in connections]
    finished, pending = await asyncio.wait(futures, timeout=timeout)
    ended = perf()
    fds_open = fd_count(pid)
    results = [connection.result for connection in connections]
    for connection in connections:
        connection.transport.close()
    await asyncio.sleep(0.3)
    cpu_after = cpu_ticks(pid)
    sampler.stop()
    await asyncio.sleep(0.7)
    rss_after, fds_after = rss_kb(pid), fd_count(pid)

    problems = list(connect_problems)
    non200 = no_done = short = error_events = 0
    for r in results:
        if r.status is None or (r.status == 200 and not r.complete):
            short += 1
        elif r.status != 200:
            non200 += 1
        elif r.error_events:
            error_events += 1
        elif not r.done:
            no_done += 1
        problem = r.error() if r.complete or r.problem or r.status is not None else None
        if problem is None and not r.complete:
            problem = f"no complete answer within {timeout} s"
        if problem:
            problems.append(problem)
    good = [r for r in results if r.error() is None]
    events = sum(r.events for r in results)
    content = sum(r.content for r in results)
    usages = collections.Counter(r.usage for r in good)
    usage = usages.most_common(1)[0][0] if usages else (0, 0)
    # Streams open at the same time: between first chunk and end, swept over time.
    marks = sorted([(r.t_first, 1) for r in good] + [(r.t_end, -1) for r in good])
    level = peak = 0
    for _, step in marks:
        level += step
        peak = max(peak, level)
    ttfc = [(r.t_first - r.t0) * 1000 for r in good]
    durations = [(r.t_end - r.t0) * 1000 for r in good]
    tell_errors("error", problems)
    report(streams=streams, ok=len(good), errors=len(problems), non200=non200, no_done=no_done, short=short,
           error_events=error_events, connect_errors=len(connect_problems), events=events, content=content,
           wall_s=f"{ended - started:.3f}", connect_s=f"{connect_s:.3f}", peak_open=peak,
           ttfc_p50_ms=f"{percentile(ttfc, 0.5):.1f}", ttfc_p99_ms=f"{percentile(ttfc, 0.99):.1f}",
           stream_p50_ms=f"{percentile(durations, 0.5):.0f}", stream_max_ms=f"{max(durations, default=0):.0f}",
           rss_before_kb=rss_before, rss_peak_kb=sampler.peak, rss_after_kb=rss_after, rss_samples=sampler.samples,
           cpu_ticks=cpu_after - cpu_before, fds_before=fds_before, fds_open=fds_open, fds_after=fds_after,
           usage_prompt=usage[0], usage_completion=usage[1], usage_kinds=len(usages),
           missing_usage=sum(1 for r in good if r.usage is None))


async def ttfc(direct_port, direct_body, aex_port, aex_body, token, count, block, warmup):
    loop = asyncio.get_running_loop()
    targets = {"direct": (direct_port, request_bytes(direct_port, None, open(direct_body, "rb").read())),
               "aex": (aex_port, request_bytes(aex_port, token, open(aex_body, "rb").read()))}
    connections, reconnects, samples, problems = {}, collections.Counter(), collections.defaultdict(list), []

    async def one(name):
        port, request = targets[name]
        connection = connections.get(name)
        if connection is None or connection.lost:
            if connection is not None:
                reconnects[name] += 1
            _, connection = await loop.create_connection(Conn, "127.0.0.1", port)
            connections[name] = connection
        r = await asyncio.wait_for(connection.send(request), 30)
        problem = r.error()
        if problem:
            problems.append(f"{name}: {problem}")
            return None
        return (r.t_first - r.t0) * 1000

    for name in targets:                 # connect and warm up, unmeasured
        for _ in range(warmup):
            await one(name)
    reconnects.clear()
    order = ["direct", "aex"]
    for index in range(0, count, block):
        for name in order:
            for _ in range(min(block, count - index)):
                value = await one(name)
                if value is not None:
                    samples[name].append(value)
        order.reverse()
    tell_errors("ttfc error", problems)
    d, a = samples["direct"], samples["aex"]
    report(direct_n=len(d), aex_n=len(a), errors=len(problems),
           direct_p50_ms=f"{statistics.median(d) if d else 0:.3f}", aex_p50_ms=f"{statistics.median(a) if a else 0:.3f}",
           direct_p90_ms=f"{percentile(d, 0.9):.3f}", aex_p90_ms=f"{percentile(a, 0.9):.3f}",
           direct_p99_ms=f"{percentile(d, 0.99):.3f}", aex_p99_ms=f"{percentile(a, 0.99):.3f}",
           reconnects_direct=reconnects["direct"], reconnects_aex=reconnects["aex"])


async def probe(port, body_file, token):
    _, connection = await asyncio.get_running_loop().create_connection(Conn, "127.0.0.1", port)
    r = await asyncio.wait_for(connection.send(request_bytes(port, token, open(body_file, "rb").read())), 30)
    connection.transport.close()
    problem = r.error()
    if problem:
        print(f"  probe: {problem}", file=sys.stderr)
    report(ok=int(problem is None), events=r.events, content=r.content,
           usage_prompt=(r.usage or (0, 0))[0], usage_completion=(r.usage or (0, 0))[1])


def main():
    mode, args = sys.argv[1], sys.argv[2:]
    if mode == "burst":
        asyncio.run(burst(int(args[0]), int(args[1]), args[2], args[3], int(args[4]), float(args[5])))
    elif mode == "ttfc":
        asyncio.run(ttfc(int(args[0]), args[1], int(args[2]), args[3], args[4], int(args[5]), int(args[6]),
                         int(args[7])))
    elif mode == "probe":
        asyncio.run(probe(int(args[0]), args[1], args[2]))
    else:
        sys.exit(f"unknown mode {mode}")


main()
PY

# key=value lines: field NAME LINE
field() { tr ' ' '\n' <<<"$2" | awk -F= -v k="$1" '$1 == k { print $2 }'; }
median() { sort -g | awk '{ a[NR] = $1 } END { if (NR == 0) print 0; else print (NR % 2) ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2 }'; }
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
json_field() { python3 -c 'import json,sys; d=json.load(sys.stdin); print(" ".join(str(d[k]) for k in sys.argv[1:]))' "$@"; }
mock_stats() { python3 -c 'import json,sys,urllib.request; d=json.load(urllib.request.urlopen(f"http://127.0.0.1:{sys.argv[1]}/stats")); print(" ".join(f"{k}={v}" for k,v in d.items()))' "$1"; }

# ------------------------------------------------------------------------------- the two mocks
start_mock() { # port chunks interval_ms logfile -> pid in $started_pid
    python3 bench/stream_mock.py --port "$1" --chunks "$2" --interval-ms "$3" >"$4" 2>&1 &
    started_pid=$!
    for _ in $(seq 100); do
        grep -q listening "$4" 2>/dev/null && return 0
        kill -0 "$started_pid" 2>/dev/null || break
        sleep 0.05
    done
    echo "stream bench: the mock did not start: $(cat "$4")" >&2
    exit 1
}
mock_port="$(free_port)"
ttfc_port="$(free_port)"
while [ "$ttfc_port" = "$mock_port" ]; do ttfc_port="$(free_port)"; done
start_mock "$mock_port" "$chunks" "$interval_ms" "$work/mock.log"; mock_pid="$started_pid"
start_mock "$ttfc_port" 2 20 "$work/ttfc_mock.log"; ttfc_mock_pid="$started_pid"

# ------------------------------------------------------------------------------------------- AEX
"$aex" init >/dev/null
cat > "$AEX_HOME/config/models.yaml" <<YAML
version: 1
default_model: chat-model
providers:
  mock:
    base_url: http://127.0.0.1:$mock_port/v1
    type: openai_compatible
    api_key_env: MOCK_API_KEY
    timeout_seconds: 30
  mock_ttfc:
    base_url: http://127.0.0.1:$ttfc_port/v1
    type: openai_compatible
    api_key_env: MOCK_API_KEY
    timeout_seconds: 30
models:
  chat-model:
    provider: mock
    provider_model: mock-model
    pricing:
      input_micro: $input_micro
      output_micro: $output_micro
    limits:
      max_tokens: 1000
  ttfc-model:
    provider: mock_ttfc
    provider_model: mock-model
    pricing:
      input_micro: $input_micro
      output_micro: $output_micro
    limits:
      max_tokens: 1000
YAML
export MOCK_API_KEY="sk-bench-mock"
"$aex" daemon start --port 0 >/dev/null
read -r aex_port aex_pid < <(json_field port pid < "$AEX_HOME/daemon.json")
burst_token="$("$aex" agent create streamer 1000000 100000000 --json | json_field token)"
ttfc_token="$("$aex" agent create ttfc 1000000 100000000 --json | json_field token)"

chat_body() { # model include_usage
    printf '{"model":"%s","stream":true,"stream_options":{"include_usage":%s},"max_tokens":100,"messages":[{"role":"system","content":"You are a benchmark."},{"role":"user","content":"Stream a short answer."}]}' "$1" "$2"
}
chat_body chat-model true > "$work/aex.json"
chat_body mock-model true > "$work/direct.json"
chat_body ttfc-model true > "$work/aex_ttfc.json"
client() { python3 "$work/client.py" "$@"; }

# Check both paths once before measuring (on the ttfc agent: the burst agent's balance stays exact).
for target in "direct $mock_port $work/direct.json" "aex $aex_port $work/aex_ttfc.json"; do
    read -r name port body <<<"$target"
    answer="$(client probe "$port" "$body" "$ttfc_token")"
    if [ "$(field ok "$answer")" != 1 ]; then
        echo "stream bench: the $name probe failed ($answer)" >&2
        exit 1
    fi
done

clk_tck="$(getconf CLK_TCK)"
echo "stream benchmark: $rounds rounds; bursts of $streams concurrent streams x $chunks chunks every ${interval_ms} ms;" \
     "$(nproc) cores, client and mock in Python on the same machine"
echo "AEX pid $aex_pid port $aex_port, RSS at start $(( $(awk '/VmRSS/ { print $2 }' "/proc/$aex_pid/status") / 1024 )) MB"
printf '%-5s %-6s %6s %6s %7s %7s %9s %8s %8s %9s %9s %9s %9s %8s %10s\n' round target ok errors peak_open \
    events wall_s ttfc_p50 ttfc_p99 rss_pk_MB rss_aft_MB cpu_ms us/chunk us/strm fds_aft
for round in $(seq "$rounds"); do
    for target in direct aex; do
        if [ "$target" = direct ]; then
            line="$(client burst "$mock_port" "$streams" "$work/direct.json" "" "$mock_pid" 120)"
        else
            line="$(client burst "$aex_port" "$streams" "$work/aex.json" "$burst_token" "$aex_pid" 120)"
        fi
        echo "$line" >> "$work/$target.bursts"
        ticks="$(field cpu_ticks "$line")"
        events="$(field events "$line")"
        read -r cpu_ms per_chunk per_stream <<<"$(awk -v t="$ticks" -v hz="$clk_tck" -v e="$events" -v s="$streams" \
            'BEGIN { us = t * 1e6 / hz; printf "%.0f %.2f %.1f\n", us / 1000, (e > 0 ? us / e : 0), us / s }')"
        echo "$cpu_ms $per_chunk $per_stream" >> "$work/$target.cpu"
        rss_peak="$(( $(field rss_peak_kb "$line") / 1024 ))"; rss_after="$(( $(field rss_after_kb "$line") / 1024 ))"
        fds="$(field fds_after "$line")"
        if [ "$target" = direct ]; then   # measured on the mock: not AEX's figures
            cpu_ms="-"; per_chunk="-"; per_stream="-"; rss_peak="-"; rss_after="-"; fds="-"
        fi
        printf '%-5s %-6s %6s %6s %7s %7s %9s %8s %8s %9s %9s %9s %9s %8s %10s\n' "$round" "$target" \
            "$(field ok "$line")" "$(field errors "$line")" "$(field peak_open "$line")" "$events" \
            "$(field wall_s "$line")" "$(field ttfc_p50_ms "$line")" "$(field ttfc_p99_ms "$line")" \
            "$rss_peak" "$rss_after" "$cpu_ms" "$per_chunk" "$per_stream" "$fds"
    done
done
upstream_stats="$(mock_stats "$mock_port")"

echo
echo "time to first chunk, one stream at a time: $ttfc_streams direct and $ttfc_streams through AEX, keep-alive, blocks of $ttfc_block"
ttfc_line="$(client ttfc "$ttfc_port" "$work/direct.json" "$aex_port" "$work/aex_ttfc.json" "$ttfc_token" \
    "$ttfc_streams" "$ttfc_block" 20)"
printf '%-7s %6s %10s %10s %10s\n' target n p50_ms p90_ms p99_ms
for target in direct aex; do
    printf '%-7s %6s %10s %10s %10s\n' "$target" "$(field "${target}_n" "$ttfc_line")" "$(field "${target}_p50_ms" "$ttfc_line")" \
        "$(field "${target}_p90_ms" "$ttfc_line")" "$(field "${target}_p99_ms" "$ttfc_line")"
done

# ------------------------------------------------------------------------------------- settlement
read -r spent reserved < <("$aex" agent inspect streamer --json | json_field spent_micro reserved_micro)
aex_lines="$work/aex.bursts"
usage_prompt="$(field usage_prompt "$(head -1 "$aex_lines")")"
usage_completion="$(field usage_completion "$(head -1 "$aex_lines")")"
stream_cost=$(( usage_prompt * input_micro + usage_completion * output_micro ))
sent=$(( rounds * streams ))
expected=$(( sent * stream_cost ))
read -r ttfc_spent ttfc_reserved < <("$aex" agent inspect ttfc --json | json_field spent_micro reserved_micro)

# ------------------------------------------------------------------------------------------ summary
col() { # file field -> median
    while read -r l; do field "$2" "$l"; done < "$1" | median
}
sum_col() { while read -r l; do field "$2" "$l"; done < "$1" | awk '{ s += $1 } END { print s + 0 }'; }
max_col() { while read -r l; do field "$2" "$l"; done < "$1" | sort -g | tail -1; }
aex_errors="$(sum_col "$aex_lines" errors)"
direct_errors="$(sum_col "$work/direct.bursts" errors)"
peak_rss_mb=$(( $(max_col "$aex_lines" rss_peak_kb) / 1024 ))
median_peak_rss_mb=$(( $(col "$aex_lines" rss_peak_kb) / 1024 ))
per_chunk_median="$(cut -d' ' -f2 "$work/aex.cpu" | median)"
per_stream_median="$(cut -d' ' -f3 "$work/aex.cpu" | median)"
events_median="$(col "$aex_lines" events)"
content_median="$(col "$aex_lines" content)"
direct_p50="$(field direct_p50_ms "$ttfc_line")"
aex_p50="$(field aex_p50_ms "$ttfc_line")"
added_ms="$(awk -v a="$aex_p50" -v d="$direct_p50" 'BEGIN { printf "%.3f", a - d }')"
verdict() { if [ "$1" = 1 ]; then echo "OK"; else echo "MISSED"; fi; }

echo
echo "summary ($rounds rounds of $streams concurrent streams; medians over rounds unless said)"
printf '  %-44s %s\n' \
    "burst errors through AEX (all rounds)" "$aex_errors of $sent streams [target 0: $(verdict "$([ "$aex_errors" = 0 ] && echo 1)")]" \
    "burst errors direct to the mock (all rounds)" "$direct_errors of $sent streams" \
    "streams open at once through AEX" "$(col "$aex_lines" peak_open) of $streams (direct: $(col "$work/direct.bursts" peak_open))" \
    "chunks relayed per burst" "$events_median SSE events ($content_median content chunks + usage + [DONE] per stream)" \
    "wall time per burst" "AEX $(col "$aex_lines" wall_s) s, direct $(col "$work/direct.bursts" wall_s) s (ideal $(awk -v c="$chunks" -v i="$interval_ms" 'BEGIN { printf "%.2f", (c - 1) * i / 1000 }') s)" \
    "first chunk under load p50 / p99" "AEX $(col "$aex_lines" ttfc_p50_ms) / $(col "$aex_lines" ttfc_p99_ms) ms, direct $(col "$work/direct.bursts" ttfc_p50_ms) / $(col "$work/direct.bursts" ttfc_p99_ms) ms" \
    "AEX peak RSS during a burst" "max $peak_rss_mb MB, median $median_peak_rss_mb MB, sampled every 100 ms ($(col "$aex_lines" rss_samples) samples per burst) [target <= 200 MB: $(verdict "$([ "$peak_rss_mb" -le 200 ] && echo 1)")]" \
    "AEX RSS 1 s after each burst" "$(while read -r l; do echo -n "$(( $(field rss_after_kb "$l") / 1024 )) "; done < "$aex_lines")MB" \
    "AEX open fds before / after each burst" "$(while read -r l; do echo -n "$(field fds_before "$l")/$(field fds_after "$l") "; done < "$aex_lines")" \
    "AEX CPU per relayed chunk" "$per_chunk_median us (per SSE event; CLK_TCK $clk_tck)" \
    "AEX CPU per stream" "$per_stream_median us" \
    "time to first chunk at one stream (p50)" "direct $direct_p50 ms, AEX $aex_p50 ms" \
    "AEX minus direct" "$added_ms ms [target <= 0.5 ms: $(verdict "$(awk -v x="$added_ms" 'BEGIN { print (x <= 0.5) ? 1 : 0 }')")]" \
    "ttfc errors / reconnects (direct, aex)" "$(field errors "$ttfc_line") / $(field reconnects_direct "$ttfc_line"), $(field reconnects_aex "$ttfc_line")" \
    "upstream (burst mock) counters" "$upstream_stats"
settle_ok=0
[ "$spent" = "$expected" ] && [ "$reserved" = 0 ] && settle_ok=1
echo "  settlement: agent streamer spent_micro=$spent (expected $sent streams x $stream_cost micro" \
     "[$usage_prompt prompt + $usage_completion completion tokens at $input_micro/$output_micro micro] = $expected)," \
     "reserved_micro=$reserved: $(verdict "$settle_ok")"
echo "  settlement: agent ttfc spent_micro=$ttfc_spent reserved_micro=$ttfc_reserved" \
     "(expected $(( (20 + ttfc_streams + 1) * (12 * input_micro + 2 * output_micro) )): probe + 20 warm-up + $ttfc_streams streams x (12 + 2 tokens))"
