"""Redeliveries and reordering never make a second transition; historical data drives
no live state; the site risk grade in four colours."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from hazmon.alarms.core import Engine
from hazmon.alarms.core.inputs import Ack, Reset
from hazmon.contract.registry import Registry
from tests.alarms.plant import T0, Feeder, engine, key, names, reading, registry

HIGH = key("GT-1", "high")
HH = key("GT-1", "high_high")


def test_a_qos1_redelivery_of_the_same_message_changes_nothing() -> None:
    eng = engine()
    batch = [reading("GT-1", T0, 30.0)]
    first = eng.on_batch("s1", "gw1", boot=1, seq=7, historical=False, readings=batch,
                         now_ms=T0)
    again = eng.on_batch("s1", "gw1", boot=1, seq=7, historical=False, readings=batch,
                         now_ms=T0 + 5)
    assert names(first) == [(HIGH, "raised")]
    assert names(again) == []


def test_a_reading_already_seen_in_another_message_or_older_changes_nothing() -> None:
    f = Feeder(engine())
    f.value("GT-1", T0 + 2_000, 30.0)
    assert names(f.value("GT-1", T0 + 2_000, 1.0)) == []  # same sensor and ts_ms
    assert names(f.value("GT-1", T0 + 1_000, 1.0)) == []  # older than the last evaluated
    assert names(f.value("GT-1", T0 + 3_000, 1.0)) == [(HIGH, "cleared")]


values = st.sampled_from([0.0, 10.0, 24.0, 26.0, 49.0, 55.0])


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 40), values), min_size=1, max_size=30))
def test_repeats_and_reordering_give_the_events_of_the_in_order_stream(
    stream: list[tuple[int, float]],
) -> None:
    """Law: the events equal those of the readings that were newer than all before
    (all received after their stamps, so no cap applies). The in-order stream skips
    messages, so its gateway's feed_gap is left out: it is about messages, not
    readings."""
    reg = registry()
    noisy, clean = _engine(reg), _engine(reg)
    got, want = [], []
    newest = -1
    for seq, (second, value) in enumerate(stream):
        r = reading("GT-1", T0 + second * 1_000, value)
        got += names(noisy.on_batch("s1", "gw1", boot=1, seq=seq, historical=False,
                                    readings=[r], now_ms=T0 + 60_000))
        if second > newest:
            newest = second
            want += names(clean.on_batch("s1", "gw1", boot=1, seq=seq, historical=False,
                                         readings=[r], now_ms=T0 + 60_000))
    assert got == [n for n in want if not n[0].endswith("/feed_gap")]


def _engine(reg: Registry) -> Engine:
    eng = Engine(reg)
    eng.start(T0)
    return eng


def test_historical_crossings_are_reported_and_change_no_state() -> None:
    f = Feeder(engine())
    out = f.send(reading("GT-1", T0, 1.0), reading("GT-1", T0 + 1_000, 60.0),
                 reading("GT-1", T0 + 2_000, 70.0), reading("GT-1", T0 + 3_000, 1.0),
                 historical=True, now_ms=T0 + 60_000)
    assert sorted((e.condition, e.event, e.state) for e in out.events) == [
        ("high", "historical", "normal"), ("high_high", "historical", "normal")
    ]
    assert [e.ts_ms for e in out.events] == [T0 + 1_000, T0 + 1_000]
    # a critical crossing is notified once to the first tier, not escalated
    assert [(n.recipient, n.payload["event"]) for n in out.notify] == [("duty", "historical")]
    assert f.eng.risk_grades()["s1"] == "blue"
    assert [n for n in f.eng.tick(T0 + 10_000_000).notify if n.key == HH] == []
    # the live stream is untouched: a live reading at an older time still counts
    out = f.value("GT-1", T0 + 500, 30.0, now_ms=T0 + 60_001)
    assert [(e.event, e.alarm_id) for e in out.events if e.key == HIGH] == [
        ("raised", f"{HIGH}#1")
    ]


def test_the_site_risk_grade_in_four_colours() -> None:
    eng = engine()
    f = Feeder(eng)
    assert eng.risk_grades() == {"s1": "blue"}
    out = f.send(reading("GT-1", T0, 0.0, quality="bad"))  # fault: medium
    assert [(r.site, r.grade, r.level) for r in out.risk] == [("s1", "yellow", 1)]
    out = f.value("RC-1", T0 + 1_000, 400.0)  # residual current high
    assert [r.grade for r in out.risk] == ["orange"]
    out = f.value("O2-1", T0 + 2_000, 18.0)  # oxygen low: critical
    assert [r.grade for r in out.risk] == ["red"]
    eng.act(Ack(f"{key('O2-1', 'low')}#1", user="op", note=None), now_ms=T0 + 3_000)
    assert eng.risk_grades()["s1"] == "red"  # acknowledged, still active
    f.value("O2-1", T0 + 4_000, 20.9)  # latched: returned, not yet reset
    assert eng.risk_grades()["s1"] == "red"
    out = eng.act(Reset(f"{key('O2-1', 'low')}#1", user="op", note=None), now_ms=T0 + 5_000)
    assert [r.grade for r in out.risk] == ["orange"]


def test_the_baseline_is_a_floor() -> None:
    reg = registry()
    site = reg.sites[0].model_copy(update={"baseline_risk": "orange"})
    eng = engine(reg.model_copy(update={"sites": [site]}))
    assert eng.risk_grades() == {"s1": "orange"}
    f = Feeder(eng)
    assert f.send(reading("GT-1", T0, 0.0, quality="bad")).risk == []  # yellow < orange
