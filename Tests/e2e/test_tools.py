"""Tools (SPEC §4, §7, §8, §9, §11) end to end: `GET /v1/tools` and `POST /v1/tools/execute` on the
real daemon, with the bundled `aex-tools` (calculator, current_time) and plain-C tool plugins built
here from Tests/e2e/tools/ctools.c and installed with `aex plugin install PATH --enable`:

- `ctools`: well-behaved tools — echo_args (price 7, a JSON Schema to check), cheap (price 20, reports
  a cost of 3), overcost (price 5, reports 50), nonce (price 2, a new answer at every run), fail.
- one plugin per misbehaving tool — crash (abort), exit_early (exit 3), hang (timeout 300 ms),
  stall (timeout 60 s, for the SIGKILL test), hog (allocates without bound), flood (64 KiB of output
  over a 1 KiB limit), forker (a grandchild that sleeps 60 s, then a hang) — each with a `<tool>_ping`
  to show that a fresh worker of the same plugin serves after a failure;
- `tspy`: env_spy, which reports the worker's environment names, working folder, process group,
  no-new-privileges flag, parent-death signal and resource limits.

The daemon never loads a tool plugin: every call runs in a worker process (`aex __tool-worker ...`).
A misbehaving tool fails its own call only (502 `tool_failed`, 504 `tool_timeout`), costs nothing
(a `release` event naming what happened), leaves no process behind (the misbehaving tools name their
thread after the call's `tag` argument, so the very worker that ran the call and anything it forked
can be found in /proc), and the daemon keeps serving tools and chat.

What is checked besides: listing in OpenAI's function-tool shape and passing it to a chat request;
results and exact charges (the price, or the smaller cost a tool reports); every refusal of the
governance order (401, 403 read-only, 423, 400 with the failing path, 404, 403 policy, 429, 402)
refused before any reservation; `--tools` / `--no-tools` on execute and on chat; the budget exact
over 100 calls and under 50 concurrent ones; `execution_id` as an idempotency key; recovery of a call
in flight when the daemon is killed; no worker left after `aex daemon stop`.

Every test fails on a daemon without the feature: it asserts statuses, balances and ledger events."""
import http.client
import json
import os
import secrets
import shutil
import signal
import sqlite3
import subprocess
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path

import openai
import pytest

from conftest import AEX_BIN, Aex, wait_until
from test_plugins import HEADER_ABI
from test_proxy import (  # noqa: F401  (fixtures)
    MOCK_KEY, Proxy, _stopping, _wait_for_stopping_daemons, chat, dead_port, mock, mock_server, refused, settled,
)

HERE = Path(__file__).resolve().parent
SOURCE = HERE / "tools" / "ctools.c"
INCLUDE = HERE.parents[1] / "Sources" / "AEXPluginAPI" / "include"

EXECUTE, LIST = "/v1/tools/execute", "/v1/tools"
REPLAY = "x-aex-idempotent-replay"
CHAT_COST = 35                      # the mock's usage (10, 5) at chat-model's prices (2, 3)
MEMORY_MAX_DEFAULT = 256 * 1024 * 1024

# Secrets in the daemon's environment that no worker may see (besides MOCK_API_KEY and the .env key).
SECRET_ENV = {"OPENAI_API_KEY": "sk-openai-secret-for-tests", "GROQ_API_KEY": "sk-groq-secret-for-tests",
              "AEX_TEST_AGENT_TOKEN": "aex_" + "T" * 44}

# The libraries built for the tests: plugin name → compiler switches for ctools.c.
BUILDS = {
    "ctools": [],
    "tcrash": ["-DCTOOLS_CRASH"],
    "texit": ["-DCTOOLS_EXIT"],
    "thang": ["-DCTOOLS_HANG"],
    "tstall": ["-DCTOOLS_STALL"],
    "thog": ["-DCTOOLS_HOG"],
    "tflood": ["-DCTOOLS_FLOOD"],
    "tforker": ["-DCTOOLS_FORKER"],
    "tspy": ["-DCTOOLS_ENV_SPY"],
    "tdup-calculator": ['-DCTOOLS_DUPLICATE="calculator"'],
    "tdup-echo_args": ['-DCTOOLS_DUPLICATE="echo_args"'],
}

# ctools' tools: name → price in micro-USD, and the schema echo_args declares.
CTOOLS_PRICES = {"echo_args": 7, "cheap": 20, "overcost": 5, "nonce": 2, "fail": 9}
ECHO_SCHEMA = {
    "type": "object",
    "properties": {
        "text": {"type": "string", "minLength": 1, "maxLength": 200, "description": "any text"},
        "count": {"type": "integer", "minimum": 0, "maximum": 10},
        "mode": {"type": "string", "enum": ["plain", "loud"]},
        "tags": {"type": "array", "items": {"type": "string"}, "maxItems": 3},
    },
    "required": ["text"],
    "additionalProperties": False,
}

# Misbehaving tools: case → (plugin, tool, status, code, words one of which the release reason names,
# whether the worker that ran the call must be gone afterwards).
TIMEOUT_WORDS = ("timeout", "timed out", "time limit")
MISBEHAVING = {
    "crash": ("tcrash", "crash", 502, "tool_failed", ("crash", "signal", "abort"), True),
    "exit": ("texit", "exit_early", 502, "tool_failed", ("exit",), True),
    "hog": ("thog", "hog", 502, "tool_failed", ("memory", "crash", "signal", "abort", "kill"), True),
    "flood": ("tflood", "flood", 502, "tool_failed", ("output", "large", "limit", "bytes"), False),
    "hang": ("thang", "hang", 504, "tool_timeout", TIMEOUT_WORDS, True),
    "forker": ("tforker", "forker", 504, "tool_timeout", TIMEOUT_WORDS, True),
}


def _compiler():
    return shutil.which(os.environ.get("CC", "cc")) or shutil.which("gcc") or shutil.which("clang")


# ----------------------------------------------------------------------------------------- fixtures

@pytest.fixture(scope="session")
def tool_libs(tmp_path_factory):
    """Every library of BUILDS, compiled once: plugin name → path. Skips without a C compiler."""
    if _compiler() is None:
        pytest.skip("no C compiler to build the tool plugin fixtures")
    out = tmp_path_factory.mktemp("tool-builds")
    built = {}
    for name, switches in BUILDS.items():
        target = out / f"lib{name}.so"
        result = subprocess.run([_compiler(), "-std=c99", "-O2", "-shared", "-fPIC", "-Wall", "-Wextra",
                                 "-I", str(INCLUDE), *switches, "-o", str(target), str(SOURCE)],
                                capture_output=True, text=True)
        assert result.returncode == 0, f"building {name} from {SOURCE.name} failed:\n{result.stderr}"
        built[name] = target
    return built


def start_daemon(home, mock, dead_port, settings=None):
    """A daemon in front of the mock provider (as test_proxy's `proxy`), with more secrets in its
    environment (SECRET_ENV) and one in AEX_HOME/.env, so that a worker's environment can be
    checked; `settings` are more environment variables (e.g. AEX_TOOL_WORKER_MEMORY_BYTES_MAX)."""
    aex = Aex(home, extra_env={"MOCK_API_KEY": MOCK_KEY, **SECRET_ENV, **(settings or {})})
    for name in ("NOKEY_API_KEY", "DOTENV_API_KEY"):
        aex.env.pop(name, None)
    aex.run("init", check=0)
    instance = Proxy(aex, mock, dead_port)
    instance.write_config()
    with open(aex.home / ".env", "a") as env_file:
        env_file.write("\nDOTENV_API_KEY=sk-from-dotenv\n")
    aex.start()
    return instance


def stop_in_background(instance):
    """The graceful stop takes a while: let it finish in the background (waited for at the end of
    the module by test_proxy's `_wait_for_stopping_daemons`)."""
    if (instance.aex.home / "daemon.json").exists():
        _stopping.append(subprocess.Popen([AEX_BIN, "daemon", "stop"], env=instance.aex.env,
                                          stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))


@pytest.fixture
def proxy(tmp_path, mock, dead_port):
    instance = start_daemon(tmp_path / "home", mock, dead_port)
    yield instance
    stop_in_background(instance)


@pytest.fixture
def proxy_with(tmp_path, mock, dead_port):
    """`proxy_with({"SETTING": "value"})` starts a daemon like `proxy`'s with more settings."""
    started = []

    def start(settings):
        started.append(start_daemon(tmp_path / f"home{len(started)}", mock, dead_port, settings))
        return started[-1]

    yield start
    for instance in started:
        stop_in_background(instance)


# ------------------------------------------------------------------------------------ HTTP helpers

@dataclass
class Answer:
    status: int
    headers: dict            # lower-case names
    body: bytes

    @property
    def json(self):
        return json.loads(self.body)

    @property
    def error(self):
        return self.json["error"]

    @property
    def replayed(self):
        return self.headers.get(REPLAY) == "true"


def execute(proxy, token, tool_name=None, arguments=None, execution_id=None, body=None, prefix="", timeout=30):
    """One raw `POST /v1/tools/execute` on its own connection. `body` (a dict, or the exact bytes) replaces
    the one made of tool_name, arguments ({} when None) and execution_id; token None sends no
    Authorization."""
    if body is None:
        body = {"tool_name": tool_name, "arguments": {} if arguments is None else arguments}
        if execution_id is not None:
            body["execution_id"] = execution_id
    data = body if isinstance(body, bytes) else json.dumps(body).encode()
    headers = {"Content-Type": "application/json"}
    if token is not None:
        headers["Authorization"] = f"Bearer {token}"
    connection = http.client.HTTPConnection("127.0.0.1", proxy.port, timeout=timeout)
    try:
        connection.request("POST", prefix + EXECUTE, body=data, headers=headers)
        response = connection.getresponse()
        return Answer(response.status, {k.lower(): v for k, v in response.getheaders()}, response.read())
    finally:
        connection.close()


def succeeded(answer, tool_name, cost, execution_id=None):
    """A 200 answer of the documented shape, charged `cost`; returns the tool's result."""
    assert answer.status == 200, (answer.status, answer.body)
    body = answer.json
    assert {"execution_id", "tool_name", "result", "cost_micro"} <= set(body), body
    assert body["tool_name"] == tool_name and body["cost_micro"] == cost, body
    assert answer.headers.get("x-aex-execution-id"), answer.headers
    assert answer.headers.get("x-aex-cost-micro") == str(cost), answer.headers
    assert answer.headers.get("x-aex-budget-remaining-micro", "").isdigit(), answer.headers
    if execution_id is not None:
        assert body["execution_id"] == execution_id, "the client's execution_id is echoed"
    else:
        assert body["execution_id"] == answer.headers["x-aex-execution-id"], "without one, the AEX execution id"
    return body["result"]


def failed(answer, status, code, *words):
    """An error answer in OpenAI's shape with this status and code, whose message has every word."""
    assert answer.status == status, (answer.status, answer.body)
    error = answer.error
    assert {"message", "type", "code", "param"} <= set(error), error
    assert error["code"] == code and error["message"], error
    for word in words:
        assert word in error["message"], f"{word!r} not in {error['message']!r}"
    return error


def refused_execute(proxy, agent, token, status, code, *words, **call):
    """`execute(**call)` is refused with status and code before any reservation: balances unchanged, no
    reservation event, and (for a known agent) the refusal recorded in the ledger with its code."""
    before, reserved_before = proxy.balance(agent), len(events(proxy, "reservation", agent))
    refusals_before = refusals(proxy, agent)
    answer = execute(proxy, token, **call)
    failed(answer, status, code, *words)
    assert proxy.balance(agent) == before, "a refused call changed a balance"
    assert len(events(proxy, "reservation", agent)) == reserved_before, "a refused call reserved money"
    if status != 401:       # denials are written to the ledger after the answer: wait for this one
        def recorded():
            return [event["payload"].get("code") for event in refusals(proxy, agent)[len(refusals_before):]]
        assert wait_until(lambda: code in recorded(), 5), f"the refusal is not in the ledger: {recorded()}"
    return answer


def listing(proxy, token, prefix=""):
    """`GET /v1/tools`: the list's data, after checking the list's shape."""
    code, _, body = proxy.http("GET", prefix + LIST, token=token)
    assert code == 200, body
    assert body["object"] == "list" and isinstance(body["data"], list), body
    for item in body["data"]:
        assert item["type"] == "function", item
        function = item["function"]
        assert isinstance(function["name"], str) and isinstance(function["description"], str), item
        assert isinstance(function["parameters"], dict) and function["parameters"].get("type") == "object", item
        assert isinstance(item["price_micro"], int) and item["price_micro"] >= 0, item
    return body["data"]


def prices(proxy, token):
    return {item["function"]["name"]: item["price_micro"] for item in listing(proxy, token)}


def usd(micro):
    """Integer micro-USD as the CLI's exact decimal dollars."""
    return f"{micro // 1_000_000}.{micro % 1_000_000:06d}"


def install(proxy, path):
    """`aex plugin install PATH --enable --json` on the running daemon; returns the printed record."""
    return json.loads(proxy.aex.run("plugin", "install", str(path), "--enable", "--json", check=0).stdout)


def in_background(call):
    """Starts `call` on a thread; returns (thread, box), box getting "result" or "error"."""
    box = {}

    def run():
        try:
            box["result"] = call()
        except Exception as error:  # read by the test
            box["error"] = error

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread, box


# ---------------------------------------------------------------------------------- ledger helpers

def rows(proxy, sql, *args):
    db = sqlite3.connect(f"file:{proxy.aex.home / 'aex.db'}?mode=ro", uri=True)
    try:
        cursor = db.execute(sql, args)
        names = [column[0] for column in cursor.description]
        return [dict(zip(names, row)) for row in cursor.fetchall()]
    finally:
        db.close()


def events(proxy, kind, agent):
    """The agent's ledger events of this type, oldest first: {"execution_id", "payload"}."""
    found = rows(proxy, "SELECT execution_id, payload FROM event_log WHERE type = ? AND agent_name = ? ORDER BY seq",
                 kind, agent)
    return [{"execution_id": row["execution_id"], "payload": json.loads(row["payload"])} for row in found]


def refusals(proxy, agent):
    return [{"type": row["type"], "payload": json.loads(row["payload"])} for row in rows(
        proxy, "SELECT type, payload FROM event_log WHERE type IN ('denial', 'policy_refusal', 'rate_limited') "
               "AND agent_name = ? ORDER BY seq", agent)]


def execution(proxy, execution_id):
    found = rows(proxy, "SELECT * FROM executions WHERE id = ?", execution_id)
    assert len(found) == 1, f"no execution row {execution_id}"
    return found[0]


def open_reservations(proxy, agent):
    return rows(proxy, "SELECT r.execution_id, r.amount_micro, r.dispatched FROM reservations r "
                       "JOIN agents a ON a.id = r.agent_id WHERE a.name = ?", agent)


def ledger_verifies(proxy):
    report = proxy.aex.json("ledger", "verify")
    assert report["ok"] is True and report["first_bad_seq"] is None and report["mismatched_agents"] == [], report
    return report


def released_for_nothing(proxy, agent, price, status, words):
    """The agent's only money events: one reservation of `price` and its release naming the failure."""
    assert wait_until(lambda: events(proxy, "release", agent), 5), "no release event"
    (reserved,) = events(proxy, "reservation", agent)
    (release,) = events(proxy, "release", agent)
    assert reserved["payload"]["amount_micro"] == price, reserved
    assert release["execution_id"] == reserved["execution_id"], (reserved, release)
    payload = release["payload"]
    assert payload["released_micro"] == price, payload
    assert payload.get("status", status) == status, payload
    assert any(word in payload["reason"].lower() for word in words), f"the reason names the failure: {payload}"
    assert events(proxy, "commit", agent) == [], "a failed call committed money"
    row = execution(proxy, release["execution_id"])
    assert row["state"] in ("RELEASED", "FAILED") and not row["cost_micro"], row
    settled(proxy, agent, 0)
    return release


# -------------------------------------------------------------------------------- process helpers

def _stat(pid):
    """(state, ppid, pgid) of a process, or None when it is gone."""
    try:
        with open(f"/proc/{pid}/stat") as stat:
            fields = stat.read().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return fields[0], int(fields[1]), int(fields[2])


def alive(pid):
    stat = _stat(pid)
    return stat is not None and stat[0] not in ("Z", "X")     # a zombie is gone too


def _pids():
    return [int(name) for name in os.listdir("/proc") if name.isdigit()]


def cmdline(pid):
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as text:
            return text.read().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""


def _thread_names(pid):
    names = set()
    try:
        for task in os.listdir(f"/proc/{pid}/task"):
            try:
                with open(f"/proc/{pid}/task/{task}/comm") as comm:
                    names.add(comm.read().strip())
            except OSError:
                continue
    except OSError:
        pass
    return names


def tagged(tag):
    """Live processes with a thread named `tag`: the worker that ran a call with this tag, and its forks."""
    return [pid for pid in _pids() if tag in _thread_names(pid) and alive(pid)]


def tool_workers(proxy, daemon_pid=None):
    """Live `aex __tool-worker` processes of this daemon: its children, or naming its AEX_HOME."""
    daemon_pid = daemon_pid or proxy.aex.state["pid"]
    home = str(proxy.aex.home)
    found = []
    for pid in _pids():
        line = cmdline(pid)
        stat = _stat(pid)
        if "__tool-worker" in line and stat and alive(pid) and (stat[1] == daemon_pid or home in line):
            found.append(pid)
    return found


def new_tag():
    """A thread name (at most 15 bytes) no process has yet."""
    return "t" + secrets.token_hex(5)


# ------------------------------------------------------------------------------- listing and chat

def test_the_listing_shows_the_agents_tools_in_the_function_tool_shape(proxy, tool_libs):
    token = proxy.agent("bot", "1")
    listed = {item["function"]["name"]: item for item in listing(proxy, token)}
    assert {"calculator", "current_time"} <= set(listed), listed
    assert (listed["calculator"]["price_micro"], listed["current_time"]["price_micro"]) == (10, 5), listed
    calculator = listed["calculator"]["function"]["parameters"]
    assert calculator["properties"]["expression"]["type"] == "string" and "expression" in calculator["required"]
    assert listed["current_time"]["function"]["parameters"]["properties"]["timezone"]["type"] == "string"
    assert listing(proxy, token, prefix="/openai") == listing(proxy, token), "the same list under /openai/v1"

    record = install(proxy, tool_libs["ctools"])
    assert (record["name"], record["kind"], record["enabled"], record["abi"]) == ("ctools", "tool", True, HEADER_ABI), record
    listed = {item["function"]["name"]: item for item in listing(proxy, token)}
    assert {name: listed[name]["price_micro"] for name in CTOOLS_PRICES} == CTOOLS_PRICES, "installed: listed at once"
    assert listed["echo_args"]["function"] == {"name": "echo_args", "description": "Answers its arguments.",
                                               "parameters": ECHO_SCHEMA}

    calc = proxy.agent("calc", "1", "60", "--tools", "calculator")
    assert [item["function"]["name"] for item in listing(proxy, calc)] == ["calculator"]
    assert listing(proxy, proxy.agent("none", "1", "60", "--no-tools")) == []
    for key, code in ((None, "missing_api_key"), ("aex_" + "x" * 44, "invalid_api_key"),
                      (proxy.aex.admin_token, "invalid_api_key")):
        status, _, body = proxy.http("GET", LIST, token=key)
        assert (status, body["error"]["code"]) == (401, code), body
    settled(proxy, "bot", 0)


def test_the_listing_is_passed_to_a_chat_request_through_the_sdk(proxy):
    token = proxy.agent("bot", "1")
    tools = [{"type": "function", "function": item["function"]} for item in listing(proxy, token)]
    assert tools
    answer = chat(proxy.client(token), tools=tools)
    assert answer.choices[0].message.content == "Hello from the mock provider."
    assert proxy.mock.last().body["tools"] == tools, "the provider received the listed tools unchanged"
    settled(proxy, "bot", CHAT_COST)


def test_disabling_a_tool_plugin_removes_its_tools_at_once(proxy, tool_libs):
    install(proxy, tool_libs["ctools"])
    token = proxy.agent("bot", "1")
    succeeded(execute(proxy, token, "echo_args", {"text": "before"}), "echo_args", 7)
    proxy.aex.run("plugin", "disable", "ctools", check=0)
    names = set(prices(proxy, token))
    assert not names & set(CTOOLS_PRICES) and {"calculator", "current_time"} <= names, names
    refused_execute(proxy, "bot", token, 404, "tool_not_found", tool_name="echo_args", arguments={"text": "after"})
    proxy.aex.run("plugin", "enable", "ctools", check=0)
    assert set(CTOOLS_PRICES) <= set(prices(proxy, token))
    succeeded(execute(proxy, token, "echo_args", {"text": "again"}), "echo_args", 7)
    settled(proxy, "bot", 14)


def test_a_disabled_or_removed_tool_plugin_leaves_no_worker(proxy, tool_libs):
    record = install(proxy, tool_libs["ctools"])
    token = proxy.agent("bot", "1")

    def workers_of_ctools():
        return [pid for pid in tool_workers(proxy) if record["path"] in cmdline(pid)]

    for round_ in range(2):
        succeeded(execute(proxy, token, "echo_args", {"text": f"round {round_}"}), "echo_args", 7)
        assert workers_of_ctools(), "the call ran in a worker of the plugin"
        proxy.aex.run("plugin", "disable", "ctools", check=0)
        assert wait_until(lambda: not workers_of_ctools(), 5), f"workers left after disable: {workers_of_ctools()}"
        proxy.aex.run("plugin", "enable", "ctools", check=0)
    succeeded(execute(proxy, token, "calculator", {"expression": "1+1"}), "calculator", 10)
    assert tool_workers(proxy), "the bundled tools' workers are not touched"
    succeeded(execute(proxy, token, "echo_args", {"text": "last"}), "echo_args", 7)
    proxy.aex.run("plugin", "remove", "ctools", check=0)
    assert wait_until(lambda: not workers_of_ctools(), 5), f"workers left after remove: {workers_of_ctools()}"


def test_install_refuses_a_tool_name_another_plugin_provides(aex, tool_libs):
    def refused_install(path, name):
        result = aex.run("plugin", "install", str(path), "--enable")
        assert result.returncode == 1 and name in result.stderr, (result.returncode, result.stderr)
        assert "tdup" not in {record["name"] for record in aex.json("plugin", "list")}

    refused_install(tool_libs["tdup-calculator"], "calculator")          # a bundled tool
    aex.run("plugin", "install", str(tool_libs["ctools"]), "--enable", check=0)
    refused_install(tool_libs["tdup-echo_args"], "echo_args")            # an installed plugin's tool


# ----------------------------------------------------------------------------------- bundled tools

CALCULATIONS = [("0.1+0.2", "0.3"), ("1/3", "0.33333333333333333333333333333333"), ("2^10", "1024")]


def test_the_calculator_answers_exact_decimals_at_its_price(proxy):
    token = proxy.agent("bot", "1")
    price = prices(proxy, token)["calculator"]
    spent = 0
    for index, (expression, expected) in enumerate(CALCULATIONS):
        answer = execute(proxy, token, "calculator", {"expression": expression}, prefix="/openai" if index == 2 else "")
        assert succeeded(answer, "calculator", price) == {"result": expected}, expression
        spent += price
        assert answer.headers["x-aex-budget-remaining-micro"] == str(1_000_000 - spent)
        row = execution(proxy, answer.headers["x-aex-execution-id"])
        assert (row["state"], row["cost_micro"], row["reserved_micro"]) == ("COMMITTED", price, price), row
    settled(proxy, "bot", spent)
    reservations, commits = events(proxy, "reservation", "bot"), events(proxy, "commit", "bot")
    assert [event["payload"]["amount_micro"] for event in reservations] == [price] * 3, reservations
    assert [(event["payload"]["cost_micro"], event["payload"]["reserved_micro"]) for event in commits] == \
        [(price, price)] * 3
    ledger_verifies(proxy)


def test_division_by_zero_is_a_tool_error_that_costs_nothing(proxy):
    token = proxy.agent("bot", "1")
    price = prices(proxy, token)["calculator"]
    failed(execute(proxy, token, "calculator", {"expression": "1/0"}), 502, "tool_failed")
    released_for_nothing(proxy, "bot", price, 502, ("error", "fail", "zero", "division", "tool"))
    answer = execute(proxy, token, "calculator", {"expression": "6/4"})
    assert succeeded(answer, "calculator", price) == {"result": "1.5"}, "the next call is served"
    settled(proxy, "bot", price)


def test_current_time_answers_in_utc_or_the_zone_asked(proxy):
    token = proxy.agent("bot", "1")
    price = prices(proxy, token)["current_time"]
    now = datetime.now(timezone.utc)

    result = succeeded(execute(proxy, token, "current_time", {}), "current_time", price)
    assert result["timezone"] == "UTC", result
    stamp = datetime.fromisoformat(result["iso8601"])
    assert stamp.utcoffset() == timedelta(0) and abs(stamp - now) < timedelta(minutes=2), result

    result = succeeded(execute(proxy, token, "current_time", {"timezone": "Asia/Tokyo"}), "current_time", price)
    assert result["timezone"] == "Asia/Tokyo", result
    stamp = datetime.fromisoformat(result["iso8601"])
    assert stamp.utcoffset() == timedelta(hours=9) and abs(stamp - now) < timedelta(minutes=2), result
    settled(proxy, "bot", 2 * price)

    failed(execute(proxy, token, "current_time", {"timezone": "Mars/Olympus_Mons"}), 502, "tool_failed")
    settled(proxy, "bot", 2 * price)
    refused_execute(proxy, "bot", token, 400, "invalid_request", "arguments.timezone",
                    tool_name="current_time", arguments={"timezone": 9})


# ---------------------------------------------------------------------------------- a C tool plugin

def test_a_c_tool_plugin_serves_its_tools_at_their_price_or_reported_cost(proxy, tool_libs):
    install(proxy, tool_libs["ctools"])
    token = proxy.agent("bot", "1")
    arguments = {"text": "h\u00e9llo \"plugin\"", "count": 3, "mode": "loud", "tags": ["a", "b"]}
    assert succeeded(execute(proxy, token, "echo_args", arguments), "echo_args", 7) == {"echo": arguments}

    cheap = execute(proxy, token, "cheap", {})
    assert succeeded(cheap, "cheap", 3) == {"ok": True}, "a reported cost below the price is what is charged"
    commit = [e for e in events(proxy, "commit", "bot") if e["execution_id"] == cheap.headers["x-aex-execution-id"]]
    assert [(e["payload"]["cost_micro"], e["payload"]["reserved_micro"]) for e in commit] == [(3, 20)], commit
    assert succeeded(execute(proxy, token, "overcost", {}), "overcost", 5) == {"ok": True}, "never more than the price"
    settled(proxy, "bot", 7 + 3 + 5)

    failed(execute(proxy, token, "fail", {}), 502, "tool_failed", "asked to fail")
    assert wait_until(lambda: events(proxy, "release", "bot"), 5), "no release event"
    (release,) = events(proxy, "release", "bot")
    assert release["payload"]["released_micro"] == 9, release
    settled(proxy, "bot", 7 + 3 + 5)
    ledger_verifies(proxy)


def test_arguments_are_checked_against_the_tools_schema(proxy, tool_libs):
    install(proxy, tool_libs["ctools"])
    token = proxy.agent("bot", "1")
    # The message names the failing value's path from `arguments` (a missing member: the object, and
    # the member's name).
    for arguments, path in [
        ({}, "text"),                                                      # required
        ({"text": 5}, "arguments.text"),                                   # type
        ({"text": ""}, "arguments.text"),                                  # minLength
        ({"text": "x" * 201}, "arguments.text"),                           # maxLength
        ({"text": "x", "count": 11}, "arguments.count"),                   # maximum
        ({"text": "x", "count": -1}, "arguments.count"),                   # minimum
        ({"text": "x", "count": 1.5}, "arguments.count"),                  # integer
        ({"text": "x", "mode": "quiet"}, "arguments.mode"),                # enum
        ({"text": "x", "tags": ["a", 2]}, "arguments.tags"),               # items
        ({"text": "x", "tags": ["a", "b", "c", "d"]}, "arguments.tags"),   # maxItems
        ({"text": "x", "other": 1}, "other"),                              # additionalProperties
    ]:
        refused_execute(proxy, "bot", token, 400, "invalid_request", "arguments", path, tool_name="echo_args",
                        arguments=arguments)
    refused_execute(proxy, "bot", token, 400, "invalid_request", "arguments", "expression",
                    tool_name="calculator", arguments={})
    refused_execute(proxy, "bot", token, 400, "invalid_request", "arguments.expression",
                    tool_name="calculator", arguments={"expression": 5})
    settled(proxy, "bot", 0)


# --------------------------------------------------------------------------------------- refusals

def test_authentication_and_token_scope(proxy):
    token = proxy.agent("bot", "1")
    call = {"tool_name": "calculator", "arguments": {"expression": "1+1"}}
    refused_execute(proxy, "bot", None, 401, "missing_api_key", **call)
    for key in ("aex_" + "x" * 44, token + "x", proxy.aex.admin_token):
        refused_execute(proxy, "bot", key, 401, "invalid_api_key", **call)
    reader = proxy.agent("reader", "1", "60", "--read-only")
    refused_execute(proxy, "reader", reader, 403, "read_only_token", **call)
    settled(proxy, "bot", 0)


def test_a_paused_agent_cannot_execute_tools(proxy):
    token = proxy.agent("bot", "1")
    price = prices(proxy, token)["calculator"]
    call = {"tool_name": "calculator", "arguments": {"expression": "1+1"}}
    proxy.aex.run("agent", "pause", "bot", check=0)
    refused_execute(proxy, "bot", token, 423, "agent_paused", **call)
    proxy.aex.run("agent", "resume", "bot", check=0)
    assert succeeded(execute(proxy, token, **call), "calculator", price) == {"result": "2"}
    settled(proxy, "bot", price)


@pytest.mark.parametrize("body", [
    b"not json", b'{"tool_name": "calculator", "arguments": {', b"[1, 2]", b"",
    {"arguments": {"expression": "1+1"}},
    {"tool_name": 5, "arguments": {"expression": "1+1"}},
    {"tool_name": ["calculator"], "arguments": {"expression": "1+1"}},
    {"tool_name": "calculator", "arguments": "1+1"},
    {"tool_name": "calculator", "arguments": [1]},
    {"tool_name": "calculator", "arguments": None},
    {"tool_name": "no_such_tool", "arguments": "not an object"},      # validity comes before the lookup
], ids=["not-json", "cut-json", "array", "empty", "no-tool-name", "number-tool-name", "list-tool-name",
        "string-arguments", "list-arguments", "null-arguments", "unknown-tool-bad-arguments"])
def test_invalid_requests_are_400(proxy, body):
    token = proxy.agent("bot", "1")
    refused_execute(proxy, "bot", token, 400, "invalid_request", body=body)


def test_an_unknown_tool_is_404(proxy):
    token = proxy.agent("bot", "1")
    refused_execute(proxy, "bot", token, 404, "tool_not_found", tool_name="no_such_tool", arguments={})
    refused_execute(proxy, "bot", token, 404, "tool_not_found", tool_name="calculator2", arguments={})


def test_the_tools_policy_governs_execute(proxy):
    limited = proxy.agent("limited", "1", "60", "--tools", "current_time")
    price = prices(proxy, limited)["current_time"]
    refused_execute(proxy, "limited", limited, 403, "policy_violation",
                    tool_name="calculator", arguments={"expression": "1+1"})
    refused_execute(proxy, "limited", limited, 404, "tool_not_found", tool_name="no_such_tool", arguments={})
    succeeded(execute(proxy, limited, "current_time", {}), "current_time", price)
    settled(proxy, "limited", price)

    none = proxy.agent("none", "1", "60", "--no-tools")
    for tool, arguments in (("calculator", {"expression": "1+1"}), ("current_time", {})):
        refused_execute(proxy, "none", none, 403, "policy_violation", tool_name=tool, arguments=arguments)


def test_the_tools_policy_governs_tools_named_in_chat(proxy):
    every = {item["function"]["name"]: {"type": "function", "function": item["function"]}
             for item in listing(proxy, proxy.agent("lister", "1"))}
    client = proxy.client(proxy.agent("calc", "1", "60", "--tools", "calculator"))
    chat(client, tools=[every["calculator"]])
    assert proxy.mock.last().body["tools"] == [every["calculator"]]
    refused(proxy, "calc", lambda: chat(client, tools=[every["calculator"], every["current_time"]]),
            openai.PermissionDeniedError, 403, "policy_violation")
    settled(proxy, "calc", CHAT_COST)


def test_a_tool_call_counts_against_the_rate_limit(proxy):
    token = proxy.agent("slow", "1", "2")
    price = prices(proxy, token)["calculator"]
    # Refusals use no capacity.
    refused_execute(proxy, "slow", token, 404, "tool_not_found", tool_name="no_such_tool", arguments={})
    refused_execute(proxy, "slow", token, 400, "invalid_request", tool_name="calculator", arguments={})
    succeeded(execute(proxy, token, "calculator", {"expression": "1+1"}), "calculator", price)
    chat(proxy.client(token))
    answer = refused_execute(proxy, "slow", token, 429, "rate_limit_exceeded",
                             tool_name="calculator", arguments={"expression": "1+1"})
    retry_after = answer.headers.get("retry-after")
    assert retry_after is not None and retry_after.isdigit() and 1 <= int(retry_after) <= 60, retry_after
    refused(proxy, "slow", lambda: chat(proxy.client(token)), openai.RateLimitError, 429, "rate_limit_exceeded")
    settled(proxy, "slow", price + CHAT_COST)


def test_a_budget_below_the_price_is_402(proxy):
    price = prices(proxy, proxy.agent("lister", "1"))["calculator"]
    token = proxy.agent("edge", usd(price - 1))
    call = {"tool_name": "calculator", "arguments": {"expression": "1+1"}}
    refused_execute(proxy, "edge", token, 402, "budget_exceeded", **call)
    proxy.aex.run("agent", "update", "edge", "--add-budget", usd(1), check=0)
    answer = execute(proxy, token, **call)
    succeeded(answer, "calculator", price)
    assert answer.headers["x-aex-budget-remaining-micro"] == "0"
    refused_execute(proxy, "edge", token, 402, "budget_exceeded", **call)
    settled(proxy, "edge", price)


def test_checks_run_in_the_spec_order(proxy):
    price = prices(proxy, proxy.agent("lister", "1"))["calculator"]
    reader = proxy.agent("reader", "1", "60", "--read-only")
    proxy.aex.run("agent", "pause", "reader", check=0)
    refused_execute(proxy, "reader", reader, 403, "read_only_token", body=b"not json")       # scope before lifecycle

    token = proxy.agent("bot", "0", "60", "--tools", "current_time")
    proxy.aex.run("agent", "pause", "bot", check=0)
    refused_execute(proxy, "bot", token, 423, "agent_paused", body=b"not json")              # lifecycle before validity
    proxy.aex.run("agent", "resume", "bot", check=0)
    refused_execute(proxy, "bot", token, 400, "invalid_request", "arguments.expression",     # validity before policy
                    tool_name="calculator", arguments={"expression": 1})
    refused_execute(proxy, "bot", token, 404, "tool_not_found", tool_name="no_such_tool", arguments={})  # lookup first
    refused_execute(proxy, "bot", token, 403, "policy_violation",                            # policy before budget
                    tool_name="calculator", arguments={"expression": "1"})
    refused_execute(proxy, "bot", token, 402, "budget_exceeded", tool_name="current_time", arguments={})

    fast = proxy.agent("fast", usd(price), "1")
    succeeded(execute(proxy, fast, "calculator", {"expression": "1"}), "calculator", price)
    refused_execute(proxy, "fast", fast, 429, "rate_limit_exceeded",                        # rate before budget
                    tool_name="calculator", arguments={"expression": "1"})
    settled(proxy, "fast", price)


# ----------------------------------------------------------------------------- misbehaving tools

@pytest.mark.parametrize("case", list(MISBEHAVING))
def test_a_misbehaving_tool_fails_its_call_only(proxy, tool_libs, case):
    plugin, tool, status, code, words, dies = MISBEHAVING[case]
    install(proxy, tool_libs[plugin])
    daemon = proxy.aex.state["pid"]
    token = proxy.agent("bot", "1")
    listed = prices(proxy, token)
    price, calculator = listed[tool], listed["calculator"]
    tag = new_tag()

    started = time.monotonic()
    answer = execute(proxy, token, tool, {"tag": tag})
    elapsed = time.monotonic() - started
    failed(answer, status, code)
    assert b"flood flood" not in answer.body, "the tool's output never reaches the client"
    if code == "tool_timeout":
        assert 0.25 <= elapsed < 5, f"a 300 ms timeout answered after {elapsed:.2f} s"
    released_for_nothing(proxy, "bot", price, status, words)
    if dies:
        assert wait_until(lambda: not tagged(tag), 5), f"the worker (or what it forked) survived: {tagged(tag)}"

    # The daemon keeps serving: the same plugin (a fresh worker where one died), other tools, chat.
    assert proxy.aex.state["pid"] == daemon and alive(daemon)
    assert succeeded(execute(proxy, token, f"{tool}_ping", {}), f"{tool}_ping", 1) == {"pong": True}
    assert succeeded(execute(proxy, token, "calculator", {"expression": "2^3"}), "calculator", calculator) == \
        {"result": "8"}
    assert chat(proxy.client(token)).choices[0].message.content == "Hello from the mock provider."
    again = new_tag()
    failed(execute(proxy, token, tool, {"tag": again}), status, code)
    if dies:
        assert wait_until(lambda: not tagged(again), 5), f"the second worker survived: {tagged(again)}"
    settled(proxy, "bot", 1 + calculator + CHAT_COST)
    assert wait_until(lambda: len(events(proxy, "release", "bot")) == 2, 5), events(proxy, "release", "bot")
    ledger_verifies(proxy)


def test_a_worker_runs_scrubbed_isolated_and_limited(proxy, tool_libs):
    install(proxy, tool_libs["tspy"])
    token = proxy.agent("bot", "1")
    spy = succeeded(execute(proxy, token, "env_spy", {}), "env_spy", 1)
    daemon = proxy.aex.state["pid"]
    home = proxy.aex.home.resolve()

    names = set(spy["env"])
    secrets_named = {"MOCK_API_KEY", "DOTENV_API_KEY", *SECRET_ENV}
    assert not names & secrets_named, f"provider keys or tokens reached the worker: {names & secrets_named}"
    assert not [name for name in names if name.endswith("_API_KEY") or "TOKEN" in name.upper()], names
    assert spy["token_like"] == [], f"values that look like keys or tokens: {spy['token_like']}"

    cwd = Path(spy["cwd"])
    assert cwd.is_absolute() and cwd.resolve() != home, spy["cwd"]
    assert cwd.resolve() not in home.parents, f"the working folder contains AEX_HOME: {cwd}"
    assert cwd.resolve() != Path.cwd().resolve(), "not the folder the daemon was started from"
    if cwd.exists():
        mode = cwd.stat()
        assert mode.st_mode & 0o077 == 0 and mode.st_uid == os.getuid(), f"not private: {oct(mode.st_mode)}"

    assert spy["pgid"] == spy["pid"] and spy["pgid"] != _stat(daemon)[2], "the worker leads its own process group"
    assert spy["no_new_privs"] == 1, spy
    assert spy["pdeathsig"] > 0, "the worker dies with the daemon"
    limits = spy["rlimits"]
    memory = [value for value in (limits["as"], limits["data"]) if value >= 0]
    assert memory and min(memory) <= MEMORY_MAX_DEFAULT, f"no memory limit: {limits}"
    assert limits["cpu"] >= 0 and limits["nofile"] >= 0, f"unlimited: {limits}"
    if os.getuid() != 0:    # root is not held by RLIMIT_NPROC, so a worker of root may go without it
        assert limits["nproc"] >= 0, f"unlimited: {limits}"
    if alive(spy["pid"]):
        assert "__tool-worker" in cmdline(spy["pid"]), cmdline(spy["pid"])
    settled(proxy, "bot", 1)


def test_the_worker_memory_limit_is_a_setting(proxy_with, tool_libs):
    limit = 128 * 1024 * 1024
    proxy = proxy_with({"AEX_TOOL_WORKER_MEMORY_BYTES_MAX": str(limit)})
    install(proxy, tool_libs["tspy"])
    install(proxy, tool_libs["thog"])
    token = proxy.agent("bot", "1")
    limits = succeeded(execute(proxy, token, "env_spy", {}), "env_spy", 1)["rlimits"]
    memory = [value for value in (limits["as"], limits["data"]) if value >= 0]
    assert memory and min(memory) == limit, limits
    failed(execute(proxy, token, "hog", {"tag": new_tag()}), 502, "tool_failed")
    assert succeeded(execute(proxy, token, "calculator", {"expression": "7*6"}), "calculator",
                     prices(proxy, token)["calculator"]) == {"result": "42"}, "the bundled tools work under it"


# ----------------------------------------------------------------------------------- money exactness

def test_the_budget_is_exact_over_a_hundred_calls(proxy, tool_libs):
    install(proxy, tool_libs["ctools"])
    listed = prices(proxy, proxy.agent("lister", "1"))
    # 30 cheap (price 20, cost 3) first, then 30 current_time, then 40 calculator: the budget is their
    # exact sum, so the last call takes the last micro-dollar and the next is refused.
    plan = [("cheap", {}, 3)] * 30 + [("current_time", {}, listed["current_time"])] * 30 + \
           [("calculator", {"expression": f"{i}+{i}"}, listed["calculator"]) for i in range(40)]
    budget = sum(cost for _, _, cost in plan)
    token = proxy.agent("bot", usd(budget))
    spent = 0
    for tool, arguments, cost in plan:
        answer = execute(proxy, token, tool, arguments)
        succeeded(answer, tool, cost)
        spent += cost
        assert answer.headers["x-aex-budget-remaining-micro"] == str(budget - spent), (tool, spent)
    settled(proxy, "bot", budget)
    assert proxy.balance("bot")["remaining_micro"] == 0
    refused_execute(proxy, "bot", token, 402, "budget_exceeded", tool_name="current_time", arguments={})
    commits = events(proxy, "commit", "bot")
    assert len(commits) == 100 and sum(event["payload"]["cost_micro"] for event in commits) == budget
    ledger_verifies(proxy)


def test_fifty_concurrent_calculator_calls_all_succeed_and_are_charged_exactly(proxy):
    token = proxy.agent("bot", "1")
    price = prices(proxy, token)["calculator"]
    with ThreadPoolExecutor(max_workers=50) as pool:
        answers = list(pool.map(
            lambda i: execute(proxy, token, "calculator", {"expression": f"{i}*3+0.5"}, timeout=60), range(50)))
    for i, answer in enumerate(answers):
        assert succeeded(answer, "calculator", price) == {"result": f"{i * 3}.5"}
    assert len({answer.headers["x-aex-execution-id"] for answer in answers}) == 50
    settled(proxy, "bot", 50 * price)
    assert len(events(proxy, "commit", "bot")) == 50
    ledger_verifies(proxy)


def test_concurrent_calls_never_spend_more_than_the_budget(proxy):
    price = prices(proxy, proxy.agent("lister", "1"))["calculator"]
    token = proxy.agent("bot", usd(20 * price))
    with ThreadPoolExecutor(max_workers=50) as pool:
        answers = list(pool.map(lambda i: execute(proxy, token, "calculator", {"expression": str(i)}, timeout=60),
                                range(50)))
    statuses = sorted(answer.status for answer in answers)
    assert statuses == [200] * 20 + [402] * 30, statuses
    assert all(answer.error["code"] == "budget_exceeded" for answer in answers if answer.status == 402)
    settled(proxy, "bot", 20 * price)
    ledger_verifies(proxy)


# ----------------------------------------------------------------------------------- idempotency

def test_an_execution_id_replays_the_first_answer_without_running_again(proxy, tool_libs):
    install(proxy, tool_libs["ctools"])
    token = proxy.agent("bot", "1")
    first = execute(proxy, token, "nonce", {}, execution_id="job-1")
    succeeded(first, "nonce", 2, execution_id="job-1")
    assert REPLAY not in first.headers
    settled(proxy, "bot", 2)

    same_body_spelled_otherwise = b'{ "execution_id" : "job-1",\n "arguments" : { }, "tool_name" : "nonce" }'
    for again in (execute(proxy, token, "nonce", {}, execution_id="job-1"),
                  execute(proxy, token, body=same_body_spelled_otherwise)):
        assert again.replayed, again.headers
        assert again.status == 200 and again.body == first.body, "the stored answer, byte for byte"
        assert again.headers["x-aex-execution-id"] == first.headers["x-aex-execution-id"]
        assert again.headers["x-aex-cost-micro"] == first.headers["x-aex-cost-micro"]
    settled(proxy, "bot", 2)
    assert len(events(proxy, "reservation", "bot")) == 1, "a replay reserves nothing"

    fresh = execute(proxy, token, "nonce", {})
    assert succeeded(fresh, "nonce", 2) != first.json["result"], "without an execution_id the tool runs again"
    assert not fresh.replayed and fresh.json["execution_id"] != "job-1"
    other = proxy.agent("other", "1")
    theirs = execute(proxy, other, "nonce", {}, execution_id="job-1")
    assert not theirs.replayed and succeeded(theirs, "nonce", 2, execution_id="job-1") != first.json["result"], \
        "an execution_id is scoped to its agent"
    settled(proxy, "bot", 4)
    settled(proxy, "other", 2)


def test_an_execution_id_with_a_different_body_is_409(proxy):
    token = proxy.agent("bot", "1")
    price = prices(proxy, token)["calculator"]
    first = execute(proxy, token, "calculator", {"expression": "1+1"}, execution_id="calc-1")
    assert succeeded(first, "calculator", price, execution_id="calc-1") == {"result": "2"}
    for tool, arguments in (("calculator", {"expression": "1+2"}), ("current_time", {})):
        answer = refused_execute(proxy, "bot", token, 409, "idempotency_key_reused",
                                 tool_name=tool, arguments=arguments, execution_id="calc-1")
        assert not answer.replayed
    again = execute(proxy, token, "calculator", {"expression": "1+1"}, execution_id="calc-1")
    assert again.replayed and again.body == first.body, "the stored answer is kept"
    settled(proxy, "bot", price)


def test_a_failed_execution_is_not_stored_and_may_be_retried(proxy):
    token = proxy.agent("bot", "1")
    for _ in range(2):
        answer = execute(proxy, token, "calculator", {"expression": "1/0"}, execution_id="div")
        failed(answer, 502, "tool_failed")
        assert not answer.replayed
    assert wait_until(lambda: len(events(proxy, "release", "bot")) == 2, 5), "the retry ran"
    settled(proxy, "bot", 0)


# ------------------------------------------------------------------------------ crash and shutdown

def test_a_daemon_killed_during_a_tool_call_charges_it_as_recovered(proxy, tool_libs):
    install(proxy, tool_libs["tstall"])
    token = proxy.agent("bot", "1")
    price = prices(proxy, token)["stall"]
    tag = new_tag()
    thread, box = in_background(lambda: execute(proxy, token, "stall", {"tag": tag}, timeout=90))
    assert wait_until(lambda: [r["dispatched"] for r in open_reservations(proxy, "bot")] == [1], 10), \
        f"the call is reserved and dispatched: {open_reservations(proxy, 'bot')}"
    assert wait_until(lambda: tagged(tag), 10), "the call runs in a worker"
    (reservation,) = open_reservations(proxy, "bot")
    assert reservation["amount_micro"] == price, reservation
    daemon = proxy.aex.state["pid"]
    doomed = set(tagged(tag)) | set(tool_workers(proxy, daemon))

    os.kill(daemon, signal.SIGKILL)
    assert wait_until(lambda: not alive(daemon), 5), "the daemon did not die"
    assert wait_until(lambda: not any(alive(pid) for pid in doomed), 5), \
        f"workers outlived the daemon: {[pid for pid in doomed if alive(pid)]}"
    thread.join(10)
    assert not thread.is_alive() and ("error" in box or box["result"].status != 200), box

    proxy.aex.start()
    assert open_reservations(proxy, "bot") == []
    row = execution(proxy, reservation["execution_id"])
    assert (row["state"], row["cost_micro"], row["recovered"]) == ("COMMITTED", price, 1), row
    recoveries = [e for e in events(proxy, "recovery", "bot") if e["execution_id"] == reservation["execution_id"]]
    assert [(e["payload"]["decision"], e["payload"]["amount_micro"]) for e in recoveries] == [("charged", price)], \
        recoveries
    settled(proxy, "bot", price)
    ledger_verifies(proxy)
    assert succeeded(execute(proxy, token, "stall_ping", {}), "stall_ping", 1) == {"pong": True}
    settled(proxy, "bot", price + 1)


def test_stopping_the_daemon_leaves_no_worker(proxy, tool_libs):
    install(proxy, tool_libs["ctools"])
    install(proxy, tool_libs["tforker"])
    token = proxy.agent("bot", "1")
    listed = prices(proxy, token)
    succeeded(execute(proxy, token, "calculator", {"expression": "1+1"}), "calculator", listed["calculator"])
    succeeded(execute(proxy, token, "echo_args", {"text": "x"}), "echo_args", 7)
    tag = new_tag()
    failed(execute(proxy, token, "forker", {"tag": tag}), 504, "tool_timeout")
    succeeded(execute(proxy, token, "forker_ping", {}), "forker_ping", 1)
    daemon = proxy.aex.state["pid"]
    workers = tool_workers(proxy, daemon)
    assert workers, "the calls ran in `aex __tool-worker` processes kept in the pools"

    proxy.aex.stop()
    assert wait_until(lambda: not alive(daemon), 10), "the daemon did not exit"
    assert wait_until(lambda: not any(alive(pid) for pid in workers) and not tool_workers(proxy, daemon), 10), \
        f"workers outlived the daemon: {[(pid, cmdline(pid)) for pid in workers if alive(pid)]}"
    assert not tagged(tag), "the forked grandchild outlived the daemon"
