"""Ingest against a real Mosquitto and a real InfluxDB: exactly N in, exactly N stored."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from hazmon.contract.settings import InfluxAddress, Settings, parse_broker_url
from hazmon.ingest.service import IngestService, IngestTuning
from hazmon.stores.base import Store
from hazmon.stores.influx import InfluxStore
from hazmon.testing.servers import InfluxDB, Mosquitto
from tests.ingest.helpers import (
    Publisher,
    good_messages,
    running,
    sample,
    small_registry,
    state_message,
    wait_until,
)

pytestmark = pytest.mark.integration
NOW_MS = 2_000_000_000_000


@pytest.fixture
def store(influxdb: InfluxDB, influx_db: str) -> Iterator[InfluxStore]:
    store = InfluxStore(InfluxAddress(influxdb.url, influx_db))
    yield store
    store.close()


def make_service(
    broker: Mosquitto, store: Store, data: Path, site: str, **kw: Any
) -> IngestService:
    return IngestService(
        registry=small_registry(site),
        broker=parse_broker_url(broker.url),
        settings=Settings(),
        store=store,
        data_dir=data,
        tuning=IngestTuning(flush_interval_s=0.2, stats_interval_s=1.0),
        **kw,
    )


def test_n_readings_published_are_n_rows(
    fresh_mosquitto: Mosquitto,
    influxdb: InfluxDB,
    influx_db: str,
    tmp_path: Path,
    unique_id: str,
    store: InfluxStore,
) -> None:
    service = make_service(fresh_mosquitto, store, tmp_path, unique_id)
    messages = list(good_messages(unique_id, gateways=2, sensors=10, messages=200, per_message=50))
    n = 2 * 200 * 50
    with running(service):
        publisher = Publisher(fresh_mosquitto.host, fresh_mosquitto.port)
        for topic, payload in messages:
            publisher.publish(topic, payload)
        publisher.close()
        wait_until(lambda: influxdb.count(influx_db, "reading", "value") >= n, what="N rows")
        wait_until(
            lambda: sample(service, "hazmon_ingest_messages_acked_total") == len(messages),
            what="acks",
        )
    assert influxdb.count(influx_db, "reading", "value") == n
    assert sample(service, "hazmon_ingest_readings_stored_total") == n
    assert sample(service, "hazmon_ingest_dead_letters_total") == 0


def test_gateway_status_and_ingest_stats_are_written(
    fresh_mosquitto: Mosquitto,
    influxdb: InfluxDB,
    influx_db: str,
    tmp_path: Path,
    unique_id: str,
    store: InfluxStore,
) -> None:
    service = make_service(fresh_mosquitto, store, tmp_path, unique_id)
    with running(service):
        publisher = Publisher(fresh_mosquitto.host, fresh_mosquitto.port)
        topic, payload = state_message(unique_id, "gw0", online=True, boot=3)
        publisher.publish(topic, payload, retain=True)
        sent = list(good_messages(unique_id, gateways=1, sensors=10, messages=6, per_message=1))
        for seq in (0, 1, 4, 5):  # 2 and 3 never arrive
            publisher.publish(sent[seq][0], sent[seq][1].replace(b'"boot":1', b'"boot":3'))
        publisher.close()

        def lost_two() -> bool:
            rows = store.points(
                "gateway_status",
                from_ms=0,
                to_ms=NOW_MS,
                tags={"site": unique_id, "gateway": "gw0"},
                limit=1,
            )
            return bool(rows) and rows[0].fields["lost_messages"] == 2

        wait_until(lost_two, what="lost_messages = 2")
        stats = lambda: store.points("ingest_stats", from_ms=0, to_ms=NOW_MS, limit=50)  # noqa: E731
        wait_until(
            lambda: any(r.fields.get("readings_in") == 4 for r in stats()),
            timeout_s=30,
            what="ingest_stats",
        )
    (row,) = store.points(
        "gateway_status",
        from_ms=0,
        to_ms=NOW_MS,
        tags={"site": unique_id, "gateway": "gw0"},
        limit=1,
    )
    assert row.fields["online"] is True
    assert sample(service, "hazmon_ingest_lost_messages_total", site=unique_id, gateway="gw0") == 2
    assert all(r.tags["instance"] == service.client_id for r in stats())
