"""Shared fixtures: real servers for the integration tier, and the tier markers.

Tiers (STYLE.md item 10): a test marked ``integration`` or ``browser`` is one of those;
every other test is marked ``unit`` here, so ``pytest -m unit`` runs the pure tier.

Server fixtures never skip: if a binary is missing the test fails and says to run
scripts/test, which installs it.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import TypeVar

import pytest

from tests.servers import InfluxDB, Mosquitto, ServerNotInstalledError

_TIER_MARKERS = {"integration", "browser"}

S = TypeVar("S", Mosquitto, InfluxDB)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    unit = pytest.mark.unit
    for item in items:
        if not any(item.get_closest_marker(name) for name in _TIER_MARKERS):
            item.add_marker(unit)


def _started(factory: type[S]) -> S:
    try:
        server = factory()
    except ServerNotInstalledError as exc:
        missing = str(exc)  # fail outside the except: no "during handling" noise
    else:
        try:
            server.start()
        except BaseException:
            server.close()
            raise
        return server
    pytest.fail(missing, pytrace=False)


# --- session servers: started once, shared; each test isolates by its own ids --------


@pytest.fixture(scope="session")
def mosquitto() -> Iterator[Mosquitto]:
    """A Mosquitto broker for the whole session. Don't stop it: use fresh_mosquitto."""
    server = _started(Mosquitto)
    yield server
    server.close()


@pytest.fixture(scope="session")
def influxdb() -> Iterator[InfluxDB]:
    """An InfluxDB for the whole session. Don't stop it: use fresh_influxdb."""
    server = _started(InfluxDB)
    yield server
    server.close()


# --- per-test servers, for tests that stop, kill or restart them ----------------------


@pytest.fixture
def fresh_mosquitto() -> Iterator[Mosquitto]:
    server = _started(Mosquitto)
    yield server
    server.close()


@pytest.fixture
def fresh_influxdb() -> Iterator[InfluxDB]:
    server = _started(InfluxDB)
    yield server
    server.close()


# --- per-test isolation ---------------------------------------------------------------


@pytest.fixture(autouse=True)
def _no_journal_head_left(request: pytest.FixtureRequest) -> None:
    """The retained journal head is the one topic a test cannot make its own (CONTRACT
    §2: one alarm service per broker). It is cleared on the session broker before each
    test that uses it, so an alarm service on a fresh data folder does not find another
    test's anchor and refuse to start on a journal that falls short of it."""
    if "mosquitto" in request.fixturenames:
        clear_retained(request.getfixturevalue("mosquitto"), "hazmon/v1/journal/head")


@pytest.fixture(scope="module", autouse=True)
def _no_journal_head_left_for_the_module(request: pytest.FixtureRequest) -> None:
    """The same before a module's own fixtures (a `hazmon up` for the whole module)."""
    module = request.node.path
    if any("mosquitto" in getattr(item, "fixturenames", ()) for item in request.session.items
           if item.path == module):
        clear_retained(request.getfixturevalue("mosquitto"), "hazmon/v1/journal/head")


def clear_retained(broker: Mosquitto, topic: str) -> None:
    import paho.mqtt.client as mqtt
    from paho.mqtt.enums import CallbackAPIVersion

    client = mqtt.Client(CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv5)
    client.connect(broker.host, broker.port)
    client.loop_start()
    try:
        client.publish(topic, b"", qos=1, retain=True).wait_for_publish(5.0)
    finally:
        client.disconnect()
        client.loop_stop()


@pytest.fixture
def unique_id() -> str:
    """A short id unique to this test, safe as a site id, topic level or db name."""
    return f"t{uuid.uuid4().hex[:8]}"


@pytest.fixture
def mqtt_prefix(unique_id: str) -> str:
    """A topic root of this test's own, for tests that publish outside hazmon/v1/..."""
    return unique_id


@pytest.fixture
def influx_db(influxdb: InfluxDB, unique_id: str) -> Iterator[str]:
    """A database of this test's own on the session InfluxDB, dropped afterwards."""
    name = f"hazmon_{unique_id}"
    influxdb.create_database(name)
    yield name
    influxdb.drop_database(name)
