"""The CLI's safety around AEX_HOME: a stale daemon.json signals nothing, files are private,
`aex doctor` reports what is wrong, non-regular config files are refused at once, and a budget
past Int64 micro-USD is a usage error."""
import json
import os
import signal
import socket
import sqlite3
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


# 1. daemon stop / status never signal a process that is not this installation's daemon.

def test_stale_daemon_json_naming_another_process_signals_nothing(aex):
    sleeper = subprocess.Popen(["sleep", "60"])
    try:
        write_state(aex, sleeper.pid, free_port())
        stopped = aex.run("daemon", "stop", timeout=30)
        assert sleeper.poll() is None, "the process named by a stale daemon.json was signalled"
        assert stopped.returncode == 0, stopped.stderr
        assert "not running" in stopped.stdout and "stale" in stopped.stdout, stopped.stdout
        assert not (aex.home / "daemon.json").exists(), "the stale daemon.json is removed"

        write_state(aex, sleeper.pid, free_port())
        status = aex.run("daemon", "status", timeout=30)
        assert status.returncode == 3, status.stdout + status.stderr
        assert "stale" in status.stdout
        assert aex.run("daemon", "status", "--json").returncode == 3
        assert json.loads(aex.run("daemon", "status", "--json").stdout) == {"running": False}
        assert sleeper.poll() is None
        # Management works on the database directly: the file names no daemon.
        aex.run("agent", "create", "local", "1", "1", check=0)
        aex.run("daemon", "stop", check=0)
        assert sleeper.poll() is None
    finally:
        sleeper.kill()
        sleeper.wait()


def test_daemon_json_naming_another_installations_daemon_is_not_believed(aex, tmp_path):
    other = Aex(tmp_path / "other")
    other.run("init", check=0)
    other_state = other.start()
    try:
        write_state(aex, other_state["pid"], other_state["port"])
        assert aex.run("daemon", "status").returncode == 3, "another home's daemon is not this one's"
        aex.run("agent", "create", "mine", "1", "1", check=0)
        assert other.json("agent", "list") == [], "the command was not sent to the other home's daemon"
        stopped = aex.run("daemon", "stop", check=0)
        assert "not running" in stopped.stdout
        assert other.run("daemon", "status").returncode == 0, "the other home's daemon still runs"
    finally:
        other.stop()


def test_the_real_daemon_still_stops(aex):
    state = aex.start()
    assert aex.run("daemon", "status").returncode == 0
    stopped = aex.run("daemon", "stop", check=0)
    assert f"stopped (pid {state['pid']})" in stopped.stdout
    assert not (aex.home / "daemon.json").exists()
    assert aex.run("daemon", "status").returncode == 3


def test_daemon_start_replaces_a_stale_daemon_json(aex):
    sleeper = subprocess.Popen(["sleep", "60"])
    try:
        write_state(aex, sleeper.pid, free_port())
        state = aex.start()
        assert state["pid"] != sleeper.pid
        assert aex.run("daemon", "status").returncode == 0
        aex.stop()
        assert sleeper.poll() is None
    finally:
        sleeper.kill()
        sleeper.wait()


# 2. Permissions and `aex doctor`.

def test_files_are_private_after_init_and_start(tmp_path):
    aex = Aex(tmp_path / "fresh" / "home")
    aex.run("init", check=0)
    for directory in ["", "config", "logs", "plugins"]:
        assert mode(aex.home / directory) == 0o700, directory
    for name in ["admin.token", ".env"]:
        assert mode(aex.home / name) == 0o600, name
    aex.start()
    try:
        aex.run("agent", "create", "a", "1", "1", check=0)
        assert mode(aex.home / "daemon.json") == 0o600
        assert mode(aex.home / "logs" / "daemon.log") == 0o600
        db_files = [p for p in aex.home.iterdir() if p.name.startswith("aex.db")]
        assert {p.name for p in db_files} >= {"aex.db", "aex.db-wal", "aex.db-shm"}
        for path in db_files:
            assert mode(path) == 0o600, path.name
        assert not (aex.home / "daemon.json.tmp").exists()
    finally:
        aex.stop()


def test_doctor_passes_on_a_fresh_home(aex):
    aex.add_dummy_provider_keys()           # the default openai provider needs a key
    result = aex.run("doctor")
    assert result.returncode == 0, result.stdout + result.stderr
    lines = result.stdout.splitlines()
    assert lines and all(line.startswith("OK ") for line in lines), result.stdout
    assert any("AEX_HOME" in line for line in lines)
    assert any("models.yaml" in line for line in lines)
    assert any("database" in line and "schema" in line for line in lines)
    assert any(line.startswith("OK ledger chain") for line in lines), result.stdout
    assert any(line.startswith("OK plugins") for line in lines) and any(line.startswith("OK tools.yaml") for line in lines)
    help_text = aex.run("doctor", "--help", check=0).stdout
    assert "usage: aex doctor" in help_text


def test_doctor_reports_a_broken_ledger_chain(aex):
    aex.run("agent", "create", "bot", "1", "10", check=0)
    db = sqlite3.connect(aex.home / "aex.db")
    db.executescript("DROP TRIGGER IF EXISTS event_log_no_update; UPDATE event_log SET payload = replace(payload, '1', '2') WHERE seq = 1")
    db.close()
    result = aex.run("doctor")
    assert result.returncode == 1, result.stdout
    failed = [line for line in result.stdout.splitlines() if line.startswith("FAIL ledger chain")]
    assert failed and "entry 1" in failed[0] and "fix:" in failed[0], result.stdout


def test_doctor_and_daemon_start_report_an_open_home(aex):
    aex.add_dummy_provider_keys()
    os.chmod(aex.home, 0o755)
    try:
        result = aex.run("doctor")
        assert result.returncode == 1, result.stdout
        failures = [line for line in result.stdout.splitlines() if line.startswith("FAIL ")]
        assert len(failures) == 1 and str(aex.home) in failures[0] and "— fix: chmod 700" in failures[0], result.stdout

        started = aex.run("daemon", "start", "--port", "0", check=0)
        assert "warning" in started.stderr and str(aex.home) in started.stderr, started.stderr
        log = (aex.home / "logs" / "daemon.log").read_text()
        records = [json.loads(line) for line in log.splitlines() if line.startswith("{")]
        assert any(r["level"] == "warn" and str(aex.home) in r["msg"] for r in records), log
        aex.stop()
    finally:
        os.chmod(aex.home, 0o700)


def test_doctor_reports_readable_secrets_and_a_broken_config(aex):
    os.chmod(aex.home / "admin.token", 0o644)
    os.chmod(aex.home / ".env", 0o640)
    os.chmod(aex.home / "aex.db", 0o644)
    (aex.home / "config" / "models.yaml").write_text("version: 2\n")
    result = aex.run("doctor")
    assert result.returncode == 1
    failures = [line for line in result.stdout.splitlines() if line.startswith("FAIL ")]
    assert any("admin.token" in line and "chmod 600" in line for line in failures), result.stdout
    assert any(".env" in line for line in failures), result.stdout
    assert any("aex.db" in line for line in failures), result.stdout
    assert any(line.startswith("FAIL models.yaml") and "models.yaml:1" in line for line in failures), result.stdout
    assert any(line.startswith("OK database integrity") for line in result.stdout.splitlines()), result.stdout


def test_doctor_reports_a_config_file_that_is_not_regular(aex):
    config = aex.home / "config" / "models.yaml"
    config.unlink()
    os.mkfifo(config)
    doctor = aex.run("doctor", timeout=20)
    assert doctor.returncode == 1
    assert any(line.startswith("FAIL models.yaml") and "not a regular file" in line and str(config) in line
               for line in doctor.stdout.splitlines()), doctor.stdout


def test_doctor_sees_the_running_daemon(daemon):
    daemon.add_dummy_provider_keys()
    result = daemon.run("doctor")
    assert result.returncode == 0, result.stdout
    daemon_line = next(line for line in result.stdout.splitlines() if line.startswith("OK daemon ("))
    assert str(daemon.state["pid"]) in daemon_line


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


# 4. --add-budget past Int64 micro-USD.

HUGE = "9000000000000"  # 9e18 micro-USD fits; twice it does not


def check_add_budget_overflow(aex):
    aex.run("agent", "create", "big", HUGE, "60", check=0)
    for args in (["--add-budget", HUGE], ["--budget", HUGE, "--add-budget", HUGE], ["--budget", "1", "--add-budget", "9223372036854"]):
        result = aex.run("agent", "update", "big", *args)
        assert result.returncode == 2, f"{args}: exit {result.returncode}\n{result.stderr}"
        first, usage = result.stderr.splitlines()[:2]
        assert first.startswith("aex: ") and "largest" in first, result.stderr
        assert usage.startswith("usage: aex agent update"), result.stderr
    agent = aex.json("agent", "inspect", "big")
    assert agent["budget_micro"] == int(HUGE) * 1_000_000, "nothing changed"
    added = aex.json("agent", "update", "big", "--add-budget", "223372036854.775807")
    assert added["budget_micro"] == 2**63 - 1, "the largest amount itself is fine"


def test_add_budget_overflow_is_a_usage_error_without_daemon(aex):
    check_add_budget_overflow(aex)


def test_add_budget_overflow_is_a_usage_error_with_daemon(daemon):
    check_add_budget_overflow(daemon)


def test_admin_api_refuses_a_budget_overflow_with_400(daemon):
    token = daemon.admin_token
    status, _ = request(daemon.port, "POST", "/admin/agents", token, {"name": "big", "budget_micro": 9 * 10**18, "rpm": 1})
    assert status == 201
    for body in ({"add_budget_micro": 9 * 10**18}, {"budget_micro": 9 * 10**18, "add_budget_micro": 9 * 10**18}):
        status, answer = request(daemon.port, "PATCH", "/admin/agents/big", token, body)
        assert status == 400 and answer["error"]["code"] == "invalid_request", (status, answer)
    status, answer = request(daemon.port, "POST", "/admin/agents", token,
                             {"name": "other", "budget_micro": 9 * 10**18, "add_budget_micro": 9 * 10**18, "rpm": 1})
    assert status == 400 and answer["error"]["code"] == "invalid_request", (status, answer)
    status, agent = request(daemon.port, "GET", "/admin/agents/big", token)
    assert agent["budget_micro"] == 9 * 10**18
