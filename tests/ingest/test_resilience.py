"""Nothing lost: InfluxDB stopped mid-stream, ingest SIGKILLed, two ingests sharing the load.

All against a real Mosquitto and a real InfluxDB; ingest runs as `hazmon ingest`
processes where a test kills it or runs two.
"""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import pytest

from hazmon.contract.settings import InfluxAddress, Settings, parse_broker_url
from hazmon.ingest.service import IngestService, IngestTuning
from hazmon.stores.influx import InfluxStore
from hazmon.testing.servers import InfluxDB, Mosquitto
from tests.ingest.helpers import (
    good_messages,
    registry_yaml,
    running,
    sample,
    small_registry,
    wait_until,
)
from tests.ingest.procs import IngestProcess, PacedPublisher

pytestmark = pytest.mark.integration


@pytest.fixture
def config(tmp_path: Path, unique_id: str) -> Path:
    path = tmp_path / "plant.yaml"
    path.write_text(registry_yaml(unique_id))
    return path


def stored(influxdb: InfluxDB, db: str) -> int:
    return influxdb.count(db, "reading", "value")


def influx_ingest(
    broker: Mosquitto, store: InfluxStore, tmp_path: Path, unique_id: str
) -> IngestService:
    """An in-process ingest of the small plant into `store`, flushing every 0.2 s."""
    return IngestService(
        registry=small_registry(unique_id),
        broker=parse_broker_url(broker.url),
        settings=Settings(),
        store=store,
        data_dir=tmp_path,
        tuning=IngestTuning(flush_interval_s=0.2),
    )


def test_sigkill_mid_stream_then_restart_loses_nothing(
    fresh_mosquitto: Mosquitto,
    influxdb: InfluxDB,
    influx_db: str,
    tmp_path: Path,
    unique_id: str,
    config: Path,
) -> None:
    messages = list(good_messages(unique_id, gateways=2, sensors=10, messages=600, per_message=50))
    n = len(messages) * 50
    ingest = IngestProcess(
        config=config,
        broker=fresh_mosquitto.url,
        influx=f"{influxdb.url}/{influx_db}",
        data=tmp_path / "data",
    )
    ingest.start()
    publisher = PacedPublisher(fresh_mosquitto.host, fresh_mosquitto.port, messages, 300)
    publisher.start()
    wait_until(lambda: stored(influxdb, influx_db) > n // 4, what="a quarter stored")
    ingest.kill()
    killed_at = stored(influxdb, influx_db)
    time.sleep(0.5)
    ingest.start()  # same data folder: same client id, the broker session resumes
    publisher.finish()
    wait_until(lambda: stored(influxdb, influx_db) >= n, timeout_s=90, what="all N stored")
    assert 0 < killed_at < n, "the kill did not land mid-stream"
    assert stored(influxdb, influx_db) == n
    assert ingest.stop() == 0


def test_two_ingests_on_a_shared_subscription_split_the_load(
    fresh_mosquitto: Mosquitto,
    influxdb: InfluxDB,
    influx_db: str,
    tmp_path: Path,
    unique_id: str,
    config: Path,
) -> None:
    ingests = [
        IngestProcess(
            config=config,
            broker=fresh_mosquitto.url,
            influx=f"{influxdb.url}/{influx_db}",
            data=tmp_path / f"data{i}",
            share="ingest",
        )
        for i in range(2)
    ]
    for ingest in ingests:
        ingest.start()
    messages = list(good_messages(unique_id, gateways=2, sensors=10, messages=200, per_message=50))
    n = len(messages) * 50
    publisher = PacedPublisher(fresh_mosquitto.host, fresh_mosquitto.port, messages, 2000)
    publisher.start()
    publisher.finish()
    wait_until(lambda: stored(influxdb, influx_db) >= n, what="all N stored")
    wait_until(
        lambda: (
            sum(i.metrics()["hazmon_ingest_messages_acked_total"] for i in ingests) >= len(messages)
        ),
        what="every message acknowledged",
    )
    received = [i.metrics()["hazmon_ingest_readings_total"] for i in ingests]
    assert stored(influxdb, influx_db) == n
    assert sum(received) == n, f"doubled or missing: {received}"
    assert min(received) > n * 0.2, f"not shared: {received}"
    for ingest in ingests:
        assert ingest.stop() == 0


@pytest.mark.slow
def test_influxdb_stopped_for_30_s_mid_stream_loses_nothing(
    fresh_mosquitto: Mosquitto,
    fresh_influxdb: InfluxDB,
    tmp_path: Path,
    unique_id: str,
) -> None:
    store = InfluxStore(InfluxAddress(fresh_influxdb.url, "hazmon"))
    service = influx_ingest(fresh_mosquitto, store, tmp_path, unique_id)
    messages = list(good_messages(unique_id, gateways=2, sensors=10, messages=900, per_message=50))
    n = len(messages) * 50
    spool_seen = 0
    with running(service):
        assert service.spool is not None
        publisher = PacedPublisher(fresh_mosquitto.host, fresh_mosquitto.port, messages, 45)
        publisher.start()
        time.sleep(5)
        fresh_influxdb.stop()
        outage_end = time.monotonic() + 30
        while time.monotonic() < outage_end:
            spool_seen = max(spool_seen, service.spool.depth)
            time.sleep(0.5)
        fresh_influxdb.start()
        publisher.finish()
        wait_until(
            lambda: fresh_influxdb.count("hazmon", "reading", "value") >= n,
            timeout_s=90,
            what="all N stored after the outage",
        )
        wait_until(
            lambda: service.spool is not None and service.spool.depth == 0,
            what="the spool replayed",
        )
    assert fresh_influxdb.count("hazmon", "reading", "value") == n
    assert spool_seen > 10, "the outage should have been spooled"
    assert sample(service, "hazmon_ingest_replayed_batches_total") >= spool_seen
    assert sample(service, "hazmon_ingest_store_up") == 1
    store.close()


def test_sigkill_with_batches_in_the_spool_then_restart_replays_them(
    fresh_mosquitto: Mosquitto,
    fresh_influxdb: InfluxDB,
    tmp_path: Path,
    unique_id: str,
    config: Path,
) -> None:
    ingest = IngestProcess(
        config=config,
        broker=fresh_mosquitto.url,
        influx=f"{fresh_influxdb.url}/hazmon",
        data=tmp_path / "data",
    )
    fresh_influxdb.stop()
    ingest.start()
    messages = list(good_messages(unique_id, gateways=2, sensors=10, messages=100, per_message=50))
    publisher = PacedPublisher(fresh_mosquitto.host, fresh_mosquitto.port, messages, 500)
    publisher.start()
    publisher.finish()
    wait_until(
        lambda: ingest.metrics()["hazmon_ingest_messages_acked_total"] == len(messages),
        what="everything acknowledged from the spool",
    )
    assert ingest.metrics()["hazmon_ingest_spool_depth"] > 0
    ingest.kill()  # acknowledged, in the spool only, and the process gone
    fresh_influxdb.start()
    ingest.start()
    n = len(messages) * 50
    wait_until(
        lambda: fresh_influxdb.count("hazmon", "reading", "value") >= n,
        what="the spool replayed after the restart",
    )
    assert fresh_influxdb.count("hazmon", "reading", "value") == n
    assert ingest.stop() == 0


@pytest.mark.slow
def test_a_hung_influxdb_is_spooled_around_and_nothing_is_lost(
    fresh_mosquitto: Mosquitto,
    fresh_influxdb: InfluxDB,
    tmp_path: Path,
    unique_id: str,
) -> None:
    """InfluxDB frozen (SIGSTOP) rather than stopped: writes time out, ingest spools."""
    store = InfluxStore(InfluxAddress(fresh_influxdb.url, "hazmon"), write_timeout_s=1.0)
    service = influx_ingest(fresh_mosquitto, store, tmp_path, unique_id)
    messages = list(good_messages(unique_id, gateways=2, sensors=10, messages=300, per_message=50))
    n = len(messages) * 50
    assert fresh_influxdb.pid is not None
    with running(service):
        publisher = PacedPublisher(fresh_mosquitto.host, fresh_mosquitto.port, messages, 50)
        publisher.start()
        time.sleep(2)
        os.kill(fresh_influxdb.pid, signal.SIGSTOP)
        try:
            time.sleep(8)
        finally:
            os.kill(fresh_influxdb.pid, signal.SIGCONT)
        publisher.finish()
        wait_until(
            lambda: fresh_influxdb.count("hazmon", "reading", "value") >= n,
            timeout_s=60,
            what="all N stored",
        )
    assert fresh_influxdb.count("hazmon", "reading", "value") == n
    assert sample(service, "hazmon_ingest_spooled_batches_total") > 0
    assert sample(service, "hazmon_ingest_store_errors_total", kind="unavailable") > 0
    store.close()


def test_a_broker_restart_mid_stream_loses_nothing(
    fresh_mosquitto: Mosquitto,
    influxdb: InfluxDB,
    influx_db: str,
    tmp_path: Path,
    unique_id: str,
) -> None:
    """Mosquitto stopped and started again: ingest reconnects, its session (kept by the
    broker across the restart) delivers what was not acknowledged."""
    store = InfluxStore(InfluxAddress(influxdb.url, influx_db))
    service = influx_ingest(fresh_mosquitto, store, tmp_path, unique_id)
    messages = list(good_messages(unique_id, gateways=2, sensors=10, messages=100, per_message=50))
    half = len(messages) // 2
    n = len(messages) * 50
    with running(service):
        assert service.link is not None
        first = PacedPublisher(fresh_mosquitto.host, fresh_mosquitto.port, messages[:half], 500)
        first.start()
        first.finish()
        fresh_mosquitto.restart()
        second = PacedPublisher(fresh_mosquitto.host, fresh_mosquitto.port, messages[half:], 500)
        second.start()
        second.finish()
        wait_until(lambda: stored(influxdb, influx_db) >= n, what="all N stored")
        assert service.link.generation >= 2  # it did reconnect
    assert stored(influxdb, influx_db) == n
    store.close()
