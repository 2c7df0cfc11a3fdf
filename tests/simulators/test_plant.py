"""The plant simulator: deterministic, healthy when normal, scenarios in the right order."""

from __future__ import annotations

from pathlib import Path

import pytest

from hazmon.contract.config import load_registry
from hazmon.contract.kinds import Condition
from hazmon.contract.registry import Registry
from hazmon.contract.wire import Decoder
from hazmon.simulators.plant import PlantSimulator
from hazmon.simulators.scenarios import SCENARIOS, UnknownScenario
from hazmon.simulators.signals import thresholds_of

DEMO = Path(__file__).parents[2] / "hazmon" / "demo" / "plant.yaml"
START_MS = 1_764_385_200_000


@pytest.fixture(scope="module")
def demo() -> Registry:
    return load_registry(DEMO)


def run(
    sim: PlantSimulator, seconds: int, step_s: float = 1.0
) -> list[tuple[float, dict[tuple[str, str], dict[str, object]]]]:
    """(t_s, {(site, sensor): reading}) for each tick."""
    out = []
    for k in range(int(seconds / step_s)):
        t_ms = START_MS + round(k * step_s * 1000)
        readings = {
            (tick.site, str(r["sensor"])): r for tick in sim.tick(t_ms) for r in tick.readings
        }
        out.append((k * step_s, readings))
    return out


def test_same_seed_same_plant_other_seed_other_plant(demo: Registry) -> None:
    a = run(PlantSimulator(demo, seed=7, scenario="demo", start_ms=START_MS), 120)
    b = run(PlantSimulator(demo, seed=7, scenario="demo", start_ms=START_MS), 120)
    c = run(PlantSimulator(demo, seed=8, scenario="demo", start_ms=START_MS), 120)
    assert a == b
    assert a != c


def test_normal_plant_raises_nothing_for_ten_minutes(demo: Registry) -> None:
    sensors = {(s.id, x.id): x for s, _, x in demo.sensors()}
    for _, readings in run(PlantSimulator(demo, seed=3, start_ms=START_MS), 600):
        for key, r in readings.items():
            sensor = sensors[key]
            assert r.get("quality", "good") == "good"
            if "state" in r:
                assert r["state"] == "normal"
                continue
            value = float(r["value"])  # type: ignore[arg-type]
            low, high = sensor.range or (0.0, 100.0)
            assert low <= value <= high, key
            for condition, limit in thresholds_of(sensor).items():
                margin = sensor.deadband
                if condition in (Condition.high, Condition.high_high):
                    assert value < limit - margin, (key, condition, value)
                else:
                    assert value > limit + margin, (key, condition, value)


def first_time(
    ticks: list[tuple[float, dict[tuple[str, str], dict[str, object]]]],
    key: tuple[str, str],
    test: object,
) -> float:
    for t_s, readings in ticks:
        if test(readings[key]):  # type: ignore[operator]
            return t_s
    raise AssertionError(f"{key} never did it")


def test_leak_crosses_level_1_then_level_2_then_trips_the_esd(demo: Registry) -> None:
    sim = PlantSimulator(demo, seed=1, scenario="leak", start_ms=START_MS)
    ticks = run(sim, 90)
    source = ("jh-chem-01", "GT-101")
    level_1 = first_time(ticks, source, lambda r: r["value"] >= 20)
    level_2 = first_time(ticks, source, lambda r: r["value"] >= 40)
    trip = first_time(ticks, ("jh-chem-01", "ESD-01"), lambda r: r["state"] == "tripped")
    assert 10 < level_1 < level_2 < trip < 60
    # the platform's on-delay (2 s) for level 2 completes before the trip
    assert trip - level_2 >= 3
    # the plume reaches a neighbour later and weaker: level 1 but not level 2
    neighbour = [r[("jh-chem-01", "GT-102")]["value"] for _, r in ticks]
    assert max(neighbour) >= 20 > 0  # type: ignore[operator]
    assert max(neighbour) < 40  # type: ignore[operator]
    assert first_time(ticks, ("jh-chem-01", "GT-102"), lambda r: r["value"] >= 20) > level_1
    # isolation: the gas clears after the trip
    assert ticks[-1][1][source]["value"] < 30  # type: ignore[operator]


def test_leak_runs_faster_with_speed(demo: Registry) -> None:
    sim = PlantSimulator(demo, seed=1, scenario="leak", start_ms=START_MS, speed=10)
    ticks = run(sim, 6, step_s=0.1)
    trip = first_time(ticks, ("jh-chem-01", "ESD-01"), lambda r: r["state"] == "tripped")
    assert trip < 4


def test_electrical_creep_and_overheat(demo: Registry) -> None:
    ticks = run(PlantSimulator(demo, seed=2, scenario="electrical", start_ms=START_MS), 150)
    rc = first_time(ticks, ("yw-paint-01", "RC-02"), lambda r: r["value"] >= 300)
    ct = first_time(ticks, ("yw-paint-01", "CT-03"), lambda r: r["value"] >= 70)
    assert 20 < rc < 45
    assert rc < ct < 150


def test_fault_calibration_bypass_power_loss(demo: Registry) -> None:
    fault = run(PlantSimulator(demo, seed=2, scenario="fault", start_ms=START_MS), 90)
    assert first_time(fault, ("wy-mine-01", "GT-01"), lambda r: r.get("quality") == "bad") == 20
    assert first_time(fault, ("wy-mine-01", "GT-02"), lambda r: r["value"] < -5) == 50
    cal = run(PlantSimulator(demo, seed=2, scenario="calibration", start_ms=START_MS), 200)
    key = next(k for k in cal[60][1] if cal[60][1][k].get("quality") == "maintenance")
    assert max(float(r[key]["value"]) for _, r in cal) > 20  # span gas  # type: ignore[arg-type]
    assert cal[-1][1][key].get("quality", "good") == "good"
    byp = run(PlantSimulator(demo, seed=2, scenario="bypass", start_ms=START_MS), 30)
    assert "bypassed" in {r["state"] for r in byp[-1][1].values() if "state" in r}
    sim = PlantSimulator(demo, seed=2, scenario="power_loss", start_ms=START_MS)
    powered = {}
    for k in range(0, 120, 5):
        for tick in sim.tick(START_MS + k * 1000):
            if tick.gateway == "gw-crusher":
                powered[k] = (tick.powered, tick.boot)
    assert powered[25] == (True, 0) and powered[30] == (False, 0) and powered[90] == (True, 1)


def test_every_reading_passes_the_wire_contract(demo: Registry) -> None:
    decoder = Decoder(demo)
    sim = PlantSimulator(demo, seed=5, scenario="demo", start_ms=START_MS)
    for k in range(0, 240, 3):
        now_ms = START_MS + k * 1000
        for site, gw, batch in sim.telemetry(now_ms):
            if batch is None:
                continue
            decoded = decoder.decode(
                site, gw, batch.model_dump_json(exclude_none=True).encode(), now_ms=now_ms
            )
            assert decoded.rejections == [], decoded.rejections[:3]


def test_demo_raises_alarms_on_several_sites_within_a_minute(demo: Registry) -> None:
    sensors = {(s.id, x.id): x for s, _, x in demo.sensors()}
    ticks = run(PlantSimulator(demo, seed=4, scenario="demo", start_ms=START_MS), 60)
    alarmed_sites = set()
    for _, readings in ticks:
        for key, r in readings.items():
            limits = thresholds_of(sensors[key])
            high = limits.get(Condition.high)
            hot = "value" in r and high is not None and float(r["value"]) >= high  # type: ignore[arg-type]
            if hot or r.get("quality") == "bad" or r.get("state") in ("tripped", "bypassed"):
                alarmed_sites.add(key[0])
    assert {"jh-chem-01", "yw-paint-01", "wy-mine-01"} <= alarmed_sites


def test_unknown_scenario_names_the_known_ones(demo: Registry) -> None:
    with pytest.raises(UnknownScenario) as info:
        PlantSimulator(demo, scenario="meteor")
    assert "leak" in str(info.value)
    assert set(SCENARIOS) >= {
        "normal",
        "leak",
        "electrical",
        "fault",
        "calibration",
        "power_loss",
        "bypass",
        "demo",
    }
