"""Condition rules of docs/alarms.md, one scenario each: deadband, delays, qualities,
ranges, fault, stale and offline."""

from __future__ import annotations

from tests.alarms.plant import T0, Feeder, engine, events, key, names, reading

HIGH = key("GT-2", "high")  # GT-2: high 25, deadband 2, on-delay 2 s, off-delay 5 s
GT1_HIGH = key("GT-1", "high")


def test_deadband_clears_only_below_threshold_minus_deadband() -> None:
    f = Feeder(engine())
    f.value("GT-2", T0, 30.0)
    assert events(f.value("GT-2", T0 + 2_000, 30.0), HIGH) == ["raised"]
    f.value("GT-2", T0 + 3_000, 24.0)  # below 25, inside the deadband: off-delay not started
    assert events(f.value("GT-2", T0 + 9_000, 23.5), HIGH) == []
    assert events(f.value("GT-2", T0 + 10_000, 22.9), HIGH) == []  # off-delay starts
    assert events(f.value("GT-2", T0 + 15_000, 22.0), HIGH) == ["cleared"]


def test_on_delay_completes_at_a_reading_at_least_the_delay_later() -> None:
    f = Feeder(engine())
    assert events(f.value("GT-2", T0, 26.0), HIGH) == []
    assert events(f.value("GT-2", T0 + 1_999, 26.0), HIGH) == []
    out = f.value("GT-2", T0 + 2_000, 26.0)
    assert events(out, HIGH) == ["raised"]
    assert out.events[0].ts_ms == T0 + 2_000


def test_on_delay_is_cancelled_only_by_a_reading_that_shows_it_inactive() -> None:
    f = Feeder(engine())
    f.value("GT-2", T0, 26.0)
    f.value("GT-2", T0 + 1_000, 24.0)  # in the deadband: does not cancel
    assert events(f.value("GT-2", T0 + 2_000, 26.0), HIGH) == ["raised"]
    g = Feeder(engine())
    g.value("GT-2", T0, 26.0)
    g.value("GT-2", T0 + 1_000, 10.0)  # inactive: cancels
    assert events(g.value("GT-2", T0 + 2_000, 26.0), HIGH) == []
    assert events(g.value("GT-2", T0 + 4_000, 26.0), HIGH) == ["raised"]


def test_silence_never_swallows_an_alarm_the_service_clock_completes_the_on_delay() -> None:
    eng = engine()
    f = Feeder(eng)
    f.value("GT-2", T0, 40.0)
    assert events(eng.tick(T0 + 1_500), HIGH) == []
    out = eng.tick(T0 + 2_000)
    assert events(out, HIGH) == ["raised"]
    assert [e.value for e in out.events if e.key == HIGH] == [40.0]


def test_off_delay_is_completed_by_readings_only() -> None:
    eng = engine()
    f = Feeder(eng)
    f.value("GT-2", T0, 40.0)
    f.value("GT-2", T0 + 2_000, 40.0)
    f.value("GT-2", T0 + 3_000, 5.0)  # off-delay starts
    assert events(eng.tick(T0 + 9_000), HIGH) == []
    f.value("GT-2", T0 + 6_000, 30.0)  # active again: off-delay cancelled
    f.value("GT-2", T0 + 7_000, 5.0)
    assert events(f.value("GT-2", T0 + 11_000, 5.0), HIGH) == []
    assert events(f.value("GT-2", T0 + 12_000, 5.0), HIGH) == ["cleared"]


def test_uncertain_readings_raise_but_never_clear() -> None:
    f = Feeder(engine())
    assert events(f.send(reading("GT-1", T0, 30.0, quality="uncertain")), GT1_HIGH) == ["raised"]
    assert events(f.send(reading("GT-1", T0 + 1_000, 1.0, quality="uncertain")), GT1_HIGH) == []
    assert events(f.value("GT-1", T0 + 2_000, 1.0), GT1_HIGH) == ["cleared"]


def test_a_bad_reading_raises_fault_and_leaves_process_alarms_as_they_are() -> None:
    f = Feeder(engine())
    f.value("GT-1", T0, 30.0)
    out = f.send(reading("GT-1", T0 + 1_000, 0.0, quality="bad"))
    assert names(out) == [(key("GT-1", "fault"), "raised")]
    assert "quality bad" in (out.events[0].note or "")
    # the high alarm is still active: a good high reading changes nothing for it
    assert events(f.value("GT-1", T0 + 2_000, 30.0), GT1_HIGH) == []
    assert events(f.value("GT-1", T0 + 3_000, 0.0), GT1_HIGH) == ["cleared"]


def test_under_range_by_more_than_five_percent_of_span_is_a_fault() -> None:
    f = Feeder(engine())
    assert names(f.value("GT-1", T0, -4.9)) == []  # range [0, 100]: 5 % is 5
    out = f.value("GT-1", T0 + 1_000, -5.1)
    assert names(out) == [(key("GT-1", "fault"), "raised")]
    assert "below the measuring range" in (out.events[0].note or "")


def test_over_range_is_above_every_high_threshold() -> None:
    f = Feeder(engine())
    out = f.send(reading("GT-1", T0, 120.0, over_range=True))
    assert sorted(e.condition for e in out.events) == ["high", "high_high"]


def test_interlock_fault_state_is_a_fault_and_trip_keeps_its_state() -> None:
    f = Feeder(engine())
    f.state("ESD-A", T0, "tripped")
    out = f.state("ESD-A", T0 + 1_000, "fault")
    assert names(out) == [(key("ESD-A", "fault"), "raised")]
    assert events(f.state("ESD-A", T0 + 2_000, "normal"), key("ESD-A", "trip")) == ["cleared"]


def test_stale_needs_the_gateway_delivering_and_clears_on_a_reading() -> None:
    eng = engine()
    f = Feeder(eng)
    f.value("GT-1", T0 + 1_000, 1.0)
    stale = key("GT-1", "stale")
    for second in range(2, 12):  # GT-2 keeps reporting, GT-1 is silent
        f.value("GT-2", T0 + second * 1_000, 1.0)
        out = eng.tick(T0 + second * 1_000)
        assert events(out, stale) == ([] if second < 11 else ["raised"]), second
    assert events(f.value("GT-1", T0 + 12_000, 1.0), stale) == ["cleared"]


def test_a_silent_gateway_raises_one_offline_and_no_stale() -> None:
    eng = engine()
    f = Feeder(eng)
    f.send(*[reading(s, T0 + 1_000, 1.0) for s in ("GT-1", "GT-2", "RC-1")])
    out = eng.tick(T0 + 11_000)
    gw1 = [e for e in out.events if e.gateway == "gw1"]
    assert [(e.key, e.event, e.priority) for e in gw1] == [("s1/gw1/offline", "raised", "medium")]
    assert not [e for e in eng.tick(T0 + 60_000).events if e.condition == "stale"]
    back = f.value("GT-1", T0 + 61_000, 1.0)
    assert names(back) == [("s1/gw1/offline", "cleared")]


def test_the_will_message_raises_offline_at_once_and_online_clears_it() -> None:
    eng = engine()
    out = eng.on_gateway_state("s1", "gw1", online=False, boot=3, now_ms=T0 + 500)
    assert names(out) == [("s1/gw1/offline", "raised")]
    assert names(eng.on_gateway_state("s1", "gw1", online=False, boot=3, now_ms=T0 + 600)) == []
    # the retained `online: true` of the boot that died is old news
    assert names(eng.on_gateway_state("s1", "gw1", online=True, boot=3, now_ms=T0 + 700)) == []
    out = eng.on_gateway_state("s1", "gw1", online=True, boot=4, now_ms=T0 + 800)
    assert names(out) == [("s1/gw1/offline", "cleared")]
    assert names(eng.on_gateway_state("s1", "gw1", online=False, boot=2, now_ms=T0 + 900)) == []


def test_offline_and_stale_wait_for_the_service_start_after_a_restart() -> None:
    eng = engine(start_ms=T0 + 3_600_000)  # last telemetry long before the start
    f = Feeder(eng)
    f.value("GT-1", T0, 1.0, now_ms=T0)
    assert names(eng.tick(T0 + 3_605_000)) == []
    assert ("s1/gw1/offline", "raised") in names(eng.tick(T0 + 3_610_000))


def test_new_telemetry_clears_offline_even_from_a_gateway_that_kept_its_boot() -> None:
    eng = engine()
    f = Feeder(eng)
    f.boot = 3
    eng.on_gateway_state("s1", "gw1", online=False, boot=3, now_ms=T0)
    assert names(f.value("GT-1", T0 + 1_000, 1.0)) == [("s1/gw1/offline", "cleared")]
    eng.on_gateway_state("s1", "gw1", online=False, boot=3, now_ms=T0 + 2_000)
    # a redelivered message (the same boot and seq) is no proof of life
    assert names(eng.on_batch("s1", "gw1", boot=3, seq=0, historical=False,
                              readings=[reading("GT-1", T0 + 1_000, 1.0)],
                              now_ms=T0 + 3_000)) == []
    # a new message is, whatever its readings' timestamps say (judged by arrival)
    assert names(eng.on_batch("s1", "gw1", boot=3, seq=1, historical=False,
                              readings=[reading("GT-1", T0 + 1_000, 1.0)],
                              now_ms=T0 + 3_500)) == [("s1/gw1/offline", "cleared")]
