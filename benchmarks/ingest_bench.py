"""Ingest end to end on this machine: readings/s stored, CPU and peak memory of ingest.

    .venv/bin/python benchmarks/ingest_bench.py                 # 50/message, then 1/message
    .venv/bin/python benchmarks/ingest_bench.py --case 50 --readings 3000000
    .venv/bin/python benchmarks/ingest_bench.py --case 5000 --case garbage   # memory bounds
    .venv/bin/python benchmarks/ingest_bench.py --case 1 --py-spy /tmp/prof  # a profile

For each case it starts a real Mosquitto and InfluxDB 1.6 (hazmon/testing/servers.py), runs
`hazmon ingest` on the bundled demo plant (14 gateways, 177 sensors) as a process of
its own, and has benchmarks/ingest_load.py publish N readings (QoS 1, each gateway
on one connection, every reading a row of its own) as fast as ingest takes them: the
publisher is held back so the broker's queue for ingest never overflows. The clock
runs from the first publish until ingest reports N readings stored; then InfluxDB's
count query must say N. Printed: readings/s end to end (and between 10 % and 90 %
of N, the steady state), ingest's CPU seconds and share of one core, its peak RSS
(VmHWM), and the CPU of the broker, InfluxDB and the publisher for context.

Cases: `50` and `1` readings per message (the throughput figures), `5000` (the
largest legal messages: memory), `garbage` (1.1 MiB messages of random bytes, over
the 1 MiB limit, all dead-lettered: memory under hostile input; N counts messages).
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import re
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from multiprocessing.sharedctypes import Synchronized
from pathlib import Path

import httpx
import psutil

ROOT = Path(__file__).parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.ingest_load import LoadGateway, LoadRun, publish  # noqa: E402
from hazmon.contract.config import load_registry  # noqa: E402
from hazmon.testing.servers import InfluxDB, Mosquitto, free_port  # noqa: E402

DEMO = ROOT / "hazmon" / "demo" / "plant.yaml"
DB = "bench"
STORED = "hazmon_ingest_readings_stored_total"
ACKED = "hazmon_ingest_messages_acked_total"
_SAMPLE = re.compile(r"^(hazmon_ingest_[a-z_]+_total) (\S+)$", re.M)


@dataclass(frozen=True, slots=True)
class Case:
    name: str
    per_message: int
    total: int  # readings (messages for garbage)
    backlog: int  # messages the publisher may run ahead of ingest's acknowledgements
    garbage_bytes: int = 0

    @property
    def target(self) -> str:
        return ACKED if self.garbage_bytes else STORED

    @property
    def unit(self) -> str:
        return "garbage messages" if self.garbage_bytes else "readings"


def case(name: str, readings: int | None) -> Case:
    if name == "50":
        return Case(name, 50, readings or 3_000_000, 20_000)
    if name == "1":
        return Case(name, 1, readings or 600_000, 60_000)
    if name == "5000":
        return Case(name, 5000, readings or 2_000_000, 200)
    return Case(name, 1, readings or 400, 50, garbage_bytes=1100 * 1024)


@dataclass(slots=True)
class Result:
    case: Case
    counted: int
    elapsed_s: float
    steady_per_s: float
    ingest_cpu_s: float
    ingest_peak_rss_mb: float
    others_cpu_s: dict[str, float]

    def lines(self) -> list[str]:
        c, others = self.case, ", ".join(f"{k} {v:.1f} s" for k, v in self.others_cpu_s.items())
        check = "dead letters" if c.garbage_bytes else "InfluxDB count"
        verb = "dead-lettered" if c.garbage_bytes else "stored"
        return [
            f"{c.name} reading(s)/message: {c.total:,} {c.unit} {verb} in {self.elapsed_s:.1f} s "
            f"= {c.total / self.elapsed_s:,.0f}/s end to end (steady state "
            f"{self.steady_per_s:,.0f}/s); {check}: {self.counted:,}",
            f"  ingest: {self.ingest_cpu_s:.1f} CPU s "
            f"({self.ingest_cpu_s / self.elapsed_s:.0%} of one core), "
            f"peak RSS {self.ingest_peak_rss_mb:.0f} MiB; others: {others}",
        ]


def demo_gateways() -> list[LoadGateway]:
    registry = load_registry(DEMO)
    return [
        LoadGateway(site.id, gw.id, tuple((x.id, x.kind.value == "interlock") for x in gw.sensors))
        for site in registry.sites
        for gw in site.gateways
    ]


def metrics(port: int) -> dict[str, float]:
    text = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=5).text
    return {name: float(value) for name, value in _SAMPLE.findall(text)}


def start_ingest(
    broker: Mosquitto, influx: InfluxDB, data: Path, http_port: int
) -> subprocess.Popen[bytes]:
    argv = [sys.executable, "-m", "hazmon.cli", "ingest", "--config", str(DEMO),
            "--broker", broker.url, "--influx", f"{influx.url}/{DB}", "--data", str(data),
            "--http", f"127.0.0.1:{http_port}", "--log-level", "WARNING"]  # fmt: skip
    proc = subprocess.Popen(argv, cwd=ROOT)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"http://127.0.0.1:{http_port}/health").status_code == 200:
                return proc
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    proc.kill()
    raise RuntimeError("hazmon ingest did not become healthy")


def profile(pid: int, out_dir: Path, name: str) -> subprocess.Popen[bytes]:
    """py-spy attached to ingest, writing collapsed stacks (one line per stack, with counts)."""
    out_dir.mkdir(parents=True, exist_ok=True)
    out = out_dir / f"ingest-{name}-per-message.txt"
    py_spy = str(Path(sys.executable).parent / "py-spy")
    argv = [py_spy, "record", "--pid", str(pid), "--threads", "--idle", "--format", "raw",
            "--rate", "100", "-o", str(out)]  # fmt: skip
    return subprocess.Popen(argv)


def peak_rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return 0.0


def cpu_s(pid: int) -> float:
    try:
        t = psutil.Process(pid).cpu_times()
        return float(t.user + t.system)
    except psutil.Error:
        return 0.0


def run_case(c: Case, *, connections: int, py_spy: Path | None, timeout_s: float) -> Result:
    with Mosquitto() as broker, InfluxDB() as influx, tempfile.TemporaryDirectory() as tmp:
        influx.create_database(DB)
        http_port = free_port()
        proc = start_ingest(broker, influx, Path(tmp), http_port)
        spy = profile(proc.pid, py_spy, c.name) if py_spy else None
        try:
            result = measure(c, proc.pid, broker, influx, http_port, connections, timeout_s)
        finally:
            if spy is not None:
                spy.send_signal(signal.SIGINT)  # py-spy writes its file on SIGINT
                spy.wait()
            proc.terminate()
            try:
                proc.wait(60)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        return result


def measure(c: Case, pid: int, broker: Mosquitto, influx: InfluxDB, http_port: int,
            connections: int, timeout_s: float) -> Result:  # fmt: skip
    allowed, sent = mp.Value("q", c.backlog), mp.Value("q", 0)
    ready, go = mp.Event(), mp.Event()
    start_ms = int(time.time() * 1000) - 7 * 86_400_000
    plan = LoadRun(broker.port, demo_gateways(), c.per_message, c.total, connections, start_ms,
                   garbage_bytes=c.garbage_bytes)  # fmt: skip
    publisher = mp.Process(
        target=publish,
        args=(plan,),
        kwargs={"allowed": allowed, "sent": sent, "ready": ready, "go": go},
    )
    publisher.start()
    if not ready.wait(600):
        raise RuntimeError("the publisher did not get ready")
    pids = {"broker": broker.pid, "influxd": influx.pid, "publisher": publisher.pid}
    before = {name: cpu_s(p) for name, p in pids.items() if p}
    ingest_before = cpu_s(pid)
    started = time.perf_counter()
    go.set()
    last = dict(before)
    marks = watch(c, http_port, allowed, sent, started, timeout_s, pids, last)
    elapsed_s = time.perf_counter() - started
    ingest_cpu = cpu_s(pid) - ingest_before
    if c.garbage_bytes:
        counted = int(metrics(http_port).get("hazmon_ingest_dead_letters_total", 0))
    else:
        counted = sum(influx.count(DB, "reading", f) for f in ("value", "state"))
    peak = peak_rss_mb(pid)
    publisher.join(30)
    others = {name: last[name] - before[name] for name in before}
    return Result(c, counted, elapsed_s, steady(marks, c.total), ingest_cpu, peak, others)


def watch(c: Case, http_port: int, allowed: Synchronized[int], sent: Synchronized[int],
          started: float, timeout_s: float, pids: dict[str, int | None],
          cpu: dict[str, float]) -> list[tuple[float, float]]:  # fmt: skip
    """Until ingest is done with `c.total`: let the publisher run `c.backlog` messages
    ahead; `cpu` is kept up to date with the CPU seconds of the other processes."""
    marks: list[tuple[float, float]] = []
    last_print = 0.0
    while True:
        for name, pid in pids.items():
            if pid and name in cpu:
                cpu[name] = max(cpu[name], cpu_s(pid))
        m = metrics(http_port)
        allowed.value = int(m.get(ACKED, 0)) + c.backlog
        done = m.get(c.target, 0.0)
        now = time.perf_counter() - started
        marks.append((now, done))
        if now - last_print >= 1:
            print(f"  {now:5.1f} s: {done:,.0f} {c.unit} ({done / now:,.0f}/s); messages: "
                  f"{sent.value:,} sent, {m.get(ACKED, 0):,.0f} acknowledged by ingest",
                  flush=True)  # fmt: skip
            last_print = now
        if done >= c.total:
            return marks
        if now > timeout_s:
            raise RuntimeError(f"only {done:,.0f} of {c.total:,} after {timeout_s:.0f} s")
        time.sleep(0.1)


def steady(marks: list[tuple[float, float]], total: int) -> float:
    low = next(m for m in marks if m[1] >= 0.1 * total)
    high = next(m for m in marks if m[1] >= 0.9 * total)
    return (high[1] - low[1]) / (high[0] - low[0]) if high[0] > low[0] else 0.0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--case", choices=["50", "1", "5000", "garbage"], action="append")
    parser.add_argument("--readings", type=int, help="N (defaults: 3 M at 50/message, "
                        "600 k at 1, 2 M at 5000, 400 garbage messages)")  # fmt: skip
    parser.add_argument("--connections", type=int, default=4)
    parser.add_argument("--py-spy", type=Path, help="record ingest's stacks here (py-spy)")
    parser.add_argument("--timeout", type=float, default=600.0)
    args = parser.parse_args()
    results = []
    for name in args.case or ["50", "1"]:
        c = case(name, args.readings)
        print(f"-- {c.name} reading(s)/message, N = {c.total:,} {c.unit}", flush=True)
        result = run_case(c, connections=args.connections, py_spy=args.py_spy,
                          timeout_s=args.timeout)  # fmt: skip
        results.append(result)
        print("\n".join(result.lines()), flush=True)
    print(f"\nsummary (machine: {psutil.cpu_count()} cores, load average "
          f"{', '.join(f'{x:.1f}' for x in psutil.getloadavg())})")  # fmt: skip
    for result in results:
        print("\n".join(result.lines()))
        assert result.counted == result.case.total, f"not exactly N: {result.counted:,}"


if __name__ == "__main__":
    main()
