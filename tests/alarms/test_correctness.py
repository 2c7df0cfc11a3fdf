"""The alarm rules that decide "this is old", "this is a repeat", "this ends the
occurrence" and "who is told", each performed on the pure engine: a second release on
an acknowledged latched alarm, a gateway clock running ahead, hiding that must not
discharge an obligation, the value an on-delay completed by the clock carries, a boot
far beyond the gateway's last."""

from __future__ import annotations

from hazmon.alarms.core import Engine
from hazmon.alarms.core.inputs import Ack, Reset, Shelve, Unshelve
from hazmon.contract.sequence import MAX_BOOT_STEP
from tests.alarms.plant import T0, Feeder, engine, events, key, names, reading

HH = key("GT-1", "high_high")
HIGH = key("GT-1", "high")
GT2_HIGH = key("GT-2", "high")
OFFLINE = "s1/gw1/offline"
MIN = 60_000


def test_a_second_release_on_an_acknowledged_latched_alarm_tells_the_first_tier() -> None:
    eng = engine()
    f = Feeder(eng)
    first = f.value("GT-1", T0, 60.0)
    assert [(n.recipient, n.tier) for n in first.notify] == [("duty", 1), ("duty", 1)]
    eng.act(Ack(f"{HH}#1", user="op", note=None), now_ms=T0 + 1_000)
    eng.act(Ack(f"{HIGH}#1", user="op", note=None), now_ms=T0 + 1_000)
    f.value("GT-1", T0 + 2_000, 5.0)  # the gas falls: latched, returned
    again = f.value("GT-1", T0 + 3_000, 70.0)  # and rises before anyone resets it
    raised = [e for e in again.events if e.key == HH and e.event == "raised"]
    assert [(e.state, e.returned) for e in raised] == [("acked", False)]
    told = [n for n in again.notify if n.key == HH]
    assert [(n.recipient, n.tier, n.payload["event"]) for n in told] == [("duty", 1, "raised")]
    assert told[0].id not in {n.id for n in first.notify}  # its own idempotency key
    # no escalation for an acknowledged alarm: the clock tells nobody more
    assert [n for n in eng.tick(T0 + 60 * MIN).notify if n.key == HH] == []


def test_a_raise_from_rtn_unack_inside_a_running_round_tells_the_first_tier() -> None:
    eng = engine()
    f = Feeder(eng)
    assert [n.recipient for n in f.value("GT-1", T0, 30.0).notify] == ["duty"]
    f.value("GT-1", T0 + 1_000, 1.0)  # high is not latched: rtn_unack
    again = f.value("GT-1", T0 + 2_000, 30.0)
    assert events(again, HIGH) == ["raised"]
    assert [(n.recipient, n.payload["event"]) for n in again.notify] == [("duty", "raised")]


def test_a_gateway_clock_ahead_does_not_blind_the_sensor() -> None:
    eng = engine()
    f = Feeder(eng)
    now = T0 + 10_000
    f.value("GT-1", now + 2 * MIN, 5.0, now_ms=now)  # stamped two minutes ahead
    got = []
    for i in range(1, 11):  # then correctly stamped 60 %LEL every second
        got += names(f.value("GT-1", now + i * 1_000, 60.0, now_ms=now + i * 1_000))
        got += names(eng.tick(now + i * 1_000 + 500))
    assert (HH, "raised") in got and got[0] == (HIGH, "raised")
    assert (OFFLINE, "raised") not in got
    assert eng.plant.sensors["s1/GT-1"].last_value == 60.0


def test_a_reading_ahead_of_the_clock_counts_from_its_arrival_for_the_on_delay() -> None:
    eng = engine()
    f = Feeder(eng)
    f.value("GT-2", T0 + 5 * MIN, 30.0, now_ms=T0)  # on_delay_s 2, stamped 5 min ahead
    assert events(eng.tick(T0 + 2_000), GT2_HIGH) == ["raised"]  # not 5 min later


def test_offline_is_judged_by_arrival_not_by_reading_time() -> None:
    eng = engine()
    f = Feeder(eng)
    f.value("GT-1", T0 + 5 * MIN, 1.0, now_ms=T0)
    for i in range(1, 31):  # 30 s of messages whose readings all look older
        f.value("GT-1", T0 + i * 1_000, 1.0, now_ms=T0 + i * 1_000)
        assert (OFFLINE, "raised") not in names(eng.tick(T0 + i * 1_000 + 500))


def test_a_redelivery_is_a_repeat_by_boot_and_seq_even_across_a_restart() -> None:
    eng = engine()
    batch = [reading("GT-1", T0 + 1_000, 30.0)]
    assert names(eng.on_batch("s1", "gw1", boot=4, seq=9, historical=False, readings=batch,
                              now_ms=T0 + 1_000)) == [(HIGH, "raised")]
    dirty = eng.take_dirty()
    again = Engine(eng.plant.registry)
    again.restore(sensors={}, points={}, gateways=dirty.gateways, open_occurrences={})
    again.start(T0 + 5_000)
    later = [reading("GT-1", T0 + 6_000, 30.0)]  # newer stamp, same (boot, seq)
    assert names(again.on_batch("s1", "gw1", boot=4, seq=9, historical=False,
                                readings=later, now_ms=T0 + 6_000)) == []
    assert names(again.on_batch("s1", "gw1", boot=4, seq=10, historical=False,
                                readings=later, now_ms=T0 + 6_000)) == [(HIGH, "raised")]


def test_calibration_does_not_retire_an_unacknowledged_latched_critical_alarm() -> None:
    eng = engine()
    f = Feeder(eng)
    f.value("GT-1", T0, 60.0)
    f.value("GT-1", T0 + 1_000, 60.0, quality="maintenance")  # calibration starts
    f.value("GT-1", T0 + 2_000, 0.0, quality="maintenance")  # gas gone meanwhile
    out = f.value("GT-1", T0 + 3_000, 0.0)  # calibration ends
    shown = [(e.event, e.state, e.returned) for e in out.events if e.key == HH]
    assert shown == [("unsuppressed", "unack", True)]
    assert eng.plant.points[HH].occ is not None  # the occurrence goes on
    high = [(e.event, e.state) for e in out.events if e.key == HIGH]
    assert high == [("unsuppressed", "rtn_unack")]  # level 1 is not latched
    eng.act(Ack(f"{HH}#1", user="op", note=None), now_ms=T0 + 4_000)
    assert events(eng.act(Reset(f"{HH}#1", user="op", note=None), now_ms=T0 + 5_000), HH) == [
        "reset"]


def test_shelving_then_unshelving_keeps_an_unacknowledged_cleared_alarm() -> None:
    eng = engine()
    f = Feeder(eng)
    f.value("GT-1", T0, 30.0)
    f.value("GT-1", T0 + 1_000, 1.0)  # rtn_unack
    eng.act(Shelve(f"{HIGH}#1", user="op", minutes=10, reason="nuisance"), now_ms=T0 + 2_000)
    out = eng.act(Unshelve(f"{HIGH}#1", user="op", note=None), now_ms=T0 + 3_000)
    assert [(e.event, e.state) for e in out.events] == [("unshelved", "rtn_unack")]
    assert events(eng.act(Ack(f"{HIGH}#1", user="op", note=None), now_ms=T0 + 4_000), HIGH) == [
        "acked"]


def test_an_acknowledged_alarm_that_clears_while_hidden_ends() -> None:
    eng = engine()
    f = Feeder(eng)
    f.value("GT-1", T0, 30.0)
    eng.act(Ack(f"{HIGH}#1", user="op", note=None), now_ms=T0 + 500)
    eng.act(Shelve(f"{HIGH}#1", user="op", minutes=10, reason="nuisance"), now_ms=T0 + 1_000)
    f.value("GT-1", T0 + 2_000, 1.0)
    out = eng.act(Unshelve(f"{HIGH}#1", user="op", note=None), now_ms=T0 + 3_000)
    assert [(e.event, e.state) for e in out.events] == [("unshelved", "normal")]
    assert eng.plant.points[HIGH].occ is None


def test_an_on_delay_completed_by_the_clock_carries_the_value_that_met_it() -> None:
    eng = engine()
    f = Feeder(eng)
    f.value("GT-2", T0, 31.5)  # on_delay_s 2: starts
    f.value("GT-2", T0 + 500, 0.0, quality="bad")  # a fault, no verdict on high
    out = eng.tick(T0 + 2_500)
    raised = [e for e in out.events if e.key == GT2_HIGH and e.event == "raised"]
    assert [e.value for e in raised] == [31.5]


def test_a_boot_far_beyond_the_last_is_not_adopted() -> None:
    eng = engine()
    f = Feeder(eng)
    f.boot = 3
    f.value("GT-1", T0, 1.0)
    huge = [reading("GT-1", T0 + 1_000, 60.0)]
    assert names(eng.on_batch("s1", "gw1", boot=3 + MAX_BOOT_STEP + 1, seq=0,
                              historical=False, readings=huge, now_ms=T0 + 1_000)) == []
    assert eng.boot_jumps == 1
    assert eng.plant.gateways["s1/gw1"].boot == 3
    # the real boot's will message still raises offline at once
    out = eng.on_gateway_state("s1", "gw1", online=False, boot=3, now_ms=T0 + 2_000)
    assert names(out) == [(OFFLINE, "raised")]
    # a real restart (the next boot) is adopted
    assert names(eng.on_batch("s1", "gw1", boot=4, seq=0, historical=False,
                              readings=[reading("GT-1", T0 + 3_000, 1.0)],
                              now_ms=T0 + 3_000)) == [(OFFLINE, "cleared")]


def test_a_replayed_reading_ahead_of_the_clock_does_not_hide_later_replayed_crossings(
) -> None:
    eng = engine()
    f = Feeder(eng)
    now = T0 + 60_000
    f.send(reading("GT-1", now + 2 * MIN, 1.0, historical=True), now_ms=now, historical=True)
    out = f.send(reading("GT-1", now - 10_000, 60.0, historical=True), now_ms=now + 1_000,
                 historical=True)
    assert out.events == []  # older than the (capped) last replayed reading: in order
    out = f.send(reading("GT-1", now + 500, 60.0, historical=True), now_ms=now + 1_000,
                 historical=True)
    assert sorted(e.event for e in out.events) == ["historical", "historical"]


def test_readings_stamped_just_ahead_that_arrive_within_one_millisecond_all_count() -> None:
    eng = engine()
    f = Feeder(eng)
    now = T0 + 10_000
    f.value("GT-1", now + 1, 60.0, now_ms=now)
    out = f.value("GT-1", now + 2, 0.0, quality="bad", now_ms=now)  # the same capped time
    assert names(out) == [(key("GT-1", "fault"), "raised")]
    assert names(f.value("GT-1", now + 2, 5.0, now_ms=now)) == []  # that reading again
