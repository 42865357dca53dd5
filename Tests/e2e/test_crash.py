"""Crash test: under concurrent load with streams in flight, the daemon is killed with SIGKILL at
random moments, restarted, and after each restart nothing is open, the counters equal the replay,
the chain verifies, and no commit a client saw acknowledged is missing.

AEX_CRASH_ROUNDS (default 20) and AEX_CRASH_SEED (default: random, printed) control the run."""
import os
import random
import signal
import sqlite3
import threading
import time

from conftest import wait_until
from mock_provider import Behaviour
from test_proxy import (  # noqa: F401  (fixtures)
    HELLO, _wait_for_stopping_daemons, dead_port, mock, mock_server, proxy,
)

ROUNDS = int(os.environ.get("AEX_CRASH_ROUNDS", "20"))
WORKERS = 8


def worker(proxy, token, stop, rng_seed, acknowledged, lock):
    """Calls until told to stop: non-streamed (acknowledged = 200 with its cost header) and streamed
    (acknowledged = the stream ended normally, which AEX sends only after the commit)."""
    rng = random.Random(rng_seed)
    client = proxy.client(token)
    while not stop.is_set():
        try:
            if rng.random() < 0.4:
                raw = client.chat.completions.with_raw_response.create(model="chat-model", messages=HELLO, stream=True)
                execution = raw.headers.get("x-aex-execution-id")
                for _ in raw.parse():
                    pass
                with lock:
                    acknowledged[execution] = None
            else:
                raw = client.chat.completions.with_raw_response.create(model="chat-model", messages=HELLO, max_tokens=20)
                raw.parse()
                with lock:
                    acknowledged[raw.headers["x-aex-execution-id"]] = int(raw.headers["x-aex-cost-micro"])
        except Exception:
            if not stop.is_set():
                time.sleep(0.005)


def gone(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    try:  # a zombie is gone too
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().rsplit(")", 1)[1].split()[0] == "Z"
    except OSError:
        return True


def test_sigkill_under_load_loses_nothing(proxy):
    seed = int(os.environ.get("AEX_CRASH_SEED", random.randrange(1 << 32)))
    print(f"crash test: seed {seed} (rerun with AEX_CRASH_SEED={seed})")
    rng = random.Random(seed)
    # Every call spends a few milliseconds at the provider; streams send events 10 ms apart.
    proxy.mock.default = Behaviour("normal", delay=0.003, event_delay=0.01)
    token = proxy.agent("bot", "1000")
    db_path = proxy.aex.home / "aex.db"
    acknowledged_total = 0
    recovered_total = recovered_before = 0
    for round_number in range(ROUNDS):
        acknowledged, lock, stop = {}, threading.Lock(), threading.Event()
        threads = [threading.Thread(target=worker, args=(proxy, token, stop, rng.random(), acknowledged, lock), daemon=True)
                   for _ in range(WORKERS)]
        for thread in threads:
            thread.start()
        time.sleep(rng.uniform(0.15, 0.8))
        pid = proxy.aex.state["pid"]
        os.kill(pid, signal.SIGKILL)
        stop.set()
        for thread in threads:
            thread.join(10)
        assert wait_until(lambda: gone(pid), 5.0), f"round {round_number}: the daemon did not die"
        proxy.aex.start()

        context = f"seed {seed} round {round_number}"
        report = proxy.aex.json("ledger", "verify")
        assert report["ok"], f"{context}: {report}"
        db = sqlite3.connect(f"file:{db_path}?mode=ro", uri=True)
        try:
            assert db.execute("SELECT count(*) FROM reservations").fetchone()[0] == 0, f"{context}: reservations left open"
            with lock:
                seen = dict(acknowledged)
            for execution, cost_micro in seen.items():
                row = db.execute("SELECT state, cost_micro, recovered FROM executions WHERE id = ?", (execution,)).fetchone()
                assert row is not None, f"{context}: acknowledged execution {execution} is missing"
                assert row[0] == "COMMITTED" and row[2] == 0, f"{context}: acknowledged execution {execution} is {row}"
                if cost_micro is not None:
                    assert row[1] == cost_micro, f"{context}: {execution} charged {row[1]}, acknowledged {cost_micro}"
            recovered_now = db.execute("SELECT count(*) FROM executions WHERE recovered = 1").fetchone()[0]
            recovered_total, recovered_before = recovered_total + recovered_now - recovered_before, recovered_now
        finally:
            db.close()
        acknowledged_total += len(seen)
    print(f"crash test: {ROUNDS} kills, {acknowledged_total} acknowledged calls checked, {recovered_total} recovered in flight")
    assert acknowledged_total >= ROUNDS * 5, f"seed {seed}: too little load to mean anything ({acknowledged_total} calls)"
    assert recovered_total > 0, f"seed {seed}: no kill ever caught a call in flight"
