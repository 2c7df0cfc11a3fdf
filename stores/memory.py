"""MemoryStore: the in-memory fake of the store interface, for tests of logic.

It keeps InfluxDB's semantics (docs/contract.md §5): a point is identified by its
measurement, tags and timestamp; a rewrite of the same point merges its fields (so
rewriting a reading is idempotent); an empty tag value is no tag and a None field
is no field. Nothing is persisted.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping, Sequence

from hazmon.contract.lineproto import FieldValue
from hazmon.contract.wire import Reading
from hazmon.stores.base import Latest, Point, Row, Store, StoreUnavailable

ReadingKey = tuple[str, str, str, str, str, int]  # site, gateway, sensor, kind, quality, ts
PointKey = tuple[str, tuple[tuple[str, str], ...], int]


def clean_tags(tags: Mapping[str, str]) -> tuple[tuple[str, str], ...]:
    """Tags as InfluxDB sees them: empty values dropped, sorted by key."""
    return tuple(sorted((k, v) for k, v in tags.items() if v != ""))


def clean_fields(fields: Mapping[str, FieldValue | None]) -> dict[str, FieldValue]:
    return {k: v for k, v in fields.items() if v is not None}


class MemoryStore(Store):
    """A complete, thread-safe store in a few dicts. `available = False` simulates an outage."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._readings: dict[ReadingKey, Latest] = {}
        self._points: dict[PointKey, dict[str, FieldValue]] = {}
        self.available = True
        self.writes = 0  # successful write calls, for tests

    def _check(self) -> None:
        if not self.available:
            raise StoreUnavailable("memory store marked unavailable")

    def write_readings(self, readings: Sequence[Reading]) -> None:
        with self._lock:
            self._check()
            for r in readings:
                key = (r.site, r.gateway, r.sensor, r.kind, r.quality, r.ts_ms)
                self._readings[key] = Latest(
                    r.site,
                    r.gateway,
                    r.sensor,
                    r.kind,
                    r.ts_ms,
                    r.value,
                    r.state,
                    r.quality,
                    r.over_range,
                )
            self.writes += 1

    def write_points(self, points: Sequence[Point]) -> None:
        with self._lock:
            self._check()
            for p in points:
                key = (p.measurement, clean_tags(p.tags), p.ts_ms)
                self._points.setdefault(key, {}).update(clean_fields(p.fields))
            self.writes += 1

    def latest(self, site: str) -> list[Latest]:
        newest: dict[str, Latest] = {}
        with self._lock:
            for row in self._readings.values():
                if row.site != site:
                    continue
                seen = newest.get(row.sensor)
                if seen is None or row.ts_ms >= seen.ts_ms:
                    newest[row.sensor] = row
        return sorted(newest.values(), key=lambda r: r.sensor)

    def readings(
        self, site: str, sensor: str, *, from_ms: int, to_ms: int, limit: int = 10_000
    ) -> list[Latest]:
        with self._lock:
            rows = [
                r
                for r in self._readings.values()
                if r.site == site and r.sensor == sensor and from_ms <= r.ts_ms <= to_ms
            ]
        rows.sort(key=lambda r: (r.ts_ms, r.quality))
        return rows[:limit]

    def points(
        self,
        measurement: str,
        *,
        from_ms: int,
        to_ms: int,
        tags: Mapping[str, str] | None = None,
        limit: int = 10_000,
    ) -> list[Row]:
        wanted = set((tags or {}).items())
        with self._lock:
            rows = [
                Row(ts_ms, dict(key_tags), dict(fields))
                for (m, key_tags, ts_ms), fields in self._points.items()
                if m == measurement and from_ms <= ts_ms <= to_ms and wanted <= set(key_tags)
            ]
        rows.sort(key=lambda r: r.ts_ms, reverse=True)
        return rows[:limit]

    def count_readings(self) -> int:
        with self._lock:
            return len(self._readings)

    def ping(self) -> bool:
        return self.available
