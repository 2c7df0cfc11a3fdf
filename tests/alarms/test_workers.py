"""Alarm workers on a real three-node JetStream cluster (docs/scale-out.md): every
crossing raises exactly one `raised` when the owning worker is killed mid-stream, when
one nats-server of three is killed, and a frozen owner that wakes after a standby took
its partitions over writes nothing more.

Gateways publish through NATS's MQTT listener as their own users; the workers are
`hazmon alarms --broker nats://...` processes. What counts is the journal: every
partition's changelog read back from the cluster."""

from __future__ import annotations

import asyncio
import os
import re
import signal
import threading
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import paho.mqtt.client as paho
import pytest

from hazmon.bus import jetstream as js
from hazmon.contract.config import parse_registry
from hazmon.testing.nats import NatsCluster
from hazmon.testing.processes import Child, hazmon

pytestmark = [pytest.mark.integration, pytest.mark.slow]

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

    def __init__(self, cluster: NatsCluster, run_s: float) -> None:
        self.cluster = cluster
        self.run_s = run_s
        crossings = [(site, sensor) for site in SITES for sensor in SENSORS]
        self.cross_at = {c: (i + 0.5) * run_s / len(crossings) for i, c in enumerate(crossings)}
        self.stop = threading.Event()
        self.sent = 0
        self.unacked = 0
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
        infos = []
        seq = 0
        try:
            while not self.stop.is_set():
                elapsed = time.monotonic() - self.t0
                if elapsed > self.run_s:
                    break
                now_ms = time.time_ns() // 1_000_000
                readings = [
                    {"sensor": s, "ts_ms": now_ms,
                     "value": 70.0 if elapsed >= self.cross_at[(site, s)] else 5.0}
                    for s in SENSORS
                ]
                payload = orjson.dumps({"boot": 1, "seq": seq, "readings": readings})
                infos.append(gw.publish(f"hazmon/v1/{site}/gw1/telemetry", payload, qos=1))
                seq += 1
                self.sent += 1
                time.sleep(PERIOD_S)
            deadline = time.monotonic() + 30.0
            for info in infos:
                info.wait_for_publish(max(0.1, deadline - time.monotonic()))
            self.unacked += sum(not info.is_published() for info in infos)
        finally:
            gw.disconnect()
            gw.loop_stop()


def expected_keys() -> set[str]:
    return {f"{site}/{sensor}/{cond}" for site in SITES for sensor in SENSORS
            for cond in ("high", "high_high")}


async def _journal(cluster: NatsCluster) -> list[dict[str, Any]]:
    """Every changelog record of every partition, with its partition and sequence."""
    nc = await js.connect(cluster.urls, name="test-reader", user="hazmon-alarms",
                          password=cluster.password("hazmon-alarms"))
    records: list[dict[str, Any]] = []
    try:
        for p in range(PARTITIONS):
            def keep(seq: int, data: bytes, p: int = p) -> None:
                records.append({**orjson.loads(data), "partition": p, "seq": seq})

            await js.replay(nc, p, keep)
    finally:
        await nc.close()
    return records


def journal(cluster: NatsCluster) -> list[dict[str, Any]]:
    return asyncio.run(_journal(cluster))


def raised(records: list[dict[str, Any]], event: str = "raised") -> Counter[str]:
    return Counter(e["key"] for r in records for e in r.get("events", ())
                   if e["event"] == event and not e["key"].startswith("_system"))


def wait_all_raised(cluster: NatsCluster, timeout_s: float = 60.0) -> Counter[str]:
    deadline = time.monotonic() + timeout_s
    while True:
        got = raised(journal(cluster))
        if set(got) >= expected_keys() or time.monotonic() > deadline:
            return got
        time.sleep(1.0)


@pytest.fixture
def cluster(tmp_path: Path) -> Iterator[NatsCluster]:
    with NatsCluster(parse_registry(registry_yaml()), size=3,
                     partitions=PARTITIONS) as running:
        yield running


def worker(cluster: NatsCluster, tmp_path: Path, name: str) -> Child:
    config = tmp_path / "plant.yaml"
    config.write_text(registry_yaml(), encoding="utf-8")
    env = {"HAZMON_MQTT_USERNAME": "hazmon-alarms",
           "HAZMON_MQTT_PASSWORD": cluster.password("hazmon-alarms")}
    argv = hazmon("alarms", "--config", str(config), "--broker", "nats://" + ",".join(
        u.removeprefix("nats://") for u in cluster.urls), "--data", str(tmp_path / name),
        "--partitions", str(PARTITIONS), "--worker-id", name)
    child = Child(argv, log=tmp_path / f"{name}.log", env=env, name=name).start()
    child.wait_output("pulling", timeout_s=60)
    return child


def owned(child: Child) -> set[int]:
    """The partitions a worker says it holds now (from its log)."""
    held: set[int] = set()
    for line in child.output().splitlines():
        took = re.search(r"took partition (\d+)", line)
        lost = re.search(r"lost partition (\d+)", line)
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


def test_kill_9_of_the_owner_loses_no_alarm(cluster: NatsCluster, tmp_path: Path) -> None:
    first = worker(cluster, tmp_path, "w1")
    plant = Plant(cluster, run_s=24.0)
    plant.start()
    wait_owned([first])
    second = worker(cluster, tmp_path, "w2")
    time.sleep(8.0)
    killed_at = time.monotonic()
    assert first.stop(signal.SIGKILL) == -signal.SIGKILL
    wait_owned([second], timeout_s=20.0)
    takeover_s = time.monotonic() - killed_at
    plant.join()
    assert plant.unacked == 0, "readings the MQTT listener never acknowledged"
    got = wait_all_raised(cluster)
    time.sleep(TIER_2_S + 2.0)  # the last critical alarms reach their second tier
    escalated = raised(journal(cluster), "escalated")
    second.stop()
    assert takeover_s < 15.0
    critical = {k for k in expected_keys() if k.endswith("/high_high")}
    assert {k: escalated[k] for k in critical if escalated[k] != 1} == {}, (
        "an escalation lost or repeated across the takeover")
    assert {k: n for k, n in got.items() if n != 1} == {}, "a crossing raised more than once"
    assert set(got) == expected_keys(), sorted(expected_keys() - set(got))


def test_a_frozen_owner_that_wakes_writes_nothing(cluster: NatsCluster, tmp_path: Path) -> None:
    first = worker(cluster, tmp_path, "w1")
    plant = Plant(cluster, run_s=26.0)
    plant.start()
    wait_owned([first])
    second = worker(cluster, tmp_path, "w2")
    time.sleep(5.0)
    os.kill(first.pid, signal.SIGSTOP)
    try:
        wait_owned([second], timeout_s=20.0)
        time.sleep(2.0)  # the standby evaluates and commits while the old owner sleeps
    finally:
        os.kill(first.pid, signal.SIGCONT)
    plant.join()
    assert plant.unacked == 0, "readings the MQTT listener never acknowledged"
    got = wait_all_raised(cluster)
    time.sleep(2.0)  # what the woken worker would write, it has written by now
    records = journal(cluster)
    first.stop()
    second.stop()
    assert "lost partition" in first.output()
    for p in range(PARTITIONS):
        fence = max(r["seq"] for r in records
                    if r["partition"] == p and r.get("takeover") == "w2")
        late = [r["seq"] for r in records
                if r["partition"] == p and r["seq"] > fence and r.get("by") == "w1"]
        assert late == [], f"partition {p}: w1 wrote after w2 took it over"
    assert {k: n for k, n in got.items() if n != 1} == {}, "a crossing raised more than once"
    assert set(got) == expected_keys(), sorted(expected_keys() - set(got))


async def _stream_leader(cluster: NatsCluster) -> str:
    nc = await js.connect(cluster.urls, name="test-info", user="hazmon-alarms",
                          password=cluster.password("hazmon-alarms"))
    try:
        info = await js.api(nc, f"STREAM.INFO.{js.IN_STREAM}", {})
    finally:
        await nc.close()
    return str(info["cluster"]["leader"])


def test_killing_a_server_of_three_loses_no_alarm(cluster: NatsCluster, tmp_path: Path) -> None:
    """A node that does not lead the gateways' stream and has no gateway connected
    (docs/scale-out.md, "Failure costs": the stream leader's death costs the readings
    NATS's MQTT listener acknowledged during the election)."""
    first = worker(cluster, tmp_path, "w1")
    plant = Plant(cluster, run_s=20.0)
    plant.start()
    wait_owned([first])
    leader = asyncio.run(_stream_leader(cluster))
    victim = next(i for i, node in enumerate(cluster.nodes) if i != 0 and node.name != leader)
    time.sleep(6.0)
    cluster.kill(victim)
    plant.join()
    assert plant.unacked == 0, "readings the MQTT listener never acknowledged"
    got = wait_all_raised(cluster)
    first.stop()
    assert {k: n for k, n in got.items() if n != 1} == {}, "a crossing raised more than once"
    assert set(got) == expected_keys(), sorted(expected_keys() - set(got))
