"""Polling field devices over Modbus TCP (pymodbus 3, async client).

A device that does not answer in time, refuses the connection or answers with a
Modbus exception gives readings of quality `bad` for its points, never silence: the
platform must see the difference between "no gas" and "no detector". The value of a
bad reading is the last good one (or the bottom of the range when there was none; an
interlock never read reports `fault`). A device link that failed reconnects with
jittered exponential backoff; until then its points read `bad` each period.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Iterable
from dataclasses import dataclass

from pymodbus.client import AsyncModbusTcpClient
from pymodbus.exceptions import ModbusException

from hazmon.bus.backoff import Backoff
from hazmon.contract.errors import HazmonError
from hazmon.contract.gateway_config import Device, Point, Reconnect, Table
from hazmon.contract.modbus import decode_code, decode_point, words

log = logging.getLogger(__name__)

MAX_BLOCK_REGISTERS = 120  # a read is at most 125 registers
MAX_GAP_REGISTERS = 8  # read across a small hole rather than make another request

Registers = dict[tuple[Table, int], int]


@dataclass(frozen=True, slots=True)
class Sample:
    """One reading of one point, before it is put on the wire."""

    sensor: str
    value: float | None
    state: str | None
    quality: str

    def as_wire(self, ts_ms: int) -> dict[str, object]:
        out: dict[str, object] = {"sensor": self.sensor, "ts_ms": ts_ms}
        if self.state is not None:
            out["state"] = self.state
        else:
            out["value"] = self.value
        if self.quality != "good":
            out["quality"] = self.quality
        return out


@dataclass(frozen=True, slots=True)
class Block:
    table: Table
    start: int
    count: int


def plan_blocks(points: Iterable[Point]) -> list[Block]:
    """Group the registers the points need into few contiguous reads."""
    spans: set[tuple[Table, int, int]] = set()
    for p in points:
        spans.add((p.table, p.address, p.address + words(p.type)))
        if p.status is not None:
            spans.add((p.status.table, p.status.address, p.status.address + 1))
    blocks: list[Block] = []
    for table, start, end in sorted(spans):
        last = blocks[-1] if blocks else None
        if (
            last is not None
            and last.table == table
            and start - (last.start + last.count) <= MAX_GAP_REGISTERS
            and max(end, last.start + last.count) - last.start <= MAX_BLOCK_REGISTERS
        ):
            blocks[-1] = Block(table, last.start, max(end, last.start + last.count) - last.start)
        else:
            blocks.append(Block(table, start, end - start))
    return blocks


class DeviceUnreachable(HazmonError):
    """The device did not answer (timeout) or the connection failed."""


class DeviceLink:
    """One Modbus TCP device: its connection, its reads, its points' last values."""

    def __init__(self, device: Device, points: list[Point], *, reconnect: Reconnect) -> None:
        self.device = device
        self.points = points
        self.blocks = plan_blocks(points)
        self._backoff = Backoff(min_s=reconnect.min_s, max_s=reconnect.max_s)
        self._client: AsyncModbusTcpClient | None = None
        self._retry_at = 0.0
        self._last: dict[str, float | str] = {}
        self.failures = 0

    async def poll(self) -> list[Sample]:
        """Read every point once; unreadable points come back with quality bad."""
        registers: Registers = {}
        try:
            client = await self._connected()
            for block in self.blocks:
                values = await self._read(client, block)
                if values is not None:
                    registers.update(
                        {(block.table, block.start + i): v for i, v in enumerate(values)}
                    )
        except DeviceUnreachable as exc:
            self._drop(str(exc))
        except Exception as exc:  # a library surprise must not stop the other devices
            log.exception("device %s: unexpected error while polling", self.device.id)
            self._drop(f"unexpected error: {exc!r}")
        return [self._sample(p, registers) for p in self.points]

    async def close(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None

    async def _connected(self) -> AsyncModbusTcpClient:
        if self._client is not None and self._client.connected:
            return self._client
        if time.monotonic() < self._retry_at:
            raise DeviceUnreachable("waiting to reconnect")
        d = self.device
        client = AsyncModbusTcpClient(
            d.host,
            port=d.port,
            timeout=d.timeout_s,
            retries=0,
            reconnect_delay=0,
            name=f"device {d.id}",
        )
        try:
            async with asyncio.timeout(d.timeout_s + 0.5):
                ok = await client.connect()
        except (TimeoutError, OSError, ModbusException) as exc:
            client.close()
            raise DeviceUnreachable(f"cannot connect: {exc!r}") from exc
        if not ok:
            client.close()
            raise DeviceUnreachable(f"cannot connect to {d.host}:{d.port}")
        log.info("device %s: connected to %s:%d", d.id, d.host, d.port)
        self._client = client
        self._backoff.reset()
        return client

    async def _read(self, client: AsyncModbusTcpClient, block: Block) -> list[int] | None:
        """The block's registers; None after a Modbus exception (device answered)."""
        d = self.device
        read = (
            client.read_holding_registers
            if block.table == "holding"
            else client.read_input_registers
        )
        try:
            async with asyncio.timeout(d.timeout_s + 0.5):
                response = await read(block.start, count=block.count, device_id=d.unit_id)
        except (TimeoutError, OSError, ModbusException) as exc:
            raise DeviceUnreachable(f"no answer to a read of {block}: {exc!r}") from exc
        if response.isError():
            self.failures += 1
            code = getattr(response, "exception_code", "?")
            log.warning("device %s: Modbus exception %s reading %s", d.id, code, block)
            return None
        values: list[int] = list(response.registers)[: block.count]
        return values

    def _drop(self, why: str) -> None:
        self.failures += 1
        if self._client is not None:
            self._client.close()
            self._client = None
        if why != "waiting to reconnect":
            delay_s = self._backoff.next_delay_s()
            self._retry_at = time.monotonic() + delay_s
            log.warning("device %s: %s; retrying in %.1f s", self.device.id, why, delay_s)

    def _sample(self, point: Point, registers: Registers) -> Sample:
        needed = [(point.table, point.address + i) for i in range(point.words)]
        raw = [registers.get(key) for key in needed]
        quality = _quality(point, registers)
        if any(r is None for r in raw) or quality is None:
            return self._bad(point)
        values = [r for r in raw if r is not None]
        if point.codes is not None:
            code = decode_code(point, values)
            state = point.codes.get(code)
            if state is None:
                log.warning("device %s: %s has unknown code %d", self.device.id, point.sensor, code)
                return Sample(point.sensor, None, "fault", "bad")
            self._last[point.sensor] = state
            return Sample(point.sensor, None, state, quality)
        value = decode_point(point, values)
        self._last[point.sensor] = value
        return Sample(point.sensor, value, None, quality)

    def _bad(self, point: Point) -> Sample:
        last = self._last.get(point.sensor)
        if point.codes is not None:
            return Sample(point.sensor, None, last if isinstance(last, str) else "fault", "bad")
        value = last if isinstance(last, float) else point.offset
        return Sample(point.sensor, value, None, "bad")


def _quality(point: Point, registers: Registers) -> str | None:
    """The point's quality from its status register; None when it could not be read."""
    status = point.status
    if status is None:
        return "good"
    code = registers.get((status.table, status.address))
    if code is None:
        return None
    return status.codes.get(code, "bad")
