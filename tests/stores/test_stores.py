"""The store contract on MemoryStore and SqliteStore, plus what is SQLite's own."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from hazmon.contract.settings import Settings
from hazmon.stores import SQLITE_FILE, MemoryStore, StoreUnavailable, open_store
from hazmon.stores.influx import InfluxStore
from hazmon.stores.sqlite import SqliteStore
from tests.stores.store_contract import T0_MS, StoreContract, reading


class TestMemoryStore(StoreContract):
    @pytest.fixture
    def store(self) -> MemoryStore:
        return MemoryStore()

    def test_an_outage_raises_unavailable(self, store: MemoryStore) -> None:
        store.available = False
        with pytest.raises(StoreUnavailable):
            store.write_readings([reading()])
        assert store.count_readings() == 0


class TestSqliteStore(StoreContract):
    @pytest.fixture
    def store(self, tmp_path: Path) -> Iterator[SqliteStore]:
        store = SqliteStore(tmp_path / SQLITE_FILE)
        yield store
        store.close()

    def test_data_survives_reopening(self, store: SqliteStore) -> None:
        store.write_readings([reading(ts_ms=T0_MS + i) for i in range(10)])
        store.close()
        again = SqliteStore(store.path)
        try:
            assert again.count_readings() == 10
            assert again.latest("s1")[0].ts_ms == T0_MS + 9
        finally:
            again.close()

    def test_the_file_is_in_wal_mode(self, store: SqliteStore) -> None:
        store.write_readings([reading()])
        assert (store.path.parent / (store.path.name + "-wal")).exists()

    def test_writers_in_several_threads(self, store: SqliteStore) -> None:
        def write(sensor: str) -> None:
            for i in range(20):
                store.write_readings([reading(sensor, T0_MS + i * 1000 + j) for j in range(10)])

        threads = [threading.Thread(target=write, args=(f"S-{k}",)) for k in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert store.count_readings() == 4 * 20 * 10
        assert len(store.latest("s1")) == 4

    def test_a_range_query_uses_the_primary_key(self, store: SqliteStore) -> None:
        conn = store._conn()
        plan = conn.execute(
            "EXPLAIN QUERY PLAN SELECT ts_ms FROM reading WHERE series = 1 "
            "AND ts_ms BETWEEN 1 AND 2 ORDER BY ts_ms"
        ).fetchall()
        assert "USING PRIMARY KEY" in str(plan)
        assert "TEMP B-TREE" not in str(plan)

    def test_prune_drops_old_readings_and_keeps_latest(self, store: SqliteStore) -> None:
        store.write_readings([reading(ts_ms=T0_MS + i * 1000) for i in range(10)])
        assert store.prune(before_ms=T0_MS + 5000) == 5
        assert store.count_readings() == 5
        assert store.latest("s1")[0].ts_ms == T0_MS + 9000


def test_open_store_picks_the_embedded_store_without_influx(tmp_path: Path) -> None:
    store = open_store(influx=None, data_dir=tmp_path, settings=Settings())
    try:
        assert isinstance(store, SqliteStore)
        assert store.path == tmp_path / SQLITE_FILE
    finally:
        store.close()


def test_open_store_picks_influx_for_a_url(tmp_path: Path) -> None:
    store = open_store(influx="http://127.0.0.1:1/hazmon", data_dir=tmp_path, settings=Settings())
    try:
        assert isinstance(store, InfluxStore)
        assert store.address.database == "hazmon"
        assert store.ping() is False
    finally:
        store.close()
