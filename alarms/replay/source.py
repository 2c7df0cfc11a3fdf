"""A gateway's stored readings, read back in time order a page at a time.

Each sensor is read with `Store.readings` in pages of `page` rows (its series is one
range scan in the embedded store, one series in InfluxDB), and the sensors of the
gateway are merged by time, so at most `page` rows per sensor are held at once
whatever the range. A page that comes back full ends at the last millisecond it
holds completely: the rows of that millisecond (the same sensor stored under two
qualities) are read again with the next page rather than split.
"""

from __future__ import annotations

import heapq
from collections.abc import Iterable, Iterator

from hazmon.stores.base import Latest, Store

PAGE_ROWS = 20_000


def sensor_readings(
    store: Store, site: str, sensor: str, *, from_ms: int, to_ms: int, page: int = PAGE_ROWS
) -> Iterator[Latest]:
    """One sensor's readings in [from_ms, to_ms], oldest first, `page` rows per read."""
    start_ms = from_ms
    while start_ms <= to_ms:
        rows = store.readings(site, sensor, from_ms=start_ms, to_ms=to_ms, limit=page)
        if len(rows) < page:
            yield from rows
            return
        last_ms = rows[-1].ts_ms
        whole = [r for r in rows if r.ts_ms < last_ms]
        if not whole:  # a page of one millisecond: take it as it is
            yield from rows
            start_ms = last_ms + 1
            continue
        yield from whole
        start_ms = last_ms


def gateway_readings(
    store: Store, site: str, sensors: Iterable[str], *, from_ms: int, to_ms: int,
    page: int = PAGE_ROWS,
) -> Iterator[Latest]:
    """The readings of several sensors merged by time (ties: sensor, then quality)."""
    streams = [
        sensor_readings(store, site, sensor, from_ms=from_ms, to_ms=to_ms, page=page)
        for sensor in sorted(sensors)
    ]
    return heapq.merge(*streams, key=lambda r: r.ts_ms)
