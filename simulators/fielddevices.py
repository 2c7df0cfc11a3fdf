"""Simulated field devices: the plant's values served over Modbus TCP (pymodbus 3).

A `FieldDevice` is one Modbus TCP server (a gas alarm panel, a PLC) with holding and
input registers. Tests write registers directly; `serve_plant()` writes a whole
simulated plant into one device per gateway, every tick, with a register map that
uses every encoding the gateway must decode (scaled integers, signed values below
range, 32-bit values in both word orders, IEEE floats, status words, state codes).
`gateway_config_for()` writes the matching gateway configuration, so the real
gateway polls the simulated plant end to end through the real field protocol.

A device can also misbehave: `mode = "exception"` answers every read with a Modbus
exception (device failure), `mode = "mute"` never answers (a timeout).
"""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path
from typing import Literal

from pymodbus.constants import ExcCodes
from pymodbus.server import ModbusTcpServer
from pymodbus.simulator import DataType, SimData, SimDevice

from hazmon.contract.gateway_config import Device, GatewayConfig, Point, StatusRegister, Table
from hazmon.contract.kinds import Kind
from hazmon.contract.modbus import encode_point, encode_raw
from hazmon.contract.registry import Gateway, Sensor

log = logging.getLogger(__name__)

REGISTERS = 4096
STATUS_BASE = 2000  # status words of the points, from this input register on
STATE_CODES: dict[int, Literal["normal", "tripped", "bypassed", "fault"]] = {
    0: "normal",
    1: "tripped",
    2: "bypassed",
    3: "fault",
}
MUTE_MAX_S = 30.0
Mode = Literal["ok", "exception", "mute"]


class FieldDevice:
    """One Modbus TCP server; answers any unit id."""

    def __init__(self) -> None:
        self.holding = [0] * REGISTERS
        self.input = [0] * REGISTERS
        self.mode: Mode = "ok"
        self.reads = 0
        self._server: ModbusTcpServer | None = None
        self._unmuted = asyncio.Event()
        self.port = 0

    async def start(self, host: str = "127.0.0.1", port: int = 0) -> int:
        blocks = [SimData(0, count=REGISTERS, values=0, datatype=DataType.REGISTERS)]
        bits = [SimData(0, count=16, values=False, datatype=DataType.BITS)]
        device = SimDevice(
            id=0, simdata=(bits, list(bits), blocks, list(blocks)), action=self._serve
        )
        self._server = ModbusTcpServer(device, address=(host, port))
        await self._server.serve_forever(background=True)
        listener: asyncio.Server = self._server.transport  # type: ignore[assignment]
        self.port = int(listener.sockets[0].getsockname()[1])
        return self.port

    async def stop(self) -> None:
        self._unmuted.set()
        if self._server is not None:
            await self._server.shutdown()  # type: ignore[no-untyped-call]
            self._server = None

    def table(self, table: Table) -> list[int]:
        return self.holding if table == "holding" else self.input

    async def _serve(
        self, fc: int, start: int, address: int, count: int, regs: list[int], values: object
    ) -> ExcCodes | None:
        """pymodbus calls this on each request: answer from our registers, or misbehave."""
        self.reads += 1
        if self.mode == "exception":
            return ExcCodes.DEVICE_FAILURE
        if self.mode == "mute":
            self._unmuted.clear()
            try:
                async with asyncio.timeout(MUTE_MAX_S):
                    await self._unmuted.wait()
            except TimeoutError:
                pass
            return ExcCodes.GATEWAY_NO_RESPONSE
        source = self.input if fc == 4 else self.holding
        regs[address - start : address - start + count] = source[address : address + count]
        return None

    def set_mode(self, mode: Mode) -> None:
        self.mode = mode
        if mode != "mute":
            self._unmuted.set()

    # -- writing engineering values ----------------------------------------------------

    def write(
        self,
        point: Point,
        *,
        value: float | None = None,
        state: str | None = None,
        quality: str = "good",
    ) -> None:
        """Show a reading in the point's registers (and its status word)."""
        if point.codes is not None:
            code = next((c for c, s in point.codes.items() if s == state), None)
            if code is None:
                raise ValueError(f"{point.sensor}: no code for state {state!r}")
            regs = encode_raw(code, point.type, point.byte_order, point.word_order)
        else:
            regs = encode_point(point, value if value is not None else 0.0)
        self.table(point.table)[point.address : point.address + len(regs)] = regs
        if point.status is not None:
            code = next((c for c, q in point.status.codes.items() if q == quality), None)
            if code is None:
                code = max(point.status.codes) + 1  # a code the gateway does not know
            self.table(point.status.table)[point.status.address] = code


# -- the register map of a simulated gateway -------------------------------------------


def register_map(gateway: Gateway, device_id: str) -> list[Point]:
    """Points for every sensor of a registry gateway, with a mix of encodings."""
    points: list[Point] = []
    next_address: dict[Table, int] = {"holding": 0, "input": 0}
    for i, sensor in enumerate(gateway.sensors):
        spec = _encoding(sensor, i)
        table: Table = spec.pop("table")  # type: ignore[assignment]
        address = next_address[table]
        next_address[table] += 2
        status = None if sensor.kind is Kind.interlock else StatusRegister(address=STATUS_BASE + i)
        points.append(
            Point.model_validate(
                {
                    "sensor": sensor.id,
                    "device": device_id,
                    "table": table,
                    "address": address,
                    "status": status,
                    **spec,
                }
            )
        )
    return points


def _encoding(sensor: Sensor, index: int) -> dict[str, object]:
    if sensor.kind is Kind.interlock:
        return {"table": "holding", "type": "uint16", "codes": dict(STATE_CODES)}
    low, high = sensor.range or (0.0, 100.0)
    if sensor.kind in (Kind.combustible_gas, Kind.toxic_gas, Kind.oxygen):
        # a gas panel: signed counts, 10000 = full scale (a broken loop reads negative)
        return {"table": "input", "type": "int16", "scale": (high - low) / 10_000, "offset": low}
    variant = index % 3
    if variant == 0:
        return {"table": "holding", "type": "float32", "word_order": "little"}
    if variant == 1:
        return {"table": "holding", "type": "int32", "scale": 0.001}
    return {"table": "input", "type": "float32", "byte_order": "little", "word_order": "little"}


def gateway_config_for(
    site: str,
    gateway: Gateway,
    *,
    host: str,
    port: int,
    broker: str,
    data_dir: Path,
    period_s: float | None = None,
) -> GatewayConfig:
    """The configuration a real gateway needs to poll the simulated device of `gateway`."""
    device = Device(id=f"sim-{gateway.id}", host=host, port=port, timeout_s=1.0)
    return GatewayConfig(
        site=site,
        gateway=gateway.id,
        period_s=period_s or gateway.period_s,
        broker=broker,
        data_dir=data_dir,
        devices=[device],
        points=register_map(gateway, device.id),
    )
