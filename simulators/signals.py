"""Signal models of healthy field instruments, by kind.

A healthy reading is its operating point plus:
- white noise (the detector's resolution and turbulence),
- drift: a bounded random walk (zero drift of electrochemical and catalytic cells),
- calibration error: a slow span error that grows between calibrations,
- for temperatures, a slow swing (day and night).

Each is bounded so that a healthy plant raises no alarm: nuisance alarms in a demo
teach operators to ignore alarms, which is what ISA-18.2 is there to prevent.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass

from hazmon.contract.kinds import Condition, Kind
from hazmon.contract.registry import Sensor, default_thresholds


@dataclass(frozen=True, slots=True)
class Profile:
    """How one instrument behaves when all is well."""

    base: float
    noise: float  # standard deviation of white noise
    drift_step: float  # standard deviation of the random walk per sqrt(second)
    drift_limit: float  # |drift| stays below this
    span_error_per_h: float  # calibration (span) error growth, fraction per hour
    swing: float = 0.0  # amplitude of a slow sinusoid
    swing_period_s: float = 86_400.0
    low: float = -math.inf  # healthy readings stay inside [low, high]
    high: float = math.inf


MAX_SPAN_ERROR = 0.03  # a detector is recalibrated before its span is 3 % off


class AnalogSignal:
    """One instrument's healthy signal; advance it with the scenario clock."""

    def __init__(self, profile: Profile, rng: random.Random) -> None:
        self.profile = profile
        self._rng = rng
        self._drift = 0.0
        self._last_t_s: float | None = None
        self._phase = rng.uniform(0, 2 * math.pi)
        self._span_sign = rng.choice((-1.0, 1.0))

    def value(self, t_s: float) -> float:
        p = self.profile
        dt_s = 0.0 if self._last_t_s is None else max(0.0, t_s - self._last_t_s)
        self._last_t_s = t_s
        if dt_s and p.drift_step:
            self._drift += self._rng.gauss(0.0, p.drift_step * math.sqrt(dt_s))
            if abs(self._drift) > p.drift_limit:  # reflect at the bound
                self._drift = math.copysign(2 * p.drift_limit - abs(self._drift), self._drift)
        span_error = min(MAX_SPAN_ERROR, p.span_error_per_h * t_s / 3600.0) * self._span_sign
        swing = p.swing * math.sin(2 * math.pi * t_s / p.swing_period_s + self._phase)
        raw = (p.base + self._drift + swing) * (1.0 + span_error)
        raw += self._rng.gauss(0.0, p.noise) if p.noise else 0.0
        return min(p.high, max(p.low, raw))


def thresholds_of(sensor: Sensor) -> dict[Condition, float]:
    """The sensor's effective thresholds (its own, else its kind's defaults)."""
    return {**default_thresholds(sensor), **dict(sensor.thresholds.items())}


def profile_for(sensor: Sensor) -> Profile:
    """A healthy profile that stays well clear of every threshold of the sensor."""
    rng_low, rng_high = sensor.range or (0.0, 100.0)
    span = rng_high - rng_low
    limits = thresholds_of(sensor)
    highs = [v for c, v in limits.items() if c in (Condition.high, Condition.high_high)]
    lows = [v for c, v in limits.items() if c in (Condition.low, Condition.low_low)]
    if sensor.kind in (Kind.combustible_gas, Kind.toxic_gas):
        first = min(highs) if highs else rng_low + 0.2 * span
        base = rng_low + min(0.02 * span, 0.1 * (first - rng_low))
        top = rng_low + 0.4 * (first - rng_low)
        scale = top - rng_low
        return Profile(base, 0.04 * scale, 0.02 * scale, 0.3 * scale, 0.002, low=rng_low, high=top)
    if sensor.kind is Kind.oxygen:
        return Profile(20.9, 0.03, 0.01, 0.15, 0.0005, low=20.3, high=21.4)
    if sensor.kind is Kind.residual_current:
        first = min(highs) if highs else 300.0
        base = 0.35 * first  # normal leakage of a healthy installation
        return Profile(
            base, 0.02 * first, 0.01 * first, 0.08 * first, 0.0, low=0.0, high=0.6 * first
        )
    if sensor.kind is Kind.cable_temperature:
        first = min(highs) if highs else 60.0
        base = rng_low + 0.55 * (first - rng_low)
        band = 0.1 * (first - rng_low)
        return Profile(base, 0.2, 0.05, band / 2, 0.0, swing=band, high=first - 4 * band / 2)
    return _process_profile(sensor, lows, highs, rng_low, rng_high)


def _process_profile(
    sensor: Sensor, lows: list[float], highs: list[float], rng_low: float, rng_high: float
) -> Profile:
    """Level, pressure, temperature, current, voltage: between its low and high limits."""
    floor = max(lows) if lows else rng_low
    ceiling = min(highs) if highs else rng_high
    if lows and highs:
        base = (floor + ceiling) / 2
    elif highs:
        base = ceiling - 0.3 * (ceiling - floor)
    else:
        base = floor + 0.3 * (ceiling - floor)
    band = (ceiling - floor) / 2
    margin = max(sensor.deadband * 2, 0.15 * band)
    low, high = floor + margin, ceiling - margin
    swing = 0.15 * band if sensor.kind is Kind.temperature else 0.0
    return Profile(base, 0.01 * band, 0.01 * band, 0.2 * band, 0.0, swing=swing, low=low, high=high)
