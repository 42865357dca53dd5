"""What a plain-HTTP provider may put on the wire, against the event loop's own HTTP/1.1 client:
answers framed every legal way arrive whole and are charged exactly; malformed or cut answers are
502 `upstream_unavailable` with nothing left reserved; a connection that carried bytes beyond its
answer is never reused. The provider here is a raw socket server that answers exactly the bytes a
test gives it."""
import json
import socket
import threading

import openai
import pytest

from test_proxy import (  # noqa: F401  (fixtures and helpers)
    _wait_for_stopping_daemons, chat, dead_port, mock, mock_server, models_yaml, proxy, settled,
)

USAGE = {"prompt_tokens": 10, "completion_tokens": 5, "total_tokens": 15}
COST = 35   # 10 prompt tokens × 2 + 5 completion tokens × 3 micro-USD (chat-model in test_proxy)


def completion_body(content="wire ok"):
    return json.dumps({"id": "chatcmpl-wire", "object": "chat.completion", "created": 1, "model": "mock-model",
                       "choices": [{"index": 0, "message": {"role": "assistant", "content": content},
                                    "finish_reason": "stop"}], "usage": USAGE}).encode()


class RawProvider:
    """Accepts connections; for each request read, sends the next queued answer (bytes), then
    closes the connection when the answer says so."""

    def __init__(self, family=socket.AF_INET, host="127.0.0.1"):
        self.listener = socket.socket(family)
        self.listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.listener.bind((host, 0))
        self.listener.listen(16)
        self.port = self.listener.getsockname()[1]
        self.answers = []            # (bytes, close_after)
        self.requests = 0
        self.connections = 0
        self.lock = threading.Lock()
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        while True:
            try:
                conn, _ = self.listener.accept()
            except OSError:
                return
            with self.lock:
                self.connections += 1
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _serve(self, conn):
        buffered = b""
        with conn:
            while True:
                while b"\r\n\r\n" not in buffered:
                    data = conn.recv(65536)
                    if not data:
                        return
                    buffered += data
                head, _, rest = buffered.partition(b"\r\n\r\n")
                length = next((int(line.split(b":", 1)[1]) for line in head.split(b"\r\n")
                               if line.lower().startswith(b"content-length:")), 0)
                while len(rest) < length:
                    data = conn.recv(65536)
                    if not data:
                        return
                    rest += data
                buffered = rest[length:]
                with self.lock:
                    self.requests += 1
                    answer, close_after = self.answers.pop(0) if self.answers else (ok(), False)
                try:
                    conn.sendall(answer)
                except OSError:     # AEX stopped reading (an answer past its limit)
                    return
                if close_after:
                    return

    def close(self):
        self.listener.close()


def ok(body=None, extra_headers=b""):
    body = body if body is not None else completion_body()
    return (b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: " + str(len(body)).encode() +
            b"\r\n" + extra_headers + b"\r\n" + body)


def chunked(body, piece=7):
    parts = [body[i:i + piece] for i in range(0, len(body), piece)]
    return b"".join(f"{len(p):x}\r\n".encode() + p + b"\r\n" for p in parts) + b"0\r\n\r\n"


@pytest.fixture
def wire(proxy):
    raw = RawProvider()
    proxy.write_config(text=models_yaml(raw.port, proxy.dead_port))
    proxy.aex.run("models", "reload", check=0)
    yield proxy, raw
    raw.close()


def test_every_legal_framing_arrives_whole_and_is_charged_exactly(wire):
    proxy, raw = wire
    body = completion_body("framed")
    raw.answers = [
        (ok(body), False),
        (b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n" + chunked(body), False),
        (b"HTTP/1.1 100 Continue\r\n\r\n" + ok(body), False),
        (b"HTTP/1.0 200 OK\r\nContent-Type: application/json\r\n\r\n" + body, True),   # ends with the close
        (ok(body, b"Connection: close\r\n"), True),
    ]
    client = proxy.client(proxy.agent("bot", "10"))
    for _ in range(5):
        assert chat(client).choices[0].message.content == "framed"
    assert chat(client).choices[0].message.content == "wire ok"
    settled(proxy, "bot", 6 * COST)
    # One connection for the first four answers (the fourth ends with its close), one for the
    # fifth (Connection: close), one for the sixth.
    assert raw.connections == 3


@pytest.mark.parametrize("answer", [
    b"HTTP/2 200\r\n\r\n",
    b"garbage\r\n\r\n",
    b"HTTP/1.1 200 OK\r\nContent-Length: 12x\r\n\r\n",
    b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
    b"HTTP/1.1 200 OK\r\nContent-Length: 500\r\n\r\n{\"partial\":",       # then the close
    b"HTTP/1.1 200 OK\r\nX-Big: " + b"a" * 70_000 + b"\r\n\r\n",
])
def test_a_malformed_or_cut_answer_is_502_and_releases(wire, answer):
    proxy, raw = wire
    raw.answers = [(answer, True)] * 2      # the retry of a reused connection gets the same
    client = proxy.client(proxy.agent("bot", "10"))
    with pytest.raises(openai.InternalServerError) as info:
        chat(client)
    assert (info.value.status_code, info.value.code) == (502, "upstream_unavailable"), info.value.body
    settled(proxy, "bot", 0)
    raw.answers = []
    assert chat(client).choices[0].message.content == "wire ok", "the next call works on a new connection"
    settled(proxy, "bot", COST)


def test_bytes_beyond_an_answer_keep_its_connection_from_being_reused(wire):
    proxy, raw = wire
    raw.answers = [(ok() + b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n{}", False)]
    client = proxy.client(proxy.agent("bot", "10"))
    assert chat(client).choices[0].message.content == "wire ok"
    before = raw.connections
    assert chat(client).choices[0].message.content == "wire ok", "the unasked answer is not taken for the next call's"
    assert raw.connections == before + 1
    settled(proxy, "bot", 2 * COST)


def test_an_answer_larger_than_the_limit_is_502(wire, tmp_path):
    proxy, raw = wire
    big = completion_body("x" * (40 * 1024 * 1024))     # above AEX_UPSTREAM_RESPONSE_BYTES_MAX (32 MiB)
    raw.answers = [(ok(big), True)]
    client = proxy.client(proxy.agent("bot", "10"))
    with pytest.raises(openai.InternalServerError) as info:
        chat(client)
    assert info.value.status_code == 502
    settled(proxy, "bot", 0)


def test_localhost_reaches_a_provider_on_the_ipv6_loopback_only(proxy):
    """`localhost` names both loopbacks: a provider listening on ::1 alone is reached after the
    IPv4 loopback refuses, as a resolver offering both addresses would."""
    try:
        raw = RawProvider(socket.AF_INET6, "::1")
    except OSError:
        pytest.skip("no IPv6 loopback on this machine")
    try:
        proxy.write_config(text=models_yaml(raw.port, proxy.dead_port).replace(f"127.0.0.1:{raw.port}", f"localhost:{raw.port}"))
        proxy.aex.run("models", "reload", check=0)
        client = proxy.client(proxy.agent("bot", "10"))
        for _ in range(3):
            assert chat(client).choices[0].message.content == "wire ok"
        assert raw.connections == 1, "the connection to ::1 is kept and reused"
        settled(proxy, "bot", 3 * COST)
    finally:
        raw.close()
