"""`aex doctor` (SPEC §14) end to end, one test per way a check can fail, plus the healthy home:
every line is `OK <check>` or `FAIL <check>: <problem> — fix: <fix>`, and the exit code is 1 when
any check fails. Damage is made the way the other tests make it: modes changed with chmod, the
ledger edited through sqlite3 with its triggers dropped (as test_ledger.py does), a plugin's
installed copy appended to (as test_plugins.py does), and the database overwritten in the middle
with the daemon stopped. The daemon that does not answer is the real one, SIGSTOPped (SIGCONT in
teardown), or a stand-in that holds the writer lock and listens without ever answering."""
import json
import os
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from conftest import wait_until

HERE = Path(__file__).resolve().parent
INCLUDE = HERE.parents[1] / "Sources" / "AEXPluginAPI" / "include"

# Every check, in the order the doctor prints them.
CHECKS = ["AEX_HOME permissions", "admin.token permissions", ".env permissions", "database file permissions",
          "daemon.json permissions", "models.yaml", "provider keys", "tools.yaml", "database integrity and schema",
          "ledger chain", "plugins", "daemon"]
# Well under the test's own timeout: a daemon that does not answer fails the check at once.
SILENT_DAEMON_SECONDS_MAX = 10


def doctor(aex, timeout=60):
    result = aex.run("doctor", timeout=timeout)
    assert not result.stderr.strip(), result.stderr
    return result


def line_of(result, check):
    """The one line of `check` (its name followed by the end, ` (`, or `: `)."""
    found = [line for line in result.stdout.splitlines()
             if any(line == f"{verdict} {check}" or line.startswith((f"{verdict} {check} (", f"{verdict} {check}: "))
                    for verdict in ("OK", "FAIL"))]
    assert len(found) == 1, f"{check!r}: {found}\n{result.stdout}"
    return found[0]


def assert_fails(result, check, problem=(), fix=()):
    """`check` says FAIL with every word of `problem` in its problem and of `fix` in its fix, and the
    doctor exits 1. Returns (problem, fix)."""
    assert result.returncode == 1, f"exit {result.returncode}\n{result.stdout}"
    line = line_of(result, check)
    prefix = f"FAIL {check}: "
    assert line.startswith(prefix) and " — fix: " in line, line
    problem_text, fix_text = line[len(prefix):].split(" — fix: ", 1)
    assert problem_text.strip() and fix_text.strip(), line
    for word in problem:
        assert word in problem_text, f"{word!r} not in the problem: {line}"
    for word in fix:
        assert word in fix_text, f"{word!r} not in the fix: {line}"
    return problem_text, fix_text


def assert_ok(result, check):
    line = line_of(result, check)
    assert line.startswith(f"OK {check}"), f"{line}\n{result.stdout}"


@pytest.fixture
def keyed(aex):
    """A fresh home whose only provider that needs a key has one, with no key from the test's own
    environment."""
    aex.env.pop("OPENAI_API_KEY", None)
    aex.add_dummy_provider_keys()
    return aex


def daemon_pid(aex):
    return json.loads((aex.home / "daemon.json").read_text())["pid"]


def process_state(pid):
    stat = Path(f"/proc/{pid}/stat").read_text()
    return stat[stat.rindex(")") + 2]


# ------------------------------------------------------------------------------------------ healthy

def test_a_healthy_home_passes_every_check(keyed):
    keyed.run("agent", "create", "bot", "1", "10", check=0)
    for running in (False, True):
        if running:
            keyed.start()
        result = doctor(keyed)
        assert result.returncode == 0, result.stdout
        lines = result.stdout.splitlines()
        assert len(lines) == len(CHECKS), result.stdout
        for line, check in zip(lines, CHECKS):
            assert line == f"OK {check}" or line.startswith(f"OK {check} ("), f"{check!r}: {line}"
        assert "1 of 2 providers need a key" in line_of(result, "provider keys"), result.stdout
        daemon_line = line_of(result, "daemon")
        assert (str(daemon_pid(keyed)) in daemon_line) if running else daemon_line == "OK daemon (not running)"
    keyed.stop()


# ---------------------------------------------------------------------------------- each failure

def test_a_readable_admin_token(keyed):
    token = keyed.home / "admin.token"
    os.chmod(token, 0o644)
    result = doctor(keyed)
    assert_fails(result, "admin.token permissions", problem=(str(token), "0644"), fix=(f"chmod 600 {token}",))
    assert [line for line in result.stdout.splitlines() if line.startswith("FAIL ")] == \
           [line_of(result, "admin.token permissions")], result.stdout


def test_a_corrupted_database(keyed):
    for name in ("a", "b", "c"):
        keyed.run("agent", "create", name, "1", "10", check=0)
    db_path = keyed.home / "aex.db"
    db = sqlite3.connect(db_path)                           # no daemon runs: fold the WAL into aex.db
    page_size = db.execute("PRAGMA page_size").fetchone()[0]
    db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    db.close()
    pages = db_path.stat().st_size // page_size
    assert pages >= 4, pages
    with open(db_path, "r+b") as file:                      # a whole page in the middle
        file.seek((pages // 2) * page_size)
        file.write(b"\xa5" * page_size)
    result = doctor(keyed)
    assert_fails(result, "database integrity and schema", problem=("quick_check",), fix=("restore", str(db_path)))
    assert all(line.startswith(("OK ", "FAIL ")) for line in result.stdout.splitlines()), "one line per check"


def test_a_broken_ledger_chain(keyed):
    keyed.run("agent", "create", "bot", "1", "10", check=0)
    db = sqlite3.connect(keyed.home / "aex.db")
    db.executescript("DROP TRIGGER IF EXISTS event_log_no_update; DROP TRIGGER IF EXISTS event_log_no_delete; "
                     "UPDATE event_log SET payload = replace(payload, '1', '2') WHERE seq = 1")
    db.close()
    result = doctor(keyed)
    assert_fails(result, "ledger chain", problem=("entry 1",), fix=("aex ledger verify",))
    assert_ok(result, "database integrity and schema")


def test_an_invalid_models_yaml(keyed):
    models = keyed.home / "config" / "models.yaml"
    models.write_text("version: 2\n")
    result = doctor(keyed)
    assert_fails(result, "models.yaml", problem=(f"{models}:1",), fix=(f"correct {models}", "aex models reload"))
    assert_ok(result, "provider keys")                      # nothing to check: models.yaml says why


def test_a_provider_without_a_key(aex):
    aex.env.pop("OPENAI_API_KEY", None)
    env_file = aex.home / ".env"
    result = doctor(aex)                                    # the default home: openai has no key
    assert_fails(result, "provider keys", problem=("openai", "OPENAI_API_KEY", str(env_file)),
                 fix=(f"add OPENAI_API_KEY=... to {env_file}",))
    assert "echo" not in line_of(result, "provider keys"), "the offline echo provider needs no key"

    env_file.write_text("OPENAI_API_KEY=\n")               # empty is not set
    assert_fails(doctor(aex), "provider keys", problem=("OPENAI_API_KEY",))

    aex.env["OPENAI_API_KEY"] = "sk-from-the-environment"   # the environment counts as the daemon's does
    result = doctor(aex)
    assert result.returncode == 0 and line_of(result, "provider keys").startswith("OK "), result.stdout
    del aex.env["OPENAI_API_KEY"]

    env_file.write_text("export OPENAI_API_KEY='sk-from-the-file'\n")
    result = doctor(aex)
    assert result.returncode == 0, result.stdout

    models = aex.home / "config" / "models.yaml"           # a second provider, its key named by api_key_env
    models.write_text(models.read_text().replace(
        "providers:\n",
        "providers:\n  groq:\n    base_url: https://api.groq.com/openai/v1\n    type: openai_compatible\n"
        "    api_key_env: GROQ_KEY\n", 1))
    assert_fails(doctor(aex), "provider keys", problem=("groq (GROQ_KEY)",), fix=("add GROQ_KEY=...",))
    assert "openai" not in line_of(doctor(aex), "provider keys")


def _compiler():
    return shutil.which(os.environ.get("CC", "cc")) or shutil.which("gcc") or shutil.which("clang")


@pytest.mark.skipif(_compiler() is None, reason="no C compiler to build the plugin fixture")
def test_a_tampered_plugin(keyed, tmp_path):
    library = tmp_path / "libshout.so"
    built = subprocess.run([_compiler(), "-std=c99", "-O2", "-shared", "-fPIC", "-I", str(INCLUDE), "-o", str(library),
                            str(HERE / "plugins" / "shout.c")], capture_output=True, text=True)
    assert built.returncode == 0, built.stderr
    record = json.loads(keyed.run("plugin", "install", str(library), "--json", check=0).stdout)
    assert_ok(doctor(keyed), "plugins")
    with open(record["path"], "ab") as copy:                # the installed copy, not the download
        copy.write(b"\0")
    result = doctor(keyed)
    assert_fails(result, "plugins", problem=("shout", record["path"], "SHA-256"),
                 fix=("aex plugin install", "aex plugin remove"))


def test_a_stopped_daemon_fails_at_once(keyed):
    keyed.start()
    pid = daemon_pid(keyed)
    os.kill(pid, signal.SIGSTOP)
    try:
        assert wait_until(lambda: process_state(pid) in "Tt")
        started = time.monotonic()
        result = doctor(keyed, timeout=SILENT_DAEMON_SECONDS_MAX + 20)
        elapsed = time.monotonic() - started
        assert elapsed < SILENT_DAEMON_SECONDS_MAX, f"the doctor took {elapsed:.1f} s"
        assert_fails(result, "daemon", problem=(f"pid {pid}", "stopped", "/health"),
                     fix=(f"kill -CONT {pid}", "aex daemon stop", "aex daemon start"))
    finally:
        os.kill(pid, signal.SIGCONT)
    assert doctor(keyed).returncode == 0, "resumed, it answers again"


# Holds AEX_HOME/aex.lock as the daemon does and listens, but never accepts or answers.
SILENT_STAND_IN = """
import fcntl, socket, sys, time
lock = open(sys.argv[1], "a")
fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
listener = socket.socket()
listener.bind(("127.0.0.1", 0))
listener.listen(16)
print(listener.getsockname()[1], flush=True)
time.sleep(120)
"""


def test_a_hung_daemon_fails_at_once(keyed):
    stand_in = subprocess.Popen([sys.executable, "-c", SILENT_STAND_IN, str(keyed.home / "aex.lock")],
                                stdout=subprocess.PIPE, text=True)
    try:
        port = int(stand_in.stdout.readline())
        (keyed.home / "daemon.json").write_text(json.dumps(
            {"pid": stand_in.pid, "host": "127.0.0.1", "port": port, "started_at": "2024-01-01T00:00:00Z"}))
        os.chmod(keyed.home / "daemon.json", 0o600)
        started = time.monotonic()
        result = doctor(keyed, timeout=SILENT_DAEMON_SECONDS_MAX + 20)
        elapsed = time.monotonic() - started
        assert elapsed < SILENT_DAEMON_SECONDS_MAX, f"the doctor took {elapsed:.1f} s"
        assert_fails(result, "daemon", problem=(f"pid {stand_in.pid}", "did not answer /health", f":{port}"),
                     fix=("aex daemon stop", f"kill -KILL {stand_in.pid}", "aex daemon start"))
    finally:
        stand_in.kill()
        stand_in.wait()
        (keyed.home / "daemon.json").unlink(missing_ok=True)
