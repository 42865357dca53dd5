"""Money safety against hostile clients and misbehaving providers, end to end: the real daemon, the
official openai SDK, and a mock provider that bills what the request asked for (`max_tokens` if
present, times `n`) or reports impossible usage. Each test fails on a kernel that reserves the
smallest limit, ignores `n`, trusts reported usage, records every refused credential in full, relays
provider keys, or charges a client that left the whole reservation."""
import json
import socket
import sqlite3
import time

import openai
import pytest

from conftest import wait_until
from mock_provider import status, stream
from test_proxy import (  # noqa: F401  (fixtures)
    HELLO, MOCK_KEY, _wait_for_stopping_daemons, chat, cost, dead_port, in_flight, mock, mock_server, proxy, refused,
    reservation, settled,
)

HELLO_PROMPT_BOUND = 4 + 5 + 8       # "user" + "hello" + one message overhead


def ledger(proxy, sql, *args):
    db = sqlite3.connect(f"file:{proxy.aex.home / 'aex.db'}?mode=ro", uri=True)
    try:
        return db.execute(sql, args).fetchall()
    finally:
        db.close()


def commits(proxy, name):
    return [json.loads(p) for (p,) in ledger(proxy, "SELECT payload FROM event_log WHERE agent_name = ? AND type = 'commit' ORDER BY seq", name)]


# ------------------------------------------------------------------- 1. every output limit is honoured

def test_the_largest_output_limit_named_is_reserved(proxy):
    proxy.mock.bill_requested = True          # honours max_tokens: bills 50 tokens
    client = proxy.client(proxy.agent("bot", "10"))
    sample, _ = in_flight(proxy, "bot", lambda: chat(client, max_completion_tokens=1, max_tokens=50))
    assert sample["reserved_micro"] == reservation(HELLO, 50), sample
    settled(proxy, "bot", cost(10, 50))

    # A budget that covers the smallest limit but not the largest: refused, nothing billed.
    poor = proxy.client(proxy.agent("poor", f"0.{reservation(HELLO, 1):06d}"))
    refused(proxy, "poor", lambda: chat(poor, max_completion_tokens=1, max_tokens=50), openai.APIStatusError, 402,
            "budget_exceeded")
    chat(poor, max_completion_tokens=1)
    assert proxy.balance("poor")["spent_micro"] <= proxy.balance("poor")["budget_micro"]


# ---------------------------------------------------------------------------------- 2. n multiplies

def test_n_multiplies_the_output_bound_and_invalid_values_are_refused(proxy):
    proxy.mock.bill_requested = True          # bills max_tokens × n
    client = proxy.client(proxy.agent("bot", "10"))
    sample, _ = in_flight(proxy, "bot", lambda: chat(client, max_tokens=10, n=3))
    assert sample["reserved_micro"] == reservation(HELLO, 30), sample
    settled(proxy, "bot", cost(10, 30))

    # No limit named: AEX adds one per choice (the model's 100), and reserves it for every choice.
    poor = proxy.client(proxy.agent("poor", f"0.{reservation(HELLO, 100):06d}"))
    refused(proxy, "poor", lambda: chat(poor, n=100, max_tokens=100), openai.APIStatusError, 402, "budget_exceeded")
    sample, _ = in_flight(proxy, "poor", lambda: chat(poor, n=2))
    assert proxy.mock.last().body["max_tokens"] * 2 * 3 + HELLO_PROMPT_BOUND * 2 == sample["reserved_micro"]
    assert proxy.balance("poor")["spent_micro"] <= proxy.balance("poor")["budget_micro"]

    seen = proxy.mock.count
    for bad in (-1, 0, 1.5, 129, "2", True):
        refused(proxy, "bot", lambda: chat(client, n=bad), openai.BadRequestError, 400, "invalid_request")
    assert proxy.mock.count == seen


# ------------------------------------------------------------------ 3. impossible usage never wraps

def test_impossible_usage_is_a_recorded_provider_fault_with_a_bounded_overdraft(proxy):
    proxy.mock.usage = {"prompt_tokens": 500_000_000_000_000_000, "completion_tokens": 500_000_000_000_000_000}
    client = proxy.client(proxy.agent("bot", "10"))
    per_call = cost(HELLO_PROMPT_BOUND + 1024, 100 + 1024)     # the counts cut to the bounds plus the tolerance
    for _ in range(6):
        raw = client.chat.completions.with_raw_response.create(model="chat-model", messages=HELLO)
        assert raw.headers["x-aex-cost-micro"] == str(per_call)
    settled(proxy, "bot", 6 * per_call)
    (kind,) = ledger(proxy, "SELECT typeof(spent_micro) FROM agents WHERE name = 'bot'")[0]
    assert kind == "integer", "money is never stored as a float"
    faults = [c for c in commits(proxy, "bot") if "provider_fault" in c]
    assert len(faults) == 6 and faults[0]["reported_completion_tokens"] == 500_000_000_000_000_000, faults[:1]
    verify = proxy.aex.run("ledger", "verify", "--json", check=0)
    assert json.loads(verify.stdout)["ok"] is True

    # Within the tolerance: charged as reported (an overdraft, recorded), not a fault.
    proxy.mock.usage = {"prompt_tokens": 10, "completion_tokens": 150}
    chat(client, max_tokens=100)
    settled(proxy, "bot", 6 * per_call + cost(10, 150))
    assert "provider_fault" not in commits(proxy, "bot")[-1]


# ------------------------------------------------------- 4. refused credentials cannot fill the disk

def test_refused_credentials_are_counted_and_sampled(proxy):
    long_path = "/v1/chat/completions/" + "a" * 30_000
    before = ledger(proxy, "SELECT count(*) FROM event_log")[0][0]
    refusals = 1_500
    request = (f"GET {long_path} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer aex_{'x' * 44}\r\n\r\n").encode()
    started = time.monotonic()
    sent = 0
    while sent < refusals:
        with socket.create_connection(("127.0.0.1", proxy.port), timeout=10) as sock:
            batch = min(100, refusals - sent)
            sock.sendall(request * batch)
            answers = b""
            while answers.count(b"HTTP/1.1 401") < batch:
                chunk = sock.recv(65536)
                assert chunk, "the daemon closed before answering every refusal"
                answers += chunk
            sent += batch
    assert time.monotonic() - started < 60
    rows = ledger(proxy, "SELECT payload FROM event_log WHERE seq > ? AND agent_id IS NULL", before)
    assert 1 <= len(rows) <= 60, f"{len(rows)} rows for {refusals} refusals"
    assert all(len(p) < 512 for (p,) in rows), max(len(p) for (p,) in rows)
    # Legitimate calls still go through at once.
    client = proxy.client(proxy.agent("bot", "10"))
    started = time.monotonic()
    chat(client)
    assert time.monotonic() - started < 1.0


# ----------------------------------------------------------- 7. provider keys never reach an agent

def test_provider_error_bodies_never_carry_the_provider_key(proxy):
    leaky = {"error": {"message": f"Incorrect API key provided: {MOCK_KEY}. Sent Authorization: Bearer {MOCK_KEY}",
                       "type": "invalid_request_error", "code": "invalid_api_key", "param": None}}
    proxy.mock.push(status(401, leaky), status(401, leaky))
    client = proxy.client(proxy.agent("bot", "10"))
    with pytest.raises(openai.AuthenticationError) as plain:
        chat(client)
    assert MOCK_KEY not in plain.value.response.text and "[redacted]" in plain.value.response.text
    with pytest.raises(openai.AuthenticationError) as streamed:
        list(chat(client, stream=True))
    assert MOCK_KEY not in streamed.value.response.text
    settled(proxy, "bot", 0)


# ----------------------------------------------------------- 8. every field that becomes prompt counts

def test_schemas_and_predictions_are_inside_the_prompt_bound(proxy):
    client = proxy.client(proxy.agent("bot", "10"))
    prediction = {"type": "content", "content": "x" * 70_000}
    schema = {"type": "json_schema", "json_schema": {"name": "answer", "schema": {
        "type": "object", "properties": {f"field_{i}": {"type": "string"} for i in range(200)}}}}
    sample, _ = in_flight(proxy, "bot", lambda: chat(client, max_tokens=10, prediction=prediction, response_format=schema))
    counted = len(json.dumps(prediction, separators=(",", ":"))) + len(json.dumps(schema, separators=(",", ":"), sort_keys=True))
    assert sample["reserved_micro"] >= (HELLO_PROMPT_BOUND + counted) * 2 + 10 * 3, sample
    refused(proxy, "bot", lambda: client.responses.create(model="resp-model", input="hi", previous_response_id="resp_1"),
            openai.BadRequestError, 400, "invalid_request")


# ------------------------------------------------- 11. a client that leaves pays for what was streamed

def test_a_client_leaving_mid_stream_pays_the_bound_of_what_was_streamed(proxy):
    proxy.mock.push(stream(event_delay=0.3, content=" ".join(f"w{i}" for i in range(60))))
    client = proxy.client(proxy.agent("bot", "10"))
    response = chat(client, stream=True, max_tokens=100)
    chunks = iter(response)
    for _ in range(3):
        next(chunks)
    response.close()
    assert wait_until(lambda: proxy.balance("bot")["reserved_micro"] == 0, 3.0)
    spent = proxy.balance("bot")["spent_micro"]
    assert spent < reservation(proxy.mock.last().body["messages"], 100), "not the whole reservation"
    assert spent >= cost(HELLO_PROMPT_BOUND, 3), "at least the prompt bound and what reached the client"


# ------------------------------------------ 15. a bound that can never fit the TPM is refused for good

def test_a_request_that_can_never_fit_the_tpm_is_not_retryable(proxy):
    client = proxy.client(proxy.agent("bot", "10", "100", "--tpm", "50"))
    error = refused(proxy, "bot", lambda: chat(client, max_tokens=60), openai.PermissionDeniedError, 403, "policy_violation")
    assert "retry-after" not in error.response.headers
    chat(client)                                # no limit named: the one AEX adds fits the minute
    assert proxy.mock.last().body["max_tokens"] == 50 - HELLO_PROMPT_BOUND
