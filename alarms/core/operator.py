"""Operator inputs: ack, reset, shelve, unshelve, notes, bypass permits, out-of-service.

Each checks its limits first (LimitExceeded) and leaves everything as it was when the
table forbids it (IllegalTransition); an unknown alarm or sensor is UnknownAlarm.
"""

from __future__ import annotations

from hazmon.alarms.core.errors import IllegalTransition, LimitExceeded, UnknownAlarm
from hazmon.alarms.core.model import AlarmPoint, Event, Permit, SensorState
from hazmon.alarms.core.plant import Plant
from hazmon.alarms.core.points import Cause, feed
from hazmon.alarms.core.silence import bypass_again, return_to_service, sensor_entry
from hazmon.alarms.core.table import Input, State
from hazmon.alarms.core.timefmt import iso_utc
from hazmon.contract.kinds import Kind, Priority

MINUTE_MS = 60_000
HOUR_MS = 3_600_000


def _point(plant: Plant, alarm_id: str) -> AlarmPoint:
    found = plant.point_of_alarm(alarm_id)
    if found is None:
        raise UnknownAlarm(alarm_id)
    return found[0]


def _current(plant: Plant, alarm_id: str, action: str) -> AlarmPoint:
    """The point of an occurrence that has not ended (else the action is illegal)."""
    point = _point(plant, alarm_id)
    if point.occ is None or point.occ.alarm_id != alarm_id:
        raise IllegalTransition(State.normal.value, action, alarm_id)
    return point


def _required(text: str | None, what: str) -> str:
    if text is None or not text.strip():
        raise LimitExceeded(f"{what} is required")
    return text.strip()


def _value(point: AlarmPoint) -> float | str | None:
    return point.occ.latest.get("value") if point.occ else None


def ack(plant: Plant, alarm_id: str, user: str, note: str | None, now_ms: int) -> list[Event]:
    point = _current(plant, alarm_id, "ack")
    return feed(plant, point, Input.ack, Cause(now_ms, now_ms, _value(point), user, note))


def reset(plant: Plant, alarm_id: str, user: str, note: str | None, now_ms: int) -> list[Event]:
    point = _current(plant, alarm_id, "reset")
    return feed(plant, point, Input.reset, Cause(now_ms, now_ms, _value(point), user, note))


def shelve(
    plant: Plant, alarm_id: str, user: str, minutes: float, reason: str, now_ms: int
) -> list[Event]:
    point = _current(plant, alarm_id, "shelve")
    reason = _required(reason, "a reason for shelving")
    rules = plant.registry.shelving
    if not 0 < minutes <= rules.max_minutes:
        raise LimitExceeded(f"shelving lasts more than 0 and at most {rules.max_minutes:g} min")
    if point.priority is Priority.critical and not rules.allow_critical:
        raise LimitExceeded("a critical alarm cannot be shelved (shelving.allow_critical)")
    until_ms = now_ms + int(minutes * MINUTE_MS)
    note = f"{reason} (for {minutes:g} min, until {iso_utc(until_ms)})"
    events = feed(plant, point, Input.shelve, Cause(now_ms, now_ms, _value(point), user, note))
    point.shelved_until_ms = until_ms
    plant.mark_point(point)
    return events


def unshelve(plant: Plant, alarm_id: str, user: str, note: str | None, now_ms: int) -> list[Event]:
    point = _current(plant, alarm_id, "unshelve")
    cause = Cause(now_ms, now_ms, _value(point), user=user, note=note)
    return feed(plant, point, Input.unshelve, cause)


def note(plant: Plant, alarm_id: str, user: str, text: str, now_ms: int) -> Event:
    point = _point(plant, alarm_id)
    text = _required(text, "the note")
    current = point.occ is not None and point.occ.alarm_id == alarm_id
    state = point.state.value if current else State.normal.value
    return Event(
        key=point.key, site=point.site, event="note", ts_ms=now_ms, alarm_id=alarm_id,
        gateway=point.gateway, sensor=point.sensor, condition=point.condition.value,
        priority=point.priority.value, from_state=state, state=state, user=user, note=text,
        published=False,
    )


def _sensor(plant: Plant, site: str, sensor: str) -> SensorState:
    state = plant.sensors.get(f"{site}/{sensor}")
    if state is None:
        raise UnknownAlarm(f"{site}/{sensor}")
    return state


def _deadline(until_ms: int, now_ms: int, max_hours: float, what: str) -> None:
    if until_ms <= now_ms:
        raise LimitExceeded(f"{what} must end in the future")
    if until_ms - now_ms > max_hours * HOUR_MS:
        raise LimitExceeded(f"{what} lasts at most {max_hours:g} h")


def bypass_permit(
    plant: Plant,
    site: str,
    sensor: str,
    *,
    user: str,
    until_ms: int,
    reason: str,
    approved_by: str,
    compensating_measures: str,
    now_ms: int,
) -> tuple[Permit, list[Event]]:
    state = _sensor(plant, site, sensor)
    cfg = plant.configs[state.id]
    if cfg.kind is not Kind.interlock:
        raise LimitExceeded(f"{site}/{sensor} is not an interlock: no bypass permit applies")
    permit = Permit(
        until_ms=until_ms,
        reason=_required(reason, "a reason for the bypass"),
        approved_by=_required(approved_by, "the approver"),
        compensating_measures=_required(compensating_measures, "the compensating measures"),
        user=user,
        granted_ms=now_ms,
    )
    bypass = plant.registry.bypass
    max_hours = bypass.max_hours_grade_a if cfg.grade == "A" else bypass.max_hours_grade_b
    _deadline(until_ms, now_ms, max_hours, "a bypass permit")
    note = (
        f"until {iso_utc(until_ms)}; approved by {permit.approved_by}; "
        f"reason: {permit.reason}; "
        f"compensating measures: {permit.compensating_measures}"
    )
    events = [sensor_entry(plant, state, "bypass_permit", now_ms, user, note)]
    state.permit = permit
    plant.mark_sensor(state)
    return permit, events + bypass_again(plant, state, now_ms)


def out_of_service(
    plant: Plant, site: str, sensor: str, *, user: str, until_ms: int, reason: str, now_ms: int
) -> list[Event]:
    state = _sensor(plant, site, sensor)
    reason = _required(reason, "a reason for out-of-service")
    _deadline(until_ms, now_ms, plant.registry.out_of_service.max_hours, "out-of-service")
    note = f"until {iso_utc(until_ms)}; reason: {reason}"
    events = [sensor_entry(plant, state, "out_of_service", now_ms, user, note)]
    already = state.oos_until_ms is not None
    state.oos_until_ms, state.oos_reason, state.oos_by = until_ms, reason, user
    plant.mark_sensor(state)
    if not already:
        cause = Cause(now_ms, now_ms, state.last_value, user=user, note=reason)
        for point in plant.points_of(state.id):
            events += feed(plant, point, Input.out_of_service, cause)
    return events


def back_in_service(
    plant: Plant, site: str, sensor: str, *, user: str, note: str | None, now_ms: int
) -> list[Event]:
    state = _sensor(plant, site, sensor)
    if state.oos_until_ms is None:
        raise IllegalTransition("in service", "return to service", state.id)
    return return_to_service(plant, state, user, note, now_ms)
