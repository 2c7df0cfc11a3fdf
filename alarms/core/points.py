"""Feeding one input to one alarm point: the table decides, this module keeps the
occurrence (`key#n`) and the escalation round in step and writes the events.

Rules beyond the table:
- an occurrence opens when its point enters unack/acked/rtn_unack from having none,
  and ends when the point returns to normal;
- a point without an occurrence has nothing to show: its hiding and showing again
  produce no event (the sensor-level action is journalled by the caller);
- escalation runs while the point is `unack` or `rtn_unack`; entering one of those
  from any other state starts a new round at tier 1; ack, reset and hiding stop it;
- a hidden point remembers the state it had when it was hidden (`before_hiding`), so
  showing it again discharges no obligation (`table.re_evaluate`).
"""

from __future__ import annotations

from dataclasses import dataclass

from hazmon.alarms.core.model import AlarmPoint, Event, Occurrence, Value
from hazmon.alarms.core.plant import Plant
from hazmon.alarms.core.table import HIDDEN_STATES, OPEN_STATES, Input, State, apply

ESCALATING = frozenset({State.unack, State.rtn_unack})


@dataclass(frozen=True, slots=True)
class Cause:
    """Why and when an input happens: the event time, the service clock, who."""

    ts_ms: int
    now_ms: int
    value: Value = None
    user: str | None = None
    note: str | None = None
    maintenance: bool = False


def point_event(point: AlarmPoint, name: str, before: State, cause: Cause) -> Event:
    return Event(
        key=point.key,
        site=point.site,
        event=name,
        ts_ms=cause.ts_ms,
        alarm_id=point.occ.alarm_id if point.occ else None,
        gateway=point.gateway,
        sensor=point.sensor,
        condition=point.condition.value,
        priority=point.priority.value,
        from_state=before.value,
        state=point.state.value,
        returned=point.returned,
        value=cause.value,
        user=cause.user,
        note=cause.note,
    )


def feed(plant: Plant, point: AlarmPoint, inp: Input, cause: Cause) -> list[Event]:
    """Apply one input; IllegalTransition (changing nothing) for an illegal one."""
    before = point.state
    outcome = apply(
        before,
        point.returned,
        inp,
        latched=point.latched,
        active=point.active,
        maintenance=cause.maintenance,
        before_hiding=point.before_hiding,
        alarm_id=point.occ.alarm_id if point.occ else "",
    )
    if outcome is None:
        return []
    if outcome.state not in HIDDEN_STATES:
        point.before_hiding = None
    elif before not in HIDDEN_STATES:
        point.before_hiding = before  # kept while one kind of hiding replaces another
    point.state, point.returned = outcome.state, outcome.returned
    if point.state is not State.shelved:
        point.shelved_until_ms = None
    plant.mark_point(point)
    if point.occ is None:
        if point.state not in OPEN_STATES:
            return []
        _open(point, cause)
    occ = point.occ
    assert occ is not None
    events = [  # a second event (raised after a re-evaluation) starts where the first ends
        point_event(point, name, before if i == 0 else point.state, cause)
        for i, name in enumerate(outcome.events)
    ]
    occ.latest = events[-1].wire()
    if inp is Input.ack:
        occ.acked_ms, occ.acked_by = cause.now_ms, cause.user
    _escalation_round(occ, point.state, events[-1], cause.now_ms)
    plant.mark_point(point)
    if point.state is State.normal:
        occ.ended_ms = cause.ts_ms
        point.occ = None
    return events


def _open(point: AlarmPoint, cause: Cause) -> None:
    point.count += 1
    point.occ = Occurrence(
        alarm_id=f"{point.key}#{point.count}", raised_ms=cause.ts_ms, latest={}
    )


def _escalation_round(occ: Occurrence, state: State, last: Event, now_ms: int) -> None:
    if state not in ESCALATING:
        occ.esc_since_ms = None
    elif occ.esc_since_ms is None:
        occ.esc_since_ms = now_ms
        occ.esc_round += 1
        occ.esc_done = 0
        occ.esc_last_ms = None
        occ.esc_event = last.wire()
