"""The tamper-evident ledger from outside: the chain re-checked in a few lines of Python from the
documented encoding, `aex ledger verify|head|show`, `GET /admin/replay`, and tampering caught."""
import hashlib
import http.client
import json
import sqlite3
import threading

from test_proxy import (  # noqa: F401  (fixtures)
    _wait_for_stopping_daemons, chat, dead_port, mock, mock_server, proxy,
)

GENESIS = "0" * 64


def recheck_chain(db_path):
    """The documented encoding (Sources/AEXHost/Ledger/README.md), independently: returns the
    number of entries, or raises at the first entry that does not link."""
    db = sqlite3.connect(f"file:{db_path}?mode=ro", uri=True)
    previous, expected_seq, count = GENESIS, 1, 0
    for seq, ts, kind, agent_id, agent_name, execution_id, payload, stored in db.execute(
            "SELECT seq, ts_micros, type, agent_id, agent_name, execution_id, payload, hash FROM event_log ORDER BY seq"):
        record = {"agent_id": agent_id, "agent_name": agent_name, "execution_id": execution_id,
                  "payload": json.loads(payload), "prev_hash": previous, "seq": seq, "ts_micros": ts, "type": kind}
        canonical = json.dumps(record, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
        assert seq == expected_seq, f"entry {seq} follows {expected_seq - 1}"
        assert hashlib.sha256(canonical.encode()).digest() == stored, f"entry {seq} does not match its hash"
        previous, expected_seq, count = stored.hex(), seq + 1, count + 1
    db.close()
    return count


def traffic(proxy):
    """Agents created, updated, paused, resumed, a call committed, one released, one refused, one deleted."""
    first = proxy.agent("bot", "10")
    token = proxy.agent("spare", "1")
    rotated = proxy.aex.json("agent", "rotate-token", "bot")["token"]
    client = proxy.client(rotated)
    chat(client)
    proxy.mock.push(__import__("mock_provider").status(500))
    try:
        chat(client)
    except Exception:
        pass
    proxy.aex.run("agent", "update", "bot", "--add-budget", "1", check=0)
    proxy.aex.run("agent", "pause", "spare", check=0)
    try:
        chat(proxy.client(token))
    except Exception:
        pass
    proxy.aex.run("agent", "resume", "spare", check=0)
    proxy.aex.run("agent", "delete", "spare", check=0)
    return [first, token, rotated]


def test_python_rechecks_the_chain_and_aex_verifies_it(proxy):
    tokens = traffic(proxy)
    db_path = proxy.aex.home / "aex.db"
    entries = recheck_chain(db_path)
    assert entries >= 10
    report = proxy.aex.json("ledger", "verify")
    assert report["ok"] is True and report["events"] == entries and report["first_bad_seq"] is None
    assert report["mismatched_agents"] == []
    head = proxy.aex.run("ledger", "head", check=0).stdout.strip()
    assert head == f"{report['head']['seq']}:{report['head']['hash']}"
    assert proxy.aex.run("ledger", "verify", "--expect-head", head, check=0)
    # The daemon answers the same over HTTP.
    code, _, body = proxy.http("GET", "/admin/replay", token=proxy.aex.admin_token)
    assert code == 200 and body["ok"] is True and body["head"] == report["head"]
    code, _, body = proxy.http("GET", "/admin/replay", token="aex_wrong")
    assert code == 401
    code, _, body = proxy.http("GET", f"/admin/replay?expect_head={head.replace(':', '%3A')}", token=proxy.aex.admin_token)
    assert code == 200 and body["ok"] is True
    # Nothing of a prompt or a token is in the ledger.
    db = sqlite3.connect(f"file:{db_path}?mode=ro", uri=True)
    payloads = " ".join(p for (p,) in db.execute("SELECT payload FROM event_log"))
    assert not any(token in payloads for token in tokens)
    assert "Hello from the mock provider" not in payloads and '"content"' not in payloads


def test_ledger_show_filters(proxy):
    traffic(proxy)
    events = proxy.aex.json("ledger", "show", "--agent", "bot")
    assert events and all(e["agent_name"] == "bot" for e in events)
    assert [e["seq"] for e in events] == sorted(e["seq"] for e in events)
    commit = next(e for e in events if e["type"] == "commit")
    by_execution = proxy.aex.json("ledger", "show", "--execution", commit["execution_id"])
    assert [e["type"] for e in by_execution] == ["reservation", "commit"]
    assert by_execution[1]["payload"]["cost_micro"] > 0
    last_two = proxy.aex.json("ledger", "show", "--limit", "2")
    assert len(last_two) == 2 and last_two[-1]["seq"] == proxy.aex.json("ledger", "head")["seq"]
    table = proxy.aex.run("ledger", "show", "--limit", "3", check=0).stdout
    assert table.splitlines()[0].split() == ["SEQ", "TIME", "TYPE", "AGENT", "EXECUTION", "PAYLOAD"]
    assert proxy.aex.run("ledger", "show", "--limit", "0").returncode == 2


def tamper(db_path, sql):
    db = sqlite3.connect(db_path)
    db.executescript(f"DROP TRIGGER IF EXISTS event_log_no_update; DROP TRIGGER IF EXISTS event_log_no_delete; {sql}")
    db.close()


def test_tampering_is_caught_and_named(proxy):
    traffic(proxy)
    proxy.aex.stop()
    db_path = proxy.aex.home / "aex.db"
    head = proxy.aex.run("ledger", "head", check=0).stdout.strip()
    # A changed counter: the chain holds, the agent is named.
    tamper(db_path, "UPDATE agents SET spent_micro = spent_micro + 1 WHERE name = 'bot'")
    result = proxy.aex.run("ledger", "verify", check=1)
    assert "agent 'bot'" in result.stderr
    tamper(db_path, "UPDATE agents SET spent_micro = spent_micro - 1 WHERE name = 'bot'")
    proxy.aex.run("ledger", "verify", check=0)
    # An edited payload: reported at its entry, by AEX and by the Python re-check alike.
    commit_seq = sqlite3.connect(db_path).execute("SELECT seq FROM event_log WHERE type = 'commit' ORDER BY seq LIMIT 1").fetchone()[0]
    tamper(db_path, f"UPDATE event_log SET payload = replace(payload, '\"cost_micro\":', '\"cost_micro\":1') WHERE seq = {commit_seq}")
    result = proxy.aex.run("ledger", "verify", "--json")
    assert result.returncode == 1
    report = json.loads(result.stdout)
    assert report["ok"] is False and report["first_bad_seq"] == commit_seq
    try:
        recheck_chain(db_path)
        raise AssertionError("the Python re-check missed the edit")
    except AssertionError as problem:
        assert f"entry {commit_seq}" in str(problem)
    # A truncated tail is caught against the anchored head only.
    tamper(db_path, f"UPDATE event_log SET payload = replace(payload, '\"cost_micro\":1', '\"cost_micro\":') WHERE seq = {commit_seq}")
    proxy.aex.run("ledger", "verify", check=0)
    last = int(head.split(":")[0])
    tamper(db_path, f"DELETE FROM event_log WHERE seq = {last}")
    result = proxy.aex.run("ledger", "verify", "--expect-head", head, check=1)
    assert "removed from its end" in result.stderr
    assert proxy.aex.run("ledger", "verify", "--expect-head", "12:zz").returncode == 2


def test_event_log_refuses_updates_and_deletes(proxy):
    traffic(proxy)
    db = sqlite3.connect(proxy.aex.home / "aex.db")
    for sql in ("UPDATE event_log SET payload = '{}' WHERE seq = 1", "DELETE FROM event_log WHERE seq = 1"):
        try:
            db.execute(sql)
            raise AssertionError(f"{sql} was allowed")
        except sqlite3.DatabaseError as error:
            assert "append-only" in str(error)
    db.close()


def append_config_events(db_path, count):
    """Appends `count` valid, chained `config_reload` entries (the documented encoding); the daemon
    must be stopped (it keeps the chain's head in memory while it runs)."""
    db = sqlite3.connect(db_path)
    seq, previous = db.execute("SELECT seq, hash FROM event_log ORDER BY seq DESC LIMIT 1").fetchone()
    previous, ts, rows = previous.hex(), 1_800_000_000_000_000, []
    for seq in range(seq + 1, seq + 1 + count):
        record = {"agent_id": None, "agent_name": None, "execution_id": None, "payload": {}, "prev_hash": previous,
                  "seq": seq, "ts_micros": ts, "type": "config_reload"}
        digest = hashlib.sha256(json.dumps(record, sort_keys=True, separators=(",", ":")).encode()).digest()
        rows.append((seq, ts, "config_reload", None, None, None, "{}", digest))
        previous = digest.hex()
    db.executemany("INSERT INTO event_log (seq, ts_micros, type, agent_id, agent_name, execution_id, payload, hash) "
                   "VALUES (?, ?, ?, ?, ?, ?, ?, ?)", rows)
    db.commit()
    db.close()


def test_a_flood_of_replay_requests_is_bounded(proxy):
    """`GET /admin/replay` runs one verification at a time and lets at most a few wait: a flood is
    answered 503 `overloaded` with Retry-After beyond that, never queued without bound."""
    proxy.agent("bot", "10")
    proxy.aex.stop()
    append_config_events(proxy.aex.home / "aex.db", 150_000)     # a ledger that takes a moment to verify
    proxy.aex.start()
    token = proxy.aex.admin_token
    answers = []

    def replay():
        connection = http.client.HTTPConnection("127.0.0.1", proxy.port, timeout=120)
        connection.request("GET", "/admin/replay", headers={"Authorization": f"Bearer {token}"})
        response = connection.getresponse()
        answers.append((response.status, response.getheader("retry-after"), json.loads(response.read())))
        connection.close()

    flood = [threading.Thread(target=replay) for _ in range(40)]
    for thread in flood:
        thread.start()
    for thread in flood:
        thread.join(timeout=180)
    assert len(answers) == 40
    verified = [body for status, _, body in answers if status == 200]
    refused = [(retry, body) for status, retry, body in answers if status == 503]
    assert len(verified) + len(refused) == 40, [status for status, _, _ in answers]
    assert 1 <= len(verified) <= 1 + 4 + 4, len(verified)        # one running, four waiting (a few may end mid-flood)
    assert all(body["ok"] is True and body["events"] > 150_000 for body in verified)
    assert refused and all(body["error"]["code"] == "overloaded" and int(retry) >= 1 for retry, body in refused)
    status, _, body = proxy.http("GET", "/admin/replay", token=token)
    assert status == 200 and body["ok"] is True, "a request after the flood is served"
