"""`hazmon gateway --config FILE`: run an edge gateway (field devices -> MQTT)."""

from __future__ import annotations

import asyncio
import logging
import signal
from pathlib import Path

import typer

from hazmon.contract.errors import ConfigError


def gateway(
    config: Path = typer.Option(..., "--config", help="the gateway's YAML configuration"),
    log_level: str = typer.Option("INFO", "--log-level", help="DEBUG, INFO, WARNING"),
) -> None:
    """Poll Modbus TCP field devices and publish telemetry, storing and forwarding.

    Broker credentials come from the environment (HAZMON_MQTT_USERNAME,
    HAZMON_MQTT_PASSWORD or HAZMON_MQTT_PASSWORD_FILE, HAZMON_MQTT_CA_FILE).
    """
    from hazmon.contract.gateway_config import load_gateway_config
    from hazmon.contract.settings import Settings, parse_broker_url
    from hazmon.gateway.service import Gateway

    logging.basicConfig(
        level=log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    logging.getLogger("pymodbus").setLevel(logging.CRITICAL)  # the gateway logs device trouble
    try:
        cfg = load_gateway_config(config)
        parse_broker_url(cfg.broker)
    except ConfigError as exc:
        for problem in exc.problems:
            typer.echo(str(problem), err=True)
        typer.echo(f"{len(exc.problems)} problem(s) in {config}", err=True)
        raise typer.Exit(2) from None
    settings = Settings()

    async def main() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        await Gateway(cfg, settings=settings).run(stop)

    asyncio.run(main())


def register(app: typer.Typer) -> None:
    app.command("gateway")(gateway)
