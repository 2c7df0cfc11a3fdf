"""How long a takeover's replay takes: N changelog records of one partition (each the
commit of one message's evaluation: a reading's last value and a sensor's state, an
alarm event every 50th) appended to a real nats-server, then replayed into a fresh
local database, as a worker taking the partition over does.

    .venv/bin/python benchmarks/replay_bench.py [--records 20000]
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from hazmon.alarms import changelog  # noqa: E402
from hazmon.alarms.core.model import Dirty, Event  # noqa: E402
from hazmon.alarms.state_db import AlarmDb  # noqa: E402
from hazmon.bus import jetstream as js  # noqa: E402
from hazmon.testing.nats import NatsCluster  # noqa: E402


def record(i: int) -> bytes:
    sensor = f"GT-{i % 500}"
    dirty = Dirty(
        sensors={f"s1/{sensor}": {"value": float(i % 97), "ts_ms": 1_700_000_000_000 + i}},
        last={"s1": {sensor: [1_700_000_000_000 + i, 1_700_000_000_000 + i, float(i % 97),
                              "good"]}},
        gateways={"s1/gw1": {"boot": 1, "seq": i}},
    )
    events = []
    if i % 50 == 0:
        events.append(Event(key=f"s1/{sensor}/high", site="s1", event="raised",
                            ts_ms=1_700_000_000_000 + i, alarm_id=f"s1/{sensor}/high#{i}",
                            sensor=sensor, condition="high", priority="high",
                            from_state="normal", state="unack", value=60.0))
    return changelog.encode(events, dirty, now_ms=1_700_000_000_000 + i, by="bench")


async def run(records: int) -> None:
    with NatsCluster(size=1) as cluster:
        nc = await js.connect(cluster.urls, name="bench", user="hazmon-alarms",
                              password=cluster.password("hazmon-alarms"))
        await js.ensure_streams(nc, js.StreamPlan(partitions=1))
        data = [record(i) for i in range(records)]
        started = time.perf_counter()
        last = 0
        for body in data:
            last = await js.append(nc, 0, body, after=last)
        append_s = time.perf_counter() - started
        size = sum(len(b) for b in data)
        with tempfile.TemporaryDirectory() as tmp:
            db = AlarmDb(Path(tmp))
            started = time.perf_counter()
            await js.replay(nc, 0, lambda _seq, body: changelog.apply(db, body))
            replay_s = time.perf_counter() - started
            db.close()
        await nc.close()
    print(f"{records:,} records ({size / records:.0f} bytes each, {size / 1e6:.1f} MB)")
    print(f"append, one at a time with its expected sequence: {records / append_s:,.0f}/s")
    print(f"replay into a fresh database: {replay_s:.2f} s, {records / replay_s:,.0f} records/s")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--records", type=int, default=20_000)
    asyncio.run(run(p.parse_args().records))


if __name__ == "__main__":
    main()
