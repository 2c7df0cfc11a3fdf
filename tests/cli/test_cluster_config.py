"""`hazmon cluster-config`: the configuration as text (unit), then exactly those files
running as a real 3-node JetStream cluster (integration): it elects a meta leader, a
gateway's QoS 1 readings reach a stream, another gateway's topics stay closed to it, and
a stream of 3 replicas survives kill -9 of a node.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import math
import stat
import subprocess
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import bcrypt
import paho.mqtt.client as mqtt
import pytest
from typer.testing import CliRunner

from hazmon.broker.acl import Address, BrokerConfigError, plan_broker
from hazmon.cli import app
from hazmon.cli.cluster_config import (
    API_USER,
    AUTH_NAME,
    CLUSTER_AUTH_NAME,
    INBOX,
    JETSTREAM_PUBLISH,
    ROUTE_USER,
    SERVICE_SUBJECTS,
    ClusterPlan,
    filter_subjects,
    mqtt_subject,
    node_conf,
    parse_age,
    parse_nodes,
    parse_size,
    plan_cluster,
    write_cluster_config,
)
from hazmon.testing.mqtt_clients import FAILURE, client
from hazmon.testing.nats import NATS_SERVER_BIN, REGISTRY_YAML, NatsCluster, default_registry

NODES = "10.0.0.1:4222,10.0.0.2:4222,10.0.0.3:4222"
V311 = mqtt.MQTTv311


def plan(nodes: str = NODES, **options: Any) -> ClusterPlan:
    return plan_cluster(default_registry(), parse_nodes(nodes), **options)


def user(p: ClusterPlan, name: str) -> Any:
    return next(u for u in p.users if u.name == name)


# -- unit: topics to subjects ------------------------------------------------------------


@pytest.mark.unit
@pytest.mark.parametrize(("topic", "subject"), [
    ("hazmon/v1/s1/gw1/telemetry", "hazmon.v1.s1.gw1.telemetry"),
    # what nats-server 2.15.1 delivered to a NATS subscriber for each of these topics
    ("hazmon/v1/s.1/g-1_x/telemetry", "hazmon.v1.s//1.g-1_x.telemetry"),
    ("/a", "/.a"), ("a//b", "a./.b"), ("a/", "a./"), ("a/b/", "a.b./"), ("//a", "/./.a"),
    ("a///b", "a././.b"),
    ("hazmon/v1/+/+/telemetry", "hazmon.v1.*.*.telemetry"), ("hazmon/v1/#", "hazmon.v1.>"),
])  # fmt: skip
def test_topics_become_the_subjects_of_the_mqtt_listener(topic: str, subject: str) -> None:
    assert mqtt_subject(topic) == subject


@pytest.mark.unit
def test_a_multi_level_filter_needs_its_parent_level_too() -> None:
    assert filter_subjects("hazmon/v1/#") == ["hazmon.v1", "hazmon.v1.>"]
    assert filter_subjects("hazmon/v1/+/alarms") == ["hazmon.v1.*.alarms"]
    with pytest.raises(BrokerConfigError):
        mqtt_subject("a b/c")


# -- unit: nodes, ports, sizes -------------------------------------------------------------


@pytest.mark.unit
def test_ports_default_to_nats_own_from_the_client_port() -> None:
    nodes = parse_nodes(NODES)
    assert [(n.name, n.host, n.ports()) for n in nodes] == [
        (f"hazmon-{i}", f"10.0.0.{i}", (4222, 6222, 1883, 8222)) for i in (1, 2, 3)
    ]
    same_host = parse_nodes("127.0.0.1:4222,127.0.0.1:4223")
    assert [n.ports() for n in same_host] == [(4222, 6222, 1883, 8222), (4223, 6223, 1884, 8223)]


@pytest.mark.unit
def test_explicit_ports_one_per_node() -> None:
    nodes = parse_nodes("h1:5000,h2:5000", cluster_ports="5001,5002", mqtt_ports="5003,5004",
                        monitor_ports="5005,5006")  # fmt: skip
    assert [n.ports() for n in nodes] == [(5000, 5001, 5003, 5005), (5000, 5002, 5004, 5006)]


@pytest.mark.unit
@pytest.mark.parametrize(("nodes", "options", "expected"), [
    ("", {}, "at least one HOST:PORT"),
    ("h1", {}, "HOST:PORT, got 'h1'"),
    ("h1:4222,h2:4222", {"cluster_ports": "6222"}, "2 comma-separated port(s)"),
    ("h1:4222,h1:4222", {}, "one listener per port"),
    ("h1:4222,h1:6222", {}, "hazmon-2's client port 6222 on h1 is hazmon-1's cluster port"),
    ("h1:70000", {}, "ports from 1 to 65535"),
])  # fmt: skip
def test_bad_nodes_are_refused_with_the_reason(
    nodes: str, options: dict[str, str], expected: str
) -> None:
    with pytest.raises(BrokerConfigError) as caught:
        parse_nodes(nodes, **options)
    assert any(expected in reason for reason in caught.value.reasons), caught.value.reasons


@pytest.mark.unit
def test_sizes_and_ages() -> None:
    assert parse_size("10GiB") == 10 * 1024**3
    assert parse_size("500MB") == 500_000_000
    assert parse_size("1073741824") == 1024**3
    assert parse_size("1.5 KiB") == 1536
    assert parse_age("7d") == 604_800
    assert (parse_age("36h"), parse_age("90m"), parse_age("3600s"), parse_age("60")) == (
        129_600, 5400, 3600, 60)  # fmt: skip
    for bad in ("ten", "5 parsecs"):
        with pytest.raises(BrokerConfigError):
            parse_size(bad)
    with pytest.raises(BrokerConfigError):
        parse_age("1w")


@pytest.mark.unit
def test_a_budget_too_small_or_partitions_out_of_range_are_refused() -> None:
    with pytest.raises(BrokerConfigError) as caught:
        plan(partitions=0, max_bytes=1024, max_age_s=1)
    assert len(caught.value.reasons) == 3


# -- unit: users and permissions ------------------------------------------------------------


@pytest.mark.unit
def test_each_gateway_publishes_its_own_topics_only_and_over_mqtt_only() -> None:
    p = plan()
    gateways = [u for u in p.users if "." in u.name and not u.name.startswith("hazmon")]
    assert [u.name for u in gateways] == ["s1.gw1", "s1.gw2", "s.2.gw1"]
    for gw in gateways:
        site, _, gateway = gw.name.rpartition(".")
        prefix = "hazmon.v1." + site.replace(".", "//") + "." + gateway
        assert gw.connection == "MQTT"
        assert gw.permissions.publish == (f"{prefix}.telemetry", f"{prefix}.state")
        assert gw.permissions.subscribe == ()  # written as deny ">"
        assert not gw.permissions.allow_responses


@pytest.mark.unit
def test_permissions_are_broker_configs_acls_as_subjects() -> None:
    """Every rule of `hazmon broker-config` is there, as the subject NATS gives its topic;
    service users add only JetStream, their inbox, KV and the services' own subjects."""
    registry = default_registry()
    broker = plan_broker(registry, listen=Address("0.0.0.0", 1883), simulator=True,
                         observer=True)  # fmt: skip
    nats = plan_cluster(registry, parse_nodes(NODES), simulator=True, observer=True)
    extra = {*JETSTREAM_PUBLISH, INBOX, "$KV.>", "$O.>", SERVICE_SUBJECTS}
    for acl_user in broker.users:
        mine = user(nats, acl_user.name).permissions
        publish = {mqtt_subject(r.topic) for r in acl_user.rules if r.access != "read"}
        subscribe = {s for r in acl_user.rules if r.access != "write"
                     for s in filter_subjects(r.topic)}  # fmt: skip
        assert set(mine.publish) - extra == publish, acl_user.name
        assert set(mine.subscribe) - extra == subscribe, acl_user.name
    assert [u.name for u in nats.users] == [*broker.user_names, API_USER]


@pytest.mark.unit
def test_services_connect_over_nats_only_with_jetstream() -> None:
    p = plan()
    for name in ("hazmon-ingest", "hazmon-alarms", API_USER):
        service = user(p, name)
        assert service.connection == "STANDARD"
        assert set(JETSTREAM_PUBLISH) <= set(service.permissions.publish)
        assert INBOX in service.permissions.subscribe
    assert "hazmon.v1.*.*.telemetry" not in user(p, "hazmon-ingest").permissions.publish
    assert user(p, "hazmon-alarms").permissions.allow_responses
    assert "$KV.>" in user(p, "hazmon-alarms").permissions.publish
    assert "$O.>" in user(p, "hazmon-alarms").permissions.publish  # the snapshots
    assert "hazmon.v1.*.alarms" in user(p, API_USER).permissions.subscribe
    assert "hazmon.v1.*.alarms" not in user(p, API_USER).permissions.publish


# -- unit: the texts ---------------------------------------------------------------------------


@pytest.mark.unit
def test_node_conf_names_its_listeners_store_and_budget() -> None:
    p = plan(max_bytes=8 * 1024**3)
    text = node_conf(p, p.nodes[1], store_dir="/var/lib/nats/hazmon-2")
    for line in ['server_name: "hazmon-2"', 'listen: "10.0.0.2:4222"', 'http: "10.0.0.2:8222',
                 'store_dir: "/var/lib/nats/hazmon-2"',
                 f"max_file_store: {math.ceil(8 * 1024**3 * 1.25)}",
                 'listen: "10.0.0.2:1883"', "stream_replicas: 3", 'name: "hazmon"',
                 'listen: "10.0.0.2:6222"', f'include "{CLUSTER_AUTH_NAME}"',
                 f'include "{AUTH_NAME}"']:  # fmt: skip
        assert line in text
    bound = node_conf(p, p.nodes[1], store_dir="/data", bind="0.0.0.0")
    assert 'listen: "0.0.0.0:4222"' in bound and 'listen: "0.0.0.0:6222"' in bound


@pytest.mark.unit
def test_a_single_node_has_no_cluster_block_and_one_replica() -> None:
    p = plan("127.0.0.1:4222")
    text = node_conf(p, p.nodes[0], store_dir="/data")
    assert "cluster {" not in text and "stream_replicas: 1" in text
    assert p.replicas == 1


@pytest.mark.unit
def test_written_files_modes_hashes_and_kept_passwords(tmp_path: Path) -> None:
    p = plan()
    out = tmp_path / "cluster"
    written = write_cluster_config(p, out)
    mode = {path.name: stat.S_IMODE(path.stat().st_mode) for path in out.iterdir()}
    assert mode == {AUTH_NAME: 0o600, CLUSTER_AUTH_NAME: 0o600, "node-1.conf": 0o644,
                    "node-2.conf": 0o644, "node-3.conf": 0o644, "streams.json": 0o644,
                    "secrets": 0o700}  # fmt: skip
    secrets = {f.name: f.read_text().strip() for f in written.secrets.iterdir()}
    assert set(secrets) == {u.name for u in p.users} | {ROUTE_USER}
    assert all(stat.S_IMODE(f.stat().st_mode) == 0o600 for f in written.secrets.iterdir())
    auth = (out / AUTH_NAME).read_text()
    for name, password in secrets.items():
        assert password not in auth
        if name != ROUTE_USER:
            digest = auth.split(f'user: "{name}", password: "', 1)[1].split('"', 1)[0]
            assert digest.startswith("$2b$") and bcrypt.checkpw(password.encode(), digest.encode())
        for conf in written.confs:
            assert password not in conf.read_text()  # node files hold no secret
    assert secrets[ROUTE_USER] in (out / CLUSTER_AUTH_NAME).read_text()

    again = write_cluster_config(p, out, rotate=["s1.gw1"])
    assert again.new == ("s1.gw1",) and "s1.gw2" in again.kept
    after = {f.name: f.read_text().strip() for f in again.secrets.iterdir()}
    assert after["s1.gw2"] == secrets["s1.gw2"] and after["s1.gw1"] != secrets["s1.gw1"]


@pytest.mark.unit
def test_users_gone_from_the_registry_are_removed(tmp_path: Path) -> None:
    write_cluster_config(plan(), tmp_path)
    smaller = plan_cluster(default_registry().model_copy(
        update={"sites": default_registry().sites[:1]}), parse_nodes(NODES))  # fmt: skip
    written = write_cluster_config(smaller, tmp_path)
    assert written.removed == ("s.2.gw1",)
    assert not (tmp_path / "secrets" / "s.2.gw1").exists()


@pytest.mark.unit
def test_streams_json_is_the_budget_hazmon_creates_its_streams_with(tmp_path: Path) -> None:
    write_cluster_config(plan(partitions=32, max_bytes=20 * 1024**3, max_age_s=86_400), tmp_path)
    doc = json.loads((tmp_path / "streams.json").read_text())
    assert doc | {"source": None} == {
        "written_by": "hazmon cluster-config", "source": None,
        "servers": ["nats://10.0.0.1:4222", "nats://10.0.0.2:4222", "nats://10.0.0.3:4222"],
        "nodes": 3, "replicas": 3, "partitions": 32, "max_bytes": 20 * 1024**3,
        "max_age_s": 86_400, "max_file_store": math.ceil(20 * 1024**3 * 1.25),
    }  # fmt: skip


@pytest.mark.unit
def test_nats_server_accepts_every_generated_file(tmp_path: Path) -> None:
    """`nats-server -t` parses each node's file with its includes (no server starts)."""
    written = write_cluster_config(plan(observer=True, simulator=True), tmp_path)
    for conf in written.confs:
        done = subprocess.run([str(NATS_SERVER_BIN), "-t", "-c", str(conf)],
                              capture_output=True, text=True, timeout=30, check=False)  # fmt: skip
        assert done.returncode == 0, done.stderr + done.stdout


@pytest.mark.unit
def test_the_command(tmp_path: Path) -> None:
    registry = tmp_path / "plant.yaml"
    registry.write_text(REGISTRY_YAML)
    out = tmp_path / "cluster"
    args = ["cluster-config", "--config", str(registry), "--nodes", NODES, "--out", str(out),
            "--partitions", "8", "--retention-bytes", "1GiB", "--retention-age", "2d"]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    assert "6 users; 7 new password(s)" in result.output
    assert "client_id` without one" in result.output  # site s.2: a dot in the client id
    assert "plain TCP" in result.output  # beyond loopback
    assert json.loads((out / "streams.json").read_text())["partitions"] == 8
    bad = CliRunner().invoke(app, [*args[:3], "--nodes", "h1:4222,h1:4222", "--out", str(out)])
    assert bad.exit_code == 2 and "cluster-config: expected one listener per port" in bad.output


# -- integration: the files running ---------------------------------------------------------


@contextlib.asynccontextmanager
async def _stream(cluster: NatsCluster, name: str, subjects: list[str]) -> AsyncIterator[Any]:
    """Connected as hazmon-ingest (JetStream allowed), a stream of `subjects` with as many
    replicas as the cluster plan says; the connection is closed at the end."""
    import nats
    from nats.js.api import StreamConfig

    nc = await nats.connect(servers=cluster.urls, user="hazmon-ingest",
                            password=cluster.password("hazmon-ingest"),
                            connect_timeout=5, max_reconnect_attempts=20,
                            reconnect_time_wait=0.2)  # fmt: skip
    try:
        js = nc.jetstream(timeout=3)
        assert cluster.plan is not None
        await js.add_stream(StreamConfig(name=name, subjects=subjects,
                                         num_replicas=cluster.plan.replicas))  # fmt: skip
        await _new_leader(js, name, gone="")  # it stores nothing before it has one
        yield js
    finally:
        await nc.close()


async def _messages(js: Any, stream: str, count: int, timeout_s: float = 15.0) -> list[Any]:
    """The stream's first `count` messages, once it has them (bounded wait; a request
    unanswered while the stream elects a new leader is asked again)."""
    from nats.errors import NoRespondersError, TimeoutError

    deadline = time.monotonic() + timeout_s
    held = 0
    while time.monotonic() < deadline:
        try:
            held = (await js.stream_info(stream)).state.messages
        except (TimeoutError, NoRespondersError):
            continue
        if held >= count:
            return [await js.get_msg(stream, seq) for seq in range(1, count + 1)]
        await asyncio.sleep(0.1)
    raise AssertionError(f"{stream} holds {held} messages, not {count}, after {timeout_s:g} s")


async def _readings(js: Any, stream: str, expected: set[int], timeout_s: float) -> list[int]:
    """Every message of the stream as an int, once all of `expected` are there."""
    from nats.errors import NoRespondersError, TimeoutError

    deadline = time.monotonic() + timeout_s
    held: list[int] = []
    while time.monotonic() < deadline:
        with contextlib.suppress(TimeoutError, NoRespondersError):
            last = (await js.stream_info(stream)).state.last_seq
            held = [int((await js.get_msg(stream, seq)).data) for seq in range(1, last + 1)]
            if expected <= set(held):
                return held
        await asyncio.sleep(0.2)
    raise AssertionError(f"{stream} misses {sorted(expected - set(held))} after {timeout_s:g} s")


async def _new_leader(js: Any, stream: str, *, gone: str, timeout_s: float = 30.0) -> str:
    """The stream's leader once it has one other than `gone` (bounded wait)."""
    from nats.errors import NoRespondersError, TimeoutError

    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        with contextlib.suppress(TimeoutError, NoRespondersError):
            leader = (await js.stream_info(stream)).cluster.leader
            if leader not in (None, gone):
                return str(leader)
        await asyncio.sleep(0.2)
    raise AssertionError(f"{stream} has no leader but {gone} after {timeout_s:g} s")


@pytest.mark.integration
def test_three_nodes_from_the_generated_files_form_a_cluster(nats_cluster: NatsCluster) -> None:
    leader = nats_cluster.wait_for_meta_leader()
    assert leader in {node.name for node in nats_cluster.nodes}
    for node in nats_cluster.nodes:
        meta = node.jsz()["meta_cluster"]
        assert meta["cluster_size"] == 3 and meta["leader"] == leader
        assert str(nats_cluster.dir / "data" / node.name) in node.jsz()["config"]["store_dir"]


@pytest.mark.integration
def test_a_gateways_qos1_reading_is_stored_and_another_gateways_topic_is_closed(
    nats_cluster: NatsCluster,
) -> None:
    nats_cluster.wait_for_mqtt()  # the listener makes its streams at its first connection

    async def scenario() -> None:
        async with _stream(nats_cluster, "READINGS", ["hazmon.v1.*.*.telemetry"]) as js:
            port = nats_cluster.nodes[1].mqtt_port
            with client(port, "s1.gw1", nats_cluster.password("s1.gw1"), protocol=V311,
                        client_id="hazmon-gw-s1-gw1") as gw:  # fmt: skip
                assert gw.connect() == 0
                assert gw.publish("hazmon/v1/s1/gw1/telemetry", b'{"seq": 1}') == 0
                # refused, yet acknowledged: MQTT 3.1.1 has no way to say no to a PUBLISH
                assert gw.publish("hazmon/v1/s1/gw2/telemetry", b'{"forged": 1}') == 0
                assert gw.publish("hazmon/v1/s.2/gw1/telemetry", b'{"forged": 2}') == 0
                assert gw.publish("hazmon/v1/s1/alarms", b'{"forged": 3}') == 0
                assert gw.subscribe("hazmon/v1/#") >= FAILURE
                assert gw.publish("hazmon/v1/s1/gw1/telemetry", b'{"seq": 2}') == 0
            with client(port, "s.2.gw1", nats_cluster.password("s.2.gw1"), protocol=V311,
                        client_id="hazmon-gw-s-2-gw1") as dotted:  # fmt: skip
                assert dotted.connect() == 0
                assert dotted.publish("hazmon/v1/s.2/gw1/telemetry", b'{"seq": 3}') == 0
            stored = await _messages(js, "READINGS", 3)
            assert [(m.subject, m.data) for m in stored] == [
                ("hazmon.v1.s1.gw1.telemetry", b'{"seq": 1}'),
                ("hazmon.v1.s1.gw1.telemetry", b'{"seq": 2}'),
                ("hazmon.v1.s//2.gw1.telemetry", b'{"seq": 3}'),
            ]
            await asyncio.sleep(0.5)
            assert (await js.stream_info("READINGS")).state.messages == 3

    asyncio.run(scenario())
    logs = "".join(node.log_path.read_text() for node in nats_cluster.nodes)
    assert 'Publish Violation - Subject "hazmon.v1.s1.gw2.telemetry"' in logs


@pytest.mark.integration
def test_each_user_connects_only_its_own_way(nats_cluster: NatsCluster) -> None:
    import nats
    from nats.errors import Error as NatsError

    port = nats_cluster.nodes[0].mqtt_port
    with client(port, "s1.gw1", "not its password", protocol=V311, client_id="x1") as wrong:
        reason = wrong.connect()
        assert reason is None or reason.is_failure
    with client(port, "hazmon-ingest", nats_cluster.password("hazmon-ingest"),
                protocol=V311, client_id="x2") as service:  # fmt: skip
        reason = service.connect()
        assert reason is None or reason.is_failure  # services: NATS protocol only
    with client(port, "s.2.gw1", nats_cluster.password("s.2.gw1"), protocol=V311,
                client_id="hazmon-gw-s.2-gw1") as dotted_id:  # fmt: skip
        reason = dotted_id.connect()
        assert reason is None or reason.is_failure  # a dot in the client id: refused

    async def gateway_over_nats() -> None:
        nc = nats.NATS()
        with pytest.raises(NatsError, match="Authorization Violation"):
            await nc.connect(nats_cluster.urls[0], user="s1.gw1",
                             password=nats_cluster.password("s1.gw1"),
                             allow_reconnect=False, connect_timeout=2)  # fmt: skip
        await nc.close()  # the refused connection's socket

    asyncio.run(gateway_over_nats())


@pytest.mark.integration
def test_an_observer_subscribes_at_qos1_without_any_internal_subject() -> None:
    """The observer's permissions are `hazmon.v1` and `hazmon.v1.>` only: nats-server
    2.15 needs no `$MQTT.` permission for a QoS 1 subscription, clean or kept."""
    with NatsCluster(size=1, observer=True) as single:
        port = single.nodes[0].mqtt_port
        for session_expiry_s in (0, 300):
            with client(port, "hazmon-observer", single.password("hazmon-observer"),
                        protocol=V311, session_expiry_s=session_expiry_s) as observer, \
                 client(port, "s1.gw1", single.password("s1.gw1"), protocol=V311,
                        client_id="hazmon-gw-s1-gw1") as gw:  # fmt: skip
                assert observer.connect() == 0 and observer.subscribe("hazmon/v1/#") == 1
                assert gw.connect() == 0
                assert gw.publish("hazmon/v1/s1/gw1/state", b'{"up": 1}', retain=True) == 0
                got = observer.wait_for(lambda m: m.topic == "hazmon/v1/s1/gw1/state")
                assert got[0].qos == 1
                assert observer.publish("hazmon/v1/s1/gw1/telemetry") == 0  # dropped


@pytest.mark.integration
def test_a_stream_of_three_replicas_survives_kill_9_of_its_leader(
    nats_cluster: NatsCluster,
) -> None:
    async def scenario() -> None:
        async with _stream(nats_cluster, "SURVIVE", ["hazmon.v1.*.*.telemetry"]) as js:
            assert (await js.stream_info("SURVIVE")).config.num_replicas == 3
            elected = await _new_leader(js, "SURVIVE", gone="")
            leader = next(n for n in nats_cluster.nodes if n.name == elected)
            other = next(n for n in nats_cluster.nodes if n is not leader)
            with client(other.mqtt_port, "s1.gw1", nats_cluster.password("s1.gw1"),
                        protocol=V311, client_id="hazmon-gw-s1-gw1") as gw:  # fmt: skip
                assert gw.connect() == 0
                for seq in range(50):
                    assert gw.publish("hazmon/v1/s1/gw1/telemetry", b"%d" % seq) == 0
                await _messages(js, "SURVIVE", 50)
                nats_cluster.kill(leader.index)  # SIGKILL: nothing flushed
                # Until the two left elect a leader (seconds) the MQTT listener still
                # acknowledges readings that no stream stores (docs/scale-out.md), and
                # while its own streams elect theirs it may hold the acknowledgements.
                await _new_leader(js, "SURVIVE", gone=leader.name)
                for seq in range(50, 100):
                    info = gw.mqtt.publish("hazmon/v1/s1/gw1/telemetry", b"%d" % seq, qos=1)
                    info.wait_for_publish(30.0)
                    assert info.is_published(), seq
            # At least once: a reading sent across the election may be stored twice
            # (hazmon knows it again by gateway, boot and seq), none may be missing.
            held = await _readings(js, "SURVIVE", set(range(100)), timeout_s=30)
            assert list(dict.fromkeys(held)) == list(range(100)), held

    asyncio.run(scenario())
    nats_cluster.restart(next(n.index for n in nats_cluster.nodes if not n.running))
    assert all(node.running for node in nats_cluster.nodes)


@pytest.mark.integration
def test_a_single_node_stores_readings_too(nats_single: NatsCluster) -> None:
    async def scenario() -> None:
        async with _stream(nats_single, "ONE", ["hazmon.v1.*.*.state"]) as js:
            with client(nats_single.nodes[0].mqtt_port, "s1.gw2", nats_single.password("s1.gw2"),
                        protocol=V311, client_id="hazmon-gw-s1-gw2") as gw:  # fmt: skip
                assert gw.connect() == 0
                assert gw.publish("hazmon/v1/s1/gw2/state", b'{"up": true}', retain=True) == 0
            stored = await _messages(js, "ONE", 1)
            assert stored[0].subject == "hazmon.v1.s1.gw2.state"

    asyncio.run(scenario())



@pytest.mark.integration
def test_the_services_do_what_the_bus_needs_under_their_permissions(
    nats_cluster: NatsCluster,
) -> None:
    """hazmon's own JetStream set-up (hazmon.bus.jetstream) with the budget of
    streams.json: the alarm service makes the streams and appends to a partition's
    changelog; ingest may make the streams too but not write a changelog."""
    from nats.errors import TimeoutError as NatsTimeout

    from hazmon.bus import jetstream as bus

    doc = json.loads((nats_cluster.out / "streams.json").read_text())
    plan = bus.StreamPlan(partitions=doc["partitions"], replicas=doc["replicas"],
                          max_bytes=doc["max_bytes"], max_age_s=doc["max_age_s"])  # fmt: skip

    async def scenario() -> None:
        alarms = await bus.connect(nats_cluster.urls, name="alarms", user="hazmon-alarms",
                                   password=nats_cluster.password("hazmon-alarms"))  # fmt: skip
        ingest = await bus.connect(nats_cluster.urls, name="ingest", user="hazmon-ingest",
                                   password=nats_cluster.password("hazmon-ingest"))  # fmt: skip
        try:
            await bus.ensure_streams(alarms, plan)
            await bus.ensure_streams(ingest, plan)  # the same, found as made
            first = await bus.append(alarms, 0, b"record", after=0)
            assert await bus.append(alarms, 0, b"next", after=first) == first + 1
            await alarms.publish(bus.tick_subject(3), b"")
            with pytest.raises(NatsTimeout):  # a publish violation: no one answers
                await ingest.request(bus.part_subject(0), b"forged", timeout=1.0)
            assert await bus.last_seq(alarms, 0) == first + 1
        finally:
            await alarms.close()
            await ingest.close()

    asyncio.run(scenario())


@pytest.mark.integration
def test_another_gateway_taking_a_client_id_closes_its_connection_but_gains_nothing(
    nats_single: NatsCluster,
) -> None:
    """NATS's MQTT listener does not tie a client id to its user (Mosquitto's
    use_username_as_clientid has no counterpart): a gateway that connects with another's
    id replaces its connection. Its permissions stay its own: what it sends under that
    id on the other's topic is dropped."""

    async def scenario() -> None:
        async with _stream(nats_single, "TAKEOVER", ["hazmon.v1.*.*.telemetry"]) as js:
            port = nats_single.nodes[0].mqtt_port
            with client(port, "s1.gw1", nats_single.password("s1.gw1"), protocol=V311,
                        client_id="hazmon-gw-s1-gw1") as owner, \
                 client(port, "s1.gw2", nats_single.password("s1.gw2"), protocol=V311,
                        client_id="hazmon-gw-s1-gw1") as intruder:  # fmt: skip
                assert owner.connect() == 0
                assert intruder.connect() == 0
                for _ in range(100):  # 5 s at most
                    if owner.disconnects:
                        break
                    await asyncio.sleep(0.05)
                assert owner.disconnects >= 1
                intruder.mqtt.reconnect_delay_set(min_delay=30, max_delay=30)
                owner.mqtt.reconnect_delay_set(min_delay=30, max_delay=30)
                assert intruder.publish("hazmon/v1/s1/gw1/telemetry", b'{"forged": 1}') == 0
                assert intruder.publish("hazmon/v1/s1/gw2/telemetry", b'{"own": 1}') == 0
            stored = await _messages(js, "TAKEOVER", 1)
            assert stored[0].subject == "hazmon.v1.s1.gw2.telemetry"
            await asyncio.sleep(0.5)
            assert (await js.stream_info("TAKEOVER")).state.messages == 1

    asyncio.run(scenario())
