"""SqliteStore: the embedded store, one SQLite file (WAL) in the data folder.

The same series as InfluxDB (docs/contract.md §5), with InfluxDB's identity rule: a reading
is identified by its tags (site, gateway, sensor, kind, quality) and timestamp, so a
rewrite replaces it; another series' point by its measurement, tags and timestamp, a
rewrite merging its fields. Layout (docs/storage.md has the figures):

- `series`   one row per tag set of `reading` (id, site, gateway, sensor, kind, quality),
             unique index on (site, sensor, gateway, kind, quality);
- `reading`  (series, ts_ms) primary key, WITHOUT ROWID: about 25 bytes a row, a
             sensor's range is one index range scan per series, merged by time;
- `latest`   the newest reading per (site, sensor), upserted on every write, so the
             latest values of a site are read from ~sensors rows, not from the history;
- `point`    every other series: (measurement, tag set, ts_ms) primary key, tags and
             fields as JSON, indexed by (measurement, ts_ms) and (measurement, site, ts_ms).

Meant for one plant of a few hundred sensors at about 1 Hz (the demo plant: 177
sensors, 5.6 billion rows and ~140 GB a year); `prune()` drops old readings. A larger
estate belongs in InfluxDB.
"""

from __future__ import annotations

import contextlib
import heapq
import sqlite3
import threading
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import orjson

from hazmon.contract.lineproto import FieldValue
from hazmon.contract.wire import Reading
from hazmon.stores.base import Latest, Point, Row, Store, StoreError, StoreUnavailable
from hazmon.stores.memory import clean_fields, clean_tags

SeriesKey = tuple[str, str, str, str, str]  # site, gateway, sensor, kind, quality

SCHEMA = """
CREATE TABLE IF NOT EXISTS series (
    id INTEGER PRIMARY KEY,
    site TEXT NOT NULL, gateway TEXT NOT NULL, sensor TEXT NOT NULL,
    kind TEXT NOT NULL, quality TEXT NOT NULL
);
CREATE UNIQUE INDEX IF NOT EXISTS series_tags ON series (site, sensor, gateway, kind, quality);
CREATE TABLE IF NOT EXISTS reading (
    series INTEGER NOT NULL, ts_ms INTEGER NOT NULL,
    value REAL, state TEXT, over_range INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (series, ts_ms)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS latest (
    site TEXT NOT NULL, sensor TEXT NOT NULL, gateway TEXT NOT NULL, kind TEXT NOT NULL,
    quality TEXT NOT NULL, ts_ms INTEGER NOT NULL, value REAL, state TEXT,
    over_range INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (site, sensor)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS point (
    measurement TEXT NOT NULL, series TEXT NOT NULL, ts_ms INTEGER NOT NULL,
    site TEXT, tags TEXT NOT NULL, fields TEXT NOT NULL,
    PRIMARY KEY (measurement, series, ts_ms)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS point_time ON point (measurement, ts_ms);
CREATE INDEX IF NOT EXISTS point_site_time ON point (measurement, site, ts_ms);
PRAGMA user_version = 1;
"""

_INSERT_READING = (
    "INSERT OR REPLACE INTO reading (series, ts_ms, value, state, over_range) "
    "VALUES (?, ?, ?, ?, ?)"
)
_UPSERT_LATEST = """
INSERT INTO latest (site, sensor, gateway, kind, quality, ts_ms, value, state, over_range)
VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
ON CONFLICT (site, sensor) DO UPDATE SET
    gateway = excluded.gateway, kind = excluded.kind, quality = excluded.quality,
    ts_ms = excluded.ts_ms, value = excluded.value, state = excluded.state,
    over_range = excluded.over_range
WHERE excluded.ts_ms >= latest.ts_ms
"""
_UPSERT_POINT = """
INSERT INTO point (measurement, series, ts_ms, site, tags, fields) VALUES (?, ?, ?, ?, ?, ?)
ON CONFLICT (measurement, series, ts_ms) DO UPDATE SET fields = json_patch(fields, excluded.fields)
"""


class SqliteStore(Store):
    """The embedded store. One connection per thread; SQLite serialises the writers."""

    def __init__(self, path: Path, *, busy_timeout_s: float = 10.0) -> None:
        self.path = path
        self._busy_timeout_s = busy_timeout_s
        self._local = threading.local()
        self._lock = threading.Lock()
        self._connections: list[sqlite3.Connection] = []
        self._series: dict[SeriesKey, int] = {}
        path.parent.mkdir(parents=True, exist_ok=True)
        with _errors("open"):
            conn = self._conn()
            conn.execute("PRAGMA journal_mode = WAL")
            conn.executescript(SCHEMA)

    def _conn(self) -> sqlite3.Connection:
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is None:
            conn = sqlite3.connect(
                self.path,
                timeout=self._busy_timeout_s,
                isolation_level=None,
                check_same_thread=False,
            )
            conn.execute("PRAGMA synchronous = FULL")
            self._local.conn = conn
            with self._lock:
                self._connections.append(conn)
        return conn

    # -- writes -------------------------------------------------------------------------

    def write_readings(self, readings: Sequence[Reading]) -> None:
        if not readings:
            return
        with _errors("write readings"):
            conn = self._conn()
            ids = self._series_ids(conn, readings)
            rows = [
                (
                    ids[(r.site, r.gateway, r.sensor, r.kind, r.quality)],
                    r.ts_ms,
                    r.value,
                    r.state,
                    1 if r.over_range else 0,
                )
                for r in readings
            ]
            newest: dict[tuple[str, str], Reading] = {}
            for r in readings:
                seen = newest.get((r.site, r.sensor))
                if seen is None or r.ts_ms >= seen.ts_ms:
                    newest[(r.site, r.sensor)] = r
            latest = [
                (
                    r.site,
                    r.sensor,
                    r.gateway,
                    r.kind,
                    r.quality,
                    r.ts_ms,
                    r.value,
                    r.state,
                    1 if r.over_range else 0,
                )
                for r in newest.values()
            ]
            with _transaction(conn):
                conn.executemany(_INSERT_READING, rows)
                conn.executemany(_UPSERT_LATEST, latest)

    def _series_ids(
        self, conn: sqlite3.Connection, readings: Sequence[Reading]
    ) -> dict[SeriesKey, int]:
        """Ids of the readings' tag sets, created (and committed) on first sight."""
        ids = self._series
        for r in readings:
            key = (r.site, r.gateway, r.sensor, r.kind, r.quality)
            if key not in ids:
                conn.execute(
                    "INSERT OR IGNORE INTO series (site, gateway, sensor, kind, quality) "
                    "VALUES (?, ?, ?, ?, ?)",
                    key,
                )
                found = conn.execute(
                    "SELECT id FROM series WHERE site = ? AND sensor = ? AND gateway = ? "
                    "AND kind = ? AND quality = ?",
                    (r.site, r.sensor, r.gateway, r.kind, r.quality),
                ).fetchone()
                with self._lock:
                    ids[key] = int(found[0])
        return ids

    def write_points(self, points: Sequence[Point]) -> None:
        if not points:
            return
        rows = []
        for p in points:
            tags = clean_tags(p.tags)
            rows.append(
                (
                    p.measurement,
                    orjson.dumps(tags).decode(),
                    p.ts_ms,
                    p.tags.get("site") or None,
                    orjson.dumps(dict(tags)).decode(),
                    orjson.dumps(clean_fields(p.fields)).decode(),
                )
            )
        with _errors("write points"):
            conn = self._conn()
            with _transaction(conn):
                conn.executemany(_UPSERT_POINT, rows)

    def prune(self, *, before_ms: int) -> int:
        """Delete readings older than `before_ms` (the `latest` table keeps its rows)."""
        deleted = 0
        with _errors("prune"):
            conn = self._conn()
            for (sid,) in conn.execute("SELECT id FROM series").fetchall():
                with _transaction(conn):
                    cur = conn.execute(
                        "DELETE FROM reading WHERE series = ? AND ts_ms < ?", (sid, before_ms)
                    )
                    deleted += cur.rowcount
        return deleted

    # -- queries ------------------------------------------------------------------------

    def latest(self, site: str) -> list[Latest]:
        with _errors("read latest"):
            rows = (
                self._conn()
                .execute(
                    "SELECT site, gateway, sensor, kind, ts_ms, value, state, quality, over_range "
                    "FROM latest WHERE site = ? ORDER BY sensor",
                    (site,),
                )
                .fetchall()
            )
        return [_latest(row) for row in rows]

    def readings(
        self, site: str, sensor: str, *, from_ms: int, to_ms: int, limit: int = 10_000
    ) -> list[Latest]:
        with _errors("read readings"):
            conn = self._conn()
            series = conn.execute(
                "SELECT id, gateway, kind, quality FROM series WHERE site = ? AND sensor = ?",
                (site, sensor),
            ).fetchall()
            streams = [
                _series_rows(conn, row, site, sensor, from_ms, to_ms, limit) for row in series
            ]
            merged = heapq.merge(*streams, key=lambda r: (r.ts_ms, r.quality))
            return [r for _, r in zip(range(limit), merged, strict=False)]

    def points(
        self,
        measurement: str,
        *,
        from_ms: int,
        to_ms: int,
        tags: Mapping[str, str] | None = None,
        limit: int = 10_000,
    ) -> list[Row]:
        sql = "SELECT ts_ms, tags, fields FROM point WHERE measurement = ?"
        args: list[Any] = [measurement]
        for key, value in (tags or {}).items():
            if key == "site":
                sql += " AND site = ?"
                args.append(value)
            else:
                sql += " AND json_extract(tags, ?) = ?"
                args.extend([_json_path(key), value])
        sql += " AND ts_ms BETWEEN ? AND ? ORDER BY ts_ms DESC LIMIT ?"
        args.extend([from_ms, to_ms, limit])
        with _errors("read points"):
            rows = self._conn().execute(sql, args).fetchall()
        return [Row(ts_ms, orjson.loads(t), _fields(orjson.loads(f))) for ts_ms, t, f in rows]

    def count_readings(self) -> int:
        with _errors("count readings"):
            return int(self._conn().execute("SELECT count(*) FROM reading").fetchone()[0])

    def ping(self) -> bool:
        try:
            self._conn().execute("SELECT 1").fetchone()
        except sqlite3.Error:
            return False
        return True

    def close(self) -> None:
        with self._lock:
            for conn in self._connections:
                conn.close()
            self._connections.clear()
        self._local = threading.local()


def _series_rows(
    conn: sqlite3.Connection,
    series: tuple[Any, ...],
    site: str,
    sensor: str,
    from_ms: int,
    to_ms: int,
    limit: int,
) -> Iterator[Latest]:
    sid, gateway, kind, quality = series
    cursor = conn.execute(
        "SELECT ts_ms, value, state, over_range FROM reading "
        "WHERE series = ? AND ts_ms BETWEEN ? AND ? ORDER BY ts_ms LIMIT ?",
        (sid, from_ms, to_ms, limit),
    )
    for ts_ms, value, state, over in cursor.fetchall():
        yield Latest(site, gateway, sensor, kind, ts_ms, value, state, quality, bool(over))


def _latest(row: tuple[Any, ...]) -> Latest:
    site, gateway, sensor, kind, ts_ms, value, state, quality, over = row
    return Latest(site, gateway, sensor, kind, ts_ms, value, state, quality, bool(over))


def _fields(doc: dict[str, Any]) -> dict[str, FieldValue | None]:
    return dict(doc)


def _json_path(key: str) -> str:
    return '$."' + key.replace("\\", "\\\\").replace('"', '\\"') + '"'


class _transaction:
    """BEGIN IMMEDIATE ... COMMIT, rolled back on any error."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self.conn = conn

    def __enter__(self) -> None:
        self.conn.execute("BEGIN IMMEDIATE")

    def __exit__(self, exc_type: object, *_: object) -> None:
        if exc_type is None:
            self.conn.execute("COMMIT")
        elif self.conn.in_transaction:
            with contextlib.suppress(sqlite3.Error):
                self.conn.execute("ROLLBACK")


class _errors:
    """Map sqlite3 errors to the store's tree: a busy or full disk is 'unavailable'."""

    def __init__(self, what: str) -> None:
        self.what = what

    def __enter__(self) -> None:
        return None

    def __exit__(self, exc_type: object, exc: BaseException | None, _tb: object) -> None:
        if isinstance(exc, sqlite3.OperationalError):
            raise StoreUnavailable(f"SQLite store, {self.what}: {exc}") from exc
        if isinstance(exc, sqlite3.Error):
            raise StoreError(f"SQLite store, {self.what}: {exc}") from exc
