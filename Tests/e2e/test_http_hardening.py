"""The HTTP server against clients that try to hold it or confuse it: a second daemon or another program
on the daemon's port, unauthenticated or slow bodies, ambiguous credentials, pipelining then half-close.
Every test is bounded in time and in connections, over loopback."""
import json
import select
import socket
import time

import pytest

from conftest import Aex


def connect(port, timeout=5):
    return socket.create_connection(("127.0.0.1", port), timeout=timeout)


class Reader:
    """Reads responses one after another from a socket (content-length framed)."""

    def __init__(self, sock):
        self.sock = sock
        self.buffer = b""

    def _fill(self):
        chunk = self.sock.recv(65536)
        if not chunk:
            raise EOFError(f"closed with {self.buffer!r} unread")
        self.buffer += chunk

    def response(self):
        while b"\r\n\r\n" not in self.buffer:
            self._fill()
        head, self.buffer = self.buffer.split(b"\r\n\r\n", 1)
        lines = head.decode().split("\r\n")
        headers = {}
        for line in lines[1:]:
            name, value = line.split(":", 1)
            headers[name.strip().lower()] = value.strip()
        length = int(headers.get("content-length", "0"))
        while len(self.buffer) < length:
            self._fill()
        body, self.buffer = self.buffer[:length], self.buffer[length:]
        return int(lines[0].split()[1]), headers, body

    def at_eof(self):
        """True when the server has closed its side and nothing is left unread."""
        if self.buffer:
            return False
        try:
            return self.sock.recv(65536) == b""
        except ConnectionResetError:
            return True


def exchange(port, raw):
    with connect(port) as sock:
        sock.sendall(raw)
        return Reader(sock).response()


def error_code(body):
    return json.loads(body)["error"]["code"]


def admin_get(port, token, path="/admin/agents"):
    return exchange(port, f"GET {path} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {token}\r\n\r\n".encode())


def installation(tmp_path, name, env=None):
    aex = Aex(tmp_path / name, env)
    aex.run("init", check=0)
    return aex


def stop_if_running(*installations):
    for aex in installations:
        if (aex.home / "daemon.json").exists():
            aex.run("daemon", "stop")


# 1. One port, one daemon.

def test_a_second_daemon_on_the_same_port_fails_and_disturbs_nothing(tmp_path):
    first = installation(tmp_path, "first")
    second = installation(tmp_path, "second")
    first.run("agent", "create", "only-in-first", "1", "1", check=0)
    try:
        first.start()
        port = first.port
        result = second.run("daemon", "start", "--port", str(port))
        assert result.returncode == 1, result.stdout + result.stderr
        assert f"port {port}" in result.stderr and "already in use" in result.stderr, result.stderr
        assert not (second.home / "daemon.json").exists()
        # Every connection reaches the first daemon: its admin token works on each, and it lists its agent.
        for _ in range(50):
            status, _, body = admin_get(port, first.admin_token)
            assert status == 200, body
            assert [agent["name"] for agent in json.loads(body)] == ["only-in-first"]
        assert second.run("daemon", "status").returncode == 3
    finally:
        stop_if_running(first, second)


@pytest.mark.parametrize("reuse_port", [False, True])
def test_a_port_another_program_listens_on_refuses_the_start(aex, reuse_port):
    blocker = socket.socket()
    if reuse_port:  # a program that itself allows port sharing must not get a daemon beside it
        blocker.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    blocker.bind(("127.0.0.1", 0))
    blocker.listen(16)
    port = blocker.getsockname()[1]
    try:
        result = aex.run("daemon", "start", "--port", str(port))
        assert result.returncode == 1, result.stdout + result.stderr
        assert f"port {port}" in result.stderr and "already in use" in result.stderr, result.stderr
        assert not (aex.home / "daemon.json").exists()
        # The program still gets every connection.
        blocker.settimeout(2)
        for _ in range(5):
            client = connect(port)
            accepted, _ = blocker.accept()
            accepted.close()
            client.close()
    finally:
        blocker.close()


# 2. The credential is checked before the body is read; a body has a total deadline.

TRICKLE_HEAD = ("POST {path} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {token}\r\n"
                "Content-Type: application/json\r\nContent-Length: 1000000\r\n\r\n")


def test_unauthenticated_bodies_are_refused_before_they_are_read(tmp_path):
    aex = installation(tmp_path, "home", {"AEX_CONNECTIONS_MAX": "64"})
    agent_token = aex.json("agent", "create", "legit", "1", "100")["token"]
    aex.start()
    port = aex.port
    tricklers = []
    try:
        for wave in range(5):  # 5 waves of 40: 200 connections, each wave below the cap of 64
            wave_socks = []
            for i in range(40):
                sock = connect(port, timeout=3)
                token = "aex_wrong" if i % 4 else f"{agent_token[:-4]}zzzz"
                path = "/admin/agents" if i % 5 == 0 else "/v1/chat/completions"
                sock.sendall(TRICKLE_HEAD.format(path=path, token=token).encode() + b"{")
                wave_socks.append(sock)
            started = time.monotonic()
            for sock in wave_socks:
                status, headers, body = Reader(sock).response()
                assert status == 401 and error_code(body) in ("invalid_api_key", "missing_api_key"), body
                assert headers.get("connection") == "close"
            assert time.monotonic() - started < 2, "refused at once, without waiting for the body"
            for sock in wave_socks:
                assert Reader(sock).at_eof(), "the connection is closed after the refusal"
                try:
                    sock.sendall(b'"')  # the client keeps trickling; nothing on the server waits for it
                except OSError:
                    pass
            tricklers += wave_socks
            # Legitimate requests are served while the refused connections are still open on the client side.
            assert exchange(port, b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n")[0] == 200
            status, _, body = exchange(
                port, f"GET /v1/models HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {agent_token}\r\n\r\n".encode())
            assert status == 200, body
        # An authenticated body that arrives in pieces is still read and handled.
        payload = json.dumps({"name": "late", "budget_micro": 1, "rpm": 1}).encode()
        with connect(port) as sock:
            sock.sendall((f"POST /admin/agents HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {aex.admin_token}\r\n"
                          f"Content-Type: application/json\r\nContent-Length: {len(payload)}\r\n\r\n").encode() + payload[:3])
            time.sleep(0.3)
            sock.sendall(payload[3:])
            status, _, body = Reader(sock).response()
            assert status == 201, body
    finally:
        for sock in tricklers:
            sock.close()
        aex.stop()


def test_expect_continue_with_a_bad_credential_gets_the_refusal_instead(daemon):
    with connect(daemon.port) as sock:
        sock.sendall(b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer aex_nope\r\n"
                     b"Content-Length: 5000\r\nExpect: 100-continue\r\n\r\n")
        reader = Reader(sock)
        status, _, body = reader.response()
        assert status == 401 and error_code(body) == "invalid_api_key"
        assert reader.at_eof()


def test_a_body_must_arrive_within_the_body_read_timeout(tmp_path):
    aex = installation(tmp_path, "home", {"AEX_BODY_READ_TIMEOUT_SECONDS": "3"})
    agent_token = aex.json("agent", "create", "slow", "1", "100")["token"]
    aex.start()
    try:
        with connect(aex.port, timeout=10) as sock:
            sock.sendall(TRICKLE_HEAD.format(path="/v1/chat/completions", token=agent_token).encode())
            started = time.monotonic()
            while time.monotonic() - started < 8:
                readable, _, _ = select.select([sock], [], [], 0.5)
                if readable:
                    break
                sock.sendall(b" ")  # one byte every 0.5 s: never a pause long enough for the per-pause timeout
            elapsed = time.monotonic() - started
            status, headers, body = Reader(sock).response()
            assert status == 408 and error_code(body) == "request_timeout", body
            assert 2.5 <= elapsed <= 5, elapsed
            assert headers.get("connection") == "close"
    finally:
        aex.stop()


def test_the_body_read_timeout_setting_is_checked(tmp_path):
    aex = installation(tmp_path, "home", {"AEX_BODY_READ_TIMEOUT_SECONDS": "soon"})
    try:
        result = aex.run("daemon", "start", "--port", "0")
        assert result.returncode == 1
        assert "AEX_BODY_READ_TIMEOUT_SECONDS must be a positive integer" in result.stderr
    finally:
        stop_if_running(aex)


# 3. One credential per request.

def test_two_authorization_headers_are_refused(daemon):
    agent_token = daemon.json("agent", "create", "twice", "1", "100")["token"]
    cases = [
        ("/v1/models", agent_token, agent_token),
        ("/v1/models", agent_token, "aex_other"),
        ("/admin/agents", daemon.admin_token, daemon.admin_token),
        ("/health", "a", "b"),
    ]
    for path, first, second in cases:
        with connect(daemon.port) as sock:
            sock.sendall((f"GET {path} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {first}\r\n"
                          f"authorization: Bearer {second}\r\n\r\n").encode())
            reader = Reader(sock)
            status, headers, body = reader.response()
            assert status == 400, (path, body)
            error = json.loads(body)["error"]
            assert error["code"] == "invalid_request" and error["type"] == "invalid_request_error"
            assert "Authorization" in error["message"]
            assert headers["x-request-id"]
            assert reader.at_eof()
    # One is fine.
    status, _, _ = exchange(daemon.port, f"GET /v1/models HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {agent_token}\r\n\r\n".encode())
    assert status == 200


# 4. Pipelined requests, then a half-close.

def test_pipelined_requests_then_half_close_are_all_answered_in_order(daemon):
    token = daemon.admin_token
    replay = f"GET /admin/replay HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {token}\r\n\r\n".encode()
    health = b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n"
    requests = [replay if i % 2 == 0 else health for i in range(50)]
    with connect(daemon.port, timeout=10) as sock:
        # The last, incomplete request is dropped.
        sock.sendall(b"".join(requests) + b"GET /health HTTP/1.1\r\nHo")
        sock.shutdown(socket.SHUT_WR)
        reader = Reader(sock)
        for i in range(50):
            status, _, body = reader.response()
            assert status == 200, (i, body)
            answer = json.loads(body)
            if i % 2 == 0:
                assert "ok" in answer and "events" in answer, (i, answer)  # the replay report
            else:
                assert answer["status"] == "ok" and "version" in answer, (i, answer)
        assert reader.at_eof(), "the connection closes once every complete request is answered"
