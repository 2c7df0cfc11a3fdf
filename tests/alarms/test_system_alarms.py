"""System alarms (alarms/system.py) go through the ISA-18.2 states and the escalation
of process alarms: raised, cleared to rtn_unack, acknowledged, escalated to the next
tier while nobody acknowledges them, reminders after the last tier."""

from __future__ import annotations

import pytest

from hazmon.alarms.core.errors import IllegalTransition, UnknownAlarm
from hazmon.alarms.system import SystemAlarms
from hazmon.contract.registry import Escalation, Tier

pytestmark = pytest.mark.unit

POLICY = Escalation(
    critical=[Tier(after_s=0, notify=["duty"]), Tier(after_s=60, notify=["lead"])],
    high=[Tier(after_s=0, notify=["duty"]), Tier(after_s=300, notify=["lead"])],
    repeat_s=600,
)
STORE = "alarms/store"
KEY = "_system/alarms/store"


def sync(alarms: SystemAlarms, failing: dict[str, str], now_ms: int) -> list[tuple[str, str]]:
    change = alarms.sync(failing, now_ms, numbers={})
    alarms.failing = set(failing)
    alarms.committed(change)
    return [(e.event, str(e.state)) for e in change.events]


def test_a_source_failing_then_working_again_waits_for_an_acknowledgement() -> None:
    alarms = SystemAlarms()
    assert sync(alarms, {STORE: "disk full"}, 1_000) == [("raised", "unack")]
    assert sync(alarms, {STORE: "disk full"}, 2_000) == []  # still failing: said once
    assert sync(alarms, {}, 3_000) == [("cleared", "rtn_unack")]
    occ = alarms.open[STORE]
    change = alarms.ack(occ.alarm_id, "duty.tester", "disk cleaned", 4_000)
    alarms.committed(change)
    [acked] = change.events
    assert (acked.event, acked.from_state, acked.state, acked.user, acked.note) == (
        "acked", "rtn_unack", "normal", "duty.tester", "disk cleaned")
    assert STORE not in alarms.open  # the occurrence ended
    assert change.dirty.occurrences[occ.alarm_id].ended_ms == 4_000


def test_an_acknowledged_alarm_ends_when_its_source_works_again() -> None:
    alarms = SystemAlarms()
    sync(alarms, {STORE: "disk full"}, 1_000)
    alarms.committed(alarms.ack(alarms.open[STORE].alarm_id, "duty.tester", None, 2_000))
    assert alarms.open[STORE].state == "acked"
    assert sync(alarms, {}, 3_000) == [("cleared", "normal")]
    assert not alarms.open


def test_failing_again_before_an_acknowledgement_is_the_same_occurrence() -> None:
    alarms = SystemAlarms()
    sync(alarms, {STORE: "disk full"}, 1_000)
    first = alarms.open[STORE].alarm_id
    sync(alarms, {}, 2_000)
    assert sync(alarms, {STORE: "disk full again"}, 3_000) == [("raised", "unack")]
    assert alarms.open[STORE].alarm_id == first


def test_only_an_open_unacknowledged_alarm_takes_an_acknowledgement() -> None:
    alarms = SystemAlarms()
    sync(alarms, {STORE: "disk full"}, 1_000)
    alarm_id = alarms.open[STORE].alarm_id
    alarms.committed(alarms.ack(alarm_id, "a", None, 2_000))
    with pytest.raises(IllegalTransition):
        alarms.ack(alarm_id, "a", None, 3_000)  # acknowledged already
    with pytest.raises(UnknownAlarm):
        alarms.ack("_system/alarms/none#1", "a", None, 3_000)


def test_an_unacknowledged_alarm_goes_up_the_tiers_then_reminds() -> None:
    alarms = SystemAlarms()
    sync(alarms, {STORE: "disk full"}, 0)

    def due(now_ms: int) -> list[tuple[str, int, str]]:
        change = alarms.escalate(POLICY, now_ms)
        return [(n.recipient, n.tier, str(n.payload["event"])) for n in change.notify]

    assert due(0) == [("duty", 1, "raised")]  # high: tier 1 at once, with the raise
    assert due(299_999) == []
    assert due(300_000) == [("lead", 2, "escalated")]
    assert due(800_000) == []
    assert due(900_000) == [("lead", 2, "escalated")]  # a reminder every repeat_s
    assert alarms.open[STORE].latest["note"] == "reminder 1: lead"
    alarms.committed(alarms.ack(alarms.open[STORE].alarm_id, "a", None, 901_000))
    assert due(2_000_000) == []  # acknowledged: nobody is told any more


def test_the_chain_watch_tells_the_first_tier_of_a_dead_chain_the_service_the_next() -> None:
    alarms = SystemAlarms()
    sync(alarms, {"chain/chain_dead": "no echo"}, 0)
    assert alarms.open["chain/chain_dead"].latest["priority"] == "critical"
    assert alarms.escalate(POLICY, 0).notify == []  # the watch told tier 1 itself
    [lead] = alarms.escalate(POLICY, 60_000).notify
    assert (lead.recipient, lead.tier, lead.key) == ("lead", 2, "_system/chain/chain_dead")


def test_the_state_survives_a_restart_from_the_occurrence_doc() -> None:
    alarms = SystemAlarms()
    sync(alarms, {STORE: "disk full"}, 0)
    change = alarms.escalate(POLICY, 0)
    record = change.dirty.occurrences[alarms.open[STORE].alarm_id]
    again = SystemAlarms()
    again.restore(KEY, record.alarm_id, record.raised_ms, record.doc)
    assert again.open[STORE].state == "unack" and again.open[STORE].esc_done == 1
    assert again.escalate(POLICY, 1_000).notify == []  # tier 1 is not told twice
    assert [n.recipient for n in again.escalate(POLICY, 300_000).notify] == ["lead"]
    assert sync(again, {STORE: "disk full"}, 300_500) == []  # still failing: nothing new
