"""`hazmon journal export|verify` and `hazmon kpi`: auditors' offline tools over the
alarm service's data folder (docs/contract.md §8; the same answers as the API's)."""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import Any

import typer

journal_app = typer.Typer(
    help="The tamper-evident alarm journal: export it, verify its hash chain.",
    no_args_is_help=True,
)

DAY_MS = 86_400_000
DATA_HELP = "the alarm service's data folder (holds alarms.db)"


def _database(data: Path) -> Path:
    from hazmon.alarms.state_db import DB_FILE

    path = data / DB_FILE
    if not path.is_file():
        typer.echo(f"no alarm journal in {data} (expected {path})", err=True)
        raise typer.Exit(2)
    return path


@journal_app.command("export")
def export_journal(
    data: Path = typer.Option(..., "--data", help=DATA_HELP),
    from_ms: int | None = typer.Option(None, "--from-ms", help="first entry time (ms)"),
    to_ms: int | None = typer.Option(None, "--to-ms", help="last entry time (ms)"),
    site: str | None = typer.Option(None, "--site", help="only this site's entries"),
    fmt: str = typer.Option("csv", "--format", help="csv (for people) or jsonl (exact)"),
) -> None:
    """Write the journal to stdout, streamed: CSV or JSON lines, every field."""
    from hazmon.alarms.sqlite_desk import export_journal as stream

    if fmt not in ("csv", "jsonl"):
        typer.echo("--format must be csv or jsonl", err=True)
        raise typer.Exit(2)
    path = _database(data)
    out = sys.stdout
    for chunk in stream(path, from_ms=from_ms, to_ms=to_ms, site=site, fmt=fmt):
        out.write(chunk)
    out.flush()


def _anchors(data: Path, broker: str | None, influx: str | None) -> list[Any]:
    from hazmon.alarms.journal import anchors
    from hazmon.contract.settings import Settings
    from hazmon.stores import SQLITE_FILE, StoreError, open_store

    settings = Settings()
    in_file, ignored = anchors.read_file_all(data)
    found: list[Any] = [in_file, *ignored]
    if influx or (data / SQLITE_FILE).exists():
        try:
            store = open_store(influx=influx, data_dir=data, settings=settings)
        except StoreError:
            store = None
        if store is not None:
            stored = anchors.read_store(store)
            if stored is None:
                typer.echo("no journal_head in the store (or not reachable)", err=True)
            found.append(stored)
            store.close()
    if broker:
        retained = anchors.read_mqtt(broker, settings)
        if retained is None:
            typer.echo(f"no journal head retained on {broker} (or not reachable)", err=True)
        found.append(retained)
    return found


@journal_app.command("verify")
def verify_journal(
    data: Path = typer.Option(..., "--data", help=DATA_HELP),
    broker: str | None = typer.Option(
        None, "--broker", help="also read the retained anchor (mqtt://HOST:PORT)"
    ),
    influx: str | None = typer.Option(
        None, "--influx", help="also read journal_head from InfluxDB (http://HOST:PORT/DB)"
    ),
) -> None:
    """Recompute the hash chain and check that it reaches every anchor reachable
    (the anchor file, and with --broker / --influx the retained head and the store's):
    each one's seq, with the same hash there. No anchor outranks another, so one added
    to the data folder cannot make a shortened journal pass.

    Exit 0 when intact, 1 when an entry was edited, inserted, deleted or reordered or
    the tail was cut off (the first bad entry is named), 2 when there is no journal."""
    from hazmon.alarms import state_db as db
    from hazmon.alarms.journal import chain as journal

    path = _database(data)
    found = _anchors(data, broker, influx)
    conn = db.connect(path, readonly=True)
    try:
        result = journal.verify(journal.rows(conn), found).answer()
    finally:
        conn.close()
    typer.echo(json.dumps(result, ensure_ascii=False, indent=2))
    if not result["ok"]:
        raise typer.Exit(1)


def kpi(
    data: Path = typer.Option(..., "--data", help=DATA_HELP),
    from_ms: int | None = typer.Option(None, "--from-ms", help="window start (default: 24 h ago)"),
    to_ms: int | None = typer.Option(None, "--to-ms", help="window end (default: now)"),
    site: str | None = typer.Option(None, "--site", help="only this site"),
    config: Path | None = typer.Option(
        None, "--config", help="the site registry: list its alarms lacking a rationalization"
    ),
) -> None:
    """Alarm-system health figures (EEMUA 191 / ISA-18.2) from the journal, as JSON."""
    from hazmon.alarms.kpi import unrationalized
    from hazmon.alarms.sqlite_desk import journal_kpi
    from hazmon.contract.config import load_registry

    path = _database(data)
    end = to_ms if to_ms is not None else time.time_ns() // 1_000_000
    start = from_ms if from_ms is not None else end - DAY_MS
    if start > end:
        typer.echo("--from-ms must not be after --to-ms", err=True)
        raise typer.Exit(2)
    result = journal_kpi(path, from_ms=start, to_ms=end, site=site)
    if config is not None:
        result["unrationalized"] = unrationalized(load_registry(config), site=site)
    typer.echo(json.dumps(result, ensure_ascii=False, indent=2))


def register(app: typer.Typer) -> None:
    app.add_typer(journal_app, name="journal")
    app.command("kpi")(kpi)
