#!/usr/bin/env python3
"""A fast streaming chat provider for bench/stream.sh (stdlib only, asyncio, HTTP/1.1 keep-alive).

POST /v1/chat/completions with "stream": true answers 200 text/event-stream, Transfer-Encoding:
chunked, with a fixed answer: CHUNKS chat.completion.chunk events (the first also carries the
assistant role, the last the finish_reason), one every INTERVAL ms (the first at once, in the same
write as the response head), then, when the request had stream_options.include_usage: true, the usage
chunk {"choices":[],"usage":{...}} (prompt_tokens = PROMPT_TOKENS, completion_tokens = CHUNKS), then
`data: [DONE]`, then the end of the chunked body; the connection stays open for the next request.
Without "stream": true it answers the same text as one chat.completion. GET /stats answers counters
as JSON (requests, streams started/completed/aborted, open connections, streams in flight).

    python3 bench/stream_mock.py --port 0 --chunks 20 --interval-ms 50

Prints "stream_mock listening on 127.0.0.1:PORT" once it accepts connections. Every frame is encoded
once per (model, include_usage) and cached, so a stream costs one send per event: 1,000 concurrent
streams of 20 chunks every 50 ms are ~20,000 sends per second on one core.
"""
import argparse
import asyncio
import json
import signal
import sys

PROMPT_TOKENS = 12
CREATED = 1700000000
STATS = {"requests": 0, "streams_started": 0, "streams_completed": 0, "streams_aborted": 0,
         "open_connections": 0, "streams_in_flight": 0, "peak_streams_in_flight": 0, "connections_accepted": 0}


def http_chunk(data: bytes) -> bytes:
    return b"%x\r\n%s\r\n" % (len(data), data)


def sse(obj) -> bytes:
    return b"data: " + json.dumps(obj, separators=(",", ":")).encode() + b"\n\n"


class Answer:
    """The encoded frames of one fixed answer for one model name."""

    def __init__(self, model: str, chunks: int, include_usage: bool):
        base = {"id": "chatcmpl-bench", "object": "chat.completion.chunk", "created": CREATED, "model": model,
                "system_fingerprint": "fp_bench"}
        self.words = [f"word{i}" if i == 0 else f" word{i}" for i in range(chunks)]
        self.frames = []
        for i, word in enumerate(self.words):
            delta = {"role": "assistant", "content": word} if i == 0 else {"content": word}
            finish = "stop" if i == chunks - 1 else None
            self.frames.append(http_chunk(sse(dict(base, choices=[{"index": 0, "delta": delta, "logprobs": None,
                                                                   "finish_reason": finish}]))))
        tail = b""
        if include_usage:
            tail += http_chunk(sse(dict(base, choices=[], usage={
                "prompt_tokens": PROMPT_TOKENS, "completion_tokens": chunks, "total_tokens": PROMPT_TOKENS + chunks})))
        tail += http_chunk(b"data: [DONE]\n\n") + b"0\r\n\r\n"
        self.tail = tail
        self.head = (b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nCache-Control: no-cache\r\n"
                     b"Transfer-Encoding: chunked\r\n")
        completion = {"id": "chatcmpl-bench", "object": "chat.completion", "created": CREATED, "model": model,
                      "system_fingerprint": "fp_bench",
                      "choices": [{"index": 0, "message": {"role": "assistant", "content": "".join(self.words),
                                                           "refusal": None}, "logprobs": None, "finish_reason": "stop"}],
                      "usage": {"prompt_tokens": PROMPT_TOKENS, "completion_tokens": chunks,
                                "total_tokens": PROMPT_TOKENS + chunks}}
        self.whole = json.dumps(completion, separators=(",", ":")).encode()


class Provider(asyncio.Protocol):
    chunks = 20
    interval = 0.05
    answers = {}

    def __init__(self):
        self.loop = asyncio.get_running_loop()
        self.transport = None
        self.buffer = bytearray()
        self.busy = False          # a response is being streamed; later requests wait in the buffer
        self.timer = None
        self.closed = False
        self.continued = False     # "100 Continue" already sent for the request being read

    # -- connection

    def connection_made(self, transport):
        self.transport = transport
        STATS["open_connections"] += 1
        STATS["connections_accepted"] += 1

    def connection_lost(self, exc):
        self.closed = True
        STATS["open_connections"] -= 1
        if self.timer is not None:
            self.timer.cancel()
            self.timer = None
            STATS["streams_aborted"] += 1
            STATS["streams_in_flight"] -= 1

    def data_received(self, data):
        self.buffer += data
        if not self.busy:
            self.next_request()

    # -- requests

    def next_request(self):
        while not self.busy and not self.closed:
            end = self.buffer.find(b"\r\n\r\n")
            if end < 0:
                if len(self.buffer) > 65536:
                    return self.fail(431, "request head too large")
                return
            lines = bytes(self.buffer[:end]).decode("latin-1").split("\r\n")
            try:
                method, target, _ = lines[0].split(" ", 2)
            except ValueError:
                return self.fail(400, "bad request line")
            headers = {}
            for line in lines[1:]:
                name, _, value = line.partition(":")
                headers[name.strip().lower()] = value.strip()
            start = end + 4
            if "chunked" in headers.get("transfer-encoding", "").lower():
                body, consumed = self.dechunk(start)
                if body is None:
                    return
            else:
                length = int(headers.get("content-length") or 0)
                if len(self.buffer) < start + length:
                    if headers.get("expect", "").lower() == "100-continue" and not self.continued:
                        self.continued = True
                        self.transport.write(b"HTTP/1.1 100 Continue\r\n\r\n")
                    return
                body, consumed = bytes(self.buffer[start:start + length]), start + length
            del self.buffer[:consumed]
            self.continued = False
            STATS["requests"] += 1
            keep = headers.get("connection", "").lower() != "close"
            self.handle(method, target.split("?", 1)[0], body, keep)

    def dechunk(self, position):
        body = bytearray()
        while True:
            line_end = self.buffer.find(b"\r\n", position)
            if line_end < 0:
                return None, 0
            size = int(bytes(self.buffer[position:line_end]).split(b";")[0], 16)
            if size == 0:
                trailer_end = self.buffer.find(b"\r\n\r\n", line_end)
                if trailer_end < 0:
                    return None, 0
                return bytes(body), trailer_end + 4
            if len(self.buffer) < line_end + 2 + size + 2:
                return None, 0
            body += self.buffer[line_end + 2:line_end + 2 + size]
            position = line_end + 2 + size + 2

    def handle(self, method, path, body, keep):
        if method == "GET" and path == "/stats":
            return self.respond(200, json.dumps(STATS).encode(), keep)
        if method != "POST" or not path.endswith("/chat/completions"):
            return self.respond(404, b'{"error":{"message":"stream_mock: no route","type":"invalid_request_error",'
                                     b'"code":"unknown_url","param":null}}', keep)
        try:
            request = json.loads(body)
        except ValueError:
            return self.respond(400, b'{"error":{"message":"stream_mock: body is not JSON","type":'
                                     b'"invalid_request_error","code":null,"param":null}}', keep)
        model = str(request.get("model") or "mock-model")
        options = request.get("stream_options")
        include_usage = isinstance(options, dict) and options.get("include_usage") is True
        key = (model, include_usage)
        answer = self.answers.get(key)
        if answer is None:
            answer = self.answers[key] = Answer(model, self.chunks, include_usage)
        if request.get("stream") is not True:
            return self.respond(200, answer.whole, keep)
        STATS["streams_started"] += 1
        STATS["streams_in_flight"] += 1
        STATS["peak_streams_in_flight"] = max(STATS["peak_streams_in_flight"], STATS["streams_in_flight"])
        self.busy = True
        head = answer.head + (b"\r\n" if keep else b"Connection: close\r\n\r\n")
        self.stream(answer, 0, keep, head)

    def stream(self, answer, index, keep, head=b""):
        """Sends frame `index` (with the head first, for the first), then schedules the next."""
        self.timer = None
        if self.closed:
            return
        frames = answer.frames
        if index < len(frames) - 1:
            self.transport.write(head + frames[index])
            self.timer = self.loop.call_later(self.interval, self.stream, answer, index + 1, keep)
            return
        self.transport.write(head + frames[index] + answer.tail)
        STATS["streams_completed"] += 1
        STATS["streams_in_flight"] -= 1
        self.busy = False
        if not keep:
            self.transport.close()
            return
        if self.buffer:
            self.next_request()

    def respond(self, status, body, keep):
        reason = {200: "OK", 400: "Bad Request", 404: "Not Found", 431: "Request Header Fields Too Large"}[status]
        self.transport.write(b"HTTP/1.1 %d %s\r\nContent-Type: application/json\r\nContent-Length: %d\r\n%s\r\n%s"
                             % (status, reason.encode(), len(body), b"" if keep else b"Connection: close\r\n", body))
        if not keep:
            self.transport.close()

    def fail(self, status, message):
        self.respond(status, json.dumps({"error": {"message": message}}).encode(), False)
        self.closed = True


async def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--chunks", type=int, default=20, help="content chunks per stream (default 20)")
    parser.add_argument("--interval-ms", type=float, default=50.0, help="delay between chunks (default 50)")
    args = parser.parse_args()
    if args.chunks < 1:
        parser.error("--chunks must be at least 1")
    Provider.chunks = args.chunks
    Provider.interval = args.interval_ms / 1000.0
    loop = asyncio.get_running_loop()
    server = await loop.create_server(Provider, "127.0.0.1", args.port, backlog=8192, reuse_address=True)
    port = server.sockets[0].getsockname()[1]
    print(f"stream_mock listening on 127.0.0.1:{port} ({args.chunks} chunks every {args.interval_ms:g} ms,"
          f" usage {PROMPT_TOKENS}+{args.chunks} tokens)", flush=True)
    stop = loop.create_future()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, lambda: stop.done() or stop.set_result(None))
    await stop
    server.close()
    print(f"stream_mock stopped: {json.dumps(STATS)}", file=sys.stderr, flush=True)


if __name__ == "__main__":
    asyncio.run(main())
