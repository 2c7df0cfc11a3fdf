"""What happens to a plant in a scenario: each effect changes some readings over time.

Every effect is a pure function of the scenario time `t_s` (seconds since the
scenario started), so a scenario replays the same whatever the tick rate. Times
are plant times; `PlantSimulator(speed=...)` runs them faster for tests.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from hazmon.contract.kinds import Condition


@dataclass(slots=True)
class Sample:
    """One reading as the plant shows it; effects change it in place."""

    value: float | None
    state: str | None
    quality: str = "good"


class Effect:
    """Base: targets by (site, sensor); may also cut a gateway's power."""

    targets: frozenset[tuple[str, str]] = frozenset()

    def apply(self, t_s: float, site: str, sensor: str, sample: Sample) -> None:
        """Change `sample` (a target's healthy reading) at scenario time `t_s`."""

    def powered(self, t_s: float, site: str, gateway: str) -> bool:
        return True


def _rise(t_s: float, peak: float, tau_s: float) -> float:
    return peak * (1.0 - math.exp(-t_s / tau_s)) if t_s > 0 else 0.0


@dataclass(frozen=True, slots=True)
class Detector:
    """How the plume reaches one detector: later, weaker, slower than at the source."""

    sensor: str
    share: float  # of the source's peak
    delay_s: float
    tau_s: float


@dataclass(slots=True)
class Leak(Effect):
    """A release: the plume rises over the source detector and its neighbours; the
    plant's safety system trips the grade A ESD after level 2 (`high_high`) has held
    for `esd_delay_s`, the isolation valves close in `isolate_s` and the gas clears.

    Timings follow from the source detector's level 2 threshold, so the order of
    events (level 1, level 2, trip) holds for any registry."""

    site: str
    detectors: list[Detector]
    level_2: float
    peak: float
    start_s: float = 10.0
    esd: str | None = None
    esd_delay_s: float = 5.0  # the SIS votes and confirms before it trips
    isolate_s: float = 5.0
    clear_tau_s: float = 45.0
    esd_reset_after_s: float = 600.0
    targets: frozenset[tuple[str, str]] = field(init=False)
    _by_name: dict[str, Detector] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        names = [d.sensor for d in self.detectors] + ([self.esd] if self.esd else [])
        self.targets = frozenset((self.site, n) for n in names)
        self._by_name = {d.sensor: d for d in self.detectors}

    @property
    def level_2_s(self) -> float:
        """When the source detector reaches level 2."""
        source = self.detectors[0]
        return self.start_s + source.tau_s * math.log(self.peak / (self.peak - self.level_2))

    @property
    def trip_s(self) -> float:
        return self.level_2_s + self.esd_delay_s

    def concentration(self, sensor: str, t_s: float) -> float:
        d = self._by_name[sensor]
        arrive_s = self.start_s + d.delay_s
        stop_s = self.trip_s + self.isolate_s + d.delay_s  # the last gas reaches it then
        peak = self.peak * d.share
        if t_s < stop_s:
            return _rise(t_s - arrive_s, peak, d.tau_s)
        held = _rise(stop_s - arrive_s, peak, d.tau_s)
        return held * math.exp(-(t_s - stop_s) / self.clear_tau_s)

    def apply(self, t_s: float, site: str, sensor: str, sample: Sample) -> None:
        if sensor == self.esd:
            tripped = self.trip_s <= t_s < self.trip_s + self.esd_reset_after_s
            sample.state = "tripped" if tripped else sample.state
        elif sample.value is not None:
            sample.value += self.concentration(sensor, t_s)


@dataclass(slots=True)
class Creep(Effect):
    """Residual current creeping up (insulation ageing, moisture) to a plateau."""

    site: str
    sensor: str
    start_s: float
    rate_per_s: float
    plateau: float
    targets: frozenset[tuple[str, str]] = field(init=False)

    def __post_init__(self) -> None:
        self.targets = frozenset({(self.site, self.sensor)})

    def apply(self, t_s: float, site: str, sensor: str, sample: Sample) -> None:
        if sample.value is not None and t_s > self.start_s:
            sample.value = min(self.plateau, sample.value + self.rate_per_s * (t_s - self.start_s))


@dataclass(slots=True)
class Overheat(Effect):
    """A cable heating up (loose lug, overload): first-order rise to `rise` above normal."""

    site: str
    sensor: str
    start_s: float
    rise: float
    tau_s: float
    targets: frozenset[tuple[str, str]] = field(init=False)

    def __post_init__(self) -> None:
        self.targets = frozenset({(self.site, self.sensor)})

    def apply(self, t_s: float, site: str, sensor: str, sample: Sample) -> None:
        if sample.value is not None:
            sample.value += _rise(t_s - self.start_s, self.rise, self.tau_s)


@dataclass(slots=True)
class Window(Effect):
    """Between `start_s` and `start_s + duration_s`, one sensor shows something else:

    - quality `bad` (detector self-diagnostics: fault),
    - `value` below its range (a broken 4-20 mA loop reads 0 mA),
    - quality `maintenance` with a span gas applied (calibration, bump test),
    - an interlock `state` (bypassed)."""

    site: str
    sensor: str
    start_s: float
    duration_s: float
    quality: str | None = None
    value: float | None = None
    state: str | None = None
    span_gas: float | None = None  # a test gas applied during maintenance
    targets: frozenset[tuple[str, str]] = field(init=False)

    def __post_init__(self) -> None:
        self.targets = frozenset({(self.site, self.sensor)})

    def apply(self, t_s: float, site: str, sensor: str, sample: Sample) -> None:
        into_s = t_s - self.start_s
        if not 0 <= into_s < self.duration_s:
            return
        if self.quality is not None:
            sample.quality = self.quality
        if self.value is not None and sample.value is not None:
            sample.value = self.value
        if self.state is not None and sample.state is not None:
            sample.state = self.state
        if self.span_gas is not None and sample.value is not None:
            # zero, then span gas for the middle half of the window, then purge
            applied = self.duration_s / 4 <= into_s < 3 * self.duration_s / 4
            sample.value += (
                _rise(into_s - self.duration_s / 4, self.span_gas, 5.0) if applied else 0
            )


@dataclass(slots=True)
class PowerLoss(Effect):
    """A gateway loses power: it vanishes without a word (its will message fires) and
    comes back `duration_s` later with a new boot."""

    site: str
    gateway: str
    start_s: float
    duration_s: float

    def powered(self, t_s: float, site: str, gateway: str) -> bool:
        if site != self.site or gateway != self.gateway:
            return True
        return not self.start_s <= t_s < self.start_s + self.duration_s


def level_2_of(thresholds: dict[Condition, float], fallback: float) -> float:
    return thresholds.get(Condition.high_high, thresholds.get(Condition.high, fallback))
