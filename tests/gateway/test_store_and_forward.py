"""Store and forward against a real Mosquitto that is stopped and started again."""

from __future__ import annotations

import asyncio
import itertools
import os
import time
from pathlib import Path

import pytest

from hazmon.gateway.service import Gateway
from hazmon.testing.mqtt_clients import Client, Message, subscriber
from hazmon.testing.servers import Mosquitto
from tests.gateway.test_gateway_modbus import devices, gateway_config, running, show_plant

pytestmark = pytest.mark.integration

PERIOD_MS = 200
OUTAGE_S = float(os.environ.get("HAZMON_TEST_OUTAGE_S", "8"))


def wall_ms() -> int:
    return time.time_ns() // 1_000_000


def unique_batches(msgs: list[Message]) -> list[Message]:
    """First arrival of each (boot, seq): QoS 1 may deliver a message twice."""
    seen: dict[tuple[int, int], Message] = {}
    for m in msgs:
        key = (m.doc["boot"], m.doc["seq"])
        if key in seen:
            assert seen[key].doc == m.doc, "a redelivery must be the same message"
        else:
            seen[key] = m
    return list(seen.values())


def kept_subscriber(broker: Mosquitto, topic: str) -> Client:
    """A subscriber whose session the broker keeps (and with it what comes while the
    subscriber is disconnected, as when the broker restarts)."""
    return subscriber(broker.port, topic, session_expiry_s=600)


def first_ts(m: Message) -> int:
    return int(m.doc["readings"][0]["ts_ms"])


async def drained(gw: Gateway, timeout_s: float = 30) -> None:
    for _ in range(int(timeout_s * 10)):
        if not gw.backlog():
            return
        await asyncio.sleep(0.1)
    raise AssertionError(f"still {gw.backlog()} batches to deliver after {timeout_s} s")


async def broker_outage(broker: Mosquitto, unique_id: str, tmp_path: Path, outage_s: float) -> None:
    async with devices() as (panel, plc):
        cfg = gateway_config(
            unique_id, broker.url, tmp_path, panel.port, plc.port, replay_rate_msgs_s=50
        )
        show_plant(panel, plc, cfg)
        collector = kept_subscriber(broker, f"hazmon/v1/{unique_id}/gw-1/telemetry")
        gw = Gateway(cfg)
        try:
            async with running(gw):
                await collector.until(lambda m: True, count=5)
                await asyncio.to_thread(broker.stop)
                stopped_ms = wall_ms()
                await asyncio.sleep(outage_s)
                restart_ms = wall_ms()
                restarting_s = time.monotonic()  # the gateway may deliver before start() returns
                await asyncio.to_thread(broker.start)
                await drained(gw)
                await asyncio.sleep(1.0)  # some live data after the replay
            polls = gw.stats.polls
            await asyncio.sleep(1.0)
            msgs = unique_batches(collector.snapshot())
        finally:
            collector.close()
    # none lost: one batch per poll, every seq of the boot, no hole in time
    assert len(msgs) == polls
    assert sorted(m.doc["seq"] for m in msgs) == list(range(polls))
    # the gateway kept polling through the outage: no stall of two periods or more (a
    # poll may start a few ms late on a busy machine, so one late poll is not a hole)
    times = sorted(first_ts(m) for m in msgs)
    assert max(b - a for a, b in itertools.pairwise(times)) < 2.5 * PERIOD_MS
    # what was read while the broker was down arrives afterwards, flagged historical
    during = [m for m in msgs if stopped_ms < first_ts(m) < restart_ms]
    assert len(during) >= outage_s * 1000 / PERIOD_MS - 2
    assert all(m.doc["historical"] for m in during)
    assert all(m.at_s > restarting_s for m in during)
    historical = [m for m in msgs if m.doc["historical"]]
    assert [first_ts(m) for m in historical] == sorted(first_ts(m) for m in historical)  # in order
    live_after = [m for m in msgs if not m.doc["historical"] and first_ts(m) > restart_ms]
    assert live_after, "live data flows again"
    # live data went first: some live batch arrived before the replay finished
    assert min(m.at_s for m in live_after) < max(m.at_s for m in historical)


async def test_broker_outage_every_reading_arrives_historical_in_order(
    fresh_mosquitto: Mosquitto, unique_id: str, tmp_path: Path
) -> None:
    await broker_outage(fresh_mosquitto, unique_id, tmp_path, OUTAGE_S)


@pytest.mark.slow
async def test_broker_outage_of_a_minute(
    fresh_mosquitto: Mosquitto, unique_id: str, tmp_path: Path
) -> None:
    await broker_outage(fresh_mosquitto, unique_id, tmp_path, 60.0)


async def test_restart_keeps_the_buffer_and_counts_the_boot(
    fresh_mosquitto: Mosquitto, unique_id: str, tmp_path: Path
) -> None:
    broker = fresh_mosquitto
    # subscribed (persistent session) before the outage, so that nothing the gateway
    # replays right after the broker is back can slip past the collector
    collector = kept_subscriber(broker, f"hazmon/v1/{unique_id}/gw-1/telemetry")
    await asyncio.to_thread(broker.stop)
    async with devices() as (panel, plc):
        cfg = gateway_config(unique_id, broker.url, tmp_path, panel.port, plc.port)
        show_plant(panel, plc, cfg)
        first = Gateway(cfg)
        async with running(first):
            await asyncio.sleep(1.5)
        offline_polls = first.stats.polls
        await asyncio.to_thread(broker.start)
        collector.close()
        collector = kept_subscriber(broker, f"hazmon/v1/{unique_id}/gw-1/#")
        second = Gateway(cfg)
        try:
            async with running(second):
                await drained(second)
                await collector.until(
                    lambda m: m.topic.endswith("telemetry"), count=offline_polls + 2
                )
        finally:
            collector.close()
    telemetry = unique_batches(collector.snapshot("telemetry"))
    historical = [m for m in telemetry if m.doc["historical"]]
    assert offline_polls >= 5 and len(historical) == offline_polls
    assert {m.doc["boot"] for m in telemetry} == {1}
    assert [first_ts(m) for m in historical] == sorted(first_ts(m) for m in historical)
    states = [m.doc for m in collector.snapshot("state")]
    assert states[0] == {"online": True, "boot": 1, "ts_ms": states[0]["ts_ms"]}


async def test_a_full_buffer_evicts_the_oldest_counts_them_and_leaves_a_seq_gap(
    fresh_mosquitto: Mosquitto, unique_id: str, tmp_path: Path
) -> None:
    broker = fresh_mosquitto
    # subscribed (persistent session) before the outage, so that nothing the gateway
    # replays right after the broker is back can slip past the collector
    collector = kept_subscriber(broker, f"hazmon/v1/{unique_id}/gw-1/telemetry")
    await asyncio.to_thread(broker.stop)
    async with devices() as (panel, plc):
        cfg = gateway_config(
            unique_id,
            broker.url,
            tmp_path,
            panel.port,
            plc.port,
            max_messages=10,
            replay_rate_msgs_s=100,
        )
        show_plant(panel, plc, cfg)
        gw = Gateway(cfg)
        try:
            async with running(gw):
                await asyncio.sleep(3.0)
                await asyncio.to_thread(broker.start)
                await drained(gw)
                offline_polls = gw.stats.buffered
                evicted = gw.buffer.evicted_messages
                await collector.until(lambda m: m.doc["historical"], count=10, timeout_s=30)
        finally:
            collector.close()
    assert offline_polls >= 12 and evicted == offline_polls - 10
    msgs = sorted(unique_batches(collector.snapshot()), key=lambda m: m.doc["seq"])
    historical = [m for m in msgs if m.doc["historical"]]
    assert len(historical) == 10
    # the platform counts the evicted batches as lost: the seq skips exactly that many
    assert min(m.doc["seq"] for m in msgs) == evicted
    times = [first_ts(m) for m in historical]
    assert times == sorted(times)  # the newest ten offline batches, oldest first
