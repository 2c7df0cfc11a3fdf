"""The store interface that ingest, the alarm service and the API share (docs/contract.md §5).

A store keeps the series of docs/contract.md §5 (and hazmon's own `ingest_stats`).
`InfluxStore` writes them to InfluxDB through the v1 HTTP API; `SqliteStore` is the
embedded store in the data folder; `MemoryStore` is the in-memory fake for tests of
logic. Calls are synchronous and batch-oriented; async shells run them in a worker
thread. Every store is safe to call from several threads.

    StoreError
    ├── StoreUnavailable   the store cannot be reached now (retry later, spool meanwhile)
    └── StoreRejected      some items were refused for good (the others were written);
                           `refused` says which and why

The batch path (`pack`, `write_packed`) is what ingest uses: a batch is packed once
into bytes in the store's own wire format (gzipped line protocol for InfluxDB), and
those same bytes are either written or kept in the disk spool and written later.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import orjson

from hazmon.contract.errors import HazmonError
from hazmon.contract.lineproto import FieldValue
from hazmon.contract.wire import Reading


@dataclass(frozen=True, slots=True)
class Refused:
    """One item a store refused for good: what it was (as text) and why."""

    item: str
    reason: str


class StoreError(HazmonError):
    """A store refused or failed an operation."""


class StoreUnavailable(StoreError):
    """The store cannot be reached now; the caller keeps the data and retries."""


class StoreUnauthorized(StoreUnavailable):
    """The store refuses hazmon's credentials: nothing is written until they are fixed
    (kept and retried like any unavailability, but an error, not a passing outage)."""


class StoreRejected(StoreError):
    """Some items were refused for good (e.g. a field type conflict); the rest is written."""

    def __init__(self, refused: list[Refused]) -> None:
        self.refused = refused
        first = refused[0].reason if refused else "nothing"
        super().__init__(f"{len(refused)} item(s) refused by the store; first: {first}")


@dataclass(frozen=True, slots=True)
class Point:
    """One row of a series other than `reading` (alarm_event, site_risk, ...)."""

    measurement: str
    tags: Mapping[str, str]
    fields: Mapping[str, FieldValue | None]
    ts_ms: int


@dataclass(frozen=True, slots=True)
class Latest:
    """The newest reading of one sensor."""

    site: str
    gateway: str
    sensor: str
    kind: str
    ts_ms: int
    value: float | None
    state: str | None
    quality: str
    over_range: bool = False


@dataclass(frozen=True, slots=True)
class Row:
    """A row read back from a series: its time, tags and fields."""

    ts_ms: int
    tags: Mapping[str, str] = field(default_factory=dict)
    fields: Mapping[str, FieldValue | None] = field(default_factory=dict)


class Store(ABC):
    """Where readings and the other series become durable."""

    #: names the format of `pack()`; a disk spool is kept per format
    pack_format: str = "json-v1"

    @abstractmethod
    def write_readings(self, readings: Sequence[Reading]) -> None:
        """Make readings durable; raise StoreUnavailable if that cannot be done now."""

    @abstractmethod
    def write_points(self, points: Sequence[Point]) -> None:
        """Make points of the other series durable."""

    @abstractmethod
    def latest(self, site: str) -> list[Latest]:
        """The newest reading of every sensor of a site that has one."""

    @abstractmethod
    def readings(
        self, site: str, sensor: str, *, from_ms: int, to_ms: int, limit: int = 10_000
    ) -> list[Latest]:
        """One sensor's readings in [from_ms, to_ms], oldest first."""

    @abstractmethod
    def points(
        self,
        measurement: str,
        *,
        from_ms: int,
        to_ms: int,
        tags: Mapping[str, str] | None = None,
        limit: int = 10_000,
    ) -> list[Row]:
        """Rows of a non-reading series in [from_ms, to_ms], newest first."""

    @abstractmethod
    def count_readings(self) -> int:
        """How many reading rows the store holds (idempotent rewrites count once)."""

    def ping(self) -> bool:
        """Whether the store is reachable now."""
        return True

    def close(self) -> None:  # noqa: B027 - a no-op default is right for most stores
        """Release connections and files."""

    # -- the batch path of ingest ----------------------------------------------------

    # whether `pack` takes readings already as line protocol (`lines`): ingest then
    # decodes telemetry straight to it (hazmon.ingest.pipeline)
    takes_lines: bool = False

    def pack(self, readings: Sequence[Reading], points: Sequence[Point], *,
             lines: Sequence[str] = ()) -> bytes:
        """Readings and points as one blob that `write_packed` takes (and a spool keeps)."""
        if lines:
            raise TypeError(f"{type(self).__name__} takes no line protocol")
        return pack_json(readings, points)

    def for_spool(self, blob: bytes) -> bytes:
        """A blob made by `pack` as the spool keeps it (`write_packed` takes both)."""
        return blob

    def write_packed(self, blob: bytes) -> None:
        """Write a blob made by `pack` (of this store's `pack_format`)."""
        readings, points = unpack_json(blob)
        refused: list[Refused] = []
        try:
            if readings:
                self.write_readings(readings)
        except StoreRejected as exc:
            refused.extend(exc.refused)
        try:
            if points:
                self.write_points(points)
        except StoreRejected as exc:
            refused.extend(exc.refused)
        if refused:
            raise StoreRejected(refused)


def pack_json(readings: Sequence[Reading], points: Sequence[Point]) -> bytes:
    """The store-neutral packing: JSON arrays of reading and point tuples."""
    rows = [
        (
            r.site,
            r.gateway,
            r.sensor,
            r.kind,
            r.ts_ms,
            r.value,
            r.state,
            r.quality,
            r.over_range,
            r.historical,
        )
        for r in readings
    ]
    pts = [(p.measurement, dict(p.tags), dict(p.fields), p.ts_ms) for p in points]
    return orjson.dumps({"r": rows, "p": pts})


def unpack_json(blob: bytes) -> tuple[list[Reading], list[Point]]:
    doc: dict[str, Any] = orjson.loads(blob)
    readings = [Reading(*row) for row in doc["r"]]
    points = [Point(m, tags, fields, ts_ms) for m, tags, fields, ts_ms in doc["p"]]
    return readings, points
