"""`aex run`, `aex ps`, `aex kill` end to end: real child processes governed by the real daemon in
front of a mock provider (mock_provider.py).

Covered:
- refusals before anything starts: no daemon, unknown / paused / deleted agent (exit 1, the command
  never runs), usage errors (exit 2);
- the child's environment: OPENAI_BASE_URL / OPENAI_API_BASE of the daemon, OPENAI_API_KEY a
  run-scoped `aex_` token (not the agent's, not the caller's), AEX_AGENT, AEX_RUN_ID; every
  `*_API_KEY` and every `api_key_env` of models.yaml removed; other variables kept; aex run prints
  nothing itself;
- exit codes (0, 3, 128+N, 127), its own process group, SIGINT / SIGTERM / SIGHUP forwarded to the
  whole group (grandchild included);
- agents that work unchanged: the openai SDK (plain and streaming), a curl shell script;
- `--budget` (per-run caps, inside the agent's budget, 402 naming the run), `--kill-on-exhaust`
  (a looping SDK agent stopped within 2 s of exhaustion, by the run's cap, a refused call or the
  agent's budget; SIGKILL after the grace period for a child that ignores SIGTERM), `--ttl`
  (401 `expired_api_key`, the process lives on), the run token revoked once the run ends;
- `aex ps [--json]` and `aex kill NAME|RUN_ID` from other processes; pause, delete and kill stop
  the whole group (grandchildren included, SIGKILL after the grace period);
- `aex run` SIGKILLed (the daemon ends the run), a daemon restart during runs;
- the ledger events `run_started`, `process_killed` (with its reason), `run_ended`, and
  `aex ledger verify` afterwards.

The daemon runs with AEX_RUN_KILL_GRACE_SECONDS=1. Model `run-model` costs 0 per input token and 100
micro-USD per output token, and the mock bills exactly the requested `max_tokens`, so a call with
`max_tokens=10` reserves and costs exactly 1,000 micro-USD. Every process a test starts carries
AEX_TEST_MARK in its environment and is SIGKILLed at teardown, whatever happened."""
import itertools
import json
import os
import re
import signal
import socket
import sqlite3
import subprocess
import sys
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

import openai
import pytest

from conftest import AEX_BIN, Aex, wait_until
from mock_provider import MockProvider, stream

PY = sys.executable
PROVIDER_SECRET_ENV = "MOCKPROV_SECRET"          # api_key_env of models.yaml: no *_API_KEY suffix
PROVIDER_SECRET = "sk-mockprov-secret-for-run-tests"
GRACE = 1                                        # AEX_RUN_KILL_GRACE_SECONDS for every daemon here
PRICE_OUT = 100                                  # micro-USD per output token
CALL_TOKENS = 10
CALL_COST = CALL_TOKENS * PRICE_OUT              # 1,000 micro-USD a call
HELLO = [{"role": "user", "content": "hi"}]
TOKEN_RE = re.compile(r"^aex_[0-9A-Za-z]{40,}$")
PS_FIELDS = {"run_id", "agent", "pid", "pgid", "command", "started_at", "expires_at", "ttl_seconds",
             "budget_micro", "spent_micro", "reserved_micro", "state", "kill_on_exhaust"}
KILL_REASONS = {"killed", "agent_paused", "agent_deleted", "run_budget_exhausted", "agent_budget_exhausted",
                "supervisor_gone"}

MODELS_YAML = """# written by Tests/e2e/test_run.py
version: 1
default_model: run-model
providers:
  mock:
    base_url: http://127.0.0.1:{port}/v1
    type: openai_compatible
    api_key_env: {key_env}
    timeout_seconds: 5
models:
  run-model:
    provider: mock
    provider_model: mock-large-v2
    pricing:
      input_micro: 0
      output_micro: {price}
    limits:
      max_tokens: 1000
"""

# ------------------------------------------------------------------------------ child programs

AGENT_PY = r'''
"""An agent that knows nothing of AEX: the openai SDK configured by the environment only."""
import argparse, json, os, signal, sys, time
parser = argparse.ArgumentParser()
parser.add_argument("out")
parser.add_argument("--calls", type=int, default=1)          # -1: loop until stopped
parser.add_argument("--max-tokens", type=int, default=10)
parser.add_argument("--stream", action="store_true")
parser.add_argument("--gate", default=None)                  # call i waits for the file GATE.i
parser.add_argument("--pause", type=float, default=0.0)
parser.add_argument("--sleep-after", type=float, default=0.0)
parser.add_argument("--exit", type=int, default=0)
parser.add_argument("--ignore-term", action="store_true")
parser.add_argument("--deadline", type=float, default=30.0)  # never runs forever
args = parser.parse_args()
if args.ignore_term:
    signal.signal(signal.SIGTERM, signal.SIG_IGN)

def record(**fields):
    fields["t"] = time.time()
    with open(args.out, "a") as f:
        f.write(json.dumps(fields) + "\n")

import openai
started = time.monotonic()
record(event="start", pid=os.getpid(), pgid=os.getpgid(0), key=os.environ.get("OPENAI_API_KEY"),
       run_id=os.environ.get("AEX_RUN_ID"), base_url=os.environ.get("OPENAI_BASE_URL"))

def late():
    if time.monotonic() - started > args.deadline:
        record(event="deadline")
        sys.exit(99)

i = 0
while args.calls < 0 or i < args.calls:
    late()
    if args.gate:
        while not os.path.exists(f"{args.gate}.{i}"):
            late()
            time.sleep(0.02)
    client = openai.OpenAI(max_retries=0, timeout=10)
    try:
        if args.stream:
            text = ""
            for chunk in client.chat.completions.create(model="run-model", messages=[{"role": "user", "content": "hi"}],
                                                        max_tokens=args.max_tokens, stream=True):
                if chunk.choices:
                    text += chunk.choices[0].delta.content or ""
        else:
            answer = client.chat.completions.create(model="run-model", messages=[{"role": "user", "content": "hi"}],
                                                    max_tokens=args.max_tokens)
            text = answer.choices[0].message.content
        record(event="call", i=i, status=200, text=text)
    except openai.APIStatusError as error:
        body = error.body if isinstance(error.body, dict) else {}
        record(event="call", i=i, status=error.status_code, code=body.get("code"), message=body.get("message"))
    except openai.APIConnectionError as error:
        record(event="call", i=i, status=0, code="connection", message=repr(error))
    i += 1
    if args.pause:
        time.sleep(args.pause)
record(event="done")
end = time.monotonic() + args.sleep_after
while time.monotonic() < end:
    time.sleep(0.05)
sys.exit(args.exit)
'''

ENV_PY = r'''
"""Reports its environment and process group, optionally makes one call, prints to stdout/stderr."""
import argparse, json, os, sys
parser = argparse.ArgumentParser()
parser.add_argument("out")
parser.add_argument("--call", action="store_true")
parser.add_argument("--exit", type=int, default=0)
args = parser.parse_args()
info = {"pid": os.getpid(), "pgid": os.getpgid(0), "ppid": os.getppid(), "env": dict(os.environ)}
if args.call:
    import openai
    answer = openai.OpenAI(max_retries=0, timeout=10).chat.completions.create(
        model="run-model", messages=[{"role": "user", "content": "hi"}], max_tokens=3)
    info["text"] = answer.choices[0].message.content
with open(args.out + ".tmp", "w") as f:
    json.dump(info, f)
os.rename(args.out + ".tmp", args.out)
print("child says hi", flush=True)
print("child err line", file=sys.stderr, flush=True)
sys.exit(args.exit)
'''

TRAP_PY = r'''
"""Traps SIGINT/SIGTERM/SIGHUP, writes which one arrived to OUT.ROLE and exits 50+N. The child starts
a grandchild (same program, same process group) and waits for it before exiting."""
import json, os, signal, subprocess, sys, time
out, role = sys.argv[1], sys.argv[2]
grandchild = None

def caught(signum, frame):
    with open(f"{out}.{role}", "w") as f:
        f.write(signal.Signals(signum).name)
    if grandchild is not None:
        try:
            grandchild.wait(5)
        except Exception:
            pass
    os._exit(50 + signum)

for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
    signal.signal(sig, caught)
info = {"pid": os.getpid(), "pgid": os.getpgid(0)}
if role == "child":
    grandchild = subprocess.Popen([sys.executable, __file__, out, "grandchild"])
    deadline = time.monotonic() + 20
    while not os.path.exists(f"{out}.grandchild.ready") and time.monotonic() < deadline:
        time.sleep(0.01)
    info["grandchild"] = json.load(open(f"{out}.grandchild.ready"))
with open(f"{out}.{role}.tmp", "w") as f:
    json.dump(info, f)
os.rename(f"{out}.{role}.tmp", f"{out}.{role}.ready")
deadline = time.monotonic() + 30
while time.monotonic() < deadline:
    time.sleep(0.05)
os._exit(99)
'''

FORKER_PY = r'''
"""Starts grandchildren (two `sleep`s and a Python that starts a `sleep` of its own), reports every
pid, then sleeps. With --ignore-term, SIGTERM is ignored by all of them (SIG_IGN is inherited)."""
import json, os, signal, subprocess, sys, time
out = sys.argv[1]
if "--ignore-term" in sys.argv:
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
sleeps = [subprocess.Popen(["sleep", "1000"]) for _ in range(2)]
nested_file = out + ".nested"
nested = subprocess.Popen([sys.executable, "-c",
    "import subprocess, sys, time\n"
    "p = subprocess.Popen(['sleep', '1000'])\n"
    "open(sys.argv[1] + '.tmp', 'w').write(str(p.pid))\n"
    "import os; os.rename(sys.argv[1] + '.tmp', sys.argv[1])\n"
    "time.sleep(1000)\n", nested_file])
deadline = time.monotonic() + 20
while not os.path.exists(nested_file) and time.monotonic() < deadline:
    time.sleep(0.01)
pids = [p.pid for p in sleeps] + [nested.pid, int(open(nested_file).read())]
info = {"pid": os.getpid(), "pgid": os.getpgid(0), "pids": pids, "key": os.environ.get("OPENAI_API_KEY"),
        "run_id": os.environ.get("AEX_RUN_ID")}
with open(out + ".tmp", "w") as f:
    json.dump(info, f)
os.rename(out + ".tmp", out)
deadline = time.monotonic() + 60
while time.monotonic() < deadline:
    time.sleep(0.05)
sys.exit(99)
'''

CURL_SH = r'''#!/bin/sh
# An agent in shell: curl with $OPENAI_API_KEY and $OPENAI_BASE_URL.
out="$1"
code=$(curl -sS -o "$out.body" -w '%{http_code}' \
  -H "Authorization: Bearer $OPENAI_API_KEY" -H 'Content-Type: application/json' \
  -d '{"model": "run-model", "messages": [{"role": "user", "content": "hi"}], "max_tokens": 7}' \
  "$OPENAI_BASE_URL/chat/completions")
echo "$code" > "$out.code"
test "$code" = 200
'''

# sh with two background sleeps; writes "$$ pid pid" to $1 once all are started, then waits.
SH_FORKER = ('echo $$ > "$1.tmp"; sleep 1000 & echo $! >> "$1.tmp"; sleep 1000 & echo $! >> "$1.tmp"; '
             'mv "$1.tmp" "$1"; wait')


@pytest.fixture(scope="module")
def scripts(tmp_path_factory):
    folder = tmp_path_factory.mktemp("run-scripts")
    for name, text in (("agent.py", AGENT_PY), ("env.py", ENV_PY), ("trap.py", TRAP_PY),
                       ("forker.py", FORKER_PY), ("curl.sh", CURL_SH)):
        (folder / name).write_text(text)
        (folder / name).chmod(0o755)
    return folder


# ----------------------------------------------------------------------------------- processes

def gone(pid):
    """True when no live process has this pid (a zombie counts as gone)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return True
    return stat[stat.rindex(")") + 2] in "ZX"


def marked_pids(mark):
    """Every process whose environment carries AEX_TEST_MARK=mark."""
    needle = b"\0AEX_TEST_MARK=" + mark.encode() + b"\0"
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit() or int(entry) == os.getpid():
            continue
        try:
            data = Path(f"/proc/{entry}/environ").read_bytes()
        except OSError:
            continue
        if needle in b"\0" + data + b"\0":
            found.append(int(entry))
    return found


def read_json(path, timeout=15.0):
    """The JSON a child writes (atomically) to `path`, once it exists."""
    path = Path(path)
    assert wait_until(path.exists, timeout), f"{path.name} never appeared"
    return json.loads(path.read_text())


def records(path):
    """The JSON lines an AGENT_PY child wrote so far (a half-written last line is skipped)."""
    try:
        lines = Path(path).read_text().splitlines()
    except FileNotFoundError:
        return []
    out = []
    for line in lines:
        try:
            out.append(json.loads(line))
        except ValueError:
            pass
    return out


def wait_record(path, predicate, timeout=15.0):
    found = []

    def check():
        found[:] = [r for r in records(path) if predicate(r)]
        return bool(found)

    assert wait_until(check, timeout), f"no matching record in {Path(path).name}: {records(path)}"
    return found[0]


def calls_of(path):
    return [r for r in records(path) if r["event"] == "call"]


def started(path, timeout=15.0):
    return wait_record(path, lambda r: r["event"] == "start", timeout)


def free_port():
    probe = socket.socket()
    probe.bind(("127.0.0.1", 0))
    port = probe.getsockname()[1]
    probe.close()
    return port


class Run:
    """One `aex run` process (its stdout and stderr go to files)."""

    def __init__(self, proc, stem, cmd):
        self.proc, self.stem, self.cmd = proc, stem, cmd

    @property
    def pid(self):
        return self.proc.pid

    def wait(self, timeout=20.0):
        """Exit code and the wall-clock time (time.time()) the exit was seen, polled every 5 ms."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            code = self.proc.poll()
            if code is not None:
                return code, time.time()
            time.sleep(0.005)
        raise AssertionError(f"aex run {' '.join(self.cmd)} still running after {timeout}s; stderr: {self.stderr}")

    def code(self, timeout=20.0):
        return self.wait(timeout)[0]

    @property
    def stdout(self):
        return Path(f"{self.stem}.stdout").read_bytes()

    @property
    def stderr(self):
        return Path(f"{self.stem}.stderr").read_text(errors="replace")


class Harness:
    """A daemon home with models.yaml pointing at the mock, and helpers to start and inspect runs."""

    def __init__(self, tmp, mock, scripts):
        self.tmp, self.mock, self.scripts = tmp, mock, scripts
        self.aex = Aex(tmp / "home", extra_env={PROVIDER_SECRET_ENV: PROVIDER_SECRET,
                                                 "AEX_RUN_KILL_GRACE_SECONDS": str(GRACE)})
        self.aex.run("init", check=0)
        (self.aex.home / "config" / "models.yaml").write_text(
            MODELS_YAML.format(port=mock.port, key_env=PROVIDER_SECRET_ENV, price=PRICE_OUT))
        self.mark = str(tmp)
        self.runs = []
        self.counter = itertools.count()

    # -- setup

    def agent(self, name, usd="1", rpm="100000"):
        return self.aex.json("agent", "create", name, usd, rpm)["token"]

    def file(self, stem):
        return self.tmp / f"{stem}-{next(self.counter)}"

    def py(self, script, *args):
        return [PY, str(self.scripts / script), *[str(a) for a in args]]

    def agent_cmd(self, out, *args):
        return self.py("agent.py", out, *args)

    # -- aex run

    def start(self, agent, cmd, *options, env=None, separator=True):
        stem = self.tmp / f"run{next(self.counter)}"
        environment = dict(self.aex.env, AEX_TEST_MARK=self.mark)
        environment.update(env or {})
        args = [AEX_BIN, "run", "--agent", agent, *options, *(["--"] if separator else []), *cmd]
        with open(f"{stem}.stdout", "wb") as out, open(f"{stem}.stderr", "wb") as err:
            proc = subprocess.Popen(args, env=environment, stdin=subprocess.DEVNULL, stdout=out, stderr=err,
                                    start_new_session=True)
        run = Run(proc, stem, cmd)
        self.runs.append(run)
        return run

    def run_to_end(self, agent, cmd, *options, timeout=30.0, **kw):
        run = self.start(agent, cmd, *options, **kw)
        run.wait(timeout)
        return run

    # -- observing

    def ps(self):
        result = self.aex.run("ps", "--json", check=0)
        listed = json.loads(result.stdout)
        assert isinstance(listed, list), result.stdout
        return listed

    def ps_ids(self):
        return {entry["run_id"] for entry in self.ps()}

    def balance(self, name):
        return self.aex.json("agent", "inspect", name)

    def events(self, *types, run_id=None):
        db = sqlite3.connect(f"file:{self.aex.home / 'aex.db'}?mode=ro", uri=True)
        try:
            rows = db.execute("SELECT seq, type, agent_name, payload FROM event_log ORDER BY seq").fetchall()
        finally:
            db.close()
        out = []
        for seq, kind, agent_name, payload in rows:
            if types and kind not in types:
                continue
            data = json.loads(payload) if payload else {}
            if run_id is not None and data.get("run_id") != run_id:
                continue
            out.append({"seq": seq, "type": kind, "agent": agent_name, "payload": data})
        return out

    def wait_event(self, kind, run_id, timeout=5.0):
        found = []

        def check():
            found[:] = self.events(kind, run_id=run_id)
            return bool(found)

        assert wait_until(check, timeout, 0.05), f"no {kind} event for {run_id}: {self.events()}"
        return found

    def call(self, token, max_tokens=1):
        """(status, error code) of one chat call made with `token`."""
        client = openai.OpenAI(base_url=f"http://127.0.0.1:{self.aex.port}/v1", api_key=token, max_retries=0, timeout=10)
        try:
            client.chat.completions.create(model="run-model", messages=HELLO, max_tokens=max_tokens)
            return 200, None
        except openai.APIStatusError as error:
            body = error.body if isinstance(error.body, dict) else {}
            return error.status_code, body.get("code")

    def verify_ledger(self):
        result = self.aex.run("ledger", "verify")
        assert result.returncode == 0, f"aex ledger verify: {result.stdout}\n{result.stderr}"

    # -- teardown

    def cleanup(self):
        for run in self.runs:
            if run.proc.poll() is None:
                try:
                    run.proc.kill()
                except OSError:
                    pass
        for _ in range(3):
            pids = marked_pids(self.mark)
            if not pids:
                break
            for pid in pids:
                try:
                    os.kill(pid, signal.SIGKILL)
                except OSError:
                    pass
            time.sleep(0.05)
        for run in self.runs:
            try:
                run.proc.wait(5)
            except subprocess.TimeoutExpired:
                pass


_stopping = []


@pytest.fixture(scope="module", autouse=True)
def _wait_for_stopping_daemons():
    yield
    for process in _stopping:
        process.wait(timeout=90)
    _stopping.clear()


@pytest.fixture(scope="module")
def mock_server():
    server = MockProvider().start()
    yield server
    server.stop()


@pytest.fixture
def unstarted(tmp_path, mock_server, scripts):
    """A harness whose daemon the test starts itself (or not)."""
    mock_server.reset()
    mock_server.usage = {"prompt_tokens": 3, "completion_tokens": 0}
    mock_server.bill_requested = True
    harness = Harness(tmp_path, mock_server, scripts)
    try:
        yield harness
    finally:
        harness.cleanup()
        if (harness.aex.home / "daemon.json").exists():
            _stopping.append(subprocess.Popen([AEX_BIN, "daemon", "stop"], env=harness.aex.env,
                                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
        mock_server.reset()


@pytest.fixture
def h(unstarted):
    """A harness with its daemon running (port 0) and an agent `bot` of 1 USD."""
    unstarted.aex.start()
    unstarted.agent("bot")
    return unstarted


def check_run_ended(h, run_id, exit_code=None, sig=None, spent=None):
    ended = h.wait_event("run_ended", run_id)
    assert len(ended) == 1, ended
    payload = ended[0]["payload"]
    assert {"run_id", "exit_code", "signal", "spent_micro", "reason"} <= set(payload), payload
    assert payload["exit_code"] == exit_code and payload["signal"] == sig, payload
    if spent is not None:
        assert payload["spent_micro"] == spent, payload
    return payload


def check_killed(h, run_id, reason, pgid):
    killed = h.wait_event("process_killed", run_id)
    assert [event["payload"]["reason"] for event in killed] == [reason], killed
    assert killed[0]["payload"]["pgid"] == pgid, killed
    return killed[0]


# ------------------------------------------------------------------------ refused before starting

def test_no_daemon_exits_1_and_starts_nothing(unstarted):
    h = unstarted
    h.agent("bot")                       # created locally, no daemon running
    marker = h.tmp / "marker"
    run = h.run_to_end("bot", ["sh", "-c", f"touch {marker}"])
    assert run.proc.returncode == 1, run.stderr
    assert run.stderr.strip(), "the reason is given on stderr"
    assert run.stdout == b""
    time.sleep(0.2)
    assert not marker.exists(), "the command must not run without a daemon"


def test_unknown_paused_and_deleted_agents_start_nothing(h):
    h.agent("sleepy")
    h.aex.run("agent", "pause", "sleepy", check=0)
    h.agent("gone")
    h.aex.run("agent", "delete", "gone", check=0)
    for name in ("nobody", "sleepy", "gone"):
        marker = h.tmp / f"marker-{name}"
        run = h.run_to_end(name, ["sh", "-c", f"touch {marker}"])
        assert run.proc.returncode == 1, (name, run.proc.returncode, run.stderr)
        assert run.stderr.strip(), name
        time.sleep(0.1)
        assert not marker.exists(), f"the command ran for agent {name}"
    assert h.ps() == []
    assert h.events("run_started") == []


@pytest.mark.parametrize("args", [
    ["run", "--agent", "bot"],                                   # no command
    ["run", "--agent", "bot", "--"],                             # no command after --
    ["run", "--agent", "bot", "--budget", "abc", "--", "sh", "-c", "touch {marker}"],
    ["run", "--agent", "bot", "--budget", "1.2.3", "--", "sh", "-c", "touch {marker}"],
    ["run", "--agent", "bot", "--budget", "0.0000001", "--", "sh", "-c", "touch {marker}"],
    ["run", "--agent", "bot", "--ttl", "soon", "--", "sh", "-c", "touch {marker}"],
    ["run", "--", "sh", "-c", "touch {marker}"],                 # no --agent
], ids=["no-command", "empty-after-dashes", "budget-abc", "budget-1.2.3", "budget-7-decimals", "ttl-soon",
        "no-agent"])
def test_usage_errors_exit_2(h, args):
    marker = h.tmp / "marker"
    result = h.aex.run(*[a.format(marker=marker) for a in args])
    assert result.returncode == 2, (args, result.returncode, result.stdout, result.stderr)
    assert result.stderr.strip()
    time.sleep(0.1)
    assert not marker.exists()
    assert h.ps() == []


# ------------------------------------------------------------------------------ environment, exits

def test_child_environment_and_output(h):
    agent_token = h.agent("envbot")
    out = h.file("env")
    caller = {"OPENAI_API_KEY": "sk-caller-openai-key", "ANTHROPIC_API_KEY": "sk-ant-caller",
              "MOCK_PROVIDER_API_KEY": "sk-mock-provider-caller", "GROQ_API_KEY": "gsk-caller",
              "AEX_TEST_PASSTHROUGH": "kept as is", "OPENAI_BASE_URL": "http://example.invalid/v1"}
    run = h.start("envbot", h.py("env.py", out, "--call"), env=caller)
    code = run.code()
    info = read_json(out, 1)
    env = info["env"]
    assert code == 0, run.stderr
    assert run.stdout == b"child says hi\n", "aex run prints nothing on stdout itself; the child's output is inherited"
    assert "child err line" in run.stderr

    state = h.aex.state
    base = f"http://{state['host']}:{state['port']}/v1"
    assert env["OPENAI_BASE_URL"] == base and env["OPENAI_API_BASE"] == base, env
    key = env["OPENAI_API_KEY"]
    assert TOKEN_RE.match(key), key
    assert key != agent_token, "the child gets a run-scoped token, not the agent's"
    assert env["AEX_AGENT"] == "envbot"
    assert env["AEX_RUN_ID"].startswith("run_"), env["AEX_RUN_ID"]
    for name in ("ANTHROPIC_API_KEY", "MOCK_PROVIDER_API_KEY", "GROQ_API_KEY", PROVIDER_SECRET_ENV):
        assert name not in env, f"{name} leaked into the child"
    assert PROVIDER_SECRET not in json.dumps(env) and "sk-caller" not in json.dumps(env)
    assert env["AEX_TEST_PASSTHROUGH"] == "kept as is", "other variables pass through"
    assert env.get("PATH") == h.aex.env.get("PATH")
    assert info["pgid"] == info["pid"], "the child leads its own process group"
    assert info["pgid"] != run.pid, "aex run (a session leader here: its pgid is its pid) is not in the child's group"

    # The run token worked, the spend is the agent's, the provider got the provider key.
    assert info["text"] == "Hello from the mock provider."
    assert h.mock.last().headers["authorization"] == f"Bearer {PROVIDER_SECRET}"
    assert key not in json.dumps(h.mock.last().headers)
    assert h.balance("envbot")["spent_micro"] == 3 * PRICE_OUT

    run_id = env["AEX_RUN_ID"]
    started_events = h.events("run_started", run_id=run_id)
    assert len(started_events) == 1, h.events()
    payload = started_events[0]["payload"]
    assert started_events[0]["agent"] == "envbot"
    assert payload["budget_micro"] is None and payload["ttl_seconds"] is None and payload["kill_on_exhaust"] is False, payload
    assert payload["command"] in (" ".join(run.cmd), run.cmd), payload
    check_run_ended(h, run_id, exit_code=0, sig=None, spent=3 * PRICE_OUT)
    assert h.ps() == []


def test_child_process_group_differs_from_aex_run(h):
    ready = h.tmp / "trap"
    run = h.start("bot", h.py("trap.py", ready, "child"))
    info = read_json(f"{ready}.child.ready")
    try:
        assert info["pgid"] == info["pid"], info
        assert info["pgid"] != os.getpgid(run.pid), "the child is not in aex run's group"
        assert info["grandchild"]["pgid"] == info["pid"], "a grandchild stays in the child's group"
        [entry] = h.ps()
        assert entry["pid"] == info["pid"] and entry["pgid"] == info["pid"], entry
    finally:
        os.kill(run.pid, signal.SIGTERM)
    assert run.code() == 50 + signal.SIGTERM


@pytest.mark.parametrize("cmd, expected, sig", [
    (["true"], 0, None),
    (["sh", "-c", "exit 3"], 3, None),
    (["sh", "-c", "kill -USR1 $$"], 128 + signal.SIGUSR1, signal.SIGUSR1),
    (["sh", "-c", "kill -KILL $$"], 128 + signal.SIGKILL, signal.SIGKILL),
], ids=["0", "3", "SIGUSR1", "SIGKILL"])
def test_exit_code_is_the_childs(h, cmd, expected, sig):
    run = h.run_to_end("bot", cmd)
    assert run.proc.returncode == expected, (run.proc.returncode, run.stderr)
    assert run.stdout == b""
    [started_event] = h.events("run_started")
    run_id = started_event["payload"]["run_id"]
    check_run_ended(h, run_id, exit_code=None if sig else expected, sig=int(sig) if sig else None, spent=0)
    assert h.ps() == []


def test_exit_code_without_separator(h):
    run = h.run_to_end("bot", ["sh", "-c", "exit 3"], separator=False)
    assert run.proc.returncode == 3, run.stderr


@pytest.mark.parametrize("cmd", [["aex-no-such-command-anywhere"], ["/nonexistent/dir/aex-cmd", "x"]],
                         ids=["on-PATH", "absolute"])
def test_command_not_found_exits_127(h, cmd):
    run = h.run_to_end("bot", cmd)
    assert run.proc.returncode == 127, (run.proc.returncode, run.stderr)
    assert run.stderr.strip()
    assert wait_until(lambda: h.ps() == [], 3)


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM, signal.SIGHUP], ids=lambda s: s.name)
def test_signal_is_forwarded_to_the_childs_group(h, sig):
    out = h.tmp / "trap"
    run = h.start("bot", h.py("trap.py", out, "child"))
    info = read_json(f"{out}.child.ready")
    os.kill(run.pid, sig)
    code = run.code(10)
    assert code == 50 + sig, (code, run.stderr)
    assert Path(f"{out}.child").read_text() == sig.name
    assert Path(f"{out}.grandchild").read_text() == sig.name, "the signal went to the whole group"
    assert wait_until(lambda: gone(info["pid"]) and gone(info["grandchild"]["pid"]), 3)
    [started_event] = h.events("run_started")
    check_run_ended(h, started_event["payload"]["run_id"], exit_code=50 + sig, sig=None)


# ------------------------------------------------------------------------------- agents unchanged

def test_python_sdk_agent(h):
    out = h.file("agent")
    run = h.run_to_end("bot", h.agent_cmd(out, "--calls", "2"))
    assert run.proc.returncode == 0, run.stderr
    calls = calls_of(out)
    assert [c["status"] for c in calls] == [200, 200], calls
    assert all(c["text"] == "Hello from the mock provider." for c in calls)
    assert h.mock.count == 2
    assert all(r.headers["authorization"] == f"Bearer {PROVIDER_SECRET}" for r in h.mock.snapshot())
    assert h.mock.last().body["max_tokens"] == CALL_TOKENS
    balance = h.balance("bot")
    assert (balance["spent_micro"], balance["reserved_micro"]) == (2 * CALL_COST, 0), balance
    run_id = started(out)["run_id"]
    check_run_ended(h, run_id, exit_code=0, sig=None, spent=2 * CALL_COST)
    h.verify_ledger()


def test_streaming_sdk_agent(h):
    h.mock.default = stream(event_delay=0.02, content="alpha beta gamma")
    out = h.file("stream")
    run = h.run_to_end("bot", h.agent_cmd(out, "--calls", "1", "--stream", "--max-tokens", "12"))
    assert run.proc.returncode == 0, run.stderr
    [call] = calls_of(out)
    assert call["status"] == 200 and call["text"] == "alpha beta gamma", call
    assert h.mock.last().body.get("stream") is True
    balance = h.balance("bot")
    assert (balance["spent_micro"], balance["reserved_micro"]) == (12 * PRICE_OUT, 0), balance
    check_run_ended(h, started(out)["run_id"], exit_code=0, sig=None, spent=12 * PRICE_OUT)


def test_curl_shell_agent(h):
    out = h.file("curl")
    run = h.run_to_end("bot", ["sh", str(h.scripts / "curl.sh"), str(out)])
    assert run.proc.returncode == 0, (run.stderr, Path(f"{out}.code").read_text() if Path(f"{out}.code").exists() else None)
    assert Path(f"{out}.code").read_text().strip() == "200"
    body = json.loads(Path(f"{out}.body").read_text())
    assert body["choices"][0]["message"]["content"] == "Hello from the mock provider."
    assert h.mock.last().headers["authorization"] == f"Bearer {PROVIDER_SECRET}"
    assert h.balance("bot")["spent_micro"] == 7 * PRICE_OUT


# ------------------------------------------------------------------------------------------ budget

def test_run_budget_caps_spending_without_killing(h):
    out = h.file("capped")
    run = h.run_to_end("bot", h.agent_cmd(out, "--calls", "8"), "--budget", "0.005")
    assert run.proc.returncode == 0, run.stderr
    calls = calls_of(out)
    run_id = started(out)["run_id"]
    assert [c["status"] for c in calls] == [200] * 5 + [402] * 3, calls
    for refused in calls[5:]:
        assert refused["code"] == "budget_exceeded", refused
        assert run_id in (refused["message"] or ""), f"the 402 names the run: {refused}"
    assert h.mock.count == 5, "refused calls never reach the provider"
    balance = h.balance("bot")
    assert (balance["spent_micro"], balance["reserved_micro"]) == (5 * CALL_COST, 0), balance
    [started_event] = h.events("run_started", run_id=run_id)
    assert started_event["payload"]["budget_micro"] == 5 * CALL_COST
    assert h.events("process_killed") == []
    check_run_ended(h, run_id, exit_code=0, sig=None, spent=5 * CALL_COST)


def test_two_runs_of_one_agent_have_their_own_caps(h):
    outs = [h.file("first"), h.file("second")]
    gate = h.tmp / "gate"
    runs = [h.start("bot", h.agent_cmd(out, "--calls", "4", "--gate", gate), "--budget", "0.002") for out in outs]
    ids = {started(out)["run_id"] for out in outs}
    assert len(ids) == 2
    assert h.ps_ids() == ids
    for i in range(4):                   # interleaved: both runs make call i before either makes i+1
        Path(f"{gate}.{i}").touch()
        for out in outs:
            wait_record(out, lambda r, i=i: r["event"] == "call" and r["i"] == i)
    for run in runs:
        assert run.code() == 0, run.stderr
    for out in outs:
        assert [c["status"] for c in calls_of(out)] == [200, 200, 402, 402], calls_of(out)
    assert h.balance("bot")["spent_micro"] == 4 * CALL_COST
    assert h.mock.count == 4


def test_agent_budget_bounds_a_larger_run_budget(h):
    h.agent("small", "0.003")
    out = h.file("small")
    run = h.run_to_end("small", h.agent_cmd(out, "--calls", "5"), "--budget", "0.005")
    assert run.proc.returncode == 0
    calls = calls_of(out)
    assert [c["status"] for c in calls] == [200] * 3 + [402] * 2, calls
    assert all(c["code"] == "budget_exceeded" for c in calls[3:])
    balance = h.balance("small")
    assert (balance["spent_micro"], balance["remaining_micro"]) == (3 * CALL_COST, 0), balance


def _loop_until_stopped(h, agent, *options, extra=()):
    """A looping SDK agent under --kill-on-exhaust; returns (out, exit code, exit time)."""
    out = h.file("loop")
    run = h.start(agent, h.agent_cmd(out, "--calls", "-1", "--pause", "0.01", "--deadline", "20", *extra),
                  "--kill-on-exhaust", *options)
    code, ended = run.wait(25)
    return out, code, ended


def test_kill_on_exhaust_when_spending_reaches_the_run_budget(h):
    out, code, ended = _loop_until_stopped(h, "bot", "--budget", "0.005")
    assert code == 128 + signal.SIGTERM, (code, records(out)[-3:])
    assert not any(r["event"] == "deadline" for r in records(out))
    assert h.mock.count == 5
    exhausted = h.mock.snapshot()[4].at        # the 5th call reached the provider just before the cap
    assert ended - exhausted < 2.0, f"stopped {ended - exhausted:.2f}s after exhaustion"
    # The kill may land before the child has read its 5th answer: 200s (at most 5), then only 402s.
    statuses = [c["status"] for c in calls_of(out)]
    successes = statuses.count(200)
    assert 4 <= successes <= 5 and statuses == [200] * successes + [402] * (len(statuses) - successes), statuses
    start = started(out)
    assert gone(start["pid"])
    balance = h.balance("bot")
    assert (balance["spent_micro"], balance["reserved_micro"]) == (5 * CALL_COST, 0), balance
    check_killed(h, start["run_id"], "run_budget_exhausted", start["pid"])
    check_run_ended(h, start["run_id"], exit_code=None, sig=int(signal.SIGTERM), spent=5 * CALL_COST)
    assert h.ps() == []
    h.verify_ledger()


def test_kill_on_exhaust_when_a_call_is_refused_for_the_run_budget(h):
    out, code, ended = _loop_until_stopped(h, "bot", "--budget", "0.0045")
    assert code == 128 + signal.SIGTERM, (code, records(out)[-3:])
    assert h.mock.count == 4, "4 calls fit in 4,500; the 5th cannot be covered"
    calls = calls_of(out)
    refusals = [c for c in calls if c["status"] == 402]
    exhausted = refusals[0]["t"] if refusals else calls[-1]["t"]
    assert ended - exhausted < 2.0, f"stopped {ended - exhausted:.2f}s after the refusal"
    start = started(out)
    check_killed(h, start["run_id"], "run_budget_exhausted", start["pid"])
    check_run_ended(h, start["run_id"], exit_code=None, sig=int(signal.SIGTERM), spent=4 * CALL_COST)


def test_kill_on_exhaust_when_the_agents_budget_reaches_zero(h):
    h.agent("small", "0.003")
    out, code, ended = _loop_until_stopped(h, "small")
    assert code == 128 + signal.SIGTERM, (code, records(out)[-3:])
    assert h.mock.count == 3
    exhausted = h.mock.snapshot()[2].at
    assert ended - exhausted < 2.0, f"stopped {ended - exhausted:.2f}s after exhaustion"
    assert h.balance("small")["remaining_micro"] == 0
    start = started(out)
    check_killed(h, start["run_id"], "agent_budget_exhausted", start["pid"])
    check_run_ended(h, start["run_id"], exit_code=None, sig=int(signal.SIGTERM), spent=3 * CALL_COST)


def test_kill_on_exhaust_when_the_agents_budget_refuses_a_call(h):
    h.agent("small", "0.0025")
    out, code, ended = _loop_until_stopped(h, "small", "--budget", "0.1")
    assert code == 128 + signal.SIGTERM, (code, records(out)[-3:])
    assert h.mock.count == 2
    calls = calls_of(out)
    refusals = [c for c in calls if c["status"] == 402]
    exhausted = refusals[0]["t"] if refusals else calls[-1]["t"]
    assert ended - exhausted < 2.0
    start = started(out)
    check_killed(h, start["run_id"], "agent_budget_exhausted", start["pid"])


def test_kill_on_exhaust_escalates_to_sigkill_after_the_grace_period(h):
    out, code, ended = _loop_until_stopped(h, "bot", "--budget", "0.003", extra=("--ignore-term",))
    assert code == 128 + signal.SIGKILL, (code, records(out)[-3:])
    exhausted = h.mock.snapshot()[2].at
    assert GRACE - 0.2 <= ended - exhausted < GRACE + 2.0, f"killed {ended - exhausted:.2f}s after exhaustion"
    assert h.mock.count == 3
    start = started(out)
    check_killed(h, start["run_id"], "run_budget_exhausted", start["pid"])
    check_run_ended(h, start["run_id"], exit_code=None, sig=int(signal.SIGKILL), spent=3 * CALL_COST)


# ----------------------------------------------------------------------------------- tokens, ttl

def test_ttl_expires_the_token_but_not_the_process(h):
    out = h.file("ttl")
    gate = h.tmp / "gate"
    launched = time.monotonic()
    run = h.start("bot", h.agent_cmd(out, "--calls", "2", "--gate", gate, "--sleep-after", "0.5"), "--ttl", "3s")
    Path(f"{gate}.0").touch()
    first = wait_record(out, lambda r: r["event"] == "call" and r["i"] == 0)
    assert time.monotonic() - launched < 3, "the machine is too slow for this test"
    assert first["status"] == 200, first
    [entry] = h.ps()
    assert entry["ttl_seconds"] == 3 and entry["expires_at"] is not None, entry
    time.sleep(max(0.0, launched + 3.5 - time.monotonic()))
    Path(f"{gate}.1").touch()
    second = wait_record(out, lambda r: r["event"] == "call" and r["i"] == 1)
    assert (second["status"], second["code"]) == (401, "expired_api_key"), second
    assert run.code() == 0, "the process is not killed by the ttl"
    assert wait_record(out, lambda r: r["event"] == "done")
    run_id = started(out)["run_id"]
    assert h.events("process_killed") == []
    [started_event] = h.events("run_started", run_id=run_id)
    assert started_event["payload"]["ttl_seconds"] == 3
    check_run_ended(h, run_id, exit_code=0, sig=None)


def test_run_token_is_revoked_when_the_run_ends(h):
    agent_token = h.aex.json("agent", "rotate-token", "bot")["token"]
    out = h.file("revoke")
    run = h.run_to_end("bot", h.agent_cmd(out, "--calls", "1"))
    assert run.proc.returncode == 0
    start = started(out)
    assert calls_of(out)[0]["status"] == 200
    key = start["key"]
    assert TOKEN_RE.match(key) and key != agent_token
    assert h.call(key) == (401, "invalid_api_key")
    assert h.call(agent_token) == (200, None), "the agent's own token is untouched"


# ------------------------------------------------------------------------------------- ps and kill

def _check_iso_utc(text):
    assert isinstance(text, str), text
    parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
    assert parsed.utcoffset() == timedelta(0), text
    return parsed


def test_ps_and_kill_run_id_from_another_process(h):
    governed, plain = h.file("governed"), h.file("plain")
    h.mock.hold()
    first_cmd = h.agent_cmd(governed, "--calls", "1", "--sleep-after", "40")
    first = h.start("bot", first_cmd, "--budget", "0.05", "--ttl", "30m", "--kill-on-exhaust")
    try:
        assert h.mock.wait_for(1, 15), "the child's call never reached the provider"
        [entry] = h.ps()
        assert entry["reserved_micro"] == CALL_COST and entry["spent_micro"] == 0, entry
    finally:
        h.mock.release()
    wait_record(governed, lambda r: r["event"] == "call")
    second_cmd = h.agent_cmd(plain, "--calls", "0", "--sleep-after", "40")
    second = h.start("bot", second_cmd)
    a, b = started(governed), started(plain)

    listed = {entry["run_id"]: entry for entry in h.ps()}
    assert set(listed) == {a["run_id"], b["run_id"]}, listed
    for entry in listed.values():
        assert PS_FIELDS <= set(entry), entry
        assert entry["agent"] == "bot" and entry["state"] == "running", entry
        assert isinstance(entry["spent_micro"], int) and isinstance(entry["reserved_micro"], int)
    one, two = listed[a["run_id"]], listed[b["run_id"]]
    assert (one["pid"], one["pgid"]) == (a["pid"], a["pid"]), one
    assert (two["pid"], two["pgid"]) == (b["pid"], b["pid"]), two
    assert one["command"] == " ".join(first_cmd) and two["command"] == " ".join(second_cmd)
    begun = _check_iso_utc(one["started_at"])
    assert abs((datetime.now(timezone.utc) - begun).total_seconds()) < 60
    assert one["ttl_seconds"] == 1800
    assert abs((_check_iso_utc(one["expires_at"]) - begun).total_seconds() - 1800) <= 2, one
    assert (one["budget_micro"], one["spent_micro"], one["reserved_micro"]) == (50_000, CALL_COST, 0), one
    assert one["kill_on_exhaust"] is True
    assert (two["expires_at"], two["ttl_seconds"], two["budget_micro"], two["spent_micro"]) == (None, None, None, 0), two
    assert two["kill_on_exhaust"] is False
    _check_iso_utc(two["started_at"])

    table = h.aex.run("ps", check=0).stdout
    assert a["run_id"] in table and b["run_id"] in table and "bot" in table, table

    killed = subprocess.run([AEX_BIN, "kill", a["run_id"]], env=h.aex.env, capture_output=True, text=True,
                            timeout=30, cwd="/")
    assert killed.returncode == 0, killed.stderr
    assert a["run_id"] in killed.stdout and b["run_id"] not in killed.stdout, killed.stdout
    assert first.code(10) == 128 + signal.SIGTERM
    assert gone(a["pid"])
    assert wait_until(lambda: h.ps_ids() == {b["run_id"]}, 3), h.ps()
    check_killed(h, a["run_id"], "killed", a["pid"])
    check_run_ended(h, a["run_id"], exit_code=None, sig=int(signal.SIGTERM), spent=CALL_COST)
    assert h.aex.run("kill", a["run_id"]).returncode == 1, "an ended run has no running process"
    assert h.aex.run("kill", b["run_id"]).returncode == 0
    assert second.code(10) == 128 + signal.SIGTERM
    assert wait_until(lambda: h.ps() == [], 3)
    h.verify_ledger()


def test_kill_agent_name_kills_every_run_of_that_agent(h):
    h.agent("other")
    outs = [h.file("bot1"), h.file("bot2"), h.file("other")]
    runs = [h.start(agent, h.agent_cmd(out, "--calls", "0", "--sleep-after", "40"))
            for agent, out in zip(("bot", "bot", "other"), outs)]
    starts = [started(out) for out in outs]
    assert wait_until(lambda: len(h.ps()) == 3, 3)
    killed = h.aex.run("kill", "bot")
    assert killed.returncode == 0, killed.stderr
    assert starts[0]["run_id"] in killed.stdout and starts[1]["run_id"] in killed.stdout, killed.stdout
    assert starts[2]["run_id"] not in killed.stdout
    assert runs[0].code(10) == runs[1].code(10) == 128 + signal.SIGTERM
    assert runs[2].proc.poll() is None and not gone(starts[2]["pid"]), "another agent's run is untouched"
    assert wait_until(lambda: h.ps_ids() == {starts[2]["run_id"]}, 3), h.ps()
    for start in starts[:2]:
        check_killed(h, start["run_id"], "killed", start["pid"])
    assert h.aex.run("kill", "other").returncode == 0
    assert runs[2].code(10) == 128 + signal.SIGTERM


def test_kill_without_a_matching_running_process_exits_1(h):
    h.agent("idle")
    for target in ("nobody", "idle", "run_doesnotexist0000000000"):
        result = h.aex.run("kill", target)
        assert result.returncode == 1, (target, result.stdout, result.stderr)
    run = h.run_to_end("bot", ["true"])
    assert run.proc.returncode == 0
    [started_event] = h.events("run_started")
    assert h.aex.run("kill", started_event["payload"]["run_id"]).returncode == 1
    assert h.aex.run("kill", "bot").returncode == 1


def test_kill_escalates_to_sigkill_for_a_group_that_ignores_sigterm(h):
    out = h.tmp / "forker"
    run = h.start("bot", h.py("forker.py", out, "--ignore-term"))
    info = read_json(out)
    everyone = [info["pid"], *info["pids"]]
    killer = subprocess.Popen([AEX_BIN, "kill", info["run_id"]], env=h.aex.env, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True)
    sent = time.monotonic()
    time.sleep(GRACE / 2)
    assert all(not gone(pid) for pid in everyone), "SIGTERM is ignored: nobody dies before the grace period"
    [entry] = h.ps()
    assert entry["state"] == "stopping", entry
    assert wait_until(lambda: all(gone(pid) for pid in everyone), GRACE + 3), \
        [pid for pid in everyone if not gone(pid)]
    assert time.monotonic() - sent >= GRACE - 0.2
    stdout, stderr = killer.communicate(timeout=10)
    assert killer.returncode == 0 and info["run_id"] in stdout, (stdout, stderr)
    assert run.code(5) == 128 + signal.SIGKILL
    check_killed(h, info["run_id"], "killed", info["pid"])
    check_run_ended(h, info["run_id"], exit_code=None, sig=int(signal.SIGKILL))


def test_pause_stops_the_group_and_its_grandchildren(h):
    h.agent("other")
    out = h.tmp / "shforker"
    run = h.start("bot", ["sh", "-c", SH_FORKER, "sh", str(out)])
    bystander_out = h.file("bystander")
    bystander = h.start("other", h.agent_cmd(bystander_out, "--calls", "0", "--sleep-after", "40"))
    assert wait_until(out.exists, 15)
    pids = [int(p) for p in out.read_text().split()]
    assert len(pids) == 3
    bystander_start = started(bystander_out)
    [run_id] = [e["run_id"] for e in h.ps() if e["agent"] == "bot"]
    h.aex.run("agent", "pause", "bot", check=0)
    assert run.code(GRACE + 5) == 128 + signal.SIGTERM
    assert wait_until(lambda: all(gone(pid) for pid in pids), 3), [pid for pid in pids if not gone(pid)]
    check_killed(h, run_id, "agent_paused", pids[0])
    assert bystander.proc.poll() is None and not gone(bystander_start["pid"]), "another agent's run is untouched"
    assert wait_until(lambda: h.ps_ids() == {bystander_start["run_id"]}, 3)
    h.verify_ledger()


def test_delete_stops_the_group_and_revokes_the_token(h):
    out = h.tmp / "forker"
    run = h.start("bot", h.py("forker.py", out))
    info = read_json(out)
    assert h.call(info["key"]) == (200, None)
    h.aex.run("agent", "delete", "bot", check=0)
    assert run.code(GRACE + 5) == 128 + signal.SIGTERM
    everyone = [info["pid"], *info["pids"]]
    assert wait_until(lambda: all(gone(pid) for pid in everyone), 3), [pid for pid in everyone if not gone(pid)]
    check_killed(h, info["run_id"], "agent_deleted", info["pid"])
    check_run_ended(h, info["run_id"], exit_code=None, sig=int(signal.SIGTERM))
    assert h.call(info["key"])[0] == 401
    assert h.ps() == []
    h.verify_ledger()


# ------------------------------------------------------------------------------ supervisor, daemon

def test_sigkilled_aex_run_has_its_run_ended_by_the_daemon(h):
    out = h.tmp / "forker"
    run = h.start("bot", h.py("forker.py", out))
    info = read_json(out)
    everyone = [info["pid"], *info["pids"]]
    assert h.call(info["key"]) == (200, None)
    os.kill(run.pid, signal.SIGKILL)
    run.proc.wait(5)
    killed_at = time.monotonic()
    assert wait_until(lambda: all(gone(pid) for pid in everyone), 2 + GRACE + 2), \
        [pid for pid in everyone if not gone(pid)]
    assert time.monotonic() - killed_at < 4.5
    assert wait_until(lambda: h.call(info["key"])[0] == 401, 3), h.call(info["key"])
    assert h.call(info["key"]) == (401, "invalid_api_key")
    assert wait_until(lambda: h.ps() == [], 3), h.ps()
    check_killed(h, info["run_id"], "supervisor_gone", info["pid"])
    h.wait_event("run_ended", info["run_id"])
    h.verify_ledger()


def test_daemon_restart_keeps_live_runs_and_ends_orphaned_ones(unstarted):
    h = unstarted
    port = free_port()
    h.aex.run("daemon", "start", "--port", str(port), check=0)
    h.agent("bot")
    live_out, gate = h.file("live"), h.tmp / "gate"
    live = h.start("bot", h.agent_cmd(live_out, "--calls", "2", "--gate", gate, "--deadline", "40"))
    orphan_out = h.tmp / "orphan"
    orphan = h.start("bot", h.py("forker.py", orphan_out))
    live_start, orphan_info = started(live_out), read_json(orphan_out)
    Path(f"{gate}.0").touch()
    assert wait_record(live_out, lambda r: r["event"] == "call" and r["i"] == 0)["status"] == 200
    assert h.ps_ids() == {live_start["run_id"], orphan_info["run_id"]}

    h.aex.run("daemon", "stop", check=0)
    os.kill(orphan.pid, signal.SIGKILL)           # while the daemon is down
    orphan.proc.wait(5)
    h.aex.run("daemon", "start", "--port", str(port), check=0)
    assert h.aex.port == port
    restarted = time.monotonic()

    orphaned = [orphan_info["pid"], *orphan_info["pids"]]
    assert wait_until(lambda: all(gone(pid) for pid in orphaned), GRACE + 5), \
        [pid for pid in orphaned if not gone(pid)]
    assert time.monotonic() - restarted < GRACE + 5
    assert wait_until(lambda: h.ps_ids() == {live_start["run_id"]}, 5), h.ps()
    assert h.call(orphan_info["key"]) == (401, "invalid_api_key")
    h.wait_event("run_ended", orphan_info["run_id"])

    assert live.proc.poll() is None, f"aex run of the live run ended: {live.stderr}"
    assert h.call(live_start["key"]) == (200, None), "the live run's token works again"
    Path(f"{gate}.1").touch()
    second = wait_record(live_out, lambda r: r["event"] == "call" and r["i"] == 1)
    assert second["status"] == 200, second
    assert live.code(15) == 0, live.stderr
    check_run_ended(h, live_start["run_id"], exit_code=0, sig=None, spent=2 * CALL_COST + PRICE_OUT)
    assert wait_until(lambda: h.ps() == [], 3)
    h.verify_ledger()
