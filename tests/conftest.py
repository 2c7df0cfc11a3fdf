"""Shared fixtures: real servers for the integration tier and the tier markers (from
hazmon.testing.fixtures, which the benchmarks' own tests use too), the umask and the
retained journal head put back between tests.

Tiers (docs/development.md, "Tests"): a test marked ``integration``, ``browser`` or
``fuzz`` is one of those; every other test is marked ``unit`` here, so ``pytest -m unit``
runs the pure, fast tier. ``fuzz`` marks the long property runs over hostile input (pure,
but tens of seconds): the full suite runs them, ``pytest -m fuzz`` runs them alone.

Hypothesis profiles: ``ci`` (derandomized, no example database, failing examples printed
as a reproduction blob) when ``CI=true``, else ``dev`` (new examples every run, failures
kept in .hypothesis/ and replayed first). ``HYPOTHESIS_PROFILE=ci`` picks one by name.

Server fixtures never skip: if a binary is missing the test fails and says to run
scripts/test, which installs it. When browser tests are selected, Playwright's driver is
checked first: a missing system library stops the run with its name.
"""

from __future__ import annotations

import gc
import itertools
import os
import re
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from _pytest.mark.expression import Expression
from hypothesis import settings

from hazmon.testing.fixtures import (  # noqa: F401 (fixtures are found by name)
    TIER_MARKERS,
    fresh_influxdb,
    fresh_mosquitto,
    influx_db,
    influxdb,
    mark_tiers,
    mosquitto,
    mqtt_prefix,
    unique_id,
)
from hazmon.testing.servers import Mosquitto, ServerNotInstalledError

if TYPE_CHECKING:
    from hazmon.testing.nats import NatsCluster

# What pytest, its plugins and the fixtures' modules built so far lives as long as the
# session: out of the collector's way while the tests are imported (see settle_heap).
gc.freeze()

settings.register_profile("ci", derandomize=True, database=None, print_blob=True, deadline=None)
settings.register_profile("dev", print_blob=True)
settings.load_profile(
    os.environ.get("HYPOTHESIS_PROFILE") or ("ci" if os.environ.get("CI") == "true" else "dev")
)


# Tests that measure time or throughput, load the machine flat out or kill and time
# servers of a cluster: `solo`, run one at a time after the other server tests, which
# run on two workers (scripts/test).
SOLO = (
    "benchmarks/tests/",
    "tests/alarms/test_burst.py",
    "tests/alarms/test_group_commit.py",
    "tests/alarms/test_workers.py",
    "tests/alarms/test_cluster_api.py",
    "tests/ingest/test_jetstream.py",
    "tests/cli/test_cluster_config.py",
    "tests/security/test_hostile_live.py",
    "tests/simulators/test_load.py",
)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    mark_tiers(items)
    root = Path(__file__).resolve().parent.parent
    for item in items:
        where = Path(str(item.fspath)).resolve().relative_to(root).as_posix()
        if where.startswith(SOLO) and not item.get_closest_marker("unit"):
            item.add_marker(pytest.mark.solo)


# `pytestmark = pytest.mark.<marker>` or `pytestmark = [pytest.mark.<a>, pytest.mark.<b>]`
MODULE_MARKS = re.compile(
    r"^pytestmark = (?:\[)?(pytest\.mark\.\w+(?:, pytest\.mark\.\w+)*)(?:\])?(?:  #.*)?$",
    re.MULTILINE,
)


def pytest_ignore_collect(collection_path: Path, config: pytest.Config) -> bool | None:
    """A test module of another tier is not imported when the ``-m`` expression cannot
    select its tests: its module-level ``pytestmark`` names a tier marker, nothing in it
    is marked ``unit`` (so mark_tiers marks none of its tests ``unit``), and the
    expression is false whatever other markers its tests carry. Collecting such modules
    was more than half of the unit tier's collection, in every worker: the schemathesis
    ones (``fuzz``) build an app at import and make a test, with its examples, for each
    API operation."""
    expression = config.option.markexpr
    if not expression or not collection_path.name.startswith("test_"):
        return None
    if collection_path.suffix != ".py" or not collection_path.is_file():
        return None
    source = collection_path.read_text(encoding="utf-8")
    declared = MODULE_MARKS.findall(source)
    if len(declared) != 1 or "mark.unit" in source:
        return None
    marks = {mark.removeprefix("pytest.mark.") for mark in declared[0].split(", ")}
    if not marks & TIER_MARKERS:
        return None
    if may_select(expression, {**dict.fromkeys(marks, True), "unit": False}):
        return None
    return True


def may_select(expression: str, known: dict[str, bool]) -> bool:
    """Whether the mark expression is true for some test whose markers are `known` (name:
    present or not) and any others."""
    try:
        compiled = Expression.compile(expression)
    except SyntaxError:
        return True  # pytest reports it
    free = sorted(compiled.idents() - known.keys())
    for values in itertools.product((False, True), repeat=len(free)):
        marked = {**known, **dict(zip(free, values, strict=True))}

        def matcher(name: str, /, marked: dict[str, bool] = marked,
                    **kwargs: str | int | bool | None) -> bool:
            if kwargs:  # a marker's arguments: not known here
                raise _Unknown
            return marked[name]

        try:
            if compiled.evaluate(matcher):
                return True
        except _Unknown:
            return True
    return False


class _Unknown(Exception):
    """The mark expression asks about a marker's arguments, which are not known here."""


def pytest_collection_finish(session: pytest.Session) -> None:
    """Browser tests selected: stop at once if Playwright's driver cannot load. Then
    what collection built, kept for the whole session, leaves the collector's way."""
    if any(item.get_closest_marker("browser") for item in session.items):
        missing = missing_libraries(playwright_driver())
        if missing:
            pytest.exit(
                f"Playwright's driver {playwright_driver()} cannot start: the system "
                f"libraries {', '.join(missing)} are missing (libatomic.so.1 is Debian's "
                "libatomic1). scripts/test installs them.",
                returncode=3,
            )
    settle_heap()


def settle_heap() -> None:
    """The modules, test functions and fixtures' definitions collection built (about
    400,000 objects in the unit tier) live until the session ends; every full collection
    walked them all again (some 2.5 s of each worker's unit tier). Frozen, collections
    walk only what the tests allocate, and that is collected as before. As
    hazmon.runtime.process.settle_heap does for a service's start-up state."""
    gc.collect()
    gc.freeze()


def pytest_unconfigure(config: pytest.Config) -> None:
    """What the session built stays out of the collections Python runs at exit, which
    walk every object left (most of a second per process)."""
    gc.freeze()


def playwright_driver() -> Path:
    import playwright

    return Path(playwright.__file__).parent / "driver" / "node"


def missing_libraries(binary: Path) -> list[str]:
    """The shared libraries `binary` needs that this machine lacks (`ldd`: not found)."""
    try:
        out = subprocess.run(
            ["ldd", str(binary)], capture_output=True, text=True, timeout=30, check=False
        ).stdout
    except (OSError, subprocess.TimeoutExpired):
        return []
    return [line.split()[0] for line in out.splitlines() if "not found" in line]


# --- per-test isolation ---------------------------------------------------------------


@pytest.fixture(autouse=True)
def _umask_restored() -> Iterator[None]:
    """A command run in-process (typer's CliRunner) sets hazmon's private umask, 0o077,
    for the rest of the process (hazmon.runtime.private): the files later tests write
    for a broker that drops its privileges would be unreadable to it."""
    before = os.umask(0o022)
    os.umask(before)
    yield
    os.umask(before)


@pytest.fixture(autouse=True)
def _no_journal_head_left(request: pytest.FixtureRequest) -> None:
    """The retained journal head is the one topic a test cannot make its own (docs/contract.md
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


# --- NATS JetStream clusters from `hazmon cluster-config`'s files (hazmon.testing.nats) ---


def _nats(size: int) -> Iterator[NatsCluster]:
    from hazmon.testing.nats import NatsCluster  # the nats client, for these fixtures only

    try:
        cluster = NatsCluster(size=size)
    except ServerNotInstalledError as exc:
        missing = str(exc)
    else:
        try:
            cluster.start()
            yield cluster
        finally:
            cluster.close()
        return
    pytest.fail(missing, pytrace=False)


@pytest.fixture
def nats_cluster() -> Iterator[NatsCluster]:
    """Three nats-server processes as one JetStream cluster with a meta leader; the
    test may kill, stop or restart its nodes."""
    yield from _nats(3)


@pytest.fixture
def nats_single() -> Iterator[NatsCluster]:
    """One nats-server with JetStream (no cluster)."""
    yield from _nats(1)
