"""Cause-and-effect verification in the pure core (docs/alarms.md, "Cause-and-effect
verification"): demands from the core's own evaluation, the interlock's answer timed,
`ce_failed` on a missing or late trip, spurious trips, and the demands kept over a
restart. The registry's checks of the matrix are in tests/contract/test_matrix.py."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hazmon.alarms.core import Engine, Output
from hazmon.alarms.core.model import Event
from tests.alarms.plant import REGISTRY_YAML, SITE, T0, Feeder, engine, key, registry

pytestmark = pytest.mark.unit

MATRIX = """    cause_effect:
      - id: CE-1
        description: gas level 2 at GT-9..11 trips ESD-A
        cause: {sensors: [GT-9, GT-10, GT-11], condition: high_high, vote: 2oo3}
        effect: {interlock: ESD-A, state: tripped}
        within_s: 5
      - id: CE-2
        cause: {sensors: [GT-2], condition: high_high}
        effect: {interlock: ESD-B}
        within_s: 5
    gateways:
"""
CE_YAML = REGISTRY_YAML.replace("    gateways:\n", MATRIX, 1)
LOCK_A = f"{SITE}/ESD-A"
FAILED_A = key("ESD-A", "ce_failed")


def records(out: Output) -> list[Event]:
    return [e for e in out.events if e.event.startswith("ce_")]


def named(out: Output) -> list[tuple[str, object]]:
    return [(e.event, e.value) for e in records(out)]


class Plant:
    """GT-9..11 on gw2, the interlocks on gw1, one clock for both."""

    def __init__(self, eng: Engine | None = None) -> None:
        self.eng = eng or engine(registry(CE_YAML))
        self.gas = Feeder(self.eng, gateway="gw2")
        self.locks = Feeder(self.eng)

    def gas_at(self, t_s: float, **values: float) -> Output:
        out = Output()
        for sensor, value in values.items():
            out.extend(self.gas.value(sensor.replace("_", "-"), T0 + int(t_s * 1000), value))
        return out

    def lock(self, t_s: float, state: str, sensor: str = "ESD-A") -> Output:
        return self.locks.state(sensor, T0 + int(t_s * 1000), state)

    def tick(self, t_s: float) -> Output:
        return self.eng.tick(T0 + int(t_s * 1000))


def test_a_trip_two_seconds_after_the_demand_is_recorded_with_its_time() -> None:
    p = Plant()
    assert named(p.gas_at(1, GT_9=60.0)) == []  # 1 of 2oo3: no demand
    demand = p.gas_at(1.5, GT_10=55.0)
    assert named(demand) == [("ce_demand", None)]
    assert "GT-9 60, GT-10 55, GT-11 None %LEL; high_high 2oo3" in str(records(demand)[0].note)
    answer = p.lock(3.5, "tripped")
    assert named(answer) == [("ce_response", 2000)]
    assert records(answer)[0].key == LOCK_A and not records(answer)[0].published
    assert p.eng.plant.sensors[LOCK_A].ce_demands == {}
    assert not [e for e in p.tick(20).events if e.key == FAILED_A]


def test_two_of_three_need_two() -> None:
    p = Plant()
    p.gas_at(1, GT_11=70.0)
    p.gas_at(2, GT_11=70.0)
    assert named(p.tick(30)) == []
    assert named(p.lock(31, "tripped")) == [("ce_spurious", "tripped")]
    p.lock(32, "normal")
    assert named(p.gas_at(33, GT_9=55.0)) == [("ce_demand", None)]


def test_no_trip_within_five_seconds_raises_ce_failed_with_the_readings() -> None:
    p = Plant()
    p.gas_at(1, GT_9=60.0, GT_10=62.0)
    assert [e for e in p.tick(6.9).events if e.key == FAILED_A] == []  # + 1 s of grace
    out = p.tick(7)
    raised = [e for e in out.events if e.key == FAILED_A]
    assert [(e.event, e.priority, e.state) for e in raised] == [("raised", "critical", "unack")]
    assert raised[0].note is not None and "CE-1: ESD-A not tripped within 5.0 s" in raised[0].note
    assert "GT-9 60, GT-10 62" in raised[0].note
    assert any(n.alarm_id == f"{FAILED_A}#1" for n in out.notify)  # the first tier is told
    late = p.lock(9, "tripped")
    assert named(late) == [("ce_late", 8000)]
    assert [(e.event, e.state) for e in late.events if e.key == FAILED_A] == [
        ("cleared", "rtn_unack")
    ]


def test_a_late_trip_before_the_clock_judged_it_raises_and_clears_at_once() -> None:
    p = Plant()
    p.gas_at(1, GT_2=55.0)
    assert named(p.gas_at(3.1, GT_2=55.0)) == [("ce_demand", None)]  # GT-2's 2 s on-delay
    late = p.lock(9.2, "tripped", sensor="ESD-B")
    assert named(late) == [("ce_late", 6100)]
    failed = key("ESD-B", "ce_failed")
    assert [e.event for e in late.events if e.key == failed] == ["raised", "cleared"]


def test_a_missing_trip_ends_when_the_cause_is_gone() -> None:
    p = Plant()
    p.gas_at(1, GT_9=60.0, GT_10=62.0)
    p.tick(7)
    still = p.gas_at(8, GT_9=10.0)  # 1 of 3 left: the vote is lost
    assert named(still) == [("ce_missing", None)]
    assert [e.event for e in still.events if e.key == FAILED_A] == ["cleared"]
    assert p.eng.plant.sensors[LOCK_A].ce_demands == {}


def test_a_cause_gone_before_the_deadline_is_still_a_demand_to_answer() -> None:
    p = Plant()
    p.gas_at(1, GT_9=60.0, GT_10=62.0)
    p.gas_at(2, GT_9=10.0)  # gone, but the latched alarm stays; the demand stands
    out = p.tick(7)
    assert named(out) == [("ce_missing", None)]
    assert [e.event for e in out.events if e.key == FAILED_A] == ["raised", "cleared"]


def test_a_trip_while_the_demand_is_confirmed_by_an_on_delay_is_no_spurious_trip() -> None:
    p = Plant()
    p.gas_at(1, GT_2=55.0)  # GT-2 waits 2 s before high_high is active
    assert named(p.lock(2, "tripped", sensor="ESD-B")) == []
    confirmed = p.gas_at(3.1, GT_2=55.0)
    assert named(confirmed) == [("ce_demand", None), ("ce_response", 0)]
    assert "had tripped 1.1 s before the demand was confirmed" in str(records(confirmed)[1].note)


def test_a_demand_waiting_survives_a_restart() -> None:
    p = Plant()
    p.gas_at(1, GT_9=60.0, GT_10=62.0)
    dirty = p.eng.take_dirty()
    points = {k: d for k, d in dirty.points.items()}
    again = Engine(registry(CE_YAML))
    again.restore(sensors=dirty.sensors, points=points, gateways=dirty.gateways,
                  open_occurrences={})
    again.start(T0 + 2000)
    assert again.plant.sensors[LOCK_A].ce_demands["CE-1"]["since_ms"] == T0 + 1000
    q = Plant(again)
    q.gas.seq = q.locks.seq = 1000
    q.gas.boot = q.locks.boot = 2
    assert named(q.lock(4, "tripped")) == [("ce_response", 3000)]


def test_an_interlock_outside_every_matrix_has_no_ce_failed_point() -> None:
    eng = engine(registry(CE_YAML))
    assert FAILED_A in eng.plant.points
    assert key("GT-9", "ce_failed") not in eng.plant.points
    assert key("ESD-A", "ce_failed") not in engine().plant.points  # no matrix


STEPS = st.lists(st.one_of(
    st.tuples(st.sampled_from(["GT_9", "GT_10", "GT_11"]), st.sampled_from([0.0, 55.0])),
    st.tuples(st.just("lock"), st.sampled_from(["normal", "tripped"])),
    st.tuples(st.just("tick"), st.just(0.0)),
), max_size=25)


@settings(max_examples=30, deadline=None)
@given(STEPS, st.lists(st.sampled_from([0.5, 1.0, 3.0, 7.0]), min_size=25, max_size=25))
def test_every_answer_follows_its_demand_and_ce_failed_tells_a_failed_one(
    steps: list[tuple[str, Any]], gaps_s: list[float]
) -> None:
    """Over any history of CE-1 (2oo3): one demand open at a time, every answer
    (in time, late, missing) closes the open one, in-time answers are within 5 s and
    late ones after, and `ce_failed` is active exactly while a failed demand waits."""
    p = Plant()
    t_s, open_demand = 0.0, False
    for (what, arg), gap_s in zip(steps, gaps_s, strict=False):
        t_s += gap_s
        if what == "lock":
            out = p.lock(t_s, arg)
        elif what == "tick":
            out = p.tick(t_s)
        else:
            out = p.gas_at(t_s, **{what: arg})
        for event in records(out):
            if event.event == "ce_demand":
                assert not open_demand
                open_demand = True
            elif event.event in ("ce_response", "ce_late", "ce_missing"):
                assert open_demand or event.value == 0  # 0: tripped before it was confirmed
                open_demand = False
                if event.event == "ce_response":
                    assert isinstance(event.value, int) and 0 <= event.value <= 5000
                if event.event == "ce_late":
                    assert isinstance(event.value, int) and event.value > 5000
        waiting = p.eng.plant.sensors[LOCK_A].ce_demands
        assert open_demand == ("CE-1" in waiting)
        failed = any(d["failed"] for d in waiting.values())
        assert p.eng.plant.points[FAILED_A].active == failed


def test_a_registry_cut_to_one_gateway_keeps_only_the_rows_it_holds() -> None:
    """A replay runs one gateway at a time on the registry cut to it (alarms/replay)."""
    reg = registry(CE_YAML)
    site = reg.sites[0]
    one = site.model_copy(update={"gateways": site.gateways[:1]})
    cut = reg.model_copy(update={"sites": [one]})
    eng = engine(cut)
    assert [r.id for r in eng.plant.matrix.rows] == ["CE-2"]  # CE-1's detectors are on gw2
    assert FAILED_A not in eng.plant.points
    assert named(Plant(eng).lock(1, "tripped")) == []
    eng.tick(T0 + 60_000)
