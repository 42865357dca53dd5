"""Bytes the ledger stores per governed request, indexes included: the pages of `executions`,
`event_log` and their indexes (SQLite's dbstat, unused space in those pages counted) divided by the
governed calls recorded. Also the average payload and row sizes.
    python3 bench/ledger_size.py AEX_HOME/aex.db"""
import sqlite3
import sys

LEDGER_OBJECTS = ("executions", "event_log", "executions_open", "executions_idempotency", "event_log_agent",
                  "sqlite_autoindex_executions_1")

db = sqlite3.connect(f"file:{sys.argv[1]}?mode=ro", uri=True)
calls = db.execute("SELECT count(*) FROM executions WHERE state IN ('COMMITTED', 'FAILED', 'RELEASED')").fetchone()[0]
if calls == 0:
    sys.exit("ledger size: no governed calls recorded")
sizes = dict(db.execute(f"SELECT name, sum(pgsize) FROM dbstat WHERE name IN ({','.join('?' * len(LEDGER_OBJECTS))}) GROUP BY name",
                        LEDGER_OBJECTS).fetchall())
total = sum(sizes.values())
events = db.execute("SELECT count(*), avg(length(payload)) FROM event_log").fetchone()
print(f"ledger bytes per governed request: {total / calls:.0f} ({calls} calls, {events[0]} events, {total} bytes in "
      + ", ".join(f"{name} {size}" for name, size in sorted(sizes.items())) + f"; average payload {events[1]:.0f} bytes)")
