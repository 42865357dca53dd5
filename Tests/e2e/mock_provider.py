"""A mock OpenAI-compatible provider for the proxy tests and benchmarks (stdlib only).

In a test:

    mock = MockProvider().start()          # 127.0.0.1, port 0; mock.base_url == "http://127.0.0.1:N/v1"
    mock.usage = {"prompt_tokens": 10, "completion_tokens": 5}   # what the next answers report
    mock.push(status(500, {"error": {...}}), sleep(3), close())  # one behaviour per request, FIFO
    mock.default = normal(delay=0.05)      # what to do when the queue is empty
    mock.bill_requested = True             # completion tokens = the request's max_tokens (else
                                           # max_completion_tokens, max_output_tokens) × n
    mock.hold(); ...; mock.release()       # park every request until released
    mock.count, mock.requests              # what arrived: path, method, headers (lower-case), body
    mock.connections_opened                # connections accepted since the last reset
    mock.close_connections()               # end every open connection (FIN), e.g. idle keep-alives
    mock.reset(); mock.stop()

Standalone (benchmarks, manual use):

    python3 Tests/e2e/mock_provider.py --port 8089 [--host 127.0.0.1] [--delay 0.05]

Endpoints: POST /v1/chat/completions, /v1/embeddings, /v1/responses (JSON or SSE with
"stream": true), GET /v1/models. Every answer names the model it received, so a test can see the
provider model the gateway sent; usage comes from `mock.usage` (or a behaviour's own usage).
"""
from __future__ import annotations

import argparse
import base64
import copy
import itertools
import json
import socket
import struct
import sys
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Optional

DEFAULT_USAGE = {"prompt_tokens": 10, "completion_tokens": 5}


# ---------------------------------------------------------------------------------------- behaviours

@dataclass
class Behaviour:
    """What the mock does with one request.

    kind: "normal" (answer 200), "status" (answer `status` with `body`), "close" (read the request,
    then reset the connection without answering). `delay` seconds are waited before answering (or
    closing) in every kind; "sleep" is "normal" with a delay.
    """
    kind: str = "normal"
    status: int = 200
    body: Any = None                       # dict/list → JSON, str/bytes → sent as is
    delay: float = 0.0
    usage: Optional[dict] = None           # overrides mock.usage for this answer
    headers: dict = field(default_factory=dict)
    content: Optional[str] = None          # assistant text for a normal answer
    # Streams: seconds between events, whether the usage chunk is sent when asked for, and after how
    # many events the connection is reset instead of finishing (None: never).
    event_delay: float = 0.0
    stream_usage: bool = True
    fail_after: Optional[int] = None
    garbage_after: Optional[int] = None    # streams: after this many events, send one malformed event


def normal(usage: Optional[dict] = None, delay: float = 0.0, content: Optional[str] = None) -> Behaviour:
    return Behaviour("normal", usage=usage, delay=delay, content=content)


def status(code: int, body: Any = None, headers: Optional[dict] = None, delay: float = 0.0) -> Behaviour:
    if body is None:
        body = {"error": {"message": f"mock error {code}", "type": "server_error" if code >= 500 else "invalid_request_error",
                          "code": f"mock_{code}", "param": None}}
    return Behaviour("status", status=code, body=body, headers=dict(headers or {}), delay=delay)


def sleep(seconds: float, usage: Optional[dict] = None) -> Behaviour:
    return Behaviour("normal", delay=seconds, usage=usage)


def stream(event_delay: float = 0.0, stream_usage: bool = True, fail_after: Optional[int] = None,
           content: Optional[str] = None, garbage_after: Optional[int] = None) -> Behaviour:
    """A streamed answer paced by `event_delay`, optionally without usage, cut after `fail_after`
    events, or with a malformed event after `garbage_after` events."""
    return Behaviour("normal", event_delay=event_delay, stream_usage=stream_usage, fail_after=fail_after, content=content,
                     garbage_after=garbage_after)


def close(delay: float = 0.0) -> Behaviour:
    return Behaviour("close", delay=delay)


@dataclass
class Recorded:
    method: str
    path: str
    headers: dict          # lower-cased names
    body: Any              # parsed JSON, or None when the body was not JSON
    raw: bytes
    at: float


# ------------------------------------------------------------------------------------------- server

class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 1024

    def __init__(self, address, mock: "MockProvider"):
        self.mock = mock
        super().__init__(address, _Handler)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "mock-openai/1.0"
    sys_version = ""

    def log_message(self, format, *args):  # quiet
        pass

    def setup(self):
        super().setup()
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.server.mock._track(self.connection, True)

    def finish(self):
        try:
            super().finish()
        finally:
            self.server.mock._track(self.connection, False)

    # -- reading

    def _read_body(self) -> bytes:
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            chunks = []
            while True:
                size_line = self.rfile.readline(65537)
                size = int(size_line.split(b";", 1)[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline(65537) not in (b"\r\n", b"\n", b""):
                        pass
                    return b"".join(chunks)
                chunks.append(self.rfile.read(size))
                self.rfile.readline(65537)
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    # -- writing

    def _send(self, code: int, payload: Any, headers: Optional[dict] = None):
        if isinstance(payload, (dict, list)):
            data = json.dumps(payload).encode()
            content_type = "application/json"
        else:
            data = payload.encode() if isinstance(payload, str) else (payload or b"")
            content_type = "text/plain; charset=utf-8"
        self.send_response(code)
        extra = dict(headers or {})
        if not any(k.lower() == "content-type" for k in extra):
            self.send_header("Content-Type", content_type)
        for name, value in extra.items():
            self.send_header(name, str(value))
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)
        self.wfile.flush()

    def _send_sse(self, events, behaviour: Optional[Behaviour] = None):
        behaviour = behaviour or Behaviour()
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Cache-Control", "no-cache")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        for index, event in enumerate(events):
            if behaviour.fail_after is not None and index >= behaviour.fail_after:
                return self._reset()
            if index > 0 and behaviour.event_delay > 0:
                time.sleep(behaviour.event_delay)
            if behaviour.garbage_after is not None and index == behaviour.garbage_after:
                event = "data: {this is not json\n\n"
            data = event.encode()
            self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))
            self.wfile.flush()
            self.server.mock._streamed(1)
        self.wfile.write(b"0\r\n\r\n")
        self.wfile.flush()

    def _reset(self):
        """Abortive close: RST instead of FIN, no response at all."""
        self.close_connection = True
        try:
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            self.connection.close()
        except OSError:
            pass

    # -- dispatch

    def do_GET(self):
        self._handle("GET")

    def do_POST(self):
        self._handle("POST")

    def _handle(self, method: str):
        mock: MockProvider = self.server.mock
        raw = self._read_body()
        try:
            body = json.loads(raw) if raw else None
        except ValueError:
            body = None
        path = self.path.split("?", 1)[0]
        headers = {k.lower(): v for k, v in self.headers.items()}
        behaviour = mock._arrive(Recorded(method, path, headers, body, raw, time.time()))
        try:
            if behaviour.delay > 0 and mock._stopping.wait(behaviour.delay):
                return self._reset()
            if not mock._gate.wait(mock.hold_timeout):
                pass  # a forgotten hold never wedges the suite: answer anyway
            if behaviour.kind == "close":
                return self._reset()
            if behaviour.kind == "status":
                return self._send(behaviour.status, behaviour.body, behaviour.headers)
            self._answer(method, path, body, behaviour, mock)
        except (BrokenPipeError, ConnectionResetError, OSError):
            self.close_connection = True  # the client went away (e.g. the gateway timed out)
        finally:
            mock._leave()

    def _answer(self, method: str, path: str, body: Any, behaviour: Behaviour, mock: "MockProvider"):
        usage = dict(behaviour.usage or mock.usage)
        prompt = int(usage.get("prompt_tokens", usage.get("input_tokens", 0)))
        completion = int(usage.get("completion_tokens", usage.get("output_tokens", 0)))
        if mock.bill_requested and isinstance(body, dict):
            # A provider that honours `max_tokens` first and bills every choice at its limit.
            for key in ("max_tokens", "max_completion_tokens", "max_output_tokens"):
                if isinstance(body.get(key), int):
                    completion = body[key]
                    break
            completion *= body.get("n") if isinstance(body.get("n"), int) else 1
        seq = next(mock._ids)
        if method == "GET" and path.endswith("/models"):
            return self._send(200, {"object": "list", "data": [
                {"id": m, "object": "model", "created": 1700000000, "owned_by": "mock"}
                for m in ("mock-large-v2", "mock-vision-v1", "mock-embed-v1", "mock-resp-v1")]})
        if method != "POST" or not isinstance(body, dict):
            return self._send(400 if method == "POST" else 404, {"error": {
                "message": "mock: expected a JSON object body" if method == "POST" else f"mock: no route {method} {path}",
                "type": "invalid_request_error", "code": None, "param": None}})
        model = body.get("model", "")
        stream = body.get("stream") is True
        content = behaviour.content if behaviour.content is not None else mock.content
        if path.endswith("/chat/completions"):
            if stream:
                sent = dict(body)
                if not behaviour.stream_usage:
                    sent.pop("stream_options", None)
                return self._send_sse(_chat_stream(seq, model, content, prompt, completion, sent), behaviour)
            return self._send(200, _chat(seq, model, content, prompt, completion), behaviour.headers)
        if path.endswith("/embeddings"):
            return self._send(200, _embeddings(model, body, prompt), behaviour.headers)
        if path.endswith("/responses"):
            if stream:
                return self._send_sse(_responses_stream(seq, model, content, prompt, completion, body))
            return self._send(200, _response(seq, model, content, prompt, completion, body), behaviour.headers)
        return self._send(404, {"error": {"message": f"mock: no route {method} {path}",
                                          "type": "invalid_request_error", "code": "unknown_url", "param": None}})


# ------------------------------------------------------------------------------------ OpenAI shapes

CREATED = 1700000000


def _chat(seq, model, content, prompt, completion):
    return {
        "id": f"chatcmpl-mock{seq}",
        "object": "chat.completion",
        "created": CREATED + seq,
        "model": model,
        "system_fingerprint": "fp_mock",
        "choices": [{"index": 0, "message": {"role": "assistant", "content": content, "refusal": None},
                     "logprobs": None, "finish_reason": "stop"}],
        "usage": {"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion,
                  "prompt_tokens_details": {"cached_tokens": 0},
                  "completion_tokens_details": {"reasoning_tokens": 0}},
    }


def _sse(obj) -> str:
    return "data: " + json.dumps(obj) + "\n\n"


def _chat_stream(seq, model, content, prompt, completion, body):
    base = {"id": f"chatcmpl-mock{seq}", "object": "chat.completion.chunk", "created": CREATED + seq,
            "model": model, "system_fingerprint": "fp_mock"}
    include_usage = isinstance(body.get("stream_options"), dict) and body["stream_options"].get("include_usage") is True
    events = [_sse(dict(base, choices=[{"index": 0, "delta": {"role": "assistant", "content": ""},
                                       "logprobs": None, "finish_reason": None}]))]
    words = content.split(" ")
    for i, word in enumerate(words):
        piece = word if i == 0 else " " + word
        events.append(_sse(dict(base, choices=[{"index": 0, "delta": {"content": piece}, "logprobs": None,
                                                "finish_reason": None}])))
    events.append(_sse(dict(base, choices=[{"index": 0, "delta": {}, "logprobs": None, "finish_reason": "stop"}])))
    if include_usage:
        events.append(_sse(dict(base, choices=[], usage={"prompt_tokens": prompt, "completion_tokens": completion,
                                                         "total_tokens": prompt + completion})))
    events.append("data: [DONE]\n\n")
    return events


def _embeddings(model, body, prompt):
    inputs = body.get("input")
    count = len(inputs) if isinstance(inputs, list) and inputs and not isinstance(inputs[0], int) else 1
    dims = int(body.get("dimensions") or 8)
    as_base64 = body.get("encoding_format") == "base64"
    data = []
    for index in range(count):
        vector = [round((index + 1) * 0.01 * (d + 1), 6) for d in range(dims)]
        encoded = base64.b64encode(struct.pack(f"<{dims}f", *vector)).decode() if as_base64 else vector
        data.append({"object": "embedding", "index": index, "embedding": encoded})
    return {"object": "list", "data": data, "model": model,
            "usage": {"prompt_tokens": prompt, "total_tokens": prompt}}


def _response(seq, model, content, prompt, completion, body):
    return {
        "id": f"resp_mock{seq}",
        "object": "response",
        "created_at": CREATED + seq,
        "status": "completed",
        "error": None,
        "incomplete_details": None,
        "instructions": body.get("instructions"),
        "max_output_tokens": body.get("max_output_tokens"),
        "model": model,
        "output": [{"type": "message", "id": f"msg_mock{seq}", "status": "completed", "role": "assistant",
                    "content": [{"type": "output_text", "text": content, "annotations": []}]}],
        "parallel_tool_calls": True,
        "previous_response_id": None,
        "reasoning": {"effort": None, "summary": None},
        "store": False,
        "temperature": body.get("temperature", 1.0),
        "text": {"format": {"type": "text"}},
        "tool_choice": "auto",
        "tools": [],
        "top_p": 1.0,
        "truncation": "disabled",
        "usage": {"input_tokens": prompt, "input_tokens_details": {"cached_tokens": 0},
                  "output_tokens": completion, "output_tokens_details": {"reasoning_tokens": 0},
                  "total_tokens": prompt + completion},
        "user": None,
        "metadata": {},
    }


def _responses_stream(seq, model, content, prompt, completion, body):
    final = _response(seq, model, content, prompt, completion, body)
    start = dict(final, status="in_progress", output=[], usage=None)
    item_id = f"msg_mock{seq}"
    events, n = [], itertools.count()

    def event(kind, **fields):
        events.append(f"event: {kind}\n" + _sse(dict(type=kind, sequence_number=next(n), **fields)))

    event("response.created", response=start)
    event("response.in_progress", response=start)
    event("response.output_item.added", output_index=0,
          item={"type": "message", "id": item_id, "status": "in_progress", "role": "assistant", "content": []})
    event("response.content_part.added", item_id=item_id, output_index=0, content_index=0,
          part={"type": "output_text", "text": "", "annotations": []})
    event("response.output_text.delta", item_id=item_id, output_index=0, content_index=0, delta=content, logprobs=[])
    event("response.output_text.done", item_id=item_id, output_index=0, content_index=0, text=content, logprobs=[])
    event("response.content_part.done", item_id=item_id, output_index=0, content_index=0,
          part={"type": "output_text", "text": content, "annotations": []})
    event("response.output_item.done", output_index=0, item=final["output"][0])
    event("response.completed", response=final)
    return events


# ------------------------------------------------------------------------------------- the provider

class MockProvider:
    """A threaded HTTP/1.1 (keep-alive) mock provider; see the module docstring."""

    def __init__(self, host: str = "127.0.0.1", port: int = 0):
        self.host = host
        self._lock = threading.Lock()
        self._cond = threading.Condition(self._lock)
        self._gate = threading.Event()
        self._gate.set()
        self._stopping = threading.Event()
        self._ids = itertools.count(1)
        self._connections: set = set()
        self.hold_timeout = 30.0
        self._server = _Server((host, port), self)
        self._thread: Optional[threading.Thread] = None
        self.reset()

    # -- lifecycle

    @property
    def port(self) -> int:
        return self._server.server_address[1]

    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.port}/v1"

    def start(self) -> "MockProvider":
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05},
                                        name=f"mock-provider:{self.port}", daemon=True)
        self._thread.start()
        return self

    def stop(self):
        self._stopping.set()
        self._gate.set()
        self._server.shutdown()
        self._server.server_close()
        self.close_connections()

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()

    def reset(self):
        """Forget requests and behaviours; back to normal answers with the default usage."""
        with self._lock:
            self.requests: list[Recorded] = []
            self._queue: list[Behaviour] = []
            self.default = normal()
            self.usage = dict(DEFAULT_USAGE)
            self.content = "Hello from the mock provider."
            self.bill_requested = False
            self.in_flight = 0
            self.max_in_flight = 0
            self.events_streamed = 0
            self.connections_opened = 0
        self._gate.set()

    # -- programming

    def push(self, *behaviours: Behaviour):
        """Queue behaviours; each request takes the next one, then `default` when the queue is empty."""
        with self._lock:
            self._queue.extend(behaviours)

    def hold(self):
        """Park every request (after it is recorded) until `release()`."""
        self._gate.clear()

    def release(self):
        self._gate.set()

    # -- observing

    @property
    def count(self) -> int:
        with self._lock:
            return len(self.requests)

    def last(self) -> Recorded:
        with self._lock:
            return self.requests[-1]

    def snapshot(self) -> list:
        with self._lock:
            return list(self.requests)

    def wait_for(self, count: int, timeout: float = 5.0) -> bool:
        """Waits until at least `count` requests have arrived."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while len(self.requests) < count:
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._cond.wait(left)
            return True

    # -- handler hooks

    def _arrive(self, record: Recorded) -> Behaviour:
        with self._cond:
            self.requests.append(record)
            self.in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self.in_flight)
            behaviour = self._queue.pop(0) if self._queue else self.default
            self._cond.notify_all()
            return copy.copy(behaviour)

    def _streamed(self, count: int):
        with self._lock:
            self.events_streamed += count

    def _leave(self):
        with self._lock:
            self.in_flight = max(0, self.in_flight - 1)

    def _track(self, sock, add: bool):
        with self._lock:
            (self._connections.add if add else self._connections.discard)(sock)
            if add:
                self.connections_opened += 1

    def close_connections(self):
        """Closes every open client connection (FIN), as a provider ending idle keep-alives does."""
        with self._lock:
            connections = list(self._connections)
        for sock in connections:
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass


def main(argv=None):
    parser = argparse.ArgumentParser(description="Mock OpenAI-compatible provider")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--delay", type=float, default=0.0, help="seconds to wait before every answer")
    parser.add_argument("--prompt-tokens", type=int, default=DEFAULT_USAGE["prompt_tokens"])
    parser.add_argument("--completion-tokens", type=int, default=DEFAULT_USAGE["completion_tokens"])
    args = parser.parse_args(argv)
    mock = MockProvider(args.host, args.port)
    mock.default = normal(delay=args.delay)
    mock.usage = {"prompt_tokens": args.prompt_tokens, "completion_tokens": args.completion_tokens}
    print(f"mock provider listening on {mock.base_url}", flush=True)
    try:
        mock._server.serve_forever(poll_interval=0.2)
    except KeyboardInterrupt:
        pass
    finally:
        mock._server.server_close()


if __name__ == "__main__":
    sys.exit(main())
