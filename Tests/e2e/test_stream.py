"""Streaming with exact settlement: the official openai SDK through AEX to a mock that streams with delays."""
import os
import socket
import time

import openai
import pytest

from conftest import wait_until
from mock_provider import stream, status
from test_proxy import (  # noqa: F401  (fixtures)
    _wait_for_stopping_daemons, chat, cost, dead_port, mock, mock_server, proxy, settled,
)


def long_text(words):
    return " ".join(f"word{i}" for i in range(words))


def test_stream_relays_chunks_as_they_arrive(proxy):
    proxy.mock.push(stream(event_delay=0.2, content="one two three"))
    client = proxy.client(proxy.agent("bot", "10"))
    started = time.monotonic()
    arrivals = []
    pieces = []
    for chunk in chat(client, stream=True):
        arrivals.append(time.monotonic() - started)
        if chunk.choices:
            pieces.append(chunk.choices[0].delta.content or "")
    assert "".join(pieces) == "one two three"
    # role chunk, three words, the finish chunk: five chunks (the usage chunk is removed).
    assert len(arrivals) == 5
    assert arrivals[0] < 0.6, "the first chunk is relayed before the stream ends"
    assert arrivals[-1] - arrivals[0] >= 0.6, "chunks arrive spread out, not buffered"
    settled(proxy, "bot", cost(10, 5))


def test_provider_without_usage_is_settled_estimated_and_never_below_what_was_produced(proxy):
    proxy.mock.push(stream(stream_usage=False, content="alpha beta gamma"))
    client = proxy.client(proxy.agent("bot", "10"))
    text = "".join(c.choices[0].delta.content or "" for c in chat(client, stream=True, max_tokens=50) if c.choices)
    assert text == "alpha beta gamma"
    balance = proxy.balance("bot")
    assert balance["reserved_micro"] == 0
    # Estimated: the prompt bound and an upper bound of the streamed text (SPEC §7): the bytes of
    # every delta's strings plus one per delta ("assistant" + "" in the role chunk, the three words,
    # the empty finish delta), capped at the output limit (50 tokens).
    upstream = proxy.mock.last().body
    prompt_bound = sum(len(m["role"].encode()) + len(m["content"].encode()) + 8 for m in upstream["messages"])
    streamed_bound = (len("assistant") + 1) + (len("alpha") + 1) + (len(" beta") + 1) + (len(" gamma") + 1) + 1
    assert balance["spent_micro"] == cost(prompt_bound, streamed_bound), "never below what was produced, never above the reservation"
    assert balance["spent_micro"] > cost(10, 5)


def test_client_disconnect_after_first_chunk_releases_within_two_seconds(proxy):
    proxy.mock.push(stream(event_delay=0.5, content=long_text(40)))
    token = proxy.agent("bot", "10")
    client = proxy.client(token)
    response = chat(client, stream=True)
    first = next(iter(response))
    assert first.model == "chat-model"
    response.close()  # the client goes away mid-stream
    left = time.monotonic()
    assert wait_until(lambda: proxy.balance("bot")["reserved_micro"] == 0, 2.0), "nothing stays reserved"
    assert time.monotonic() - left < 2.0
    assert wait_until(lambda: proxy.mock.in_flight == 0, 2.0), "the upstream transfer was aborted"
    spent = proxy.balance("bot")["spent_micro"]
    assert spent > 0, "what was produced is billed"
    streamed = proxy.mock.events_streamed
    time.sleep(1.0)
    assert proxy.mock.events_streamed == streamed, "the provider stopped sending"


def test_upstream_failure_mid_stream_ends_cleanly_with_an_error_event(proxy):
    proxy.mock.push(stream(fail_after=3, content=long_text(10)))
    client = proxy.client(proxy.agent("bot", "10"))
    pieces = []
    with pytest.raises(openai.APIError) as failed:
        for chunk in chat(client, stream=True):
            if chunk.choices:
                pieces.append(chunk.choices[0].delta.content or "")
    assert "word0" in "".join(pieces), "what arrived before the failure was relayed"
    assert "mid-stream" in str(failed.value) or "stream" in str(failed.value)
    balance = proxy.balance("bot")
    assert balance["reserved_micro"] == 0
    assert balance["spent_micro"] > 0, "settled for what was produced"


def test_provider_error_before_streaming_is_relayed_and_releases(proxy):
    proxy.mock.push(status(429))
    client = proxy.client(proxy.agent("bot", "10"))
    with pytest.raises(openai.RateLimitError):
        list(chat(client, stream=True))
    balance = proxy.balance("bot")
    assert (balance["spent_micro"], balance["reserved_micro"]) == (0, 0)


def test_slow_reader_keeps_memory_bounded(proxy):
    """A client that stops reading: AEX pauses the provider instead of buffering the whole answer."""
    proxy.mock.push(stream(content=long_text(60000)))  # 60,000 events, about 15 MB
    token = proxy.agent("bot", "1000")
    sock = socket.create_connection(("127.0.0.1", proxy.port))
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 65536)  # fixed: no autotuning to swallow the stream
    body = b'{"model":"chat-model","stream":true,"max_tokens":50,"messages":[{"role":"user","content":"hi"}]}'
    sock.sendall(b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " + token.encode() +
                 b"\r\nContent-Type: application/json\r\nContent-Length: " + str(len(body)).encode() + b"\r\n\r\n" + body)
    time.sleep(3.0)  # read nothing, for longer than the provider timeout (2 s): a pause is not silence
    pid = proxy.aex.state["pid"]
    rss_kb = int(next(line.split()[1] for line in open(f"/proc/{pid}/status") if line.startswith("VmRSS")))
    assert proxy.mock.events_streamed < 60000, "the provider was paused"
    assert rss_kb < 200 * 1024
    received = 0
    sock.settimeout(10)
    while True:
        data = sock.recv(1 << 16)
        if not data:
            break
        received += len(data)
        if data.endswith(b"0\r\n\r\n"):
            break
    sock.close()
    assert received > 2_000_000, "the whole answer arrives once the client reads"
    assert wait_until(lambda: proxy.balance("bot")["reserved_micro"] == 0, 5)
    commits = [p for t, p in ledger_events(proxy, "bot") if t == "commit"]
    assert '"reason"' not in commits[-1] and '"estimated"' not in commits[-1], "the stream ended normally, with usage"


def test_responses_stream_shows_the_alias_and_costs_the_same(proxy):
    client = proxy.client(proxy.agent("bot", "10"))
    events = list(client.responses.create(model="resp-model", input="Say hello.", stream=True, max_output_tokens=50))
    types = [e.type for e in events]
    assert types[0] == "response.created" and types[-1] == "response.completed"
    assert "response.output_text.delta" in types
    completed = events[-1].response
    assert completed.model == "resp-model", "the alias, never the provider model"
    assert completed.usage.input_tokens == 10 and completed.usage.output_tokens == 5
    assert all(e.response.model == "resp-model" for e in events if hasattr(e, "response"))
    settled(proxy, "bot", cost(10, 5))
    plain = client.responses.create(model="resp-model", input="Say hello.", max_output_tokens=50)
    assert plain.usage.output_tokens == 5
    settled(proxy, "bot", 2 * cost(10, 5))


def test_client_leaving_before_the_first_chunk_stops_the_provider(proxy):
    proxy.mock.push(stream(event_delay=0.5, content=long_text(20)))
    proxy.mock.hold()  # the provider has not answered yet when the client leaves
    token = proxy.agent("bot", "10")
    sock = socket.create_connection(("127.0.0.1", proxy.port))
    body = b'{"model":"chat-model","stream":true,"max_tokens":50,"messages":[{"role":"user","content":"hi"}]}'
    sock.sendall(b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " + token.encode() +
                 b"\r\nContent-Type: application/json\r\nContent-Length: " + str(len(body)).encode() + b"\r\n\r\n" + body)
    assert proxy.mock.wait_for(1)
    sock.close()
    assert wait_until(lambda: proxy.balance("bot")["reserved_micro"] == 0, 2.0), "nothing stays reserved"
    proxy.mock.release()
    assert wait_until(lambda: proxy.mock.in_flight == 0, 3.0)
    assert proxy.mock.events_streamed <= 1, "the provider was stopped"


def ledger_events(proxy, name):
    import sqlite3
    db = sqlite3.connect(f"file:{proxy.aex.home / 'aex.db'}?mode=ro", uri=True)
    try:
        return [(t, p) for t, p in db.execute("SELECT type, payload FROM event_log WHERE agent_name = ? ORDER BY seq", (name,))]
    finally:
        db.close()


def test_provider_silent_between_events_times_out_cleanly(proxy):
    proxy.mock.push(stream(event_delay=3.0, content="slow words here"))  # timeout_seconds: 2 between bytes
    client = proxy.client(proxy.agent("bot", "10"))
    pieces = []
    with pytest.raises(openai.APIError):
        for chunk in chat(client, stream=True):
            if chunk.choices:
                pieces.append(chunk.choices[0].delta.content or "")
    assert proxy.balance("bot")["reserved_micro"] == 0
    assert proxy.balance("bot")["spent_micro"] > 0
    assert wait_until(lambda: any("went silent" in p and '"estimated":true' in p
                                  for t, p in ledger_events(proxy, "bot") if t == "commit"), 2.0), "the ledger says why"


def test_malformed_event_ends_the_stream_with_an_error(proxy):
    proxy.mock.push(stream(garbage_after=2, content="a b c d e"))
    client = proxy.client(proxy.agent("bot", "10"))
    pieces = []
    with pytest.raises(openai.APIError) as failed:
        for chunk in chat(client, stream=True):
            if chunk.choices:
                pieces.append(chunk.choices[0].delta.content or "")
    assert "malformed" in str(failed.value)
    assert "".join(pieces) == "a", "events before the malformed one were relayed"
    assert proxy.balance("bot")["reserved_micro"] == 0
    assert wait_until(lambda: proxy.mock.in_flight == 0, 3.0), "the provider transfer was stopped"


def test_disconnect_is_recorded_with_its_reason(proxy):
    proxy.mock.push(stream(event_delay=0.3, content=long_text(20)))
    client = proxy.client(proxy.agent("bot", "10"))
    response = chat(client, stream=True)
    next(iter(response))
    response.close()
    assert wait_until(lambda: proxy.balance("bot")["reserved_micro"] == 0, 2.0)
    # The in-memory balance settles first; the ledger row follows with the writer's next commit.
    assert wait_until(lambda: any('"reason":"client disconnected"' in p for t, p in ledger_events(proxy, "bot") if t == "commit"), 2.0)


def test_a_killed_daemon_leaves_no_reservation_open(proxy):
    """SIGKILL with a call at the provider: on restart the dispatched reservation is charged at its
    reserved amount (the provider may have billed) and nothing stays reserved."""
    import signal
    import threading as _threading
    proxy.mock.hold()
    client = proxy.client(proxy.agent("bot", "10"))
    worker = _threading.Thread(target=lambda: _swallow(lambda: chat(client, max_tokens=20)), daemon=True)
    worker.start()
    assert proxy.mock.wait_for(1)
    reserved = proxy.balance("bot")["reserved_micro"]
    assert reserved > 0
    os.kill(proxy.aex.state["pid"], signal.SIGKILL)
    proxy.mock.release()
    worker.join(5)
    proxy.aex.start()
    balance = proxy.balance("bot")
    assert balance["reserved_micro"] == 0
    assert balance["spent_micro"] == reserved
    assert any(t == "recovery" for t, _ in ledger_events(proxy, "bot"))


def _swallow(call):
    try:
        call()
    except Exception:
        pass
