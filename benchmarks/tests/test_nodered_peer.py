"""The Node-RED peer of the end-to-end benchmark really stores what it is sent."""

from __future__ import annotations

import shutil
import time
from pathlib import Path

import pytest

from benchmarks.e2e import nodered
from benchmarks.e2e.load import Load, Segment
from benchmarks.e2e.plant import Plant
from benchmarks.e2e.store import Store
from hazmon.testing.servers import InfluxDB, Mosquitto

pytestmark = [
    pytest.mark.integration,
    pytest.mark.slow,
    pytest.mark.skipif(
        shutil.which("node") is None or shutil.which("npm") is None,
        reason="Node.js and npm are needed for the Node-RED peer",
    ),
]


def test_nodered_flow_stores_every_reading(
    fresh_mosquitto: Mosquitto, influxdb: InfluxDB, influx_db: str, tmp_path: Path
) -> None:
    plant = Plant(4, 50, gateways_per_site=2)
    flow = nodered.NodeRed(
        install_path=nodered.install(), work_dir=tmp_path,
        mqtt_host=fresh_mosquitto.host, mqtt_port=fresh_mosquitto.port,
        influx_host=influxdb.host, influx_port=influxdb.port, database=influx_db,
        sensor_kinds=plant.sensor_kinds(),
    )
    flow.start()
    try:
        deadline = time.monotonic() + 30
        while not flow.connected():
            assert flow.child.running, flow.child.log_tail()
            assert time.monotonic() < deadline, flow.child.log_tail()
            time.sleep(0.1)
        load = Load(
            host=fresh_mosquitto.host, port=fresh_mosquitto.port, plant=plant, per_message=50,
            crosser_every=10, segments=[Segment(3.0, 2000.0)], publishers=1, boot=1,
            seqs={}, last_ts_ms={},
        )
        load.prepare()
        load.go()
        (result,) = load.join()
        assert result.error is None
        store = Store(influxdb, influx_db)
        deadline = time.monotonic() + 20
        while store.stored_readings() < result.readings and time.monotonic() < deadline:
            time.sleep(0.5)
        stored = store.stored_readings()
        store.close()
        assert stored == result.readings == 6000
        rows = influxdb.query(influx_db, "SELECT * FROM reading LIMIT 1")["results"][0]
        columns = rows["series"][0]["columns"]
        assert {"gateway", "kind", "quality", "sensor", "site", "value"} <= set(columns)
        assert flow.errors() == []
    finally:
        flow.stop()
