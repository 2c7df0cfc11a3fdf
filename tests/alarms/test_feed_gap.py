"""A gap in a gateway's `seq` is a `feed_gap` alarm on that gateway (docs/alarms.md,
"Messages lost"): priority high, the count as its value, journalled like any alarm,
cleared at once so that it waits for an acknowledgement. A gap counts once it has
stayed open for GAP_CONFIRM_MS: a message that comes late fills its place."""

from __future__ import annotations

import pytest

from hazmon.alarms.core import Engine, Output
from hazmon.alarms.core.silence import GAP_CONFIRM_MS, MAX_GAPS
from tests.alarms.plant import T0, Feeder, engine, names, reading

pytestmark = pytest.mark.unit

GAP = "s1/gw1/feed_gap"


def _send(eng: Engine, seq: int, *, boot: int = 1, at_ms: int = 0) -> list[tuple[str, str]]:
    out = eng.on_batch("s1", "gw1", boot=boot, seq=seq, historical=False,
                       readings=[reading("GT-1", T0 + at_ms + seq, 1.0)],
                       now_ms=T0 + at_ms + seq)
    return names(out)


def _gap_events(out: Output) -> list[tuple[str, str, str, float | str | None, str | None]]:
    return [(e.event, e.state or "", e.priority, e.value, e.note)
            for e in out.events if e.key == GAP]


def test_a_gap_of_five_messages_raises_feed_gap_with_count_five() -> None:
    eng = engine()
    assert _send(eng, 10) == []  # the first message known: nothing before it is known
    assert _send(eng, 16) == []  # 11 to 15 noted, not yet lost
    assert _gap_events(eng.tick(T0 + 16 + GAP_CONFIRM_MS - 1)) == []
    out = eng.tick(T0 + 16 + GAP_CONFIRM_MS)
    assert _gap_events(out) == [
        ("raised", "unack", "high", 5.0, "5 messages lost (seq 11 to 15)"),
        ("cleared", "rtn_unack", "high", 5.0, "5 messages lost (seq 11 to 15)")]
    assert [n.key for n in out.notify] == [GAP]  # notified like any high alarm
    assert _gap_events(eng.tick(T0 + 16 + 2 * GAP_CONFIRM_MS)) == []  # judged once


def test_late_messages_fill_the_gap_and_only_what_never_came_is_lost() -> None:
    eng = engine()
    _send(eng, 0)
    _send(eng, 6)  # 1 to 5 skipped: a redelivery after a takeover comes behind
    for seq in (1, 2, 4):
        assert _send(eng, seq) == []  # late: nothing raised, nothing counted twice
    out = eng.tick(T0 + 6 + GAP_CONFIRM_MS)
    assert [(e.value, e.note) for e in out.events if e.key == GAP and e.event == "raised"] == [
        (2.0, "2 messages lost (seq 3 to 3; seq 5 to 5)")]


def test_a_gap_filled_in_time_raises_nothing() -> None:
    eng = engine()
    _send(eng, 0)
    _send(eng, 3)
    _send(eng, 1)
    _send(eng, 2)
    assert _gap_events(eng.tick(T0 + GAP_CONFIRM_MS * 2)) == []


def test_consecutive_messages_and_repeats_lose_nothing() -> None:
    eng = engine()
    for seq in range(5):
        assert _send(eng, seq) == []
    assert _send(eng, 3) == []  # a redelivery
    assert _send(eng, 5) == []
    assert _gap_events(eng.tick(T0 + GAP_CONFIRM_MS * 2)) == []


def test_a_new_boot_counts_from_zero() -> None:
    eng = engine()
    _send(eng, 40)
    assert _send(eng, 0, boot=2) == []  # the new boot's first message
    eng.on_gateway_state("s1", "gw1", online=True, boot=3, now_ms=T0 + 100)
    assert _send(eng, 0, boot=3, at_ms=1_000) == []  # announced by its state message first
    _send(eng, 3, boot=4, at_ms=5_000)
    out = eng.tick(T0 + 5_003 + GAP_CONFIRM_MS)
    assert [e.note for e in out.events if e.key == GAP and e.event == "raised"] == [
        "3 messages lost (seq 0 to 2 of boot 4)"]


def test_a_second_gap_before_the_acknowledgement_returns_the_same_occurrence_to_unack(
) -> None:
    """ISA-18.2: an alarm that returned to normal unacknowledged and becomes active
    again is the same occurrence, unacknowledged again (its value the new count)."""
    eng = engine()
    _send(eng, 0)
    _send(eng, 2)
    first = eng.tick(T0 + 2 + GAP_CONFIRM_MS)
    _send(eng, 9, at_ms=GAP_CONFIRM_MS)
    second = eng.tick(T0 + 9 + 2 * GAP_CONFIRM_MS)
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
    f.send(reading("GT-1", T0 - 60_000, 1.0), historical=True, now_ms=T0 + 1_000)
    assert (GAP, "raised") in names(f.eng.tick(T0 + 1_000 + GAP_CONFIRM_MS))


def test_more_gaps_than_kept_judge_the_oldest_at_once() -> None:
    eng = engine()
    _send(eng, 0)
    raised = []
    for i in range(MAX_GAPS + 1):
        raised += _send(eng, 2 * (i + 1))  # every other message skipped
    assert raised.count((GAP, "raised")) == 1


def test_gaps_waiting_survive_a_restart_of_the_engine_state() -> None:
    eng = engine()
    _send(eng, 0)
    _send(eng, 5)
    link = eng.plant.gateways["s1/gw1"]
    again = engine()
    again.plant.gateways["s1/gw1"].load(link.doc())
    out = again.tick(T0 + 5 + GAP_CONFIRM_MS)
    assert [e.value for e in out.events if e.key == GAP and e.event == "raised"] == [4.0]


def test_a_feed_gap_makes_the_site_yellow_not_orange() -> None:
    eng = engine()
    _send(eng, 0)
    _send(eng, 7)
    eng.tick(T0 + 7 + GAP_CONFIRM_MS)
    assert eng.risk_grades()["s1"] == "yellow"
