"""Cause-and-effect verification from live data (docs/alarms.md, "Cause-and-effect
verification"): every real demand on an interlock, and whether the interlock answered.

A demand is a row's vote met by the core's own evaluation: the moment enough of its
cause points become active (`MooN` counts active points). It is journalled
(`ce_demand`, with the cause readings) and kept on the interlock's state until:
- the interlock trips (its `trip` point becomes active): `ce_response` with the
  response time in ms when within the row's `within_s`, `ce_late` when after;
- the service clock passes the deadline (`within_s`, plus one report period of the
  interlock's gateway) without a trip: the interlock's `ce_failed` point (critical) is
  raised, its note saying which row and with which readings; it clears when the trip
  comes late (`ce_late`) or when the cause is gone (`ce_missing`), and waits, as any
  alarm, for an acknowledgement.
A trip that no demand explains (no row of the interlock waiting, none being confirmed
by an on-delay) is `ce_spurious`. The records are journal entries (not published) on
the interlock's sensor key (`site/interlock`), each note starting with its row.
"""

from __future__ import annotations

from hazmon.alarms.core.conditions import force
from hazmon.alarms.core.matrix import MatrixRow
from hazmon.alarms.core.model import AlarmPoint, Doc, Event, SensorState, Value
from hazmon.alarms.core.plant import Plant
from hazmon.alarms.core.points import Cause, feed
from hazmon.alarms.core.table import Input
from hazmon.alarms.core.timefmt import iso_utc

RECORDS = ("ce_demand", "ce_response", "ce_late", "ce_missing", "ce_spurious")


def on_edge(plant: Plant, point: AlarmPoint, cause: Cause) -> list[Event]:
    """A point of some row changed its condition (`edge`): a demand met or lost, a trip."""
    matrix = plant.matrix
    events: list[Event] = []
    if point.key in matrix.by_effect:
        events += _trip_edge(plant, point, cause)
    for row in matrix.by_cause.get(point.key, ()):
        active = votes(plant, row)
        if point.active and active == row.needed:
            events += _demand(plant, row, cause)
        elif not point.active and active == row.needed - 1:
            events += _cause_gone(plant, row, cause)
    return events


def deadlines(plant: Plant, now_ms: int) -> list[Event]:
    """The service clock: demands past their time without a trip raise `ce_failed`."""
    events: list[Event] = []
    for lock_id, rows in plant.matrix.by_lock.items():
        lock = plant.sensors[lock_id]
        if not lock.ce_demands:
            continue
        for row in rows:
            demand = lock.ce_demands.get(row.id)
            if demand is None or demand["failed"]:
                continue
            if now_ms < int(demand["since_ms"]) + row.within_ms + row.grace_ms:
                continue
            demand["failed"] = True
            plant.mark_sensor(lock, touch=False)
            note = (
                f"{row.id}: {row.interlock} not tripped within {_s(row.within_ms)} of the "
                f"demand at {iso_utc(int(demand['since_ms']))} ({demand['readings']})"
            )
            events += _failed(plant, row, True, Cause(now_ms, now_ms, None, note=note))
            if votes(plant, row) < row.needed:  # the cause is gone: nothing to wait for
                events += _close_missing(plant, row, lock, Cause(now_ms, now_ms))
    return events


def votes(plant: Plant, row: MatrixRow) -> int:
    """How many of the row's cause points are active."""
    points = plant.points
    return sum(1 for key in row.cause_keys if points[key].active)


def readings_note(plant: Plant, row: MatrixRow) -> str:
    """`GT-101 52.3, GT-102 41.0, GT-103 12.1 %LEL; high_high 2oo3`: the cause sensors'
    last readings."""
    parts = []
    for sensor in row.sensors:
        value = plant.sensors[f"{row.site}/{sensor}"].last_value
        parts.append(f"{sensor} {value:g}" if isinstance(value, float | int) else
                     f"{sensor} {value}")
    unit = plant.configs[f"{row.site}/{row.sensors[0]}"].unit
    return f"{', '.join(parts)}{' ' + unit if unit else ''}; {row.condition.value} {row.vote}"


# -- inside -------------------------------------------------------------------------


def _demand(plant: Plant, row: MatrixRow, cause: Cause) -> list[Event]:
    lock = plant.sensors[row.lock_id]
    if row.id in lock.ce_demands:
        return []  # still waiting for the trip the first demand asked for
    readings = readings_note(plant, row)
    demand = _record(lock, "ce_demand", cause.ts_ms, None,
                     f"{row.id}: {readings}; {row.interlock} to trip within "
                     f"{_s(row.within_ms)}")
    if plant.points[row.trip_key].active:  # tripped while the demand was being confirmed
        before_ms = cause.ts_ms - (lock.ce_tripped_ms or cause.ts_ms)
        note = (f"{row.id}: {row.interlock} had tripped {_s(before_ms)} before the demand "
                f"was confirmed (within {_s(row.within_ms)})")
        return [demand, _record(lock, "ce_response", cause.ts_ms, 0, note)]
    lock.ce_demands[row.id] = {"since_ms": cause.ts_ms, "readings": readings, "failed": False}
    plant.mark_sensor(lock, touch=False)
    return [demand]


def _trip_edge(plant: Plant, point: AlarmPoint, cause: Cause) -> list[Event]:
    lock = plant.sensors[f"{point.site}/{point.sensor}"]
    lock.ce_tripped_ms = cause.ts_ms if point.active else None
    plant.mark_sensor(lock, touch=False)
    if not point.active:
        return []
    rows = plant.matrix.by_effect[point.key]
    waiting = [row for row in rows if row.id in lock.ce_demands]
    if not waiting:
        if any(_forming(plant, row) for row in rows):
            return []  # its demand is being confirmed (an on-delay runs): not spurious
        names = ", ".join(row.id for row in rows)
        note = (f"{point.sensor} tripped without a demand of {names} "
                f"({'; '.join(readings_note(plant, row) for row in rows)})")
        return [_record(lock, "ce_spurious", cause.ts_ms, "tripped", note)]
    events: list[Event] = []
    for row in waiting:
        demand = lock.ce_demands.pop(row.id)
        events += _answered(plant, row, lock, demand, cause)
    return events


def _answered(
    plant: Plant, row: MatrixRow, lock: SensorState, demand: Doc, cause: Cause
) -> list[Event]:
    response_ms = cause.ts_ms - int(demand["since_ms"])
    within = f"within {_s(row.within_ms)}"
    if response_ms <= row.within_ms:
        note = f"{row.id}: {row.interlock} tripped {_s(response_ms)} after the demand ({within})"
        if demand["failed"]:
            note += "; its reading arrived after the deadline was judged"
        events = [_record(lock, "ce_response", cause.ts_ms, response_ms, note)]
        return events + _failed(plant, row, False, _noted(cause, note))
    late = (f"{row.id}: {row.interlock} tripped {_s(response_ms)} after the demand, "
            f"late by {_s(response_ms - row.within_ms)} ({within}; {demand['readings']})")
    events = [_record(lock, "ce_late", cause.ts_ms, response_ms, late)]
    if not demand["failed"]:  # the late trip came before the clock judged the deadline
        events += _failed(plant, row, True, Cause(cause.ts_ms, cause.now_ms, response_ms,
                                                  note=late))
    return events + _failed(plant, row, False, Cause(cause.ts_ms, cause.now_ms, response_ms,
                                                     note=late))


def _cause_gone(plant: Plant, row: MatrixRow, cause: Cause) -> list[Event]:
    """The vote is lost. Before the deadline the demand stands (the interlock still
    has to answer it); after it, a demand never answered ends here."""
    lock = plant.sensors[row.lock_id]
    demand = lock.ce_demands.get(row.id)
    if demand is None or not demand["failed"]:
        return []
    return _close_missing(plant, row, lock, cause)


def _close_missing(plant: Plant, row: MatrixRow, lock: SensorState, cause: Cause) -> list[Event]:
    demand = lock.ce_demands.pop(row.id)
    plant.mark_sensor(lock, touch=False)
    note = (f"{row.id}: the cause is gone and {row.interlock} never tripped on the demand "
            f"at {iso_utc(int(demand['since_ms']))} ({demand['readings']})")
    events = [_record(lock, "ce_missing", cause.ts_ms, None, note)]
    return events + _failed(plant, row, False, Cause(cause.ts_ms, cause.now_ms, None, note=note))


def _failed(plant: Plant, row: MatrixRow, active: bool, cause: Cause) -> list[Event]:
    """Raise or clear the interlock's `ce_failed`; it clears only once no row of the
    interlock has a failed demand left."""
    lock = plant.sensors[row.lock_id]
    if not active and any(d["failed"] for d in lock.ce_demands.values()):
        return []
    point = plant.points[row.failed_key]
    if not force(point, active):
        return []
    plant.mark_point(point)
    inp = Input.active if active else Input.clear
    return feed(plant, point, inp, Cause(cause.ts_ms, cause.now_ms, cause.value,
                                         note=cause.note, maintenance=lock.in_maintenance))


def _forming(plant: Plant, row: MatrixRow) -> bool:
    """Whether the row's vote is met counting the cause points whose on-delay runs."""
    points = plant.points
    near = 0
    for key in row.cause_keys:
        point = points[key]
        near += point.active or point.pending_ts_ms is not None
    return near >= row.needed


def _record(lock: SensorState, name: str, ts_ms: int, value: Value, note: str) -> Event:
    return Event(key=lock.id, site=lock.site, event=name, ts_ms=ts_ms, gateway=lock.gateway,
                 sensor=lock.sensor, value=value, note=note, published=False)


def _noted(cause: Cause, note: str) -> Cause:
    return Cause(cause.ts_ms, cause.now_ms, cause.value, note=note)


def _s(ms: int) -> str:
    return f"{ms / 1000:.1f} s"
