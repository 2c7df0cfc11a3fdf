"""Feed accounting end to end: a gateway silent 3 of 60 minutes is online 95 % in
GET /api/v1/feeds and in the monthly feed report.

Real: Mosquitto and InfluxDB (started by the fixtures on loopback), the MQTT messages
of the gateway (published with QoS 1 by a paho client), ingest (`IngestService`, its
decoding, seq tracking, silence detection, feed counting, batching and InfluxDB
writes), the `gateway_status` and `gateway_feed` points in InfluxDB, and the API
(`create_app` over an `InfluxStore` on that database, called through httpx's ASGI
transport) reading them back.

Simulated: time. Ingest takes its receiving clock from the test (`clock_ms`, a
`ManualClock`), and the gateway's messages are stamped with that clock: the hour
(2025-11-30 23:00 to 24:00 CST, the last hour of November) passes in a few seconds:
the clock is moved to each message's time before it is published, and the test waits
until ingest has taken it. The gateway sends every 6 s and falls silent from 23:20 to
23:23; the clock is moved into the silence until ingest's silence watch (every 20 ms
here, every second in production) has judged it offline. The alarm desk of the API
is the in-memory one (no alarm is raised in this test).
"""

from __future__ import annotations

import csv
import hashlib
import io
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from hazmon.api.app import create_app
from hazmon.api.testing import DrivenDesk, ManualClock
from hazmon.contract.config import parse_registry
from hazmon.contract.registry import Registry
from hazmon.contract.settings import InfluxAddress, Settings, parse_broker_url
from hazmon.contract.topics import telemetry
from hazmon.ingest.service import IngestService, IngestTuning
from hazmon.stores.influx import InfluxStore
from hazmon.testing.servers import InfluxDB, Mosquitto
from tests.ingest.helpers import Publisher, batch, registry_yaml, running, wait_until

pytestmark = pytest.mark.integration

T0_MS = 1_764_514_800_000  # 2025-11-30T15:00:00Z = 23:00 CST, November's last hour
MIN = 60_000
HOUR = 3_600_000
PERIOD_MS = 6_000
GAP = (T0_MS + 20 * MIN, T0_MS + 23 * MIN)  # no message strictly inside
TOKEN = "feeds-auditor"


def registry(site: str) -> Registry:
    digest = hashlib.sha256(TOKEN.encode()).hexdigest()
    text = registry_yaml(site, gateways=1, sensors=2)
    text += f"auth:\n  tokens:\n    - {{name: audit, role: auditor, sha256: '{digest}'}}\n"
    return parse_registry(text)


@pytest.fixture
def store(influxdb: InfluxDB, influx_db: str) -> Iterator[InfluxStore]:
    store = InfluxStore(InfluxAddress(influxdb.url, influx_db))
    yield store
    store.close()


def drive_the_hour(service: IngestService, clock: ManualClock, site: str, broker: Mosquitto
                   ) -> int:
    """Publish the gateway's hour on the moved clock; the messages published."""
    tracker = service.pipeline.tracker
    publisher = Publisher(broker.host, broker.port)
    times = [t for t in range(T0_MS, T0_MS + HOUR, PERIOD_MS) if not GAP[0] < t < GAP[1]]
    seq = 0
    for i, t in enumerate(times):
        clock.now_ms = t
        if t == GAP[1]:  # back after the silence: with a message stamped in the gap
            backfill = batch(1, seq, [{"sensor": "GT-001", "ts_ms": GAP[0] + MIN,
                                       "value": 2.0}], historical=True)
            publisher.publish(telemetry(site, "gw0"), backfill)
            seq += 1
        if i == 100:
            seq += 1  # one message never arrives: lost
        reading = {"sensor": "GT-000", "ts_ms": t, "value": 1.0,
                   "quality": "uncertain" if i == 50 else "good"}
        publisher.publish(telemetry(site, "gw0"), batch(1, seq, [reading]))
        wait_until(lambda s=seq: tracker.state(site, "gw0").last_seq == s, timeout_s=30,
                   every_s=0.002, what=f"message {seq} taken")
        seq += 1
        if t == GAP[0]:  # fall silent: judged offline 10 s (offline_after_s) on
            clock.now_ms = GAP[0] + 30_000
            wait_until(lambda: tracker.state(site, "gw0").online is False, timeout_s=30,
                       every_s=0.01, what="the silence judged")
    clock.now_ms = T0_MS + HOUR
    publisher.close()
    return len(times) + 1


def test_a_gateway_silent_3_of_60_minutes_is_online_95_percent(
    fresh_mosquitto: Mosquitto, influxdb: InfluxDB, influx_db: str, store: InfluxStore,
    tmp_path: Path, unique_id: str,
) -> None:
    site = unique_id
    plant = registry(site)
    clock = ManualClock(T0_MS)
    service = IngestService(
        registry=plant, broker=parse_broker_url(fresh_mosquitto.url), settings=Settings(),
        store=store, data_dir=tmp_path, clock_ms=clock,
        tuning=IngestTuning(flush_interval_s=0.1, stats_interval_s=0.5,
                            silence_interval_s=0.02),
    )
    started = time.monotonic()
    with running(service):
        published = drive_the_hour(service, clock, site, fresh_mosquitto)

        def all_counted() -> bool:
            rows = store.points("gateway_feed", from_ms=T0_MS, to_ms=T0_MS,
                                tags={"site": site})
            return sum(int(r.fields.get("messages") or 0) for r in rows) == published

        wait_until(all_counted, timeout_s=30, what="the hour's counts in InfluxDB")
    assert time.monotonic() - started < 120

    app = create_app(registry=plant, desk=DrivenDesk(plant), store=store, metrics=[],
                     health=lambda: {"broker": True, "store": True})
    answers = _ask(app, site)
    feeds, report = answers
    (gateway,) = feeds["sites"][0]["gateways"]
    assert gateway["online_rate"] == pytest.approx(0.95, abs=0.01)
    assert gateway["offline_ms"] == pytest.approx(3 * MIN, abs=10_000)
    assert gateway["unknown_ms"] == 0
    (period,) = gateway["offline_periods"]
    assert period["start_ms"] == GAP[0] and period["end_ms"] == GAP[1]
    assert gateway["lost_messages"] == 1 and gateway["messages"] == published
    assert (gateway["historical_messages"], gateway["historical_readings"]) == (1, 1)
    assert gateway["not_good_readings"] == 1
    rows = list(csv.reader(io.StringIO(report.lstrip("\ufeff"))))
    row = rows[rows.index(["2. Gateways"]) + 2]
    assert row[0] == "gw0" and float(row[1]) == pytest.approx(95.0, abs=1.0)
    summary = {r[0]: r[1] for r in rows if len(r) == 2}
    assert summary["Messages lost"] == "1" and summary["Back-filled messages"] == "1"
    assert any(r[:3] == ["gw0", "2025-11-30 23:20:00", "2025-11-30 23:23:00"] for r in rows)


def _ask(app: object, site: str) -> tuple[dict[str, object], str]:
    import asyncio

    async def ask() -> tuple[dict[str, object], str]:
        transport = httpx.ASGITransport(app=app)  # type: ignore[arg-type]
        headers = {"Authorization": f"Bearer {TOKEN}"}
        async with httpx.AsyncClient(transport=transport, base_url="http://hazmon.test") as c:
            feeds = await c.get(f"/api/v1/feeds?from_ms={T0_MS}&to_ms={T0_MS + HOUR}",
                                headers=headers)
            assert feeds.status_code == 200, feeds.text
            report = await c.get(f"/api/v1/sites/{site}/feed-report?month=2025-11"
                                 "&format=csv&lang=en", headers=headers)
            assert report.status_code == 200, report.text
            return feeds.json(), report.text

    return asyncio.run(ask())
