"""The alarm service's rows of the store (docs/contract.md §5): `alarm_event`, `site_risk`.

InfluxDB keeps one row per (measurement, tags, time): two events of one point with
the same tags in the same millisecond (say two `notified` for two recipients) would
overwrite each other, so `Deconflict` moves a repeat 1 ms later. The journal keeps the
exact times. A `value` that is text (an interlock's state) is left out of the series,
whose `value` field is a float (InfluxDB refuses mixed field types); the journal and
the MQTT event keep it.
"""

from __future__ import annotations

from hazmon.alarms.core.model import Event, RiskChange
from hazmon.contract.registry import Registry
from hazmon.stores.base import Point


def event_point(event: Event) -> Point:
    value = event.value if isinstance(event.value, float | int) else None
    return Point(
        "alarm_event",
        {
            "site": event.site,
            "sensor": event.sensor,
            "condition": event.condition,
            "priority": event.priority,
            "event": event.event,
        },
        {
            "alarm_id": event.alarm_id,
            "state": event.state,
            "value": float(value) if value is not None else None,
            "user": event.user,
            "note": event.note,
        },
        event.ts_ms,
    )


def risk_point(change: RiskChange, registry: Registry) -> Point:
    site = registry.site(change.site)
    fields: dict[str, str | int | float | None] = {"grade": change.grade, "level": change.level}
    if site is not None:
        fields["lat"] = site.location.lat
        fields["lon"] = site.location.lon
    return Point("site_risk", {"site": change.site}, fields, change.ts_ms)


class Deconflict:
    """Keeps (measurement, tags, time) unique over the points it places, moving a
    repeat 1 ms later; remembers the last `memory` times of each series."""

    def __init__(self, memory: int = 256) -> None:
        self.memory = memory
        self._seen: dict[tuple[str, tuple[tuple[str, str], ...]], set[int]] = {}

    def place(self, point: Point) -> Point:
        series = (point.measurement, tuple(sorted(point.tags.items())))
        taken = self._seen.setdefault(series, set())
        ts_ms = point.ts_ms
        while ts_ms in taken:
            ts_ms += 1
        taken.add(ts_ms)
        if len(taken) > self.memory:
            keep = sorted(taken)[-(self.memory // 2):]
            self._seen[series] = set(keep)
        if ts_ms == point.ts_ms:
            return point
        return Point(point.measurement, point.tags, point.fields, ts_ms)
