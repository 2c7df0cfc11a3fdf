"""Ingest on a three-node JetStream cluster (docs/scale-out.md): replicas share the
durable consumer `ingest`, each reading is stored once, and SIGKILL of a replica
mid-stream loses nothing (what it held unacknowledged goes to the other)."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path

import paho.mqtt.client as paho
import pytest

from hazmon.testing.nats import NatsCluster
from hazmon.testing.servers import InfluxDB
from tests.ingest.helpers import good_messages, registry_yaml, small_registry, wait_until
from tests.ingest.procs import IngestProcess

pytestmark = pytest.mark.integration

PER_MESSAGE = 50


@pytest.fixture
def cluster(unique_id: str) -> Iterator[NatsCluster]:
    with NatsCluster(small_registry(unique_id), size=3) as running:
        yield running


def publish_as_gateways(cluster: NatsCluster, site: str, messages: list[tuple[str, bytes]],
                        rate_per_s: float) -> threading.Thread:
    """Each gateway's messages as that gateway's MQTT user, QoS 1, paced."""

    def run() -> None:
        clients: dict[str, paho.Client] = {}
        infos = []
        started = time.monotonic()
        for i, (topic, payload) in enumerate(messages):
            gateway = topic.split("/")[3]
            if gateway not in clients:
                user = f"{site}.{gateway}"
                gw = paho.Client(paho.CallbackAPIVersion.VERSION2, protocol=paho.MQTTv311,
                                 client_id=f"gw-{gateway}-{site}".replace(".", "_"))
                gw.username_pw_set(user, cluster.password(user))
                gw.max_inflight_messages_set(1000)
                gw.connect("127.0.0.1", cluster.nodes[i % 3].mqtt_port)
                gw.loop_start()
                clients[gateway] = gw
            ahead_s = i / rate_per_s - (time.monotonic() - started)
            if ahead_s > 0:
                time.sleep(ahead_s)
            infos.append(clients[gateway].publish(topic, payload, qos=1))
        for info in infos:
            info.wait_for_publish(30)
        for gw in clients.values():
            gw.disconnect()
            gw.loop_stop()

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread


def test_two_replicas_share_the_stream_and_a_sigkill_loses_nothing(
    cluster: NatsCluster, influxdb: InfluxDB, influx_db: str, tmp_path: Path, unique_id: str
) -> None:
    config = tmp_path / "plant.yaml"
    config.write_text(registry_yaml(unique_id))
    env = {"HAZMON_MQTT_USERNAME": "hazmon-ingest",
           "HAZMON_MQTT_PASSWORD": cluster.password("hazmon-ingest")}
    broker = "nats://" + ",".join(u.removeprefix("nats://") for u in cluster.urls)
    ingests = [IngestProcess(config=config, broker=broker, influx=f"{influxdb.url}/{influx_db}",
                             data=tmp_path / f"data{i}", env=env) for i in range(2)]
    for ingest in ingests:
        ingest.start()
    messages = list(good_messages(unique_id, gateways=2, sensors=10, messages=300,
                                  per_message=PER_MESSAGE))
    n = len(messages) * PER_MESSAGE
    publisher = publish_as_gateways(cluster, unique_id, messages, rate_per_s=200)

    def stored() -> int:
        return influxdb.count(influx_db, "reading", "value")

    wait_until(lambda: stored() > n // 4, what="a quarter stored")
    ingests[0].kill()
    killed_at = stored()
    publisher.join(120)
    assert not publisher.is_alive()
    wait_until(lambda: stored() >= n, timeout_s=90, what="all N stored")
    assert 0 < killed_at < n, "the kill did not land mid-stream"
    assert stored() == n
    survivor = ingests[1].metrics()
    assert survivor["hazmon_ingest_readings_total"] > n // 2, "the survivor took over nothing"
    assert ingests[1].stop() == 0
