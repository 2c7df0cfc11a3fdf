"""A gap in a gateway's `seq` is a `feed_gap` alarm on that gateway (docs/alarms.md,
"Messages lost"): priority high, the count as its value, journalled like any alarm,
cleared at once so that it waits for an acknowledgement."""

from __future__ import annotations

import pytest

from hazmon.alarms.core import Engine
from tests.alarms.plant import T0, Feeder, engine, names, reading

pytestmark = pytest.mark.unit

GAP = "s1/gw1/feed_gap"


def _send(eng: Engine, seq: int, *, boot: int = 1, at_s: int = 0) -> list[tuple[str, str]]:
    out = eng.on_batch("s1", "gw1", boot=boot, seq=seq, historical=False,
                       readings=[reading("GT-1", T0 + at_s * 1000 + seq, 1.0)],
                       now_ms=T0 + at_s * 1000 + seq)
    return names(out)


def test_a_gap_of_five_messages_raises_feed_gap_with_count_five() -> None:
    eng = engine()
    assert _send(eng, 10) == []  # the first message known: nothing before it is known
    out = eng.on_batch("s1", "gw1", boot=1, seq=16, historical=False,
                       readings=[reading("GT-1", T0 + 16, 1.0)], now_ms=T0 + 16)
    gap = [e for e in out.events if e.key == GAP]
    assert [(e.event, e.state, e.priority) for e in gap] == [
        ("raised", "unack", "high"), ("cleared", "rtn_unack", "high")]
    assert gap[0].value == 5.0
    assert gap[0].note == "5 messages lost (seq 11 to 15)"
    # notified like any high alarm (the registry's first tier for high)
    assert [n.key for n in out.notify] == [GAP]


def test_consecutive_messages_repeats_and_late_ones_lose_nothing() -> None:
    eng = engine()
    for seq in range(5):
        assert _send(eng, seq) == []
    assert _send(eng, 3) == []  # a redelivery
    assert _send(eng, 5) == []


def test_a_late_message_after_a_gap_raises_nothing_more() -> None:
    eng = engine()
    _send(eng, 0)
    assert (GAP, "raised") in _send(eng, 3)
    assert _send(eng, 1) == []  # older than the newest: it was counted in the gap


def test_a_new_boot_counts_from_zero() -> None:
    eng = engine()
    _send(eng, 40)
    assert _send(eng, 0, boot=2) == []  # the new boot's first message
    eng.on_gateway_state("s1", "gw1", online=True, boot=3, now_ms=T0 + 100)
    assert _send(eng, 0, boot=3, at_s=1) == []  # announced by its state message first
    got = eng.on_batch("s1", "gw1", boot=4, seq=3, historical=False,
                       readings=[reading("GT-1", T0 + 5_000, 1.0)], now_ms=T0 + 5_000)
    assert [e.note for e in got.events if e.key == GAP and e.event == "raised"] == [
        "3 messages lost (seq 0 to 2 of boot 4)"]


def test_a_second_gap_before_the_acknowledgement_returns_the_same_occurrence_to_unack(
) -> None:
    """ISA-18.2: an alarm that returned to normal unacknowledged and becomes active
    again is the same occurrence, unacknowledged again (its value the new count)."""
    eng = engine()
    _send(eng, 0)
    first = eng.on_batch("s1", "gw1", boot=1, seq=2, historical=False,
                         readings=[reading("GT-1", T0 + 2, 1.0)], now_ms=T0 + 2)
    second = eng.on_batch("s1", "gw1", boot=1, seq=9, historical=False,
                          readings=[reading("GT-1", T0 + 9, 1.0)], now_ms=T0 + 9)
    assert {e.alarm_id for e in first.events + second.events if e.key == GAP} == {
        "s1/gw1/feed_gap#1"}
    again = [e for e in second.events if e.key == GAP]
    assert [(e.from_state, e.state) for e in again] == [("rtn_unack", "unack"),
                                                        ("unack", "rtn_unack")]
    assert again[0].value == 6.0


def test_a_historical_message_keeps_the_sequence_too() -> None:
    f = Feeder(engine())
    f.value("GT-1", T0, 1.0)
    f.seq = 4  # three messages of the back-fill never came
    out = f.send(reading("GT-1", T0 - 60_000, 1.0), historical=True, now_ms=T0 + 1_000)
    assert (GAP, "raised") in names(out)


def test_a_feed_gap_makes_the_site_yellow_not_orange() -> None:
    eng = engine()
    _send(eng, 0)
    _send(eng, 7)
    assert eng.risk_grades()["s1"] == "yellow"
