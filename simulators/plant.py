"""The simulated plant: every sensor of a registry, driven by a named scenario.

    sim = PlantSimulator(registry, seed=7, scenario="leak")
    for site, gateway, batch in sim.telemetry(now_ms):   # one call per tick
        ...  # a hazmon.contract.wire.TelemetryBatch (None while it has no power); publish
        ...  # batch.model_dump_json(exclude_none=True) on topics.telemetry(site, gateway)

Deterministic: the same registry, seed, scenario and tick times give the same
readings (each sensor draws from its own random stream, seeded from the seed and its
ids). `speed` runs plant time faster than the clock (tests: `speed=20`).
"""

from __future__ import annotations

import hashlib
import math
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from hazmon.contract.registry import Gateway, Registry, Sensor
from hazmon.contract.wire import TelemetryBatch, WireReading
from hazmon.simulators.effects import Effect, Sample
from hazmon.simulators.scenarios import Scenario, build_scenario
from hazmon.simulators.signals import AnalogSignal, profile_for


def wall_ms() -> int:
    return time.time_ns() // 1_000_000


def sensor_rng(seed: int, site: str, sensor: str) -> random.Random:
    digest = hashlib.sha256(f"{seed}/{site}/{sensor}".encode()).digest()
    return random.Random(int.from_bytes(digest[:8], "big"))


@dataclass(slots=True)
class _Point:
    site: str
    sensor: Sensor
    signal: AnalogSignal | None
    effects: list[Effect]


@dataclass(slots=True)
class GatewayTick:
    """One gateway's readings for one tick (wire dicts), or none while unpowered."""

    site: str
    gateway: str
    powered: bool
    boot: int
    readings: list[dict[str, object]] = field(default_factory=list)


@dataclass(slots=True)
class _GatewayState:
    site: str
    gateway: str
    points: list[_Point]
    boot: int = 0
    seq: int = 0
    powered: bool = True


class PlantSimulator:
    def __init__(
        self,
        registry: Registry,
        *,
        seed: int = 0,
        scenario: str | Scenario = "normal",
        speed: float = 1.0,
        start_ms: int | None = None,
        clock: Callable[[], int] = wall_ms,
    ) -> None:
        self.registry = registry
        self.seed = seed
        self.scenario = (
            build_scenario(scenario, registry) if isinstance(scenario, str) else scenario
        )
        self.speed = speed
        self.clock = clock
        self.start_ms = clock() if start_ms is None else start_ms
        self._gateways = [
            self._gateway_state(site.id, gw) for site in registry.sites for gw in site.gateways
        ]

    def _gateway_state(self, site: str, gw: Gateway) -> _GatewayState:
        points = []
        for sensor in gw.sensors:
            rng = sensor_rng(self.seed, site, sensor.id)
            signal = AnalogSignal(profile_for(sensor), rng) if sensor.analog else None
            effects = [e for e in self.scenario.effects if (site, sensor.id) in e.targets]
            points.append(_Point(site, sensor, signal, effects))
        return _GatewayState(site, gw.id, points)

    def scenario_time_s(self, now_ms: int) -> float:
        t_s = (now_ms - self.start_ms) / 1000.0 * self.speed
        cycle_s = self.scenario.cycle_s
        return t_s % cycle_s if cycle_s else t_s

    def tick(self, now_ms: int | None = None) -> list[GatewayTick]:
        """Every gateway's readings at `now_ms` (the clock's time by default)."""
        now_ms = self.clock() if now_ms is None else now_ms
        t_s = self.scenario_time_s(now_ms)
        plant_t_s = (now_ms - self.start_ms) / 1000.0 * self.speed  # signals never wrap
        out = []
        for gw in self._gateways:
            powered = all(e.powered(t_s, gw.site, gw.gateway) for e in self.scenario.effects)
            if powered and not gw.powered:
                gw.boot += 1  # power is back: the gateway boots again
                gw.seq = 0
            gw.powered = powered
            tick = GatewayTick(gw.site, gw.gateway, powered, gw.boot)
            if powered:
                tick.readings = [self._reading(p, t_s, plant_t_s, now_ms) for p in gw.points]
            out.append(tick)
        return out

    def _reading(self, p: _Point, t_s: float, plant_t_s: float, now_ms: int) -> dict[str, object]:
        if p.signal is not None:
            sample = Sample(p.signal.value(plant_t_s), None)
        else:
            sample = Sample(None, "normal")
        for effect in p.effects:
            effect.apply(t_s, p.site, p.sensor.id, sample)
        reading: dict[str, object] = {"sensor": p.sensor.id, "ts_ms": now_ms}
        if sample.state is not None:
            reading["state"] = sample.state
        else:
            reading["value"] = _rounded(sample.value or 0.0, p.sensor)
        if sample.quality != "good":
            reading["quality"] = sample.quality
        return reading

    def telemetry(self, now_ms: int | None = None) -> list[tuple[str, str, TelemetryBatch | None]]:
        """Every gateway's telemetry batch for this tick, with its boot and seq.

        Serialize with `batch.model_dump_json(exclude_none=True)`: a reading with
        `"state": null` beside its value breaks the contract (docs/contract.md §3)."""
        now_ms = self.clock() if now_ms is None else now_ms
        out: list[tuple[str, str, TelemetryBatch | None]] = []
        for tick, gw in zip(self.tick(now_ms), self._gateways, strict=True):
            if not tick.powered:
                out.append((tick.site, tick.gateway, None))
                continue
            readings = [WireReading.model_validate(r) for r in tick.readings]
            batch = TelemetryBatch(boot=gw.boot, seq=gw.seq, sent_ms=now_ms, readings=readings)
            gw.seq += 1
            out.append((tick.site, tick.gateway, batch))
        return out


def _rounded(value: float, sensor: Sensor) -> float:
    """Round to the instrument's resolution: 1/10000 of its span."""
    low, high = sensor.range or (0.0, 100.0)
    return round(value, max(0, math.ceil(-math.log10((high - low) / 10_000))))
