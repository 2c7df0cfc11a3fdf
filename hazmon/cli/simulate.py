"""`hazmon simulate`: simulated gateways on MQTT, simulated field devices on Modbus TCP,
the load generator, and the load generator's registry.

    hazmon simulate --broker mqtt://127.0.0.1:1883 --scenario demo
    hazmon simulate --broker URL --field-devices --gateway-configs gw/   # then: hazmon gateway
    hazmon simulate --broker URL --load --gateways 100 --sensors 100 --rate 1 --duration 30
    hazmon simulate --write-registry load.yaml --gateways 100 --sensors 100

Broker credentials come from the environment (HAZMON_MQTT_USERNAME, HAZMON_MQTT_PASSWORD).
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING

import typer

from hazmon.cli._process import setup_logging, stop_on_signals
from hazmon.contract.errors import ConfigError

if TYPE_CHECKING:
    from hazmon.contract.registry import Registry
    from hazmon.contract.settings import BrokerAddress
    from hazmon.simulators.load import LoadPlan



def simulate(
    broker: str = typer.Option("mqtt://127.0.0.1:1883", "--broker", help="mqtt://HOST:PORT"),
    config: Path | None = typer.Option(
        None, "--config", help="site registry (default: demo plant)"
    ),
    scenario: str = typer.Option(
        "normal",
        "--scenario",
        help="normal, leak, electrical, fault, calibration, power_loss, bypass, demo",
    ),
    rate: float = typer.Option(1.0, "--rate", min=0.001, help="readings per sensor per second"),
    seed: int = typer.Option(0, "--seed", help="same seed, same plant"),
    speed: float = typer.Option(1.0, "--speed", min=0.01, help="plant time runs this much faster"),
    duration: float | None = typer.Option(None, "--duration", help="seconds (default: until ^C)"),
    field_devices: bool = typer.Option(False, "--field-devices", help="serve Modbus TCP devices"),
    modbus_host: str = typer.Option("127.0.0.1", "--modbus-host"),
    modbus_port: int = typer.Option(5020, "--modbus-port", help="first port, one per gateway"),
    gateway_configs: Path | None = typer.Option(
        None, "--gateway-configs", help="write the gateways' configs here"
    ),
    load: bool = typer.Option(False, "--load", help="run the load generator"),
    gateways: int = typer.Option(10, "--gateways", min=1),
    sensors: int = typer.Option(100, "--sensors", min=1),
    per_message: int = typer.Option(100, "--per-message", min=1, max=5000),
    connections: int = typer.Option(4, "--connections", min=1),
    write_registry: Path | None = typer.Option(
        None, "--write-registry", help="write the load plant's registry and exit"
    ),
    log_level: str = typer.Option("INFO", "--log-level"),
) -> None:
    """Drive simulated gateways (every gateway of the demo plant without --config)."""
    from hazmon.contract.settings import parse_broker_url
    from hazmon.simulators.load import LoadPlan
    from hazmon.simulators.scenarios import UnknownScenario

    setup_logging(log_level)
    logging.getLogger("pymodbus").setLevel(logging.CRITICAL)
    if write_registry is not None:
        from hazmon.simulators.loadplant import registry_yaml

        text = registry_yaml(
            gateways=gateways, sensors=sensors, rate_hz=rate, per_message=per_message
        )
        write_registry.write_text(text, encoding="utf-8")
        typer.echo(f"{write_registry}: {gateways} gateways x {sensors} sensors")
        return
    try:
        address = parse_broker_url(broker)
        if load:
            plan = LoadPlan(
                gateways=gateways,
                sensors=sensors,
                rate_hz=rate,
                per_message=per_message,
                duration_s=duration or 10.0,
                connections=connections,
            )
            _run_load(address, plan)
            return
        run = _Run(_registry(config), scenario, rate, seed, speed, duration)
    except ConfigError as exc:
        for problem in exc.problems:
            typer.echo(str(problem), err=True)
        raise typer.Exit(2) from None  # the sentence of each problem says it all
    try:
        if field_devices:
            asyncio.run(_field_devices(run, broker, modbus_host, modbus_port, gateway_configs))
        else:
            asyncio.run(_mqtt(run, address))
    except UnknownScenario as exc:
        typer.echo(str(exc), err=True)
        raise typer.Exit(2) from None


@dataclass(frozen=True, slots=True)
class _Run:
    registry: Registry
    scenario: str
    rate_hz: float
    seed: int
    speed: float
    duration_s: float | None


def _registry(config: Path | None) -> Registry:
    from hazmon.contract.config import load_registry

    if config is not None:
        return load_registry(config)
    with resources.as_file(resources.files("hazmon") / "demo" / "plant.yaml") as path:
        return load_registry(path)


def _stop_event(duration_s: float | None) -> asyncio.Event:
    stop = stop_on_signals()
    if duration_s is not None:
        asyncio.get_running_loop().call_later(duration_s, stop.set)
    return stop


async def _mqtt(run: _Run, address: BrokerAddress) -> None:
    from hazmon.contract.settings import Settings
    from hazmon.simulators.runner import run_simulation

    stats = await run_simulation(
        registry=run.registry,
        broker=address,
        settings=Settings(),
        scenario=run.scenario,
        rate_hz=run.rate_hz,
        seed=run.seed,
        stop=_stop_event(run.duration_s),
        speed=run.speed,
    )
    typer.echo(
        f"simulated {stats.ticks} ticks: {stats.messages} messages, {stats.readings} readings, "
        f"{stats.acked} acknowledged, {stats.not_sent} not sent (gateway offline)"
    )


async def _field_devices(
    run: _Run, broker: str, host: str, port: int, configs: Path | None
) -> None:
    from hazmon.simulators.modbusplant import (
        serve_plant,
        start_field_devices,
        write_gateway_configs,
    )
    from hazmon.simulators.plant import PlantSimulator

    sim = PlantSimulator(run.registry, seed=run.seed, scenario=run.scenario, speed=run.speed)
    devices = await start_field_devices(
        run.registry,
        host=host,
        first_port=port,
        broker=broker,
        data_root=Path("hazmon-gateway"),
    )
    for d in devices:
        typer.echo(f"{d.site}/{d.gateway}: Modbus TCP on {host}:{d.device.port}")
    if configs is not None:
        for path in write_gateway_configs(devices, configs):
            typer.echo(f"  wrote {path}")
    await serve_plant(sim, devices, rate_hz=run.rate_hz, stop=_stop_event(run.duration_s))


def _run_load(address: BrokerAddress, plan: LoadPlan) -> None:
    from hazmon.contract.settings import Settings
    from hazmon.simulators.load import run_load

    report = run_load(plan, broker=address, settings=Settings(), progress=typer.echo)
    if report.errors:
        raise typer.Exit(1)


def register(app: typer.Typer) -> None:
    app.command("simulate")(simulate)
