"""Alarm workers on a real three-node JetStream cluster (docs/scale-out.md): every
crossing raises exactly one `raised` when the owning worker is killed mid-stream, when
one nats-server of three is killed, and while a worker that joins is handed its share
of the partitions; a frozen owner that wakes after a standby took its partitions over
writes nothing more.

Gateways publish through NATS's MQTT listener as their own users; the workers are
`hazmon alarms --broker nats://...` processes. What counts is the journal: every
partition's changelog read back from the cluster."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import os
import re
import signal
import time
from pathlib import Path

import orjson
import pytest
from nats.aio.client import Client as Nats

from hazmon.bus import jetstream as js
from hazmon.testing.nats import NatsCluster
from tests.alarms.cluster_plant import (
    PARTITIONS,
    TIER_2_S,
    Plant,
    cluster,
    expected_keys,
    journal,
    owned,
    raised,
    wait_all_raised,
    wait_owned,
    worker,
)

pytestmark = [pytest.mark.integration, pytest.mark.slow]
__all__ = ["cluster"]  # the fixture

def test_kill_9_of_the_owner_loses_no_alarm(cluster: NatsCluster, tmp_path: Path) -> None:
    first = worker(cluster, tmp_path, "w1", "--snapshot-every", "10")
    plant = Plant(cluster, run_s=20.0)
    plant.start()
    wait_owned([first])
    second = worker(cluster, tmp_path, "w2", "--snapshot-every", "10")
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
    from_snapshots = re.findall(r"took partition \d+ .*snapshot at (\d+)", second.output())
    assert any(int(at) > 0 for at in from_snapshots), "no takeover started from a snapshot"
    first_kept = asyncio.run(_first_records(cluster))
    assert any("takeover" not in r for r in first_kept.values()), (
        f"no changelog trimmed behind its snapshots: {first_kept}")
    critical = {k for k in expected_keys() if k.endswith("/high_high")}
    assert {k: escalated[k] for k in critical if escalated[k] != 1} == {}, (
        "an escalation lost or repeated across the takeover")
    assert {k: n for k, n in got.items() if n != 1} == {}, "a crossing raised more than once"
    assert set(got) == expected_keys(), (sorted(expected_keys() - set(got)),
                                        sorted(set(got) - expected_keys()))


def test_a_frozen_owner_that_wakes_writes_nothing(cluster: NatsCluster, tmp_path: Path) -> None:
    first = worker(cluster, tmp_path, "w1")
    plant = Plant(cluster, run_s=20.0)
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
    records = journal(cluster, snapshots=False)  # the records kept (hand-overs trim)
    first.stop()
    second.stop()
    assert "lost partition" in first.output()
    assert any(r.get("takeover") == "w2" for r in records), "no takeover by w2 kept"
    for p in range(PARTITIONS):
        # the fence: every record is written by the worker of the takeover before it
        # (w1, once awake, may be handed partitions back: its share)
        owner = None
        for r in sorted((r for r in records if r["partition"] == p), key=lambda r: r["seq"]):
            if r.get("takeover"):
                owner = r["takeover"]
            elif owner is not None and r.get("by") not in (None, owner):
                raise AssertionError(f"partition {p}: record {r['seq']} by {r['by']} "
                                     f"after {owner} took it over")
    assert {k: n for k, n in got.items() if n != 1} == {}, "a crossing raised more than once"
    assert set(got) == expected_keys(), (sorted(expected_keys() - set(got)),
                                        sorted(set(got) - expected_keys()))


async def _first_records(cluster: NatsCluster) -> dict[int, dict[str, object]]:
    """The oldest changelog record each partition still has (the first one written was
    the first owner's takeover record)."""
    first: dict[int, dict[str, object]] = {}
    async with cluster.connected("hazmon-alarms", "test-info") as nc:
        for p in range(PARTITIONS):
            doc = await js.api(nc, f"STREAM.MSG.GET.{js.PARTS_STREAM}",
                               {"next_by_subj": js.part_subject(p), "seq": 1})
            first[p] = orjson.loads(base64.b64decode(doc["message"]["data"]))
    return first


async def _lead_from(cluster: NatsCluster, victim: int) -> dict[str, str]:
    """Every alarm partition's consumer, the changelog stream and the snapshots' stream
    led by node `victim`, which must not lead the gateways' stream: the leaders of
    everything but that stream die with it. What leads what, then."""
    name = cluster.nodes[victim].name
    moved = [*(f"CONSUMER.LEADER.STEPDOWN.{js.IN_STREAM}.alarms-p{p}" for p in range(PARTITIONS)),
             f"STREAM.LEADER.STEPDOWN.{js.PARTS_STREAM}",
             f"STREAM.LEADER.STEPDOWN.OBJ_{js.SNAP_BUCKET}"]
    async with cluster.connected("hazmon-alarms", "test-admin") as nc:
        for subject in moved:  # one at a time, each new leader elected before the next
            with contextlib.suppress(js.JetStreamError):  # (10005): it leads it already
                await js.api(nc, subject, {"placement": {"preferred": name}})
            await _leader(nc, subject.replace("LEADER.STEPDOWN", "INFO"))
        leaders = {subject.split(".", 2)[-1]: await _leader(nc, subject) for subject in
                   [f"STREAM.INFO.{js.IN_STREAM}",
                    *(s.replace("LEADER.STEPDOWN", "INFO") for s in moved)]}
        # NATS's MQTT listener keeps the gateways' sessions and QoS 1 messages in
        # streams of its own: those stay away from the node, as the gateways do
        names = (await js.api(nc, "STREAM.NAMES", {})).get("streams") or []
        for stream in [n for n in names if n.startswith("$MQTT_")]:
            if await _leader(nc, f"STREAM.INFO.{stream}") == name:
                await js.api(nc, f"STREAM.LEADER.STEPDOWN.{stream}",
                             {"placement": {"preferred": cluster.nodes[0].name}})
                await _leader(nc, f"STREAM.INFO.{stream}")
    return leaders


async def _leader(nc: Nats, info: str) -> str:
    """The leader named by a stream's or consumer's INFO, once there is one (an election
    takes a few hundred ms; the API does not answer while the group has no leader)."""
    for _ in range(30):
        with contextlib.suppress(js.JetStreamError):
            found = (await js.api(nc, info, {}, timeout_s=1.0)).get("cluster", {}).get("leader")
            if found:
                return str(found)
        await asyncio.sleep(0.2)
    raise AssertionError(f"{info}: no leader")


async def _stream_leader(cluster: NatsCluster) -> str:
    async with cluster.connected("hazmon-alarms", "test-info") as nc:
        info = await js.api(nc, f"STREAM.INFO.{js.IN_STREAM}", {})
    return str(info["cluster"]["leader"])


def test_killing_a_server_of_three_loses_no_alarm(cluster: NatsCluster, tmp_path: Path) -> None:
    """The node killed leads every partition's consumer, the changelog and the snapshots
    (the worker loses its pins, appends and snapshot reads fail until new leaders are
    elected), but not the gateways' stream nor the MQTT listener's session streams (a
    gateway's messages wait for their election: its `offline` would be raised, by
    arrival at the bus), and has no gateway connected
    (docs/scale-out.md, "Failure costs": the stream leader's death costs the readings
    NATS's MQTT listener acknowledged during the election)."""
    first = worker(cluster, tmp_path, "w1")
    plant = Plant(cluster, run_s=14.0)
    plant.start()
    wait_owned([first])
    gateways_stream = asyncio.run(_stream_leader(cluster))
    victim = next(i for i, node in enumerate(cluster.nodes)
                  if i != 0 and node.name != gateways_stream)
    leaders = asyncio.run(_lead_from(cluster, victim))
    led = {what for what, by in leaders.items() if by == cluster.nodes[victim].name}
    assert led == set(leaders) - {js.IN_STREAM}, leaders
    time.sleep(6.0)
    cluster.kill(victim)
    plant.join()
    assert plant.unacked == 0, "readings the MQTT listener never acknowledged"
    got = wait_all_raised(cluster)
    ended_by_itself = first.returncode
    assert first.stop() == 0 and ended_by_itself is None, first.output()[-3000:]
    assert {k: n for k, n in got.items() if n != 1} == {}, "a crossing raised more than once"
    assert set(got) == expected_keys(), (sorted(expected_keys() - set(got)),
                                        sorted(set(got) - expected_keys()))


def test_a_worker_that_joins_is_handed_its_share_and_no_alarm_is_lost(
    cluster: NatsCluster, tmp_path: Path
) -> None:
    """The first worker owns every partition; a second one joins while the gateways
    publish and crossings come: the first hands half of them over, one at a time, and
    every crossing still raises exactly once."""
    first = worker(cluster, tmp_path, "w1")
    plant = Plant(cluster, run_s=20.0)
    plant.start()
    wait_owned([first])
    second = worker(cluster, tmp_path, "w2")
    deadline = time.monotonic() + 30.0
    while len(owned(second)) < PARTITIONS // 2 and time.monotonic() < deadline:
        time.sleep(0.5)
    shares = (sorted(owned(first)), sorted(owned(second)))
    plant.join()
    assert plant.unacked == 0, "readings the MQTT listener never acknowledged"
    got = wait_all_raised(cluster)
    first.stop()
    second.stop()
    assert len(shares[0]) == len(shares[1]) == PARTITIONS // 2, shares
    assert set(shares[0]) | set(shares[1]) == set(range(PARTITIONS)), shares
    assert "handed partition" in first.output()
    assert {k: n for k, n in got.items() if n != 1} == {}, "a crossing raised more than once"
    assert set(got) == expected_keys(), (sorted(expected_keys() - set(got)),
                                        sorted(set(got) - expected_keys()))
