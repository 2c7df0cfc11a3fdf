"""A plant on a real JetStream cluster for the alarm workers' tests: sites whose
gateways publish over NATS's MQTT listener as their own users, `hazmon alarms
--broker nats://...` workers as processes, and the journal read back from every
partition's changelog."""

from __future__ import annotations

import asyncio
import base64
import re
import threading
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import paho.mqtt.client as paho
import pytest

from hazmon.alarms import changelog
from hazmon.bus import jetstream as js
from hazmon.contract.config import parse_registry
from hazmon.testing.nats import NatsCluster
from hazmon.testing.processes import Child, hazmon

PARTITIONS = 4
SITES = [f"plant-{i}" for i in range(6)]
SENSORS = [f"GT-{i}" for i in range(4)]
PERIOD_S = 0.1
TIER_2_S = 6  # an unacknowledged critical alarm goes to the second tier after this


def registry_yaml() -> str:
    lines = ["sites:"]
    for i, site in enumerate(SITES):
        lines += [
            f"  - id: {site}",
            f"    name: Plant {i}",
            "    industry: hazardous_chemicals",
            f"    location: {{lat: 29.{i}, lon: 119.6}}",
            "    gateways:",
            "      - id: gw1",
            "        period_s: 1",
            "        sensors:",
            *(f"          - {{id: {s}, kind: combustible_gas, range: [0, 100]}}"
              for s in SENSORS),
        ]
    lines += ["notifiers:", "  duty: {log: true}", "  lead: {log: true}",
              "escalation:",
              f"  critical: [{{after_s: 0, notify: [duty]}}, {{after_s: {TIER_2_S}, "
              "notify: [lead]}]",
              "  high: [{after_s: 0, notify: [duty]}]", "  repeat_s: 3600"]
    return "\n".join(lines) + "\n"


class Plant:
    """Every site's gateway publishing all its sensors every PERIOD_S; each sensor goes
    over high_high once, at its own moment of the run, and stays there."""

    def __init__(self, cluster: NatsCluster, run_s: float, period_s: float = PERIOD_S) -> None:
        self.cluster = cluster
        self.run_s = run_s
        self.period_s = period_s  # 0: flat out
        crossings = [(site, sensor) for site in SITES for sensor in SENSORS]
        self.cross_at = {c: (i + 0.5) * run_s / len(crossings) for i, c in enumerate(crossings)}
        self.stop = threading.Event()
        self.sent = 0
        self.readings = 0
        self.unacked = 0
        self._count = threading.Lock()  # the gateways' threads add up here
        self._threads: list[threading.Thread] = []

    def start(self) -> None:
        self.t0 = time.monotonic()
        for site in SITES:
            thread = threading.Thread(target=self._gateway, args=(site,), daemon=True)
            thread.start()
            self._threads.append(thread)

    def join(self) -> None:
        for thread in self._threads:
            thread.join(self.run_s + 60)

    def _gateway(self, site: str) -> None:
        """A gateway as the product's: QoS 1 with paho's in-flight window, so a slow
        PUBACK delays nothing (paho sends again what a lost connection left)."""
        user = f"{site}.gw1"
        gw = paho.Client(paho.CallbackAPIVersion.VERSION2, client_id=f"gw-{site}",
                         protocol=paho.MQTTv311, clean_session=False)
        gw.username_pw_set(user, self.cluster.password(user))
        gw.max_inflight_messages_set(1000)
        gw.connect("127.0.0.1", self.cluster.nodes[0].mqtt_port)
        gw.loop_start()
        deadline = time.monotonic() + 30.0  # CONNACK first: a publish before it fails
        while not gw.is_connected() and time.monotonic() < deadline:
            time.sleep(0.02)
        assert gw.is_connected(), f"gateway {user} not connected"
        infos = []
        seq = 0
        ts_ms = 0
        try:
            while not self.stop.is_set():
                elapsed = time.monotonic() - self.t0
                if elapsed > self.run_s:
                    break
                ts_ms = max(time.time_ns() // 1_000_000, ts_ms + 1)  # one reading per ms
                readings = [
                    {"sensor": s, "ts_ms": ts_ms,
                     "value": 70.0 if elapsed >= self.cross_at[(site, s)] else 5.0}
                    for s in SENSORS
                ]
                payload = orjson.dumps({"boot": 1, "seq": seq, "readings": readings})
                infos.append(gw.publish(f"hazmon/v1/{site}/gw1/telemetry", payload, qos=1))
                seq += 1
                with self._count:
                    self.sent += 1
                    self.readings += len(readings)
                if self.period_s:
                    time.sleep(self.period_s)
                elif seq % 100 == 0:  # flat out, but no more waiting in paho than it sends
                    while sum(not i.is_published() for i in infos[-2000:]) > 1000:
                        time.sleep(0.005)
            # a message published while the listener had dropped the connection (a node
            # of the cluster going away) is queued by paho and sent on the reconnect: its
            # PUBACK is what counts, not the return code of publish()
            deadline = time.monotonic() + 30.0
            while time.monotonic() < deadline and not all(_acked(i) for i in infos):
                time.sleep(0.1)
            with self._count:
                self.unacked += sum(not _acked(info) for info in infos)
        finally:
            gw.disconnect()
            gw.loop_stop()


def _acked(info: paho.MQTTMessageInfo) -> bool:
    """Whether the listener acknowledged it. paho's is_published() raises for a message
    published while disconnected, which paho still queues and sends on the reconnect:
    its PUBACK is then in the flag is_published() would read."""
    try:
        return info.is_published()
    except RuntimeError:
        return bool(info._published)


def expected_keys() -> set[str]:
    return {f"{site}/{sensor}/{cond}" for site in SITES for sensor in SENSORS
            for cond in ("high", "high_high")}


async def _journal(cluster: NatsCluster, snapshots: bool) -> list[dict[str, Any]]:
    """Every partition's history, with its partition and sequence: with `snapshots`,
    the journal of its newest snapshot as one record (sequence: the record it covers;
    the changelog before it may be trimmed), then every changelog record after it;
    else every changelog record still kept (a hand-over's snapshot trims the records
    before the previous snapshot)."""
    records: list[dict[str, Any]] = []
    async with cluster.connected("hazmon-alarms", "test-reader") as nc:
        store = await js.existing_snapshot_store(nc)
        for p in range(PARTITIONS):
            found = await js.load_snapshot(store, p) if store and snapshots else None
            covers = 0
            if found is not None:
                data, covers = found
                records.append({"events": changelog.snapshot_journal(data), "partition": p,
                                "seq": covers, "snapshot": True})
            elif not snapshots:
                covers = await _before_first_kept(nc, p)

            def keep(seq: int, data: bytes, p: int = p) -> None:
                records.append({**orjson.loads(data), "partition": p, "seq": seq})

            await js.replay(nc, p, keep, after=covers)
    return records


async def _before_first_kept(nc: Any, partition: int) -> int:
    """The record the partition's oldest kept record follows (0 when none was trimmed)."""
    try:
        doc = await js.api(nc, f"STREAM.MSG.GET.{js.PARTS_STREAM}",
                           {"next_by_subj": js.part_subject(partition), "seq": 1})
    except js.JetStreamError:  # no record at all
        return 0
    headers = base64.b64decode(doc["message"].get("hdrs") or b"").decode()
    found = re.search(rf"{js.AFTER_HEADER}:\s*(\d+)", headers)
    return int(found.group(1)) if found else 0


def journal(cluster: NatsCluster, *, snapshots: bool = True) -> list[dict[str, Any]]:
    return asyncio.run(_journal(cluster, snapshots))


def raised(records: list[dict[str, Any]], event: str = "raised") -> Counter[str]:
    return Counter(e["key"] for r in records for e in r.get("events", ())
                   if e["event"] == event and not e["key"].startswith("_system"))


def wait_all_raised(cluster: NatsCluster, timeout_s: float = 60.0) -> Counter[str]:
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            got = raised(journal(cluster))
        except js.JetStreamError:  # no leader yet for a stream (a node was killed)
            if time.monotonic() > deadline:
                raise
            time.sleep(1.0)
            continue
        if set(got) >= expected_keys() or time.monotonic() > deadline:
            return got
        time.sleep(1.0)


@pytest.fixture
def cluster(tmp_path: Path) -> Iterator[NatsCluster]:
    with NatsCluster(parse_registry(registry_yaml()), size=3,
                     partitions=PARTITIONS) as running:
        yield running


def worker(cluster: NatsCluster, tmp_path: Path, name: str, *extra: str) -> Child:
    config = tmp_path / "plant.yaml"
    config.write_text(registry_yaml(), encoding="utf-8")
    env = {"HAZMON_MQTT_USERNAME": "hazmon-alarms",
           "HAZMON_MQTT_PASSWORD": cluster.password("hazmon-alarms"),
           "HAZMON_STREAMS_FILE": str(cluster.out / "streams.json")}
    argv = hazmon("alarms", "--config", str(config), "--broker", "nats://" + ",".join(
        u.removeprefix("nats://") for u in cluster.urls), "--data", str(tmp_path / name),
        "--partitions", str(PARTITIONS), "--worker-id", name, *extra)
    child = Child(argv, log=tmp_path / f"{name}.log", env=env, name=name).start()
    child.wait_output("pulling", timeout_s=60)
    return child


def owned(child: Child) -> set[int]:
    """The partitions a worker says it holds now (from its log)."""
    held: set[int] = set()
    for line in child.output().splitlines():
        took = re.search(r"took partition (\d+)", line)
        lost = re.search(r"(?:lost|handed) partition (\d+)", line)
        if took:
            held.add(int(took.group(1)))
        if lost:
            held.discard(int(lost.group(1)))
    return held


def wait_owned(children: list[Child], timeout_s: float = 30.0) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if set().union(*(owned(c) for c in children)) == set(range(PARTITIONS)):
            return
        time.sleep(0.2)
    raise AssertionError("not every partition has an owner: "
                         + "; ".join(f"{c.name}: {sorted(owned(c))}" for c in children))


