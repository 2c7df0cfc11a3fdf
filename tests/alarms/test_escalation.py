"""Escalation tiers and reminders on the service clock; ack stops them."""

from __future__ import annotations

from hazmon.alarms.core import NotifyRequest
from hazmon.alarms.core.inputs import Ack
from tests.alarms.plant import T0, Feeder, engine, key

HH = key("GT-1", "high_high")
S = 1_000


def _critical(now_ms: int = T0) -> Feeder:
    f = Feeder(engine())
    out = f.value("GT-1", now_ms, 60.0)
    assert [(n.recipient, n.tier) for n in out.notify if n.key == HH] == [("duty", 1)]
    assert out.notify[0].payload["event"] == "raised"
    return f


def test_tiers_fall_due_by_after_s_then_the_last_is_reminded_every_repeat_s() -> None:
    f = _critical()
    tick = f.eng.tick
    assert [n for n in tick(T0 + 299 * S).notify if n.key == HH] == []
    out = tick(T0 + 300 * S)
    assert [(e.event, e.note) for e in out.events if e.key == HH] == [("escalated", "tier 2: lead")]
    assert [n.recipient for n in out.notify if n.key == HH] == ["lead"]
    assert out.notify[0].payload["event"] == "escalated"
    out = tick(T0 + 900 * S)
    assert sorted(n.recipient for n in out.notify if n.key == HH) == ["manager", "regulator"]
    assert [n for n in tick(T0 + 1_499 * S).notify if n.key == HH] == []
    out = tick(T0 + 1_500 * S)
    assert [e.note for e in out.events if e.key == HH] == ["reminder 1: manager, regulator"]
    ids = [n.id for n in out.notify if n.key == HH]
    assert len(set(ids)) == len(ids) == 2


def test_every_tier_that_fell_due_is_notified_at_once_reminders_only_once() -> None:
    f = _critical()
    out = f.eng.tick(T0 + 5_000 * S)  # as after a long stop of the service
    notes = [e.note for e in out.events if e.key == HH]
    assert notes == ["tier 2: lead", "tier 3: manager, regulator"]
    out = f.eng.tick(T0 + 50_000 * S)  # many reminders missed: one is sent
    assert [e.note for e in out.events if e.key == HH] == ["reminder 1: manager, regulator"]


def test_ack_stops_escalation_and_a_cleared_unacked_alarm_keeps_escalating() -> None:
    f = _critical()
    f.value("GT-1", T0 + S, 1.0)  # cleared, latched, still unack: keeps escalating
    assert [n.recipient for n in f.eng.tick(T0 + 300 * S).notify if n.key == HH] == ["lead"]
    f.eng.act(Ack(f"{HH}#1", user="op", note=None), now_ms=T0 + 301 * S)
    assert [n for n in f.eng.tick(T0 + 10_000 * S).notify if n.key == HH] == []


def test_a_priority_without_tiers_notifies_nobody() -> None:
    out = engine().tick(T0 + 20 * S)  # both gateways offline: medium, which has no tiers
    assert [e.event for e in out.events if e.condition == "offline"] == ["raised", "raised"]
    assert out.notify == []


def test_notification_outcomes_become_journal_events_of_the_occurrence() -> None:
    f = _critical()
    request = NotifyRequest(f"{HH}#1|r1|s0|duty", "duty", f"{HH}#1", HH, "s1", 1, {})
    ok = f.eng.notify_outcome(request, ok=True, detail="HTTP 200", now_ms=T0 + 2 * S)
    failed = f.eng.notify_outcome(request, ok=False, detail="HTTP 503", now_ms=T0 + 3 * S)
    assert [(e.event, e.alarm_id, e.state) for e in ok.events + failed.events] == [
        ("notified", f"{HH}#1", "unack"), ("notify_failed", f"{HH}#1", "unack")
    ]
    assert failed.events[0].note == "duty (tier 1): HTTP 503"

