"""The gateway's disk: boot counter and store-and-forward buffer (one SQLite file).

Every telemetry batch is written here before it is handed to the MQTT client and
deleted when the broker acknowledges it (PUBACK), so neither a broker outage nor a
gateway crash or restart loses a reading:

- a batch made while the broker is unreachable waits here (`waiting`), to be
  replayed, oldest first, flagged historical, once the broker is back;
- a batch handed to the MQTT client (`handed`) is resent by the client itself after a
  reconnect; if the gateway stops first, it is replayed at the next start.

The buffer is bounded (`max_messages` waiting batches; those handed to the MQTT client
are bounded by the gateway's in-flight limit). When full, the oldest waiting batches are
evicted, counted (`evicted_messages`, `evicted_readings`, kept across restarts) and
logged; see hazmon.gateway.service for how the loss is made visible to the platform.
"""

from __future__ import annotations

import logging
import sqlite3
from dataclasses import dataclass
from pathlib import Path

log = logging.getLogger(__name__)

WAITING, HANDED = 0, 1

_SCHEMA = """
CREATE TABLE IF NOT EXISTS batch (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    state INTEGER NOT NULL,
    first_ts_ms INTEGER NOT NULL,
    readings INTEGER NOT NULL,
    body BLOB NOT NULL
);
CREATE INDEX IF NOT EXISTS batch_state ON batch (state, id);
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value INTEGER NOT NULL);
"""


@dataclass(frozen=True, slots=True)
class Stored:
    """A batch on disk: `body` is the JSON array of its readings."""

    id: int
    first_ts_ms: int
    readings: int
    body: bytes


@dataclass(frozen=True, slots=True)
class Eviction:
    messages: int
    readings: int


class Buffer:
    """SQLite-backed, bounded, ordered. Used from one thread (the gateway's loop)."""

    def __init__(self, path: Path, *, max_messages: int) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self.max_messages = max_messages
        self._db = sqlite3.connect(path, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.executescript(_SCHEMA)
        # What this process handed to an MQTT client died with the previous process.
        self._db.execute("UPDATE batch SET state = ? WHERE state = ?", (WAITING, HANDED))
        self._count = self._scalar("SELECT count(*) FROM batch")
        self._waiting = self._count

    def close(self) -> None:
        self._db.close()

    # -- boot and counters ---------------------------------------------------------

    def next_boot(self) -> int:
        """Increment and return the boot counter (0 on the very first start)."""
        with self._db:
            boot = self.meta("boot", -1) + 1
            self._set_meta("boot", boot)
        return boot

    def meta(self, key: str, default: int = 0) -> int:
        row = self._db.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return int(row[0]) if row else default

    def _set_meta(self, key: str, value: int) -> None:
        self._db.execute(
            "INSERT INTO meta (key, value) VALUES (?, ?) "
            "ON CONFLICT (key) DO UPDATE SET value = excluded.value",
            (key, value),
        )

    def _add_meta(self, key: str, delta: int) -> None:
        self._set_meta(key, self.meta(key) + delta)

    @property
    def evicted_messages(self) -> int:
        return self.meta("evicted_messages")

    @property
    def evicted_readings(self) -> int:
        return self.meta("evicted_readings")

    # -- batches --------------------------------------------------------------------

    def __len__(self) -> int:
        return self._count

    def add(
        self, body: bytes, *, first_ts_ms: int, readings: int, handed: bool
    ) -> tuple[int, Eviction | None]:
        """Store a batch; evict the oldest waiting ones if the bound is passed."""
        with self._db:
            cur = self._db.execute(
                "INSERT INTO batch (state, first_ts_ms, readings, body) VALUES (?, ?, ?, ?)",
                (HANDED if handed else WAITING, first_ts_ms, readings, body),
            )
            self._count += 1
            self._waiting += 0 if handed else 1
            eviction = self._evict() if self._waiting > self.max_messages else None
        assert cur.lastrowid is not None
        return cur.lastrowid, eviction

    def _evict(self) -> Eviction | None:
        excess = self._waiting - self.max_messages
        rows = self._db.execute(
            "SELECT id, readings FROM batch WHERE state = ? ORDER BY id LIMIT ?",
            (WAITING, excess),
        ).fetchall()
        if not rows:
            return None
        self._db.execute("DELETE FROM batch WHERE state = ? AND id <= ?", (WAITING, rows[-1][0]))
        eviction = Eviction(len(rows), sum(int(r[1]) for r in rows))
        self._count -= eviction.messages
        self._waiting -= eviction.messages
        self._add_meta("evicted_messages", eviction.messages)
        self._add_meta("evicted_readings", eviction.readings)
        self._add_meta("unreported_evicted", eviction.messages)
        return eviction

    def take_unreported_evictions(self) -> int:
        """Evicted messages not yet made visible to the platform; resets the count."""
        with self._db:
            count = self.meta("unreported_evicted")
            if count:
                self._set_meta("unreported_evicted", 0)
        return count

    def next_waiting(self) -> Stored | None:
        """The oldest batch that waits to be replayed."""
        row = self._db.execute(
            "SELECT id, first_ts_ms, readings, body FROM batch WHERE state = ? ORDER BY id LIMIT 1",
            (WAITING,),
        ).fetchone()
        return Stored(int(row[0]), int(row[1]), int(row[2]), bytes(row[3])) if row else None

    def waiting(self) -> int:
        return self._waiting

    def mark_handed(self, batch_id: int) -> None:
        self._set_state(batch_id, HANDED)

    def mark_waiting(self, batch_id: int) -> None:
        self._set_state(batch_id, WAITING)

    def _set_state(self, batch_id: int, state: int) -> None:
        cur = self._db.execute(
            "UPDATE batch SET state = ? WHERE id = ? AND state != ?", (state, batch_id, state)
        )
        self._waiting += cur.rowcount if state == WAITING else -cur.rowcount

    def acknowledged(self, batch_id: int) -> None:
        """The broker has the batch (it was handed to the MQTT client): forget it."""
        cur = self._db.execute("DELETE FROM batch WHERE id = ? AND state = ?", (batch_id, HANDED))
        self._count -= cur.rowcount

    def _scalar(self, sql: str, args: tuple[int, ...] = ()) -> int:
        return int(self._db.execute(sql, args).fetchone()[0])
