"""Hostile telemetry against the wire decoder (hazmon.contract.wire.Decoder), beyond the shapes
tests/contract/test_wire.py tries: deep nesting anywhere in a message, oversize
messages, thousands of unknown sensors, huge strings. The decoder must never raise,
and every rejection must carry a reason and a sentence saying why.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hazmon.contract.config import load_registry
from hazmon.contract.wire import MAX_PAYLOAD_BYTES, MAX_READINGS, Decoded, Decoder, Reason

DEMO_PLANT = Path(__file__).parents[2] / "hazmon" / "demo" / "plant.yaml"
REGISTRY = load_registry(DEMO_PLANT)
SITE = REGISTRY.sites[0]
GATEWAY = SITE.gateways[0]
ANALOG = next(s.id for s in GATEWAY.sensors if s.analog)
NOW_MS = 1_764_385_200_000
DECODER = Decoder(REGISTRY)


def decode(payload: bytes) -> Decoded:
    out = DECODER.decode(SITE.id, GATEWAY.id, payload, now_ms=NOW_MS)
    for rejection in out.rejections:
        assert isinstance(rejection.reason, Reason)
        assert isinstance(rejection.detail, str) and rejection.detail
    if out.whole_message_rejected:
        assert out.readings == []
    return out


def batch(*readings: str) -> bytes:
    return ('{"boot":0,"seq":0,"readings":[' + ",".join(readings) + "]}").encode()


def nested(depth: int) -> str:
    return "[" * depth + "]" * depth


READING_WITH = {
    "sensor": lambda n: f'{{"sensor":{nested(n)},"ts_ms":1,"value":1}}',
    "value": lambda n: f'{{"sensor":"{ANALOG}","ts_ms":1,"value":{nested(n)}}}',
    "ts_ms": lambda n: f'{{"sensor":"{ANALOG}","ts_ms":{nested(n)},"value":1}}',
    "quality": lambda n: f'{{"sensor":"{ANALOG}","ts_ms":1,"value":1,"quality":{nested(n)}}}',
    "extra": lambda n: f'{{"sensor":"{ANALOG}","ts_ms":1,"value":1,"x":{nested(n)}}}',
    "item": nested,
}
# orjson parses up to 1024 levels; a sensor name or value nested ~1000 deep once made
# the decoder's rejection sentence recurse past Python's limit (now a bounded repr).


def _depth_cases() -> list[Any]:
    cases = []
    for where in READING_WITH:
        for depth in (50, 300, 700, 1000, 1020, 1100, 100_000):
            cases.append(pytest.param(where, depth))
    return cases


@pytest.mark.parametrize(("where", "depth"), _depth_cases())
def test_deep_nesting_anywhere_is_rejected_not_raised(where: str, depth: int) -> None:
    out = decode(batch(READING_WITH[where](depth)))
    assert len(out.rejections) == 1
    assert out.readings == []


def test_deep_nesting_around_the_batch_is_rejected_whole() -> None:
    for payload in (nested(5000), '{"a":' * 2000 + "1" + "}" * 2000, nested(1020)):
        out = decode(payload.encode())
        assert out.whole_message_rejected


def test_oversize_messages_are_rejected_whole_with_the_size() -> None:
    over = b'{"boot":0,"seq":0,"readings":[' + b" " * MAX_PAYLOAD_BYTES + b"]}"
    out = decode(over)
    assert [r.reason for r in out.rejections] == [Reason.too_large]
    assert str(len(over)) in out.rejections[0].detail
    too_many = batch(*[f'{{"sensor":"{ANALOG}","ts_ms":1,"value":1}}'] * (MAX_READINGS + 1))
    assert decode(too_many).whole_message_rejected


def test_thousands_of_unknown_sensors_cost_little_and_are_each_rejected() -> None:
    readings = [f'{{"sensor":"ghost-{i}","ts_ms":1,"value":1}}' for i in range(MAX_READINGS)]
    payload = batch(*readings)
    started = time.perf_counter()
    out = decode(payload)
    elapsed_s = time.perf_counter() - started
    assert len(out.rejections) == MAX_READINGS
    assert {r.reason for r in out.rejections} == {Reason.unknown_sensor}
    assert elapsed_s < 1.0  # ~10 ms here; a pathological path would show


def test_huge_strings_do_not_grow_beyond_the_message() -> None:
    name = "x" * (MAX_PAYLOAD_BYTES - 100)
    out = decode(batch(f'{{"sensor":"{name}","ts_ms":1,"value":1}}'))
    assert [r.reason for r in out.rejections] == [Reason.unknown_sensor]
    assert len(out.rejections[0].detail) < 2 * MAX_PAYLOAD_BYTES


json_leaf = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=20),
    st.sampled_from([ANALOG, "ESD-01", "normal", "tripped", "good", "maintenance"]),
)
json_doc = st.recursive(
    json_leaf,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4),
        st.dictionaries(
            st.sampled_from(["sensor", "ts_ms", "value", "state", "quality", "x", ""]),
            inner,
            max_size=5,
        ),
    ),
    max_leaves=30,
)


@pytest.mark.fuzz
@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    readings=st.lists(json_doc, min_size=0, max_size=8),
    boot=json_doc,
    seq=json_doc,
    historical=json_doc,
)
def test_any_json_in_any_field_never_raises(
    readings: list[Any], boot: Any, seq: Any, historical: Any
) -> None:
    doc = {"boot": boot, "seq": seq, "historical": historical, "readings": readings}
    try:
        payload = orjson.dumps(doc)
    except orjson.JSONEncodeError:
        return  # integers past 64 bits: not JSON orjson writes
    out = decode(payload)
    kept = len(out.readings) + len(out.rejections)
    assert out.whole_message_rejected or kept == len(readings)


@settings(max_examples=200, deadline=None)
@given(st.binary(min_size=0, max_size=64).map(lambda tail: batch() + tail))
def test_trailing_bytes_after_a_message_never_raise(payload: bytes) -> None:
    decode(payload)
