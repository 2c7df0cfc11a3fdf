"""`hazmon api --broker nats://...`: the HTTP API and the console of a JetStream cluster
(docs/scale-out.md), on replicated state. Any number of them answer for every site;
none owns a partition (hazmon.alarms.cluster_desk): operator actions go to the
partitions' owners, the alarm workers.

    hazmon api --config plant.yaml --broker nats://h1:4222,h2:4222,h3:4222 --http 0.0.0.0:8080

The NATS user and password are HAZMON_MQTT_USERNAME and HAZMON_MQTT_PASSWORD[_FILE]
(cluster-config writes `hazmon-api`); the store is the one `--influx` names (else the
embedded one in `--data`). `--data` holds the partitions' copies, made afresh at every
start. The HTTP port listens once the copies have caught up with the cluster. SIGHUP
re-reads the registry (tokens, sites, rules), as `hazmon up` does.
"""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer

from hazmon.cli._process import config_errors, setup_logging, stop_on_signals, supervise
from hazmon.cli._process import run as run_process
from hazmon.cli.up import (
    CONFIG,
    FORWARDED,
    HTTP,
    INFLUX,
    LOG_LEVEL,
    TLS_CERT,
    TLS_KEY,
    Hangups,
    Plan,
    _bind_http,
    _reload,
    _start_http,
    load,
    web_options,
)
from hazmon.contract.errors import HazmonError
from hazmon.contract.settings import Settings, is_nats_url, parse_nats_url

if TYPE_CHECKING:
    import socket
    from collections.abc import Awaitable, Callable

    from fastapi import FastAPI

    from hazmon.alarms.cluster_desk import ClusterDesk
    from hazmon.api.serving import Web
    from hazmon.stores.base import Store

log = logging.getLogger("hazmon.api")


def api(
    config: Path = CONFIG,
    broker: str = typer.Option(
        ..., "--broker", help="nats://H1:4222[,H2:4222,...]: the JetStream cluster"
    ),
    influx: str | None = INFLUX,
    data: Path = typer.Option(
        Path("hazmon-api-data"), "--data",
        help="data folder: the partitions' copies (made afresh at start), the embedded store",
    ),
    http: str = HTTP,
    log_level: str = LOG_LEVEL,
    tls_cert: Path | None = TLS_CERT,
    tls_key: Path | None = TLS_KEY,
    forwarded_allow_ips: str = FORWARDED,
) -> None:
    """Run the HTTP API and the console of a JetStream cluster, on replicated state."""
    if not is_nats_url(broker):
        typer.echo("hazmon api: --broker nats://H1:4222[,...] (on one box, `hazmon up` "
                   "serves the API)", err=True)
        raise typer.Exit(2)
    with config_errors("--broker"):
        servers = list(parse_nats_url(broker).servers)
    web = web_options(tls_cert, tls_key, forwarded_allow_ips)
    settings = Settings(config=config, broker=broker, influx=influx, data=data, http=http)
    registry = load(config)

    from hazmon.api.serving import limit_accept_errors
    from hazmon.runtime.private import private_files
    from hazmon.runtime.process import raise_open_files_limit

    setup_logging(log_level)
    private_files()
    limit_accept_errors()
    raise_open_files_limit()
    plan = Plan(settings, registry, ingest=False, web=web)
    run_process(lambda: _run(plan, servers), command="hazmon api")


def register(app: typer.Typer) -> None:
    app.command("api")(api)


async def _run(plan: Plan, servers: list[str]) -> None:
    from hazmon.alarms.cluster_desk import ClusterDesk
    from hazmon.api.app import create_app
    from hazmon.api.hardening import HardeningSettings, harden
    from hazmon.runtime.private import private_dir
    from hazmon.stores import open_store

    settings = plan.settings
    stop = stop_on_signals()
    hangups = Hangups()
    listener = _bind_http(settings.http)  # a taken port ends it before anything starts
    try:
        private_dir(settings.data)
        store = await asyncio.to_thread(
            open_store, influx=settings.influx, data_dir=settings.data, settings=settings
        )
        try:
            desk = ClusterDesk(registry=plan.registry, servers=servers, data_dir=settings.data,
                               store=store, user=settings.mqtt_username,
                               password=settings.mqtt_secret())
            hardening = HardeningSettings()
            app = create_app(registry=plan.registry, desk=desk, store=store,
                             metrics=[desk.metrics_registry], health=_health(desk, store),
                             stream_caps=hardening.stream_caps)
            harden(app, hardening)
            services: list[tuple[str, Any]] = [("cluster desk", desk)]
            hangups.serve(lambda: _reload(plan, app, services))
            await supervise(services, stop, when_ready=_front(app, listener, plan.web, desk))
        finally:
            store.close()
    finally:
        listener.close()
    log.info("stopped")


def _front(
    app: FastAPI, listener: socket.socket, web: Web, desk: ClusterDesk
) -> Callable[[asyncio.TaskGroup], Awaitable[list[Callable[[], Awaitable[None]]]]]:
    async def front(group: asyncio.TaskGroup) -> list[Callable[[], Awaitable[None]]]:
        stop_http = await _start_http(group, app, listener, web)
        host, port = listener.getsockname()[:2]
        shown = "127.0.0.1" if host in ("0.0.0.0", "::") else host
        typer.echo(f"hazmon console:  {web.scheme}://{shown}:{port}/   (API docs: /docs)")
        typer.echo(f"cluster:         {','.join(desk.servers)} ({desk.partitions} partitions)")
        typer.echo("stop with Ctrl-C (or SIGTERM)")
        return [stop_http]

    return front


def _health(desk: ClusterDesk, store: Store) -> Callable[[], dict[str, Any]]:
    def check() -> dict[str, Any]:
        try:
            store_ok = store.ping()
        except HazmonError:
            store_ok = False
        return {"broker": desk.connected, "store": store_ok}

    return check
