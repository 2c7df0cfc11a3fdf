"""The `gateway_feed` series: what each gateway delivered, per hour of arrival.

Ingest counts, for every (site, gateway) and every hour (UTC, by the receiving
clock), the telemetry messages and readings it took, those of them that were
back-filled (`historical: true`, docs/contract.md §3), and the readings of a quality
other than `good`. The counts are written as one point per (site, gateway, hour),
tagged `instance` (the ingest's MQTT client id, so that the members of a shared
subscription each keep their own share), stamped at the hour's start, with the
running totals of that hour: each report rewrites the same point (same tags and
timestamp), so the newest write holds the hour's count. At start ingest reads back
its own points of the current hour and goes on from them, so a restart within an
hour loses nothing it had written. docs/feeds.md says how the counts are used.

Fields (all int): `messages`, `readings`, `historical_messages`,
`historical_readings`, `not_good_readings`.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from hazmon.stores.base import Point

MEASUREMENT = "gateway_feed"
HOUR_MS = 3_600_000
FIELDS = ("messages", "readings", "historical_messages", "historical_readings",
          "not_good_readings")


def hour_of(ts_ms: int) -> int:
    """The start of the hour (UTC) that holds `ts_ms`."""
    return ts_ms - ts_ms % HOUR_MS


@dataclass(slots=True)
class HourCount:
    messages: int = 0
    readings: int = 0
    historical_messages: int = 0
    historical_readings: int = 0
    not_good_readings: int = 0

    def fields(self) -> dict[str, int]:
        return {name: int(getattr(self, name)) for name in FIELDS}


Key = tuple[str, str, int]  # site, gateway, hour start


class FeedCounter:
    """Running counts per (site, gateway, hour). `count` is called on the link's
    thread for every telemetry message; `points` from the asyncio task: a lock keeps
    them apart. Only the hours touched since the last report are written again, and
    hours before the current one are forgotten once written."""

    def __init__(self) -> None:
        self._hours: dict[Key, HourCount] = {}
        self._dirty: set[Key] = set()
        self._lock = threading.Lock()

    def count(
        self, site: str, gateway: str, now_ms: int, *, readings: int, historical: bool,
        not_good: int,
    ) -> None:
        key = (site, gateway, hour_of(now_ms))
        with self._lock:
            hour = self._hours.get(key)
            if hour is None:
                hour = self._hours[key] = HourCount()
            hour.messages += 1
            hour.readings += readings
            hour.not_good_readings += not_good
            if historical:
                hour.historical_messages += 1
                hour.historical_readings += readings
            self._dirty.add(key)

    def seed(self, site: str, gateway: str, hour_ms: int, fields: Mapping[str, object]) -> None:
        """Go on from an hour's counts written before a restart (added to any counted since)."""
        key = (site, gateway, hour_of(hour_ms))
        with self._lock:
            hour = self._hours.get(key)
            if hour is None:
                hour = self._hours[key] = HourCount()
            for name in FIELDS:
                value = fields.get(name)
                if isinstance(value, int) and not isinstance(value, bool):
                    setattr(hour, name, getattr(hour, name) + value)
            self._dirty.add(key)

    def points(self, *, instance: str, now_ms: int) -> list[Point]:
        """The hours counted since the last call, as points (and past hours forgotten)."""
        current = hour_of(now_ms)
        with self._lock:
            dirty, self._dirty = self._dirty, set()
            out = [self._point(key, self._hours[key], instance) for key in sorted(dirty)]
            for key in [k for k in self._hours if k[2] < current]:
                del self._hours[key]
        return out

    @staticmethod
    def _point(key: Key, hour: HourCount, instance: str) -> Point:
        site, gateway, hour_ms = key
        tags = {"site": site, "gateway": gateway, "instance": instance}
        return Point(MEASUREMENT, tags, hour.fields(), hour_ms)


def not_good(qualities: Iterable[str]) -> int:
    """How many of the qualities are not `good`."""
    return sum(1 for quality in qualities if quality != "good")
