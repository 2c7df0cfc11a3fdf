"""The embedded store at scale: fill SQLite with the demo plant at 1 Hz, time the API's queries.

    .venv/bin/python benchmarks/ingest_sqlite_bench.py               # one day: 15.3 M rows
    .venv/bin/python benchmarks/ingest_sqlite_bench.py --hours 6 --keep /tmp/store.sqlite

Writes readings of all 177 sensors of the bundled demo plant, one per second each,
through `SqliteStore.write_readings` in batches of 5,000 (as ingest does), plus one
alarm event per sensor-hour, then times what the API asks: the latest value of every
sensor of a site, a sensor's last hour and last day, a range deep in the past, alarm
events in a window, and prints rows/s written and bytes per row. docs/storage.md
has the figures and what they mean for a year.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).parents[1]
sys.path.insert(0, str(ROOT))

from hazmon.contract.config import load_registry  # noqa: E402
from hazmon.contract.wire import Reading  # noqa: E402
from hazmon.stores.base import Point  # noqa: E402
from hazmon.stores.sqlite import SqliteStore  # noqa: E402

DEMO = ROOT / "hazmon" / "demo" / "plant.yaml"
BATCH = 5000
T0_MS = 1_735_689_600_000  # 2025-01-01T00:00:00Z


def sensors() -> list[tuple[str, str, str, str]]:
    registry = load_registry(DEMO)
    return [(s.id, g.id, x.id, x.kind.value) for s, g, x in registry.sensors()]


def fill(store: SqliteStore, seconds: int) -> tuple[int, float]:
    plant = sensors()
    batch: list[Reading] = []
    rows = 0
    started = time.perf_counter()
    for second in range(seconds):
        ts_ms = T0_MS + second * 1000
        for site, gateway, sensor, kind in plant:
            if kind == "interlock":
                batch.append(
                    Reading(
                        site, gateway, sensor, kind, ts_ms, None, "normal", "good", False, False
                    )
                )
            else:
                value = (second % 600) / 10
                batch.append(
                    Reading(site, gateway, sensor, kind, ts_ms, value, None, "good", False, False)
                )
            if len(batch) >= BATCH:
                store.write_readings(batch)
                rows += len(batch)
                batch = []
        if second % 3600 == 0:
            store.write_points([alarm(site, sensor, ts_ms) for site, _, sensor, _ in plant])
        if second % 3600 == 0 and second:
            rate = rows / (time.perf_counter() - started)
            print(f"  {second // 3600} h: {rows:,} rows ({rate:,.0f} rows/s)", flush=True)
    store.write_readings(batch)
    rows += len(batch)
    return rows, time.perf_counter() - started


def alarm(site: str, sensor: str, ts_ms: int) -> Point:
    tags = {
        "site": site,
        "sensor": sensor,
        "condition": "high",
        "priority": "high",
        "event": "raised",
    }
    return Point(
        "alarm_event",
        tags,
        {"alarm_id": f"{site}/{sensor}/high#{ts_ms}", "state": "unack", "value": 30.0},
        ts_ms,
    )


def timed(what: str, query: Callable[[], object], repeat: int = 20) -> None:
    times = []
    size = 0
    for _ in range(repeat):
        started = time.perf_counter()
        result = query()
        times.append((time.perf_counter() - started) * 1000)
        size = len(result) if isinstance(result, list) else int(str(result) or 0)
    print(
        f"  {what:<48} {statistics.median(times):8.2f} ms median "
        f"({max(times):.2f} max), {size:,} rows"
    )


def queries(store: SqliteStore, seconds: int) -> None:
    end_ms = T0_MS + (seconds - 1) * 1000
    timed("latest of every sensor of a site (jh-chem-01)", lambda: store.latest("jh-chem-01"))
    timed(
        "one sensor, last hour",
        lambda: store.readings("jh-chem-01", "GT-101", from_ms=end_ms - 3_600_000, to_ms=end_ms),
    )
    timed(
        "one sensor, last day (limit 10,000)",
        lambda: store.readings("jh-chem-01", "GT-101", from_ms=end_ms - 86_400_000, to_ms=end_ms),
    )
    middle_ms = T0_MS + seconds * 500
    timed(
        "one sensor, 10 minutes in the middle",
        lambda: store.readings("wy-mine-01", "GT-01", from_ms=middle_ms, to_ms=middle_ms + 600_000),
    )
    timed(
        "alarm events of a site, last 6 h",
        lambda: store.points(
            "alarm_event", from_ms=end_ms - 6 * 3_600_000, to_ms=end_ms, tags={"site": "dy-cold-01"}
        ),
    )
    timed(
        "alarm events, all sites, newest 500",
        lambda: store.points("alarm_event", from_ms=T0_MS, to_ms=end_ms, limit=500),
    )
    timed("count of reading rows", store.count_readings, repeat=1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--hours", type=float, default=24.0)
    parser.add_argument("--keep", type=Path, help="keep the database file here")
    args = parser.parse_args()
    seconds = int(args.hours * 3600)
    with tempfile.TemporaryDirectory() as tmp:
        path = args.keep or Path(tmp) / "hazmon.sqlite"
        store = SqliteStore(path)
        print(f"-- filling {path} with {args.hours:g} h of the demo plant at 1 Hz", flush=True)
        rows, elapsed_s = fill(store, seconds)
        store.close()
        store = SqliteStore(path)  # queries on a cold connection
        size = sum(p.stat().st_size for p in path.parent.glob(path.name + "*"))
        print(
            f"wrote {rows:,} readings in {elapsed_s:.0f} s ({rows / elapsed_s:,.0f} rows/s); "
            f"file {size / 2**20:,.0f} MiB, {size / rows:.1f} bytes/row"
        )
        queries(store, seconds)
        store.close()


if __name__ == "__main__":
    main()
