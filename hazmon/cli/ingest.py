"""`hazmon ingest`: the ingest service alone (docs/contract.md §8).

    hazmon ingest --config plant.yaml --broker mqtt://127.0.0.1:1883 \
        --influx http://127.0.0.1:8086/hazmon [--share GROUP] [--http 127.0.0.1:9101]

Several processes share the load with `--share GROUP` (an MQTT 5 shared subscription);
each needs its own `--data` folder (spool, dead letters, client id). `/metrics` and
`/health` are served on `--http`. SIGINT/SIGTERM: what is held is made durable and
acknowledged, then the process exits 0.
"""

from __future__ import annotations

import asyncio
import logging
import re
from pathlib import Path
from typing import TYPE_CHECKING

import typer

from hazmon.cli._addresses import http_option
from hazmon.cli._process import hazmon_error, setup_logging, stop_on_signals, supervise
from hazmon.contract.errors import ConfigError, HazmonError
from hazmon.runtime.private import private_dir, private_files
from hazmon.runtime.process import quick_handoffs, raise_open_files_limit, settle_heap

if TYPE_CHECKING:
    from hazmon.ingest.service import IngestService

log = logging.getLogger("hazmon.ingest")
_GROUP = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")


def ingest(
    config: Path = typer.Option(..., "--config", help="the site registry (YAML)"),
    broker: str = typer.Option(..., "--broker", help="mqtt://HOST:PORT"),
    influx: str | None = typer.Option(None, "--influx", help="http://HOST:PORT/DB"),
    data: Path = typer.Option(Path("hazmon-data"), "--data", help="data folder"),
    share: str | None = typer.Option(None, "--share", help="join $share/GROUP/..."),
    client_id: str | None = typer.Option(None, "--client-id", help="MQTT client id"),
    http: str = typer.Option(
        "127.0.0.1:9101", "--http", callback=http_option(9101),
        help="HOST:PORT of /metrics (a HOST alone: port 9101)",
    ),
    log_level: str = typer.Option("INFO", "--log-level"),
) -> None:
    """Run the ingest service alone: MQTT to the store, at least once."""
    setup_logging(log_level, quiet=["httpx"])  # httpx: a line per batch otherwise
    try:
        raise_open_files_limit()
        private_files()  # spool, dead letters, client id: 0600 in a 0700 folder
        private_dir(data)
        service = _build(config, broker, influx, data, share, client_id)
        settle_heap()
        quick_handoffs()
        host, _, port = http.rpartition(":")
        asyncio.run(_run(service, host or "127.0.0.1", int(port)))
    except ConfigError as exc:
        for problem in exc.problems:
            typer.echo(str(problem), err=True)
        raise typer.Exit(2) from None
    except (HazmonError, OSError, ValueError) as exc:
        typer.echo(f"hazmon ingest: {exc}", err=True)
        raise typer.Exit(1) from None


def _build(
    config: Path,
    broker: str,
    influx: str | None,
    data: Path,
    share: str | None,
    client_id: str | None,
) -> IngestService:
    from hazmon.contract.config import load_registry
    from hazmon.contract.errors import Problem
    from hazmon.contract.settings import Settings, is_nats_url, parse_broker_url, parse_nats_url
    from hazmon.ingest.service import IngestService
    from hazmon.stores import open_store

    if share is not None and not _GROUP.match(share):
        raise ConfigError([Problem("--share", 1, "share", "a group name without / + # $")])
    settings = Settings(config=config, broker=broker, influx=influx, data=data)
    registry = load_registry(config)
    address = parse_nats_url(broker) if is_nats_url(broker) else parse_broker_url(broker)
    store = open_store(influx=influx, data_dir=data, settings=settings)
    return IngestService(
        registry=registry,
        broker=address,
        settings=settings,
        store=store,
        data_dir=data,
        share_group=share,
        client_id=client_id,
    )


async def _run(service: IngestService, host: str, port: int) -> None:
    from hazmon.ingest.http import serve

    server = serve(host, port, registry=service.metrics_registry, health=service.health)
    try:
        await supervise([("ingest", service)], stop_on_signals())
        log.info("stopped on a signal")
    except BaseExceptionGroup as group:
        cause = hazmon_error(group)
        if cause is None:
            raise
        raise cause from None
    finally:
        server.shutdown()
        server.server_close()
        service.store.close()


def register(app: typer.Typer) -> None:
    app.command("ingest")(ingest)
