"""The in-memory desk against the Desk protocol, beside the SQLite-backed one.

The contract tests run each on both desks (`AlarmDesk` over a data folder, `MemoryDesk`)
fed the same readings on the same clock: what an operator may do, what is listed, the
grades, the journal and its checks. `test_the_two_desks_agree_on_a_shift` then plays one
shift on both and compares every answer, the journal hashes included. The rest is the
in-memory desk's own: live subscribers, the notifications it keeps, its chain check.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from hazmon.alarms import memory_desk
from hazmon.alarms.core.inputs import (
    Ack,
    BypassPermit,
    Note,
    OutOfService,
    Reset,
    ReturnToService,
    Shelve,
    Unshelve,
)
from hazmon.alarms.desk import Desk
from hazmon.alarms.errors import IllegalTransition, LimitExceeded, UnknownAlarm
from hazmon.alarms.journal.export import verify_jsonl
from hazmon.alarms.memory_desk import MemoryDesk
from hazmon.alarms.sqlite_desk import AlarmDesk
from hazmon.api.testing import HOUR_MS, Feed, ManualClock
from hazmon.contract.registry import Registry
from hazmon.stores.memory import MemoryStore
from tests.alarms.plant import SITE, T0, key, registry

pytestmark = pytest.mark.unit

GT1_HH = f"{key('GT-1', 'high_high')}#1"  # critical, latched (combustible gas)
GT1_H = f"{key('GT-1', 'high')}#1"  # high, not latched
RC1_H = f"{key('RC-1', 'high')}#1"  # residual current: high


class Plant:
    """One desk, its clock and the readings sent to it."""

    def __init__(self, desk: AlarmDesk | MemoryDesk, reg: Registry, clock: ManualClock) -> None:
        self.desk = desk
        self.clock = clock
        self.feed = Feed(reg, desk.receive, clock)

    def alarm(self, alarm_id: str) -> dict[str, Any]:
        return next(a for a in self.desk.alarms() if a["alarm_id"] == alarm_id)

    def unchanged(self) -> tuple[list[dict[str, Any]], dict[str, Any]]:
        return self.desk.alarms(), self.desk.journal_verify()


def build(kind: str, reg: Registry, folder: Path) -> Plant:
    clock = ManualClock(T0)
    desk: AlarmDesk | MemoryDesk
    if kind == "sqlite":
        desk = AlarmDesk(registry=reg, data_dir=folder, store=MemoryStore(), clock=clock)
    else:
        desk = MemoryDesk(registry=reg, clock=clock)
    return Plant(desk, reg, clock)


@pytest.fixture(params=["sqlite", "memory"])
def plant(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Plant]:
    built = build(request.param, registry(), tmp_path)
    yield built
    if isinstance(built.desk, AlarmDesk):
        built.desk.close()


def test_both_are_desks() -> None:
    def check(desk: Desk) -> Desk:
        return desk

    reg = registry()
    assert check(MemoryDesk(registry=reg, clock=ManualClock(T0)))
    assert memory_desk.as_desk(MemoryDesk(registry=reg, clock=ManualClock(T0)))


# -- the contract: both desks -------------------------------------------------------------


def test_readings_raise_and_the_list_filters_and_orders(plant: Plant) -> None:
    plant.feed.raise_alarm(SITE, "RC-1", "high")
    plant.clock.advance_ms(1000)
    plant.feed.send(SITE, "GT-1", 60.0)  # no delays: high and high_high at once
    listed = plant.desk.alarms()
    assert [a["alarm_id"] for a in listed] == [GT1_HH, GT1_H, RC1_H]
    first = listed[-1]
    assert (first["state"], first["event"], first["raised_ms"], first["acked_by"]) == (
        "unack", "raised", T0, None)
    assert first["shelved_until_ms"] is None
    assert [a["alarm_id"] for a in plant.desk.alarms(priority="critical")] == [GT1_HH]
    assert plant.desk.alarms(site="elsewhere") == []
    assert len(plant.desk.alarms(limit=2)) == 2
    plant.feed.clear(SITE, "RC-1")
    plant.desk.act(Ack(RC1_H, user="op"))
    assert [a["alarm_id"] for a in plant.desk.alarms(active=False)] == [RC1_H]
    assert [a["alarm_id"] for a in plant.desk.alarms(active=True)] == [GT1_HH, GT1_H]


def test_ack_answers_the_occurrence_and_twice_is_illegal_with_nothing_changed(
    plant: Plant,
) -> None:
    plant.feed.send(SITE, "GT-1", 60.0)
    plant.clock.advance_ms(5000)
    acked = plant.desk.act(Ack(GT1_HH, user="zhang.wei", note="crew sent"))
    assert (acked["state"], acked["event"], acked["acked_by"], acked["acked_ms"]) == (
        "acked", "acked", "zhang.wei", T0 + 5000)
    assert (acked["user"], acked["note"], acked["raised_ms"]) == ("zhang.wei", "crew sent", T0)
    before = plant.unchanged()
    with pytest.raises(IllegalTransition, match=f"cannot ack {GT1_HH} in state acked"):
        plant.desk.act(Ack(GT1_HH, user="zhang.wei"))
    with pytest.raises(UnknownAlarm):
        plant.desk.act(Ack(f"{key('GT-1', 'high_high')}#2", user="zhang.wei"))
    with pytest.raises(UnknownAlarm):
        plant.desk.act(Note("s1/NOPE/high#1", user="zhang.wei", note="?"))
    assert plant.unchanged() == before


def test_a_latched_alarm_needs_ack_and_reset_an_unlatched_one_no_reset(plant: Plant) -> None:
    plant.feed.send(SITE, "GT-1", 60.0)
    plant.feed.clear(SITE, "GT-1")
    assert (plant.alarm(GT1_HH)["state"], plant.alarm(GT1_HH)["returned"]) == ("unack", True)
    assert plant.alarm(GT1_H)["state"] == "rtn_unack"
    with pytest.raises(IllegalTransition):
        plant.desk.act(Reset(GT1_HH, user="op"))  # not acknowledged yet
    plant.desk.act(Ack(GT1_HH, user="op"))
    reset = plant.desk.act(Reset(GT1_HH, user="op", note="gas gone"))
    assert (reset["state"], reset["event"], reset["note"]) == ("normal", "reset", "gas gone")
    with pytest.raises(IllegalTransition, match="cannot reset"):
        plant.desk.act(Reset(GT1_H, user="op"))
    assert plant.desk.act(Ack(GT1_H, user="op"))["state"] == "normal"
    assert plant.desk.alarms(active=True) == []


def test_shelving_has_limits_an_end_and_unshelving_re_evaluates(plant: Plant) -> None:
    plant.feed.send(SITE, "GT-1", 60.0)
    before = plant.unchanged()
    with pytest.raises(LimitExceeded, match="critical"):
        plant.desk.act(Shelve(GT1_HH, user="op", minutes=10, reason="wash"))
    with pytest.raises(LimitExceeded):
        plant.desk.act(Shelve(GT1_H, user="op", minutes=481, reason="wash"))
    with pytest.raises(LimitExceeded):
        plant.desk.act(Shelve(GT1_H, user="op", minutes=10, reason=" "))
    assert plant.unchanged() == before
    shelved = plant.desk.act(Shelve(GT1_H, user="op", minutes=30, reason="wash"))
    assert (shelved["state"], shelved["shelved_until_ms"]) == ("shelved", T0 + 30 * 60_000)
    assert plant.alarm(GT1_H)["shelved_until_ms"] == T0 + 30 * 60_000
    with pytest.raises(IllegalTransition):
        plant.desk.act(Shelve(GT1_H, user="op", minutes=30, reason="again"))
    back = plant.desk.act(Unshelve(GT1_H, user="op", note="done"))  # still 60 %LEL
    assert (back["state"], back["event"], back["shelved_until_ms"]) == ("unack", "raised", None)
    with pytest.raises(IllegalTransition, match="cannot unshelve"):
        plant.desk.act(Unshelve(GT1_H, user="op", note="twice"))


def test_shelving_ends_by_itself_on_the_service_clock(plant: Plant) -> None:
    plant.feed.raise_alarm(SITE, "RC-1", "high")
    plant.desk.act(Shelve(RC1_H, user="op", minutes=1, reason="test"))
    plant.clock.advance_ms(61_000)
    plant.feed.send(SITE, "RC-1", 400.0)  # still over 300 mA; keeps the gateway online
    out = plant.desk.tick()
    assert [e.event for e in out.events if e.key == key("RC-1", "high")] == [
        "unshelved", "raised"]
    assert plant.alarm(RC1_H)["state"] == "unack"


def test_sensor_inputs_answer_what_was_granted(plant: Plant) -> None:
    plant.feed.raise_alarm(SITE, "RC-1", "high")
    until_ms = T0 + HOUR_MS
    out = plant.desk.act(OutOfService(SITE, "RC-1", user="li.na", until_ms=until_ms,
                                      reason="replaced"))
    assert out == {"site": SITE, "sensor": "RC-1", "until_ms": until_ms, "reason": "replaced",
                   "user": "li.na"}
    assert plant.alarm(RC1_H)["state"] == "out_of_service"
    back = plant.desk.act(ReturnToService(SITE, "RC-1", user="li.na", note="calibrated"))
    assert back == {"site": SITE, "sensor": "RC-1", "user": "li.na", "note": "calibrated"}
    assert plant.alarm(RC1_H)["state"] == "unack"  # still over its threshold
    with pytest.raises(IllegalTransition, match="return to service"):
        plant.desk.act(ReturnToService(SITE, "RC-1", user="li.na"))
    permit = plant.desk.act(BypassPermit(SITE, "ESD-A", user="li.na", until_ms=until_ms,
                                         reason="proof test", approved_by="wang.fang",
                                         compensating_measures="fire watch"))
    assert (permit["site"], permit["sensor"], permit["until_ms"], permit["approved_by"]) == (
        SITE, "ESD-A", until_ms, "wang.fang")
    assert permit["granted_ms"] == T0
    with pytest.raises(LimitExceeded, match="not an interlock"):
        plant.desk.act(BypassPermit(SITE, "RC-1", user="li.na", until_ms=until_ms,
                                    reason="x", approved_by="y", compensating_measures="z"))
    with pytest.raises(UnknownAlarm):
        plant.desk.act(OutOfService(SITE, "NOPE", user="li.na", until_ms=until_ms, reason="x"))


def test_grades_counts_and_last_readings_follow_the_engine(plant: Plant) -> None:
    assert plant.desk.risk_grades() == {SITE: "blue"}
    assert plant.desk.active_counts(SITE) == {"critical": 0, "high": 0, "medium": 0}
    assert plant.desk.last_readings(SITE) == {}
    plant.feed.send(SITE, "GT-1", 60.0)
    assert plant.desk.risk_grades() == {SITE: "red"}
    assert plant.desk.active_counts(SITE) == {"critical": 1, "high": 1, "medium": 0}
    assert plant.desk.last_readings(SITE) == {
        "GT-1": {"ts_ms": T0, "value": 60.0, "quality": "good"}}
    plant.desk.act(Shelve(GT1_H, user="op", minutes=30, reason="wash"))
    assert plant.desk.active_counts(SITE)["high"] == 1  # hidden is not safe


def test_silence_raises_offline_on_the_service_clock(plant: Plant) -> None:
    plant.feed.send(SITE, "GT-1", 5.0)
    plant.clock.advance_ms(11_000)
    raised = {e.key for e in plant.desk.tick().events if e.event == "raised"}
    assert raised == {f"{SITE}/gw1/offline", f"{SITE}/gw2/offline"}
    assert plant.desk.risk_grades() == {SITE: "yellow"}


def test_the_journal_exports_verifies_and_gives_the_figures(plant: Plant) -> None:
    plant.feed.send(SITE, "GT-1", 60.0)
    plant.desk.act(Ack(GT1_HH, user="zhang.wei", note="=1+1"))
    plant.desk.act(Note(GT1_HH, user="li.na", note="checked"))
    lines = "".join(plant.desk.journal_export(from_ms=None, to_ms=None, site=None,
                                              fmt="jsonl")).splitlines()
    assert [json.loads(line)["event"] for line in lines] == ["raised", "raised", "acked", "note"]
    assert verify_jsonl(lines).ok
    csv = "".join(plant.desk.journal_export(from_ms=T0, to_ms=T0, site=SITE, fmt="csv"))
    assert csv.splitlines()[0].startswith("seq,ts_ms,alarm_id,key,event")
    assert "'=1+1" in csv
    assert list(plant.desk.journal_export(from_ms=None, to_ms=None, site="elsewhere",
                                          fmt="jsonl")) == []
    verified = plant.desk.journal_verify()
    assert (verified["ok"], verified["entries"], verified["first_bad"]) == (True, 4, None)
    figures = plant.desk.kpi(from_ms=T0 - HOUR_MS, to_ms=T0 + HOUR_MS, site=None)
    assert figures["total"]["raised"] == 2
    assert figures["total"]["priorities"]["critical"]["raised"] == 1
    assert plant.desk.kpi(from_ms=T0 + 1, to_ms=T0 + 2, site=SITE)["total"]["raised"] == 0


# -- one shift on both desks ----------------------------------------------------------------


def test_the_two_desks_agree_on_a_shift(tmp_path: Path) -> None:
    reg = registry()
    plants = [build("sqlite", reg, tmp_path), build("memory", reg, tmp_path)]
    answers: list[list[Any]] = [[], []]
    steps: list[tuple[str, Any]] = [
        ("send", ("GT-1", 60.0)), ("send", ("RC-1", 350.0)), ("send", ("GT-2", 30.0)),
        ("advance", 2500), ("send", ("GT-2", 31.0)), ("act", Ack(GT1_HH, user="a")),
        ("act", Shelve(RC1_H, user="b", minutes=5, reason="noise")), ("send", ("GT-1", 1.0)),
        ("act", Ack(GT1_H, user="a")), ("advance", 700_000), ("tick", None),
        ("act", Reset(GT1_HH, user="a", note="clear")), ("send", ("ESD-A", "tripped")),
        ("act", OutOfService(SITE, "GT-2", user="c", until_ms=T0 + HOUR_MS, reason="swap")),
        ("act", Note(GT1_HH, user="d", note="done")), ("advance", 1000), ("tick", None),
    ]
    for plant, got in zip(plants, answers, strict=True):
        for step, arg in steps:
            if step == "send":
                got.append([e.wire() for e in plant.feed.send(SITE, *arg).events])
            elif step == "advance":
                plant.clock.advance_ms(arg)
            elif step == "tick":
                got.append([e.wire() for e in plant.desk.tick().events])
            else:
                got.append(plant.desk.act(arg))
        desk = plant.desk
        got += [desk.alarms(), desk.risk_grades(), desk.active_counts(SITE),
                desk.last_readings(SITE), desk.journal_verify(),
                desk.kpi(from_ms=T0, to_ms=T0 + HOUR_MS, site=None),
                "".join(desk.journal_export(from_ms=None, to_ms=None, site=None, fmt="jsonl"))]
    assert answers[0] == answers[1]
    assert answers[0][-3]["entries"] == 20  # escalated, expired, out of service among them
    sqlite_desk = plants[0].desk
    assert isinstance(sqlite_desk, AlarmDesk)
    sqlite_desk.close()


# -- the in-memory desk's own ---------------------------------------------------------------


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(T0)


@pytest.fixture
def desk(clock: ManualClock) -> MemoryDesk:
    return MemoryDesk(registry=registry(), clock=clock)


@pytest.fixture
def feed(desk: MemoryDesk, clock: ManualClock) -> Feed:
    return Feed(desk.registry, desk.receive, clock)


async def test_subscribers_get_alarm_events_and_grades_live(desk: MemoryDesk, feed: Feed) -> None:
    queue = desk.subscribe()
    feed.send(SITE, "GT-1", 60.0)
    desk.act(Note(GT1_HH, user="li.na", note="journal only"))  # not published
    desk.act(Ack(GT1_HH, user="li.na"))
    items = [queue.get_nowait() for _ in range(queue.qsize())]
    assert [(i["type"], i["data"].get("alarm_id"), i["data"].get("event")) for i in items] == [
        ("alarm", GT1_H, "raised"), ("alarm", GT1_HH, "raised"), ("risk", None, None),
        ("alarm", GT1_HH, "acked")]
    assert items[2]["data"] == {"site": SITE, "grade": "red", "ts_ms": T0}
    desk.unsubscribe(queue)
    desk.act(Ack(GT1_H, user="li.na"))
    assert queue.empty()
    desk.unsubscribe(queue)  # twice: nothing


async def test_a_slow_subscriber_loses_the_oldest(
    desk: MemoryDesk, feed: Feed, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(memory_desk, "SUBSCRIBER_ITEMS", 2)
    queue = desk.subscribe()
    feed.send(SITE, "GT-1", 60.0)  # two alarms and a grade
    assert [queue.get_nowait()["type"] for _ in range(queue.qsize())] == ["alarm", "risk"]


async def test_actions_from_another_thread_reach_the_loops_subscribers(
    desk: MemoryDesk, feed: Feed
) -> None:
    queue = desk.subscribe()
    feed.send(SITE, "GT-1", 60.0)
    while not queue.empty():
        queue.get_nowait()
    await asyncio.to_thread(desk.act, Ack(GT1_HH, user="li.na"))
    item = await asyncio.wait_for(queue.get(), 1)
    assert (item["data"]["alarm_id"], item["data"]["event"]) == (GT1_HH, "acked")


def test_it_keeps_what_the_notifiers_would_be_asked(desk: MemoryDesk, feed: Feed) -> None:
    feed.send(SITE, "GT-1", 60.0)
    assert sorted((n.alarm_id, n.recipient, n.tier) for n in desk.notifications) == [
        (GT1_H, "duty", 1), (GT1_HH, "duty", 1)]


def test_an_entry_changed_in_memory_is_found(desk: MemoryDesk, feed: Feed) -> None:
    feed.send(SITE, "GT-1", 60.0)
    desk.act(Ack(GT1_HH, user="zhang.wei"))
    desk.journal[1] = {**desk.journal[1], "value": 10.0}
    verified = desk.journal_verify()
    assert (verified["ok"], verified["first_bad"]) == (False, 2)


def test_occurrence_and_messages_it_ignores(desk: MemoryDesk) -> None:
    assert desk.receive([("elsewhere/topic", b"{}"), (f"hazmon/v1/{SITE}/gw1/state", b"")]) \
        .events == []
    assert desk.receive([(f"hazmon/v1/{SITE}/gw1/state", b"not json")]).events == []
    assert desk.receive([(f"hazmon/v1/{SITE}/gw1/telemetry", b"[]")]).events == []
    went = desk.receive([(f"hazmon/v1/{SITE}/gw1/state", b'{"online": false, "boot": 1}')])
    assert [e.event for e in went.events] == ["raised"]
    alarm_id = f"{SITE}/gw1/offline#1"
    assert desk.occurrence(alarm_id)["condition"] == "offline"
    with pytest.raises(UnknownAlarm):
        desk.occurrence(f"{SITE}/gw1/offline#2")
