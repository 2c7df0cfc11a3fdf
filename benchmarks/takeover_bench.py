"""Takeover time of hazmon's alarm workers on JetStream: kill -9 the owner, time the
standby's takeover of each partition.

    .venv/bin/python benchmarks/takeover_bench.py [--kills 20] [--out DIR]

One nats-server (benchmarks/e2e/jetstream.py: JetStream, the MQTT listener, loopback, no
authorization), two `hazmon alarms --broker nats://... --worker-id w1|w2` processes on
the benchmark plant (`--gateways` x `--sensors` gas detectors, each store the embedded
one in its data folder), and a light steady load published to the MQTT listener (one
publisher process, `--rate` readings/s, `--per-message` to a message; every
`--crossing-every`-th sensor alternates across the high threshold). Then, `--kills` times:

1. the owners, from the workers' logs ("took partition N" / "lost partition N"): the
   server pins every partition to one worker, so one worker owns them all (with
   `--spread`, the benchmark first has the server unpin partitions of the busiest
   worker until both hold half of the plant's sensors, and kills the owner of more);
2. SIGKILL that owner, noting the time;
3. wait until the survivor logs "took partition N" for every partition the victim held:
   the time from the kill to each line is that partition's takeover time (the log's
   time, to the millisecond, on the same clock); the kill's takeover time is its last;
4. start the killed worker again (the same id and data folder) and wait until it pulls
   (a hot standby), then `--settle` s.

Every wait is bounded (`--max-seconds` in all). At the end the load stops and the
alarm events are matched to the crossings published: every crossing should have
raised exactly one `raised` across all the takeovers. Prints p50 / p99 / max (nearest
rank: of 20 kills p99 is the largest) and writes takeover.json and every log to --out.
"""

from __future__ import annotations

import argparse
import json
import math
import platform
import signal
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import psutil

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from benchmarks.e2e.jetstream import (  # noqa: E402
    BenchNats,
    nats_server_version,
    ownership,
    takeovers,
    unpin,
)
from benchmarks.e2e.latency import AlarmListener, match, percentile  # noqa: E402
from benchmarks.e2e.load import Load, Segment  # noqa: E402
from benchmarks.e2e.plant import Plant  # noqa: E402
from benchmarks.e2e.procs import Child  # noqa: E402
from benchmarks.e2e.systems import hazmon_command  # noqa: E402
from hazmon.bus import jetstream as js  # noqa: E402

WORKERS = ("w1", "w2")
TAKEOVER_TIMEOUT_S = 60.0
START_TIMEOUT_S = 90.0
DRAIN_S = 30.0


class BenchTimeout(RuntimeError):
    """A bounded wait ran out."""


@dataclass
class Kill:
    index: int
    victim: str
    survivor: str
    partitions: list[int]
    killed_at: float  # Unix s
    takeover_ms: dict[int, float] = field(default_factory=dict)  # kill -> "took" line
    worker_ms: dict[int, float] = field(default_factory=dict)  # what the worker logged
    standby_cpu_pct: float = math.nan  # the restarted worker while it stood by

    @property
    def last_ms(self) -> float:
        return max(self.takeover_ms.values()) if self.takeover_ms else math.nan


@dataclass
class Options:
    kills: int = 20
    gateways: int = 40
    sensors: int = 25
    rate: float = 1000.0
    per_message: int = 25
    crossing_every: int = 20
    partitions: int = js.DEFAULT_PARTITIONS
    settle_s: float = 5.0
    spread: bool = False
    max_seconds: float = 1500.0
    out: Path = Path("takeover-results")


class Bench:
    def __init__(self, o: Options) -> None:
        self.o = o
        self.plant = Plant(o.gateways, o.sensors)
        self.work = o.out / "work"
        self.deadline = time.monotonic() + o.max_seconds
        self.kills: list[Kill] = []
        self.workers: dict[str, Child] = {}
        self.up: set[str] = set()  # started and not killed since
        self.failure: str | None = None
        self.nats: BenchNats | None = None
        self.weights = [0] * o.partitions
        for g in range(self.plant.gateways):
            self.weights[js.partition_of(self.plant.site_id(g), o.partitions)] += o.sensors

    # --- helpers ----------------------------------------------------------------------

    def _wait(self, what: str, done: Any, timeout_s: float) -> None:
        until = min(self.deadline, time.monotonic() + timeout_s)
        while not done():
            if self.nats is not None and not self.nats.running:
                raise RuntimeError(f"nats-server ended: {self.nats.exit_text()}")
            for name, child in self.workers.items():
                if name in self.up and not child.running:
                    raise RuntimeError(f"worker {name} exited:\n{child.log_tail()}")
            if time.monotonic() > until:
                raise BenchTimeout(f"{what}: not within {timeout_s:.0f} s")
            time.sleep(0.05)

    def owners(self) -> dict[str, list[int]]:
        return ownership({w: c.log_text() for w, c in self.workers.items()})

    def _worker(self, name: str, registry: Path, url: str) -> Child:
        child = Child(
            f"alarms {name}",
            [*hazmon_command(), "alarms", "--config", str(registry), "--broker", url,
             "--data", str(self.work / f"hazmon-alarms-{name}"),
             "--partitions", str(self.o.partitions), "--worker-id", name],
            log_path=self.work / f"hazmon-alarms-{name}.log", env={"PYTHONUNBUFFERED": "1"},
        )  # fmt: skip
        return child

    def _start(self, name: str) -> None:
        child = self.workers[name]
        pulling = child.log_text().count("pulling")
        child.start()
        self.up.add(name)
        self._wait(f"{name} pulling", lambda: child.log_text().count("pulling") > pulling,
                   START_TIMEOUT_S)  # fmt: skip

    def _all_owned(self) -> bool:
        held = self.owners()
        return {p for ps in held.values() for p in ps} == set(range(self.o.partitions))

    def _spread(self, url: str) -> None:
        """Unpin partitions of the busier worker until the shares are as even as moving
        a partition can make them (as the e2e benchmark does)."""
        for _ in range(4 * self.o.partitions):
            held = self.owners()
            load = {w: sum(self.weights[p] for p in held.get(w, [])) for w in WORKERS}
            busy, idle = sorted(WORKERS, key=lambda w: load[w], reverse=True)
            movable = [p for p in held[busy] if 0 < self.weights[p] < load[busy] - load[idle]]
            if not movable:
                return
            p = max(movable, key=lambda q: self.weights[q])
            since = time.time()
            unpin(url, p)
            self._wait(f"partition {p} pinned again", lambda p=p, t=since: self._taken_since(p, t),
                       15.0)  # fmt: skip
            time.sleep(0.5)  # the old owner learns of it at its next pull

    def _taken_since(self, p: int, since: float) -> bool:
        return any(at >= since and q == p for w, c in self.workers.items()
                   for at, q, _ms in takeovers(c.log_text(), w))  # fmt: skip

    # --- the run ------------------------------------------------------------------------

    def run(self) -> None:
        self.work.mkdir(parents=True, exist_ok=True)
        registry = self.plant.write_registry(self.work / "bench-plant.yaml")
        with BenchNats(self.work / "nats") as nats:
            try:
                self._run(nats, registry)
            finally:
                for child in self.workers.values():
                    child.stop()
                nats.stop()
                nats.remove_store()

    def _run(self, nats: BenchNats, registry: Path) -> None:
        o = self.o
        self.nats = nats
        for name in WORKERS:
            self.workers[name] = self._worker(name, registry, nats.url)
        self._start("w1")  # it makes the streams, then owns every partition
        self._wait("every partition owned", self._all_owned, 30.0)
        self._start("w2")
        listener = AlarmListener(nats.host, nats.mqtt_port)
        listener.start()
        load = Load(
            host=nats.host, port=nats.mqtt_port, plant=self.plant, per_message=o.per_message,
            crosser_every=o.crossing_every, segments=[Segment(o.max_seconds, o.rate)], publishers=1,
            boot=1, seqs={}, last_ts_ms={},
        )
        load.prepare()
        load.go()
        self.started = time.time()
        try:
            time.sleep(o.settle_s)
            for i in range(o.kills):
                if o.spread:
                    self._spread(nats.url)
                self._kill(i)
                print(self._line(self.kills[-1]), file=sys.stderr)
        finally:
            load.stop()
            publishers = load.join()
        crossings = [c for p in publishers for c in p.crossings]
        keys = [(c[0], c[1], c[2]) for c in crossings]
        until = time.monotonic() + DRAIN_S
        while listener.count_raised(keys) < len(keys) and time.monotonic() < until:
            time.sleep(0.5)
        self.alarms = {
            "published_readings": sum(p.readings for p in publishers),
            "crossings": len(crossings),
            "missing": match(listener.snapshot(), crossings).missing,
            "missing_crossings": [  # (site, sensor, ts_ms) of each, the first 200
                list(k) for k in keys if k not in listener.snapshot()][:200],
            "duplicate_raised": listener.duplicates,
            "publisher_errors": [p.error for p in publishers if p.error],
        }
        listener.stop()
        self.changelog = self._changelog(nats.url)

    def _kill(self, index: int) -> None:
        held = self.owners()
        victim = max(WORKERS, key=lambda w: len(held.get(w, [])))
        survivor = next(w for w in WORKERS if w != victim)
        partitions = held[victim]
        child = self.workers[victim]
        kill = Kill(index, victim, survivor, partitions, time.time())
        self.up.discard(victim)
        child.kill()
        self.kills.append(kill)
        log = self.workers[survivor]

        def taken() -> bool:
            for at, p, ms in takeovers(log.log_text(), survivor):
                if at >= kill.killed_at - 0.001 and p in partitions and p not in kill.takeover_ms:
                    kill.takeover_ms[p] = max(0.0, (at - kill.killed_at) * 1000)
                    kill.worker_ms[p] = ms
            return len(kill.takeover_ms) == len(partitions)

        self._wait(f"kill {index + 1}: {survivor} taking {partitions}", taken, TAKEOVER_TIMEOUT_S)
        self._start(victim)
        proc = psutil.Process(self.workers[victim].pid)
        before = proc.cpu_times()
        time.sleep(self.o.settle_s)
        after = proc.cpu_times()
        used_s = (after.user + after.system) - (before.user + before.system)
        kill.standby_cpu_pct = 100 * used_s / self.o.settle_s

    def _changelog(self, url: str) -> dict[str, int]:
        import asyncio

        async def info() -> dict[str, int]:
            nc = await js.connect([url], name="bench-info")
            try:
                doc = await js.api(nc, f"STREAM.INFO.{js.PARTS_STREAM}", {})
            finally:
                await nc.close()
            state = doc["state"]
            return {"records": int(state["messages"]), "bytes": int(state["bytes"])}

        try:
            return asyncio.run(info())
        except Exception as exc:  # the figure is extra; the takeovers are measured
            return {"error": str(exc)}  # type: ignore[dict-item]

    @staticmethod
    def _line(k: Kill) -> str:
        return (f"kill {k.index + 1}: {k.victim} killed, {k.survivor} took "
                f"{len(k.takeover_ms)} partitions, the last {k.last_ms:,.0f} ms after the kill "
                f"(first {min(k.takeover_ms.values()):,.0f} ms; the worker's own takeover "
                f"{max(k.worker_ms.values()):,.0f} ms at most)")  # fmt: skip

    # --- results ------------------------------------------------------------------------

    def summary(self) -> dict[str, Any]:
        def stats(values: list[float]) -> dict[str, float]:
            ordered = sorted(values)
            return {"n": len(ordered), "p50": percentile(ordered, 50),
                    "p99": percentile(ordered, 99), "max": ordered[-1] if ordered else math.nan}

        done = [k for k in self.kills if len(k.takeover_ms) == len(k.partitions)]
        every = [ms for k in done for ms in k.takeover_ms.values()]
        return {
            "kills_finished": len(done),
            "kill_to_last_partition_ms": stats([k.last_ms for k in done]),
            "kill_to_first_partition_ms": stats([min(k.takeover_ms.values())
                                                 for k in done]),
            "kill_to_each_partition_ms": stats(every),
            "worker_takeover_ms": stats([ms for k in done for ms in k.worker_ms.values()]),
            "standby_cpu_pct": stats([k.standby_cpu_pct for k in done
                                      if not math.isnan(k.standby_cpu_pct)]),
        }

    def save(self) -> dict[str, Any]:
        doc = {
            "options": {k: str(v) if isinstance(v, Path) else v for k, v in asdict(self.o).items()},
            "machine": {"cores": psutil.cpu_count(), "python": platform.python_version(),
                        "kernel": platform.release(), "nats-server": nats_server_version()},
            "pin_timeout_s": js.PIN_TIMEOUT_S,
            "alarm_ack_wait_s": js.ALARM_ACK_WAIT_S,
            "summary": self.summary() if self.kills else {},
            "failure": self.failure,
            "alarms": getattr(self, "alarms", {}),
            "changelog": getattr(self, "changelog", {}),
            "kills": [asdict(k) | {"last_ms": k.last_ms} for k in self.kills],
        }
        self.o.out.mkdir(parents=True, exist_ok=True)
        (self.o.out / "takeover.json").write_text(json.dumps(doc, indent=2, default=str))
        return doc


def report(doc: dict[str, Any]) -> str:
    s = doc["summary"]
    if not s:
        return "no kill measured"
    rows = [
        "| from the kill to | kills / samples | p50 ms | p99 ms | max ms |",
        "|---|---:|---:|---:|---:|",
    ]
    for key, what in (("kill_to_last_partition_ms", "the survivor's last \"took partition\""),
                      ("kill_to_first_partition_ms", "its first \"took partition\""),
                      ("kill_to_each_partition_ms", "each \"took partition\""),
                      ("worker_takeover_ms", "(the worker's own replay and fence, per partition)")):
        v = s[key]
        rows.append(f"| {what} | {v['n']} | {v['p50']:,.0f} | {v['p99']:,.0f} | {v['max']:,.0f} |")
    a = doc["alarms"]
    rows += [
        "",
        f"alarms: {a.get('crossings', 0):,} crossings published, {a.get('missing', 0):,} without "
        f"a `raised`, {a.get('duplicate_raised', 0):,} `raised` twice; "
        f"standby CPU {s['standby_cpu_pct']['p50']:.1f} % of a core (p50); "
        f"changelog at the end: {doc['changelog']}",
    ]
    return "\n".join(rows)


def parse_args(argv: list[str] | None = None) -> Options:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--kills", type=int, default=20)
    p.add_argument("--gateways", type=int, default=40)
    p.add_argument("--sensors", type=int, default=25, help="sensors per gateway")
    p.add_argument("--rate", type=float, default=1000.0, help="readings/s (the light load)")
    p.add_argument("--per-message", type=int, default=25)
    p.add_argument("--crossing-every", type=int, default=20,
                   help="every N-th sensor alternates across the high threshold (5 %%)")
    p.add_argument("--partitions", type=int, default=js.DEFAULT_PARTITIONS)
    p.add_argument("--settle", type=float, default=5.0,
                   help="s after a restarted worker pulls before the next kill")
    p.add_argument("--spread", action=argparse.BooleanOptionalAction, default=False,
                   help="before each kill, have the server unpin partitions until both "
                        "workers hold half (else one owns them all, the other stands by)")
    p.add_argument("--max-seconds", type=float, default=1500.0, help="the whole run at most")
    p.add_argument("--out", type=Path, default=None,
                   help="results folder (default: a new folder under /tmp/hazmon-bench)")
    a = p.parse_args(argv)
    return Options(
        kills=a.kills, gateways=a.gateways, sensors=a.sensors, rate=a.rate,
        per_message=a.per_message, crossing_every=a.crossing_every, partitions=a.partitions,
        settle_s=a.settle, spread=a.spread, max_seconds=a.max_seconds,
        out=a.out or Path(tempfile.gettempdir()) / "hazmon-bench"
        / ("takeover-" + time.strftime("%Y%m%d-%H%M%S")),
    )


def _exit_on_sigterm(signum: int, _frame: object) -> None:
    raise SystemExit(128 + signum)


def main(argv: list[str] | None = None) -> int:
    signal.signal(signal.SIGTERM, _exit_on_sigterm)
    options = parse_args(argv)
    bench = Bench(options)
    try:
        bench.run()
    except (BenchTimeout, RuntimeError) as exc:  # what was measured is kept, with why
        bench.failure = " ".join(str(exc).split())[:600]
        print(f"stopped early: {bench.failure}", file=sys.stderr)
    finally:
        doc = bench.save()
    print(report(doc))
    print(f"results: {options.out / 'takeover.json'}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
