"""The dead-letter store: every rejected message or reading, with why, in the data folder.

One SQLite file (`deadletter.sqlite`, WAL, synchronous FULL: a dead letter is durable
before its message is acknowledged). It is bounded: beyond `max_rows` the oldest
letters are evicted, and counted (`evicted`). Payloads longer than
`max_payload_bytes` are cut; `payload_bytes` keeps the original size.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

FILE_NAME = "deadletter.sqlite"

_SCHEMA = """
CREATE TABLE IF NOT EXISTS dead_letter (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    received_ms INTEGER NOT NULL,
    topic TEXT NOT NULL,
    reason TEXT NOT NULL,
    detail TEXT NOT NULL,
    idx INTEGER,
    payload BLOB NOT NULL,
    payload_bytes INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS dead_letter_reason ON dead_letter (reason, id);
"""


@dataclass(frozen=True, slots=True)
class DeadLetter:
    """A rejected message (`index` None) or one rejected reading of it (`index` in `readings`)."""

    topic: str
    reason: str
    detail: str
    payload: bytes
    received_ms: int
    index: int | None = None
    payload_bytes: int | None = None  # the original size, when `payload` was cut


class DeadLetters:
    def __init__(
        self, path: Path, *, max_rows: int = 100_000, max_payload_bytes: int = 64 * 1024
    ) -> None:
        self.path = path
        self.max_rows = max_rows
        self.max_payload_bytes = max_payload_bytes
        self.evicted = 0
        self._lock = threading.Lock()
        path.parent.mkdir(parents=True, exist_ok=True)
        self._conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        self._conn.execute("PRAGMA journal_mode = WAL")
        self._conn.execute("PRAGMA synchronous = FULL")
        self._conn.executescript(_SCHEMA)

    def cut(self, payload: bytes) -> bytes:
        return payload[: self.max_payload_bytes]

    def add(self, letters: Sequence[DeadLetter]) -> int:
        """Store letters durably; evict the oldest beyond `max_rows`. Returns how many evicted."""
        if not letters:
            return 0
        rows = [
            (
                d.received_ms,
                d.topic,
                d.reason,
                d.detail,
                d.index,
                self.cut(d.payload),
                d.payload_bytes if d.payload_bytes is not None else len(d.payload),
            )
            for d in letters
        ]
        with self._lock:
            self._conn.execute("BEGIN IMMEDIATE")
            try:
                self._conn.executemany(
                    "INSERT INTO dead_letter (received_ms, topic, reason, detail, idx, payload, "
                    "payload_bytes) VALUES (?, ?, ?, ?, ?, ?, ?)",
                    rows,
                )
                evicted = self._conn.execute(
                    "DELETE FROM dead_letter WHERE id <= (SELECT max(id) FROM dead_letter) - ?",
                    (self.max_rows,),
                ).rowcount
                self._conn.execute("COMMIT")
            except BaseException:
                self._conn.execute("ROLLBACK")
                raise
            self.evicted += evicted
        return evicted

    def count(self, reason: str | None = None) -> int:
        with self._lock:
            if reason is None:
                row = self._conn.execute("SELECT count(*) FROM dead_letter").fetchone()
            else:
                row = self._conn.execute(
                    "SELECT count(*) FROM dead_letter WHERE reason = ?", (reason,)
                ).fetchone()
        return int(row[0])

    def recent(self, limit: int = 100) -> list[DeadLetter]:
        """The newest letters, newest first."""
        with self._lock:
            rows = self._conn.execute(
                "SELECT topic, reason, detail, payload, received_ms, idx, payload_bytes "
                "FROM dead_letter ORDER BY id DESC LIMIT ?",
                (limit,),
            ).fetchall()
        return [DeadLetter(t, r, d, bytes(p), ms, i, n) for t, r, d, p, ms, i, n in rows]

    def close(self) -> None:
        with self._lock:
            self._conn.close()
