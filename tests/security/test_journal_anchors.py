"""Attacks on the journal's anchors by someone with the data folder, against a journal
anchored by a real alarm service on a real Mosquitto (retained head) and InfluxDB
(`journal_head`): cutting the tail and planting an anchor line, a blind far-future
anchor, a full rewrite re-hashed from the first entry, and a restart on a shortened
journal. Each one must fail `hazmon journal verify` (and the live service's verify),
or stop the service from starting."""

from __future__ import annotations

import asyncio
import json
import sqlite3
import time
from collections.abc import AsyncIterator
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from hazmon.alarms.journal import anchors
from hazmon.alarms.journal.anchoring import JournalBehind
from hazmon.alarms.notifiers import MemoryNotifier
from hazmon.alarms.service import AlarmService, Timing
from hazmon.alarms.state_db import DB_FILE
from hazmon.cli import app as cli
from hazmon.contract.config import parse_registry
from hazmon.contract.settings import InfluxAddress, Settings, parse_broker_url
from hazmon.stores.influx import InfluxStore
from hazmon.testing.mqtt_clients import subscriber
from hazmon.testing.processes import Child, hazmon
from hazmon.testing.servers import InfluxDB, Mosquitto, free_port
from tests.alarms.journal_helpers import (
    append_anchor_line,
    cut_tail,
    rewrite_everything,
    rows,
)
from tests.alarms.mqtt_helpers import publish, publisher, started, stopped
from tests.alarms.plant import small_registry_text

pytestmark = pytest.mark.integration
ROOT = Path(__file__).resolve().parents[2]
HEAD_TOPIC = "hazmon/v1/journal/head"
BLIND = {"seq": 0, "hash": "", "ts_ms": 9007199254740991}


def now_ms() -> int:
    return time.time_ns() // 1_000_000


@dataclass
class Anchored:
    """A data folder whose journal a real service wrote and anchored everywhere."""

    site: str
    data: Path
    broker: str
    influx: str  # http://HOST:PORT/DB
    registry_text: str
    head_seq: int

    def service(self, **kwargs: Any) -> AlarmService:
        return AlarmService(
            registry=parse_registry(self.registry_text), broker=parse_broker_url(self.broker),
            settings=Settings(), store=InfluxStore(_address(self.influx)), data_dir=self.data,
            client_id=f"alarms-{self.site}", timing=Timing(tick_s=0.2),
            notifiers={"duty": MemoryNotifier(), "lead": MemoryNotifier()}, **kwargs,
        )

    def verify(self, *, external: bool = True) -> tuple[int, dict[str, Any]]:
        args = ["journal", "verify", "--data", str(self.data)]
        if external:
            args += ["--broker", self.broker, "--influx", self.influx]
        result = CliRunner().invoke(cli, args)
        return result.exit_code, json.loads(result.stdout)


def _address(url: str) -> InfluxAddress:
    base, _, database = url.rpartition("/")
    return InfluxAddress(base, database)




def _closed(service: AlarmService) -> None:
    service.close()
    service.store.close()


async def _raise_alarms(anchored: Anchored, service: AlarmService, seq: int) -> None:
    """Send a reading that raises alarms; wait until they are journalled."""
    pub = publisher(int(anchored.broker.rsplit(":", 1)[1]))
    before = service.desk.db.head.seq
    value = 55.0 if seq % 2 == 0 else 1.0
    batch = {"boot": 1, "seq": seq, "readings": [
        {"sensor": "GT-1", "ts_ms": now_ms(), "value": value}]}
    await asyncio.to_thread(publish, pub, f"hazmon/v1/{anchored.site}/gw1/telemetry", batch)
    pub.disconnect()
    for _ in range(200):
        if service.desk.db.head.seq > before:
            return
        await asyncio.sleep(0.05)
    raise AssertionError("no journal entry in time")


@pytest.fixture
async def anchored(
    mosquitto: Mosquitto, influxdb: InfluxDB, influx_db: str, unique_id: str, tmp_path: Path
) -> AsyncIterator[Anchored]:
    site = unique_id
    found = Anchored(site, tmp_path / "data", mosquitto.url, f"{influxdb.url}/{influx_db}",
                     small_registry_text(site), 0)
    service = found.service()
    task = await started(service)
    try:
        for seq in range(4):
            await _raise_alarms(found, service, seq)
        await asyncio.sleep(0.5)  # the store writer's linger: the per-commit head is in
    finally:
        await stopped(task)
        _closed(service)
    found.head_seq = len(rows(found.data / DB_FILE))
    assert found.head_seq >= 8
    assert found.verify() == (0, found.verify()[1])
    yield found


# -- verify ----------------------------------------------------------------------------------


def test_cut_tail_with_a_forged_file_anchor_fails_verify(anchored: Anchored) -> None:
    path = anchored.data / DB_FILE
    keep = anchored.head_seq - 3
    cut_tail(path, keep)
    cut = rows(path)[-1]
    append_anchor_line(anchored.data, {"seq": keep, "hash": cut["hash"],
                                       "ts_ms": now_ms() + 10 ** 9})
    code, answer = anchored.verify()
    assert code == 1 and answer["ok"] is False
    assert answer["first_bad"] == keep + 1
    assert f"has entry {anchored.head_seq}" in answer["reason"]
    sources = {a["source"] for a in answer["anchors"]}
    assert anchors.MQTT_SOURCE in sources and "store journal_head" in sources


def test_a_file_anchor_with_a_higher_seq_is_reported_not_obeyed(anchored: Anchored) -> None:
    path = anchored.data / DB_FILE
    cut_tail(path, anchored.head_seq - 2)
    append_anchor_line(anchored.data, {"seq": 10 ** 6, "hash": "f" * 64, "ts_ms": now_ms()})
    code, answer = anchored.verify()
    assert code == 1 and answer["ok"] is False  # it only makes the check stricter


def test_a_blind_far_future_anchor_is_ignored_and_verify_fails(anchored: Anchored) -> None:
    path = anchored.data / DB_FILE
    cut_tail(path, anchored.head_seq - 3)
    append_anchor_line(anchored.data, BLIND)
    code, answer = anchored.verify()
    assert code == 1 and answer["ok"] is False
    assert f"has entry {anchored.head_seq}" in answer["reason"]
    assert {"seq": 0, "hash": "", "ts_ms": BLIND["ts_ms"]}.items() <= (
        answer["ignored_anchors"][0].items())
    # offline, the file alone: its real lines still count, the blind one does not
    code, answer = anchored.verify(external=False)
    assert code == 1 and answer["ok"] is False


def test_a_full_rewrite_rehashed_with_a_file_anchor_fails_when_the_broker_is_reachable(
    anchored: Anchored,
) -> None:
    path = anchored.data / DB_FILE
    head = rewrite_everything(path)
    (anchored.data / anchors.ANCHOR_FILE).unlink()  # the forger's own file, afresh
    append_anchor_line(anchored.data, {"seq": head["seq"], "hash": head["hash"],
                                       "ts_ms": now_ms()})
    assert anchored.verify(external=False)[0] == 0  # the data folder alone cannot tell
    code, answer = anchored.verify()
    assert code == 1 and answer["ok"] is False
    assert "does not match the anchor" in answer["reason"]
    # the broker's head alone is enough
    result = CliRunner().invoke(cli, ["journal", "verify", "--data", str(anchored.data),
                                      "--broker", anchored.broker])
    assert result.exit_code == 1, result.stdout


async def test_the_live_service_verify_uses_every_anchor(anchored: Anchored) -> None:
    service = anchored.service()
    task = await started(service)
    try:
        assert service.desk.journal_verify()["ok"]
        head = service.desk.db.head.seq
        cut_tail(anchored.data / DB_FILE, head - 2)  # under the running service
        cut = rows(anchored.data / DB_FILE)[-1]
        append_anchor_line(anchored.data, {"seq": head - 2, "hash": cut["hash"],
                                           "ts_ms": now_ms() + 10 ** 9})
        append_anchor_line(anchored.data, BLIND)
        answer = await asyncio.to_thread(service.desk.journal_verify)
        assert answer["ok"] is False and answer["first_bad"] == head - 1
        assert f"has entry {head}" in answer["reason"]
        assert answer["ignored_anchors"]
    finally:
        await stopped(task)
        _closed(service)


# -- anchored with every commit --------------------------------------------------------------


async def test_every_commit_that_journals_is_anchored_at_once(
    anchored: Anchored, mosquitto: Mosquitto
) -> None:
    recorder = subscriber(mosquitto.port, HEAD_TOPIC)
    service = anchored.service()
    service.timing = Timing(tick_s=0.2, anchor_s=3600)  # no periodic anchor in this test
    task = await started(service)
    try:
        await _raise_alarms(anchored, service, 10)
        head = service.desk.db.head
        retained = (await recorder.until(lambda m: m.doc["seq"] == head.seq, timeout_s=5.0))
        assert retained[0].doc["hash"] == head.hash
        store = InfluxStore(_address(anchored.influx))
        for _ in range(100):
            stored = anchors.read_store(store)
            if stored is not None and stored.seq == head.seq:
                break
            await asyncio.sleep(0.05)
        assert stored is not None and (stored.seq, stored.hash) == (head.seq, head.hash)
        store.close()
    finally:
        await stopped(task)
        _closed(service)
        recorder.close()


# -- restart on a shortened journal ------------------------------------------------------------


async def test_a_restart_on_a_cut_journal_refuses_naming_both_seqs(anchored: Anchored) -> None:
    keep = anchored.head_seq - 3
    cut_tail(anchored.data / DB_FILE, keep)
    service = anchored.service()
    with pytest.raises(JournalBehind) as refused:
        await service.run()
    _closed(service)
    message = str(refused.value)
    assert f"ends at entry {keep}" in message
    assert f"has entry {anchored.head_seq}" in message
    assert "--accept-truncated-journal" in message
    # nothing was re-anchored: the broker still holds the real head
    retained = anchors.read_mqtt(anchored.broker, Settings())
    assert retained is not None and retained.seq == anchored.head_seq


async def test_a_restart_on_a_rewritten_journal_refuses(anchored: Anchored) -> None:
    rewrite_everything(anchored.data / DB_FILE)
    service = anchored.service()
    with pytest.raises(JournalBehind, match="does not match the anchor"):
        await service.run()
    _closed(service)


def _journal(data: Path) -> list[tuple[Any, ...]]:
    uri = f"file:{data / DB_FILE}?mode=ro"
    with closing(sqlite3.connect(uri, uri=True)) as conn:
        return conn.execute("SELECT seq, key, event, note FROM journal ORDER BY seq").fetchall()


def _hazmon_alarms(anchored: Anchored, *extra: str) -> Child:
    config = anchored.data.parent / "plant.yaml"
    config.write_text(anchored.registry_text)
    argv = hazmon("alarms", "--config", str(config), "--broker", anchored.broker,
                  "--influx", anchored.influx, "--data", str(anchored.data),
                  "--http", f"127.0.0.1:{free_port()}", *extra)  # fmt: skip
    return Child(argv, log=anchored.data.parent / "hazmon-alarms.log", cwd=ROOT,
                 env={"PYTHONPATH": str(ROOT)}, name="hazmon alarms").start()  # fmt: skip


def test_hazmon_alarms_refuses_a_cut_journal_and_accepts_it_when_told(
    anchored: Anchored,
) -> None:
    keep = anchored.head_seq - 3
    cut_tail(anchored.data / DB_FILE, keep)
    refused = _hazmon_alarms(anchored)
    assert refused.wait(timeout_s=60) == 1, refused.output()
    err = refused.output()
    assert f"ends at entry {keep}" in err and f"has entry {anchored.head_seq}" in err

    accepted = _hazmon_alarms(anchored, "--accept-truncated-journal")
    try:
        accepted.wait_ready(lambda: len(_journal(anchored.data)) > keep,
                            what="journalling the truncation")  # fmt: skip
        assert accepted.running, accepted.output()
        entry = _journal(anchored.data)[keep]
        assert entry[:3] == (keep + 1, "_system/alarms/journal", "truncation_accepted")
        assert f"ends at entry {keep}" in entry[3] and str(anchored.head_seq) in entry[3]
        for _ in range(100):  # anchored afresh: the accepted journal verifies
            code, answer = anchored.verify()
            if code == 0:
                break
            time.sleep(0.1)
        assert code == 0, answer
    finally:
        accepted.stop()
    # and a later restart needs no override
    again = _hazmon_alarms(anchored)
    try:
        time.sleep(3)
        assert again.running, again.output()
    finally:
        again.stop()
    assert anchored.verify()[0] == 0
