"""hazmon stores: where readings and the other series of docs/contract.md §5 become durable.

    open_store(influx="http://127.0.0.1:8086/hazmon", data_dir=..., settings=...)

gives an `InfluxStore` when an InfluxDB URL is given, else the embedded
`SqliteStore` (`<data_dir>/hazmon.sqlite`). `MemoryStore` is the fake for tests.
"""

from __future__ import annotations

from pathlib import Path

from hazmon.contract.settings import Settings, parse_influx_url
from hazmon.stores.base import (
    Latest,
    Point,
    Refused,
    Row,
    Store,
    StoreError,
    StoreRejected,
    StoreUnavailable,
)
from hazmon.stores.memory import MemoryStore

SQLITE_FILE = "hazmon.sqlite"


def open_store(*, influx: str | None, data_dir: Path, settings: Settings) -> Store:
    """The InfluxDB store for `influx` (http://HOST:PORT/DB), else the embedded one."""
    if influx:
        from hazmon.stores.influx import InfluxStore

        return InfluxStore(parse_influx_url(influx), settings=settings)
    from hazmon.stores.sqlite import SqliteStore

    return SqliteStore(data_dir / SQLITE_FILE)


__all__ = [
    "SQLITE_FILE",
    "Latest",
    "MemoryStore",
    "Point",
    "Refused",
    "Row",
    "Store",
    "StoreError",
    "StoreRejected",
    "StoreUnavailable",
    "open_store",
]
