"""A gateway's `boot` and `seq` as weapons, against a real Mosquitto and InfluxDB:

- a huge `boot` would become the gateway's high-water mark, after which its real
  messages and its will look like an older boot's: dead-lettered as `boot_jump`;
- a `seq` of 2^64-1 would make `lost_messages` 1.8e19, which InfluxDB refuses: `seq`
  is bounded (2^53-1) and the count saturates, the status point is always stored;
- retained telemetry would be read again on every resubscribe: ignored and counted.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from hazmon.contract.sequence import BOOT_JUMP, MAX_BOOT_STEP, MAX_LOST_MESSAGES, boot_jump
from hazmon.contract.settings import InfluxAddress, Settings, parse_broker_url
from hazmon.contract.topics import telemetry
from hazmon.ingest.service import IngestService, IngestTuning
from hazmon.stores.base import Row
from hazmon.stores.influx import InfluxStore
from hazmon.testing.servers import InfluxDB, Mosquitto
from tests.ingest.helpers import (
    T_BASE_MS,
    Publisher,
    batch,
    running,
    sample,
    small_registry,
    state_message,
    wait_until,
)

NOW_MS = 2_000_000_000_000


def test_boot_jump_is_a_step_beyond_the_last_known_boot() -> None:
    assert not boot_jump(None, 2**53 - 1)  # nothing known yet: the first boot is taken
    assert not boot_jump(7, 7 + MAX_BOOT_STEP)
    assert boot_jump(7, 8 + MAX_BOOT_STEP)
    assert not boot_jump(7, 3)  # an older boot is a late message, not a jump


@pytest.fixture
def store(influxdb: InfluxDB, influx_db: str) -> Iterator[InfluxStore]:
    store = InfluxStore(InfluxAddress(influxdb.url, influx_db))
    yield store
    store.close()


def _service(broker: Mosquitto, store: InfluxStore, data: Path, site: str) -> IngestService:
    return IngestService(
        registry=small_registry(site, gateways=1, sensors=2),
        broker=parse_broker_url(broker.url),
        settings=Settings(),
        store=store,
        data_dir=data,
        tuning=IngestTuning(flush_interval_s=0.1, stats_interval_s=3600.0),
    )


def _reading(site: str, n: int) -> list[dict[str, Any]]:
    return [{"sensor": "GT-000", "ts_ms": T_BASE_MS + n, "value": float(n)}]


def _status(store: InfluxStore, site: str) -> Row | None:
    rows = store.points("gateway_status", from_ms=0, to_ms=NOW_MS,
                        tags={"site": site, "gateway": "gw0"}, limit=1)  # fmt: skip
    return rows[0] if rows else None


@pytest.mark.integration
def test_a_huge_boot_is_dead_lettered_and_the_real_boot_goes_on(
    fresh_mosquitto: Mosquitto, influxdb: InfluxDB, influx_db: str, store: InfluxStore,
    tmp_path: Path, unique_id: str,
) -> None:  # fmt: skip
    site, topic = unique_id, telemetry(unique_id, "gw0")
    service = _service(fresh_mosquitto, store, tmp_path, site)
    with running(service):
        gateway = Publisher(fresh_mosquitto.host, fresh_mosquitto.port)
        gateway.publish(topic, batch(3, 0, _reading(site, 0)))
        gateway.publish(topic, batch(10**12, 0, _reading(site, 1)))  # the attack
        huge_state = state_message(site, "gw0", online=True, boot=2**53 - 1)
        gateway.publish(*huge_state)  # the same through the state topic
        gateway.publish(topic, batch(3, 1, _reading(site, 2)))
        gateway.wait()
        wait_until(lambda: influxdb.count(influx_db, "reading", "value") == 2, what="2 readings")
        dead = service.dead_letters
        assert dead is not None
        wait_until(lambda: dead.count(BOOT_JUMP) == 2, what="the boot_jump dead letters")
        assert service.pipeline.tracker.state(site, "gw0").boot == 3
        # the real boot's will is not taken for an older boot's: offline at once
        will_topic, will = state_message(site, "gw0", online=False, boot=3)
        gateway.publish(will_topic, will, retain=True)
        gateway.close()
        wait_until(lambda: (row := _status(store, site)) is not None
                   and row.fields["online"] is False, what="offline")  # fmt: skip
    status = _status(store, site)
    assert status is not None and status.fields["lost_messages"] == 0
    assert sample(service, "hazmon_ingest_rejected_total", reason=BOOT_JUMP) == 2


@pytest.mark.integration
def test_a_seq_jump_cannot_overflow_lost_messages(
    fresh_mosquitto: Mosquitto, influxdb: InfluxDB, influx_db: str, store: InfluxStore,
    tmp_path: Path, unique_id: str,
) -> None:  # fmt: skip
    site, topic = unique_id, telemetry(unique_id, "gw0")
    service = _service(fresh_mosquitto, store, tmp_path, site)
    with running(service):
        gateway = Publisher(fresh_mosquitto.host, fresh_mosquitto.port)
        gateway.publish(topic, batch(3, 0, _reading(site, 0)))
        gateway.publish(topic, batch(3, 2**64 - 1, _reading(site, 1)))  # out of bounds
        gateway.publish(topic, batch(3, 2**53 - 1, _reading(site, 2)))  # the largest gap
        gateway.publish(topic, batch(4, 2**53 - 1, _reading(site, 3)))  # and another
        gateway.close()
        wait_until(lambda: influxdb.count(influx_db, "reading", "value") == 3, what="3 readings")
        wait_until(lambda: (row := _status(store, site)) is not None
                   and row.fields["lost_messages"] == MAX_LOST_MESSAGES,
                   what="the saturated count, stored")  # fmt: skip
    assert sample(service, "hazmon_ingest_rejected_total", reason="bad_shape") == 1
    assert sample(service, "hazmon_ingest_store_errors_total", kind="rejected") == 0
    assert MAX_LOST_MESSAGES < 2**63  # an InfluxDB int64, and exact as a float64


@pytest.mark.integration
def test_retained_telemetry_is_ignored_on_every_subscribe(
    fresh_mosquitto: Mosquitto, influxdb: InfluxDB, influx_db: str, store: InfluxStore,
    tmp_path: Path, unique_id: str,
) -> None:  # fmt: skip
    site, topic = unique_id, telemetry(unique_id, "gw0")
    gateway = Publisher(fresh_mosquitto.host, fresh_mosquitto.port)
    gateway.publish(topic, batch(3, 0, _reading(site, 0)), retain=True)  # the attack
    gateway.wait()
    for run in (1, 2):  # a resubscribe gets the retained message again
        service = _service(fresh_mosquitto, store, tmp_path / str(run), site)
        with running(service):
            wait_until(lambda s=service: sample(s, "hazmon_ingest_retained_telemetry_ignored_total")
                       == 1, what="the retained message, ignored")  # fmt: skip
            gateway.publish(topic, batch(3, run, _reading(site, run)))  # live: taken
            gateway.wait()
            wait_until(lambda r=run: influxdb.count(influx_db, "reading", "value") == r,
                       what="the live reading")  # fmt: skip
            wait_until(lambda s=service: sample(s, "hazmon_ingest_messages_acked_total") == 2,
                       what="both acknowledged")  # fmt: skip
    gateway.close()
    assert influxdb.count(influx_db, "reading", "value") == 2
    values = influxdb.query(influx_db, 'SELECT "value" FROM "reading"')
    assert 0.0 not in [row[1] for s in values["results"][0]["series"] for row in s["values"]]
