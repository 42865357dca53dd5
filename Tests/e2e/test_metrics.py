"""Observability (SPEC §14) end to end on the real daemon in front of the mock provider
(mock_provider.py): `GET /metrics` parsed by the reference Prometheus parser (prometheus_client)
and checked to the unit after known traffic (calls, streams, refusals of every kind, a tool call);
bounded labels (never a token, a prompt or a client-chosen model name); the admin token required;
a scrape with 1,000 agents in under 50 ms; `aex metrics [--json]`; `GET /admin/activity` (newest
first, limit, agent, after_seq, bad input) and its live feed (delivery within 250 ms, backlog
replay, 32 subscribers at most, a subscriber that never reads is dropped without the daemon's
memory growing); `GET /admin/status`.

Every test fails on a daemon without the feature: it asserts statuses and exact values."""
import http.client
import json
import math
import re
import secrets
import socket
import statistics
import threading
import time
from datetime import datetime

import openai
import pytest
from prometheus_client.parser import text_string_to_metric_families

from conftest import Aex, wait_until
from test_proxy import (  # noqa: F401  (fixtures)
    MOCK_KEY, Proxy, _stopping, _wait_for_stopping_daemons, chat, dead_port, mock, mock_server, proxy,
)

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
CHAT_COST = 35                       # the mock's usage (10, 5) at chat-model's prices (2, 3)
CALCULATOR_PRICE = 10
CHAT, TOOLS = "chat/completions", "tools/execute"

FAMILIES = {
    "aex_requests_total": "counter", "aex_tokens_total": "counter", "aex_spend_micro_usd_total": "counter",
    "aex_request_duration_seconds": "histogram", "aex_upstream_duration_seconds": "histogram",
    "aex_denials_total": "counter", "aex_rate_limited_total": "counter", "aex_tool_calls_total": "counter",
    "aex_agent_budget_micro_usd": "gauge", "aex_agent_spent_micro_usd": "gauge",
    "aex_agent_budget_reserved_micro_usd": "gauge", "aex_agent_budget_remaining_micro_usd": "gauge",
    "aex_agent_requests_last_minute": "gauge", "aex_agent_rpm": "gauge",
    "aex_agent_burn_rate_micro_usd_per_hour": "gauge", "aex_agent_budget_exhaustion_seconds": "gauge",
    "aex_in_flight_calls": "gauge", "aex_open_connections": "gauge", "aex_runs_active": "gauge",
    "aex_ledger_events_total": "counter", "aex_ledger_commits_total": "counter",
    "aex_ledger_commit_duration_seconds": "histogram",
    "process_resident_memory_bytes": "gauge", "process_cpu_seconds_total": "counter", "process_open_fds": "gauge",
    "process_start_time_seconds": "gauge",
}
AGENT_GAUGES = {
    "aex_agent_budget_micro_usd": "budget_micro", "aex_agent_spent_micro_usd": "spent_micro",
    "aex_agent_budget_reserved_micro_usd": "reserved_micro", "aex_agent_budget_remaining_micro_usd": "remaining_micro",
    "aex_agent_rpm": "rpm",
}
LABEL_NAMES = {"agent", "model", "endpoint", "status", "kind", "reason", "tool", "outcome", "le"}
# Samples that move by themselves between two scrapes (the scrape itself, the process).
VOLATILE = re.compile(r"^(process_|aex_open_connections$|aex_ledger_commit)")


# ------------------------------------------------------------------------------------------ scraping

class Exposition:
    """One scrape, parsed by prometheus_client's parser (which must accept all of it)."""

    def __init__(self, text):
        self.text = text
        self.families = list(text_string_to_metric_families(text))
        self.samples = [(s.name, dict(s.labels), s.value) for family in self.families for s in family.samples]
        self.types = dict(re.findall(r"^# TYPE (\S+) (\S+)$", text, re.M))

    def all(self, name, **labels):
        """{frozenset(labels): value} of the samples named `name` whose labels include `labels`."""
        return {frozenset(found.items()): value for sample, found, value in self.samples
                if sample == name and all(found.get(k) == v for k, v in labels.items())}

    def get(self, name, **labels):
        """The value of the one sample with exactly these labels (None when absent)."""
        wanted = frozenset(labels.items())
        for sample, found, value in self.samples:
            if sample == name and frozenset(found.items()) == wanted:
                return value
        return None

    def total(self, name, **labels):
        return sum(self.all(name, **labels).values())

    def by(self, name, label, **labels):
        """{value of `label`: sample value} (the samples must differ in that label only)."""
        out = {}
        for key, value in self.all(name, **labels).items():
            item = dict(key)[label]
            assert item not in out, f"{name}: two samples for {label}={item!r}"
            out[item] = value
        return out

    def keyed(self):
        return {(name, frozenset(labels.items())): value for name, labels, value in self.samples}


def get(port, path, token=None, timeout=10):
    """One GET on its own connection: (status, lower-case headers, body bytes)."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        headers = {} if token is None else {"Authorization": f"Bearer {token}"}
        connection.request("GET", path, headers=headers)
        response = connection.getresponse()
        return response.status, {k.lower(): v for k, v in response.getheaders()}, response.read()
    finally:
        connection.close()


def scrape(aex):
    status, headers, body = get(aex.port, "/metrics", aex.admin_token)
    assert status == 200, (status, body[:500])
    assert headers["content-type"] == CONTENT_TYPE, headers
    return Exposition(body.decode())


def activity(aex, query=""):
    status, _, body = get(aex.port, "/admin/activity" + query, aex.admin_token)
    assert status == 200, (query, status, body[:500])
    return json.loads(body)["events"]


def ledger_head(aex):
    text = aex.run("ledger", "head", check=0).stdout.strip()
    seq, digest = text.split(":")
    assert re.fullmatch(r"[0-9a-f]{64}", digest), text
    return int(seq), digest


def quiet_ledger(aex, timeout=5):
    """Waits until the ledger stops moving (denials are written after their answer); its head."""
    last = [None]

    def still():
        head = ledger_head(aex)
        same, last[0] = head == last[0], head
        if not same:
            time.sleep(0.1)
        return same

    assert wait_until(still, timeout, 0.05), "the ledger kept moving"
    return last[0]


def execute_tool(proxy, token, expression="1+2"):
    code, headers, body = proxy.http("POST", "/v1/tools/execute", token=token,
                                     body={"tool_name": "calculator", "arguments": {"expression": expression}})
    assert code == 200, (code, body)
    assert body["cost_micro"] == CALCULATOR_PRICE, body
    return body


def refused(call, status, code):
    with pytest.raises(openai.APIStatusError) as info:
        call()
    assert info.value.status_code == status and info.value.code == code, (info.value.status_code, info.value.body)


def process_status(pid, field):
    with open(f"/proc/{pid}/status") as text:
        for line in text:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise AssertionError(f"no {field} for {pid}")


def traffic(proxy):
    """The known traffic of the tests that check values. Agents: alpha (10 USD, rpm 100000) makes 3
    chats, 2 streamed chats and a calculator call, and is refused an unknown model; slow (rpm 1)
    makes one chat and is then rate-limited; poor (budget 0) is refused for budget; idle does
    nothing; an unknown token is refused. Returns the tokens."""
    tokens = {"alpha": proxy.agent("alpha", "10", "100000"), "slow": proxy.agent("slow", "10", "1"),
              "poor": proxy.agent("poor", "0", "100"), "idle": proxy.agent("idle", "5", "60")}
    alpha = proxy.client(tokens["alpha"])
    for _ in range(3):
        assert chat(alpha).usage.completion_tokens == 5
    for _ in range(2):
        assert list(chat(alpha, stream=True)), "a streamed answer"
    refused(lambda: chat(alpha, model="no-such-model"), 403, "model_not_allowed")
    refused(lambda: chat(proxy.client(tokens["poor"])), 402, "budget_exceeded")
    slow = proxy.client(tokens["slow"])
    chat(slow)
    refused(lambda: chat(slow), 429, "rate_limit_exceeded")
    refused(lambda: chat(proxy.client("aex_" + "Q" * 44)), 401, "invalid_api_key")
    execute_tool(proxy, tokens["alpha"])
    return tokens


def settled(aex, requests, denials):
    """Waits until the metrics count `requests` settled calls and `denials` refusals; the scrape."""
    box = {}

    def done():
        box["m"] = scrape(aex)
        return box["m"].total("aex_requests_total") == requests and box["m"].total("aex_denials_total") == denials

    wait_until(done, 5, 0.05)
    return box["m"]


# ------------------------------------------------------------------------------------------- /metrics

def test_metrics_count_known_traffic_exactly(proxy):
    aex = proxy.aex
    traffic(proxy)
    m = settled(aex, 7, 4)
    head_seq, _ = quiet_ledger(aex)
    m = scrape(aex)

    # Every family is declared with its type.
    for name, kind in FAMILIES.items():
        assert m.types.get(name) == kind, f"# TYPE {name} {kind} missing: {m.types.get(name)}"

    # Settled calls by agent, model, endpoint, status class: refusals are not settled calls.
    assert m.all("aex_requests_total") == {
        frozenset({"agent": "alpha", "model": "chat-model", "endpoint": CHAT, "status": "2xx"}.items()): 5,
        frozenset({"agent": "alpha", "model": "calculator", "endpoint": TOOLS, "status": "2xx"}.items()): 1,
        frozenset({"agent": "slow", "model": "chat-model", "endpoint": CHAT, "status": "2xx"}.items()): 1,
    }
    assert m.by("aex_tokens_total", "kind", agent="alpha", model="chat-model") == {"prompt": 50, "completion": 25}
    assert m.by("aex_tokens_total", "kind", agent="slow", model="chat-model") == {"prompt": 10, "completion": 5}
    assert m.total("aex_tokens_total", kind="prompt") == 60 and m.total("aex_tokens_total", kind="completion") == 30
    assert m.by("aex_spend_micro_usd_total", "model", agent="alpha") == {"chat-model": 5 * CHAT_COST,
                                                                         "calculator": CALCULATOR_PRICE}
    assert m.by("aex_spend_micro_usd_total", "model", agent="slow") == {"chat-model": CHAT_COST}
    assert not m.all("aex_spend_micro_usd_total", agent="poor") and not m.all("aex_spend_micro_usd_total", agent="idle")

    # Refusals by agent and reason (the error code); a refused credential has no agent.
    assert m.all("aex_denials_total") == {
        frozenset({"agent": "alpha", "reason": "model_not_allowed"}.items()): 1,
        frozenset({"agent": "poor", "reason": "budget_exceeded"}.items()): 1,
        frozenset({"agent": "slow", "reason": "rate_limit_exceeded"}.items()): 1,
        frozenset({"agent": "", "reason": "invalid_api_key"}.items()): 1,
    }
    assert m.all("aex_rate_limited_total") == {frozenset({"agent": "slow"}.items()): 1}
    assert m.all("aex_tool_calls_total") == {frozenset({"tool": "calculator", "outcome": "ok"}.items()): 1}

    # Per-agent gauges: what `aex agent inspect --json` says, the rate window, the burn rate.
    expected_spent = {"alpha": 5 * CHAT_COST + CALCULATOR_PRICE, "slow": CHAT_COST, "poor": 0, "idle": 0}
    expected_minute = {"alpha": 6, "slow": 1, "poor": 0, "idle": 0}
    for name in ("alpha", "slow", "poor", "idle"):
        inspected = proxy.inspect(name)
        assert inspected["spent_micro"] == expected_spent[name], inspected
        for family, field in AGENT_GAUGES.items():
            assert m.get(family, agent=name) == inspected[field], (family, name, m.get(family, agent=name), inspected)
        assert m.total("aex_spend_micro_usd_total", agent=name) == inspected["spent_micro"], name
        assert m.get("aex_agent_requests_last_minute", agent=name) == expected_minute[name], name
        assert m.get("aex_agent_burn_rate_micro_usd_per_hour", agent=name) == inspected["spent_micro"], name
        exhaustion = m.get("aex_agent_budget_exhaustion_seconds", agent=name)
        if inspected["remaining_micro"] == 0:
            assert exhaustion == 0, (name, exhaustion)
        elif inspected["spent_micro"] == 0:
            assert exhaustion == math.inf, (name, exhaustion)
        else:
            expected = inspected["remaining_micro"] / inspected["spent_micro"] * 3600
            assert abs(exhaustion - expected) <= 1, (name, exhaustion, expected)
    assert m.get("aex_agent_budget_exhaustion_seconds", agent="poor") == 0
    assert m.get("aex_agent_budget_exhaustion_seconds", agent="idle") == math.inf
    assert set(m.by("aex_agent_budget_micro_usd", "agent")) == {"alpha", "slow", "poor", "idle"}

    # Histograms: one observation per settled call, cumulative buckets ending at +Inf = count.
    for family in ("aex_request_duration_seconds", "aex_upstream_duration_seconds"):
        assert m.by(family + "_count", "endpoint") == {CHAT: 6, TOOLS: 1}, family
        for endpoint, count in ((CHAT, 6), (TOOLS, 1)):
            buckets = sorted(((float(dict(k)["le"]), v) for k, v in m.all(family + "_bucket", endpoint=endpoint).items()))
            assert buckets[-1] == (math.inf, count), (family, buckets)
            assert all(a[1] <= b[1] for a, b in zip(buckets, buckets[1:])), (family, buckets)
            assert 0 < m.get(family + "_sum", endpoint=endpoint) < 60, family
    commits = m.get("aex_ledger_commit_duration_seconds_count")
    assert commits >= 1 and m.get("aex_ledger_commit_duration_seconds_bucket", le="+Inf") == commits
    assert m.get("aex_ledger_commits_total") >= 1

    # The ledger: events = the head's sequence number.
    assert m.get("aex_ledger_events_total") == head_seq == ledger_head(aex)[0]

    # At rest nothing is in flight; no run is active; the scrape's own connection is open.
    assert m.get("aex_in_flight_calls") == 0
    assert m.get("aex_runs_active") == 0
    assert m.get("aex_open_connections") >= 1

    # The process.
    pid = aex.state["pid"]
    rss = m.get("process_resident_memory_bytes")
    vm_rss = process_status(pid, "VmRSS") * 1024
    assert 1 << 20 < rss and vm_rss / 2 < rss < vm_rss * 2, (rss, vm_rss)
    assert m.get("process_cpu_seconds_total") > 0
    assert m.get("process_open_fds") > 3
    started = datetime.fromisoformat(aex.state["started_at"].replace("Z", "+00:00")).timestamp()
    start_time = m.get("process_start_time_seconds")
    assert started - 5 <= start_time <= time.time() and abs(start_time - started) < 5, (start_time, started)


def test_in_flight_calls_while_the_provider_holds_a_call(proxy):
    aex = proxy.aex
    client = proxy.client(proxy.agent("holder", "10", "1000"))
    assert scrape(aex).get("aex_in_flight_calls") == 0
    seen = proxy.mock.count
    proxy.mock.hold()
    box = {}
    thread = threading.Thread(target=lambda: box.update(result=chat(client)))
    thread.start()
    try:
        assert proxy.mock.wait_for(seen + 1, 10), "the call never reached the provider"
        m = scrape(aex)
        assert m.get("aex_in_flight_calls") >= 1
        reserved = m.get("aex_agent_budget_reserved_micro_usd", agent="holder")
        assert reserved > 0 and reserved == proxy.balance("holder")["reserved_micro"], reserved
        assert not m.all("aex_requests_total"), "an unsettled call is not counted yet"
    finally:
        proxy.mock.release()
        thread.join(20)
    assert "result" in box
    m = settled(aex, 1, 0)
    assert m.get("aex_in_flight_calls") == 0
    assert m.get("aex_agent_budget_reserved_micro_usd", agent="holder") == 0
    assert m.get("aex_agent_spent_micro_usd", agent="holder") == CHAT_COST


def test_labels_never_carry_a_token_a_prompt_or_a_clients_model_name(proxy):
    aex = proxy.aex
    token = proxy.agent("labels", "10", "1000")
    client = proxy.client(token)
    prompt = "metrics-canary-prompt-" + secrets.token_hex(8)
    model = "canary-model-" + secrets.token_hex(8)
    bad_token = "aex_" + secrets.token_hex(22)
    chat(client, messages=[{"role": "user", "content": prompt}])
    assert list(chat(client, messages=[{"role": "user", "content": prompt}], stream=True))
    refused(lambda: chat(client, model=model, messages=[{"role": "user", "content": prompt}]), 403, "model_not_allowed")
    refused(lambda: chat(proxy.client(bad_token), messages=[{"role": "user", "content": prompt}]), 401, "invalid_api_key")
    m = settled(aex, 2, 2)
    cli = aex.run("metrics", "--json", check=0).stdout
    for text in (m.text, cli):
        for secret in (token, token[4:], token[4:16], prompt, model, bad_token, bad_token[4:], MOCK_KEY, aex.admin_token):
            assert secret not in text, f"{secret!r} appears in the exposition"
    allowed = {"agent": {"", "labels"}, "model": {"chat-model"}, "endpoint": {CHAT}, "status": {"2xx", "4xx", "5xx"},
               "kind": {"prompt", "completion"}}
    for name, labels, _ in m.samples:
        assert set(labels) <= LABEL_NAMES, (name, labels)
        for label, value in labels.items():
            if label in allowed:
                assert value in allowed[label], (name, labels)
            elif label == "reason":
                assert re.fullmatch(r"[a-z_]+", value), (name, labels)


@pytest.mark.parametrize("header", [None, "Bearer wrong-token", "Basic YWRtaW46YWRtaW4=", "Bearer "])
def test_metrics_needs_the_admin_token(proxy, header):
    connection = http.client.HTTPConnection("127.0.0.1", proxy.port, timeout=10)
    connection.request("GET", "/metrics", headers={} if header is None else {"Authorization": header})
    response = connection.getresponse()
    body = response.read()
    connection.close()
    assert response.status == 401, (response.status, body[:300])
    assert b"# TYPE" not in body
    assert json.loads(body)["error"]["code"] in ("missing_api_key", "invalid_api_key"), body


def test_an_agent_token_is_refused_on_metrics(proxy):
    token = proxy.agent("intruder", "10", "1000")
    status, _, body = get(proxy.port, "/metrics", token)
    assert status == 401 and json.loads(body)["error"]["code"] == "invalid_api_key", (status, body)
    assert b"# TYPE" not in body
    status, _, _ = get(proxy.port, "/metrics", proxy.aex.admin_token)
    assert status == 200


def test_a_scrape_with_1000_agents_takes_under_50_ms(daemon):
    aex = daemon
    connection = http.client.HTTPConnection("127.0.0.1", aex.port, timeout=30)
    headers = {"Authorization": f"Bearer {aex.admin_token}", "Content-Type": "application/json"}
    for index in range(1, 1001):
        connection.request("POST", "/admin/agents", headers=headers,
                           body=json.dumps({"name": f"a{index:04d}", "budget_micro": 1_000_000 + index, "rpm": 60}))
        response = connection.getresponse()
        body = response.read()
        assert response.status == 201, (index, response.status, body)

    def timed():
        started = time.perf_counter()
        connection.request("GET", "/metrics", headers={"Authorization": f"Bearer {aex.admin_token}"})
        response = connection.getresponse()
        body = response.read()
        elapsed = time.perf_counter() - started
        assert response.status == 200
        return elapsed, body

    timed()   # warm-up
    runs = [timed() for _ in range(5)]
    connection.close()
    median = statistics.median(elapsed for elapsed, _ in runs)
    assert median < 0.05, f"median scrape {median * 1000:.1f} ms with 1,000 agents: {[round(e * 1000, 1) for e, _ in runs]}"
    print(f"median scrape {median * 1000:.1f} ms with 1,000 agents ({len(runs[-1][1])} bytes of exposition, debug build)")
    m = Exposition(runs[-1][1].decode())
    budgets = m.by("aex_agent_budget_micro_usd", "agent")
    assert len(budgets) == 1000 and budgets["a0001"] == 1_000_001 and budgets["a1000"] == 1_001_000
    for family in AGENT_GAUGES:
        assert len(m.all(family)) == 1000, family
    assert m.get("aex_agent_budget_exhaustion_seconds", agent="a0500") == math.inf


# ---------------------------------------------------------------------------------------- aex metrics

def test_aex_metrics_summary_and_json_match_the_scrape(proxy):
    aex = proxy.aex
    traffic(proxy)
    settled(aex, 7, 4)
    head_seq, _ = quiet_ledger(aex)

    human = aex.run("metrics", check=0)
    assert human.stderr == "", human.stderr
    lines = human.stdout.splitlines()
    header = next(line for line in lines if line.split()[:1] == ["AGENT"])
    assert "SPENT" in header and "REMAINING" in header, header
    rows = {line.split()[0]: line for line in lines if line.split()[:1] and line.split()[0] in ("alpha", "slow", "poor", "idle")}
    assert set(rows) == {"alpha", "slow", "poor", "idle"}, human.stdout
    assert "6/100000" in rows["alpha"] and "1/1" in rows["slow"] and "0/60" in rows["idle"], rows
    assert "never" in rows["idle"], rows["idle"]
    assert "0.000185" in rows["alpha"], rows["alpha"]          # alpha's spend in dollars
    assert any(line.startswith("calls settled: 7 (2xx 7, 4xx 0, 5xx 0)") for line in lines), human.stdout
    assert "denials: 4 (rate limited 1); tool calls: 1" in lines, human.stdout
    assert any(line.startswith(f"ledger: {head_seq} events") for line in lines), human.stdout
    assert any(line.startswith("process: ") for line in lines), human.stdout

    m = scrape(aex)
    result = aex.run("metrics", "--json", check=0)
    samples = json.loads(result.stdout)
    assert isinstance(samples, list) and samples
    listed = {}
    fractional = 0
    for sample in samples:
        assert set(sample) == {"name", "labels", "value"}, sample
        value = sample["value"]
        # Whole values are JSON integers, +Inf is null, a fractional value is a JSON number.
        assert value is None or type(value) in (int, float), sample
        if type(value) is float:
            fractional += 1
            assert math.isfinite(value) and value != int(value), f"a whole value must be an integer: {sample}"
        listed[(sample["name"], frozenset(sample["labels"].items()))] = value
    scraped = m.keyed()
    assert set(listed) == set(scraped), set(listed) ^ set(scraped)
    for key, value in scraped.items():
        if VOLATILE.match(key[0]):
            continue
        expected = None if value == math.inf else value
        assert listed[key] == expected, (key, listed[key], value)
    assert fractional > 0, "no fractional sample (latency sums, CPU seconds) was listed"
    assert listed[("aex_agent_budget_exhaustion_seconds", frozenset({"agent": "idle"}.items()))] is None
    assert listed[("aex_spend_micro_usd_total", frozenset({"agent": "alpha", "model": "chat-model"}.items()))] == 175
    assert type(listed[("aex_requests_total", frozenset({"agent": "alpha", "model": "chat-model", "endpoint": CHAT,
                                                         "status": "2xx"}.items()))]) is int


def test_aex_metrics_without_a_daemon_fails(aex):
    for args in (("metrics",), ("metrics", "--json")):
        result = aex.run(*args)
        assert result.returncode == 1, (args, result.returncode, result.stdout, result.stderr)
        assert result.stderr.strip() and result.stdout == "", (args, result.stdout, result.stderr)


# ------------------------------------------------------------------------------------- /admin/activity

def test_activity_lists_the_latest_events_newest_first_with_filters(proxy):
    aex = proxy.aex
    first = proxy.client(proxy.agent("first", "10", "100000"))
    second = proxy.client(proxy.agent("second", "10", "100000"))
    executions = []
    for index in range(30):
        raw = (first if index % 3 else second).chat.completions.with_raw_response.create(
            model="chat-model", messages=[{"role": "user", "content": "hi"}])
        executions.append(raw.headers["x-aex-execution-id"])
    head_seq, _ = quiet_ledger(aex)
    assert head_seq > 60

    latest = activity(aex)
    assert len(latest) == 50, "default limit 50"
    for event in latest:
        assert set(event) == {"seq", "ts", "type", "agent", "execution_id", "payload"}, event
        assert isinstance(event["payload"], dict) and re.match(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d", event["ts"]), event
    seqs = [event["seq"] for event in latest]
    assert seqs == list(range(head_seq, head_seq - 50, -1)), seqs
    newest = latest[0]
    assert newest["type"] == "commit" and newest["execution_id"] == executions[-1] and newest["agent"] == "first", newest
    everything = activity(aex, "?limit=1000")
    assert [event["seq"] for event in everything] == list(range(head_seq, 0, -1))
    assert everything[:50] == latest
    assert activity(aex, "?limit=5000") == everything, "a limit above 1000 is capped, not refused"
    assert activity(aex, "?limit=3") == latest[:3]
    assert activity(aex, "?limit=1") == latest[:1]

    mine = activity(aex, "?agent=second&limit=1000")
    assert mine == [event for event in everything if event["agent"] == "second"] and len(mine) >= 21, mine[:3]
    assert activity(aex, "?agent=second&limit=4") == mine[:4]
    assert activity(aex, "?agent=nobody") == []

    after = head_seq - 7
    assert activity(aex, f"?after_seq={after}") == everything[:7]
    assert activity(aex, f"?after_seq={after}&limit=2") == everything[:2], "the latest ones after it, newest first"
    assert activity(aex, f"?after_seq={after}&agent=second") == [e for e in everything[:7] if e["agent"] == "second"]
    assert activity(aex, f"?after_seq={head_seq}") == []

    commits = {event["execution_id"]: event for event in everything if event["type"] == "commit"}
    assert set(executions) <= set(commits), "every call's commit is listed"
    assert commits[executions[0]]["agent"] == "second" and commits[executions[0]]["payload"]

    for query in ("?limit=0", "?limit=-1", "?limit=abc", "?limit=", "?limit=1.5", "?after_seq=abc", "?after_seq=-1"):
        status, _, body = get(aex.port, "/admin/activity" + query, aex.admin_token)
        assert status == 400, (query, status, body)
        assert json.loads(body)["error"]["code"] == "invalid_request", (query, body)
    token = proxy.agent("outsider", "1", "10")
    for credential in (None, "wrong", token):
        status, _, _ = get(aex.port, "/admin/activity", credential)
        assert status == 401, credential


class Feed:
    """A subscriber to `GET /admin/activity?stream=1...` read on a thread: events with their
    arrival time (time.monotonic()), comments, and whether the stream ended."""

    def __init__(self, aex, query=""):
        self.connection = http.client.HTTPConnection("127.0.0.1", aex.port, timeout=30)
        self.connection.request("GET", "/admin/activity?stream=1" + query,
                                headers={"Authorization": f"Bearer {aex.admin_token}"})
        self.response = self.connection.getresponse()
        self.status = self.response.status
        self.headers = {k.lower(): v for k, v in self.response.getheaders()}
        self.events, self.comments, self.ended, self.errors = [], [], False, []
        self._lock = threading.Lock()
        if self.status == 200:
            self.thread = threading.Thread(target=self._read, daemon=True)
            self.thread.start()
        else:
            self.body = self.response.read()

    def _read(self):
        fields = []
        try:
            while True:
                line = self.response.readline()
                if not line:
                    self.ended = True
                    return
                line = line.decode().rstrip("\n")
                if line:
                    fields.append(line)
                    continue
                arrived = time.monotonic()
                comment = [f for f in fields if f.startswith(":")]
                data = [f[len("data: "):] for f in fields if f.startswith("data: ")]
                ids = [f[len("id: "):] for f in fields if f.startswith("id: ")]
                fields = []
                with self._lock:
                    self.comments += comment
                    if data:
                        event = json.loads("\n".join(data))
                        if ids != [str(event["seq"])]:
                            self.errors.append(f"id {ids} for seq {event['seq']}")
                        self.events.append((arrived, event))
        except Exception as error:  # noqa: BLE001 — read by the test
            if not self.closing:
                self.errors.append(repr(error))

    closing = False

    def seen(self):
        with self._lock:
            return [event for _, event in self.events]

    def arrival(self, predicate):
        with self._lock:
            return next((at for at, event in self.events if predicate(event)), None)

    def close(self):
        self.closing = True
        try:
            self.connection.sock and self.connection.sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self.connection.close()


@pytest.fixture
def feeds():
    opened = []

    def open_feed(aex, query=""):
        opened.append(Feed(aex, query))
        return opened[-1]

    yield open_feed
    for feed in opened:
        feed.close()


def test_the_live_feed_delivers_each_event_within_250_ms(proxy, feeds):
    aex = proxy.aex
    client = proxy.client(proxy.agent("live", "10", "100000"))
    feed = feeds(aex)
    assert feed.status == 200 and feed.headers["content-type"].startswith("text/event-stream"), feed.headers
    # The subscription is live once an event made after it arrives.
    proxy.agent("warmup", "1", "10")
    assert wait_until(lambda: any(e["agent"] == "warmup" for e in feed.seen()), 5), feed.seen()

    latencies = []
    for _ in range(7):
        raw = client.chat.completions.with_raw_response.create(model="chat-model", messages=[{"role": "user", "content": "x"}])
        answered = time.monotonic()
        execution = raw.headers["x-aex-execution-id"]
        assert wait_until(lambda: feed.arrival(lambda e: e["type"] == "commit" and e["execution_id"] == execution), 5), \
            f"no commit event for {execution}"
        latencies.append(feed.arrival(lambda e: e["type"] == "commit" and e["execution_id"] == execution) - answered)
    assert statistics.median(latencies) <= 0.25, [round(x, 3) for x in latencies]
    assert max(latencies) <= 1.0, [round(x, 3) for x in latencies]

    head_seq, _ = quiet_ledger(aex)
    time.sleep(0.3)
    seqs = [event["seq"] for event in feed.seen()]
    assert seqs == sorted(set(seqs)) and seqs[-1] == head_seq, seqs
    assert seqs == list(range(seqs[0], head_seq + 1)), "every event, once, in order"
    assert feed.seen() == list(reversed(activity(aex, f"?after_seq={seqs[0] - 1}&limit=1000"))), \
        "the feed's events are the activity API's"
    assert not feed.errors and not feed.ended, feed.errors


def test_the_live_feed_replays_after_seq_and_filters_by_agent(proxy, feeds):
    aex = proxy.aex
    one = proxy.client(proxy.agent("one", "10", "100000"))
    two = proxy.client(proxy.agent("two", "10", "100000"))
    for _ in range(3):
        chat(one)
        chat(two)
    head_seq, _ = quiet_ledger(aex)
    after = head_seq - 9

    backlog = feeds(aex, f"&after_seq={after}")
    only_two = feeds(aex, f"&agent=two&after_seq={after}")
    live_two = feeds(aex, "&agent=two")
    assert (backlog.status, only_two.status, live_two.status) == (200, 200, 200)
    assert wait_until(lambda: len(backlog.seen()) >= 9, 5), backlog.seen()
    history = list(reversed(activity(aex, f"?after_seq={after}")))
    assert backlog.seen() == history and [e["seq"] for e in history] == list(range(after + 1, head_seq + 1))
    assert wait_until(lambda: only_two.seen() == [e for e in history if e["agent"] == "two"], 5), only_two.seen()

    chat(one)
    chat(two)
    new_head, _ = quiet_ledger(aex)
    assert wait_until(lambda: backlog.seen() and backlog.seen()[-1]["seq"] == new_head, 5), backlog.seen()[-3:]
    assert [e["seq"] for e in backlog.seen()] == list(range(after + 1, new_head + 1)), "backlog then live, no gap"
    new = list(reversed(activity(aex, f"?after_seq={head_seq}")))
    assert {e["agent"] for e in new} == {"one", "two"}
    assert wait_until(lambda: live_two.seen() == [e for e in new if e["agent"] == "two"], 5), live_two.seen()
    time.sleep(0.3)
    assert all(e["agent"] == "two" for e in only_two.seen() + live_two.seen())
    assert only_two.seen() == [e for e in history + new if e["agent"] == "two"]
    for feed in (backlog, only_two, live_two):
        assert not feed.errors and not feed.ended, feed.errors

    status, _, body = get(aex.port, "/admin/activity?stream=1&after_seq=x", aex.admin_token)
    assert status == 400, body
    status, _, _ = get(aex.port, "/admin/activity?stream=1")
    assert status == 401


def test_the_live_feed_refuses_a_33rd_subscriber(proxy, feeds):
    aex = proxy.aex
    subscribers = [feeds(aex) for _ in range(32)]
    assert [feed.status for feed in subscribers] == [200] * 32
    extra = Feed(aex)
    assert extra.status == 503, extra.status
    assert json.loads(extra.body)["error"]["code"] == "overloaded", extra.body
    extra.close()

    proxy.agent("witness", "1", "10")
    assert all(wait_until(lambda feed=feed: any(e["agent"] == "witness" for e in feed.seen()), 5) for feed in subscribers)

    subscribers[0].close()
    box = {}

    def admitted():
        feed = Feed(aex)
        if feed.status == 200:
            box["feed"] = feed
            return True
        feed.close()
        return False

    assert wait_until(admitted, 5, 0.1), "a subscriber leaving frees its place"
    box["feed"].close()
    assert scrape(aex).get("aex_in_flight_calls") == 0


def big_updates(aex, names=120):
    """`update(count)` PATCHes agent `big` with a new model list of `names` names (an agent_updated
    event of ~60 bytes per name), paced in groups so that no 100 ms poll of the feed carries more
    than ~0.5 MiB; returns the bytes of events made."""
    admin = {"Authorization": f"Bearer {aex.admin_token}", "Content-Type": "application/json"}
    connection = http.client.HTTPConnection("127.0.0.1", aex.port, timeout=30)
    assert get(aex.port, "/admin/agents/big", aex.admin_token)[0] == 200
    serial = [0]

    def update(count, group=40, pause=0.15):
        made = 0
        for index in range(count):
            serial[0] += 1
            models = [f"m{serial[0]:06d}-{name:04d}-" + "x" * 46 for name in range(names)]
            body = json.dumps({"models": models})
            connection.request("PATCH", "/admin/agents/big", body=body, headers=admin)
            response = connection.getresponse()
            answer = response.read()
            assert response.status == 200, (response.status, answer[:300])
            made += len(body)
            if index % group == group - 1:
                time.sleep(pause)
        return made

    return update, connection


def test_a_subscriber_that_never_reads_is_dropped_and_costs_bounded_memory(proxy, feeds):
    aex = proxy.aex
    proxy.agent("big", "10", "100")
    update, connection = big_updates(aex)
    update(400)          # the writer's and readers' steady state (caches, allocator), before measuring
    reader = feeds(aex)  # a subscriber that reads: keeps up, gets everything
    assert reader.status == 200
    time.sleep(0.3)
    baseline = scrape(aex).get("process_resident_memory_bytes")

    stuck = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    stuck.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    stuck.connect(("127.0.0.1", aex.port))
    stuck.sendall(f"GET /admin/activity?stream=1 HTTP/1.1\r\nHost: aex\r\nAuthorization: Bearer {aex.admin_token}\r\n\r\n".encode())
    try:
        time.sleep(0.3)
        first_seq = ledger_head(aex)[0]
        made = update(2400)     # ~18 MB of events
        head_seq, _ = quiet_ledger(aex)
        assert wait_until(lambda: reader.seen() and reader.seen()[-1]["seq"] == head_seq, 30), \
            ("the reader keeps up", reader.ended, reader.errors, reader.seen()[-1]["seq"] if reader.seen() else None, head_seq)
        assert not reader.ended and not reader.errors, reader.errors
        assert [e["seq"] for e in reader.seen() if e["seq"] > first_seq] == list(range(first_seq + 1, head_seq + 1))

        m = scrape(aex)
        grown = m.get("process_resident_memory_bytes") - baseline
        print(f"events {made / 1048576:.1f} MiB; resident memory grew {grown / 1048576:.1f} MiB")
        assert grown < 8 << 20, f"resident memory grew by {grown / 1048576:.1f} MiB with a subscriber that never reads " \
                                f"({made / 1048576:.1f} MiB of events)"
        status, _, _ = get(aex.port, "/metrics", aex.admin_token)
        assert status == 200

        # Its stream was ended: what it has not read yet, then the end of the stream and of the connection.
        stuck.settimeout(10)
        received = bytearray()
        deadline = time.monotonic() + 20
        eof = False
        while time.monotonic() < deadline:
            try:
                data = stuck.recv(1 << 16)
            except socket.timeout:
                break
            if not data:
                eof = True
                break
            received += data
        head, _, rest = bytes(received).partition(b"\r\n\r\n")
        print(f"the stuck subscriber received {len(rest)} bytes, eof {eof}; head {head!r}")
        assert head.startswith(b"HTTP/1.1 200"), head[:200]
        assert len(rest) < made / 2, f"{len(rest)} bytes: it was not dropped"
        assert rest.endswith(b"\r\n0\r\n\r\n"), f"the stream was not ended: ...{bytes(rest[-200:])!r}"
        assert eof, "the server did not close the dropped subscriber's connection"
    finally:
        stuck.close()
        connection.close()


def test_a_subscriber_that_reads_is_not_dropped_by_a_burst_of_events(proxy, feeds):
    """A subscriber reading as fast as it can keeps its stream when more than 1 MiB of events is
    appended at once (12 large updates committed together): only a subscriber whose *unsent*
    output passes 1 MiB is dropped, not one that reads."""
    aex = proxy.aex
    proxy.agent("big", "10", "100")
    update, connection = big_updates(aex, names=2000)      # ~120 KB per event
    reader = feeds(aex)
    assert reader.status == 200
    proxy.agent("ready", "1", "10")
    assert wait_until(lambda: any(e["agent"] == "ready" for e in reader.seen()), 5)
    try:
        first_seq = ledger_head(aex)[0]
        update(8, group=1000)                                # ~1 MB, one after the other
        # ~1.5 MB at once: 12 updates of 12 other agents on 12 connections together.
        body = json.dumps({"models": [f"burst-{name:05d}-" + "y" * 46 for name in range(2000)]})
        admin = {"Authorization": f"Bearer {aex.admin_token}", "Content-Type": "application/json"}
        for index in range(12):
            proxy.http("POST", "/admin/agents", token=aex.admin_token,
                       body={"name": f"burst{index}", "budget_micro": 1, "rpm": 1})
        first_seq = quiet_ledger(aex)[0]
        assert wait_until(lambda: reader.seen() and reader.seen()[-1]["seq"] == first_seq, 10), "caught up before"
        assert not reader.ended
        connections = [http.client.HTTPConnection("127.0.0.1", aex.port, timeout=30) for _ in range(12)]
        for index, other in enumerate(connections):
            other.connect()
        gate = threading.Barrier(12)

        def patch(index):
            gate.wait()
            connections[index].request("PATCH", f"/admin/agents/burst{index}", body=body, headers=admin)
            assert connections[index].getresponse().read()

        threads = [threading.Thread(target=patch, args=(index,)) for index in range(12)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(30)
        for other in connections:
            other.close()
        head_seq, _ = quiet_ledger(aex)
        wait_until(lambda: reader.ended or (reader.seen() and reader.seen()[-1]["seq"] == head_seq), 10)
        got = [e["seq"] for e in reader.seen() if e["seq"] > first_seq]
        assert not reader.ended, f"a reading subscriber was dropped after {len(got)} of {head_seq - first_seq} events"
        assert got == list(range(first_seq + 1, head_seq + 1)), got
    finally:
        connection.close()


# ---------------------------------------------------------------------------------------- /admin/status

def test_admin_status_reports_the_agents_and_tools(proxy):
    aex = proxy.aex
    tokens = traffic(proxy)
    settled(aex, 7, 4)
    head = quiet_ledger(aex)

    status, headers, body = get(aex.port, "/admin/status", aex.admin_token)
    assert status == 200 and headers["content-type"].startswith("application/json"), (status, headers)
    report = json.loads(body)
    assert set(report) >= {"version", "in_flight_calls", "open_connections", "runs_active", "ledger_head", "agents", "tools"}
    assert report["version"] == json.loads(get(aex.port, "/health")[2])["version"]
    assert report["in_flight_calls"] == 0 and report["runs_active"] == 0 and report["open_connections"] >= 1
    assert report["ledger_head"] == {"seq": head[0], "hash": head[1]}

    agents = {agent["name"]: agent for agent in report["agents"]}
    assert set(agents) == {"alpha", "slow", "poor", "idle"}
    minute = {"alpha": 6, "slow": 1, "poor": 0, "idle": 0}
    for name, agent in agents.items():
        assert set(agent) == {"name", "state", "budget_micro", "spent_micro", "reserved_micro", "remaining_micro", "rpm",
                              "requests_last_minute", "burn_rate_micro_per_hour", "budget_exhaustion_seconds"}, agent
        inspected = proxy.inspect(name)
        for field in ("state", "budget_micro", "spent_micro", "reserved_micro", "remaining_micro", "rpm"):
            assert agent[field] == inspected[field], (name, field, agent, inspected)
        assert agent["requests_last_minute"] == minute[name], agent
        assert agent["burn_rate_micro_per_hour"] == inspected["spent_micro"], agent
    assert agents["alpha"]["spent_micro"] == 5 * CHAT_COST + CALCULATOR_PRICE
    expected = agents["alpha"]["remaining_micro"] / agents["alpha"]["burn_rate_micro_per_hour"] * 3600
    exhaustion = agents["alpha"]["budget_exhaustion_seconds"]
    assert isinstance(exhaustion, int) and abs(exhaustion - expected) <= 1, (exhaustion, expected)
    assert agents["idle"]["budget_exhaustion_seconds"] is None
    assert agents["poor"]["budget_exhaustion_seconds"] == 0

    tools = {tool["name"]: tool for tool in report["tools"]}
    assert tools["calculator"] == {"name": "calculator", "plugin": "aex-tools", "price_micro": CALCULATOR_PRICE,
                                   "enabled": True}, tools
    assert tools["current_time"]["price_micro"] == 5 and tools["current_time"]["enabled"] is True

    aex.run("agent", "pause", "idle", check=0)
    assert {a["name"]: a["state"] for a in json.loads(get(aex.port, "/admin/status", aex.admin_token)[2])["agents"]}["idle"] == "paused"

    for credential in (None, "wrong", tokens["alpha"]):
        assert get(aex.port, "/admin/status", credential)[0] == 401, credential
