"""The rationalization record of an alarm (docs/alarms.md, "The rationalization
record"), added to the occurrences the API answers with, so that the console shows
cause, consequence and action with the alarm and in its acknowledge dialog."""

from __future__ import annotations

from typing import Any

from hazmon.contract.registry import Registry


def with_rationalization(registry: Registry, alarms: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Each alarm plus `rationalization`: its sensor's record for its condition, or None."""
    by_sensor = {(s.id, x.id): x for s, _, x in registry.sensors() if x.rationalization}
    out = []
    for alarm in alarms:
        sensor = by_sensor.get((str(alarm.get("site")), str(alarm.get("sensor"))))
        record = sensor.rationalization.get(str(alarm.get("condition"))) if sensor else None
        out.append({**alarm, "rationalization": record.model_dump() if record else None})
    return out
