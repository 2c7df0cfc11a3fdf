"""hazmon's JetStream layout on a real nats-server: the partition the server computes
for a site is the one hazmon computes, topics survive the trip through NATS's MQTT
listener (dots included), streams are made once and a second plan for another
partition count is refused, and a partition's changelog refuses a writer that is
behind (the fence) and replays in order."""

from __future__ import annotations

import asyncio
from pathlib import Path

import paho.mqtt.client as paho
import pytest

from hazmon.bus import jetstream as js
from hazmon.contract.errors import ConfigError
from hazmon.testing.mqtt_clients import client
from hazmon.testing.nats import NatsCluster

PARTITIONS = 16


@pytest.mark.unit
def test_partition_is_natss_fnv1a_of_the_sites_subject_token() -> None:
    # figures read back from nats-server 2.15.1's transform {{partition(16,1)}}
    assert [js.partition_of(s, 16) for s in ("s1", "s2", "site-a", "plant3")] == [9, 0, 8, 3]
    assert js.partition_of("s.2", 16) == js.partition_of("s//2", 16)


@pytest.mark.unit
def test_topics_and_subjects_map_both_ways() -> None:
    topic = "hazmon/v1/s.2/gw1/telemetry"
    assert js.subject_of(topic) == "hazmon.v1.s//2.gw1.telemetry"
    assert js.topic_of("hz.in.14.s//2.gw1.telemetry") == topic
    assert js.topic_of(js.tick_subject(3)) == "hz/tick/3"
    assert js.topic_of("hazmon.v1.s1.alarms") == "hazmon/v1/s1/alarms"


def _publish_as_gateways(cluster: NatsCluster, gateways: list[tuple[str, str]]) -> None:
    for site, gateway in gateways:
        user = f"{site}.{gateway}"
        client_id = user.replace(".", "_")  # NATS's MQTT listener refuses dots in ids
        with client(cluster.nodes[0].mqtt_port, user, cluster.password(user),
                    protocol=paho.MQTTv311, client_id=client_id) as gw:
            reason = gw.connect()
            assert reason is not None and not reason.is_failure, reason
            assert gw.publish(f"hazmon/v1/{site}/{gateway}/telemetry", b'{"seq": 1}') == 0


@pytest.mark.integration
def test_the_server_partitions_as_hazmon_does(nats_single: NatsCluster) -> None:
    async def scenario() -> None:
        async with nats_single.connected("hazmon-ingest") as nc:
            plan = js.StreamPlan(partitions=PARTITIONS)
            await js.ensure_streams(nc, plan)
            await js.ensure_streams(nc, plan)  # idempotent
            with pytest.raises(js.JetStreamError, match="partition count is fixed"):
                await js.ensure_streams(nc, js.StreamPlan(partitions=8))
            await asyncio.to_thread(_publish_as_gateways, nats_single,
                                    [("s1", "gw1"), ("s1", "gw2"), ("s.2", "gw1")])
            puller = js.Puller(nc, js.IN_STREAM, js.INGEST_CONSUMER)
            await puller.start()
            got = (await puller.pull(10, expires_s=2.0)).messages
            await js.ack_all(got)
            await puller.stop()
            seen = {js.topic_of(m.subject): int(m.subject.split(".")[2]) for m in got}
            assert seen == {
                "hazmon/v1/s1/gw1/telemetry": js.partition_of("s1", PARTITIONS),
                "hazmon/v1/s1/gw2/telemetry": js.partition_of("s1", PARTITIONS),
                "hazmon/v1/s.2/gw1/telemetry": js.partition_of("s.2", PARTITIONS),
            }

    asyncio.run(scenario())


@pytest.mark.integration
def test_the_changelog_fences_a_writer_that_is_behind(nats_single: NatsCluster) -> None:
    async def scenario() -> None:
        async with nats_single.connected("hazmon-alarms") as nc:
            await js.ensure_streams(nc, js.StreamPlan(partitions=PARTITIONS))
            assert await js.last_seq(nc, 5) == 0
            first = await js.append(nc, 5, b"a", after=0)
            second = await js.append(nc, 5, b"b", after=first)
            await js.append(nc, 6, b"other partition", after=0)
            with pytest.raises(js.Fenced):
                await js.append(nc, 5, b"late", after=first)  # the old owner, woken up
            got: list[tuple[int, bytes]] = []
            last = await js.replay(nc, 5, lambda seq, data: got.append((seq, data)))
            assert (last, got) == (second, [(first, b"a"), (second, b"b")])
            assert await js.replay(nc, 7, lambda seq, data: None) == 0

    asyncio.run(scenario())


@pytest.mark.unit
def test_the_plan_is_read_from_cluster_configs_streams_file(tmp_path: Path) -> None:
    from hazmon.cli.cluster_config import parse_nodes, plan_cluster, streams_json
    from hazmon.testing.nats import default_registry

    nodes = parse_nodes("10.0.0.1:4222,10.0.0.2:4222,10.0.0.3:4222")
    plan = plan_cluster(default_registry(), nodes, partitions=32, max_bytes=2 * 1024**3,
                        max_age_s=3 * 86_400)
    path = tmp_path / "streams.json"
    path.write_text(streams_json(plan), encoding="utf-8")
    assert js.load_plan(path, servers=3) == js.StreamPlan(
        partitions=32, replicas=3, max_bytes=2 * 1024**3, max_age_s=3 * 86_400)
    path.write_text("{}", encoding="utf-8")
    with pytest.raises(ConfigError, match=r"streams\.json"):
        js.load_plan(path, servers=3)
    assert js.default_plan(3) == js.StreamPlan(partitions=16, replicas=3)
    assert js.default_plan(1, 4) == js.StreamPlan(partitions=4, replicas=1)


@pytest.mark.integration
def test_a_snapshot_and_the_records_after_it(nats_single: NatsCluster) -> None:
    async def scenario() -> None:
        async with nats_single.connected("hazmon-alarms") as nc:
            plan = js.StreamPlan(partitions=PARTITIONS)
            await js.ensure_streams(nc, plan)
            store = await js.snapshot_store(nc, plan)
            assert await js.load_snapshot(store, 3) is None
            seqs = []
            for body in (b"a", b"b", b"c", b"d"):
                seqs.append(await js.append(nc, 3, body, after=seqs[-1] if seqs else 0))
            await js.save_snapshot(store, 3, b"database as of b" * 10_000, seqs[1])
            assert await js.load_snapshot(store, 3) == (b"database as of b" * 10_000, seqs[1])
            got: list[bytes] = []
            last = await js.replay(nc, 3, lambda _seq, data: got.append(data), after=seqs[1])
            assert (last, got) == (seqs[3], [b"c", b"d"])
            assert await js.replay(nc, 3, lambda _seq, data: None, after=seqs[3]) == seqs[3]
            assert (await js.snapshot_store(nc, plan)) is not None  # found, not made again

    asyncio.run(scenario())
