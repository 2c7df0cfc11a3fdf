"""One scenario per default of docs/alarms.md's kinds table: threshold, priority, latch."""

from __future__ import annotations

import pytest

from hazmon.alarms.core.inputs import Ack, Reset
from hazmon.contract.kinds import TOXIC_GASES, Condition, mg_m3_to_ppm
from tests.alarms.plant import T0, Feeder, engine, events, key, reading, registry

H2S = TOXIC_GASES["H2S"]

# sensor, condition, default threshold, priority, latched, +1 high / -1 low, a normal value
DEFAULTS = [
    ("GT-1", "high", 25.0, "high", False, +1, 0.0),
    ("GT-1", "high_high", 50.0, "critical", True, +1, 0.0),
    ("H2S-1", "high", 10.0, "high", False, +1, 0.0),
    ("H2S-1", "high_high", 20.0, "critical", True, +1, 0.0),
    ("H2S-P", "high", round(mg_m3_to_ppm(10.0, H2S.molar_mass_g_mol), 3), "high", False, +1, 0.0),
    ("H2S-P", "high_high", round(mg_m3_to_ppm(20.0, H2S.molar_mass_g_mol), 3), "critical", True,
     +1, 0.0),
    ("CO-I", "high", 85.0, "high", False, +1, 0.0),  # 5 % of IDLH 1700 mg/m³
    ("CO-I", "high_high", 170.0, "critical", True, +1, 0.0),
    ("O2-1", "low", 19.5, "critical", True, -1, 20.9),
    ("O2-1", "high", 23.5, "high", False, +1, 20.9),
    ("RC-1", "high", 300.0, "high", False, +1, 120.0),
    ("CT-P", "high", 60.0, "high", False, +1, 30.0),
    ("CT-P", "high_high", 70.0, "critical", False, +1, 30.0),
    ("CT-X", "high", 80.0, "high", False, +1, 30.0),
    ("CT-X", "high_high", 90.0, "critical", False, +1, 30.0),
    ("LT-1", "low_low", 0.5, "critical", False, -1, 8.0),
    ("LT-1", "low", 1.0, "high", False, -1, 8.0),
    ("LT-1", "high", 13.5, "high", False, +1, 8.0),
    ("LT-1", "high_high", 14.5, "critical", False, +1, 8.0),
]


def test_the_registry_in_force_has_these_defaults() -> None:
    sensors = {x.id: x for _, _, x in registry().sensors()}
    for sensor, condition, threshold, *_ in DEFAULTS:
        assert getattr(sensors[sensor].thresholds, condition) == pytest.approx(threshold)


@pytest.mark.parametrize(
    ("sensor", "condition", "threshold", "priority", "latched", "direction", "normal"),
    DEFAULTS,
    ids=[f"{d[0]}-{d[1]}" for d in DEFAULTS],
)
def test_default_threshold_priority_and_latch(
    sensor: str, condition: str, threshold: float, priority: str, latched: bool,
    direction: int, normal: float,
) -> None:
    f = Feeder(engine())
    point = key(sensor, condition)
    assert events(f.value(sensor, T0 + 1_000, normal), point) == []
    short = threshold - direction * max(abs(threshold) * 1e-3, 1e-3)
    assert events(f.value(sensor, T0 + 2_000, short), point) == []
    out = f.value(sensor, T0 + 3_000, threshold)
    raised = [e for e in out.events if e.key == point]
    assert [e.event for e in raised] == ["raised"]
    assert (raised[0].priority, raised[0].state, raised[0].value) == (priority, "unack", threshold)
    assert raised[0].alarm_id == f"{point}#1"
    cleared = [e for e in f.value(sensor, T0 + 4_000, normal).events if e.key == point]
    assert [e.event for e in cleared] == ["cleared"]
    if latched:
        assert (cleared[0].state, cleared[0].returned) == ("unack", True)
    else:
        assert (cleared[0].state, cleared[0].returned) == ("rtn_unack", False)


@pytest.mark.parametrize(
    ("sensor", "trip", "bypass", "fault"),
    [("ESD-A", "critical", "critical", "high"), ("ESD-B", "critical", "high", "medium")],
)
def test_interlock_priorities_by_grade(sensor: str, trip: str, bypass: str, fault: str) -> None:
    f = Feeder(engine())
    f.state(sensor, T0 + 1_000, "normal")
    found = {}
    for i, (state, condition) in enumerate(
        [("tripped", "trip"), ("bypassed", "bypass"), ("fault", "fault")]
    ):
        out = f.state(sensor, T0 + 2_000 + i * 1_000, state)
        raised = [e for e in out.events if e.event == "raised"]
        assert [e.condition for e in raised] == [condition]
        found[condition] = raised[0].priority
    assert found == {"trip": trip, "bypass": bypass, "fault": fault}


def test_trip_latches_until_acked_and_reset() -> None:
    f = Feeder(engine())
    point = key("ESD-A", "trip")
    f.state("ESD-A", T0 + 1_000, "tripped")
    out = f.state("ESD-A", T0 + 2_000, "normal")
    assert [(e.event, e.state, e.returned) for e in out.events] == [("cleared", "unack", True)]
    acked = f.eng.act(Ack(f"{point}#1", user="op", note=None), now_ms=T0 + 3_000)
    assert [(e.event, e.state, e.returned) for e in acked.events] == [("acked", "acked", True)]
    reset = f.eng.act(Reset(f"{point}#1", user="op", note="checked"), now_ms=T0 + 4_000)
    assert [(e.event, e.state) for e in reset.events] == [("reset", "normal")]


def test_fault_and_stale_are_medium_and_never_latch_on_a_gas_detector() -> None:
    reg = registry()
    gas = next(x for _, _, x in reg.sensors() if x.id == "GT-1")
    assert gas.priority(Condition.fault) == "medium"
    f = Feeder(engine(reg))
    out = f.send(reading("GT-1", T0 + 1_000, 5.0, quality="bad"))
    assert [(e.condition, e.priority) for e in out.events] == [("fault", "medium")]
    out = f.send(reading("GT-1", T0 + 2_000, 5.0))
    assert [(e.event, e.state) for e in out.events] == [("cleared", "rtn_unack")]


def test_the_stale_default_is_three_periods_but_at_least_ten_seconds() -> None:
    sensors = {x.id: x for _, _, x in registry().sensors()}
    assert sensors["GT-1"].stale_after_s == 10.0
