"""Fixtures of the benchmarks' own tests: the real servers of hazmon.testing, and the
test tiers (a test not marked integration, browser or fuzz is a unit test)."""

from __future__ import annotations

import pytest

from hazmon.testing.fixtures import (  # noqa: F401 (fixtures are found by name)
    fresh_mosquitto,
    influx_db,
    influxdb,
    mark_tiers,
    unique_id,
)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    mark_tiers(items)
