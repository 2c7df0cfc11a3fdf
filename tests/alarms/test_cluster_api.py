"""The HTTP API of a JetStream cluster (docs/scale-out.md): `hazmon api` owns no
partition and answers for every site from replicated state; an operator action goes
to the partition's owner and is answered once committed.

- A copy of a partition kept record by record from its changelog answers every read
  as the owner's desk does, and as a desk built afresh over the copy (unit).
- On a real three-node cluster, with two alarm workers and a gateway raising an alarm,
  an operator acknowledges through `hazmon api`: the answer comes once committed, the
  API's next read shows it, the owner's journal (every partition's changelog) records
  it once, written by the owner; refusals answer as on one box (integration).
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import re
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
import orjson
import paho.mqtt.client as paho
import pytest

from hazmon.alarms import changelog
from hazmon.alarms.cluster_desk import Copy
from hazmon.alarms.core.inputs import (
    Ack,
    BypassPermit,
    OutOfService,
    Reset,
    ReturnToService,
    Shelve,
    Unshelve,
)
from hazmon.alarms.sqlite_desk import AlarmDesk
from hazmon.alarms.state_db import AlarmDb
from hazmon.bus import jetstream as js
from hazmon.contract.config import parse_registry
from hazmon.contract.registry import Registry
from hazmon.stores.memory import MemoryStore
from hazmon.testing.nats import NatsCluster
from hazmon.testing.processes import Child, hazmon
from tests.alarms.plant import Clock, key, registry, telemetry

# -- a copy kept from the changelog -----------------------------------------------------


class Owner:
    """An owner's desk whose every commit is a changelog record, and a copy that
    follows the records."""

    def __init__(self, tmp: Path, reg: Registry, clock: Clock) -> None:
        self.reg = reg
        self.clock = clock
        self.records: list[bytes] = []
        self.desk = AlarmDesk(
            registry=reg, data_dir=tmp / "owner", store=MemoryStore(), clock=clock,
            database=changelog.ReplicatedDb(tmp / "owner", self.records.append, by="w1"),
        )
        self.copy = Copy(0, reg, tmp / "copy", MemoryStore(), clock=clock)
        self.folder = tmp / "copy"
        self.seq = 0
        self.seq_gw2 = 0

    def send(self, *readings: dict[str, Any], gateway: str = "gw1") -> None:
        seq = self.seq if gateway == "gw1" else self.seq_gw2
        topic = f"hazmon/v1/s1/{gateway}/telemetry"
        self.desk.receive([(topic, telemetry(seq, *readings))])
        if gateway == "gw1":
            self.seq += 1
        else:
            self.seq_gw2 += 1

    def value(self, sensor: str, value: float, gateway: str = "gw1") -> None:
        self.send({"sensor": sensor, "ts_ms": self.clock.now_ms, "value": value},
                  gateway=gateway)

    def follow(self) -> None:
        """The copy takes the new records; its view answers as the owner's desk and as
        a desk built afresh over the copy."""
        for data in self.records[self.copy.applied:]:
            self.copy.commit(self.copy.applied + 1, data)
        self.copy.settle()
        fresh = AlarmDesk(registry=self.reg, data_dir=self.folder, store=MemoryStore(),
                          clock=self.clock, database=AlarmDb(self.folder))
        try:
            view = self.copy.view
            for desk in (self.desk, fresh):
                assert view.alarms(limit=1000) == desk.alarms(limit=1000)
                assert view.alarms(active=True, limit=1000) == desk.alarms(active=True,
                                                                            limit=1000)
                assert view.risk_grades() == desk.risk_grades()
                assert view.active_counts("s1") == desk.active_counts("s1")
                assert view.last_readings("s1") == desk.last_readings("s1")
        finally:
            fresh.close()


def test_a_copy_kept_record_by_record_answers_as_the_owner(tmp_path: Path) -> None:
    clock = Clock()
    owner = Owner(tmp_path, registry(), clock)
    high, high_high = f"{key('GT-1', 'high')}#1", f"{key('GT-1', 'high_high')}#1"
    owner.value("GT-1", 60.0)
    owner.value("GT-9", 3.0, gateway="gw2")
    owner.follow()
    assert owner.copy.view.active_counts("s1")["critical"] == 1
    clock.advance(5)
    owner.desk.act(Ack(high_high, "zhang.wei", "crew sent"))
    owner.desk.act(Shelve(high, "li.na", minutes=30, reason="detector being replaced"))
    owner.follow()
    assert [a["shelved_until_ms"] for a in owner.copy.view.alarms() if a["alarm_id"] == high] \
        == [clock.now_ms + 30 * 60_000]
    owner.desk.act(OutOfService("s1", "GT-9", "li.na", until_ms=clock.now_ms + 3_600_000,
                                reason="recalibration"))
    owner.desk.act(BypassPermit("s1", "ESD-A", "li.na", until_ms=clock.now_ms + 600_000,
                                reason="proof test", approved_by="chief",
                                compensating_measures="fire watch"))
    owner.follow()
    clock.advance(2)
    owner.value("GT-1", 5.0)  # the acked high_high returns (latched); the shelved high too
    owner.follow()
    owner.desk.act(Reset(high_high, "zhang.wei"))  # ends it
    owner.follow()
    assert high_high not in {a["alarm_id"] for a in owner.copy.view.alarms(active=True)}
    owner.desk.act(Unshelve(high, "li.na"))
    owner.desk.act(ReturnToService("s1", "GT-9", "li.na"))
    owner.follow()
    clock.advance(30)
    owner.desk.tick()  # silent gateways: offline
    owner.follow()
    clock.advance(1)
    owner.value("GT-1", 80.0)  # a second occurrence
    owner.follow()
    active = {a["alarm_id"] for a in owner.copy.view.alarms(active=True)}
    assert f"{key('GT-1', 'high_high')}#2" in active and high_high not in active
    alarms = {a["alarm_id"]: a for a in owner.copy.view.alarms()}
    assert (alarms[high_high]["acked_by"], alarms[high_high]["state"]) == ("zhang.wei",
                                                                          "normal")
    owner.copy.use_registry(owner.reg)  # a reload builds the view afresh: the same answers
    owner.follow()
    assert owner.copy.applied == len(owner.records) > 8


# -- through `hazmon api` on a real cluster -----------------------------------------------

PARTITIONS = 4
SITES = [f"plant-{i}" for i in range(4)]
SITE = SITES[1]
TOKEN = "cluster-admin-token"


def registry_yaml() -> str:
    digest = hashlib.sha256(TOKEN.encode()).hexdigest()
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
            "          - {id: GT-1, kind: combustible_gas, range: [0, 100]}",
        ]
    lines += ["notifiers:", "  duty: {log: true}",
              "escalation:", "  critical: [{after_s: 0, notify: [duty]}]",
              "  high: [{after_s: 0, notify: [duty]}]",
              "auth:", "  tokens:", f"    - {{name: admin, role: admin, sha256: \"{digest}\"}}"]
    return "\n".join(lines) + "\n"


@pytest.fixture
def cluster() -> Iterator[NatsCluster]:
    with NatsCluster(parse_registry(registry_yaml()), size=3,
                     partitions=PARTITIONS) as running:
        yield running


def broker(cluster: NatsCluster) -> str:
    return "nats://" + ",".join(u.removeprefix("nats://") for u in cluster.urls)


def config(tmp_path: Path) -> Path:
    path = tmp_path / "plant.yaml"
    path.write_text(registry_yaml(), encoding="utf-8")
    return path


def worker(cluster: NatsCluster, tmp_path: Path, name: str, *extra: str) -> Child:
    env = {"HAZMON_MQTT_USERNAME": "hazmon-alarms",
           "HAZMON_MQTT_PASSWORD": cluster.password("hazmon-alarms")}
    argv = hazmon("alarms", "--config", str(config(tmp_path)), "--broker", broker(cluster),
                  "--data", str(tmp_path / name), "--partitions", str(PARTITIONS),
                  "--worker-id", name, *extra)
    child = Child(argv, log=tmp_path / f"{name}.log", env=env, name=name).start()
    child.wait_output("pulling", timeout_s=60)
    return child


def api(cluster: NatsCluster, tmp_path: Path, port: int, *, wait: bool = True) -> Child:
    env = {"HAZMON_MQTT_USERNAME": "hazmon-api",
           "HAZMON_MQTT_PASSWORD": cluster.password("hazmon-api")}
    argv = hazmon("api", "--config", str(config(tmp_path)), "--broker", broker(cluster),
                  "--http", f"127.0.0.1:{port}", "--data", str(tmp_path / "api"))
    child = Child(argv, log=tmp_path / "api.log", env=env, name="api").start()
    if wait:
        child.wait_output("hazmon console:", timeout_s=60)
    return child


def held(child: Child) -> set[int]:
    """The partitions a worker says it holds now (from its log)."""
    partitions: set[int] = set()
    for line in child.output().splitlines():
        if took := re.search(r"took partition (\d+)", line):
            partitions.add(int(took.group(1)))
        if lost := re.search(r"(?:lost|handed) partition (\d+)", line):
            partitions.discard(int(lost.group(1)))
    return partitions


class Gateway:
    """The site's gateway: GT-1 over high_high, once a second, until stopped."""

    def __init__(self, cluster: NatsCluster, site: str, node: int = 0) -> None:
        user = f"{site}.gw1"
        self.client = paho.Client(paho.CallbackAPIVersion.VERSION2, client_id=f"gw-{site}",
                                  protocol=paho.MQTTv311)
        self.client.username_pw_set(user, cluster.password(user))
        self.client.connect("127.0.0.1", cluster.nodes[node].mqtt_port)
        self.client.loop_start()
        self.site = site
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        for seq in range(120):
            if self.stop.wait(0.0 if seq == 0 else 1.0):
                return
            reading = {"sensor": "GT-1", "ts_ms": time.time_ns() // 1_000_000, "value": 70.0}
            self.client.publish(f"hazmon/v1/{self.site}/gw1/telemetry",
                                orjson.dumps({"boot": 1, "seq": seq, "readings": [reading]}),
                                qos=1)

    def close(self) -> None:
        self.stop.set()
        self.thread.join(5)
        self.client.disconnect()
        self.client.loop_stop()


class Events:
    """The API's live stream, read in a thread until an item `wanted` is true of."""

    def __init__(self, url: str, wanted: Any) -> None:
        self.ready = threading.Event()  # subscribed
        self.found = threading.Event()
        self.wanted = wanted
        self.thread = threading.Thread(target=self._read, args=(url,), daemon=True)
        self.thread.start()

    def _read(self, url: str) -> None:
        headers = {"Authorization": f"Bearer {TOKEN}"}
        try:
            with httpx.Client(base_url=url, headers=headers, timeout=30.0) as client, \
                    client.stream("GET", "/api/v1/stream") as answer:
                event = ""
                for line in answer.iter_lines():
                    if line.startswith("event: "):
                        event = line.removeprefix("event: ")
                    elif line.startswith("data: "):
                        data = orjson.loads(line.removeprefix("data: "))
                        if event == "ready":
                            self.ready.set()
                        elif self.wanted(event, data):
                            self.found.set()
                            return
        except httpx.HTTPError:
            return


async def _changelog(cluster: NatsCluster) -> list[dict[str, Any]]:
    """Every changelog record of every partition, with its partition."""
    records: list[dict[str, Any]] = []
    async with cluster.connected("hazmon-alarms", "test-reader") as nc:
        for p in range(PARTITIONS):
            def keep(_seq: int, data: bytes, p: int = p) -> None:
                records.append({**orjson.loads(data), "partition": p})

            await js.replay(nc, p, keep)
    return records


def wait_for(what: str, check: Any, timeout_s: float = 45.0) -> Any:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        found = check()
        if found:
            return found
        time.sleep(0.5)
    raise AssertionError(f"no {what} after {timeout_s:g} s")


@pytest.mark.integration
@pytest.mark.slow
def test_an_ack_through_an_api_that_owns_nothing_is_journalled_once_by_the_owner(
    cluster: NatsCluster, tmp_path: Path
) -> None:
    from hazmon.testing.servers import free_port

    workers = [worker(cluster, tmp_path, "w1"), worker(cluster, tmp_path, "w2")]
    port = free_port()
    front = api(cluster, tmp_path, port)
    gateway = Gateway(cluster, SITE)
    http = httpx.Client(base_url=f"http://127.0.0.1:{port}",
                        headers={"Authorization": f"Bearer {TOKEN}"}, timeout=30.0)
    try:
        def raised() -> dict[str, Any] | None:
            answer = http.get("/api/v1/alarms", params={"active": "true"})
            assert answer.status_code == 200, answer.text
            return next((a for a in answer.json() if a["site"] == SITE
                         and a["condition"] == "high_high"), None)

        alarm = wait_for("raised alarm in the API", raised)
        alarm_id = alarm["alarm_id"]
        assert alarm["state"] == "unack" and alarm["acked_by"] is None
        wait_for("partitions spread over the workers", lambda: all(
            len(held(w)) == PARTITIONS // 2 for w in workers))
        live = Events(str(http.base_url), lambda event, data: event == "alarm"
                      and (data["alarm_id"], data["event"]) == (alarm_id, "acked"))
        assert live.ready.wait(10), "the live stream did not open"
        partition = js.partition_of(SITE, PARTITIONS)
        owner = wait_for("owner", lambda: next(
            (w.name for w in workers if partition in held(w)), None))

        started = time.monotonic()
        acked = http.post(f"/api/v1/alarms/{quote(alarm_id, safe='')}/ack",
                          json={"note": "crew sent"})
        ack_s = time.monotonic() - started
        assert acked.status_code == 200, acked.text
        assert (acked.json()["state"], acked.json()["acked_by"]) == ("acked", "admin")
        now = {a["alarm_id"]: a for a in http.get("/api/v1/alarms").json()}
        assert now[alarm_id]["acked_by"] == "admin", "the API's next read shows the ack"
        assert live.found.wait(10), "the owner's acked event did not come live"

        again = http.post(f"/api/v1/alarms/{quote(alarm_id, safe='')}/ack", json={})
        assert (again.status_code, again.json()["error"]) == (409, "illegal_transition")
        unknown = http.post(f"/api/v1/alarms/{quote(SITE + '/GT-1/high#99', safe='')}/ack",
                            json={})
        assert (unknown.status_code, unknown.json()["error"]) == (404, "unknown_alarm")

        exported = http.get("/api/v1/journal", params={"format": "jsonl"})
        entries = [orjson.loads(line) for line in exported.text.splitlines() if line]
        assert [(e["alarm_id"], e["user"]) for e in entries if e["event"] == "acked"] \
            == [(alarm_id, "admin")]
        verified = http.get("/api/v1/journal/verify").json()
        assert verified["ok"] and verified["entries"] == len(entries)
    finally:
        http.close()
        gateway.close()

    records = asyncio.run(_changelog(cluster))
    acks = [(r["partition"], r["by"], e["user"], e["note"]) for r in records
            for e in r.get("events", ()) if e["event"] == "acked" and e["alarm_id"] == alarm_id]
    front.stop()
    for child in workers:
        child.stop()
    assert acks == [(partition, owner, "admin", "crew sent")], "journalled once, by the owner"
    assert "took partition" not in front.output()
    assert ack_s < 5.0


@pytest.mark.integration
@pytest.mark.slow
def test_an_ack_while_the_owner_is_dead_is_answered_by_its_successor(
    cluster: NatsCluster, tmp_path: Path
) -> None:
    """The owner is killed (SIGKILL) just before an operator acknowledges: the API asks
    again until the standby has taken the partition over, and the answer is its."""
    import signal

    from hazmon.testing.servers import free_port

    first = worker(cluster, tmp_path, "w1")
    port = free_port()
    front = api(cluster, tmp_path, port)
    gateway = Gateway(cluster, SITE)
    http = httpx.Client(base_url=f"http://127.0.0.1:{port}",
                        headers={"Authorization": f"Bearer {TOKEN}"}, timeout=30.0)
    partition = js.partition_of(SITE, PARTITIONS)
    try:
        def raised() -> str | None:
            return next((a["alarm_id"] for a in http.get("/api/v1/alarms").json()
                         if a["site"] == SITE and a["condition"] == "high_high"), None)

        alarm_id = wait_for("raised alarm in the API", raised)
        assert partition in held(first)
        second = worker(cluster, tmp_path, "w2")
        assert first.stop(signal.SIGKILL) == -signal.SIGKILL
        killed = time.monotonic()
        acked = http.post(f"/api/v1/alarms/{quote(alarm_id, safe='')}/ack",
                          json={"note": "after the takeover"})
        waited_s = time.monotonic() - killed
        assert acked.status_code == 200, acked.text
        assert (acked.json()["state"], acked.json()["acked_by"]) == ("acked", "admin")
        assert partition in held(second)
    finally:
        http.close()
        gateway.close()
    records = asyncio.run(_changelog(cluster))
    acks = [(r["by"], e["note"]) for r in records for e in r.get("events", ())
            if e["event"] == "acked" and e["alarm_id"] == alarm_id]
    front.stop()
    second.stop()
    assert acks == [("w2", "after the takeover")], "journalled once, by the successor"
    assert waited_s < 15.0


async def _consumer_servers(cluster: NatsCluster) -> list[str]:
    """The servers of the API's changelog consumers."""
    async with cluster.connected("hazmon-alarms", "test-probe") as nc:
        doc = await js.api(nc, f"CONSUMER.LIST.{js.PARTS_STREAM}", {})
    return [str(c["cluster"]["leader"]) for c in doc["consumers"]
            if c["name"].startswith("api-")]


@pytest.mark.integration
@pytest.mark.slow
def test_the_api_follows_on_when_the_server_of_its_consumer_dies(
    cluster: NatsCluster, tmp_path: Path
) -> None:
    """Started before any worker, the API waits for the streams. Then the nats-server
    that holds its changelog consumer is killed: the API makes its consumer again and
    shows what was committed since."""
    from hazmon.testing.servers import free_port

    port = free_port()
    front = api(cluster, tmp_path, port, wait=False)
    front.wait_output("waiting for the streams", timeout_s=60)
    first = worker(cluster, tmp_path, "w1")
    front.wait_output("hazmon console:", timeout_s=60)
    http = httpx.Client(base_url=f"http://127.0.0.1:{port}",
                        headers={"Authorization": f"Bearer {TOKEN}"}, timeout=30.0)

    def sites() -> set[str]:
        return {a["site"] for a in http.get("/api/v1/alarms").json()}

    try:
        gateway = Gateway(cluster, SITES[1])
        wait_for("raised alarm in the API", lambda: SITES[1] in sites())
        gateway.close()
        servers = asyncio.run(_consumer_servers(cluster))
        assert len(servers) == 1, servers
        victim = next(n.index for n in cluster.nodes if n.name == servers[0])
        cluster.kill(victim)
        killed = time.monotonic()
        gateway = Gateway(cluster, SITES[2], node=(victim + 1) % len(cluster.nodes))
        try:
            wait_for("alarm raised after the kill", lambda: SITES[2] in sites(), 60.0)
        finally:
            gateway.close()
        shown_s = time.monotonic() - killed
    finally:
        http.close()
    front.stop()
    first.stop()
    assert "following again" in front.output()
    assert shown_s < 30.0


async def _oldest_records(cluster: NatsCluster) -> list[dict[str, Any]]:
    async with cluster.connected("hazmon-alarms", "test-reader") as nc:
        oldest = []
        for p in range(PARTITIONS):
            try:
                doc = await js.api(nc, f"STREAM.MSG.GET.{js.PARTS_STREAM}",
                                   {"next_by_subj": js.part_subject(p), "seq": 1})
            except js.JetStreamError:  # no record yet
                oldest.append({"takeover": None})
                continue
            oldest.append(orjson.loads(base64.b64decode(doc["message"]["data"])))
        return oldest


@pytest.mark.integration
@pytest.mark.slow
def test_an_api_started_after_the_changelogs_were_trimmed_shows_every_alarm(
    cluster: NatsCluster, tmp_path: Path
) -> None:
    """The worker snapshots every few records and trims each changelog behind its
    snapshots; an API started afterwards builds its copies from the snapshots and the
    records after them: every site's alarm is there, and the merged journal verifies."""
    from hazmon.testing.servers import free_port

    first = worker(cluster, tmp_path, "w1", "--snapshot-every", "3")
    gateways = [Gateway(cluster, site) for site in SITES]
    try:
        wait_for("every changelog trimmed", lambda: all(
            "takeover" not in r for r in asyncio.run(_oldest_records(cluster))), 60.0)
        port = free_port()
        front = api(cluster, tmp_path, port)
        http = httpx.Client(base_url=f"http://127.0.0.1:{port}",
                            headers={"Authorization": f"Bearer {TOKEN}"}, timeout=30.0)
        try:
            def sites_alarmed() -> set[str]:
                answer = http.get("/api/v1/alarms", params={"active": "true"})
                assert answer.status_code == 200, answer.text
                return {a["site"] for a in answer.json() if a["condition"] == "high_high"}

            assert wait_for("every site's alarm in the API",
                            lambda: sites_alarmed() == set(SITES))
            exported = http.get("/api/v1/journal", params={"format": "jsonl"})
            entries = [orjson.loads(line) for line in exported.text.splitlines() if line]
            raised = {e["site"] for e in entries if e["event"] == "raised"
                      and e["key"].endswith("/high_high")}
            verified = http.get("/api/v1/journal/verify").json()
        finally:
            http.close()
            front.stop()
    finally:
        for gateway in gateways:
            gateway.close()
        first.stop()
    assert raised == set(SITES), "a raise journalled before the trim is missing"
    assert verified["ok"], verified
    assert "made again from the snapshots" not in front.output()
