"""The alarm service over a real Mosquitto: readings in, alarm events out on the
topic, risk grades retained, the journal anchored at stop."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest

from hazmon.alarms.core.inputs import Ack, BypassPermit, OutOfService
from hazmon.alarms.notifiers import MemoryNotifier
from hazmon.alarms.service import AlarmService, Timing
from hazmon.contract.config import parse_registry
from hazmon.contract.settings import Settings, parse_broker_url
from hazmon.stores.memory import MemoryStore
from hazmon.testing.mqtt_clients import Check, subscriber
from hazmon.testing.servers import Mosquitto
from tests.alarms.mqtt_helpers import publish, publisher, started, stopped
from tests.alarms.plant import small_registry_text

pytestmark = pytest.mark.integration


def now_ms() -> int:
    return time.time_ns() // 1_000_000




def is_event(site: str, event: str, condition: str) -> Check:
    return lambda m: (m.topic == f"hazmon/v1/{site}/alarms" and m.doc["event"] == event
                      and m.doc["condition"] == condition)


async def test_readings_in_alarm_events_out(
    mosquitto: Mosquitto, unique_id: str, tmp_path: Path
) -> None:
    site = unique_id
    registry = parse_registry(small_registry_text(site))
    store = MemoryStore()
    duty = MemoryNotifier()
    service = AlarmService(
        registry=registry, broker=parse_broker_url(mosquitto.url), settings=Settings(),
        store=store, data_dir=tmp_path, client_id=f"alarms-{unique_id}",
        timing=Timing(tick_s=0.2), notifiers={"duty": duty, "lead": MemoryNotifier()},
    )
    recorder = subscriber(mosquitto.port, f"hazmon/v1/{site}/#", "hazmon/v1/journal/head")
    pub = publisher(mosquitto.port)
    task = await started(service)
    try:
        telemetry = f"hazmon/v1/{site}/gw1/telemetry"
        batch = {"boot": 1, "seq": 0, "readings": [
            {"sensor": "GT-1", "ts_ms": now_ms(), "value": 55.0},
            {"sensor": "RC-1", "ts_ms": now_ms(), "value": 120.0}]}
        await asyncio.to_thread(publish, pub, telemetry, batch)
        await asyncio.to_thread(publish, pub, telemetry, batch)  # a redelivery
        raised = (await recorder.until(is_event(site, "raised", "high_high")))[0].doc
        assert raised["alarm_id"] == f"{site}/GT-1/high_high#1"
        assert (raised["priority"], raised["state"], raised["value"]) == ("critical", "unack", 55.0)
        assert raised["gateway"] == "gw1" and raised["key"] == f"{site}/GT-1/high_high"
        red = (await recorder.until(
            lambda m: m.topic == f"hazmon/v1/{site}/risk" and m.doc["grade"] == "red"))[0].doc
        assert red["site"] == site
        await recorder.until(is_event(site, "notified", "high_high"))
        assert sorted(r.alarm_id for r in duty.received) == [
            f"{site}/GT-1/high#1", raised["alarm_id"]]
        # the operator acks: the event goes out too
        alarm = service.desk.act(Ack(raised["alarm_id"], user="zhang.wei", note="on my way"))
        assert alarm["state"] == "acked"
        acked = (await recorder.until(is_event(site, "acked", "high_high")))[0].doc
        assert acked["user"] == "zhang.wei"
        # the will message: one offline alarm
        await asyncio.to_thread(publish, pub, f"hazmon/v1/{site}/gw1/state",
                                {"online": False, "boot": 1}, retain=True)
        await recorder.until(is_event(site, "raised", "offline"))
        await asyncio.to_thread(publish, pub, f"hazmon/v1/{site}/gw1/state", b"", retain=True)
    finally:
        await stopped(task)
        pub.disconnect()
    assert len([m for m in recorder.snapshot() if is_event(site, "raised", "high_high")(m)]) == 1
    verification = service.desk.journal_verify()
    mine = verification["head"]["hash"]  # the topic is shared: find our retained anchor
    head = recorder.wait_for(
        lambda m: m.topic == "hazmon/v1/journal/head" and m.doc["hash"] == mine)[0].doc
    assert verification["ok"] and head["seq"] == verification["entries"]
    assert verification["anchor"]["hash"] == head["hash"]
    events = {r.tags["event"] for r in store.points("alarm_event", from_ms=0, to_ms=2**62)}
    assert {"raised", "acked", "notified"} <= events
    assert store.points("site_risk", from_ms=0, to_ms=2**62, tags={"site": site})
    assert store.points("journal_head", from_ms=0, to_ms=2**62)[0].fields["seq"] == head["seq"]
    metrics = service.metrics_registry.get_sample_value(
        "hazmon_alarm_events_total", {"event": "raised"})
    assert metrics is not None and metrics >= 3
    recorder.close()
    service.close()


async def test_mqtt_notifier_and_gateway_state_over_the_broker(
    mosquitto: Mosquitto, unique_id: str, tmp_path: Path
) -> None:
    site = unique_id
    notify_topic = f"hazmon/v1/notify/{site}"
    registry = parse_registry(small_registry_text(site, duty=f"{{mqtt: '{notify_topic}'}}"))
    service = AlarmService(
        registry=registry, broker=parse_broker_url(mosquitto.url), settings=Settings(),
        store=MemoryStore(), data_dir=tmp_path, timing=Timing(tick_s=0.2),
    )
    recorder = subscriber(mosquitto.port, f"hazmon/v1/{site}/#", notify_topic)
    pub = publisher(mosquitto.port)
    task = await started(service)
    try:
        await asyncio.to_thread(publish, pub, f"hazmon/v1/{site}/gw1/telemetry", {
            "boot": 1, "seq": 0, "readings": [{"sensor": "ESD-A", "ts_ms": now_ms(),
                                               "state": "tripped"}]})
        told = (await recorder.until(lambda m: m.topic == notify_topic))[0].doc
        assert (told["event"], told["condition"], told["value"]) == ("raised", "trip", "tripped")
        notified = (await recorder.until(is_event(site, "notified", "trip")))[0].doc
        assert notified["note"] == f"duty (tier 1): mqtt {notify_topic}: published"
        permit = service.desk.act(BypassPermit(
            site, "ESD-A", user="wang.eng", until_ms=now_ms() + 3_600_000, reason="proof test",
            approved_by="chief.li", compensating_measures="manual watch"))
        assert (permit["site"], permit["approved_by"]) == (site, "chief.li")
        oos = service.desk.act(OutOfService(site, "RC-1", user="wang.eng",
                                       until_ms=now_ms() + 3_600_000, reason="replaced"))
        assert oos["until_ms"] > now_ms() and oos["reason"] == "replaced"
        assert service.desk.risk_grades()[site] == "red"
    finally:
        await stopped(task)
        pub.disconnect()
        recorder.close()
    entries = "".join(service.desk.journal_export(from_ms=None, to_ms=None, site=site, fmt="jsonl"))
    assert '"event": "bypass_permit"' in entries and "chief.li" in entries
    assert '"event": "out_of_service"' in entries
    service.close()


async def test_retained_telemetry_is_acknowledged_and_never_evaluated(
    mosquitto: Mosquitto, unique_id: str, tmp_path: Path
) -> None:
    """Telemetry is never retained (docs/contract.md); a retained message would be read
    again on every resubscribe. One left on the broker raises nothing and is counted."""
    site = unique_id
    telemetry = f"hazmon/v1/{site}/gw1/telemetry"
    pub = publisher(mosquitto.port)
    crossing = {"boot": 1, "seq": 0, "readings": [
        {"sensor": "GT-1", "ts_ms": now_ms(), "value": 60.0}]}
    await asyncio.to_thread(publish, pub, telemetry, crossing, retain=True)
    service = AlarmService(
        registry=parse_registry(small_registry_text(site)),
        broker=parse_broker_url(mosquitto.url), settings=Settings(), store=MemoryStore(),
        data_dir=tmp_path, client_id=f"alarms-{unique_id}", timing=Timing(tick_s=0.2),
    )
    recorder = subscriber(mosquitto.port, f"hazmon/v1/{site}/alarms")
    task = await started(service)
    try:
        ignored = "hazmon_alarm_retained_telemetry_ignored_total"
        for _ in range(100):
            if service.metrics_registry.get_sample_value(ignored):
                break
            await asyncio.sleep(0.05)
        assert service.metrics_registry.get_sample_value(ignored) == 1.0
        assert service.desk.alarms(active=True, site=site) == []
        fresh = {"boot": 1, "seq": 1, "readings": [
            {"sensor": "GT-1", "ts_ms": now_ms(), "value": 30.0}]}
        await asyncio.to_thread(publish, pub, telemetry, fresh)
        raised = (await recorder.until(is_event(site, "raised", "high")))[0].doc
        assert raised["value"] == 30.0
        assert [m for m in recorder.snapshot() if is_event(site, "raised", "high_high")(m)] == []
    finally:
        await stopped(task)
        await asyncio.to_thread(publish, pub, telemetry, b"", retain=True)
        pub.disconnect()
        recorder.close()
        service.close()
