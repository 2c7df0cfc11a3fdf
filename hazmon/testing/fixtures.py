"""pytest fixtures of real servers, and the test tiers, for the conftest.py of the test
suite and of the benchmarks' own tests, which import what they use:

    from hazmon.testing.fixtures import influxdb, mark_tiers, mosquitto, ...

    def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
        mark_tiers(items)

Tiers (docs/development.md, "Tests"): a test marked ``integration``, ``browser`` or
``fuzz`` is one of those; every other test is a ``unit`` test, so ``pytest -m unit``
runs the pure, fast tier.

Server fixtures never skip: if a binary is missing the test fails and says to run
scripts/test, which installs it. The session servers are shared, so each test keeps to
its own ids (`unique_id`), topics (`mqtt_prefix`) and database (`influx_db`); a test that
stops, kills or restarts a server takes a fresh one.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import TypeVar

import pytest

from hazmon.testing.servers import InfluxDB, Mosquitto, ServerNotInstalledError

TIER_MARKERS = frozenset({"integration", "browser", "fuzz"})

S = TypeVar("S", Mosquitto, InfluxDB)


def mark_tiers(items: list[pytest.Item]) -> None:
    """Mark `unit` every test of no other tier (again on a second call: no change)."""
    for item in items:
        if not any(item.get_closest_marker(name) for name in (*TIER_MARKERS, "unit")):
            item.add_marker(pytest.mark.unit)


def started(factory: type[S]) -> S:
    """A server started, or the test failed with what to install."""
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
    server = started(Mosquitto)
    yield server
    server.close()


@pytest.fixture(scope="session")
def influxdb() -> Iterator[InfluxDB]:
    """An InfluxDB for the whole session. Don't stop it: use fresh_influxdb."""
    server = started(InfluxDB)
    yield server
    server.close()


# --- per-test servers, for tests that stop, kill or restart them ----------------------


@pytest.fixture
def fresh_mosquitto() -> Iterator[Mosquitto]:
    server = started(Mosquitto)
    yield server
    server.close()


@pytest.fixture
def fresh_influxdb() -> Iterator[InfluxDB]:
    server = started(InfluxDB)
    yield server
    server.close()


# --- per-test isolation ---------------------------------------------------------------


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
