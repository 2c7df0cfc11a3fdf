"""Register codecs: byte order, word order, scale and offset."""

from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from hazmon.contract.gateway_config import Point
from hazmon.contract.modbus import decode_point, decode_raw, encode_point, encode_raw


def point(**kw: object) -> Point:
    return Point.model_validate({"sensor": "GT-1", "device": "d", "address": 0, **kw})


@pytest.mark.parametrize(
    ("byte_order", "word_order", "registers"),
    [
        ("big", "big", [0x4148, 0x0000]),  # ABCD
        ("big", "little", [0x0000, 0x4148]),  # CDAB (word-swapped)
        ("little", "big", [0x4841, 0x0000]),  # BADC (byte-swapped)
        ("little", "little", [0x0000, 0x4841]),  # DCBA
    ],
)
def test_float32_layouts(byte_order: str, word_order: str, registers: list[int]) -> None:
    p = point(type="float32", byte_order=byte_order, word_order=word_order)
    assert decode_point(p, registers) == 12.5
    assert encode_point(p, 12.5) == registers


def test_int32_word_order_and_sign() -> None:
    assert decode_raw([0xFFFF, 0xFFFE], "int32", "big", "big") == -2
    assert decode_raw([0xFFFE, 0xFFFF], "int32", "big", "little") == -2
    assert decode_raw([0x0001, 0x0000], "uint32", "big", "big") == 65536
    assert decode_raw([0x0000, 0x0001], "uint32", "big", "little") == 65536


def test_int16_scale_and_offset() -> None:
    p = point(type="int16", scale=0.1, offset=-40)
    assert decode_point(p, [0xFFF6]) == pytest.approx(-41.0)  # raw -10
    assert decode_point(p, [650]) == pytest.approx(25.0)
    assert encode_point(p, 25.0) == [650]


def test_encode_saturates_like_a_transmitter() -> None:
    p = point(type="uint16", scale=0.01)
    assert encode_point(p, 1000.0) == [0xFFFF]
    assert encode_point(p, -5.0) == [0]


@given(
    raw=st.integers(-(2**31), 2**31 - 1),
    byte_order=st.sampled_from(["big", "little"]),
    word_order=st.sampled_from(["big", "little"]),
)
def test_int32_round_trip(raw: int, byte_order: str, word_order: str) -> None:
    regs = encode_raw(raw, "int32", byte_order, word_order)  # type: ignore[arg-type]
    assert all(0 <= r <= 0xFFFF for r in regs)
    assert decode_raw(regs, "int32", byte_order, word_order) == raw  # type: ignore[arg-type]


@given(
    value=st.floats(width=32, allow_nan=False, allow_infinity=False),
    byte_order=st.sampled_from(["big", "little"]),
    word_order=st.sampled_from(["big", "little"]),
)
def test_float32_round_trip(value: float, byte_order: str, word_order: str) -> None:
    regs = encode_raw(value, "float32", byte_order, word_order)  # type: ignore[arg-type]
    back = decode_raw(regs, "float32", byte_order, word_order)  # type: ignore[arg-type]
    assert back == value or (math.isclose(back, value) and value == 0)
