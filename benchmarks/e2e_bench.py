"""End-to-end benchmark: hazmon (ingest + alarms) against a Node-RED flow.

    .venv/bin/python benchmarks/e2e_bench.py [--seconds 60] [--burst 60] [--out DIR]

Starts a real Mosquitto and InfluxDB (Debian's, on free loopback ports), then for
each case (50 readings per message, then 1) each system in turn on a fresh database:
`hazmon ingest` + `hazmon alarms` (two processes), then Node-RED (node-red and
node-red-contrib-influxdb pinned in benchmarks/nodered/package.json, installed into
~/.cache/hazmon-bench). A plant of 10,000 gas detectors (200 gateways x 50) publishes
paced at 10,000 readings/s, then flat out, then (50 per message) a burst at twice the
flat-out rate (with --storage-only, hazmon also flat out with only storing holding the
load back). Prints the tables of docs/benchmarks.md and writes results.json, report.md
and every log to --out. Live progress on stderr. It loads the whole machine for about
20 minutes (it says how long when it starts).

`--systems hazmon-jetstream` adds the JetStream profile: one nats-server of its own per
case (JetStream, the MQTT listener the load publishes to), `hazmon ingest --broker
nats://...` and `--alarm-workers N` `hazmon alarms --broker nats://...` workers (one
case per N given), measured as hazmon is, plus the stream's backlog:

    .venv/bin/python benchmarks/e2e_bench.py --systems hazmon hazmon-jetstream \
        --alarm-workers 1 2 3 --seconds 20 --burst 30
"""

from __future__ import annotations

import argparse
import signal
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from benchmarks.e2e.report import markdown  # noqa: E402
from benchmarks.e2e.runner import Options, Runner  # noqa: E402


def parse_args(argv: list[str] | None = None) -> Options:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--seconds", type=float, default=60.0, help="load per phase (default 60)")
    p.add_argument("--burst", type=float, default=60.0, help="burst length in s; 0: no burst")
    p.add_argument("--burst-warmup", type=float, default=20.0)
    p.add_argument("--gateways", type=int, default=200)
    p.add_argument("--sensors", type=int, default=50, help="sensors per gateway")
    p.add_argument("--rate", type=float, default=10_000.0, help="nominal readings/s")
    p.add_argument("--publishers", type=int, default=2, help="publisher processes")
    p.add_argument("--crossing-every", type=int, default=100,
                   help="every N-th sensor alternates across the high threshold (1 %%)")
    p.add_argument("--per-message", type=int, nargs="+", default=[50, 1])
    p.add_argument("--systems", nargs="+", default=["hazmon", "node-red"],
                   choices=["hazmon", "node-red", "hazmon-jetstream"])
    p.add_argument("--alarm-workers", type=int, nargs="+", default=[1], metavar="N",
                   help="hazmon-jetstream: alarm worker processes, one case per N (default 1)")
    p.add_argument("--partitions", type=int, default=16,
                   help="hazmon-jetstream: the partition count of the streams (default 16)")
    p.add_argument("--spread-partitions", action=argparse.BooleanOptionalAction, default=False,
                   help="hazmon-jetstream: with several workers, also have the server unpin "
                        "partitions of the worker with the most sensors until the shares of "
                        "sensors are even (the workers themselves even out partition counts)")
    p.add_argument("--keep-stores", action=argparse.BooleanOptionalAction, default=False,
                   help="hazmon-jetstream: keep each case's nats-server store (the streams, "
                        "the changelogs) for benchmarks/journal_count.py")
    p.add_argument("--storage-only", action=argparse.BooleanOptionalAction, default=False,
                   help="also run hazmon flat out held only to storing: the alarm service "
                        "may fall behind by more than the broker keeps for it")
    p.add_argument("--broker-queue", type=int, default=None, metavar="N",
                   help="Mosquitto's max_queued_messages (default 100,000, docs/contract.md §2's "
                        "minimum)")
    p.add_argument("--profile", type=Path, default=None, metavar="DIR",
                   help="py-spy hazmon's processes in every phase into DIR (perturbs)")
    p.add_argument("--out", type=Path, default=None,
                   help="results folder (default: a new folder under /tmp/hazmon-bench)")
    a = p.parse_args(argv)
    return Options(
        gateways=a.gateways, sensors_per_gateway=a.sensors, nominal_per_s=a.rate,
        seconds=a.seconds, burst_s=a.burst, burst_warmup_s=a.burst_warmup,
        publishers=a.publishers, crosser_every=a.crossing_every,
        per_message=tuple(a.per_message), systems=tuple(a.systems), burst=a.burst > 0,
        storage_only=a.storage_only, profile_dir=a.profile, broker_queue=a.broker_queue,
        alarm_workers=tuple(a.alarm_workers), partitions=a.partitions,
        spread=a.spread_partitions, keep_stores=a.keep_stores,
        out=a.out or Path(tempfile.gettempdir()) / "hazmon-bench" / time.strftime("%Y%m%d-%H%M%S"),
    )


def _exit_on_sigterm(signum: int, _frame: object) -> None:
    raise SystemExit(128 + signum)  # so that every server and child is stopped


def main(argv: list[str] | None = None) -> int:
    signal.signal(signal.SIGTERM, _exit_on_sigterm)
    options = parse_args(argv)
    runner = Runner(options)
    try:
        results = runner.run()
    finally:
        path = runner.save()
    command = " ".join([".venv/bin/python", "benchmarks/e2e_bench.py", *(argv or sys.argv[1:])])
    report = markdown(results, runner.machine, command)
    if runner.failures:
        failed = "\n".join(f"- {f}" for f in runner.failures)
        report += f"\n### Cases not finished\n\n{failed}\n"
    (options.out / "report.md").write_text(report)
    print(report)
    if runner.missing:
        print("Not measured (missing in this checkout): " + ", ".join(runner.missing))
    print(f"results: {path}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
