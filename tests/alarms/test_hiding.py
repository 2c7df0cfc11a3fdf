"""Maintenance suppression, out-of-service and shelving: hidden, evaluated, limited."""

from __future__ import annotations

import pytest

from hazmon.alarms.core.inputs import Ack, BypassPermit, OutOfService, Shelve, Unshelve
from hazmon.alarms.errors import IllegalTransition, LimitExceeded, UnknownAlarm
from hazmon.contract.registry import Maintenance, Shelving
from tests.alarms.plant import T0, Feeder, engine, events, key, names, reading, registry

HIGH = key("GT-1", "high")
HH = key("GT-1", "high_high")
MIN = 60_000


def test_maintenance_suppresses_and_its_end_re_evaluates() -> None:
    f = Feeder(engine())
    f.value("GT-1", T0, 30.0)
    out = f.send(reading("GT-1", T0 + 1_000, 80.0, quality="maintenance"))  # test gas
    assert [(e.event, e.state) for e in out.events if e.key == HIGH] == [
        ("suppressed", "suppressed")
    ]
    assert not [e for e in out.events if e.event == "raised"]  # test gas raises nothing
    assert f.eng.risk_grades()["s1"] == "orange"  # hidden is not safe; in maintenance
    out = f.value("GT-1", T0 + 2_000, 30.0)
    assert [(e.event, e.state) for e in out.events if e.key == HIGH] == [
        ("unsuppressed", "unack"), ("raised", "unack")
    ]


def test_maintenance_past_its_maximum_raises_fault_visibly() -> None:
    reg = registry(maintenance=Maintenance(max_minutes=1))
    eng = engine(reg)
    f = Feeder(eng)
    f.send(reading("GT-1", T0, 0.0, quality="maintenance"))
    assert events(eng.tick(T0 + 59_000), key("GT-1", "fault")) == []
    out = eng.tick(T0 + 60_000)
    fault = [(e.event, e.state) for e in out.events if e.key == key("GT-1", "fault")]
    assert fault == [("unsuppressed", "unack"), ("raised", "unack")]
    assert events(f.value("GT-1", T0 + 61_000, 0.0), key("GT-1", "fault")) == ["cleared"]


def test_out_of_service_hides_a_sensor_until_it_returns_or_expires() -> None:
    eng = engine()
    f = Feeder(eng)
    f.value("GT-1", T0, 30.0)
    out = eng.act(OutOfService("s1", "GT-1", user="eng", until_ms=T0 + 60 * MIN,
                               reason="repair"), now_ms=T0 + 1_000)
    assert [e.event for e in out.events if not e.published] == ["out_of_service"]
    assert [(e.key, e.event, e.state) for e in out.events if e.published] == [
        (HIGH, "suppressed", "out_of_service")
    ]
    assert names(f.value("GT-1", T0 + 2_000, 60.0)) == []  # hidden, still evaluated
    assert eng.risk_grades()["s1"] == "red"  # hidden is not safe
    out = eng.tick(T0 + 60 * MIN)
    assert [(e.key, e.event) for e in out.events if e.sensor == "GT-1"] == [
        ("s1/GT-1", "in_service"), (HIGH, "unsuppressed"), (HIGH, "raised"),
        (HH, "unsuppressed"), (HH, "raised"),
    ]
    assert [e.alarm_id for e in out.events if e.key == HIGH] == [f"{HIGH}#1"] * 2
    assert [e.alarm_id for e in out.events if e.key == HH] == [f"{HH}#1"] * 2


def test_out_of_service_needs_a_reason_and_an_end_within_the_maximum() -> None:
    eng = engine()
    with pytest.raises(LimitExceeded):
        eng.act(OutOfService("s1", "GT-1", user="e", until_ms=T0 + MIN, reason=" "), now_ms=T0)
    with pytest.raises(LimitExceeded):
        eng.act(OutOfService("s1", "GT-1", user="e", until_ms=T0 + 169 * 60 * MIN,
                             reason="x"), now_ms=T0)
    with pytest.raises(LimitExceeded):
        eng.act(OutOfService("s1", "GT-1", user="e", until_ms=T0, reason="x"), now_ms=T0)
    with pytest.raises(UnknownAlarm):
        eng.act(OutOfService("s1", "NOPE", user="e", until_ms=T0 + MIN, reason="x"), now_ms=T0)


def test_shelving_needs_a_reason_a_maximum_and_ends_by_expiry() -> None:
    eng = engine()
    f = Feeder(eng)
    f.value("GT-1", T0, 30.0)
    alarm = f"{HIGH}#1"
    with pytest.raises(LimitExceeded):
        eng.act(Shelve(alarm, user="op", minutes=30, reason=""), now_ms=T0 + 1_000)
    with pytest.raises(LimitExceeded):
        eng.act(Shelve(alarm, user="op", minutes=481, reason="nuisance"), now_ms=T0 + 1_000)
    out = eng.act(Shelve(alarm, user="op", minutes=10, reason="sensor washdown"), now_ms=T0 + 1_000)
    assert [(e.event, e.state, e.user) for e in out.events] == [("shelved", "shelved", "op")]
    assert "sensor washdown" in (out.events[0].note or "")
    f.value("GT-1", T0 + 2_000, 1.0)  # clears while shelved: nothing shown
    out = eng.tick(T0 + 1_000 + 10 * MIN)
    # never acknowledged: it still waits for an operator (hiding discharges nothing)
    assert [(e.event, e.state) for e in out.events if e.key == HIGH] == [
        ("unshelved", "rtn_unack")]
    eng.act(Ack(alarm, user="op", note=None), now_ms=T0 + 11 * MIN)  # ends the occurrence
    out = f.value("GT-1", T0 + 20 * MIN, 30.0)  # the next raise is a new occurrence
    assert [(e.event, e.alarm_id) for e in out.events if e.key == HIGH] == [
        ("raised", f"{HIGH}#2")
    ]


def test_critical_alarms_are_not_shelvable_unless_allowed() -> None:
    f = Feeder(engine())
    f.value("GT-1", T0, 60.0)
    with pytest.raises(LimitExceeded, match="critical"):
        f.eng.act(Shelve(f"{HH}#1", user="op", minutes=5, reason="x"), now_ms=T0 + 1)
    g = Feeder(engine(registry(shelving=Shelving(allow_critical=True))))
    g.value("GT-1", T0, 60.0)
    out = g.eng.act(Shelve(f"{HH}#1", user="op", minutes=5, reason="x"), now_ms=T0 + 1)
    assert [e.state for e in out.events] == ["shelved"]


def test_shelving_a_normal_alarm_or_acking_twice_is_illegal_and_changes_nothing() -> None:
    eng = engine()
    f = Feeder(eng)
    f.value("GT-1", T0, 30.0)
    eng.act(Ack(f"{HIGH}#1", user="op", note=None), now_ms=T0 + 1)
    with pytest.raises(IllegalTransition) as caught:
        eng.act(Ack(f"{HIGH}#1", user="op", note=None), now_ms=T0 + 2)
    assert (caught.value.state, caught.value.action) == ("acked", "ack")
    f.value("GT-1", T0 + 3_000, 1.0)  # acked + clear -> normal: occurrence ended
    with pytest.raises(IllegalTransition):
        eng.act(Shelve(f"{HIGH}#1", user="op", minutes=5, reason="x"), now_ms=T0 + 4_000)
    with pytest.raises(UnknownAlarm):
        eng.act(Ack(f"{HIGH}#2", user="op", note=None), now_ms=T0 + 5_000)
    assert eng.take_dirty().points[HIGH]["state"] == "normal"


def test_bypass_permits_clear_bypass_and_their_expiry_raises_it_again() -> None:
    eng = engine()
    f = Feeder(eng)
    bypass = key("ESD-A", "bypass")
    assert events(f.state("ESD-A", T0, "bypassed"), bypass) == ["raised"]
    kw = dict(user="eng", reason="proof test", approved_by="chief", compensating_measures="watch")

    def permit(sensor: str, until_ms: int, **changed: str) -> BypassPermit:
        return BypassPermit("s1", sensor, until_ms=until_ms, **{**kw, **changed})

    with pytest.raises(LimitExceeded):  # grade A: at most 24 h
        eng.act(permit("ESD-A", T0 + 25 * 60 * MIN), now_ms=T0)
    with pytest.raises(LimitExceeded):
        eng.act(permit("ESD-A", T0 + MIN, approved_by=""), now_ms=T0)
    with pytest.raises(LimitExceeded):
        eng.act(permit("GT-1", T0 + MIN), now_ms=T0)
    out = eng.act(permit("ESD-A", T0 + 30 * MIN), now_ms=T0 + 1)
    granted = eng.plant.sensors["s1/ESD-A"].permit
    assert granted is not None and granted.approved_by == "chief"
    assert [e.event for e in out.events] == ["bypass_permit", "cleared"]
    assert eng.risk_grades()["s1"] == "red"  # the bypass occurrence is not acked yet
    eng.act(Ack(f"{bypass}#1", user="op", note=None), now_ms=T0 + 2)
    assert eng.risk_grades()["s1"] == "orange"  # a permit in force on a grade A interlock
    out = eng.tick(T0 + 30 * MIN)
    assert [e.event for e in out.events if e.key in (bypass, "s1/ESD-A")] == [
        "permit_expired", "raised"
    ]
    eng72 = engine()
    eng72.act(permit("ESD-B", T0 + 72 * 60 * MIN), now_ms=T0)


def test_unshelving_by_hand_re_raises_with_the_occurrences_value() -> None:
    """As with ack and shelve, the event carries the value of the occurrence."""
    eng = engine()
    f = Feeder(eng)
    f.value("GT-1", T0, 30.0)
    alarm = f"{HIGH}#1"
    eng.act(Shelve(alarm, user="op", minutes=10, reason="washdown"), now_ms=T0 + 1_000)
    f.value("GT-1", T0 + 2_000, 31.5)  # still active while shelved
    out = eng.act(Unshelve(alarm, user="op", note="washdown over"), now_ms=T0 + 3_000)
    shown = [(e.event, e.state, e.value, e.user) for e in out.events if e.key == HIGH]
    assert shown == [("unshelved", "unack", 30.0, "op"), ("raised", "unack", 30.0, "op")]
