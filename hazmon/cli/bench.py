"""`hazmon bench`: the end-to-end benchmark against Node-RED (benchmarks/e2e_bench.py).

    hazmon bench                       # the full run of docs/benchmarks.md (~25 min)
    hazmon bench --seconds 20 --burst 20 --systems hazmon
    hazmon bench --systems hazmon --systems hazmon-jetstream --alarm-workers 1 --alarm-workers 2

The options are the script's, passed on to it. It needs a checkout of the repository
(the benchmark is not part of the installed package), the Debian Mosquitto and InfluxDB
the tests use, and Node.js with npm for the Node-RED peer.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import typer

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "e2e_bench.py"
SYSTEMS = ("hazmon", "node-red")
JETSTREAM = "hazmon-jetstream"  # hazmon on an embedded nats-server (docs/benchmarks.md)


def bench(
    seconds: float = typer.Option(60.0, "--seconds", help="load per phase, in s"),
    burst: float = typer.Option(60.0, "--burst", help="burst length in s; 0: no burst"),
    burst_warmup: float = typer.Option(20.0, "--burst-warmup", help="s before the burst"),
    gateways: int = typer.Option(200, "--gateways", min=1),
    sensors: int = typer.Option(50, "--sensors", min=1, help="sensors per gateway"),
    rate: float = typer.Option(10_000.0, "--rate", help="nominal readings/s"),
    publishers: int = typer.Option(2, "--publishers", min=1, help="publisher processes"),
    crossing_every: int = typer.Option(
        100, "--crossing-every", min=1,
        help="every N-th sensor alternates across the high threshold",
    ),
    per_message: list[int] = typer.Option(
        [50, 1], "--per-message", help="readings per message; repeat for each case"
    ),
    systems: list[str] = typer.Option(
        list(SYSTEMS), "--systems",
        help="hazmon, node-red, hazmon-jetstream; repeat for each",
    ),
    alarm_workers: list[int] = typer.Option(
        [1], "--alarm-workers", help="hazmon-jetstream: alarm workers; repeat for each case"
    ),
    partitions: int = typer.Option(16, "--partitions", min=1,
                                   help="hazmon-jetstream: the streams' partition count"),
    storage_only: bool = typer.Option(
        False, "--storage-only",
        help="also run hazmon flat out held only to storing (the alarm service may fall "
        "behind by more than the broker keeps for it)",
    ),
    broker_queue: int | None = typer.Option(
        None, "--broker-queue", help="Mosquitto's max_queued_messages (default 100,000)"
    ),
    profile: Path | None = typer.Option(
        None, "--profile", help="py-spy hazmon's processes in every phase into this folder"
    ),
    out: Path | None = typer.Option(
        None, "--out", help="results folder (default: a new folder under /tmp/hazmon-bench)"
    ),
) -> None:
    """End-to-end benchmark: hazmon (ingest + alarms) against Node-RED, on this machine."""
    if not SCRIPT.exists():
        typer.echo(f"{SCRIPT} not found: `hazmon bench` runs from a checkout of hazmon", err=True)
        raise typer.Exit(2)
    unknown = sorted(set(systems) - {*SYSTEMS, JETSTREAM})
    if unknown:
        raise typer.BadParameter(f"hazmon, node-red or {JETSTREAM}, not {', '.join(unknown)}",
                                 param_hint="--systems")
    argv = [
        "--seconds", str(seconds), "--burst", str(burst), "--burst-warmup", str(burst_warmup),
        "--gateways", str(gateways), "--sensors", str(sensors), "--rate", str(rate),
        "--publishers", str(publishers), "--crossing-every", str(crossing_every),
        "--per-message", *map(str, per_message), "--systems", *systems,
        "--storage-only" if storage_only else "--no-storage-only",
        "--alarm-workers", *map(str, alarm_workers), "--partitions", str(partitions),
    ]
    if broker_queue is not None:
        argv += ["--broker-queue", str(broker_queue)]
    if profile is not None:
        argv += ["--profile", str(profile)]
    if out is not None:
        argv += ["--out", str(out)]
    result = subprocess.run([sys.executable, str(SCRIPT), *argv], check=False)
    raise typer.Exit(result.returncode)


def register(app: typer.Typer) -> None:
    app.command("bench")(bench)
