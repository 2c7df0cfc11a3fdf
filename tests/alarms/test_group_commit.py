"""Group commit: messages that cause nothing to tell are committed, and only then
acknowledged, together with the next commit (an event's, or the group's deadline);
a message that raises an alarm is committed and told at once."""

from __future__ import annotations

import asyncio
import sqlite3
import time
from pathlib import Path

import orjson
import pytest

from hazmon.alarms.service import AlarmService, Timing
from hazmon.alarms.sqlite_desk import AlarmDesk
from hazmon.contract.config import parse_registry
from hazmon.contract.settings import Settings, parse_broker_url
from hazmon.stores.memory import MemoryStore
from hazmon.testing.mqtt_clients import subscriber
from hazmon.testing.servers import Mosquitto
from tests.alarms.mqtt_helpers import publish, publisher
from tests.alarms.plant import T0, Clock, registry, small_registry_text, telemetry
from tests.alarms.test_service_mqtt import is_event, started, stopped

TOPIC = "hazmon/v1/s1/gw1/telemetry"


def last_rows(data: Path) -> int:
    """Sensors with a last reading on disk."""
    with sqlite3.connect(f"file:{data / 'alarms.db'}?mode=ro", uri=True) as conn:
        sensors = {sid for (sid,) in conn.execute("SELECT id FROM sensor_last")}
        for site, doc in conn.execute("SELECT site, doc FROM site_last"):
            sensors |= {f"{site}/{sensor}" for sensor in orjson.loads(doc)}
        return len(sensors)


@pytest.mark.unit
def test_a_deferred_evaluation_is_committed_by_flush_or_the_next_commit(
    tmp_path: Path,
) -> None:
    desk = AlarmDesk(registry=registry(), data_dir=tmp_path, store=MemoryStore(), clock=Clock())
    quiet = [(TOPIC, telemetry(1, {"sensor": "GT-1", "ts_ms": T0, "value": 3.0}))]
    out, committed = desk.evaluate(quiet, defer=True)
    assert not out and not committed
    assert last_rows(tmp_path) == 0
    desk.flush()
    assert last_rows(tmp_path) == 1
    desk.evaluate([(TOPIC, telemetry(2, {"sensor": "GT-2", "ts_ms": T0, "value": 3.0}))],
                  defer=True)
    out, committed = desk.evaluate(
        [(TOPIC, telemetry(3, {"sensor": "RC-1", "ts_ms": T0, "value": 500.0}))], defer=True
    )
    assert committed and [e.event for e in out.events] == ["raised"]
    assert last_rows(tmp_path) == 3  # the deferred GT-2 went with the event's commit
    desk.close()


def acked(service: AlarmService) -> float:
    value = service.metrics_registry.get_sample_value("hazmon_alarm_messages_acked_total")
    return value or 0.0


async def until(check: object, timeout_s: float = 10.0, seen: object = None) -> None:
    """Until `check()`; `seen()` says what there was instead when it times out."""
    deadline = time.monotonic() + timeout_s
    while not check():  # type: ignore[operator]
        assert time.monotonic() < deadline, f"timed out: {seen() if seen else ''}"  # type: ignore[operator]
        await asyncio.sleep(0.02)


@pytest.mark.integration
async def test_quiet_messages_wait_for_a_commit_an_alarm_does_not(
    mosquitto: Mosquitto, unique_id: str, tmp_path: Path
) -> None:
    site = unique_id
    service = AlarmService(
        registry=parse_registry(small_registry_text(site)),
        broker=parse_broker_url(mosquitto.url), settings=Settings(), store=MemoryStore(),
        data_dir=tmp_path, client_id=f"alarms-{unique_id}",
        timing=Timing(group_commit_s=3.0),
    )
    recorder = subscriber(mosquitto.port, f"hazmon/v1/{site}/alarms")
    pub = publisher(mosquitto.port)
    task = await started(service)
    topic = f"hazmon/v1/{site}/gw1/telemetry"
    gt1 = service.desk.engine.plant.sensors[f"{site}/GT-1"]
    try:
        now = time.time_ns() // 1_000_000 - 5_000  # stamped before they arrive
        for seq in range(20):
            body = {"boot": 1, "seq": seq, "readings": [
                {"sensor": "GT-1", "ts_ms": now + seq, "value": 3.0}]}
            await asyncio.to_thread(publish, pub, topic, body)
        await until(lambda: gt1.last_ts_ms == now + 19)  # all 20 evaluated ...
        assert acked(service) == 0  # ... none committed, so none acknowledged
        assert last_rows(tmp_path) == 0
        began = time.monotonic()
        body = {"boot": 1, "seq": 20, "readings": [
            {"sensor": "RC-1", "ts_ms": now + 20, "value": 500.0}]}
        await asyncio.to_thread(publish, pub, topic, body)
        await recorder.until(is_event(site, "raised", "high"))
        assert time.monotonic() - began < 2.0  # told at once, not at the group's deadline
        # the 20 went with the alarm's commit
        await until(lambda: acked(service) == 21, seen=lambda: f"acked {acked(service)}")
        assert last_rows(tmp_path) == 2
        body = {"boot": 1, "seq": 21, "readings": [
            {"sensor": "GT-1", "ts_ms": now + 21, "value": 3.0}]}
        began = time.monotonic()
        await asyncio.to_thread(publish, pub, topic, body)
        # by the deadline, with nothing else
        await until(lambda: acked(service) == 22, seen=lambda: f"acked {acked(service)}")
        assert 2.0 < time.monotonic() - began < 6.0
    finally:
        await stopped(task)
        pub.disconnect()
        recorder.close()
        service.close()
