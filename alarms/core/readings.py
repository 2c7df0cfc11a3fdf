"""Readings into events: live readings drive the points, historical ones only report.

A live reading's time is its `ts_ms` capped at the receiving (service) clock, so a
gateway clock running ahead cannot make the sensor's later, correctly stamped readings
look old (docs/contract.md, "Gateways and sequence numbers"). Repeats are recognised
by the engine from the message's (gateway, boot, seq) before a reading gets here; a
reading not newer than the last evaluated one of its sensor (a late or reordered
message, the same reading sent again in another message) changes nothing.
"""

from __future__ import annotations

from hazmon.alarms.core import cause_effect
from hazmon.alarms.core.conditions import (
    Verdict,
    analog_verdicts_by,
    interlock_verdicts,
    step,
)
from hazmon.alarms.core.model import AlarmPoint, Event, NotifyRequest, Output, SensorState
from hazmon.alarms.core.plant import Plant
from hazmon.alarms.core.points import Cause, feed
from hazmon.alarms.core.table import Input
from hazmon.contract.kinds import THRESHOLD_CONDITIONS, Condition, Priority
from hazmon.contract.registry import Sensor
from hazmon.contract.wire import Reading

DELAYED = frozenset(THRESHOLD_CONDITIONS)


def verdicts(
    plant: Plant, state: SensorState, reading: Reading, at_ms: int
) -> dict[Condition, Verdict]:
    if reading.value is not None:
        return analog_verdicts_by(plant.limits[state.id], reading.value, reading.quality)
    permitted = state.permit is not None and state.permit.valid(at_ms)
    return interlock_verdicts(reading.state or "normal", reading.quality, permitted)


def fault_note(cfg: Sensor, reading: Reading) -> str:
    if reading.quality == "bad":
        return "the device reports a fault (quality bad)"
    if reading.state == "fault":
        return "the interlock reports a fault"
    low = cfg.range[0] if cfg.range else 0.0
    return f"below the measuring range (under {low:g} by more than 5 % of the span)"


def live_reading(plant: Plant, reading: Reading, now_ms: int) -> list[Event]:
    sid = f"{reading.site}/{reading.sensor}"
    state = plant.sensors.get(sid)
    ts_ms = min(reading.ts_ms, now_ms)  # capped at the receiving clock
    if state is None or not _newer(state, ts_ms, reading.ts_ms):
        return []
    value = reading.value if reading.value is not None else reading.state
    state.last_ts_ms, state.last_seen_ms = ts_ms, now_ms
    state.last_raw_ts_ms = reading.ts_ms
    state.last_value, state.last_quality = value, reading.quality
    plant.mark_last(state)
    if _quiet(plant, sid, state, reading):
        return []
    cfg = plant.configs[sid]
    events = _stale_ends(plant, sid, reading, ts_ms, now_ms)
    if reading.quality == "maintenance":
        return events + _maintenance_starts(plant, state, reading, ts_ms, now_ms)
    ending = state.maintenance_since_ms is not None
    found = verdicts(plant, state, reading, now_ms)
    why = fault_note(cfg, reading) if found.get(Condition.fault) is Verdict.ACTIVE else None
    events += apply_verdicts(plant, state, found, Cause(ts_ms, now_ms, value), why)
    if ending:
        events += _maintenance_ends(plant, state, reading, ts_ms, now_ms)
    return events


QUIET_SHORTCUT = True  # tests/alarms/test_fast_paths.py turns it off to compare


def live_batch(plant: Plant, gid: str, readings: list[Reading], now_ms: int) -> list[Event]:
    """The live readings of one message, in order: `live_reading` for each, except that
    a reading `_quiet` would skip is taken here in a few comparisons (most readings of
    a plant change nothing; this is the engine's hot loop): its sensor's last reading
    noted, nothing evaluated. Any other goes through `live_reading`."""
    events: list[Event] = []
    if not QUIET_SHORTCUT:
        for reading in readings:
            found = live_reading(plant, reading, now_ms)
            if found:
                events += found
        return events
    quick = plant.quick.get(gid, {})  # the message's gateway: its sensors
    changed = plant.dirty_last.get(gid)
    if changed is None:
        changed = plant.dirty_last[gid] = set()
    for reading in readings:
        name = reading.sensor
        entry = quick.get(name)
        if entry is not None and reading.quality == "good":
            state, row, band, points = entry
            raw_ms = reading.ts_ms
            ts_ms = raw_ms if raw_ms < now_ms else now_ms
            last = row[0]
            if state.maintenance_since_ms is None and (last is None or ts_ms > last or (
                    ts_ms == last and state.last_raw_ts_ms is not None  # as `_newer`
                    and raw_ms > state.last_raw_ts_ms)):
                value = reading.value
                if value is not None:
                    quiet = (band is not None and band.above < value < band.below
                             and value >= band.floor)
                else:
                    quiet = reading.state == "normal"
                if quiet:
                    for point in points:
                        if point.active or point.pending_ts_ms is not None:
                            quiet = False
                            break
                if quiet:
                    if last is None:  # its first: into the gateway's table
                        plant.last_rows[gid][name] = row
                    row[0] = ts_ms
                    row[1] = now_ms
                    row[2] = value if value is not None else reading.state
                    row[3] = "good"
                    state.last_raw_ts_ms = raw_ms
                    changed.add(name)
                    continue
        found = live_reading(plant, reading, now_ms)
        if found:
            events += found
    return events


def _newer(state: SensorState, ts_ms: int, raw_ts_ms: int) -> bool:
    """Whether a reading comes after the last evaluated one: by capped time, and at an
    equal capped time (two readings stamped ahead that arrived within one millisecond)
    by their own stamps."""
    last = state.last_ts_ms
    if last is None or ts_ms > last:
        return True
    if ts_ms < last:
        return False
    return state.last_raw_ts_ms is not None and raw_ts_ms > state.last_raw_ts_ms


def _quiet(plant: Plant, sid: str, state: SensorState, reading: Reading) -> bool:
    """Whether the reading changes nothing, decided without the verdicts: a `good`
    reading inside the sensor's quiet band (an interlock: `normal`), no point of the
    sensor active or with a delay running, not in maintenance. Every verdict would be
    inactive and find its point inactive with nothing pending (`step` returns False and
    changes nothing); most readings of a plant are like this."""
    if reading.quality != "good" or state.maintenance_since_ms is not None:
        return False
    if reading.value is not None:
        band = plant.quiet[sid]
        if band is None or not band.holds(reading.value):
            return False
    elif reading.state != "normal":
        return False
    for point in plant.point_list[sid]:
        if point.active or point.pending_ts_ms is not None:
            return False
    return True


def apply_verdicts(
    plant: Plant,
    state: SensorState,
    found: dict[Condition, Verdict],
    cause: Cause,
    fault_why: str | None = None,
) -> list[Event]:
    events: list[Event] = []
    sid = state.id
    points = plant.sensor_points[sid]
    limits = plant.limits[sid]
    on_ms, off_ms = limits.on_delay_ms, limits.off_delay_ms
    for condition, verdict in found.items():
        point = points.get(condition)
        if point is None:
            continue
        delayed = condition in DELAYED
        pending_before = point.pending_ts_ms
        if step(point, verdict, cause.ts_ms, on_ms if delayed else 0, off_ms if delayed else 0):
            point.pending_value = None
            events += edge(plant, point, cause, fault_why if condition is Condition.fault else None)
        elif point.pending_ts_ms is not None and verdict is Verdict.ACTIVE and not point.active:
            point.pending_value = cause.value  # what the service clock's raise will carry
            plant.mark_point(point, touch=False)
        elif point.pending_ts_ms != pending_before:
            point.pending_value = None
            plant.mark_point(point, touch=False)
    return events


def edge(plant: Plant, point: AlarmPoint, cause: Cause, note: str | None = None) -> list[Event]:
    """The point's condition just became active or clear: tell its state machine."""
    plant.mark_point(point)
    state = plant.sensors.get(f"{point.site}/{point.sensor}")
    maintenance = state.in_maintenance if state is not None else False
    inp = Input.active if point.active else Input.clear
    why = note if point.active else None
    events = feed(plant, point, inp, Cause(cause.ts_ms, cause.now_ms, cause.value,
                                           note=why or cause.note, maintenance=maintenance))
    if point.key in plant.matrix.watched:  # a cause or the effect of a matrix row
        events += cause_effect.on_edge(plant, point, cause)
    return events


def _stale_ends(
    plant: Plant, sid: str, reading: Reading, ts_ms: int, now_ms: int
) -> list[Event]:
    point = plant.sensor_points[sid][Condition.stale]
    if not point.active:
        return []
    point.active = False
    value = reading.value if reading.value is not None else reading.state
    return edge(plant, point, Cause(ts_ms, now_ms, value, note="readings again"))


def _maintenance_starts(
    plant: Plant, state: SensorState, reading: Reading, ts_ms: int, now_ms: int
) -> list[Event]:
    if state.maintenance_since_ms is not None:
        return []  # still in maintenance (or past its maximum: no longer hiding)
    state.maintenance_since_ms = now_ms
    plant.mark_sensor(state)
    note = "maintenance (calibration, test)"
    cause = Cause(ts_ms, now_ms, reading.value, note=note)
    events = [sensor_note(state, "maintenance_started", ts_ms, note)]
    for point in plant.points_of(state.id):
        events += feed(plant, point, Input.maintenance_start, cause)
    return events


def _maintenance_ends(
    plant: Plant, state: SensorState, reading: Reading, ts_ms: int, now_ms: int
) -> list[Event]:
    state.maintenance_since_ms = None
    state.maintenance_overrun = False
    plant.mark_sensor(state)
    value = reading.value if reading.value is not None else reading.state
    cause = Cause(ts_ms, now_ms, value, note="maintenance ended")
    events = [sensor_note(state, "maintenance_ended", ts_ms, None)]
    for point in plant.points_of(state.id):
        events += feed(plant, point, Input.maintenance_end, cause)
    return events


def sensor_note(state: SensorState, name: str, ts_ms: int, note: str | None) -> Event:
    """A journal-only entry about a sensor (maintenance, permits, out-of-service)."""
    return Event(key=state.id, site=state.site, event=name, ts_ms=ts_ms, gateway=state.gateway,
                 sensor=state.sensor, note=note, published=False)


def historical_reading(plant: Plant, reading: Reading, now_ms: int) -> Output:
    """A crossing inside replayed data: journalled and published as `historical`, no
    state change; a critical one is notified once to the first tier, no escalation."""
    out = Output()
    sid = f"{reading.site}/{reading.sensor}"
    state = plant.sensors.get(sid)
    if state is None or reading.quality == "maintenance":
        return out
    ts_ms = min(reading.ts_ms, now_ms)  # capped, as a live reading's
    if state.last_hist_ts_ms is not None and ts_ms <= state.last_hist_ts_ms:
        return out
    state.last_hist_ts_ms = ts_ms
    plant.mark_sensor(state, touch=False)  # last_hist_ts_ms is in the sensor's doc
    value = reading.value if reading.value is not None else reading.state
    for condition, verdict in verdicts(plant, state, reading, reading.ts_ms).items():
        point = plant.sensor_points[sid].get(condition)
        was = condition.value in state.hist_active
        if point is None or verdict is Verdict.HOLD or (verdict is Verdict.ACTIVE) == was:
            continue
        if verdict is Verdict.INACTIVE:
            state.hist_active.remove(condition.value)
            continue
        state.hist_active.append(condition.value)
        event = _historical_event(point, ts_ms, value)
        out.events.append(event)
        if point.priority is Priority.critical:
            out.notify += first_tier(plant, point, event, f"{event.alarm_id}|hist")
    return out


def _historical_event(point: AlarmPoint, ts_ms: int, value: float | str | None) -> Event:
    return Event(
        key=point.key, site=point.site, event="historical", ts_ms=ts_ms,
        alarm_id=f"{point.key}#h{ts_ms}", gateway=point.gateway, sensor=point.sensor,
        condition=point.condition.value, priority=point.priority.value,
        from_state=point.state.value, state=point.state.value, returned=point.returned,
        value=value, note="threshold crossed in replayed (historical) data",
    )


def first_tier(
    plant: Plant, point: AlarmPoint, event: Event, request_id: str
) -> list[NotifyRequest]:
    """Tell the first tier of the point's priority about `event`, once, outside any
    escalation round; `request_id` (made unique per recipient here) is the idempotency
    key the notifiers send."""
    tiers = plant.registry.escalation.tiers(point.priority)
    if not tiers:
        return []
    alarm_id = event.alarm_id or point.key
    return [
        NotifyRequest(f"{request_id}|{who}", who, alarm_id, point.key, point.site, 1,
                      event.wire())
        for who in tiers[0].notify
    ]
