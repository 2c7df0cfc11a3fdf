"""The server fixtures work: real Mosquitto and InfluxDB, on their own ports, restartable."""

from __future__ import annotations

import queue
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from hazmon.testing.servers import InfluxDB, Mosquitto, port_accepts

pytestmark = pytest.mark.integration

WAIT_S = 5.0


class Session:
    """A connected paho-mqtt 2 client (MQTT 5) with its received messages in a queue."""

    def __init__(self, client: mqtt.Client) -> None:
        self.client = client
        self.inbox: queue.Queue[mqtt.MQTTMessage] = queue.Queue()
        self._subscribed = threading.Event()
        client.on_message = lambda _c, _u, message: self.inbox.put(message)
        client.on_subscribe = lambda *_args: self._subscribed.set()

    def subscribe(self, topic: str) -> None:
        self._subscribed.clear()
        result, _mid = self.client.subscribe(topic, qos=1)
        assert result == mqtt.MQTT_ERR_SUCCESS
        assert self._subscribed.wait(WAIT_S), f"no SUBACK for {topic}"

    def publish(self, topic: str, payload: bytes) -> None:
        info = self.client.publish(topic, payload, qos=1)
        info.wait_for_publish(WAIT_S)  # returns once the broker's PUBACK arrived
        assert info.is_published()

    def receive(self) -> mqtt.MQTTMessage:
        return self.inbox.get(timeout=WAIT_S)


@contextmanager
def mqtt_session(
    broker: Mosquitto, *, client_id: str = "", session_expiry_s: int = 0
) -> Iterator[Session]:
    """Connect; with a `session_expiry_s` the broker keeps the session (clean_start off)."""
    client = mqtt.Client(
        callback_api_version=CallbackAPIVersion.VERSION2,
        client_id=client_id,
        protocol=mqtt.MQTTv5,
    )
    session = Session(client)
    connected = threading.Event()
    reasons: list[Any] = []

    def on_connect(_c: Any, _u: Any, _flags: Any, reason: Any, _props: Any) -> None:
        reasons.append(reason)
        connected.set()

    client.on_connect = on_connect
    properties = Properties(PacketTypes.CONNECT)
    properties.SessionExpiryInterval = session_expiry_s
    client.connect(
        broker.host, broker.port, clean_start=session_expiry_s == 0, properties=properties
    )
    client.loop_start()
    try:
        assert connected.wait(WAIT_S), f"no CONNACK from {broker.url}"
        assert not reasons[0].is_failure, reasons[0]
        yield session
    finally:
        client.disconnect()
        client.loop_stop()
        # paho has no close(): loop_start()'s wake-up socket pair is only closed in
        # __del__, which a reference cycle defers to the gc, and the gc may finalize the
        # sockets first: a ResourceWarning, an error here (paho.mqtt.python issue 627).
        client._reset_sockets()


def test_mosquitto_round_trips_a_qos1_message(mosquitto: Mosquitto, mqtt_prefix: str) -> None:
    topic = f"{mqtt_prefix}/site/reading"
    assert mosquitto.url == f"mqtt://127.0.0.1:{mosquitto.port}"

    with mqtt_session(mosquitto) as subscriber, mqtt_session(mosquitto) as publisher:
        subscriber.subscribe(f"{mqtt_prefix}/#")
        publisher.publish(topic, b'{"value": 42.5}')
        message = subscriber.receive()

    assert message.topic == topic
    assert message.payload == b'{"value": 42.5}'
    assert message.qos == 1


def test_influxdb_counts_written_lines(influxdb: InfluxDB, influx_db: str) -> None:
    assert influxdb.url == f"http://127.0.0.1:{influxdb.port}"
    influxdb.write(
        influx_db,
        [
            "reading,site=s1,sensor=pt101 value=1.5 1700000000000",
            "reading,site=s1,sensor=pt101 value=2.5 1700000001000",
            "reading,site=s1,sensor=pt102 value=3.5 1700000000000",
        ],
        precision="ms",
    )

    assert influxdb.count(influx_db, "reading", "value") == 3
    assert influxdb.count(influx_db, "no_such_measurement", "value") == 0


def test_each_test_gets_its_own_influx_database(influxdb: InfluxDB, influx_db: str) -> None:
    names = influxdb.query(influx_db, "SHOW DATABASES")["results"][0]["series"][0]["values"]
    assert [influx_db] in names
    assert influxdb.count(influx_db, "reading", "value") == 0


def test_mosquitto_restart_keeps_port_and_persisted_session(
    fresh_mosquitto: Mosquitto, unique_id: str
) -> None:
    broker = fresh_mosquitto
    port = broker.port
    topic = f"{unique_id}/alarm"
    with mqtt_session(broker, client_id=unique_id, session_expiry_s=3600) as subscriber:
        subscriber.subscribe(topic)
    with mqtt_session(broker) as publisher:  # queued for the offline subscriber
        publisher.publish(topic, b"queued")

    broker.restart()  # a graceful stop saves the persistence file

    assert broker.port == port
    with mqtt_session(broker, client_id=unique_id, session_expiry_s=3600) as subscriber:
        assert subscriber.receive().payload == b"queued"


def test_mosquitto_comes_back_after_kill(fresh_mosquitto: Mosquitto, mqtt_prefix: str) -> None:
    broker = fresh_mosquitto
    port = broker.port

    broker.kill()
    assert not broker.running
    assert not port_accepts(broker.host, port)

    broker.restart()
    assert broker.port == port
    with mqtt_session(broker) as session:
        session.subscribe(f"{mqtt_prefix}/x")
        session.publish(f"{mqtt_prefix}/x", b"back")
        assert session.receive().payload == b"back"


def test_influxdb_restart_keeps_port_and_data(fresh_influxdb: InfluxDB, unique_id: str) -> None:
    server = fresh_influxdb
    port = server.port
    server.create_database(unique_id)
    server.write(unique_id, "m,tag=a v=1 1000\nm,tag=a v=2 2000\nm,tag=b v=3 1000")

    server.stop()
    assert not port_accepts(server.host, port)
    server.restart()

    assert server.port == port
    assert server.count(unique_id, "m", "v") == 3


def test_integration_tests_are_not_in_the_unit_tier(request: pytest.FixtureRequest) -> None:
    assert request.node.get_closest_marker("integration") is not None
    assert request.node.get_closest_marker("unit") is None
