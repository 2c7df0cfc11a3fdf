"""Ingest end to end on this machine: readings/s stored, CPU and peak memory of ingest.

    .venv/bin/python benchmarks/ingest_bench.py                 # 50/message, then 1/message
    .venv/bin/python benchmarks/ingest_bench.py --per-message 50 --readings 3000000
    .venv/bin/python benchmarks/ingest_bench.py --py-spy /tmp/ingest-profile   # flame graphs

For each case it starts a real Mosquitto and InfluxDB 1.6 (tests/servers.py), runs
`hazmon ingest` on the bundled demo plant (14 gateways, 177 sensors) as a process of
its own, and has benchmarks/ingest_load.py publish N readings (QoS 1, each gateway
on one connection, every reading a row of its own) as fast as ingest takes them: the
publisher is held back so the broker's queue for ingest never overflows. The clock
runs from the first publish until ingest reports N readings stored; then InfluxDB's
count query must say N. Printed: readings/s end to end (and between 10 % and 90 %
of N, the steady state), ingest's CPU seconds and share of one core, its peak RSS
(VmHWM), and the CPU of the broker, InfluxDB and the publisher for context.
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
from hazmon.config import load_registry  # noqa: E402
from tests.servers import InfluxDB, Mosquitto, free_port  # noqa: E402

DEMO = ROOT / "hazmon" / "demo" / "plant.yaml"
DB = "bench"
_SAMPLE = re.compile(r"^(hazmon_ingest_[a-z_]+_total) (\S+)$", re.M)


@dataclass(slots=True)
class Result:
    per_message: int
    readings: int
    counted: int
    elapsed_s: float
    steady_per_s: float
    ingest_cpu_s: float
    ingest_peak_rss_mb: float
    others_cpu_s: dict[str, float]

    def lines(self) -> list[str]:
        others = ", ".join(f"{k} {v:.1f} s" for k, v in self.others_cpu_s.items())
        return [
            f"{self.per_message} reading(s)/message: {self.readings:,} readings stored in "
            f"{self.elapsed_s:.1f} s = {self.readings / self.elapsed_s:,.0f} readings/s end to end "
            f"(steady state {self.steady_per_s:,.0f}/s); InfluxDB count: {self.counted:,}",
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
    broker: Mosquitto,
    influx: InfluxDB,
    data: Path,
    http_port: int,
) -> subprocess.Popen[bytes]:
    argv = [
        sys.executable,
        "-m",
        "hazmon.cli",
        "ingest",
        "--config",
        str(DEMO),
        "--broker",
        broker.url,
        "--influx",
        f"{influx.url}/{DB}",
        "--data",
        str(data),
        "--http",
        f"127.0.0.1:{http_port}",
        "--log-level",
        "WARNING",
    ]
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


def profile(pid: int, out_dir: Path, per_message: int) -> subprocess.Popen[bytes]:
    """py-spy attached to ingest, writing collapsed stacks (one line per stack, with counts)."""
    out_dir.mkdir(parents=True, exist_ok=True)
    out = out_dir / f"ingest-{per_message}-per-message.txt"
    py_spy = str(Path(sys.executable).parent / "py-spy")
    return subprocess.Popen(
        [
            py_spy,
            "record",
            "--pid",
            str(pid),
            "--threads",
            "--idle",
            "--format",
            "raw",
            "--rate",
            "100",
            "-o",
            str(out),
        ]
    )


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


def run_case(
    per_message: int,
    total: int,
    *,
    connections: int,
    backlog: int,
    py_spy: Path | None,
    timeout_s: float,
) -> Result:
    with Mosquitto() as broker, InfluxDB() as influx, tempfile.TemporaryDirectory() as tmp:
        influx.create_database(DB)
        http_port = free_port()
        proc = start_ingest(broker, influx, Path(tmp), http_port)
        try:
            return measure(
                proc,
                broker,
                influx,
                http_port,
                per_message,
                total,
                connections=connections,
                backlog=backlog,
                py_spy=py_spy,
                timeout_s=timeout_s,
            )
        finally:
            proc.kill()
            proc.wait()


def measure(
    proc: subprocess.Popen[bytes],
    broker: Mosquitto,
    influx: InfluxDB,
    http_port: int,
    per_message: int,
    total: int,
    *,
    connections: int,
    backlog: int,
    py_spy: Path | None,
    timeout_s: float,
) -> Result:
    pid = proc.pid
    spy = profile(pid, py_spy, per_message) if py_spy else None
    allowed, sent = mp.Value("q", backlog), mp.Value("q", 0)
    ready, go = mp.Event(), mp.Event()
    start_ms = int(time.time() * 1000) - 7 * 86_400_000
    plan = LoadRun(broker.port, demo_gateways(), per_message, total, connections, start_ms)
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
    marks = watch(http_port, total, allowed, sent, backlog, started, timeout_s, pids, last)
    elapsed_s = time.perf_counter() - started
    ingest_cpu = cpu_s(pid) - ingest_before
    others = {name: last[name] - before[name] for name in before}
    counted = sum(influx.count(DB, "reading", f) for f in ("value", "state"))
    peak = peak_rss_mb(pid)
    if spy is not None:
        spy.send_signal(signal.SIGINT)  # py-spy writes its file on SIGINT
        spy.wait()
    proc.terminate()
    proc.wait(60)
    publisher.join(30)
    return Result(
        per_message, total, counted, elapsed_s, steady(marks, total), ingest_cpu, peak, others
    )


def watch(
    http_port: int,
    total: int,
    allowed: Synchronized[int],
    sent: Synchronized[int],
    backlog: int,
    started: float,
    timeout_s: float,
    pids: dict[str, int | None],
    cpu: dict[str, float],
) -> list[tuple[float, float]]:
    """Until ingest has stored `total`: let the publisher run `backlog` messages ahead.
    `cpu` is kept up to date with the CPU seconds of the other processes."""
    marks: list[tuple[float, float]] = []
    last_print = 0.0
    while True:
        for name, pid in pids.items():
            if pid and name in cpu:
                cpu[name] = max(cpu[name], cpu_s(pid))
        m = metrics(http_port)
        allowed.value = int(m.get("hazmon_ingest_messages_acked_total", 0)) + backlog
        stored = m.get("hazmon_ingest_readings_stored_total", 0.0)
        now = time.perf_counter() - started
        marks.append((now, stored))
        if now - last_print >= 1:
            print(
                f"  {now:5.1f} s: {stored:,.0f} stored ({stored / now:,.0f}/s); messages: "
                f"{sent.value:,} sent, {allowed.value - backlog:,} acknowledged by ingest",
                flush=True,
            )
            last_print = now
        if stored >= total:
            return marks
        if now > timeout_s:
            raise RuntimeError(f"only {stored:,.0f} of {total:,} stored after {timeout_s:.0f} s")
        time.sleep(0.1)


def steady(marks: list[tuple[float, float]], total: int) -> float:
    low = next(m for m in marks if m[1] >= 0.1 * total)
    high = next(m for m in marks if m[1] >= 0.9 * total)
    return (high[1] - low[1]) / (high[0] - low[0]) if high[0] > low[0] else 0.0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--per-message", type=int, choices=[1, 50], action="append")
    parser.add_argument(
        "--readings", type=int, help="N (default 3,000,000 at 50/message, 600,000 at 1/message)"
    )
    parser.add_argument("--connections", type=int, default=4)
    parser.add_argument("--py-spy", type=Path, help="record a flame graph of ingest here")
    parser.add_argument("--timeout", type=float, default=600.0)
    args = parser.parse_args()
    cases = args.per_message or [50, 1]
    results = []
    for per_message in cases:
        total = args.readings or (3_000_000 if per_message == 50 else 600_000)
        backlog = 20_000 if per_message == 50 else 60_000
        print(f"-- {per_message} reading(s)/message, N = {total:,}", flush=True)
        result = run_case(
            per_message,
            total,
            connections=args.connections,
            backlog=backlog,
            py_spy=args.py_spy,
            timeout_s=args.timeout,
        )
        results.append(result)
        print("\n".join(result.lines()), flush=True)
    print(f"\nsummary (machine: {psutil.cpu_count()} cores)")
    for result in results:
        print("\n".join(result.lines()))
        assert result.counted == result.readings, "InfluxDB does not hold exactly N rows"


if __name__ == "__main__":
    main()
