"""The cases of issue #8, run on one broker and one InfluxDB, each system in turn.

For each case (readings per message: 50, then 1) and each system (hazmon, then
Node-RED, then hazmon on JetStream with each count of alarm workers asked for), on a
fresh database and freshly started processes (hazmon and Node-RED share one Mosquitto
for the run; each JetStream case has a nats-server of its own, with a fresh store):

1. `paced`: the plant at its nominal rate (10,000 sensors at 1 Hz = 10,000 readings/s)
   for `--seconds`: loss, CPU, memory, and for hazmon the alarm latency;
2. `flat out`: as fast as the system stores, closed loop (load.py), for `--seconds`:
   the stored readings/s that the ratio compares;
3. `burst` (50 per message only): `--burst-warmup` s at the nominal rate, `--burst` s at
   twice the rate the system reached flat out, then the nominal rate until the system
   has caught up: what was dropped and how long catching up took.

Before the phases, a probe (a reading of `gw-probe` at 10 then 30 %LEL) is published
until it is stored and, for hazmon, until its alarm is raised: the whole path is up.
"""

from __future__ import annotations

import contextlib
import json
import os
import platform
import re
import shutil
import subprocess
import time
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from benchmarks.e2e import nodered
from benchmarks.e2e.jetstream import (
    BenchNats,
    HazmonJetStream,
    StreamWatch,
    nats_server_version,
)
from benchmarks.e2e.latency import AlarmListener
from benchmarks.e2e.load import Load, PublisherResult, Segment
from benchmarks.e2e.phases import (
    STORAGE_ONLY,
    BrokerFigures,
    Burst,
    PhaseContext,
    PhaseFailed,
    PhaseResult,
    run_phase,
)
from benchmarks.e2e.plant import PROBE_GATEWAY, PROBE_SENSOR, PROBE_SITE, Plant
from benchmarks.e2e.progress import Progress
from benchmarks.e2e.servers import BenchBroker, BrokerWatch
from benchmarks.e2e.store import Store
from benchmarks.e2e.systems import (
    Hazmon,
    NodeRedPeer,
    System,
    SystemUnderTestError,
    clear_retained,
    end_sessions,
    missing_hazmon_commands,
)
from hazmon.contract.topics import JOURNAL_HEAD
from hazmon.testing.servers import InfluxDB, Mosquitto

READY_TIMEOUT_S = 240.0


class NotReady(RuntimeError):
    """A system did not store the probe (or raise its alarm) in time."""


@dataclass(frozen=True, slots=True)
class Options:
    gateways: int = 200
    sensors_per_gateway: int = 50
    nominal_per_s: float = 10_000.0
    seconds: float = 60.0
    burst_s: float = 60.0
    burst_warmup_s: float = 20.0
    burst_tail_max_s: float = 180.0
    publishers: int = 2
    crosser_every: int = 100
    per_message: tuple[int, ...] = (50, 1)
    systems: tuple[str, ...] = ("hazmon", "node-red")
    burst: bool = True
    storage_only: bool = False
    profile_dir: Path | None = None
    broker_queue: int | None = None  # max_queued_messages; None: the suite's 100,000
    alarm_workers: tuple[int, ...] = (1,)  # hazmon-jetstream: one case per count
    partitions: int = 16  # hazmon-jetstream: P of the streams
    spread: bool = False  # hazmon-jetstream: also even out the workers' sensors (jetstream.py)
    keep_stores: bool = False  # hazmon-jetstream: keep each case's nats-server store
    out: Path = Path("benchmark-results")


JETSTREAM = "hazmon-jetstream"
MOSQUITTO_SYSTEMS = ("hazmon", "node-red")


@dataclass
class _Bus:
    """Where a case's load, probe and alarm listener connect, and what it watches."""

    host: str
    port: int
    pids: dict[str, int]  # the broker's process
    listener: AlarmListener
    watch: BrokerWatch | BrokerFigures
    prober: _Prober
    stream: StreamWatch | None = None


@contextlib.contextmanager
def _mosquitto_bus(broker: Mosquitto) -> Iterator[_Bus]:
    assert broker.pid is not None
    with contextlib.ExitStack() as stack:
        listener = AlarmListener(broker.host, broker.port)
        listener.start()
        stack.callback(listener.stop)
        watch = BrokerWatch(broker.host, broker.port)
        stack.callback(watch.close)
        prober = _Prober(broker.host, broker.port)
        stack.callback(prober.close)
        yield _Bus(broker.host, broker.port, {"mosquitto": broker.pid}, listener, watch, prober)


@contextlib.contextmanager
def _nats_bus(nats: BenchNats) -> Iterator[_Bus]:
    with contextlib.ExitStack() as stack:
        listener = AlarmListener(nats.host, nats.mqtt_port)
        listener.start()
        stack.callback(listener.stop)
        stream = StreamWatch(nats.monitor_url)
        stack.callback(stream.close)
        prober = _Prober(nats.host, nats.mqtt_port)
        stack.callback(prober.close)
        yield _Bus(nats.host, nats.mqtt_port, {"nats-server": nats.pid}, listener, stream,
                   prober, stream)  # fmt: skip


@dataclass
class _GatewayClock:
    seqs: dict[int, int] = field(default_factory=dict)
    last_ts_ms: dict[int, int] = field(default_factory=dict)

    def update(self, publishers: Sequence[PublisherResult]) -> None:
        for p in publishers:
            self.seqs.update(p.seqs)
            self.last_ts_ms.update(p.last_ts_ms)


class _Prober:
    """Publishes the readiness probe from the runner's own MQTT client."""

    def __init__(self, host: str, port: int) -> None:
        import paho.mqtt.client as paho
        from paho.mqtt.enums import CallbackAPIVersion

        self.client = paho.Client(
            CallbackAPIVersion.VERSION2,
            client_id=f"bench-probe-{uuid.uuid4().hex[:8]}",
            protocol=paho.MQTTv311,
        )
        self.client.connect(host, port)
        self.client.loop_start()
        deadline = time.monotonic() + 10
        while not self.client.is_connected() and time.monotonic() < deadline:
            time.sleep(0.02)
        self.seq = 0
        self.topic = f"hazmon/v1/{PROBE_SITE}/{PROBE_GATEWAY}/telemetry"

    def publish(self) -> int:
        """Two messages, 10 then 30 %LEL; returns the ts_ms of the raising one."""
        ts_ms = int(time.time() * 1000)
        for offset, value in ((0, 10.0), (1, 30.0)):
            batch = {
                "boot": 1, "seq": self.seq, "sent_ms": ts_ms, "historical": False,
                "readings": [{"sensor": PROBE_SENSOR, "ts_ms": ts_ms + offset, "value": value}],
            }
            self.client.publish(self.topic, json.dumps(batch), qos=1).wait_for_publish(5)
            self.seq += 1
        return ts_ms + 1

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


class Runner:
    def __init__(self, options: Options) -> None:
        self.o = options
        self.progress = Progress()
        self.plant = Plant(options.gateways, options.sensors_per_gateway)
        self.work = options.out / "work"
        self.results: list[PhaseResult] = []
        self.missing: list[str] = []
        self.failures: list[str] = []  # cases that could not be finished, and why
        self.machine = machine()

    # --- the run ------------------------------------------------------------------

    def run(self) -> list[PhaseResult]:
        o = self.o
        self.work.mkdir(parents=True, exist_ok=True)
        registry = self.plant.write_registry(self.work / "bench-plant.yaml")
        systems = list(dict.fromkeys(o.systems))
        hazmons = [s for s in systems if s in ("hazmon", JETSTREAM)]
        if hazmons and (missing := missing_hazmon_commands()):
            self.missing += missing
            systems = [s for s in systems if s not in hazmons]
            self.progress.done(f"not measured: {', '.join(missing)} not in this checkout")
        install_path = None
        if "node-red" in systems:
            self.progress.done("installing Node-RED (cached after the first run) ...")
            install_path = nodered.install(log=self.work / "npm-install.log")
            self.machine |= nodered.versions(install_path)
        if JETSTREAM in systems:
            self.machine["nats-server"] = nats_server_version()
        self.progress.done(
            f"WARNING: this benchmark loads the whole machine for about "
            f"{self.estimate_s(systems) / 60:.0f} minutes"
        )
        with contextlib.ExitStack() as stack:
            influx = stack.enter_context(InfluxDB())
            stack.callback(self._keep_log, influx.dir / "stderr.log")
            mosquitto: _Bus | None = None
            if any(s in MOSQUITTO_SYSTEMS for s in systems):
                broker = stack.enter_context(BenchBroker(queued=o.broker_queue))
                stack.callback(self._keep_log, broker.log_path)
                mosquitto = stack.enter_context(_mosquitto_bus(broker))
            for per_message in o.per_message:
                for name in systems:
                    if name == JETSTREAM:
                        for workers in o.alarm_workers:
                            with self._recorded(f"{JETSTREAM} {workers}w {per_message}/msg"):
                                self._jetstream_case(registry, influx, per_message, workers)
                            self.save()
                        continue
                    assert mosquitto is not None
                    system: System
                    if name == "hazmon":
                        system = Hazmon(
                            registry=registry, broker_url=broker.url, influx_url=influx.url
                        )
                    else:
                        assert install_path is not None
                        system = NodeRedPeer(
                            install_path=install_path, plant=self.plant,
                            mqtt=(broker.host, broker.port),
                            influx=(influx.host, influx.port),
                        )
                    with self._recorded(f"{name} {per_message}/msg"):
                        self._case(system, per_message, mosquitto, influx)
                    self.save()
        return self.results

    @contextlib.contextmanager
    def _recorded(self, case: str) -> Iterator[None]:
        """A case that fails (a process of it died, it never got ready) is recorded
        with why, and the run goes on with the next case."""
        try:
            yield
        except (PhaseFailed, NotReady, SystemUnderTestError) as exc:
            why = " ".join(str(exc).split())[:600]
            self.failures.append(f"{case}: {type(exc).__name__}: {why}")
            self.progress.done(f"[{case}] FAILED, going on with the next case: {why}")

    def _keep_log(self, path: Path) -> None:
        if path.exists():
            shutil.copy(path, self.work / f"{path.parent.name}-{path.name}")

    def _jetstream_case(
        self, registry: Path, influx: InfluxDB, per_message: int, workers: int
    ) -> None:
        """A nats-server of its own (a fresh store), then the case; the store removed
        afterwards, its log kept."""
        o = self.o
        folder = self.work / f"nats-{workers}w-{per_message}"
        with BenchNats(folder) as nats:
            try:
                with _nats_bus(nats) as bus:
                    system = HazmonJetStream(
                        registry=registry, plant=self.plant, crosser_every=o.crosser_every,
                        nats=nats, influx_url=influx.url, workers=workers,
                        partitions=o.partitions, spread=o.spread,
                    )
                    self._case(system, per_message, bus, influx)
            finally:
                nats.stop()
                if o.keep_stores:  # benchmarks/journal_count.py reads it
                    self.progress.done(f"[{workers}w {per_message}/msg] store kept: "
                                       f"{nats.store_dir}")
                else:
                    nats.remove_store()

    def estimate_s(self, systems: Sequence[str]) -> float:
        o = self.o
        per_case = 2 * o.seconds + 60
        burst = o.burst_warmup_s + o.burst_s + 90 if o.burst else 0
        storage = (o.seconds + 60) * len(o.per_message) if "hazmon" in systems else 0
        storage = storage if o.storage_only else 0
        runs = sum(len(o.alarm_workers) if s == JETSTREAM else 1 for s in systems)
        return runs * (len(o.per_message) * per_case + burst) + storage

    def _case(
        self,
        system: System,
        per_message: int,
        bus: _Bus,
        influx: InfluxDB,
    ) -> None:
        o = self.o
        case = f"{per_message}/msg"
        ident = re.sub(r"\W", "", system.name)
        database = f"bench_{ident}_{per_message}_{uuid.uuid4().hex[:6]}"
        store = Store(influx, database)
        store.create()
        work = self.work / f"{system.name.replace(' ', '-')}-{per_message}"
        work.mkdir(parents=True, exist_ok=True)
        clock = _GatewayClock()
        assert influx.pid is not None
        listener, prober = bus.listener, bus.prober
        system.start(database, work)
        try:
            self._wait_ready(system, store, listener, prober)
            jetstream = system if isinstance(system, HazmonJetStream) else None
            if jetstream is not None and jetstream.spread:
                self.progress.done(
                    f"[{system.name}] partitions held: {jetstream.owners()}; sensors: "
                    f"{jetstream.shares()} ({jetstream.spread_steps} unpinned)"
                )

            def make_load(segments: Sequence[Segment], alarm_window: int) -> Load:
                return Load(
                    host=bus.host, port=bus.port, plant=self.plant,
                    per_message=per_message, crosser_every=o.crosser_every,
                    segments=segments, publishers=o.publishers, boot=1,
                    seqs=clock.seqs, last_ts_ms=clock.last_ts_ms, alarm_window=alarm_window,
                )

            ctx = PhaseContext(
                store=store, listener=listener, broker=bus.watch, progress=self.progress,
                pids=system.pids() | bus.pids | {"influxdb": influx.pid},
                failure=system.failure, errors=system.errors,
                dropped=lambda: system.dropped_readings(per_message), make_load=make_load,
                evaluates_alarms=system.evaluates_alarms,
                window_readings=min(20_000 * per_message, 200_000),
                profile_dir=o.profile_dir,
                profile_pids=system.pids() if system.evaluates_alarms else {},
                alarm_groups=jetstream.alarm_groups if jetstream and jetstream.workers > 1
                else None,
                stream=bus.stream,
                owners=jetstream.owners if jetstream is not None else None,
            )
            paced, pubs = run_phase(
                ctx, PhaseResult(system.name, case, "paced", per_message),
                [Segment(o.seconds, o.nominal_per_s)],
            )
            clock.update(pubs)
            self.results.append(paced)
            hazmon = system.evaluates_alarms
            flat, pubs = run_phase(
                ctx, PhaseResult(system.name, case, "flat out", per_message),
                [Segment(o.seconds, None)], alarms_bound=hazmon,
            )
            clock.update(pubs)
            self.results.append(flat)
            if o.burst and per_message == max(o.per_message):
                target = 2 * flat.stored_per_s
                burst = Burst(o.burst_warmup_s, o.burst_s, target)
                result, pubs = run_phase(
                    ctx, PhaseResult(system.name, case, "burst", per_message, burst=burst),
                    [Segment(o.burst_warmup_s, o.nominal_per_s), Segment(o.burst_s, target),
                     Segment(o.burst_tail_max_s, o.nominal_per_s)],
                    base_per_s=o.nominal_per_s,
                )
                clock.update(pubs)
                self.results.append(result)
            if system.name == "hazmon" and o.storage_only:
                # What ingest stores when the alarm service may fall behind (last: it
                # leaves the alarm service a backlog).
                storage, pubs = run_phase(
                    ctx, PhaseResult(system.name, case, STORAGE_ONLY, per_message),
                    [Segment(o.seconds, None)], alarms_bound=False,
                )
                clock.update(pubs)
                self.results.append(storage)
        finally:
            system.stop()
            if isinstance(system, Hazmon):
                end_sessions(bus.host, bus.port, system.client_ids())
                clear_retained(bus.host, bus.port, [JOURNAL_HEAD])
            store.drop()
            store.close()

    def _wait_ready(
        self, system: System, store: Store, listener: AlarmListener, prober: _Prober
    ) -> None:
        started = time.monotonic()
        deadline = started + READY_TIMEOUT_S
        probe_ts: list[int] = []
        next_probe = 0.0
        while time.monotonic() < deadline:
            if (why := system.failure()) is not None:
                raise NotReady(why)
            now = time.monotonic()
            if system.ready() and now >= next_probe:
                probe_ts.append(prober.publish())
                next_probe = now + 3.0
            if probe_ts and store.probe_readings() >= 2:
                raised = listener.snapshot()
                if not system.evaluates_alarms or any(
                    (PROBE_SITE, PROBE_SENSOR, ts) in raised for ts in probe_ts
                ):
                    self.progress.done(
                        f"[{system.name}] ready after {now - started:.1f} s "
                        f"(probe stored{', alarm raised' if system.evaluates_alarms else ''})"
                    )
                    return
            self.progress.show(f"[{system.name}] starting ... {now - started:.0f} s")
            time.sleep(0.25)
        raise NotReady(f"{system.name}: probe not stored/raised in {READY_TIMEOUT_S:.0f} s")

    # --- results ------------------------------------------------------------------

    def save(self) -> Path:
        self.o.out.mkdir(parents=True, exist_ok=True)
        path = self.o.out / "results.json"
        doc: dict[str, Any] = {
            "machine": self.machine,
            "options": {k: str(v) if isinstance(v, Path) else v
                        for k, v in asdict(self.o).items()},
            "missing": self.missing,
            "failures": self.failures,
            "phases": [phase_doc(r) for r in self.results],
        }
        path.write_text(json.dumps(doc, indent=2, default=str))
        return path


def phase_doc(r: PhaseResult) -> dict[str, Any]:
    doc = asdict(r)
    doc |= {"lost": r.lost, "offered_per_s": r.offered_per_s, "stored_per_s": r.stored_per_s}
    return doc


def machine() -> dict[str, Any]:
    cpu = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem_kb = 0
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal"):
                mem_kb = int(line.split()[1])
    except OSError:
        pass
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "mosquitto": _first_line(["/usr/sbin/mosquitto", "-h"]),
        "influxdb": _first_line(["/usr/bin/influxd", "version"]),
        "hazmon commit": _first_line(["git", "-C", str(Path(__file__).parents[2]),
                                      "rev-parse", "--short", "HEAD"]),
        "memory_gib": round(mem_kb / 1024 / 1024, 1),
        "kernel": platform.release(),
        "python": platform.python_version(),
        "os": _os_release(),
    }


def _first_line(argv: list[str]) -> str:
    try:
        done = subprocess.run(argv, capture_output=True, text=True, timeout=10, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return "unknown"
    if done.returncode != 0 and argv[0] == "git":
        return "unknown (not a git checkout)"
    lines = (done.stdout or done.stderr).strip().splitlines()
    return lines[0] if lines else ""


def _os_release() -> str:
    try:
        for line in Path("/etc/os-release").read_text().splitlines():
            if line.startswith("PRETTY_NAME="):
                return line.split("=", 1)[1].strip('"')
    except OSError:
        pass
    return platform.platform()
