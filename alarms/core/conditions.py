"""Condition rules of docs/alarms.md: what one reading says about each condition of its
sensor, and the on-/off-delays that turn those verdicts into active and clear.

A reading's verdict on a condition is `ACTIVE`, `INACTIVE` or `HOLD` (it says nothing:
inside the deadband, an `uncertain` reading that would clear, a `bad` reading for a
process condition). Deadband is hysteresis on the clear side only: `high` is active
at value >= threshold and inactive below threshold - deadband, so a value in between
neither starts nor cancels an on-delay.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from enum import Enum

from hazmon.alarms.core.model import AlarmPoint
from hazmon.contract.kinds import HIGH_CONDITIONS, Condition
from hazmon.contract.registry import Sensor

UNDER_RANGE_FRACTION = 0.05  # below the range by more than 5 % of the span: a fault


class Verdict(Enum):
    ACTIVE = "active"
    INACTIVE = "inactive"
    HOLD = "hold"


def _quality_verdict(shows_active: bool, shows_inactive: bool, quality: str) -> Verdict:
    """`good` readings raise and clear; `uncertain` ones can raise but never clear."""
    if shows_active:
        return Verdict.ACTIVE
    if shows_inactive and quality == "good":
        return Verdict.INACTIVE
    return Verdict.HOLD


def threshold_verdict(
    condition: Condition, threshold: float, deadband: float, value: float, quality: str
) -> Verdict:
    if condition in HIGH_CONDITIONS:
        return _quality_verdict(value >= threshold, value < threshold - deadband, quality)
    return _quality_verdict(value <= threshold, value > threshold + deadband, quality)


def range_floor(sensor: Sensor) -> float:
    """The lowest value that is not a fault: the range's low end less 5 % of its span
    (-inf without a range)."""
    if sensor.range is None:
        return -math.inf
    low, high = sensor.range
    return low - UNDER_RANGE_FRACTION * (high - low)


def under_range(sensor: Sensor, value: float) -> bool:
    return value < range_floor(sensor)


@dataclass(frozen=True, slots=True)
class Limits:
    """What an analog sensor's verdicts are computed from, read once from its
    configuration (the engine's slow path evaluates many readings per second)."""

    thresholds: tuple[tuple[Condition, float, bool], ...]  # condition, threshold, a high one
    deadband: float
    floor: float  # range_floor
    on_delay_ms: int
    off_delay_ms: int


def limits_of(sensor: Sensor) -> Limits:
    return Limits(
        tuple((c, t, c in HIGH_CONDITIONS) for c, t in sensor.thresholds.items()),
        sensor.deadband, range_floor(sensor),
        int(sensor.on_delay_s * 1000), int(sensor.off_delay_s * 1000),
    )


_FAULT = Condition.fault
_ACTIVE, _INACTIVE, _HOLD = Verdict.ACTIVE, Verdict.INACTIVE, Verdict.HOLD


def analog_verdicts(sensor: Sensor, value: float, quality: str) -> dict[Condition, Verdict]:
    """Verdicts of one analog reading that is not a maintenance reading."""
    return analog_verdicts_by(limits_of(sensor), value, quality)


def analog_verdicts_by(limits: Limits, value: float, quality: str) -> dict[Condition, Verdict]:
    """`analog_verdicts` from the sensor's `Limits`."""
    if quality == "bad" or value < limits.floor:
        return {_FAULT: _ACTIVE}  # a fault leaves every process alarm as it is
    good = quality == "good"
    verdicts = {_FAULT: _INACTIVE if good else _HOLD}
    deadband = limits.deadband
    for condition, threshold, high in limits.thresholds:
        if high:
            active, inactive = value >= threshold, value < threshold - deadband
        else:
            active, inactive = value <= threshold, value > threshold + deadband
        verdicts[condition] = _ACTIVE if active else _INACTIVE if inactive and good else _HOLD
    return verdicts


def interlock_verdicts(state: str, quality: str, permitted: bool) -> dict[Condition, Verdict]:
    """Verdicts of one interlock reading that is not a maintenance reading.

    `bypass` is active while the interlock is bypassed without a valid permit.
    """
    faulty = quality == "bad" or state == "fault"
    verdicts = {Condition.fault: _quality_verdict(faulty, not faulty, quality)}
    if faulty:
        return verdicts
    tripped = state == "tripped"
    verdicts[Condition.trip] = _quality_verdict(tripped, not tripped, quality)
    unpermitted = state == "bypassed" and not permitted
    verdicts[Condition.bypass] = _quality_verdict(unpermitted, not unpermitted, quality)
    return verdicts


def step(
    point: AlarmPoint, verdict: Verdict, ts_ms: int, on_delay_ms: int, off_delay_ms: int
) -> bool:
    """Feed one verdict at reading time `ts_ms` through the point's delays.

    Returns True when the point's condition changed (`point.active` flipped). The
    on-delay starts at the first reading that shows the condition active and is
    cancelled only by one that shows it inactive; it completes at a reading at least
    `on_delay_ms` later that still shows it active (or on the service clock, see
    `on_delay_elapsed`). The off-delay works the same way for clearing, readings only.
    """
    if verdict is Verdict.HOLD:
        return False
    towards = verdict is Verdict.ACTIVE
    if towards == point.active:
        point.pending_ts_ms = None  # a reading that contradicts the change cancels it
        return False
    delay_ms = on_delay_ms if towards else off_delay_ms
    if delay_ms > 0:
        if point.pending_ts_ms is None:
            point.pending_ts_ms = ts_ms
        if ts_ms - point.pending_ts_ms < delay_ms:
            return False
    point.pending_ts_ms = None
    point.active = towards
    return True


def on_delay_elapsed(point: AlarmPoint, now_ms: int, on_delay_ms: int) -> bool:
    """Silence never swallows an alarm: a pending on-delay completes on the service
    clock when no reading contradicted it. Returns True when the point became active."""
    if point.active or point.pending_ts_ms is None or on_delay_ms <= 0:
        return False
    if now_ms < point.pending_ts_ms + on_delay_ms:
        return False
    point.pending_ts_ms = None
    point.active = True
    return True


def force(point: AlarmPoint, active: bool) -> bool:
    """Set a condition decided by the service clock (stale, offline, overrun)."""
    if point.active == active:
        return False
    point.active = active
    point.pending_ts_ms = None
    return True
