"""Client-id takeover on a real Mosquitto running what `hazmon broker-config` writes.

Mosquitto closes the older connection of a client id that connects again. Before,
any broker user (another site's gateway) connecting with hazmon-ingest's client id
knocked ingest off, and readings were lost; with a gateway's predictable id, a false
gateway-offline alarm followed. Now a plant client's id is its user name and hazmon's
services log in on a listener of their own, which gateway users cannot.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path

import orjson
import pytest

from hazmon.broker.acl import INGEST_USER
from hazmon.contract.config import load_registry
from hazmon.contract.settings import InfluxAddress, Settings, parse_broker_url
from hazmon.contract.topics import telemetry
from hazmon.ingest.service import IngestService, IngestTuning
from hazmon.stores.influx import InfluxStore
from hazmon.testing.brokers import GeneratedBroker
from hazmon.testing.mqtt_clients import Client, client
from hazmon.testing.processes import Child, hazmon
from hazmon.testing.servers import InfluxDB, free_port
from tests.ingest.helpers import T_BASE_MS, running, sample, wait_until

pytestmark = pytest.mark.integration

ROOT = Path(__file__).parents[2]
DEMO_PLANT = ROOT / "hazmon" / "demo" / "plant.yaml"
SITE, GATEWAY = "jh-chem-01", "gw-tankfarm"
TANKFARM, CHLORINE = f"{SITE}.{GATEWAY}", f"{SITE}.gw-chlorine"
READINGS = 300


@pytest.fixture(scope="module")
def broker() -> Iterator[GeneratedBroker]:
    server = GeneratedBroker(load_registry(DEMO_PLANT))
    try:
        server.start()
        yield server
    finally:
        server.close()


def _attack(port: int, user: str, password: str, client_id: str) -> str:
    """Connect as `user` with someone else's client id; the CONNACK (or why none)."""
    with client(port, user, password, client_id=client_id) as attacker:
        reason = attacker.connect()
        time.sleep(0.1)
    return str(reason) if reason is not None else "closed"


def test_a_gateway_cannot_knock_ingest_or_another_gateway_off(
    broker: GeneratedBroker, influxdb: InfluxDB, influx_db: str, tmp_path: Path
) -> None:
    store = InfluxStore(InfluxAddress(influxdb.url, influx_db))
    settings = Settings(mqtt_username=INGEST_USER, mqtt_password=broker.password(INGEST_USER))
    service = IngestService(
        registry=load_registry(DEMO_PLANT), broker=parse_broker_url(broker.service_url),
        settings=settings, store=store, data_dir=tmp_path / "ingest",
        tuning=IngestTuning(flush_interval_s=0.1, stats_interval_s=3600.0),
    )  # fmt: skip
    with running(service):
        link = service.link
        assert link is not None and link.generation == 1
        ingest_id = service.client_id
        gateway = Client(broker.port, TANKFARM, broker.password(TANKFARM), client_id="hazmon-gw-x")
        reason = gateway.connect()
        assert reason is not None and not reason.is_failure, reason
        stop = threading.Event()
        answers: list[str] = []

        def attacks() -> None:
            chlorine = broker.password(CHLORINE)
            while not stop.is_set():
                answers.append(_attack(broker.port, CHLORINE, chlorine, ingest_id))
                answers.append(_attack(broker.port, CHLORINE, chlorine, TANKFARM))
                answers.append(_attack(broker.port, CHLORINE, chlorine, "hazmon-gw-x"))
                # the service listener does not know gateway users at all
                answers.append("svc " + _attack(broker.service_port, CHLORINE, chlorine,
                                                ingest_id))  # fmt: skip

        attacker = threading.Thread(target=attacks, daemon=True)
        attacker.start()
        try:
            for n in range(READINGS):
                payload = {"boot": 1, "seq": n, "readings": [
                    {"sensor": "GT-101", "ts_ms": T_BASE_MS + n, "value": float(n % 10)}]}
                gateway.mqtt.publish(telemetry(SITE, GATEWAY), orjson.dumps(payload), qos=1)
                time.sleep(0.01)
            wait_until(lambda: len(answers) >= 8, what="attacks")
        finally:
            stop.set()
            attacker.join(timeout=30)
        wait_until(lambda: influxdb.count(influx_db, "reading", "value") == READINGS,
                   what="every reading stored")  # fmt: skip
        assert link.generation == 1 and link.connected  # never knocked off
        assert gateway.disconnects == 0  # nor was the gateway
        gateway.close()
    store.close()
    assert sample(service, "hazmon_ingest_lost_messages_total", site=SITE, gateway=GATEWAY) == 0
    plant = [a for a in answers if not a.startswith("svc ")]
    assert plant and all(a == "Success" for a in plant)  # connected, as itself
    assert all(a in ("svc Not authorized", "svc Bad user name or password", "svc closed")
               for a in answers if a.startswith("svc "))  # fmt: skip


def test_hazmon_up_runs_ingest_and_alarms_as_their_own_broker_users(
    broker: GeneratedBroker, tmp_path: Path
) -> None:
    """`hazmon up` on the service listener: ingest logs in as HAZMON_INGEST_MQTT_USERNAME
    (its wrong password stops it, the right one starts it), the alarm service as
    HAZMON_MQTT_USERNAME; secrets from the files `--secrets-out` writes."""
    from hazmon.broker.acl import ALARMS_USER
    from hazmon.broker.passwd import write_secrets

    secrets = tmp_path / "secrets"
    write_secrets(secrets, {u: broker.password(u) for u in (INGEST_USER, ALARMS_USER)})
    (tmp_path / "wrong").write_text("not-the-password\n")
    env = {"HAZMON_MQTT_USERNAME": ALARMS_USER,
           "HAZMON_MQTT_PASSWORD_FILE": str(secrets / ALARMS_USER),
           "HAZMON_INGEST_MQTT_USERNAME": INGEST_USER}  # fmt: skip
    refused = _up(broker, tmp_path / "a", env | {
        "HAZMON_INGEST_MQTT_PASSWORD_FILE": str(tmp_path / "wrong")})  # fmt: skip
    assert "hazmon console:" not in refused and "not authori" in refused.lower(), refused
    # the same data folder: the first run's alarm service anchored its journal on this
    # broker before ingest was refused (a new folder would be refused as truncated)
    started = _up(broker, tmp_path / "a", env | {
        "HAZMON_INGEST_MQTT_PASSWORD_FILE": str(secrets / INGEST_USER)})  # fmt: skip
    assert "hazmon console:" in started, started
    assert "share the broker user" not in started


def _up(broker: GeneratedBroker, data: Path, extra_env: dict[str, str]) -> str:
    """Run `hazmon up` until it serves or ends; its output."""
    argv = hazmon("up", "--config", str(DEMO_PLANT), "--broker", broker.service_url,
                  "--data", str(data), "--http", f"127.0.0.1:{free_port()}")  # fmt: skip
    data.mkdir(parents=True, exist_ok=True)
    up = Child(argv, log=data.parent / f"{data.name}.log", name="hazmon up",
               env={"PYTHONPATH": str(ROOT), **extra_env}).start()  # fmt: skip
    try:
        wait_until(lambda: not up.running or "hazmon console:" in up.output(),
                   timeout_s=120, what="hazmon up serving or ending")  # fmt: skip
    finally:
        up.stop(timeout_s=60)
    return up.output()
