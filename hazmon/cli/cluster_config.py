"""`hazmon cluster-config`: nats-server configurations for an N-node JetStream cluster.

    plan = plan_cluster(registry, parse_nodes("10.0.0.1:4222,10.0.0.2:4222,10.0.0.3:4222"))
    written = write_cluster_config(plan, Path("cluster"))  # node-1.conf ... auth.conf,
                                                           # cluster-auth.conf, streams.json,
                                                           # secrets/USER

Per node `node-N.conf` (no secret in it): its name, the client listener, the monitoring
listener (`/healthz`, `/jsz`), JetStream with its store and the retention budget, the MQTT
listener for gateways and the cluster listener. Shared by every node and included by
each: `auth.conf` (users with bcrypt hashes and their permissions) and
`cluster-auth.conf` (the route user and the routes, whose URLs carry its password).

Users are those of `hazmon broker-config` (hazmon.broker.acl plans them), with its ACLs
turned into subject permissions the way NATS's MQTT listener turns topics into subjects
(`mqtt_subject`): a gateway publishes its own telemetry and state and subscribes to
nothing; gateways, the simulator and the observer may connect only over MQTT, hazmon's
services (ingest, alarms, api) only over the NATS protocol, with JetStream on top.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Literal

import typer

if TYPE_CHECKING:
    from hazmon.broker.acl import BrokerConfigError, BrokerUser
    from hazmon.contract.registry import Registry

CLUSTER_NAME = "hazmon"
CLUSTER_PORT_OFFSET = 2000  # client port + 2000: 4222 -> 6222, NATS's own defaults
MONITOR_PORT_OFFSET = 4000  # 4222 -> 8222
MQTT_PORT_OFFSET = -2339  # 4222 -> 1883
DEFAULT_PARTITIONS = 16
DEFAULT_RETENTION = "10GiB"
DEFAULT_RETENTION_AGE = "7d"
STORE_HEADROOM = 1.25  # KV buckets, the journal and the MQTT listener's own streams
MAX_MEMORY_STORE_BYTES = 256 * 1024 * 1024
MAX_PAYLOAD_BYTES = 2 * 1024 * 1024  # as broker-config's max_packet_size
BCRYPT_COST = 8  # passwords are 192 random bits: cost buys nothing but reconnect CPU
API_USER = "hazmon-api"
ROUTE_USER = "hazmon-route"
# hazmon's own subjects (hazmon.bus.jetstream): partition ticks, partition changelogs,
# requests to a partition's owner; written and read by alarm workers and the API only
SERVICE_SUBJECTS = "hz.>"
JETSTREAM_PUBLISH = ("$JS.API.>", "$JS.ACK.>", "$JS.FC.>")
INBOX = "_INBOX.>"
AUTH_NAME, CLUSTER_AUTH_NAME, STREAMS_NAME, SECRETS_NAME = (
    "auth.conf", "cluster-auth.conf", "streams.json", "secrets")  # fmt: skip

Connection = Literal["MQTT", "STANDARD"]


def _refused(reasons: Sequence[str]) -> BrokerConfigError:
    """broker-config's error (the cluster is the broker), imported only when needed:
    `hazmon --help` stays fast."""
    from hazmon.broker.acl import BrokerConfigError

    return BrokerConfigError(reasons)


@dataclass(frozen=True, slots=True)
class Node:
    index: int  # 1-based: node-1.conf
    host: str  # how the others and the clients reach it
    client_port: int
    cluster_port: int
    mqtt_port: int
    monitor_port: int

    @property
    def name(self) -> str:
        return f"{CLUSTER_NAME}-{self.index}"

    def ports(self) -> tuple[int, int, int, int]:
        return self.client_port, self.cluster_port, self.mqtt_port, self.monitor_port


@dataclass(frozen=True, slots=True)
class Permissions:
    publish: tuple[str, ...] = ()
    subscribe: tuple[str, ...] = ()
    allow_responses: bool = False


@dataclass(frozen=True, slots=True)
class NatsUser:
    name: str
    what: str
    connection: Connection
    permissions: Permissions


@dataclass(frozen=True, slots=True)
class ClusterPlan:
    nodes: tuple[Node, ...]
    users: tuple[NatsUser, ...]
    partitions: int = DEFAULT_PARTITIONS
    max_bytes: int = 10 * 1024**3
    max_age_s: int = 7 * 86_400
    source: str = "the registry"
    warnings: tuple[str, ...] = ()

    @property
    def replicas(self) -> int:
        """hazmon's streams are kept on this many nodes (3 once there are 3)."""
        return min(3, len(self.nodes))

    @property
    def max_file_store(self) -> int:
        """Each node's JetStream file store: with 3 replicas on 3 nodes every node holds
        every stream, so the whole budget, plus headroom for what has no byte limit."""
        return math.ceil(self.max_bytes * STORE_HEADROOM)


# -- parsing ---------------------------------------------------------------------------


def parse_size(text: str) -> int:
    """`10GiB`, `500MB`, `1073741824` -> bytes (KiB.. binary, KB.. decimal)."""
    m = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([KMGT]i?B|B)?\s*", text, re.IGNORECASE)
    if m is None:
        raise _refused([f"a size such as 10GiB, 500MB or 1073741824, got {text!r}"])
    unit = (m.group(2) or "B").upper()
    power = "BKMGT".index(unit[0])
    base = 1024 if "I" in unit else 1000
    return int(float(m.group(1)) * base**power)


def parse_age(text: str) -> int:
    """`7d`, `36h`, `90m`, `3600s` or `3600` -> seconds."""
    m = re.fullmatch(r"\s*(\d+)\s*([smhd]?)\s*", text, re.IGNORECASE)
    if m is None:
        raise _refused([f"an age such as 7d, 36h, 90m or 3600s, got {text!r}"])
    return int(m.group(1)) * {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86_400}[m.group(2).lower()]


def _ports(text: str | None, what: str, count: int, reasons: list[str]) -> list[int] | None:
    if not text:
        return None
    parts = [p.strip() for p in text.split(",")]
    if len(parts) != count or not all(p.isdigit() for p in parts):
        reasons.append(f"{what}: {count} comma-separated port(s), one per node, got {text!r}")
        return None
    return [int(p) for p in parts]


def parse_nodes(
    text: str,
    *,
    cluster_ports: str | None = None,
    mqtt_ports: str | None = None,
    monitor_ports: str | None = None,
) -> tuple[Node, ...]:
    """`HOST:PORT,...` (the client listeners) -> nodes; the other ports are given one per
    node, else the client port plus the documented offsets (4222 -> 6222, 1883, 8222)."""
    reasons: list[str] = []
    addresses: list[tuple[str, int]] = []
    for item in filter(None, (p.strip() for p in text.split(","))):
        name, sep, number = item.rpartition(":")
        if not sep or not name or not number.isdigit():
            reasons.append(f"--nodes: HOST:PORT, got {item!r}")
            continue
        addresses.append((name.strip("[]"), int(number)))
    if not addresses and not reasons:
        reasons.append("--nodes: at least one HOST:PORT")
    n = len(addresses)
    given = [_ports(cluster_ports, "--cluster-ports", n, reasons),
             _ports(mqtt_ports, "--mqtt-ports", n, reasons),
             _ports(monitor_ports, "--monitor-ports", n, reasons)]  # fmt: skip
    offsets = (CLUSTER_PORT_OFFSET, MQTT_PORT_OFFSET, MONITOR_PORT_OFFSET)
    nodes = []
    for i, (host, port) in enumerate(addresses):
        cl, mq, mon = (g[i] if g else port + off for g, off in zip(given, offsets, strict=True))
        nodes.append(Node(i + 1, host, port, cl, mq, mon))
    reasons += _port_reasons(nodes)
    if reasons:
        raise _refused(reasons)
    return tuple(nodes)


def _port_reasons(nodes: Sequence[Node]) -> list[str]:
    reasons = []
    taken: dict[tuple[str, int], str] = {}
    for node in nodes:
        for port, what in zip(node.ports(), ("client", "cluster", "mqtt", "monitor"), strict=True):
            where = f"{node.name}'s {what} port {port} on {node.host}"
            if not 0 < port < 65536:
                reasons.append(f"ports from 1 to 65535, got {where}")
            elif (node.host, port) in taken:
                reasons.append(f"one listener per port, but {where} is {taken[node.host, port]}")
            taken[node.host, port] = f"{node.name}'s {what} port"
    return reasons


# -- topics to subjects ----------------------------------------------------------------


def mqtt_subject(topic: str) -> str:
    """The subject NATS's MQTT listener (2.15) gives an MQTT topic or filter: `/`
    separates tokens, `.` becomes `//`, empty levels are kept with `/`, `+` and `#` are
    `*` and `>`. `hazmon/v1/s.1/gw/telemetry` -> `hazmon.v1.s//1.gw.telemetry`."""
    if not topic or any(c in topic for c in " \t\n\r\f\x7f"):
        raise _refused([f"a topic without spaces, got {topic!r}"])
    out: list[str] = []
    last = len(topic) - 1
    for i, c in enumerate(topic):
        if c == "/":
            if i == 0 or out[-1] == ".":
                out += "/."
            elif i == last or topic[i + 1] == "/":
                out += "./"
            else:
                out.append(".")
        elif c == ".":
            out += "//"
        else:
            out.append({"+": "*", "#": ">"}.get(c, c))
    return "".join(out)


def filter_subjects(topic_filter: str) -> list[str]:
    """Subjects a subscription to `topic_filter` needs: `a/#` also matches `a` itself,
    and NATS subscribes to both (a permission for `a.>` alone refuses the SUBACK)."""
    subject = mqtt_subject(topic_filter)
    if topic_filter.endswith("/#"):
        return [subject[: -len(".>")], subject]
    return [subject]


# -- the plan ----------------------------------------------------------------------------


def plan_cluster(
    registry: Registry,
    nodes: Sequence[Node],
    *,
    partitions: int = DEFAULT_PARTITIONS,
    max_bytes: int = 10 * 1024**3,
    max_age_s: int = 7 * 86_400,
    simulator: bool = False,
    observer: bool = False,
    source: str = "the registry",
) -> ClusterPlan:
    """Users and permissions for `registry` on `nodes`; every reason it cannot, at once."""
    from hazmon.broker.acl import ALARMS_USER, INGEST_USER, Address, BrokerConfigError, plan_broker

    reasons = []
    if not 1 <= partitions <= 1024:
        reasons.append(f"--partitions from 1 to 1024, got {partitions}")
    if max_bytes < 64 * 1024**2:
        reasons.append(f"--retention-bytes of at least 64MiB, got {max_bytes:,} bytes")
    if max_age_s < 60:
        reasons.append(f"--retention-age of at least a minute, got {max_age_s} s")
    try:
        broker = plan_broker(registry, listen=Address("0.0.0.0", 1883),
                             simulator=simulator, observer=observer, source=source)  # fmt: skip
    except BrokerConfigError as exc:
        reasons += exc.reasons
    if reasons:
        raise _refused(reasons)
    services = (INGEST_USER, ALARMS_USER)
    users = [_service_user(u, alarms=u.name == ALARMS_USER) if u.name in services
             else _mqtt_user(u) for u in broker.users]  # fmt: skip
    users.append(_api_user())
    return ClusterPlan(tuple(nodes), tuple(users), partitions, max_bytes, max_age_s, source,
                       tuple(_warnings(registry, nodes)))  # fmt: skip


def _mqtt_user(user: BrokerUser) -> NatsUser:
    """A gateway, the simulator or the observer: MQTT only, its ACL as subjects."""
    publish = [mqtt_subject(r.topic) for r in user.rules if r.access != "read"]
    subscribe = [s for r in user.rules if r.access != "write" for s in filter_subjects(r.topic)]
    return NatsUser(user.name, user.what, "MQTT", Permissions(tuple(publish), tuple(subscribe)))


def _service_user(user: BrokerUser, *, alarms: bool) -> NatsUser:
    """ingest or alarms: its ACL as subjects, plus JetStream (streams, consumers, acks,
    flow control), its inbox, and for alarms the KV buckets, the partitions' snapshots
    (an object store: `$O.>`) and requests from the API."""
    mqtt = _mqtt_user(user).permissions
    publish, subscribe = [*JETSTREAM_PUBLISH, *mqtt.publish], [INBOX, *mqtt.subscribe]
    if alarms:
        publish += ["$KV.>", "$O.>", SERVICE_SUBJECTS]
        subscribe.append(SERVICE_SUBJECTS)
    what = f"{user.what}; JetStream" + (
        ", partitions, KV, snapshots, answers the API" if alarms else "")
    return NatsUser(user.name, what, "STANDARD",
                    Permissions(tuple(publish), tuple(subscribe), allow_responses=alarms))


def _api_user() -> NatsUser:
    from hazmon.contract import topics

    read = (topics.ALARMS_WILDCARD, topics.RISK_WILDCARD, topics.JOURNAL_HEAD)
    subscribe = [INBOX, *(s for t in read for s in filter_subjects(t))]
    what = ("hazmon api: reads replicated state (JetStream, KV) and the live alarms and "
            "risk; sends operator actions to the partition's owner")  # fmt: skip
    return NatsUser(API_USER, what, "STANDARD",
                    Permissions((*JETSTREAM_PUBLISH, SERVICE_SUBJECTS),
                                (*subscribe, SERVICE_SUBJECTS)))  # fmt: skip


def _warnings(registry: Registry, nodes: Sequence[Node]) -> list[str]:
    found = []
    if len(nodes) == 2:
        found.append("2 nodes: JetStream needs a majority, so losing either stops it; use 3")
    dotted = [f"{s.id}/{g.id}" for s in registry.sites for g in s.gateways
              if "." in s.id or "." in g.id]  # fmt: skip
    if dotted:
        found.append(
            f"NATS's MQTT listener refuses client ids with a dot, and the default id of a "
            f"gateway holds its ids: give {', '.join(dotted[:5])} a `client_id` without one")
    if any(not _loopback(n.host) for n in nodes):
        found.append("the listeners are plain TCP: passwords and readings cross the network "
                     "in clear; keep them on the plant's private network")  # fmt: skip
    return found


def _loopback(host: str) -> bool:
    return host in ("localhost", "::1") or host.startswith("127.")


# -- the texts ---------------------------------------------------------------------------


def _q(text: str) -> str:
    return json.dumps(text)  # a NATS config string: double quotes, JSON escapes


def _list(items: Sequence[str]) -> str:
    return "[" + ", ".join(_q(i) for i in items) + "]"


def node_conf(plan: ClusterPlan, node: Node, *, store_dir: str, bind: str | None = None) -> str:
    """node-N.conf: `store_dir` as the node sees it; `bind` the address its listeners
    take (default: the node's own host, as given in --nodes)."""
    host = _host(bind or node.host)

    def at(port: int) -> str:
        return _q(f"{host}:{port}")

    cluster = [
        "cluster {",
        f"  name: {_q(CLUSTER_NAME)}",
        f"  listen: {at(node.cluster_port)}",
        f"  include {_q(CLUSTER_AUTH_NAME)}",
        "}",
        "",
    ]
    return "\n".join([
        f"# Written by `hazmon cluster-config` from {plan.source}: regenerate, don't edit.",
        f"# Node {node.index} of {len(plan.nodes)} of the JetStream cluster {CLUSTER_NAME!r}. "
        "No secret is in this file:",
        f"# the users are in {AUTH_NAME}, the route password in {CLUSTER_AUTH_NAME} (both 0600).",
        f"server_name: {_q(node.name)}",
        f"listen: {at(node.client_port)}",
        f"http: {at(node.monitor_port)}  # monitoring: /healthz, /jsz, /varz",
        f"max_payload: {MAX_PAYLOAD_BYTES}",
        "",
        "jetstream {",
        f"  store_dir: {_q(store_dir)}",
        f"  # the streams' budget ({plan.max_bytes} bytes) plus "
        f"{round((STORE_HEADROOM - 1) * 100)} % headroom",
        f"  max_file_store: {plan.max_file_store}",
        f"  max_memory_store: {MAX_MEMORY_STORE_BYTES}",
        "}",
        "",
        "# Gateways and simulators publish here; topic a/b/c is subject a.b.c.",
        "mqtt {",
        f"  listen: {at(node.mqtt_port)}",
        f"  stream_replicas: {plan.replicas}",
        "}",
        "",
        *(cluster if len(plan.nodes) > 1 else ["# One node: no cluster, no routes.", ""]),
        f"include {_q(AUTH_NAME)}",
        "",
    ])  # fmt: skip


def auth_conf(plan: ClusterPlan, hashes: Mapping[str, str]) -> str:
    """auth.conf: every user with its bcrypt hash, connection type and permissions."""
    lines = [
        f"# Written by `hazmon cluster-config` from {plan.source}: regenerate, don't edit.",
        "# A user may publish and subscribe to what its lines allow and nothing else.",
        "authorization {",
        "  users = [",
    ]
    for user in plan.users:
        p = user.permissions
        publish = f"allow: {_list(p.publish)}" if p.publish else 'deny: [">"]'
        subscribe = f"allow: {_list(p.subscribe)}" if p.subscribe else 'deny: [">"]'
        responses = ", allow_responses: true" if p.allow_responses else ""
        lines += [
            f"    # {user.what}",
            f"    {{ user: {_q(user.name)}, password: {_q(hashes[user.name])},",
            f"      allowed_connection_types: [{_q(user.connection)}],",
            f"      permissions: {{ publish: {{ {publish} }},",
            f"                     subscribe: {{ {subscribe} }}{responses} }} }}",
        ]
    return "\n".join([*lines, "  ]", "}", ""])


def cluster_auth_conf(plan: ClusterPlan, route_hash: str, route_password: str) -> str:
    """cluster-auth.conf: who may join as a route, and the routes to every node (a
    server recognises the one to itself), so all nodes share this one file."""
    routes = [f"nats-route://{ROUTE_USER}:{route_password}@{_host(n.host)}:{n.cluster_port}"
              for n in plan.nodes]  # fmt: skip
    return "\n".join([
        "# Written by `hazmon cluster-config`. Holds the route password in clear: 0600.",
        f"authorization {{ user: {_q(ROUTE_USER)}, password: {_q(route_hash)} }}",
        f"routes: {_list(routes)}",
        "",
    ])  # fmt: skip


def _host(host: str) -> str:
    return f"[{host}]" if ":" in host else host


def streams_json(plan: ClusterPlan) -> str:
    """What hazmon creates its streams with: the budget, the partitions, the replicas."""
    doc = {
        "written_by": "hazmon cluster-config",
        "source": plan.source,
        "servers": [f"nats://{_host(n.host)}:{n.client_port}" for n in plan.nodes],
        "nodes": len(plan.nodes),
        "replicas": plan.replicas,
        "partitions": plan.partitions,
        "max_bytes": plan.max_bytes,
        "max_age_s": plan.max_age_s,
        "max_file_store": plan.max_file_store,
    }
    return json.dumps(doc, indent=2) + "\n"


# -- the files ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Written:
    confs: tuple[Path, ...]
    secrets: Path
    new: tuple[str, ...]  # users given a new password
    kept: tuple[str, ...]
    removed: tuple[str, ...]


def write_cluster_config(
    plan: ClusterPlan,
    out: Path,
    *,
    store_dir: str | None = None,
    bind: str | None = None,
    rotate: Sequence[str] = (),
) -> Written:
    """Write every file into `out`. Each node stores in `store_dir`/<its name> (default
    `out`/data). Users whose password is in `out`/secrets keep it unless rotated."""
    import bcrypt

    from hazmon.broker.passwd import new_secret, write_file, write_secrets

    names = [u.name for u in plan.users] + [ROUTE_USER]
    unknown = sorted(set(rotate) - set(names) - {"all"})
    if unknown:
        raise _refused([f"--rotate: users of this configuration, got {unknown}"])
    out.mkdir(parents=True, exist_ok=True)
    folder = out / SECRETS_NAME
    existing = _read_secrets(folder)
    fresh = {n: new_secret() for n in names
             if n not in existing or n in rotate or "all" in rotate}  # fmt: skip
    passwords = {n: fresh.get(n) or existing[n] for n in names}
    hashes = {n: bcrypt.hashpw(p.encode(), bcrypt.gensalt(BCRYPT_COST)).decode()
              for n, p in passwords.items()}  # fmt: skip
    write_secrets(folder, passwords)
    removed = sorted(set(existing) - set(names))
    for name in removed:
        (folder / name).unlink()
    write_file(out / AUTH_NAME, auth_conf(plan, hashes), mode=0o600, owner=None)
    write_file(out / CLUSTER_AUTH_NAME,
               cluster_auth_conf(plan, hashes[ROUTE_USER], passwords[ROUTE_USER]),
               mode=0o600, owner=None)  # fmt: skip
    root = store_dir or str((out / "data").resolve())
    confs = []
    for node in plan.nodes:
        path = out / f"node-{node.index}.conf"
        text = node_conf(plan, node, store_dir=f"{root.rstrip('/')}/{node.name}", bind=bind)
        write_file(path, text, mode=0o644, owner=None)
        confs.append(path)
    write_file(out / STREAMS_NAME, streams_json(plan), mode=0o644, owner=None)
    return Written(tuple(confs), folder, tuple(fresh), tuple(n for n in names if n not in fresh),
                   tuple(removed))  # fmt: skip


def _read_secrets(folder: Path) -> dict[str, str]:
    if not folder.is_dir():
        return {}
    found = {}
    for path in folder.iterdir():
        text = path.read_text(encoding="utf-8").strip() if path.is_file() else ""
        if text and not path.name.startswith("."):
            found[path.name] = text
    return found


# -- the command ---------------------------------------------------------------------------


def cluster_config(
    config: Path = typer.Option(..., "--config", help="the site registry (YAML)"),
    nodes: str = typer.Option(
        ..., "--nodes", help="HOST:PORT,... the client listener of each node, in order"
    ),
    out: Path = typer.Option(..., "--out", help="folder for node-N.conf and the rest"),
    partitions: int = typer.Option(
        DEFAULT_PARTITIONS, "--partitions", help="alarm partitions, fixed when the streams are made"
    ),
    retention_bytes: str = typer.Option(
        DEFAULT_RETENTION, "--retention-bytes", help="bytes hazmon's streams keep (10GiB, 500MB)"
    ),
    retention_age: str = typer.Option(
        DEFAULT_RETENTION_AGE, "--retention-age", help="how long they keep a message (7d, 36h)"
    ),
    cluster_ports: str | None = typer.Option(
        None, "--cluster-ports", help="one per node (default: client port + 2000)"
    ),
    mqtt_ports: str | None = typer.Option(
        None, "--mqtt-ports", help="one per node (default: client port - 2339, 4222 -> 1883)"
    ),
    monitor_ports: str | None = typer.Option(
        None, "--monitor-ports", help="one per node (default: client port + 4000)"
    ),
    bind: str | None = typer.Option(
        None, "--bind", help="address every listener binds (default: the node's own host)"
    ),
    store_dir: str | None = typer.Option(
        None, "--store-dir", help="each node stores in STORE_DIR/<its name> (default: OUT/data)"
    ),
    rotate: list[str] = typer.Option(
        [], "--rotate", help="give this user a new password (repeatable; 'all' for everyone)"
    ),
    simulator: bool = typer.Option(False, "--simulator", help="add hazmon-simulator (demo)"),
    observer: bool = typer.Option(False, "--observer", help="add read-only hazmon-observer"),
) -> None:
    """Write nats-server configurations for a JetStream cluster: node-N.conf per node,
    auth.conf (users, permissions), cluster-auth.conf (routes), streams.json (retention
    and partitions) and secrets/USER (each user's password, 0600).

    Users already in OUT/secrets keep their password unless rotated.
    """
    from hazmon.broker.acl import BrokerConfigError
    from hazmon.contract.config import load_registry
    from hazmon.contract.errors import ConfigError

    try:
        registry = load_registry(config)
        plan = plan_cluster(
            registry,
            parse_nodes(nodes, cluster_ports=cluster_ports, mqtt_ports=mqtt_ports,
                        monitor_ports=monitor_ports),
            partitions=partitions,
            max_bytes=parse_size(retention_bytes),
            max_age_s=parse_age(retention_age),
            simulator=simulator,
            observer=observer,
            source=str(config),
        )  # fmt: skip
        written = write_cluster_config(plan, out, store_dir=store_dir, bind=bind, rotate=rotate)
    except ConfigError as exc:
        for problem in exc.problems:
            typer.echo(str(problem), err=True)
        typer.echo(f"{len(exc.problems)} problem(s) in {config}", err=True)
        raise typer.Exit(2) from None
    except BrokerConfigError as exc:
        for reason in exc.reasons:
            typer.echo(f"cluster-config: expected {reason}", err=True)
        raise typer.Exit(2) from None
    except OSError as exc:
        typer.echo(f"cluster-config: {exc}", err=True)
        raise typer.Exit(1) from None
    typer.echo(f"wrote {len(written.confs)} node configuration(s), {AUTH_NAME}, "
               f"{CLUSTER_AUTH_NAME} and {STREAMS_NAME} in {out}", err=True)  # fmt: skip
    typer.echo(f"{len(plan.users)} users; {len(written.new)} new password(s) in "
               f"{written.secrets}/USER (0600), {len(written.kept)} kept", err=True)  # fmt: skip
    if written.removed:
        typer.echo(f"removed users: {', '.join(written.removed)}", err=True)
    for warning in plan.warnings:
        typer.echo(f"warning: {warning}", err=True)


def register(app: typer.Typer) -> None:
    app.command("cluster-config")(cluster_config)
