"""Daemon lifecycle: detach, health, daemon.json, logs, status codes, restart with data intact."""
import json
import os
import signal
import socket
import threading
import time
import urllib.request

from conftest import wait_until


def get(port, path, token=None):
    request = urllib.request.Request(f"http://127.0.0.1:{port}{path}")
    if token:
        request.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            return response.status, dict(response.headers), json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, dict(error.headers), json.loads(error.read())


def test_start_status_stop_restart(aex):
    assert aex.run("daemon", "status").returncode == 3
    created = aex.json("agent", "create", "keeper", "5", "10")

    started = aex.run("daemon", "start", "--port", "0", check=0)
    state = aex.state
    assert set(state) == {"pid", "host", "port", "started_at"}
    assert f":{state['port']}" in started.stdout
    status, headers, body = get(state["port"], "/health")
    assert status == 200 and body["status"] == "ok" and body["version"]
    assert headers.get("x-request-id")

    status_run = aex.run("daemon", "status", check=0)
    assert str(state["pid"]) in status_run.stdout
    assert aex.json("daemon", "status")["running"] is True

    again = aex.run("daemon", "start", "--port", "0", check=0)
    assert "already running" in again.stdout
    assert aex.state["pid"] == state["pid"], "a second start starts nothing"

    log_lines = (aex.home / "logs" / "daemon.log").read_text().splitlines()
    records = [json.loads(line) for line in log_lines if line.startswith("{")]
    assert any(r["msg"] == "daemon listening" for r in records)
    assert aex.admin_token not in "\n".join(log_lines)
    assert created["token"] not in "\n".join(log_lines)

    aex.run("daemon", "stop", check=0)
    assert not (aex.home / "daemon.json").exists()
    assert wait_until(lambda: not pid_alive(state["pid"]), 1)
    assert aex.run("daemon", "status").returncode == 3

    aex.start()
    agents = aex.json("agent", "list")
    assert [a["name"] for a in agents] == ["keeper"] and agents[0]["budget_micro"] == 5_000_000
    status, _, _ = get(aex.port, "/admin/agents", created["token"])
    assert status == 401


def pid_alive(pid):
    """True while the process runs; an exited process not yet reaped (a zombie) is not alive."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().rsplit(")", 1)[1].split()[0] not in ("Z", "X")
    except FileNotFoundError:
        return False


def test_start_failure_reports_the_log_tail(aex):
    blocker = socket.socket()
    blocker.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 0)
    blocker.bind(("127.0.0.1", 0))
    blocker.listen(1)
    port = blocker.getsockname()[1]
    try:
        result = aex.run("daemon", "start", "--port", str(port))
        assert result.returncode == 1
        assert "listening on 127.0.0.1" in result.stderr, result.stderr
    finally:
        blocker.close()


def test_stop_is_graceful_for_in_flight_requests(daemon):
    # A request whose body is still arriving when stop begins is answered before the daemon exits.
    port = daemon.port
    sock = socket.create_connection(("127.0.0.1", port))
    body = json.dumps({"name": "late", "budget_micro": 1, "rpm": 1}).encode()
    head = (f"POST /admin/agents HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {daemon.admin_token}\r\n"
            f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n").encode()
    sock.sendall(head + body[:5])
    pid = daemon.state["pid"]
    os.kill(pid, signal.SIGTERM)
    time.sleep(0.3)
    assert pid_alive(pid), "the daemon waits for the in-flight request"
    sock.sendall(body[5:])
    response = sock.recv(65536).decode()
    assert response.startswith("HTTP/1.1 201"), response
    assert "connection: close" in response.lower()
    sock.close()
    assert wait_until(lambda: not pid_alive(pid), 5)
    assert [a["name"] for a in daemon.json("agent", "list")] == ["late"]


def test_management_waits_for_the_single_writer(daemon):
    # Many CLI invocations at once while the daemon runs: all succeed through the daemon.
    results = []
    def create(i):
        results.append(daemon.run("agent", "create", f"c{i}", "1", "1").returncode)
    threads = [threading.Thread(target=create, args=(i,)) for i in range(8)]
    [t.start() for t in threads]
    [t.join() for t in threads]
    assert results == [0] * 8
    assert len(daemon.json("agent", "list")) == 8


def test_durability_is_full_by_default_and_configurable(aex):
    def listening_durability():
        records = [json.loads(line) for line in (aex.home / "logs" / "daemon.log").read_text().splitlines() if line.startswith("{")]
        return [r["fields"]["durability"] for r in records if r["msg"] == "daemon listening"][-1]

    aex.start()
    assert listening_durability() == "full"
    aex.stop()
    aex.env["AEX_DURABILITY"] = "normal"
    aex.start()
    assert listening_durability() == "normal"
    aex.stop()
    aex.env["AEX_DURABILITY"] = "sometimes"
    result = aex.run("daemon", "start", "--port", "0")
    assert result.returncode == 1
    assert "AEX_DURABILITY must be 'full' or 'normal'" in result.stderr + result.stdout
