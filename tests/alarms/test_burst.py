"""A burst at more than twice what hazmon takes, on a real three-node JetStream
cluster: gateways publish flat out for 60 s; the ingest replica and the alarm worker
are frozen (SIGSTOP) for the first half, so over the burst they take at most half of
what comes (on two shared cores the test's own publishers cannot outrun hazmon by
themselves; docs/benchmarks.md, "JetStream profile", has the rates). The stream holds
the backlog on disk; afterwards every reading is stored exactly once and every
crossing raised exactly one alarm (docs/scale-out.md, "Failure costs")."""

from __future__ import annotations

import asyncio
import os
import signal
import threading
import time
from pathlib import Path

import pytest

from hazmon.bus import jetstream as js
from hazmon.testing.nats import NatsCluster
from hazmon.testing.servers import InfluxDB
from tests.alarms.cluster_plant import (
    Plant,
    cluster,
    expected_keys,
    registry_yaml,
    wait_all_raised,
    wait_owned,
    worker,
)
from tests.ingest.procs import IngestProcess

pytestmark = [pytest.mark.integration, pytest.mark.slow]
__all__ = ["cluster"]  # the fixture

BURST_S = 60.0


async def _backlog(cluster: NatsCluster) -> tuple[int, int]:
    """Messages and bytes the gateways' stream holds (not yet taken by every consumer)."""
    async with cluster.connected("hazmon-alarms", "test-backlog") as nc:
        state = (await js.api(nc, f"STREAM.INFO.{js.IN_STREAM}", {}))["state"]
    return int(state["messages"]), int(state["bytes"])


def test_a_flat_out_burst_is_held_on_disk_and_nothing_is_lost(
    cluster: NatsCluster, influxdb: InfluxDB, influx_db: str, tmp_path: Path
) -> None:
    config = tmp_path / "plant.yaml"
    config.write_text(registry_yaml(), encoding="utf-8")
    ingest = IngestProcess(
        config=config, influx=f"{influxdb.url}/{influx_db}", data=tmp_path / "ingest",
        broker="nats://" + ",".join(u.removeprefix("nats://") for u in cluster.urls),
        env={"HAZMON_MQTT_USERNAME": "hazmon-ingest",
             "HAZMON_MQTT_PASSWORD": cluster.password("hazmon-ingest"),
             "HAZMON_STREAMS_FILE": str(cluster.out / "streams.json")},
    )
    ingest.start()
    alarms = worker(cluster, tmp_path, "w1")
    plant = Plant(cluster, run_s=BURST_S, period_s=0.0)
    peak = [0, 0]
    done = threading.Event()

    def watch() -> None:
        while not done.wait(2.0):
            messages, size = asyncio.run(_backlog(cluster))
            peak[:] = [max(peak[0], messages), max(peak[1], size)]

    watcher = threading.Thread(target=watch, daemon=True)
    wait_owned([alarms], timeout_s=60)  # ticks give every partition its owner
    plant.start()
    watcher.start()
    for child in (ingest.child, alarms):
        os.kill(child.pid, signal.SIGSTOP)
    try:
        time.sleep(BURST_S / 2)
    finally:
        for child in (ingest.child, alarms):
            os.kill(child.pid, signal.SIGCONT)
    plant.join()
    assert plant.unacked == 0, "readings the MQTT listener never acknowledged"
    published_s = time.monotonic() - plant.t0

    def stored() -> int:
        return influxdb.count(influx_db, "reading", "value")

    deadline = time.monotonic() + 180
    while stored() < plant.readings and time.monotonic() < deadline:
        time.sleep(1.0)
    got = wait_all_raised(cluster, timeout_s=120)
    drained_s = time.monotonic() - plant.t0
    done.set()
    watcher.join(10)
    alarms.stop()
    assert ingest.stop() == 0
    print(f"\nburst: {plant.sent} messages, {plant.readings} readings in {published_s:.0f} s "
          f"({plant.readings / published_s:.0f} readings/s); all stored and evaluated after "
          f"{drained_s:.0f} s; backlog peak {peak[0]} messages, {peak[1] / 1e6:.1f} MB")
    assert stored() == plant.readings
    assert {k: n for k, n in got.items() if n != 1} == {}, "a crossing raised more than once"
    assert set(got) == expected_keys(), (sorted(expected_keys() - set(got)),
                                        sorted(set(got) - expected_keys()))
    assert peak[0] > plant.sent / 3, "the burst never got far ahead of hazmon"
