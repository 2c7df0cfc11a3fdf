"""The rules of a site's cause-and-effect matrix and of the rationalization record
(docs/registry.md), checked by `hazmon check-config` with every other rule.

- a matrix row names sensors of its own site, in a condition each of them has; its
  effect is an interlock of the site; its vote `MooN` has N equal to the number of
  sensors and 1 ≤ M ≤ N; `within_s` is positive; row ids are unique per site;
- a rationalization is keyed by a condition its sensor has; a site with
  `rationalization: required` has one for every high and critical alarm of its sensors.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

from pydantic import ValidationError

from hazmon.contract.kinds import KINDS, Condition, Kind, Priority
from hazmon.contract.registry import CauseEffectRow, Sensor, default_thresholds
from hazmon.contract.yamlcheck import PathKey

VOTE = re.compile(r"^([1-9][0-9]*)oo([1-9][0-9]*)$")
RATED = frozenset({Priority.high, Priority.critical})


def process_conditions(sensor: Sensor) -> list[Condition]:
    """The process alarms of a sensor: its thresholds in force (defaults included), or
    an interlock's trip and bypass."""
    if sensor.kind is Kind.interlock:
        return [Condition.trip, Condition.bypass]
    spec = KINDS[sensor.kind]
    unit = sensor.unit or spec.default_unit
    typed = sensor if unit == sensor.unit else sensor.model_copy(update={"unit": unit})
    effective = {**default_thresholds(typed), **dict(sensor.thresholds.items())}
    return [c for c in Condition if c in effective and c in spec.conditions]


def alarm_conditions(sensor: Sensor) -> list[Condition]:
    """Every alarm of a sensor (the core's points of it, ce_failed aside)."""
    return [*process_conditions(sensor), Condition.fault, Condition.stale]


def rated_conditions(sensor: Sensor) -> list[Condition]:
    """The alarms of a sensor that need a rationalization on a site requiring it."""
    return [c for c in alarm_conditions(sensor) if sensor.priority(c) in RATED]


def sensor_rationalization_problems(
    sensor: Sensor, *, required: bool
) -> Iterator[tuple[PathKey, str]]:
    """Keys that are no condition of the sensor; with `required`, the missing ones."""
    has = [c.value for c in alarm_conditions(sensor)]
    for key in sensor.rationalization:
        if key not in has:
            yield (
                ("rationalization", key),
                f"a condition of {sensor.id} ({', '.join(has)}); {key!r} is not",
            )
    if not required:
        return
    missing = [c.value for c in rated_conditions(sensor) if c.value not in sensor.rationalization]
    if missing:
        yield (
            ("rationalization",),
            f"a rationalization of {sensor.id} for {', '.join(missing)} (high and critical "
            "alarms; the site sets `rationalization: required`)",
        )


def matrix_problems(
    site: dict[str, Any], sensors: dict[str, Sensor], site_path: PathKey
) -> Iterator[tuple[PathKey, str]]:
    """Every problem of one site's `cause_effect` rows; `sensors` are the site's."""
    raw_rows = site.get("cause_effect")
    if not isinstance(raw_rows, list):
        return
    seen: dict[str, int] = {}
    for ri, raw in enumerate(raw_rows):
        path: PathKey = (*site_path, "cause_effect", ri)
        try:
            row = CauseEffectRow.model_validate(raw)
        except ValidationError:
            continue  # its shape problems are already reported
        if row.id in seen:
            yield (*path, "id"), f"a unique row id; {row.id!r} is already row {seen[row.id]}"
        seen.setdefault(row.id, ri)
        yield from _row_problems(row, sensors, path)


def _row_problems(
    row: CauseEffectRow, sensors: dict[str, Sensor], path: PathKey
) -> Iterator[tuple[PathKey, str]]:
    name = f"row {row.id!r}"
    cause = row.cause
    for k, sid in enumerate(cause.sensors):
        sensor = sensors.get(sid)
        if sensor is None:
            yield (*path, "cause", "sensors", k), f"a sensor of the site ({name}); got {sid!r}"
        elif cause.condition not in process_conditions(sensor):
            has = ", ".join(c.value for c in process_conditions(sensor)) or "none"
            yield (
                (*path, "cause", "condition"),
                f"a condition every cause sensor has ({name}): {sid} has {has}, "
                f"not {cause.condition.value}",
            )
        if cause.sensors.index(sid) != k:
            yield (*path, "cause", "sensors", k), f"each sensor once ({name}); {sid} repeats"
    if cause.vote is not None:
        yield from _vote_problems(cause.vote, len(cause.sensors), name, path)
    lock = sensors.get(row.effect.interlock)
    if lock is None or lock.kind is not Kind.interlock:
        what = "not a sensor of the site" if lock is None else f"a {lock.kind.value} sensor"
        yield (
            (*path, "effect", "interlock"),
            f"an interlock of the site ({name}); {row.effect.interlock!r} is {what}",
        )
    if not row.within_s > 0:
        yield (*path, "within_s"), f"a positive time in seconds ({name}); got {row.within_s:g}"


def _vote_problems(
    vote: str, count: int, name: str, path: PathKey
) -> Iterator[tuple[PathKey, str]]:
    found = VOTE.match(vote)
    if found is None:
        yield (*path, "cause", "vote"), f"a vote MooN such as 2oo3 ({name}); got {vote!r}"
        return
    m, n = int(found.group(1)), int(found.group(2))
    if n != count:
        yield (
            (*path, "cause", "vote"),
            f"N of {vote} equal to the number of cause sensors ({name}: {count}); got {n}",
        )
    if m > n:
        yield (*path, "cause", "vote"), f"M ≤ N in {vote} ({name}); {m} of {n} cannot vote"
