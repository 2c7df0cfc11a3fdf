"""The decoder's fast path (a typed msgspec parse) answers exactly as the checked path
(orjson and a check per field) for every message: random messages, good and bad in
every field, and the JSON edge cases where two parsers may differ."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from hazmon.contract.config import parse_registry
from hazmon.contract.lineproto import ReadingEncoder
from hazmon.contract.wire import Decoder, Lines

pytestmark = pytest.mark.unit

REGISTRY = parse_registry("""
sites:
  - id: s1
    name: Site 1
    industry: hazardous_chemicals
    location: {lat: 29.1, lon: 119.6}
    gateways:
      - id: gw1
        sensors:
          - {id: GT-1, kind: combustible_gas, range: [0, 100]}
          - {id: TT-1, kind: temperature, unit: "°C", range: [-20, 80], thresholds: {high: 60}}
          - {id: ESD-1, kind: interlock, grade: A}
""")
DECODER = Decoder(REGISTRY)
NOW = 1_796_551_200_000

anything = st.one_of(st.none(), st.booleans(), st.integers(-2**70, 2**70),
                     st.floats(allow_nan=False, allow_infinity=False), st.text(max_size=6),
                     st.lists(st.integers(), max_size=2))
value = st.one_of(st.floats(-1e6, 1e6), st.integers(-10**6, 10**6), anything)
reading = st.fixed_dictionaries(
    {"sensor": st.sampled_from(["GT-1", "TT-1", "ESD-1", "XX-9", 7])},
    optional={
        "ts_ms": st.one_of(st.integers(NOW - 10**6, NOW + 10**6), st.integers(-5, 5), anything),
        "value": value,
        "state": st.one_of(st.sampled_from(["normal", "tripped", "bypassed", "fault", "odd"]),
                           anything),
        "quality": st.one_of(st.sampled_from(["good", "bad", "uncertain", "maintenance",
                                              "fine"]), anything),
        "extra": anything,
    },
)
batch = st.fixed_dictionaries(
    {"readings": st.one_of(st.lists(reading, min_size=1, max_size=4), st.just([]), anything)},
    optional={
        "boot": st.one_of(st.integers(0, 3), st.integers(2**53 - 1, 2**53), anything),
        "seq": st.one_of(st.integers(0, 3), st.integers(-1, 0), anything),
        "sent_ms": st.one_of(st.integers(-1, NOW), anything),
        "historical": st.one_of(st.booleans(), anything),
        "other": anything,
    },
)


def both(payload: bytes) -> tuple[Any, Any]:
    return (DECODER.decode("s1", "gw1", payload, now_ms=NOW),
            DECODER._decode_checked("s1", "gw1", payload, now_ms=NOW))


def good(**fields: Any) -> dict[str, Any]:
    return {"boot": 1, "seq": 2, "readings": [{"sensor": "GT-1", "ts_ms": NOW, **fields}]}


@settings(max_examples=300)
@given(batch)
@example({"boot": 1, "seq": 2, "readings": [{"sensor": "GT-1", "ts_ms": NOW, "value": 5}]})
@example({"boot": 1, "seq": 2, "readings": [{"sensor": "ESD-1", "ts_ms": NOW,
                                             "state": "tripped", "quality": "bad"}]})
def test_the_fast_path_answers_as_the_checked_path(doc: dict[str, Any]) -> None:
    fast, checked = both(json.dumps(doc).encode())
    assert fast == checked


@pytest.mark.parametrize("payload", [
    json.dumps(good(value=2**64)).encode(),  # an integer over 64 bits
    json.dumps(good(value=2**63 - 1)).encode(),
    json.dumps(good(value=1e308)).encode(),
    json.dumps(good(value=1e308)).replace("1e+308", "1e999").encode(),  # inf as text
    json.dumps(good(value=None)).encode(),
    json.dumps(good(value=True)).encode(),
    json.dumps(good(value=5.0, state=None)).encode(),
    json.dumps(good(value=5.0)).replace('"value"', '"value": 1, "value"').encode(),  # twice
    b"\xef\xbb\xbf" + json.dumps(good(value=5.0)).encode(),  # a byte-order mark
    json.dumps(good(value=5.0)).encode() + b" x",  # trailing garbage
    json.dumps(good(value=5.0)).encode() + b"\n",
    json.dumps(good(value=float("nan"))).encode(),  # NaN, which JSON has not
    json.dumps(good(value=5.0, ts_ms=NOW + 300_001)).encode(),  # too far ahead
    json.dumps({**good(value=5.0), "sent_ms": None}).encode(),
    json.dumps({**good(value=5.0), "historical": None}).encode(),
    json.dumps(good(value=5.0)).replace('"GT-1"', '"GT-\\u0031"').encode(),  # an escape
    b'{"boot": 1, "seq": 2, "readings": [{"sensor": "GT-1", "ts_ms": 1e3, "value": 1}]}',
    b'{"boot": 1.0, "seq": 2, "readings": [{"sensor": "GT-1", "ts_ms": 1, "value": 1}]}',
    b'{"boot": 1, "seq": 2, "readings": [{"sensor": "GT-1", "ts_ms": 1, "value": 1}]}',
    b'{"boot": 1, "seq": 2, "readings": [{"sensor": "GT-1", "ts_ms": 1, "value": 1}],}',
    b"\xff\xfe",
])
def test_json_edge_cases_are_answered_alike(payload: bytes) -> None:
    fast, checked = both(payload)
    assert fast == checked


def test_a_good_message_takes_the_fast_path() -> None:
    """Not only equal answers: the fast path is the one that answers a good message."""
    payload = json.dumps(good(value=5)).encode()
    decoded = DECODER.decode("s1", "gw1", payload, now_ms=NOW)
    assert [r.value for r in decoded.readings] == [5.0] and not decoded.rejections
    from hazmon.contract import wire

    sensors = DECODER._gateways[("s1", "gw1")]
    assert wire._decode_fast("s1", "gw1", sensors, payload, NOW) == decoded
    bad = json.dumps(good(value="5")).encode()
    assert wire._decode_fast("s1", "gw1", sensors, bad, NOW) is None


good_reading = st.one_of(
    st.fixed_dictionaries(
        {"sensor": st.sampled_from(["GT-1", "TT-1"]), "ts_ms": st.integers(0, NOW + 300_000),
         "value": st.one_of(st.floats(-1e9, 1e9), st.integers(-10**9, 10**9))},
        optional={"quality": st.sampled_from(["good", "bad", "uncertain", "maintenance"])}),
    st.fixed_dictionaries(
        {"sensor": st.just("ESD-1"), "ts_ms": st.integers(0, NOW),
         "state": st.sampled_from(["normal", "tripped", "bypassed", "fault"])},
        optional={"quality": st.sampled_from(["good", "bad", "uncertain", "maintenance"])}),
)
good_batch = st.fixed_dictionaries(
    {"boot": st.integers(0, 2**53 - 1), "seq": st.integers(0, 2**53 - 1),
     "readings": st.lists(good_reading, min_size=1, max_size=20)},
    optional={"sent_ms": st.integers(0, NOW), "historical": st.booleans()},
)


@settings(max_examples=150)
@given(good_batch)
def test_every_good_message_takes_the_fast_path_with_the_same_readings(
    doc: dict[str, Any],
) -> None:
    from hazmon.contract import wire

    payload = json.dumps(doc).encode()
    fast = wire._decode_fast("s1", "gw1", DECODER._gateways[("s1", "gw1")], payload, NOW)
    assert fast is not None
    assert fast == DECODER._decode_checked("s1", "gw1", payload, now_ms=NOW)


_ENCODER = ReadingEncoder()  # one for every example: its tables filled by earlier ones


def _lines_of(doc: dict[str, Any]) -> tuple[Lines | None, Any]:
    payload = json.dumps(doc).encode()
    return (DECODER.decode_lines("s1", "gw1", payload, now_ms=NOW, encoder=_ENCODER),
            DECODER.decode("s1", "gw1", payload, now_ms=NOW))


@settings(max_examples=300)
@given(batch)
@example({"boot": 1, "seq": 2, "readings": [
    {"sensor": "GT-1", "ts_ms": NOW, "value": 5}, {"sensor": "TT-1", "ts_ms": NOW, "value": 99},
    {"sensor": "GT-1", "ts_ms": NOW, "value": 5.5, "quality": "uncertain"},
    {"sensor": "ESD-1", "ts_ms": NOW, "state": "tripped", "quality": "bad"}]})
def test_decode_lines_is_decode_then_encode_or_nothing(doc: dict[str, Any]) -> None:
    """Straight to line protocol (ingest on InfluxDB): the lines `encode` gives for the
    readings `decode` accepts, when the message is good throughout; otherwise nothing,
    and ingest takes the checked path (which says what is wrong)."""
    fast, decoded = _lines_of(doc)
    if decoded.rejections:
        assert fast is None
        return
    if fast is None:  # good, but not for the fast parse (a float sent as 5, say)
        return
    assert fast.lines == [ReadingEncoder().encode(r) for r in decoded.readings]
    assert (fast.boot, fast.seq, fast.sent_ms, fast.historical) == (
        decoded.boot, decoded.seq, decoded.sent_ms, decoded.historical)
    assert fast.not_good == sum(1 for r in decoded.readings if r.quality != "good")


def test_decode_lines_takes_a_plain_good_message() -> None:
    fast, _ = _lines_of(good(value=12.5))
    assert fast is not None and len(fast.lines) == 1 and fast.not_good == 0
    assert fast.lines[0].endswith(f" value=12.5 {NOW}")


@settings(max_examples=150)
@given(good_batch)
def test_every_good_message_goes_straight_to_its_lines(doc: dict[str, Any]) -> None:
    """Every quality, over the range or not, interlocks: the lines of decode + encode."""
    fast, decoded = _lines_of(doc)
    assert fast is not None
    assert fast.lines == [ReadingEncoder().encode(r) for r in decoded.readings]
    assert fast.not_good == sum(1 for r in decoded.readings if r.quality != "good")
