"""The alarm service's SQLite file in the data folder: the journal, the engine's state,
every occurrence, and the notification outbox, written together.

`commit()` appends the journal entries of some events and upserts the state that
changed with them in ONE transaction, so that after a crash (SIGKILL included) the
state on disk is exactly the state the journal describes. The outbox holds each
notification from the moment its tier fell due until its outcome is journalled, so a
restart sends what was due and not yet sent, and sends nothing twice that was done.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson

from hazmon.alarms.core.model import Dirty, Doc, Event, LastReading, NotifyRequest
from hazmon.alarms.dangers import table as dangers
from hazmon.alarms.journal import chain as journal
from hazmon.alarms.journal.chain import Head

DB_FILE = "alarms.db"
SITE_DOC_FROM = 32  # last readings of a site in one commit: from this many, one document
SITE_DOC_SHARE = 8  # ... or from this fraction (1/8) of the site's sensors

SCHEMA = (
    journal.SCHEMA
    + """
CREATE TABLE IF NOT EXISTS state (
    kind TEXT NOT NULL,
    id TEXT NOT NULL,
    doc TEXT NOT NULL,
    PRIMARY KEY (kind, id)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS sensor_last (
    id TEXT PRIMARY KEY,
    ts_ms INTEGER,
    seen_ms INTEGER,
    value ANY,
    quality TEXT NOT NULL
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS site_last (
    site TEXT PRIMARY KEY,  -- a gateway's (site/gateway), or a site's
    doc BLOB NOT NULL
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS occurrences (
    alarm_id TEXT PRIMARY KEY,
    key TEXT NOT NULL,
    site TEXT NOT NULL,
    priority TEXT NOT NULL,
    raised_ms INTEGER NOT NULL,
    ended_ms INTEGER,
    doc TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS occurrences_raised ON occurrences (raised_ms);
CREATE INDEX IF NOT EXISTS occurrences_open ON occurrences (ended_ms);
CREATE TABLE IF NOT EXISTS outbox (
    id TEXT PRIMARY KEY,
    created_ms INTEGER NOT NULL,
    doc TEXT NOT NULL
);
"""
)


def _newer_seen(doc: tuple[Any, Any], row: LastReading) -> bool:
    """Whether a site document's entry (ts, seen) is newer than a sensor's own row:
    by the time it was seen, then by its time; a tie goes to the document."""
    def key(ts_ms: Any, seen_ms: Any) -> tuple[int, int]:
        return (seen_ms if seen_ms is not None else -1, ts_ms if ts_ms is not None else -1)

    return key(*doc) >= key(row[0], row[1])


def _dumps(doc: Any) -> str:
    """State documents as compact UTF-8 JSON (orjson: the commit is on the hot path)."""
    return orjson.dumps(doc, option=orjson.OPT_NON_STR_KEYS).decode()


def connect(path: Path, *, readonly: bool = False) -> sqlite3.Connection:
    """A connection usable from any thread (callers serialize writes)."""
    if readonly:
        conn = sqlite3.connect(
            f"file:{path}?mode=ro", uri=True, check_same_thread=False, isolation_level=None
        )
    else:
        conn = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=FULL")
    conn.execute("PRAGMA busy_timeout=10000")
    conn.text_factory = journal.text_or_bytes
    return conn


@dataclass(slots=True)
class Saved:
    """What a restart restores."""

    sensors: dict[str, Doc] = field(default_factory=dict)
    points: dict[str, Doc] = field(default_factory=dict)
    gateways: dict[str, Doc] = field(default_factory=dict)
    open_occurrences: dict[str, Doc] = field(default_factory=dict)
    last: dict[str, LastReading] = field(default_factory=dict)


class AlarmDb:
    def __init__(self, data_dir: Path) -> None:
        data_dir.mkdir(parents=True, exist_ok=True)
        self.path = data_dir / DB_FILE
        self._conn = connect(self.path)
        self._conn.executescript(SCHEMA)
        self._conn.executescript(dangers.SCHEMA)  # hidden dangers: docs/hidden-dangers.md
        self.head: Head = journal.read_head(self._conn)
        self._last: dict[str, dict[str, Any]] = {}  # site_last, as committed: `_site_rows`
        # called (in the committing thread, after the commit) with the new head
        # whenever a commit journals entries: the service anchors it
        self.on_head: Callable[[Head], None] | None = None

    def close(self) -> None:
        self._conn.close()

    def _last_rows(self, cur: sqlite3.Cursor, dirty: Dirty
                   ) -> tuple[list[tuple[str, bytes]], list[tuple[Any, ...]]]:
        """Each sensor's last reading (every reading changes one). A gateway with at
        least SITE_DOC_FROM of them in this commit, or an eighth of its sensors, gets
        one document of all its sensors (`site_last`, keyed `site/gateway`): the
        engine's own table of them (`Dirty.last_tables`), serialized in one call. Any
        other gets a row per sensor (`sensor_last`). A row per sensor was a fifth of the
        alarm service's CPU at 50 readings per message; a document rewritten whole for
        a handful of its readings costs more than rows at 1 reading per message. `load`
        takes, for each sensor, the newer of the two (by the time it was seen).

        An older changelog record carries rows by site (`Dirty.last`): a site's
        document (keyed `site`) is then `_last`, the documents as committed (read on
        first use), brought up to date. A commit that fails forgets `_last`, so nothing
        not committed is ever written."""
        dirty.split_last(SITE_DOC_FROM, SITE_DOC_SHARE)
        docs = [(gid, orjson.dumps(table)) for gid, table in dirty.last_docs.items()]
        rows: list[tuple[Any, ...]] = [(sid, *row) for sid, row in dirty.last_rows.items()]
        for site, changed_rows in dirty.last.items():
            known = len(self._last.get(site) or ())
            if len(changed_rows) < SITE_DOC_FROM and len(changed_rows) * SITE_DOC_SHARE < known:
                rows += [(f"{site}/{sensor}", *row) for sensor, row in changed_rows.items()]
                continue
            sensors = self._last.get(site)
            if sensors is None:
                found = cur.execute("SELECT doc FROM site_last WHERE site = ?",
                                    (site,)).fetchone()
                sensors = self._last[site] = orjson.loads(found[0]) if found else {}
            sensors.update(changed_rows)
            docs.append((site, orjson.dumps(sensors)))
        return docs, rows

    def load(self) -> Saved:
        saved = Saved()
        kinds = {"sensor": saved.sensors, "point": saved.points, "gateway": saved.gateways}
        for kind, ident, doc in self._conn.execute("SELECT kind, id, doc FROM state"):
            if kind in kinds:
                kinds[kind][ident] = json.loads(doc)
        for sid, ts_ms, seen_ms, value, quality in self._conn.execute(
            "SELECT id, ts_ms, seen_ms, value, quality FROM sensor_last"
        ):
            saved.last[sid] = (ts_ms, seen_ms, value, quality)
        self._last = {}
        for key, doc in self._conn.execute("SELECT site, doc FROM site_last"):
            sensors = orjson.loads(doc)  # a gateway's (`site/gateway`) or a site's
            site = key.partition("/")[0]
            if site == key:
                self._last[site] = sensors
            for sensor, (ts_ms, seen_ms, value, quality) in sensors.items():
                sid = f"{site}/{sensor}"
                row = saved.last.get(sid)
                if row is None or _newer_seen((ts_ms, seen_ms), row):
                    saved.last[sid] = (ts_ms, seen_ms, value, quality)
        for alarm_id, doc in self._conn.execute(
            "SELECT alarm_id, doc FROM occurrences WHERE ended_ms IS NULL"
        ):
            saved.open_occurrences[alarm_id] = json.loads(doc)
        return saved

    def commit(
        self,
        events: Sequence[Event],
        dirty: Dirty,
        *,
        outbox_add: Sequence[NotifyRequest] = (),
        outbox_done: Sequence[str] = (),
        now_ms: int = 0,
    ) -> Head:
        """Journal the events and persist what changed, atomically; the new head."""
        cur = self._conn.cursor()
        cur.execute("BEGIN IMMEDIATE")
        try:
            head = journal.append(cur, self.head, events) if events else self.head
            dangers.project(cur, events)  # the records of hidden dangers, from their entries
            self._write_state(cur, dirty)
            cur.executemany(
                "INSERT OR IGNORE INTO outbox (id, created_ms, doc) VALUES (?, ?, ?)",
                [(r.id, now_ms, _dumps(r.doc())) for r in outbox_add],
            )
            cur.executemany("DELETE FROM outbox WHERE id = ?", [(i,) for i in outbox_done])
            cur.execute("COMMIT")
        except BaseException:
            cur.execute("ROLLBACK")
            self._last.clear()  # it may hold what was not committed: read again
            raise
        self.head = head
        if events and self.on_head is not None:
            self.on_head(head)
        return head

    def _write_state(self, cur: sqlite3.Cursor, dirty: Dirty) -> None:
        rows = [("sensor", i, _dumps(d)) for i, d in dirty.sensors.items()]
        rows += [("point", k, _dumps(d)) for k, d in dirty.points.items()]
        rows += [("gateway", i, _dumps(d)) for i, d in dirty.gateways.items()]
        cur.executemany("INSERT OR REPLACE INTO state (kind, id, doc) VALUES (?, ?, ?)", rows)
        if dirty.last or dirty.last_changed or dirty.last_docs or dirty.last_rows:
            docs, rows = self._last_rows(cur, dirty)
            cur.executemany("INSERT OR REPLACE INTO site_last (site, doc) VALUES (?, ?)", docs)
            cur.executemany(
                "INSERT OR REPLACE INTO sensor_last (id, ts_ms, seen_ms, value, quality) "
                "VALUES (?, ?, ?, ?, ?)", rows)
        cur.executemany(
            "INSERT OR REPLACE INTO occurrences "
            "(alarm_id, key, site, priority, raised_ms, ended_ms, doc) VALUES (?,?,?,?,?,?,?)",
            [
                (o.alarm_id, o.key, o.site, o.priority, o.raised_ms, o.ended_ms, _dumps(o.doc))
                for o in dirty.occurrences.values()
            ],
        )

    # -- reads --------------------------------------------------------------------------

    @property
    def reader(self) -> sqlite3.Connection:
        """The connection, for reads of other tables of this file (hidden dangers);
        the caller holds the desk's lock."""
        return self._conn

    def open_of_site(self, site: str) -> list[tuple[str, str, int, Doc]]:
        """(alarm_id, key, raised_ms, occurrence doc) of the site's open occurrences."""
        found = self._conn.execute(
            "SELECT alarm_id, key, raised_ms, doc FROM occurrences "
            "WHERE site = ? AND ended_ms IS NULL", (site,)
        )
        return [(a, k, int(r), json.loads(d)) for a, k, r, d in found]

    def occurrence_numbers(self, site: str) -> dict[str, int]:
        """How many occurrences each key of the site has had."""
        found = self._conn.execute(
            "SELECT key, COUNT(*) FROM occurrences WHERE site = ? GROUP BY key", (site,)
        )
        return {str(k): int(n) for k, n in found}

    def hash_at(self, seq: int) -> str | None:
        """The hash of journal entry `seq`, None if there is none."""
        row = self._conn.execute("SELECT hash FROM journal WHERE seq = ?", (seq,)).fetchone()
        return None if row is None else str(row[0])

    def outbox(self) -> list[NotifyRequest]:
        found = self._conn.execute("SELECT doc FROM outbox ORDER BY created_ms, id")
        return [NotifyRequest.load(json.loads(doc)) for (doc,) in found]

    def occurrence(self, alarm_id: str) -> Doc | None:
        row = self._conn.execute(
            "SELECT doc FROM occurrences WHERE alarm_id = ?", (alarm_id,)
        ).fetchone()
        return None if row is None else _public(json.loads(row[0]))

    def occurrences(
        self,
        *,
        active: bool | None = None,
        site: str | None = None,
        priority: str | None = None,
        limit: int = 500,
    ) -> list[Doc]:
        where: list[str] = ["1"]
        args: list[Any] = []
        if active is not None:
            where.append("ended_ms IS NULL" if active else "ended_ms IS NOT NULL")
        if site is not None:
            where.append("site = ?")
            args.append(site)
        if priority is not None:
            where.append("priority = ?")
            args.append(priority)
        sql = (
            f"SELECT doc FROM occurrences WHERE {' AND '.join(where)} "
            "ORDER BY raised_ms DESC, alarm_id DESC LIMIT ?"
        )
        found = self._conn.execute(sql, (*args, limit))
        return [_public(json.loads(doc)) for (doc,) in found]


def _public(doc: Doc) -> Doc:
    latest: Doc = doc.get("latest") or {}
    return {
        **latest,
        "raised_ms": doc.get("raised_ms"),
        "acked_ms": doc.get("acked_ms"),
        "acked_by": doc.get("acked_by"),
    }
