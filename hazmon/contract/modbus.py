"""Register codecs: 16-bit Modbus registers <-> engineering values.

A register holds two bytes; `byte_order` says whether the first byte on the wire is
the high one (big, "AB") or the low one (little, "BA"). A 32-bit value spans two
registers; `word_order` says whether the first register holds the high word (big)
or the low word (little, "word-swapped", common on PLCs).

    value = raw * scale + offset            (decode)
    raw   = (value - offset) / scale        (encode, used by the simulated devices)
"""

from __future__ import annotations

import math
import struct

from hazmon.contract.errors import HazmonError
from hazmon.contract.gateway_config import Order, Point, RegisterType

_FORMATS: dict[RegisterType, str] = {
    "int16": ">h",
    "uint16": ">H",
    "int32": ">i",
    "uint32": ">I",
    "float32": ">f",
}
_WORDS: dict[RegisterType, int] = {
    "int16": 1,
    "uint16": 1,
    "int32": 2,
    "uint32": 2,
    "float32": 2,
}


class RegisterCodecError(HazmonError, ValueError):
    """A value cannot be represented in the point's register type."""


def _swap_bytes(register: int) -> int:
    return ((register & 0xFF) << 8) | (register >> 8)


def _to_wire(words: list[int], byte_order: Order, word_order: Order) -> list[int]:
    """Big-endian words (high word first, AB bytes) -> the device's layout (and back)."""
    if word_order == "little":
        words = words[::-1]
    if byte_order == "little":
        words = [_swap_bytes(w) for w in words]
    return words


def decode_raw(
    registers: list[int], rtype: RegisterType, byte_order: Order, word_order: Order
) -> int | float:
    """The raw number held by `registers` (exactly as many as the type needs)."""
    words = _to_wire(list(registers), byte_order, word_order)  # the transform is its own inverse
    data = b"".join(w.to_bytes(2, "big") for w in words)
    value: int | float = struct.unpack(_FORMATS[rtype], data)[0]
    return value


def encode_raw(
    raw: int | float, rtype: RegisterType, byte_order: Order, word_order: Order
) -> list[int]:
    """The registers that hold the raw number `raw` in the device's layout."""
    try:
        data = struct.pack(_FORMATS[rtype], raw)
    except struct.error as exc:
        raise RegisterCodecError(f"{raw!r} does not fit {rtype}") from exc
    words = [int.from_bytes(data[i : i + 2], "big") for i in range(0, len(data), 2)]
    return _to_wire(words, byte_order, word_order)


def decode_point(point: Point, registers: list[int]) -> float:
    """The engineering value of an analog point."""
    raw = decode_raw(registers, point.type, point.byte_order, point.word_order)
    return float(raw) * point.scale + point.offset


def decode_code(point: Point, registers: list[int]) -> int:
    """The integer code held by a point's registers (interlock state, status)."""
    raw = decode_raw(registers, point.type, point.byte_order, point.word_order)
    return int(raw)


def encode_point(point: Point, value: float) -> list[int]:
    """The registers a device shows for `value` (rounded and clamped to the type)."""
    raw: float = (value - point.offset) / point.scale
    if point.type == "float32":
        return encode_raw(raw, "float32", point.byte_order, point.word_order)
    return encode_raw(clamp_int(raw, point.type), point.type, point.byte_order, point.word_order)


def clamp_int(raw: float, rtype: RegisterType) -> int:
    """Round to the nearest integer the type can hold (a transmitter saturates)."""
    if not math.isfinite(raw):
        raise RegisterCodecError(f"{raw!r} is not a finite number")
    bits = 16 * _WORDS[rtype]
    low, high = (-(1 << (bits - 1)), (1 << (bits - 1)) - 1)
    if rtype.startswith("u"):
        low, high = 0, (1 << bits) - 1
    return max(low, min(high, round(raw)))


def words(rtype: RegisterType) -> int:
    return _WORDS[rtype]
