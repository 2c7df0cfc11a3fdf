"""The duty desk over SQLite: actions journalled with who and why, errors that change
nothing, and a restart (a new desk on the same data folder) that resumes exactly."""

from __future__ import annotations

import asyncio
import sqlite3
from contextlib import closing
from pathlib import Path

import pytest

from hazmon.alarms.core.inputs import Ack, Note, Reset
from hazmon.alarms.errors import IllegalTransition, UnknownAlarm
from hazmon.alarms.sqlite_desk import AlarmDesk
from hazmon.alarms.state_db import DB_FILE
from hazmon.stores.memory import MemoryStore
from tests.alarms.plant import T0, Clock, key, registry, telemetry

TOPIC = "hazmon/v1/s1/gw1/telemetry"
HH = key("GT-1", "high_high")


def desk(data: Path, clock: Clock, store: MemoryStore | None = None) -> AlarmDesk:
    return AlarmDesk(registry=registry(), data_dir=data, store=store or MemoryStore(),
                     clock=clock)


def raise_gas(d: AlarmDesk, clock: Clock, seq: int = 0, value: float = 60.0) -> None:
    d.receive([(TOPIC, telemetry(seq, {"sensor": "GT-1", "ts_ms": clock.now_ms,
                                       "value": value}))])


def journal(data: Path) -> list[tuple[str, str, str | None, str | None]]:
    with closing(sqlite3.connect(data / DB_FILE)) as conn, conn:
        return conn.execute("SELECT key, event, user, note FROM journal ORDER BY seq").fetchall()


def test_actions_are_journalled_with_who_and_why(tmp_path: Path) -> None:
    clock = Clock()
    d = desk(tmp_path, clock)
    raise_gas(d, clock)
    clock.advance(5)
    alarm = d.act(Ack(f"{HH}#1", user="zhang.wei", note="crew sent"))
    assert (alarm["state"], alarm["acked_by"], alarm["acked_ms"]) == ("acked", "zhang.wei",
                                                                      T0 + 5_000)
    assert alarm["raised_ms"] == T0 and alarm["event"] == "acked"
    d.act(Note(f"{HH}#1", user="li.na", note="gas detector checked"))
    assert (HH, "acked", "zhang.wei", "crew sent") in journal(tmp_path)
    assert (HH, "note", "li.na", "gas detector checked") in journal(tmp_path)
    assert d.journal_verify()["ok"]


def test_illegal_and_unknown_actions_change_nothing(tmp_path: Path) -> None:
    clock = Clock()
    d = desk(tmp_path, clock)
    raise_gas(d, clock)
    d.act(Ack(f"{HH}#1", user="op", note=None))
    before = journal(tmp_path)
    with pytest.raises(IllegalTransition):
        d.act(Ack(f"{HH}#1", user="op", note=None))
    with pytest.raises(IllegalTransition):
        d.act(Reset(f"{HH}#1", user="op", note=None))  # still active
    with pytest.raises(UnknownAlarm):
        d.act(Ack("s1/GT-1/high_high#9", user="op", note=None))
    with pytest.raises(UnknownAlarm):
        d.act(Note("nope#1", user="op", note="x"))
    assert journal(tmp_path) == before


def test_listing_and_counts(tmp_path: Path) -> None:
    clock = Clock()
    d = desk(tmp_path, clock)
    raise_gas(d, clock)
    active = d.alarms(active=True)  # newest first; same time: by alarm_id, descending
    assert [a["alarm_id"] for a in active] == [f"{HH}#1", f"{key('GT-1', 'high')}#1"]
    assert d.alarms(priority="critical")[0]["alarm_id"] == f"{HH}#1"
    assert d.alarms(site="elsewhere") == []
    assert d.active_counts("s1") == {"critical": 1, "high": 1, "medium": 0}
    assert d.risk_grades() == {"s1": "red"}


def test_a_new_desk_on_the_same_folder_resumes_exactly(tmp_path: Path) -> None:
    clock = Clock()
    d = desk(tmp_path, clock)
    raise_gas(d, clock)
    d.act(Ack(f"{key('GT-1', 'high')}#1", user="op", note=None))
    clock.advance(300)
    assert [e.note for e in d.tick().events if e.key == HH] == ["tier 2: lead"]
    listing = d.alarms()
    d.close()  # as if killed: nothing more is written
    clock.advance(1)
    again = desk(tmp_path, clock)
    assert again.alarms() == listing
    assert again.risk_grades() == {"s1": "red"}
    # tiers already notified are not notified again; the next falls due on time
    assert [n for n in again.tick().notify if n.key == HH] == []
    clock.advance(600)
    assert [n.recipient for n in again.tick().notify if n.key == HH] == ["manager", "regulator"]
    # a redelivered message after the restart changes nothing
    out = again.receive([(TOPIC, telemetry(0, {"sensor": "GT-1", "ts_ms": T0, "value": 60.0}))])
    assert out.events == []
    raise_gas(again, clock, seq=1, value=1.0)
    again.act(Ack(f"{HH}#1", user="op", note=None))
    assert again.act(Reset(f"{HH}#1", user="op", note="area cleared"))["state"] == "normal"
    clock.advance(1)
    raise_gas(again, clock, seq=2, value=70.0)  # a new occurrence: #2
    assert again.alarms(active=True, priority="critical")[0]["alarm_id"] == f"{HH}#2"
    assert again.journal_verify()["ok"]


def test_the_outbox_keeps_notifications_until_their_outcome_is_journalled(
    tmp_path: Path,
) -> None:
    clock = Clock()
    d = desk(tmp_path, clock)
    raise_gas(d, clock)
    waiting = d.db.outbox()
    assert sorted(r.recipient for r in waiting) == ["duty", "duty"]
    request = next(r for r in waiting if r.key == HH)
    d.record_outcome(request, ok=False, detail="HTTP 503", final=False)
    assert len(d.db.outbox()) == 2  # a failed attempt that will be retried stays
    d.record_outcome(request, ok=True, detail="HTTP 200", final=True)
    assert [r.id for r in d.db.outbox()] == [r.id for r in waiting if r.key != HH]
    assert [e[1] for e in journal(tmp_path) if e[0] == HH][-2:] == ["notify_failed", "notified"]


def test_subscribers_get_alarm_events_and_risk_changes_live(tmp_path: Path) -> None:
    clock = Clock()
    d = desk(tmp_path, clock)

    async def scenario() -> list[str]:
        d.attach(asyncio.get_running_loop())
        queue = d.subscribe()
        raise_gas(d, clock)
        d.act(Ack(f"{HH}#1", user="op", note=None))
        await asyncio.sleep(0)
        got = []
        while not queue.empty():
            item = queue.get_nowait()
            got.append(f"{item['type']}:{item['data'].get('event') or item['data']['grade']}")
        d.unsubscribe(queue)
        return got

    got = asyncio.run(scenario())
    assert got == ["alarm:raised", "alarm:raised", "risk:red", "alarm:acked"]


def test_a_message_that_breaks_evaluation_is_skipped_not_fatal(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    clock = Clock()
    d = desk(tmp_path, clock)

    def broken(*_args: object, **_kwargs: object) -> None:
        raise RuntimeError("a bug")

    monkeypatch.setattr(d.engine, "on_gateway_state", broken)
    out = d.receive([
        ("hazmon/v1/s1/gw1/state", b'{"online": false, "boot": 1}'),
        (TOPIC, telemetry(0, {"sensor": "GT-1", "ts_ms": T0, "value": 60.0})),
        ("hazmon/v1/s1/gw1/telemetry", b"not json"),
        ("somewhere/else", b"{}"),
    ])
    assert [e.key for e in out.events if e.event == "raised"] == [
        key("GT-1", "high"), HH]
    assert d.failed_messages == 1
    assert "could not evaluate a message" in caplog.text
