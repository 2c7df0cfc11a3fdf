"""A simulated plant behind Modbus TCP: one field device per gateway of the registry,
its registers refreshed from the plant simulator every tick, and the configuration
files the real gateways need to poll them (`hazmon simulate --field-devices`).

A power loss in the scenario makes the gateway's device mute (it stops answering),
since the simulator cannot cut the real gateway's power.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass
from pathlib import Path

import yaml

from hazmon.contract.gateway_config import GatewayConfig, Point
from hazmon.contract.registry import Registry
from hazmon.simulators.fielddevices import FieldDevice, gateway_config_for
from hazmon.simulators.plant import GatewayTick, PlantSimulator, wall_ms

log = logging.getLogger(__name__)


@dataclass(slots=True)
class SimulatedGatewayDevice:
    site: str
    gateway: str
    device: FieldDevice
    config: GatewayConfig

    def show(self, tick: GatewayTick) -> None:
        """Write a tick's readings into the device's registers."""
        if not tick.powered:
            self.device.set_mode("mute")
            return
        if self.device.mode == "mute":
            self.device.set_mode("ok")
        points = {p.sensor: p for p in self.config.points}
        for r in tick.readings:
            point: Point = points[str(r["sensor"])]
            value = r.get("value")
            self.device.write(
                point,
                value=float(value) if isinstance(value, int | float) else None,
                state=str(r["state"]) if "state" in r else None,
                quality=str(r.get("quality", "good")),
            )


async def start_field_devices(
    registry: Registry,
    *,
    host: str,
    first_port: int,
    broker: str,
    data_root: Path,
    period_s: float | None = None,
) -> list[SimulatedGatewayDevice]:
    """One Modbus TCP server per gateway, on consecutive ports (0: any free port)."""
    out = []
    for i, (site, gw) in enumerate((s, g) for s in registry.sites for g in s.gateways):
        device = FieldDevice()
        port = await device.start(host, first_port + i if first_port else 0)
        config = gateway_config_for(
            site.id,
            gw,
            host=host,
            port=port,
            broker=broker,
            data_dir=data_root / f"{site.id}.{gw.id}",
            period_s=period_s,
        )
        out.append(SimulatedGatewayDevice(site.id, gw.id, device, config))
    return out


def write_gateway_configs(devices: list[SimulatedGatewayDevice], folder: Path) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for d in devices:
        path = folder / f"{d.site}.{d.gateway}.yaml"
        path.write_text(config_yaml(d.config), encoding="utf-8")
        paths.append(path)
    return paths


def config_yaml(config: GatewayConfig) -> str:
    data = config.model_dump(exclude_defaults=True, exclude_none=True)
    data["data_dir"] = str(config.data_dir)
    head = f"# gateway {config.site}/{config.gateway}: polls a simulated device (hazmon simulate)\n"
    return head + yaml.safe_dump(data, sort_keys=False, allow_unicode=True)


async def serve_plant(
    sim: PlantSimulator,
    devices: list[SimulatedGatewayDevice],
    *,
    rate_hz: float,
    stop: asyncio.Event,
) -> None:
    """Refresh every device from the simulator each 1/rate_hz s until `stop` is set."""
    by_key = {(d.site, d.gateway): d for d in devices}
    interval_ms = 1000.0 / rate_hz
    k = 0
    try:
        while not stop.is_set():
            due_ms = sim.start_ms + round(k * interval_ms)
            for tick in sim.tick(due_ms):
                by_key[(tick.site, tick.gateway)].show(tick)
            k += 1
            wait_s = (sim.start_ms + round(k * interval_ms) - wall_ms()) / 1000.0
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(max(0.0, wait_s)):
                    await stop.wait()
    finally:
        for d in devices:
            await d.device.stop()
