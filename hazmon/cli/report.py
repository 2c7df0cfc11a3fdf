"""`hazmon report feeds`: the monthly feed report of one enterprise (site), for auditors,
from the store and the alarm journal of a data folder (docs/feeds.md; the same report
as `GET /api/v1/sites/{site}/feed-report`). `hazmon report dangers`: the hidden-danger
ledger of a site and a quarter (docs/hidden-dangers.md)."""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING

import typer

if TYPE_CHECKING:
    from hazmon.contract.registry import Site
    from hazmon.feeds.calendar import Month
    from hazmon.feeds.render import Lang

report_app = typer.Typer(help="Reports for auditors.", no_args_is_help=True)


def _fail(message: str) -> typer.Exit:
    typer.echo(message, err=True)
    return typer.Exit(2)


@report_app.command("feeds")
def feeds(
    site: str = typer.Option(..., "--site", help="the site (enterprise) id"),
    month: str = typer.Option(..., "--month", help="YYYY-MM, China Standard Time"),
    config: Path = typer.Option(..., "--config", help="the site registry (YAML)"),
    data: Path = typer.Option(
        Path("hazmon-data"), "--data",
        help="the data folder: the alarm journal (alarms.db) and, without --influx, the "
             "embedded store",
    ),
    influx: str | None = typer.Option(
        None, "--influx", help="read the series from InfluxDB (http://HOST:PORT/DB)"
    ),
    fmt: str = typer.Option("html", "--format", help="html (printable) or csv"),
    lang: str = typer.Option("zh", "--lang", help="zh (default) or en"),
    out: Path | None = typer.Option(None, "--out", help="write here instead of stdout"),
) -> None:
    """The monthly feed report of a site: online rate, offline periods, losses,
    back-fill, alarms by priority, standing and chattering alarms, bypasses open at
    the month's end. Exit 2 on a malformed or future month, an unknown site or a
    data folder without an alarm journal."""
    from hazmon.contract.config import load_registry
    from hazmon.contract.errors import ConfigError
    from hazmon.feeds import calendar, render

    if fmt not in ("html", "csv") or lang not in render.LANGS:
        raise _fail("--format must be html or csv, --lang zh or en")
    now_ms = time.time_ns() // 1_000_000
    try:
        wanted = calendar.parse_month(month, now_ms=now_ms)
        registry = load_registry(config)
    except (calendar.BadMonth, ConfigError) as exc:
        raise _fail(str(exc)) from None
    found = registry.site(site)
    if found is None:
        raise _fail(f"no site {site!r} in {config}")
    text = _render(found, wanted, now_ms, data=data, influx=influx, fmt=fmt,
                   lang="en" if lang == "en" else "zh")
    if out is None:
        sys.stdout.write(text)
        sys.stdout.flush()
    else:
        out.write_text(text, encoding="utf-8")
        typer.echo(f"wrote {out}", err=True)


def _render(
    site: Site, month: Month, now_ms: int, *, data: Path, influx: str | None, fmt: str,
    lang: Lang,
) -> str:
    from hazmon.alarms import state_db as db
    from hazmon.alarms.journal import chain as journal
    from hazmon.alarms.sqlite_desk import journal_kpi
    from hazmon.contract.settings import Settings
    from hazmon.feeds import reading, render
    from hazmon.stores import StoreError, open_store

    path = data / db.DB_FILE
    if not path.is_file():
        raise _fail(f"no alarm journal in {data} (expected {path})")
    start, end = reading.report_window(month, now_ms)
    figures = journal_kpi(path, from_ms=start, to_ms=end - 1, site=site.id)["total"]
    store = open_store(influx=influx, data_dir=data, settings=Settings())
    conn = db.connect(path, readonly=True)
    try:
        entries = journal.rows(conn, to_ms=end - 1, site=site.id)
        report = reading.monthly_report(store, site, month, now_ms=now_ms,
                                        alarm_figures=figures, journal=entries)
    except StoreError as exc:
        typer.echo(f"the store could not be read: {exc}", err=True)
        raise typer.Exit(1) from None
    finally:
        conn.close()
        store.close()
    return render.html(report, lang) if fmt == "html" else render.csv_text(report, lang)


@report_app.command("dangers")
def dangers(
    site: str = typer.Option(..., "--site", help="the site (enterprise) id"),
    quarter: str = typer.Option(..., "--quarter", help="YYYYQn, e.g. 2026Q4 (China Standard "
                                                      "Time)"),
    config: Path = typer.Option(..., "--config", help="the site registry (YAML)"),
    data: Path = typer.Option(Path("hazmon-data"), "--data",
                              help="the data folder (its alarm database, alarms.db)"),
    fmt: str = typer.Option("csv", "--format", help="csv (Chinese headers), html (printable) "
                                                    "or json (the quarter's figures)"),
    bom: bool = typer.Option(False, "--bom", help="csv: a UTF-8 byte-order mark first (Excel)"),
    out: Path | None = typer.Option(None, "--out", help="write here instead of stdout"),
) -> None:
    """The hidden-danger ledger (隐患排查治理台账) of a site for a quarter, from a data
    folder (docs/hidden-dangers.md; the same as GET /api/v1/dangers/ledger and /stats).
    Exit 2 on a malformed quarter, an unknown site or a folder without an alarm
    database."""
    import json

    from hazmon.alarms import state_db as db
    from hazmon.alarms.dangers import ledger, model, table
    from hazmon.contract.config import load_registry
    from hazmon.contract.errors import ConfigError

    if fmt not in ("csv", "html", "json"):
        raise _fail("--format must be csv, html or json")
    try:
        start, end = ledger.quarter(quarter)
        registry = load_registry(config)
    except (ledger.BadPeriod, ConfigError) as exc:
        raise _fail(str(exc)) from None
    found = registry.site(site)
    if found is None:
        raise _fail(f"no site {site!r} in {config}")
    path = data / db.DB_FILE
    if not path.is_file():
        raise _fail(f"no alarm database in {data} (expected {path})")
    now_ms = time.time_ns() // 1_000_000
    conn = db.connect(path, readonly=True)
    try:
        every = [model.public(d, now_ms) for d in table.records(conn, site)]
    finally:
        conn.close()
    records = ledger.in_period(every, start, end)
    figures = ledger.stats(every, start, end, now_ms)
    if fmt == "json":
        text = json.dumps({"site": site, "quarter": quarter.upper(), **figures},
                          ensure_ascii=False, indent=2) + "\n"
    elif fmt == "html":
        text = ledger.to_html(records, site=site, site_name=found.name, from_ms=start,
                              to_ms=end, figures=figures)
    else:
        text = ledger.to_csv(records, bom=bom)
    if out is None:
        sys.stdout.write(text)
        sys.stdout.flush()
    else:
        out.write_text(text, encoding="utf-8")
        typer.echo(f"wrote {out}", err=True)


def register(app: typer.Typer) -> None:
    app.add_typer(report_app, name="report")
