"""The plumbing the e2e mock servers share (stdlib only): mock_provider.py and anthropic_mock.py.

- `MockServer`, the base of a mock: a threaded HTTP/1.1 (keep-alive) server on `host:port` (port 0:
  any free one) with `port`, `base_url`, `start()`, `stop()` and `with`; a FIFO of behaviours
  (`push`, `default`, `reset`), `hold()`/`release()`; what arrived (`requests`, `count`, `last()`,
  `snapshot()`, `wait_for(n)`) and `in_flight`, `max_in_flight`, `events_streamed`. A mock names
  its handler, listen backlog and thread name, and sets its own defaults in `_reset_settings`.
- `MockHTTPServer`, the ThreadingHTTPServer behind it (`server.mock` is the mock).
- `MockRequestHandler`, the base of a mock's handler: reads the body (Content-Length or chunked),
  records the request, takes its behaviour, waits out its delay and any hold, then calls the
  mock's `_respond`; answers with `_send_body`, streams events with `_stream`, resets with `_reset`.
- `Recorded`, one request as it arrived.
- `standalone_parser`, the --host/--port options of a mock run on its own (then `_serve_standalone`).

A behaviour is any object with `kind` ("close" resets the connection), `delay`, `event_delay` and
`fail_after`; the mocks define their own.
"""
from __future__ import annotations

import argparse
import copy
import itertools
import json
import socket
import struct
import threading
import time
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Optional


@dataclass
class Recorded:
    method: str
    path: str
    headers: dict          # lower-cased names
    body: Any              # parsed JSON, or None when the body was not JSON
    raw: bytes
    at: float


# ------------------------------------------------------------------------------------------ handler

class MockRequestHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "mock/1.0"
    sys_version = ""

    def log_message(self, format, *args):  # quiet
        pass

    def setup(self):
        super().setup()
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

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

    def _send_body(self, code: int, data: bytes, headers: list):
        """Answers `code` with `data`: the (name, value) `headers` in order, then Content-Length."""
        self.send_response(code)
        for name, value in headers:
            self.send_header(name, str(value))
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)
        self.wfile.flush()

    def _stream(self, headers: list, events: list, behaviour):
        """Answers 200 with the (name, value) `headers`, then each event as one chunk, `event_delay`
        apart; resets the connection at `fail_after` events, or when `_pause` says to."""
        self.send_response(200)
        for name, value in headers:
            self.send_header(name, value)
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        for index, event in enumerate(events):
            if behaviour.fail_after is not None and index >= behaviour.fail_after:
                return self._reset()
            if index > 0 and behaviour.event_delay > 0 and self._pause(behaviour.event_delay):
                return self._reset()
            data = event.encode()
            self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))
            self.wfile.flush()
            self.server.mock._streamed()
        self.wfile.write(b"0\r\n\r\n")
        self.wfile.flush()

    def _pause(self, seconds: float) -> bool:
        """Waits between streamed events; True when the mock stops meanwhile (the stream is cut)."""
        return self.server.mock._stopping.wait(seconds)

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
        mock: MockServer = self.server.mock
        raw = self._read_body()
        try:
            body = json.loads(raw) if raw else None
        except ValueError:
            body = None
        path = self.path.split("?", 1)[0]
        headers = {k.lower(): v for k, v in self.headers.items()}
        record = self._record(method, path, headers, body, raw)
        behaviour = mock._arrive(record)
        try:
            self._respond(record, behaviour)
        except (BrokenPipeError, ConnectionResetError, OSError):
            self.close_connection = True  # the client went away (e.g. the gateway timed out)
        finally:
            mock._leave()

    def _record(self, method: str, path: str, headers: dict, body: Any, raw: bytes) -> Recorded:
        return Recorded(method, path, headers, body, raw, time.time())

    def _wait_turn(self, behaviour) -> bool:
        """Waits out the behaviour's delay and any hold; False when the connection was reset instead
        (the mock stopped during the delay, or the behaviour is "close")."""
        mock: MockServer = self.server.mock
        if behaviour.delay > 0 and mock._stopping.wait(behaviour.delay):
            self._reset()
            return False
        mock._gate.wait(mock.hold_timeout)  # a forgotten hold never wedges the suite: answer anyway
        if behaviour.kind == "close":
            self._reset()
            return False
        return True

    def _respond(self, record: Recorded, behaviour):
        raise NotImplementedError


# ------------------------------------------------------------------------------------------- server

class MockHTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, address, mock: "MockServer"):
        self.mock = mock
        self.request_queue_size = mock._queue_size
        super().__init__(address, mock._handler)


# --------------------------------------------------------------------------------------------- mock

class MockServer:
    """The lifecycle, behaviour queue and request log of a mock; see the module docstring."""

    _handler: type = MockRequestHandler
    _queue_size = 1024                     # listen backlog
    _thread_name = "mock"
    _copy_behaviour = staticmethod(copy.copy)   # what a request gets: a copy of its behaviour

    def __init__(self, host: str = "127.0.0.1", port: int = 0):
        self.host = host
        self._lock = threading.Lock()
        self._cond = threading.Condition(self._lock)
        self._gate = threading.Event()
        self._gate.set()
        self._stopping = threading.Event()
        self._ids = itertools.count(1)
        self.hold_timeout = 30.0
        self._server = MockHTTPServer((host, port), self)
        self._thread: Optional[threading.Thread] = None
        self.reset()

    # -- lifecycle

    @property
    def port(self) -> int:
        return self._server.server_address[1]

    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.port}/v1"

    def start(self):
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05},
                                        name=f"{self._thread_name}:{self.port}", daemon=True)
        self._thread.start()
        return self

    def stop(self):
        self._stopping.set()
        self._gate.set()
        self._server.shutdown()
        self._server.server_close()

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()

    def _serve_standalone(self, name: str):
        """Run on its own: says where it listens, then serves in this thread until interrupted (Ctrl-C)."""
        print(f"{name} listening on {self.base_url}", flush=True)
        try:
            self._server.serve_forever(poll_interval=0.2)
        except KeyboardInterrupt:
            pass
        finally:
            self._server.server_close()

    def reset(self):
        """Forget requests and behaviours; back to the mock's default answers and usage."""
        with self._lock:
            self.requests: list[Recorded] = []
            self._queue: list = []
            self.in_flight = 0
            self.max_in_flight = 0
            self.events_streamed = 0
            self._reset_settings()
        self._gate.set()

    def _reset_settings(self):
        """Under the lock, from `reset()`: the mock's own defaults (`default`, `usage`, ...)."""
        self.default = None

    # -- programming

    def push(self, *behaviours):
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

    def _next_id(self) -> int:
        return next(self._ids)

    def _takes_behaviour(self, record: Recorded) -> bool:
        """Whether this request takes the next queued behaviour (else it gets `default`)."""
        return True

    def _arrive(self, record: Recorded):
        with self._cond:
            self.requests.append(record)
            self.in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self.in_flight)
            behaviour = self.default
            if self._queue and self._takes_behaviour(record):
                behaviour = self._queue.pop(0)
            self._cond.notify_all()
            return self._copy_behaviour(behaviour)

    def _streamed(self, count: int = 1):
        with self._lock:
            self.events_streamed += count

    def _leave(self):
        with self._lock:
            self.in_flight = max(0, self.in_flight - 1)


def standalone_parser(description: str) -> argparse.ArgumentParser:
    """The options of a mock run on its own (`python3 <mock>.py --port N`): --host, --port."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0)
    return parser
