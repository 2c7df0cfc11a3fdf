"""Retention of the embedded store (`HAZMON_RETENTION_DAYS`): readings older than the
retention go at start and every hour; the other series stay; no retention, or a store
that is not the embedded one, runs nothing."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from hazmon.contract.settings import Settings
from hazmon.stores.base import Point
from hazmon.stores.memory import MemoryStore
from hazmon.stores.retention import DAY_MS, retention_job
from hazmon.stores.sqlite import SqliteStore
from tests.stores.store_contract import T0_MS, reading

pytestmark = pytest.mark.unit


def test_nothing_runs_without_a_retention_or_for_another_store(tmp_path: Path) -> None:
    store = SqliteStore(tmp_path / "hazmon.sqlite")
    try:
        assert retention_job(store, 0) is None
        assert retention_job(MemoryStore(), 30) is None
        assert retention_job(store, 30) is not None
    finally:
        store.close()


def test_the_setting_comes_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    assert Settings().retention_days == 0
    monkeypatch.setenv("HAZMON_RETENTION_DAYS", "30")
    assert Settings().retention_days == 30


async def test_readings_older_than_the_retention_go_at_start_and_on_schedule(
    tmp_path: Path,
) -> None:
    store = SqliteStore(tmp_path / "hazmon.sqlite")
    now_ms = T0_MS + 40 * DAY_MS
    clock = [now_ms / 1000]
    days = 30
    old = [reading(ts_ms=now_ms - 31 * DAY_MS + i) for i in range(5)]
    young = [reading(ts_ms=now_ms - 29 * DAY_MS + i) for i in range(3)]
    store.write_readings(old + young)
    store.write_points([Point("alarm_event", {"site": "s1"}, {"value": 1.0},
                              now_ms - 35 * DAY_MS)])  # fmt: skip
    keep = retention_job(store, days, every_s=0.05, clock=lambda: clock[0])
    assert keep is not None
    task = asyncio.create_task(keep())
    try:
        for _ in range(100):
            if store.count_readings() == 3:
                break
            await asyncio.sleep(0.01)
        assert store.count_readings() == 3  # at start: the 5 old ones went
        clock[0] += 2 * 86_400  # two days later the young ones are 31 days old
        for _ in range(200):
            if store.count_readings() == 0:
                break
            await asyncio.sleep(0.01)
        assert store.count_readings() == 0
        assert len(store.points("alarm_event", from_ms=0, to_ms=2**62)) == 1  # kept
    finally:
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        store.close()
