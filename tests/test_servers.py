"""The server fixtures work: real Mosquitto and InfluxDB, on their own ports, restartable."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import pytest

from hazmon.testing.mqtt_clients import Client, Message, client
from hazmon.testing.servers import InfluxDB, Mosquitto, port_accepts

pytestmark = pytest.mark.integration


@contextmanager
def mqtt_session(
    broker: Mosquitto, *, client_id: str = "", session_expiry_s: int = 0
) -> Iterator[Client]:
    """Connect; with a `session_expiry_s` the broker keeps the session (clean_start off)."""
    with client(broker.port, client_id=client_id, session_expiry_s=session_expiry_s) as session:
        reason = session.connect()
        assert reason is not None, f"no CONNACK from {broker.url}"
        assert not reason.is_failure, reason
        yield session


def receive(session: Client) -> Message:
    message = session.next_message()
    assert message is not None, "nothing received"
    return message


def test_mosquitto_round_trips_a_qos1_message(mosquitto: Mosquitto, mqtt_prefix: str) -> None:
    topic = f"{mqtt_prefix}/site/reading"
    assert mosquitto.url == f"mqtt://127.0.0.1:{mosquitto.port}"

    with mqtt_session(mosquitto) as subscriber, mqtt_session(mosquitto) as publisher:
        subscriber.subscribe(f"{mqtt_prefix}/#")
        publisher.publish(topic, b'{"value": 42.5}')
        message = receive(subscriber)

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
        assert receive(subscriber).payload == b"queued"


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
        assert receive(session).payload == b"back"


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
