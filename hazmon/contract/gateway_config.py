"""A gateway's own configuration (YAML): where it publishes, what it polls, and how.

    site: jh-chem-01
    gateway: gw-tankfarm
    period_s: 1
    broker: mqtt://10.0.0.5:1883          # credentials: HAZMON_MQTT_USERNAME / _PASSWORD
    data_dir: /var/lib/hazmon-gateway
    devices:
      - {id: gas-panel, host: 192.168.10.21, port: 502, unit_id: 1, timeout_s: 1}
    points:
      - {sensor: GT-101, device: gas-panel, table: input, address: 0, type: uint16,
         scale: 0.1, status: {address: 100, codes: {0: good, 1: bad, 2: maintenance}}}
      - {sensor: ESD-01, device: gas-panel, table: holding, address: 10, type: uint16,
         codes: {0: normal, 1: tripped, 2: bypassed, 3: fault}}

`load_gateway_config(path)` checks it and reports every problem with file, line and
field path (hazmon.contract.yamlcheck), like the registry.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from hazmon.contract.registry import Id
from hazmon.contract.wire import InterlockState, Quality
from hazmon.contract.yamlcheck import PathKey, load_yaml_model, parse_yaml_model

Table = Literal["holding", "input"]
RegisterType = Literal["int16", "uint16", "int32", "uint32", "float32"]
Order = Literal["big", "little"]

DEFAULT_STATUS_CODES: dict[int, Quality] = {0: "good", 1: "bad", 2: "maintenance", 3: "uncertain"}


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Device(_Model):
    """A Modbus TCP field device (or a serial line behind a Modbus TCP gateway)."""

    id: Id
    host: str = Field(min_length=1)
    port: int = Field(default=502, ge=1, le=65535)
    unit_id: int = Field(default=1, ge=0, le=255)
    timeout_s: float = Field(default=1.0, gt=0, le=60)


class StatusRegister(_Model):
    """A register whose code gives the quality of a point (detector fault, calibration)."""

    address: int = Field(ge=0, le=65535)
    table: Table = "input"
    codes: dict[int, Quality] = Field(default_factory=lambda: dict(DEFAULT_STATUS_CODES))


class Point(_Model):
    """One sensor of the registry, read from registers of one device."""

    sensor: Id
    device: Id
    table: Table = "holding"
    address: int = Field(ge=0, le=65535)
    type: RegisterType = "uint16"
    byte_order: Order = "big"  # bytes inside each 16-bit register: big = AB
    word_order: Order = "big"  # 32-bit values: big = high word in the first register
    scale: float = 1.0
    offset: float = 0.0
    # An interlock: the register's code gives its state. Without codes: an analog value.
    codes: dict[int, InterlockState] | None = None
    status: StatusRegister | None = None

    @field_validator("scale")
    @classmethod
    def _nonzero_scale(cls, scale: float) -> float:
        if scale == 0:
            raise ValueError("a scale other than 0")
        return scale

    @property
    def words(self) -> int:
        return 2 if self.type in ("int32", "uint32", "float32") else 1


class Buffer(_Model):
    """The store-and-forward buffer (SQLite in `data_dir`)."""

    max_messages: int = Field(default=500_000, ge=10)
    replay_rate_msgs_s: float = Field(default=20.0, gt=0)
    replay_window: int = Field(default=10, ge=1, le=1000)


class Reconnect(_Model):
    """Jittered exponential backoff, for the broker and for each device."""

    min_s: float = Field(default=1.0, gt=0)
    max_s: float = Field(default=30.0, gt=0)


class GatewayConfig(_Model):
    site: Id
    gateway: Id
    period_s: float = Field(default=1.0, gt=0, le=3600)
    broker: str = "mqtt://127.0.0.1:1883"
    data_dir: Path = Path("hazmon-gateway")
    client_id: str | None = None
    buffer: Buffer = Buffer()
    reconnect: Reconnect = Reconnect()
    devices: list[Device] = Field(min_length=1)
    points: list[Point] = Field(min_length=1)

    def device(self, device_id: str) -> Device:
        return next(d for d in self.devices if d.id == device_id)


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def _rules(data: Any) -> Iterator[tuple[PathKey, str]]:
    """Rules that span fields: unique ids, points naming a device that exists."""
    if not isinstance(data, dict):
        return
    devices = _as_list(data.get("devices"))
    known: set[str] = set()
    for i, device in enumerate(devices):
        ident = device.get("id") if isinstance(device, dict) else None
        if isinstance(ident, str) and ident in known:
            yield ("devices", i, "id"), f"a unique device id; {ident!r} is used twice"
        if isinstance(ident, str):
            known.add(ident)
    points = _as_list(data.get("points"))
    sensors: set[str] = set()
    for i, point in enumerate(points):
        if not isinstance(point, dict):
            continue
        sensor, device = point.get("sensor"), point.get("device")
        if isinstance(sensor, str) and sensor in sensors:
            yield ("points", i, "sensor"), f"a sensor read once; {sensor!r} is read twice"
        if isinstance(sensor, str):
            sensors.add(sensor)
        if isinstance(device, str) and device not in known:
            names = ", ".join(sorted(known)) or "none defined"
            yield ("points", i, "device"), f"a device under `devices` ({names}); got {device!r}"
        if point.get("codes") is not None and point.get("type") in ("float32",):
            yield ("points", i, "type"), "an integer register type for a point with codes"
    reconnect = data.get("reconnect")
    if isinstance(reconnect, dict):
        low, high = reconnect.get("min_s", 1.0), reconnect.get("max_s", 30.0)
        if isinstance(low, int | float) and isinstance(high, int | float) and high < low:
            yield ("reconnect", "max_s"), f"max_s ≥ min_s ({low})"


def load_gateway_config(path: str | Path) -> GatewayConfig:
    """Read and check a gateway config; raise ConfigError listing every problem."""
    return load_yaml_model(path, GatewayConfig, rules=_rules)


def parse_gateway_config(text: str, *, file: str = "<gateway>") -> GatewayConfig:
    return parse_yaml_model(text, GatewayConfig, file=file, rules=_rules)
