"""What the alarm DB keeps per sensor: the last reading, written with every commit
of readings (a row per sensor, `sensor_last`, or one document for a gateway with many
in the commit, `site_last`), the sensor's situation as a document only when it changes;
a restart restores both, and a data folder written before the split (the last reading
inside the document) still restores."""

from __future__ import annotations

import errno
import sqlite3
from pathlib import Path
from typing import Any

import orjson
import pytest

from hazmon.alarms import state_db
from hazmon.alarms.sqlite_desk import AlarmDesk
from hazmon.stores.memory import MemoryStore
from tests.alarms.plant import T0, Clock, registry, telemetry

pytestmark = pytest.mark.unit

TOPIC = "hazmon/v1/s1/gw1/telemetry"
REGISTRY = registry()


def desk(data: Path, clock: Clock) -> AlarmDesk:
    return AlarmDesk(registry=REGISTRY, data_dir=data, store=MemoryStore(), clock=clock)


def rows(data: Path, sql: str) -> list[tuple[object, ...]]:
    with sqlite3.connect(data / "alarms.db") as conn:
        return conn.execute(sql).fetchall()


def test_a_quiet_reading_writes_its_last_reading_and_no_document(tmp_path: Path) -> None:
    clock = Clock()
    d = desk(tmp_path, clock)
    d.receive([(TOPIC, telemetry(1, {"sensor": "GT-1", "ts_ms": T0, "value": 3.5}))])
    d.close()
    [(key, doc)] = rows(tmp_path, "SELECT site, doc FROM site_last")  # a gateway new to it
    assert (key, orjson.loads(doc)) == ("s1/gw1", {"GT-1": [T0, T0, 3.5, "good"]})
    assert rows(tmp_path, "SELECT id FROM state WHERE kind = 'sensor'") == []


def test_a_restart_restores_the_last_reading_and_drops_what_it_saw(tmp_path: Path) -> None:
    clock = Clock()
    d = desk(tmp_path, clock)
    d.receive([(TOPIC, telemetry(1, {"sensor": "GT-1", "ts_ms": T0 - 5_000, "value": 30.0},
                                 {"sensor": "ESD-A", "ts_ms": T0 - 5_000, "state": "normal"}))])
    assert [a["state"] for a in d.alarms(active=True)] == ["unack"]
    d.close()
    clock.advance(10)
    again = desk(tmp_path, clock)
    gt1 = again.engine.plant.sensors["s1/GT-1"]
    assert gt1.last() == (T0 - 5_000, T0, 30.0, "good")
    assert again.engine.plant.sensors["s1/ESD-A"].last_value == "normal"
    # a redelivery of the message evaluated before the restart changes nothing, even
    # with a reading newer than the last (recognised by boot and seq, not by time)
    out = again.receive([(TOPIC, telemetry(1, {"sensor": "GT-1", "ts_ms": T0 + 4_000,
                                                 "value": 0.0}))])
    assert out.events == []
    # an older reading in a new message (late, reordered) changes nothing either
    out = again.receive([(TOPIC, telemetry(2, {"sensor": "GT-1", "ts_ms": T0 - 6_000,
                                                 "value": 0.0}))])
    assert out.events == []
    assert [a["state"] for a in again.alarms(active=True)] == ["unack"]
    again.close()


def test_a_data_folder_with_the_last_reading_in_the_document_restores(tmp_path: Path) -> None:
    clock = Clock()
    desk(tmp_path, clock).close()  # creates the schema
    old_doc = {
        "site": "s1", "gateway": "gw1", "sensor": "GT-1", "last_ts_ms": T0 + 9_000,
        "last_seen_ms": T0 + 9_100, "last_value": 12.5, "last_quality": "uncertain",
        "last_hist_ts_ms": None, "hist_active": [], "maintenance_since_ms": None,
        "maintenance_overrun": False, "oos_until_ms": None, "oos_reason": None,
        "oos_by": None, "permit": None,
    }
    with sqlite3.connect(tmp_path / "alarms.db") as conn:
        conn.execute("INSERT INTO state (kind, id, doc) VALUES ('sensor', 's1/GT-1', ?)",
                     (orjson.dumps(old_doc).decode(),))
    again = desk(tmp_path, clock)
    assert again.engine.plant.sensors["s1/GT-1"].last() == (
        T0 + 9_000, T0 + 9_100, 12.5, "uncertain"
    )
    again.close()


def test_a_failed_commit_forgets_what_it_held_so_the_redelivery_is_evaluated(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The commit of an alarm fails (disk full): the message is not acknowledged, and
    when the broker sends it again it must raise the alarm, not be dropped as a repeat
    of something the engine saw but the journal never got."""
    clock = Clock(T0 + 10_000)
    d = desk(tmp_path, clock)
    message = (TOPIC, telemetry(5, {"sensor": "GT-1", "ts_ms": T0, "value": 60.0}))
    commit = d.db.commit

    def disk_full(*args: Any, **kwargs: Any) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(d.db, "commit", disk_full)
    with pytest.raises(OSError):
        d.receive([message])
    assert d.alarms(active=True) == []  # nothing of it stayed in memory either
    monkeypatch.setattr(d.db, "commit", commit)
    out = d.receive([message])  # the redelivery
    assert sorted(e.event for e in out.events) == ["raised", "raised"]
    assert d.journal_verify()["ok"]
    journalled = rows(tmp_path, "SELECT event, key FROM journal WHERE event = 'raised'")
    assert sorted(k for _, k in journalled) == ["s1/GT-1/high", "s1/GT-1/high_high"]
    d.close()


def test_last_readings_of_an_older_data_folder_stay_until_newer_ones_come(
    tmp_path: Path,
) -> None:
    """A data folder with rows per sensor only (`sensor_last`, as older versions
    wrote): a sensor without a reading since keeps its row's reading; one with a newer
    reading has the newer one after a restart."""
    clock = Clock()
    d = desk(tmp_path, clock)
    d.close()
    with sqlite3.connect(tmp_path / "alarms.db") as conn:
        conn.executemany("INSERT INTO sensor_last VALUES (?, ?, ?, ?, ?)",
                         [("s1/GT-1", T0 - 9_000, T0 - 9_000, 1.5, "good"),
                          ("s1/GT-2", T0 - 9_000, T0 - 9_000, 2.5, "good")])
    d = desk(tmp_path, clock)
    assert d.engine.plant.sensors["s1/GT-1"].last_value == 1.5
    d.receive([(TOPIC, telemetry(1, {"sensor": "GT-2", "ts_ms": T0, "value": 4.0}))])
    d.close()
    again = desk(tmp_path, clock)
    sensors = again.engine.plant.sensors
    assert sensors["s1/GT-1"].last() == (T0 - 9_000, T0 - 9_000, 1.5, "good")
    assert sensors["s1/GT-2"].last() == (T0, T0, 4.0, "good")


def test_a_site_with_many_readings_in_a_commit_gets_one_document_and_the_newer_wins(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(state_db, "SITE_DOC_FROM", 2)  # two in a commit: a document
    monkeypatch.setattr(state_db, "SITE_DOC_SHARE", 0)  # else rows, however small the site
    clock = Clock()
    d = desk(tmp_path, clock)
    d.receive([(TOPIC, telemetry(1, {"sensor": "GT-1", "ts_ms": T0, "value": 3.0},
                                 {"sensor": "GT-2", "ts_ms": T0, "value": 4.0}))])
    clock.advance(1)
    d.receive([(TOPIC, telemetry(2, {"sensor": "GT-1", "ts_ms": T0 + 1_000, "value": 5.0}))])
    d.close()
    [(key, doc)] = rows(tmp_path, "SELECT site, doc FROM site_last")
    assert (key, orjson.loads(doc)) == ("s1/gw1", {"GT-1": [T0, T0, 3.0, "good"],
                                                   "GT-2": [T0, T0, 4.0, "good"]})
    assert rows(tmp_path, "SELECT id, value FROM sensor_last") == [("s1/GT-1", 5.0)]
    sensors = desk(tmp_path, clock).engine.plant.sensors  # the row is newer than the document
    assert sensors["s1/GT-1"].last() == (T0 + 1_000, T0 + 1_000, 5.0, "good")
    assert sensors["s1/GT-2"].last() == (T0, T0, 4.0, "good")


def test_a_failed_commit_never_writes_its_readings_later(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(state_db, "SITE_DOC_FROM", 1)
    """The site documents kept in memory are forgotten when a commit fails, so a later
    commit of the same site writes what is committed, not what failed: after a restart
    the message that failed is evaluated again (its readings are not taken for seen)."""
    clock = Clock()
    d = desk(tmp_path, clock)
    d.receive([(TOPIC, telemetry(1, {"sensor": "GT-1", "ts_ms": T0, "value": 3.0}))])
    real = d.db._last_rows

    def full(*args: Any) -> Any:
        real(*args)  # the documents in memory take the readings; then the disk is full
        raise sqlite3.OperationalError("database or disk is full")

    monkeypatch.setattr(d.db, "_last_rows", full)
    with pytest.raises(sqlite3.OperationalError):
        d.receive([(TOPIC, telemetry(2, {"sensor": "GT-1", "ts_ms": T0 + 1_000, "value": 9.0},
                                     {"sensor": "GT-2", "ts_ms": T0 + 1_000, "value": 9.0}))])
    monkeypatch.setattr(d.db, "_last_rows", real)
    d.receive([(TOPIC, telemetry(3, {"sensor": "GT-2", "ts_ms": T0 + 500, "value": 2.0}))])
    d.close()
    [(doc,)] = rows(tmp_path, "SELECT doc FROM site_last")
    # GT-2's reading is stamped ahead of the clock (T0): its time is capped at T0
    assert orjson.loads(doc) == {"GT-1": [T0, T0, 3.0, "good"], "GT-2": [T0, T0, 2.0, "good"]}
