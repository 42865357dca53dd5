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

import base64
import itertools
import json
import socket
import struct
import sys
import time
from dataclasses import dataclass, field
from typing import Any, Optional

from mock_server import MockRequestHandler, MockServer, Recorded, standalone_parser

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


# ------------------------------------------------------------------------------------------- server

class _Handler(MockRequestHandler):
    server_version = "mock-openai/1.0"

    def setup(self):
        super().setup()
        self.server.mock._track(self.connection, True)

    def finish(self):
        try:
            super().finish()
        finally:
            self.server.mock._track(self.connection, False)

    # -- writing

    def _send(self, code: int, payload: Any, headers: Optional[dict] = None):
        if isinstance(payload, (dict, list)):
            data = json.dumps(payload).encode()
            content_type = "application/json"
        else:
            data = payload.encode() if isinstance(payload, str) else (payload or b"")
            content_type = "text/plain; charset=utf-8"
        extra = dict(headers or {})
        default = [] if any(k.lower() == "content-type" for k in extra) else [("Content-Type", content_type)]
        self._send_body(code, data, default + list(extra.items()))

    def _send_sse(self, events, behaviour: Optional[Behaviour] = None):
        behaviour = behaviour or Behaviour()
        events = list(events)
        if behaviour.garbage_after is not None and 0 <= behaviour.garbage_after < len(events):
            events[behaviour.garbage_after] = "data: {this is not json\n\n"
        self._stream([("Content-Type", "text/event-stream"), ("Cache-Control", "no-cache")], events, behaviour)

    def _pause(self, seconds: float) -> bool:
        time.sleep(seconds)  # a stream runs on while the mock stops
        return False

    # -- dispatch

    def _respond(self, record: Recorded, behaviour: Behaviour):
        if not self._wait_turn(behaviour):
            return
        if behaviour.kind == "status":
            return self._send(behaviour.status, behaviour.body, behaviour.headers)
        self._answer(record.method, record.path, record.body, behaviour, self.server.mock)

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
        seq = mock._next_id()
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

class MockProvider(MockServer):
    """A threaded HTTP/1.1 (keep-alive) mock provider; see the module docstring."""

    _handler = _Handler
    _queue_size = 1024
    _thread_name = "mock-provider"

    def __init__(self, host: str = "127.0.0.1", port: int = 0):
        self._connections: set = set()
        super().__init__(host, port)

    def stop(self):
        super().stop()
        self.close_connections()

    def _reset_settings(self):
        """Back to normal answers with the default usage."""
        self.default = normal()
        self.usage = dict(DEFAULT_USAGE)
        self.content = "Hello from the mock provider."
        self.bill_requested = False
        self.connections_opened = 0

    # -- connections

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
    parser = standalone_parser("Mock OpenAI-compatible provider")
    parser.add_argument("--delay", type=float, default=0.0, help="seconds to wait before every answer")
    parser.add_argument("--prompt-tokens", type=int, default=DEFAULT_USAGE["prompt_tokens"])
    parser.add_argument("--completion-tokens", type=int, default=DEFAULT_USAGE["completion_tokens"])
    args = parser.parse_args(argv)
    mock = MockProvider(args.host, args.port)
    mock.default = normal(delay=args.delay)
    mock.usage = {"prompt_tokens": args.prompt_tokens, "completion_tokens": args.completion_tokens}
    mock._serve_standalone("mock provider")


if __name__ == "__main__":
    sys.exit(main())
