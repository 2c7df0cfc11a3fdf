"""hazmon's own journal of a JetStream case of the end-to-end benchmark: the `raised`
events of every partition (its newest snapshot's journal, then the changelog records
after it), counted by (alarm key, reading time), beside the crossings the benchmark
published. It tells a crossing hazmon did not raise (or raised with another time) from
an event that did not reach the benchmark's subscriber.

    .venv/bin/python benchmarks/e2e_bench.py --systems hazmon-jetstream --keep-stores ...
    .venv/bin/python benchmarks/journal_count.py --store DIR [--results results.json]

`--store`: the case's nats-server store the benchmark kept (it prints the folder); it is
copied, and a nats-server of its own (loopback, a free port) serves the copy.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import shutil
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import orjson  # noqa: E402

from hazmon.alarms import changelog  # noqa: E402
from hazmon.bus import jetstream as js  # noqa: E402
from hazmon.testing.nats import NATS_SERVER_BIN  # noqa: E402
from hazmon.testing.servers import free_port, port_accepts  # noqa: E402


async def raised_events(url: str) -> Counter[tuple[str, int]]:
    """(alarm key, reading time) -> how many `raised` every partition's journal holds."""
    nc = await js.connect([url], name="journal-count")
    raised: Counter[tuple[str, int]] = Counter()
    try:
        info = await js.api(nc, f"STREAM.INFO.{js.IN_STREAM}", {})
        partitions = js.partitions_of(info["config"].get("subject_transform")) or 1
        store = await js.existing_snapshot_store(nc)
        for p in range(partitions):
            found = await js.load_snapshot(store, p) if store is not None else None
            covers = 0
            if found is not None:
                data, covers = found
                raised.update((e["key"], e["ts_ms"]) for e in changelog.snapshot_journal(data)
                              if e["event"] == "raised")

            def count(_seq: int, record: bytes) -> None:
                for event in orjson.loads(record).get("events", ()):
                    if event["event"] == "raised":
                        raised[(event["key"], event["ts_ms"])] += 1

            await js.replay(nc, p, count, after=covers)
    finally:
        await nc.close()
    return raised


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--store", type=Path, required=True)
    p.add_argument("--results", type=Path, help="the run's results.json: its crossings")
    a = p.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        copy = Path(tmp) / "store"
        shutil.copytree(a.store, copy)
        port = free_port()
        server = subprocess.Popen(
            [str(NATS_SERVER_BIN), "-js", "-sd", str(copy), "-a", "127.0.0.1", "-p", str(port)],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )
        try:
            deadline = time.monotonic() + 30
            while not port_accepts("127.0.0.1", port) and time.monotonic() < deadline:
                time.sleep(0.2)
            time.sleep(2.0)  # the streams recovered from the store
            raised = asyncio.run(raised_events(f"nats://127.0.0.1:{port}"))
        finally:
            server.terminate()
            server.wait(10)
    plant = {k: n for k, n in raised.items() if not k[0].startswith("_system")}
    print(f"raised in the journal: {sum(plant.values()):,} on {len(plant):,} distinct "
          f"(key, reading time); {sum(1 for n in plant.values() if n > 1):,} of those "
          "raised more than once")
    by_condition = Counter(key.rsplit("/", 1)[-1] for key, _ts in plant)
    print("by condition: " + ", ".join(f"{c} {n:,}" for c, n in sorted(by_condition.items())))
    if a.results is not None:
        phases = json.loads(a.results.read_text())["phases"]
        crossings = sum(int(ph["crossings"]) for ph in phases if ph.get("crossings"))
        print(f"crossings published (every phase of results.json): {crossings:,}")


if __name__ == "__main__":
    main()
