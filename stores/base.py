"""The store interface that ingest, the alarm service and the API share (CONTRACT §5).

A store keeps the five series of CONTRACT §5. `InfluxStore` writes them to InfluxDB
through the v1 HTTP API; `SqliteStore` is the embedded store in the data folder;
`MemoryStore` is the in-memory fake for tests of logic. Calls are synchronous and
batch-oriented; async shells run them in a worker thread.

    StoreError
    └── StoreUnavailable   the store cannot be reached now (retry later, spool meanwhile)
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from hazmon.errors import HazmonError
from hazmon.lineproto import FieldValue
from hazmon.wire import Reading


class StoreError(HazmonError):
    """A store refused or failed an operation."""


class StoreUnavailable(StoreError):
    """The store cannot be reached now; the caller keeps the data and retries."""


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
