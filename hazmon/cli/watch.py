"""`hazmon watch`: the alarm chain's watch as a process of its own (docs/alarms.md, "The
alarm chain watched").

    hazmon watch --config plant.yaml --broker mqtt://127.0.0.1:1883 [--http 127.0.0.1:9102]
        [--period-s 10] [--deadline-s 30]
    hazmon watch --config plant.yaml --broker nats://n1:4222,n2:4222,n3:4222

On JetStream (nats://) its canary goes through every partition (each partition's
owner echoes it), and a stream at its retention limit raises `broker_dropping`.

It publishes a canary every `--period-s` that the alarm service echoes once evaluated
and committed; without an echo for `--deadline-s` it sends `_system/chain/chain_dead`
(critical) through the registry's notifiers itself, and `/health` on `--http` answers
503. Run it on another machine than the alarm service: whatever stops that one (a
frozen process, a dead machine) must not stop the watch. It connects with the alarm
service's broker user (HAZMON_MQTT_USERNAME, HAZMON_MQTT_PASSWORD[_FILE]).
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import typer

from hazmon.cli._addresses import http_option
from hazmon.cli._process import run, setup_logging, stop_on_signals
from hazmon.contract.errors import ConfigError


def watch(
    config: Path = typer.Option(..., "--config", help="the site registry (YAML): its notifiers"),
    broker: str = typer.Option(
        ..., "--broker",
        help="mqtt://HOST:PORT of the alarm service, or nats://H1:4222[,...] of the cluster"),
    http: str = typer.Option(
        "127.0.0.1:9102", "--http", callback=http_option(9102),
        help="HOST:PORT of /health and /metrics (a HOST alone: port 9102)",
    ),
    period_s: float = typer.Option(10.0, "--period-s", min=0.2, max=3600.0,
                                   help="a canary this often"),
    deadline_s: float = typer.Option(30.0, "--deadline-s", min=1.0, max=86400.0,
                                     help="the chain is dead without an echo for this long"),
    drops_quiet_s: float = typer.Option(
        60.0, "--drops-quiet-s", min=1.0, max=86400.0,
        help="broker_dropping clears once the broker dropped nothing for this long"),
    log_level: str = typer.Option("INFO", "--log-level"),
) -> None:
    """Watch the alarm chain end to end and the broker's drops; alarm through the
    registry's notifiers when either fails."""
    from hazmon.alarms.watch import ChainWatch
    from hazmon.contract.config import load_registry
    from hazmon.contract.settings import Settings, is_nats_url, parse_broker_url, parse_nats_url

    setup_logging(log_level, quiet=["httpx"])
    if deadline_s <= period_s:
        typer.echo("hazmon watch: --deadline-s must be longer than --period-s", err=True)
        raise typer.Exit(2)
    try:
        registry = load_registry(config)
        address = parse_nats_url(broker) if is_nats_url(broker) else parse_broker_url(broker)
    except ConfigError as exc:
        for problem in exc.problems:
            typer.echo(str(problem), err=True)
        raise typer.Exit(2) from None
    chain = ChainWatch(registry=registry, broker=address, settings=Settings(broker=broker),
                       period_s=period_s, deadline_s=deadline_s, drops_quiet_s=drops_quiet_s)
    host, _, port = http.rpartition(":")
    run(lambda: _run(chain, host or "127.0.0.1", int(port)), command="hazmon watch")


async def _run(chain: Any, host: str, port: int) -> None:
    from hazmon.ingest.http import serve

    def health() -> dict[str, Any]:
        return {"ready": chain.started, **chain.status()}

    server = serve(host, port, registry=chain.metrics_registry, health=health,
                   healthy=lambda state: bool(state["ready"]) and state["state"] != "dead")
    stop = stop_on_signals()
    task = asyncio.ensure_future(chain.run())
    try:
        await asyncio.wait({task, asyncio.ensure_future(stop.wait())},
                           return_when=asyncio.FIRST_COMPLETED)
        if task.done():
            task.result()  # it ended by itself: its error ends the command
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        server.shutdown()
        server.server_close()


def register(app: typer.Typer) -> None:
    app.command("watch")(watch)
