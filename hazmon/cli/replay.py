"""`hazmon replay`: what a proposed registry's thresholds would have done over stored
history, against the registry in force (docs/alarms.md, "What-if replay")."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

import typer

if TYPE_CHECKING:
    from hazmon.alarms.replay.run import Progress


def parse_time(text: str) -> int:
    """Epoch milliseconds from `1764547200000` or ISO 8601 (`2026-12-01`,
    `2026-12-01T08:00:00+08:00`; without an offset, UTC)."""
    if text.isdigit():
        return int(text)
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise typer.BadParameter(
            f"expected epoch milliseconds or an ISO 8601 time; got {text!r}") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return int(moment.timestamp() * 1000)


@contextmanager
def _progress_bar() -> Iterator[Progress | None]:
    """A progress bar on stderr over the gateways replayed, when stderr is a terminal."""
    if not sys.stderr.isatty():
        yield None
        return
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeElapsedColumn

    with Progress("replaying", BarColumn(), MofNCompleteColumn(), "gateways",
                  "[progress.description]{task.description}", TimeElapsedColumn(),
                  console=Console(stderr=True), transient=True) as bar:
        task = bar.add_task("", total=None)

        def advance(done: int, total: int, readings: int) -> None:
            bar.update(task, completed=done, total=total,
                       description=f"{readings:,} readings")

        yield advance


def replay_command(
    config: Path = typer.Option(..., "--config", help="the proposed registry (YAML)"),
    against: Path = typer.Option(..., "--against", help="the registry in force (YAML)"),
    start: str = typer.Option(..., "--from", help="start: ISO 8601 (UTC unless an offset "
                              "is given) or epoch ms"),
    end: str = typer.Option(..., "--to", help="end (included), as --from"),
    site: str | None = typer.Option(None, "--site", help="replay this site only"),
    as_json: bool = typer.Option(False, "--json", help="print the report as JSON"),
    data: Path = typer.Option(Path("hazmon-data"), "--data",
                              help="the data folder holding the embedded store"),
    influx: str | None = typer.Option(
        None, "--influx", help="read the readings from InfluxDB (http://HOST:PORT/DB)"),
    workers: int = typer.Option(1, "--workers", min=1, max=os.cpu_count() or 1,
                                help="processes sharing the gateways"),
) -> None:
    """Replay stored readings through the alarm engine for both registries and compare:
    alarms raised, alarms per operator per 10 minutes, floods, chattering, fleeting and
    standing alarms, time in alarm, and the current registry's alarms the proposal
    would miss or raise late. Exit 2 on a bad registry, range or site."""
    import orjson

    from hazmon.alarms.core.errors import AlarmError
    from hazmon.alarms.replay.render import table
    from hazmon.alarms.replay.run import StoreSpec
    from hazmon.alarms.replay.whatif import what_if
    from hazmon.contract.config import load_registry
    from hazmon.contract.errors import ConfigError
    from hazmon.contract.settings import Settings
    from hazmon.stores import SQLITE_FILE, StoreError, open_store

    try:
        from_ms, to_ms = parse_time(start), parse_time(end)
        proposed, current = load_registry(config), load_registry(against)
    except (ConfigError, typer.BadParameter) as exc:
        typer.echo(str(exc), err=True)
        raise typer.Exit(2) from None
    if influx is None and not (data / SQLITE_FILE).is_file():
        typer.echo(f"no embedded store in {data} (expected {data / SQLITE_FILE}); "
                   "give --data or --influx", err=True)
        raise typer.Exit(2)
    settings = Settings()
    spec = StoreSpec(influx=influx, data_dir=data, settings=settings)
    store = open_store(influx=influx, data_dir=data, settings=settings)
    try:
        with _progress_bar() as progress:
            report = what_if(store, current=current, proposed=proposed, from_ms=from_ms,
                             to_ms=to_ms, site=site, workers=workers, reopen=spec,
                             progress=progress)
    except AlarmError as exc:
        typer.echo(str(exc), err=True)
        raise typer.Exit(2) from None
    except StoreError as exc:
        typer.echo(f"the store could not be read: {exc}", err=True)
        raise typer.Exit(1) from None
    finally:
        store.close()
    report["proposed_source"], report["current_source"] = str(config), str(against)
    if as_json:
        sys.stdout.write(orjson.dumps(report, option=orjson.OPT_INDENT_2).decode() + "\n")
    else:
        sys.stdout.write(table(report))
    sys.stdout.flush()


def register(app: typer.Typer) -> None:
    app.command("replay")(replay_command)
