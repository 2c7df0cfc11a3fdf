"""A partition's changelog: committing its records again on an empty folder gives the
database the writer had (journal, hash chain, state, outbox), and a refused append
leaves the writer's database and engine as they were."""

from __future__ import annotations

import sqlite3
from contextlib import closing
from pathlib import Path

import pytest

from hazmon.alarms import changelog
from hazmon.alarms.core.inputs import Ack, Shelve
from hazmon.alarms.sqlite_desk import AlarmDesk
from hazmon.alarms.state_db import DB_FILE, AlarmDb
from hazmon.bus.jetstream import Fenced
from hazmon.stores.memory import MemoryStore
from tests.alarms.journal_helpers import build, rows
from tests.alarms.plant import Clock, key, registry, telemetry

pytestmark = pytest.mark.unit

TOPIC = "hazmon/v1/s1/gw1/telemetry"
HH = key("GT-1", "high_high")
H = key("GT-1", "high")


def dump(folder: Path) -> dict[str, list[tuple[object, ...]]]:
    with closing(sqlite3.connect(folder / DB_FILE)) as conn:
        return {
            table: conn.execute(f"SELECT * FROM {table} ORDER BY 1, 2").fetchall()
            for table in ("journal", "state", "site_last", "sensor_last", "occurrences",
                          "outbox")
        }


def replicated_desk(folder: Path, clock: Clock, records: list[bytes]) -> AlarmDesk:
    desk = AlarmDesk(registry=registry(), data_dir=folder, store=MemoryStore(), clock=clock)
    desk.db.close()
    desk.db = changelog.ReplicatedDb(folder, records.append)
    return desk


def test_replaying_the_records_rebuilds_the_database(tmp_path: Path) -> None:
    clock, records = Clock(), []
    desk = replicated_desk(tmp_path / "owner", clock, records)
    for seq, value in enumerate([10.0, 60.0, 62.0, 5.0, 70.0]):
        desk.receive([(TOPIC, telemetry(seq, {"sensor": "GT-1", "ts_ms": clock.now_ms,
                                              "value": value}))])
        clock.advance(2)
    desk.act(Ack(f"{HH}#1", user="zhang.wei", note="crew sent"))
    desk.act(Shelve(f"{H}#1", user="li.na", minutes=30, reason="sensor wash"))
    clock.advance(40)
    desk.tick()
    records.append(changelog.takeover("worker-b", clock.now_ms))

    successor = AlarmDb(tmp_path / "successor")
    for record in records:
        changelog.apply(successor, record)
    successor.close()
    assert len(records) >= 5
    assert dump(tmp_path / "successor") == dump(tmp_path / "owner")
    rebuilt = AlarmDesk(registry=registry(), data_dir=tmp_path / "successor",
                        store=MemoryStore(), clock=clock)
    assert rebuilt.journal_verify()["ok"]
    assert rebuilt.alarms(active=True) == desk.alarms(active=True)


def test_a_refused_append_writes_nothing_and_forgets_the_evaluation(tmp_path: Path) -> None:
    clock, records = Clock(), []
    desk = replicated_desk(tmp_path, clock, records)
    desk.receive([(TOPIC, telemetry(0, {"sensor": "GT-1", "ts_ms": clock.now_ms,
                                        "value": 60.0}))])
    before = dump(tmp_path)

    def refuse(_record: bytes) -> None:
        raise Fenced("partition 3 was written by another worker")

    assert isinstance(desk.db, changelog.ReplicatedDb)
    desk.db.writer = refuse
    with pytest.raises(Fenced):
        desk.act(Ack(f"{HH}#1", user="op", note=None))
    assert dump(tmp_path) == before
    assert desk.alarms(active=True)[0]["state"] == "unack"


def test_a_record_of_the_first_version_still_applies(tmp_path: Path) -> None:
    """Version 1 carried last readings by sensor id (`last`): a site's document."""
    import orjson

    record = {"v": 1, "by": "w", "head": None, "events": [], "outbox_add": [],
              "outbox_done": [], "now_ms": 5, "dirty": {
                  "sensors": {}, "points": {}, "gateways": {}, "occurrences": {},
                  "last": {"s1/GT-1": [4, 5, 3.5, "good"]}}}
    db = AlarmDb(tmp_path)
    changelog.apply(db, orjson.dumps(record))
    assert db.load().last == {"s1/GT-1": (4, 5, 3.5, "good")}
    assert changelog.record_last(record["dirty"]) == {"s1/GT-1": (4, 5, 3.5, "good")}


def test_a_record_of_another_version_is_refused(tmp_path: Path) -> None:
    db = AlarmDb(tmp_path)
    with pytest.raises(changelog.BadRecord, match="version 3"):
        changelog.apply(db, b'{"v": 3}')


def test_an_altered_record_stops_the_replay(tmp_path: Path) -> None:
    import orjson

    clock, records = Clock(), []
    desk = replicated_desk(tmp_path / "owner", clock, records)
    for seq, value in enumerate([10.0, 60.0, 5.0]):
        desk.receive([(TOPIC, telemetry(seq, {"sensor": "GT-1", "ts_ms": clock.now_ms,
                                              "value": value}))])
        clock.advance(2)
    raised_at = next(i for i, r in enumerate(records) if orjson.loads(r)["events"])
    altered = orjson.loads(records[raised_at])
    assert altered["head"][0] >= 1
    altered["events"][0]["value"] = 20.0  # what the alarm showed, rewritten afterwards
    records[raised_at] = orjson.dumps(altered)
    successor = AlarmDb(tmp_path / "successor")
    for record in records[:raised_at]:
        changelog.apply(successor, record)
    with pytest.raises(changelog.BadRecord, match="altered"):
        changelog.apply(successor, records[raised_at])


def test_a_snapshots_journal_is_read_from_its_bytes(tmp_path: Path) -> None:
    """What the trimmed changelog no longer holds is read from the partition's snapshot:
    every journal entry of the database the owner saved, in order."""
    path = build(tmp_path, 9)  # closed: the database file holds every commit
    assert changelog.snapshot_journal(path.read_bytes()) == rows(path)
    assert len(rows(path)) == 9
