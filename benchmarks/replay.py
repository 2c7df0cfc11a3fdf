"""What-if replay speed (docs/alarms.md, "What-if replay"): readings/s of the replay's
core (both registries' engines in one pass, quiet readings skipped) over synthetic
readings, and of the store read plus the core over a history stored in the embedded
store, extrapolated to a 30-day, 10,000-sensor plant at one reading per 10 s.

    nice -n 10 .venv/bin/python benchmarks/replay.py                      # 2,000 sensors, 12 h
    nice -n 10 .venv/bin/python benchmarks/replay.py --workers 2 --keep /tmp/replay-store

The plant: `--sensors` pressure transmitters (high 8.0, high_high 9.0 MPa) on gateways
of 50, one reading each per 10 s; about 2 % of them swing over their limits a few
times an hour, the rest stay near 5 MPa. The proposal raises `high` to 8.5 with a
deadband of 0.2. The store is filled through `SqliteStore.write_readings` in batches
of 5,000, as ingest writes it, into a temporary folder (or `--keep PATH`).
"""

from __future__ import annotations

import argparse
import math
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).parents[1]
sys.path.insert(0, str(ROOT))

from hazmon.alarms.replay import compare, replay  # noqa: E402
from hazmon.alarms.replay.run import GatewayReplay, StoreSpec, Tally  # noqa: E402
from hazmon.alarms.replay.source import gateway_readings  # noqa: E402
from hazmon.contract.config import parse_registry  # noqa: E402
from hazmon.contract.registry import Registry  # noqa: E402
from hazmon.contract.settings import Settings  # noqa: E402
from hazmon.contract.wire import Reading  # noqa: E402
from hazmon.stores import SQLITE_FILE  # noqa: E402
from hazmon.stores.base import Latest  # noqa: E402
from hazmon.stores.sqlite import SqliteStore  # noqa: E402

T0_MS = 1_764_547_200_000  # 2025-12-01T00:00:00Z
PERIOD_MS = 10_000
PER_GATEWAY = 50
TARGET_READINGS = 260_000_000  # 30 days, 10,000 sensors, one reading per 10 s
TARGET_S = 600
BATCH = 5000


def registry_text(sensors: int, *, high: float, deadband: float) -> str:
    lines = ["sites:", "  - id: bench", "    name: Replay bench",
             "    industry: hazardous_chemicals", "    location: {lat: 29.0, lon: 119.6}",
             "    gateways:"]
    for g in range(math.ceil(sensors / PER_GATEWAY)):
        lines += [f"      - id: gw{g:03d}", "        period_s: 10", "        sensors:"]
        for s in range(g * PER_GATEWAY, min(sensors, (g + 1) * PER_GATEWAY)):
            lines.append(f"          - {{id: PT-{s:05d}, kind: pressure, unit: MPa, range: [0, 10],"
                         f" deadband: {deadband}, thresholds: {{high: {high}, high_high: 9.0}}}}")
    return "\n".join(lines) + "\n"


def plant(sensors: int) -> tuple[Registry, Registry]:
    current = parse_registry(registry_text(sensors, high=8.0, deadband=0.0))
    proposed = parse_registry(registry_text(sensors, high=8.5, deadband=0.2))
    return current, proposed


def value(sensor: int, step: int) -> float:
    """Near 5 MPa; every 50th sensor swings up to 9.4 MPa with a 20-minute period."""
    noise = ((sensor * 7919 + step * 104729) % 1000) / 1000 - 0.5
    if sensor % 50 == 7:
        return 6.0 + 3.4 * max(0.0, math.sin(2 * math.pi * step / 120)) + noise
    return 5.0 + noise


def synthetic(gateway: int, sensors: int, steps: int) -> Iterator[Latest]:
    first = gateway * PER_GATEWAY
    ids = range(first, min(sensors, first + PER_GATEWAY))
    for step in range(steps):
        ts_ms = T0_MS + step * PERIOD_MS
        for s in ids:
            yield Latest("bench", f"gw{gateway:03d}", f"PT-{s:05d}", "analog", ts_ms,
                         value(s, step), None, "good")


def core_alone(sensors: int, hours: float, *, skip_quiet: bool) -> tuple[int, float]:
    current, proposed = plant(sensors)
    steps = int(hours * 3600_000 / PERIOD_MS)
    to_ms = T0_MS + steps * PERIOD_MS
    tally = Tally()
    gateways = math.ceil(sensors / PER_GATEWAY)
    made = [list(synthetic(g, sensors, steps)) for g in range(gateways)]  # not timed
    started = time.perf_counter()
    for g in range(gateways):
        feed = GatewayReplay("bench", f"gw{g:03d}", {"current": current, "proposed": proposed},
                             from_ms=T0_MS, skip_quiet=skip_quiet)
        feed.run(iter(made[g]), to_ms=to_ms, tally=tally)
    return tally.readings, time.perf_counter() - started


def fill(store: SqliteStore, sensors: int, hours: float) -> tuple[int, float]:
    steps = int(hours * 3600_000 / PERIOD_MS)
    started = time.perf_counter()
    batch: list[Reading] = []
    rows = 0
    for step in range(steps):
        ts_ms = T0_MS + step * PERIOD_MS
        for s in range(sensors):
            batch.append(Reading("bench", f"gw{s // PER_GATEWAY:03d}", f"PT-{s:05d}", "analog",
                                 ts_ms, value(s, step), None, "good", False, False))
            if len(batch) >= BATCH:
                store.write_readings(batch)
                rows += len(batch)
                batch = []
    if batch:
        store.write_readings(batch)
        rows += len(batch)
    return rows, time.perf_counter() - started


def read_alone(store: SqliteStore, registry: Registry, to_ms: int) -> tuple[int, float]:
    started = time.perf_counter()
    count = 0
    for site in registry.sites:
        for gw in site.gateways:
            for _ in gateway_readings(store, site.id, [s.id for s in gw.sensors],
                                      from_ms=T0_MS, to_ms=to_ms):
                count += 1
    return count, time.perf_counter() - started


def line(what: str, readings: int, seconds: float) -> float:
    rate = readings / seconds
    print(f"  {what:<44} {readings:>12,} readings in {seconds:7.1f} s  {rate:>11,.0f} /s"
          f"  -> 260 M in {TARGET_READINGS / rate / 60:5.1f} min")
    return rate


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sensors", type=int, default=2000)
    parser.add_argument("--hours", type=float, default=12.0, help="stored history")
    parser.add_argument("--core-hours", type=float, default=6.0, help="synthetic, core alone")
    parser.add_argument("--workers", type=int, default=1, help="processes over gateways")
    parser.add_argument("--keep", type=Path, help="keep (or reuse) the store in this folder")
    args = parser.parse_args()
    print(f"plant: {args.sensors:,} sensors, {PER_GATEWAY} per gateway, one reading per 10 s; "
          "two registries (current, proposed) in one pass")
    print("(a) the replay's core over synthetic readings (no store)")
    n, s = core_alone(args.sensors, args.core_hours, skip_quiet=True)
    core_rate = line("core, quiet readings skipped", n, s)
    n, s = core_alone(args.sensors, args.core_hours, skip_quiet=False)
    line("core, every reading to both engines", n, s)
    with tempfile.TemporaryDirectory() as tmp:
        folder = args.keep or Path(tmp)
        path = folder / SQLITE_FILE
        store = SqliteStore(path)
        if store.count_readings() == 0:
            rows, secs = fill(store, args.sensors, args.hours)
            print(f"(b) stored {rows:,} readings in {secs:.0f} s ({rows / secs:,.0f} rows/s)"
                  f" in {path}")
        else:
            print(f"(b) reusing {store.count_readings():,} readings in {path}")
        current, proposed = plant(args.sensors)
        to_ms = T0_MS + int(args.hours * 3600_000) - 1
        n, s = read_alone(store, current, to_ms)
        read_rate = line("store read alone (SqliteStore.readings)", n, s)
        tally = Tally()
        started = time.perf_counter()
        runs = replay(store, {"current": current, "proposed": proposed}, from_ms=T0_MS,
                      to_ms=to_ms, tally=tally, workers=args.workers,
                      reopen=StoreSpec(influx=None, data_dir=folder, settings=Settings()))
        s = time.perf_counter() - started
        total = line(f"store read + core, {args.workers} process(es)", tally.readings, s)
        report = compare(runs["current"].events, runs["proposed"].events, sites=["bench"],
                         from_ms=T0_MS, to_ms=to_ms)
        store.close()
    print(f"  evaluated by the engines: {tally.evaluated:,} of {tally.readings:,} readings "
          f"({tally.evaluated / max(tally.readings, 1):.1%}); raised: current "
          f"{report['current']['total']['raised']:,}, proposed "
          f"{report['proposed']['total']['raised']:,}; missed {report['safety']['missed']}, "
          f"delayed {report['safety']['delayed']}")
    share = (1 / read_rate) / (1 / read_rate + 1 / core_rate)
    print(f"per reading in one process, the store read is {share:.0%} of read + core; "
          f"at the measured {total:,.0f} readings/s ({args.workers} process(es)) 260 M "
          f"readings take {TARGET_READINGS / total / 60:.1f} min (target {TARGET_S // 60} min)")


if __name__ == "__main__":
    main()
