"""Idempotency (SPEC §8) end to end: the real daemon in front of the mock provider, driven by raw
HTTP (to compare answers byte for byte) and by the official openai SDK.

A request carrying `Idempotency-Key` is de-duplicated per (agent, endpoint, key), bodies compared as
canonical JSON: the same key and body replay the stored answer exactly (status, body bytes, content
type, execution id, cost) with `x-aex-idempotent-replay: true`, without a provider call, a charge
or rate-limit use, even after a restart or with the budget spent; a different body is 409
`idempotency_key_reused`; a duplicate of a call in flight waits for it; failed attempts are not
stored. Stored answers live in `idempotent_answers` (outside the hash chain, whose commit records
the answer's SHA-256), expire after `AEX_IDEMPOTENCY_TTL_SECONDS` (purged every
`AEX_IDEMPOTENCY_SWEEP_SECONDS`) and are bounded by `AEX_IDEMPOTENCY_STORE_BYTES_MAX`, oldest
dropped first.

Every test fails on a daemon without the feature: it asserts provider call counts, balances and
the replay header, not just status codes."""
import hashlib
import http.client
import json
import socket
import sqlite3
import subprocess
import threading
from dataclasses import dataclass

import openai
import pytest

from conftest import AEX_BIN, Aex, wait_until
from mock_provider import normal, status
from test_proxy import (  # noqa: F401  (fixtures)
    HELLO, MOCK_KEY, Proxy, _stopping, _wait_for_stopping_daemons, chat, cost, dead_port, mock,
    mock_server, proxy, refused, reservation, settled,
)

KEY = "Idempotency-Key"
REPLAY = "x-aex-idempotent-replay"
CHAT_PATH, EMBED_PATH, RESP_PATH = "/v1/chat/completions", "/v1/embeddings", "/v1/responses"
CHAT = {"model": "chat-model", "messages": HELLO}
EMBED = {"model": "embed-model", "input": "hello"}
RESP = {"model": "resp-model", "input": "hello"}
STREAM = dict(CHAT, stream=True)
CHAT_COST = cost(10, 5)              # 35: the mock's default usage at chat-model prices
EMBED_COST = 10                      # 10 prompt tokens at 1 micro


# ----------------------------------------------------------------------------------------- fixtures

@pytest.fixture
def proxy_with(tmp_path, mock, dead_port):
    """Starts a daemon like `proxy` does, with extra settings in its environment:
    `proxy_with({"AEX_IDEMPOTENCY_TTL_SECONDS": "2"})`."""
    started = []

    def start(settings=None):
        aex = Aex(tmp_path / f"home{len(started)}", extra_env={"MOCK_API_KEY": MOCK_KEY, **(settings or {})})
        aex.run("init", check=0)
        instance = Proxy(aex, mock, dead_port)
        instance.write_config()
        aex.start()
        started.append(instance)
        return instance

    yield start
    for instance in started:
        if (instance.aex.home / "daemon.json").exists():
            _stopping.append(subprocess.Popen([AEX_BIN, "daemon", "stop"], env=instance.aex.env,
                                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))


# ------------------------------------------------------------------------------------------ helpers

@dataclass
class Answer:
    status: int
    headers: dict            # lower-case names
    body: bytes              # decoded from chunked transfer-encoding when it was chunked

    @property
    def json(self):
        return json.loads(self.body)

    @property
    def execution_id(self):
        return self.headers.get("x-aex-execution-id")

    @property
    def replayed(self):
        return self.headers.get(REPLAY) == "true"

    @property
    def error_code(self):
        return self.json["error"]["code"]


def post(proxy, token, path=CHAT_PATH, body=CHAT, key=None):
    """One raw POST on its own connection; `body` is a dict (sent as JSON) or the exact bytes to send."""
    connection = http.client.HTTPConnection("127.0.0.1", proxy.port, timeout=30)
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
    if key is not None:
        headers[KEY] = key
    data = body if isinstance(body, bytes) else json.dumps(body).encode()
    try:
        connection.request("POST", path, body=data, headers=headers)
        response = connection.getresponse()
        return Answer(response.status, {k.lower(): v for k, v in response.getheaders()}, response.read())
    finally:
        connection.close()


def post_raw_key(proxy, token, value: bytes, body=CHAT):
    """A POST whose `Idempotency-Key` line is written byte for byte on a socket (http.client refuses
    some of these values); `value` empty gives the bare line `Idempotency-Key:`."""
    data = json.dumps(body).encode()
    head = (f"POST {CHAT_PATH} HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {token}\r\n"
            f"Content-Type: application/json\r\nContent-Length: {len(data)}\r\nConnection: close\r\n").encode()
    key_line = KEY.encode() + b":" + (b" " + value if value else b"") + b"\r\n"
    with socket.create_connection(("127.0.0.1", proxy.port), timeout=10) as sock:
        sock.sendall(head + key_line + b"\r\n" + data)
        response = http.client.HTTPResponse(sock)
        response.begin()
        return Answer(response.status, {k.lower(): v for k, v in response.getheaders()}, response.read())


def assert_replay(first: Answer, again: Answer, cost_header=True):
    """`again` is `first` replayed exactly, and only `again` says so."""
    assert first.status == 200, (first.status, first.body)
    assert REPLAY not in first.headers, f"the first answer is not a replay: {first.headers}"
    assert again.replayed, f"no `{REPLAY}: true` on the replay: {again.headers}"
    assert again.status == first.status
    assert again.body == first.body, "the replay is the stored body, byte for byte"
    assert again.headers.get("content-type") == first.headers.get("content-type")
    assert first.execution_id and again.execution_id == first.execution_id
    if cost_header:
        assert first.headers.get("x-aex-cost-micro") and \
            again.headers.get("x-aex-cost-micro") == first.headers["x-aex-cost-micro"]


def assert_fresh(answer: Answer, *earlier: Answer):
    """`answer` is a new execution: 200, not a replay, an execution id none of `earlier` had."""
    assert answer.status == 200, (answer.status, answer.body)
    assert not answer.replayed and REPLAY not in answer.headers, answer.headers
    assert answer.execution_id and answer.execution_id not in {e.execution_id for e in earlier}


def in_background(call):
    """Starts `call` on a thread; returns (thread, box) where box gets "result" or "error"."""
    box = {}

    def run():
        try:
            box["result"] = call()
        except Exception as error:  # reported by the test that reads the box
            box["error"] = error

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread, box


def joined(*runs):
    """Waits for background calls; returns their results (raising the first error)."""
    results = []
    for thread, box in runs:
        thread.join(30)
        assert not thread.is_alive(), "a call never returned"
        if "error" in box:
            raise box["error"]
        results.append(box["result"])
    return results


def read_db(proxy, sql, *args):
    db = sqlite3.connect(f"file:{proxy.aex.home / 'aex.db'}?mode=ro", uri=True)
    try:
        return db.execute(sql, args).fetchall()
    finally:
        db.close()


def stored_answers(proxy):
    """(rows, total bytes of the stored bodies) of `idempotent_answers`."""
    columns = [row[1] for row in read_db(proxy, "PRAGMA table_info(idempotent_answers)")]
    assert columns, "no table idempotent_answers in the database"
    if "body" in columns:
        body = "body"
    else:   # the largest column is the answer's body
        body = max(columns, key=lambda c: read_db(proxy, f'SELECT coalesce(sum(length("{c}")), 0) FROM idempotent_answers')[0][0])
    return tuple(read_db(proxy, f'SELECT count(*), coalesce(sum(length("{body}")), 0) FROM idempotent_answers')[0])


def stored_rows(proxy):
    return stored_answers(proxy)[0]


def commits(proxy, name):
    """{execution_id: payload} of the agent's commit events."""
    return {execution: json.loads(payload) for execution, payload in read_db(
        proxy, "SELECT execution_id, payload FROM event_log WHERE agent_name = ? AND type = 'commit' ORDER BY seq", name)}


def keyed(key):
    return {"extra_headers": {KEY: key}}


# ----------------------------------------------------------------------------------- no key, no change

def test_without_a_key_every_request_runs(proxy):
    token = proxy.agent("bot", "10")
    first, second = post(proxy, token), post(proxy, token)
    assert_fresh(first)
    assert_fresh(second, first)
    assert proxy.mock.count == 2
    settled(proxy, "bot", 2 * CHAT_COST)
    assert stored_rows(proxy) == 0, "answers are stored only for requests that carry a key"


# ----------------------------------------------------------------------------------------- replays

def test_same_key_and_body_replays_the_stored_answer(proxy):
    token = proxy.agent("bot", "10")
    first = post(proxy, token, key="order-1")
    assert first.json["choices"][0]["message"]["content"] == "Hello from the mock provider."
    assert first.headers["x-aex-cost-micro"] == str(CHAT_COST)
    settled(proxy, "bot", CHAT_COST)
    for _ in range(3):
        again = post(proxy, token, key="order-1")
        assert_replay(first, again)
    assert proxy.mock.count == 1, "a replay never calls the provider"
    settled(proxy, "bot", CHAT_COST)
    assert wait_until(lambda: stored_rows(proxy) == 1)

    # Through the SDK: the replay parses to the same completion.
    client = proxy.client(token)
    raw = client.chat.completions.with_raw_response.create(model="chat-model", messages=HELLO, **keyed("order-1"))
    assert raw.headers.get(REPLAY) == "true" and raw.headers["x-aex-execution-id"] == first.execution_id
    assert raw.http_response.content == first.body
    assert raw.parse().model_dump() == openai.types.chat.ChatCompletion.model_validate(first.json).model_dump()
    assert proxy.mock.count == 1
    settled(proxy, "bot", CHAT_COST)


@pytest.mark.parametrize("path, body, price", [
    (CHAT_PATH, CHAT, CHAT_COST), (EMBED_PATH, EMBED, EMBED_COST), (RESP_PATH, RESP, CHAT_COST),
    ("/openai" + CHAT_PATH, CHAT, CHAT_COST), ("/openai" + EMBED_PATH, EMBED, EMBED_COST),
    ("/openai" + RESP_PATH, RESP, CHAT_COST),
], ids=["chat", "embeddings", "responses", "openai-chat", "openai-embeddings", "openai-responses"])
def test_every_executing_endpoint_replays(proxy, path, body, price):
    token = proxy.agent("bot", "10")
    first = post(proxy, token, path, body, key="k-1")
    again = post(proxy, token, path, body, key="k-1")
    assert_replay(first, again)
    assert proxy.mock.count == 1
    settled(proxy, "bot", price)


def test_bodies_are_compared_as_canonical_json(proxy):
    token = proxy.agent("bot", "10")
    spellings = [
        b'{"model":"chat-model","messages":[{"role":"user","content":"hello"}],"temperature":1,"top_p":0.5}',
        b'{\n  "top_p" : 5e-1,\n  "temperature" : 1.0,\n  "messages" : [ { "content" : "hello", "role" : "user" } ],\n'
        b'  "model" : "chat-model"\n}\n',
        b'{"temperature":1e0,"model":"chat-model","top_p":0.50,"messages":[{"content":"hello","role":"user"}]}',
        b'\t{ "messages":[{"role":"user","content":"hello"}], "model":"chat-model", "top_p":50E-2, "temperature":1.00 }',
    ]
    first = post(proxy, token, body=spellings[0], key="canon")
    for spelling in spellings[1:]:
        assert_replay(first, post(proxy, token, body=spelling, key="canon"))
    assert proxy.mock.count == 1, "key order, whitespace and number spelling do not make a new request"
    settled(proxy, "bot", CHAT_COST)


def test_replay_uses_no_rate_limit(proxy):
    token = proxy.agent("slow", "10", "1")                 # one request a minute
    client = proxy.client(token)
    first = post(proxy, token, key="once")
    for _ in range(5):
        assert_replay(first, post(proxy, token, key="once"))
    answer = chat(client, **keyed("once"))
    assert answer.choices[0].message.content == "Hello from the mock provider."
    refused(proxy, "slow", lambda: chat(client, **keyed("twice")), openai.RateLimitError, 429, "rate_limit_exceeded")
    refused(proxy, "slow", lambda: chat(client), openai.RateLimitError, 429, "rate_limit_exceeded")
    assert proxy.mock.count == 1
    settled(proxy, "slow", CHAT_COST)


def test_replay_works_when_the_budget_is_spent(proxy):
    body = dict(CHAT, max_tokens=5)
    bound = reservation(HELLO, 5)                          # 49: the budget covers this one call
    token = proxy.agent("poor", f"0.{bound:06d}")
    client = proxy.client(token)
    first = post(proxy, token, body=body, key="paid")
    settled(proxy, "poor", CHAT_COST)                      # 14 left: not even one output token more
    refused(proxy, "poor", lambda: chat(client, max_tokens=5, **keyed("unpaid")), openai.APIStatusError, 402,
            "budget_exceeded")
    assert_replay(first, post(proxy, token, body=body, key="paid"))

    proxy.aex.run("agent", "update", "poor", "--budget", f"0.{CHAT_COST:06d}", check=0)   # nothing remains
    assert proxy.balance("poor")["remaining_micro"] == 0
    assert_replay(first, post(proxy, token, body=body, key="paid"))
    assert proxy.mock.count == 1
    settled(proxy, "poor", CHAT_COST)


def test_replay_survives_a_daemon_restart(proxy):
    token = proxy.agent("bot", "10")
    first = post(proxy, token, key="durable")
    assert wait_until(lambda: stored_rows(proxy) == 1)
    proxy.aex.stop()
    proxy.aex.start()
    assert_replay(first, post(proxy, token, key="durable"))
    raw = proxy.client(token).chat.completions.with_raw_response.create(model="chat-model", messages=HELLO,
                                                                         **keyed("durable"))
    assert raw.headers.get(REPLAY) == "true" and raw.http_response.content == first.body
    assert proxy.mock.count == 1
    settled(proxy, "bot", CHAT_COST)


# ------------------------------------------------------------------------------- conflicts and scope

def test_same_key_with_a_different_body_is_409(proxy):
    token = proxy.agent("bot", "10")
    client = proxy.client(token)
    first = post(proxy, token, key="reused")
    for call in (lambda: chat(client, messages=[{"role": "user", "content": "something else"}], **keyed("reused")),
                 lambda: chat(client, temperature=0.5, **keyed("reused")),
                 lambda: chat(client, model="resp-model", **keyed("reused")),
                 lambda: chat(client, stream=True, **keyed("reused"))):
        error = refused(proxy, "bot", call, openai.ConflictError, 409, "idempotency_key_reused")
        assert error.response.headers.get(REPLAY) is None
    conflict = post(proxy, token, body=dict(CHAT, seed=1), key="reused")
    assert (conflict.status, conflict.error_code) == (409, "idempotency_key_reused"), conflict.body
    assert_replay(first, post(proxy, token, key="reused"))     # the stored answer is kept
    assert proxy.mock.count == 1
    settled(proxy, "bot", CHAT_COST)


def test_key_is_scoped_to_the_agent_and_the_endpoint(proxy):
    bot, other = proxy.agent("bot", "10"), proxy.agent("other", "10")
    first = post(proxy, bot, key="shared")
    by_other = post(proxy, other, key="shared")
    assert_fresh(by_other, first)
    embedded = post(proxy, bot, EMBED_PATH, EMBED, key="shared")
    assert_fresh(embedded, first, by_other)
    responded = post(proxy, bot, RESP_PATH, RESP, key="shared")
    assert_fresh(responded, first, by_other, embedded)
    assert proxy.mock.count == 4
    settled(proxy, "bot", 2 * CHAT_COST + EMBED_COST)
    settled(proxy, "other", CHAT_COST)
    # Each scope now replays its own answer.
    assert_replay(first, post(proxy, bot, key="shared"))
    assert_replay(by_other, post(proxy, other, key="shared"))
    assert_replay(embedded, post(proxy, bot, EMBED_PATH, EMBED, key="shared"))
    assert_replay(responded, post(proxy, bot, RESP_PATH, RESP, key="shared"))
    assert proxy.mock.count == 4


# --------------------------------------------------------------------------------------- key syntax

@pytest.mark.parametrize("value", [b"k" * 256, "caf\u00e9-\u00fcber".encode(), b"", b"   ", b"bad\x7fkey", b"tab\x01key"],
                         ids=["256-chars", "utf8", "empty", "only-spaces", "del", "control"])
def test_malformed_key_is_refused(proxy, value):
    token = proxy.agent("bot", "10")
    answer = post_raw_key(proxy, token, value)
    assert answer.status == 400, (answer.status, answer.body)
    assert answer.error_code == "invalid_request", answer.body
    assert proxy.mock.count == 0
    settled(proxy, "bot", 0)
    assert stored_rows(proxy) == 0


@pytest.mark.parametrize("key", ["k" * 255, "a", "0", "! \"#$%&'()*+,-./09:;<=>?@AZ[\\]^_`az{|}~"],
                         ids=["255-chars", "one-letter", "one-digit", "all-printable"])
def test_keys_at_the_limits_are_accepted(proxy, key):
    token = proxy.agent("bot", "10")
    first = post(proxy, token, key=key)
    assert_replay(first, post(proxy, token, key=key))
    assert proxy.mock.count == 1
    settled(proxy, "bot", CHAT_COST)


# ---------------------------------------------------------------------------------------- failures

def test_a_failed_attempt_is_not_stored_and_may_be_retried(proxy):
    token = proxy.agent("bot", "10")
    proxy.mock.push(status(500))
    failed = post(proxy, token, key="retry-me")
    assert failed.status == 500 and not failed.replayed, failed.body
    settled(proxy, "bot", 0)
    assert stored_rows(proxy) == 0
    retried = post(proxy, token, key="retry-me")
    assert_fresh(retried, failed)
    assert proxy.mock.count == 2, "the retry ran at the provider"
    settled(proxy, "bot", CHAT_COST)
    assert_replay(retried, post(proxy, token, key="retry-me"))
    assert proxy.mock.count == 2
    settled(proxy, "bot", CHAT_COST)


# ------------------------------------------------------------------------------------ concurrency

def test_a_duplicate_in_flight_waits_and_gets_the_replay(proxy):
    token = proxy.agent("bot", "10")
    proxy.mock.hold()
    try:
        original = in_background(lambda: post(proxy, token, key="wait"))
        assert proxy.mock.wait_for(1)
        duplicate = in_background(lambda: post(proxy, token, key="wait"))
        reached = proxy.mock.wait_for(2, 0.5)
        waiting = duplicate[0].is_alive()
    finally:
        proxy.mock.release()
    first, again = joined(original, duplicate)
    assert not reached, "the duplicate reached the provider instead of waiting"
    assert waiting, "the duplicate waits for the original"
    assert_replay(first, again)
    assert proxy.mock.count == 1
    settled(proxy, "bot", CHAT_COST)


def test_waiting_duplicates_of_a_failed_call_run_once_then_replay(proxy):
    token = proxy.agent("bot", "10")
    proxy.mock.push(status(500))
    proxy.mock.hold()
    try:
        original = in_background(lambda: post(proxy, token, key="flaky"))
        assert proxy.mock.wait_for(1)
        duplicates = [in_background(lambda: post(proxy, token, key="flaky")) for _ in range(4)]
        reached = proxy.mock.wait_for(2, 0.5)
    finally:
        proxy.mock.release()
    failed, *answers = joined(original, *duplicates)
    assert not reached, "a duplicate reached the provider while the original was in flight"
    assert failed.status == 500, failed.body
    assert proxy.mock.count == 2, "exactly one waiting duplicate ran as a fresh attempt"
    fresh = [a for a in answers if not a.replayed]
    assert len(fresh) == 1, [a.headers for a in answers]
    for answer in answers:
        if answer is not fresh[0]:
            assert_replay(fresh[0], answer)
    settled(proxy, "bot", CHAT_COST)


def test_fifty_concurrent_identical_requests_make_one_provider_call(proxy):
    token = proxy.agent("crowd", "10")
    proxy.mock.default = normal(delay=0.3)
    callers = 50
    barrier = threading.Barrier(callers)

    def call():
        barrier.wait()
        return post(proxy, token, key="stampede")

    answers = joined(*[in_background(call) for _ in range(callers)])
    assert proxy.mock.count == 1, f"{proxy.mock.count} provider calls for one key"
    assert all(a.status == 200 for a in answers), sorted({(a.status, a.body[:200]) for a in answers})
    assert len({a.body for a in answers}) == 1, "every caller got the same body"
    assert len({a.execution_id for a in answers}) == 1, "every caller got the same execution"
    originals = [a for a in answers if not a.replayed]
    assert len(originals) == 1, f"{len(originals)} answers without the replay header"
    settled(proxy, "crowd", CHAT_COST)


# --------------------------------------------------------------------------------------- streaming

def test_a_stream_is_replayed_as_the_same_sse_bytes(proxy):
    token = proxy.agent("bot", "10")
    first = post(proxy, token, body=STREAM, key="sse")
    assert first.status == 200 and first.headers["content-type"].startswith("text/event-stream"), first.headers
    assert first.body.rstrip().endswith(b"data: [DONE]"), first.body[-200:]
    again = post(proxy, token, body=STREAM, key="sse")
    assert_replay(first, again, cost_header=False)
    assert again.headers["content-type"].startswith("text/event-stream")
    assert proxy.mock.count == 1
    settled(proxy, "bot", CHAT_COST)
    # The commit records the SHA-256 of exactly these bytes.
    assert wait_until(lambda: first.execution_id in commits(proxy, "bot"))
    assert commits(proxy, "bot")[first.execution_id].get("response_sha256") == hashlib.sha256(again.body).hexdigest()


def test_a_stream_replayed_through_the_sdk_yields_the_same_chunks(proxy):
    client = proxy.client(proxy.agent("bot", "10"))
    first = [c.model_dump() for c in chat(client, stream=True, **keyed("chunks"))]
    raw = client.chat.completions.with_raw_response.create(model="chat-model", messages=HELLO, stream=True,
                                                           **keyed("chunks"))
    assert raw.headers.get(REPLAY) == "true" and raw.headers["content-type"].startswith("text/event-stream")
    again = [c.model_dump() for c in raw.parse()]
    assert again == first
    text = "".join(c["choices"][0]["delta"]["content"] or "" for c in again if c["choices"])
    assert text == "Hello from the mock provider."

    events = [e.model_dump() for e in client.responses.create(model="resp-model", input="hi", stream=True,
                                                               **keyed("chunks"))]
    assert [e.model_dump() for e in client.responses.create(model="resp-model", input="hi", stream=True,
                                                            **keyed("chunks"))] == events
    assert events[-1]["type"] == "response.completed"
    assert proxy.mock.count == 2
    settled(proxy, "bot", 2 * CHAT_COST)


# ------------------------------------------------------------------------------------------ ledger

def test_the_commit_records_the_sha256_of_the_stored_answer(proxy):
    token = proxy.agent("bot", "10")
    keyed_answer = post(proxy, token, key="hashed")
    plain = post(proxy, token)
    replayed = post(proxy, token, key="hashed")
    assert_replay(keyed_answer, replayed)
    assert wait_until(lambda: {keyed_answer.execution_id, plain.execution_id} <= set(commits(proxy, "bot")))
    payloads = commits(proxy, "bot")
    assert len(payloads) == 2, "a replay is not a new commit"
    assert payloads[keyed_answer.execution_id].get("response_sha256") == hashlib.sha256(replayed.body).hexdigest()
    assert "response_sha256" not in payloads[plain.execution_id], "no key, nothing stored, no hash"
    assert not read_db(proxy, "SELECT 1 FROM event_log WHERE payload LIKE '%Hello from the mock provider%'"), \
        "the stored answer stays outside the hash chain"
    report = proxy.aex.json("ledger", "verify")
    assert report["ok"] is True and report["first_bad_seq"] is None and report["mismatched_agents"] == [], report


# ------------------------------------------------------------------------------------------ storage

def test_expired_answers_are_purged_and_the_key_runs_fresh(proxy_with):
    proxy = proxy_with({"AEX_IDEMPOTENCY_TTL_SECONDS": "2", "AEX_IDEMPOTENCY_SWEEP_SECONDS": "1"})
    token = proxy.agent("bot", "10")
    first = post(proxy, token, key="short-lived")
    other = post(proxy, token, key="changed-later")
    assert_replay(first, post(proxy, token, key="short-lived"))
    assert proxy.mock.count == 2
    assert wait_until(lambda: stored_rows(proxy) == 2)
    assert wait_until(lambda: stored_rows(proxy) == 0, timeout=6), "expired answers are purged by the sweep"

    again = post(proxy, token, key="short-lived")
    assert_fresh(again, first, other)
    changed = post(proxy, token, body=dict(CHAT, temperature=0.5), key="changed-later")
    assert changed.status == 200, "an expired key may be used with another body"
    assert_fresh(changed, first, other, again)
    assert proxy.mock.count == 4
    settled(proxy, "bot", 4 * CHAT_COST)


def test_the_store_bound_drops_the_oldest_answers(proxy_with):
    proxy = proxy_with()
    token = proxy.agent("bot", "10")
    size = len(post(proxy, token).body)                    # one chat answer of the mock
    limit = int(size * 2.5)                                # room for two answers, not three
    proxy.aex.stop()
    proxy.aex.env["AEX_IDEMPOTENCY_STORE_BYTES_MAX"] = str(limit)
    proxy.aex.start()

    first = post(proxy, token, key="k1")
    second = post(proxy, token, key="k2")
    assert wait_until(lambda: stored_rows(proxy) == 2)
    third = post(proxy, token, key="k3")
    assert wait_until(lambda: stored_answers(proxy) == (2, len(second.body) + len(third.body))), stored_answers(proxy)
    assert stored_answers(proxy)[1] <= limit
    calls = proxy.mock.count

    assert_replay(third, post(proxy, token, key="k3"))
    assert_replay(second, post(proxy, token, key="k2"))
    assert proxy.mock.count == calls
    again = post(proxy, token, key="k1")                   # dropped: runs fresh and is stored, dropping k2
    assert_fresh(again, first, second, third)
    assert proxy.mock.count == calls + 1
    assert wait_until(lambda: stored_answers(proxy) == (2, len(third.body) + len(again.body))), stored_answers(proxy)
    assert stored_answers(proxy)[1] <= limit
    assert_replay(again, post(proxy, token, key="k1"))
    settled(proxy, "bot", 5 * CHAT_COST)
