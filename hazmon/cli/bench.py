"""`hazmon bench`: the end-to-end benchmark against Node-RED (benchmarks/e2e_bench.py).

    hazmon bench                       # the full run of docs/benchmarks.md (~25 min)
    hazmon bench --seconds 20 --burst 20 --systems hazmon

Every option is passed on to the script (`hazmon bench --help` lists them). It needs a
checkout of the repository (the benchmark is not part of the installed package), the
Debian Mosquitto and InfluxDB the tests use, and Node.js with npm for the Node-RED peer.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import typer

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "e2e_bench.py"


def bench(ctx: typer.Context) -> None:
    """End-to-end benchmark: hazmon (ingest + alarms) against Node-RED, on this machine."""
    if not SCRIPT.exists():
        typer.echo(f"{SCRIPT} not found: `hazmon bench` runs from a checkout of hazmon", err=True)
        raise typer.Exit(2)
    result = subprocess.run([sys.executable, str(SCRIPT), *ctx.args], check=False)
    raise typer.Exit(result.returncode)


def register(app: typer.Typer) -> None:
    app.command(
        "bench",
        context_settings={"allow_extra_args": True, "ignore_unknown_options": True,
                          "help_option_names": []},
        add_help_option=False,
    )(bench)
