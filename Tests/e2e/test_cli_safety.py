"""The CLI's safety around AEX_HOME: a stale daemon.json signals nothing, files are private,
`aex doctor` reports what is wrong, non-regular config files are refused at once, and a budget
past Int64 micro-USD is a usage error."""
import json
import os
import signal
import socket
import stat
import subprocess
import time
import urllib.request

import pytest

from conftest import Aex, wait_until


def free_port():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def write_state(aex, pid, port):
    (aex.home / "daemon.json").write_text(json.dumps(
        {"pid": pid, "host": "127.0.0.1", "port": port, "started_at": "2024-01-01T00:00:00Z"}))


def mode(path):
    return stat.S_IMODE(os.lstat(path).st_mode)


def request(port, method, path, token, body=None):
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(f"http://127.0.0.1:{port}{path}", data=data, method=method)
    req.add_header("Authorization", f"Bearer {token}")
    if data is not None:
        req.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(req, timeout=10) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


# 3. A config file that is not a regular file is refused at once.

def replace_with_fifo(path):
    path.unlink()
    os.mkfifo(path)


def test_fifo_models_yaml_fails_fast(aex):
    config = aex.home / "config" / "models.yaml"
    replace_with_fifo(config)
    started = time.monotonic()
    listed = aex.run("models", "list", timeout=20)
    assert listed.returncode == 1
    assert str(config) in listed.stderr and "not a regular file" in listed.stderr, listed.stderr
    reloaded = aex.run("models", "reload", timeout=20)
    assert reloaded.returncode == 1 and "not a regular file" in reloaded.stderr
    daemon = aex.run("daemon", "start", "--port", "0", timeout=30)
    assert daemon.returncode == 1
    assert str(config) in daemon.stderr and "not a regular file" in daemon.stderr, daemon.stderr
    assert time.monotonic() - started < 10


def test_fifo_env_file_fails_fast(aex):
    env_file = aex.home / ".env"
    replace_with_fifo(env_file)
    started = time.monotonic()
    daemon = aex.run("daemon", "start", "--port", "0", timeout=30)
    assert daemon.returncode == 1
    assert str(env_file) in daemon.stderr and "not a regular file" in daemon.stderr, daemon.stderr
    assert time.monotonic() - started < 10


def test_reload_refuses_a_fifo_and_keeps_the_old_config(daemon):
    before = daemon.json("models", "list")
    replace_with_fifo(daemon.home / "config" / "models.yaml")
    reloaded = daemon.run("models", "reload", timeout=20)
    assert reloaded.returncode == 1
    assert "not a regular file" in reloaded.stderr, reloaded.stderr
    assert daemon.json("models", "list") == before
    with urllib.request.urlopen(f"http://127.0.0.1:{daemon.port}/health", timeout=5) as response:
        assert response.status == 200


def test_admin_api_reload_refuses_a_fifo_env_file(daemon):
    replace_with_fifo(daemon.home / ".env")
    status, body = request(daemon.port, "POST", "/admin/reload_config", daemon.admin_token)
    assert status == 400 and "not a regular file" in body["error"]["message"], body


