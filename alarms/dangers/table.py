"""Hidden dangers in the alarm database: the `hidden_dangers` table, a projection of the
journal's `hd_*` entries kept in the same transaction as the entries themselves
(`project`, called by `AlarmDb.commit`). A takeover on JetStream, which commits a
partition's changelog again, rebuilds the table with the journal.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Sequence
from typing import Any

from hazmon.alarms.core.model import Event
from hazmon.alarms.dangers.model import Doc, fold, is_danger_entry

SCHEMA = """
CREATE TABLE IF NOT EXISTS hidden_dangers (
    id TEXT PRIMARY KEY,
    site TEXT NOT NULL,
    found_ms INTEGER NOT NULL,
    doc TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS hidden_dangers_site ON hidden_dangers (site, found_ms);
"""


def project(cur: sqlite3.Cursor, events: Sequence[Event]) -> None:
    """Fold the hidden-danger entries among `events` into their records (inside the
    caller's transaction)."""
    for event in events:
        if not is_danger_entry(event.event, event.key) or event.alarm_id is None:
            continue
        row = cur.execute("SELECT doc FROM hidden_dangers WHERE id = ?",
                          (event.alarm_id,)).fetchone()
        before = json.loads(row[0]) if row is not None else None
        doc = fold(before, {"value": event.value, "to_state": event.state,
                            "ts_ms": event.ts_ms})
        cur.execute(
            "INSERT OR REPLACE INTO hidden_dangers (id, site, found_ms, doc) VALUES (?,?,?,?)",
            (event.alarm_id, doc.get("site", event.site), int(doc.get("found_ms") or 0),
             json.dumps(doc, ensure_ascii=False)),
        )


def record(conn: sqlite3.Connection, danger_id: str) -> Doc | None:
    row = conn.execute("SELECT doc FROM hidden_dangers WHERE id = ?", (danger_id,)).fetchone()
    return None if row is None else dict(json.loads(row[0]))


def records(conn: sqlite3.Connection, site: str | None = None) -> list[Doc]:
    if site is None:
        found = conn.execute("SELECT doc FROM hidden_dangers ORDER BY found_ms DESC, id DESC")
    else:
        found = conn.execute("SELECT doc FROM hidden_dangers WHERE site = ? "
                             "ORDER BY found_ms DESC, id DESC", (site,))
    return [dict(json.loads(doc)) for (doc,) in found]


def count(conn: sqlite3.Connection, site: str) -> int:
    row = conn.execute("SELECT COUNT(*) FROM hidden_dangers WHERE site = ?", (site,)).fetchone()
    return int(row[0])


def history(conn: sqlite3.Connection, danger_id: str, since_ms: int) -> list[dict[str, Any]]:
    """The journal entries of a record and of its overdue alarm, oldest first."""
    found = conn.execute(
        "SELECT seq, ts_ms, event, from_state, to_state, user, note, hash FROM journal "
        "WHERE ts_ms >= ? AND (alarm_id = ? OR alarm_id LIKE ?) ORDER BY seq",
        (since_ms, danger_id, f"%/{danger_id}/overdue#%"),
    )
    names = ("seq", "ts_ms", "event", "from_state", "to_state", "user", "note", "hash")
    return [dict(zip(names, row, strict=True)) for row in found]


def high_high_raises(conn: sqlite3.Connection, since_ms: int) -> list[tuple[str, int, str]]:
    found = conn.execute(
        "SELECT key, ts_ms, alarm_id FROM journal WHERE ts_ms >= ? AND event = 'raised' "
        "AND key LIKE '%/high_high'", (since_ms,))
    return [(str(k), int(t), str(a)) for k, t, a in found]


def out_of_service_since(conn: sqlite3.Connection, sid: str, since_ms: int) -> int | None:
    row = conn.execute(
        "SELECT MAX(ts_ms) FROM journal WHERE ts_ms >= ? AND key = ? "
        "AND event = 'out_of_service'", (since_ms, sid)).fetchone()
    return None if row is None or row[0] is None else int(row[0])
