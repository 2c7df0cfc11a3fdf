"""Ingest with wrong InfluxDB credentials, against a real InfluxDB with auth enabled:
it used to spool quietly forever (a warning once, /health ok). Now /health fails and
an error is logged every REFUSED_LOG_INTERVAL_S (a minute) until a write works; the
readings are spooled and written once the credentials are right."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path

import httpx
import orjson
import pytest

from hazmon.contract.settings import InfluxAddress, Settings, parse_broker_url
from hazmon.contract.topics import telemetry
from hazmon.ingest import writer as writer_module
from hazmon.ingest.http import serve
from hazmon.ingest.service import IngestService, IngestTuning
from hazmon.stores.influx import InfluxStore
from hazmon.testing.servers import InfluxDB, Mosquitto, free_port
from tests.ingest.helpers import T_BASE_MS, Publisher, running, small_registry, wait_until

pytestmark = pytest.mark.integration
ADMIN, PASSWORD = "admin", "the-right-password"


class AuthInfluxDB(InfluxDB):
    """The test InfluxDB with `auth-enabled = true` and one admin user."""

    def _write_config(self) -> list[str]:
        argv = super()._write_config()
        config = self.dir / "influxdb.conf"
        config.write_text(config.read_text().replace("auth-enabled = false", "auth-enabled = true"))
        return argv

    def start(self) -> None:
        super().start()
        httpx.post(f"{self.url}/query", timeout=10, data={
            "q": f"CREATE USER {ADMIN} WITH PASSWORD '{PASSWORD}' WITH ALL PRIVILEGES"},
        ).raise_for_status()  # fmt: skip


@pytest.fixture(scope="module")
def influx() -> Iterator[AuthInfluxDB]:
    server = AuthInfluxDB()
    try:
        server.start()
        yield server
    finally:
        server.close()


def test_wrong_credentials_fail_health_and_log_an_error_until_fixed(
    influx: AuthInfluxDB, fresh_mosquitto: Mosquitto, tmp_path: Path, unique_id: str,
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture,
) -> None:  # fmt: skip
    monkeypatch.setattr(writer_module, "REFUSED_LOG_INTERVAL_S", 1.0)  # a minute in production
    secret = tmp_path / "influx.password"
    secret.write_text("a-wrong-password\n")
    settings = Settings(influx_username=ADMIN, influx_password_file=secret)
    store = InfluxStore(InfluxAddress(influx.url, unique_id), settings=settings)
    service = IngestService(
        registry=small_registry(unique_id, gateways=1, sensors=2),
        broker=parse_broker_url(fresh_mosquitto.url), settings=Settings(), store=store,
        data_dir=tmp_path / "data", tuning=IngestTuning(flush_interval_s=0.1),
    )  # fmt: skip
    port = free_port()
    caplog.set_level(logging.ERROR, logger="hazmon.ingest.writer")
    with running(service):
        http = serve("127.0.0.1", port, registry=service.metrics_registry, health=service.health)
        try:
            gateway = Publisher(fresh_mosquitto.host, fresh_mosquitto.port)
            payload = {"boot": 1, "seq": 0,
                       "readings": [{"sensor": "GT-000", "ts_ms": T_BASE_MS, "value": 1.0}]}
            gateway.publish(telemetry(unique_id, "gw0"), orjson.dumps(payload))
            gateway.close()
            wait_until(lambda: len([r for r in caplog.records
                                    if "refuses hazmon's credentials" in r.message]) >= 2,
                       timeout_s=30, what="the error, repeated")  # fmt: skip
            answer = httpx.get(f"http://127.0.0.1:{port}/health", timeout=5)
            assert answer.status_code == 503
            assert answer.json()["store_refused"] is True
            assert not store.ping()  # `hazmon up`'s /health asks the store this
            assert service.spool is not None and service.spool.depth >= 1  # kept, not lost
        finally:
            http.shutdown()
            http.server_close()
    store.close()
    right = Settings(influx_username=ADMIN, influx_password=PASSWORD)
    fixed = InfluxStore(InfluxAddress(influx.url, unique_id), settings=right)
    service = IngestService(
        registry=small_registry(unique_id, gateways=1, sensors=2),
        broker=parse_broker_url(fresh_mosquitto.url), settings=Settings(), store=fixed,
        data_dir=tmp_path / "data", tuning=IngestTuning(flush_interval_s=0.1),
    )  # fmt: skip
    with running(service):  # the spool is replayed with the right credentials
        wait_until(lambda: fixed.count_readings() == 1, timeout_s=60, what="the spooled reading")
        assert service.health()["store_refused"] is False
        assert fixed.ping()
    fixed.close()
