"""`hazmon gateway --config FILE`: run an edge gateway (field devices -> MQTT)."""

from __future__ import annotations

import logging
from pathlib import Path

import typer

from hazmon.cli._process import config_errors, run, setup_logging, stop_on_signals


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

    setup_logging(log_level)
    logging.getLogger("pymodbus").setLevel(logging.CRITICAL)  # the gateway logs device trouble
    with config_errors(config, what="the gateway did not start"):
        cfg = load_gateway_config(config)
        parse_broker_url(cfg.broker)
    settings = Settings()

    async def main() -> None:
        await Gateway(cfg, settings=settings).run(stop_on_signals())

    run(main, command="hazmon gateway")


def register(app: typer.Typer) -> None:
    app.command("gateway")(gateway)
