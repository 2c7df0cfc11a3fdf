"""The telemetry decoder: good readings kept, each bad one rejected alone with a reason."""

from __future__ import annotations

import json
from typing import Any

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hazmon.contract.config import parse_registry
from hazmon.contract.wire import (
    MAX_PAYLOAD_BYTES,
    AlarmEvent,
    Decoder,
    GatewayState,
    Reason,
    TelemetryBatch,
)

NOW_MS = 1_764_385_200_000

REGISTRY = parse_registry(
    """
sites:
  - id: jh-chem-01
    name: 金华某化工有限公司
    industry: hazardous_chemicals
    location: {lat: 29.079, lon: 119.647}
    gateways:
      - id: gw-tankfarm
        sensors:
          - {id: GT-101, kind: combustible_gas}
          - {id: ESD-01, kind: interlock, grade: A}
          - {id: AT-1, kind: toxic_gas, gas: NH3, range: [0, 100]}
      - id: gw-other
        sensors:
          - {id: GT-201, kind: combustible_gas}
"""
)
DECODER = Decoder(REGISTRY)


def batch(*readings: dict[str, Any], **extra: Any) -> bytes:
    return orjson.dumps({"boot": 7, "seq": 1042, "sent_ms": NOW_MS, **extra,
                         "readings": list(readings)})


def decode(payload: bytes, gateway: str = "gw-tankfarm"):  # type: ignore[no-untyped-def]
    return DECODER.decode("jh-chem-01", gateway, payload, now_ms=NOW_MS)


def test_the_contract_example_decodes() -> None:
    payload = batch(
        {"sensor": "GT-101", "ts_ms": NOW_MS, "value": 12.5},
        {"sensor": "GT-101", "ts_ms": NOW_MS + 1000, "value": 13, "quality": "good"},
        {"sensor": "ESD-01", "ts_ms": NOW_MS, "state": "tripped"},
    )
    out = decode(payload)
    assert out.rejections == []
    assert (out.boot, out.seq, out.historical) == (7, 1042, False)
    first, second, esd = out.readings
    assert (first.sensor, first.value, first.quality, first.kind) == (
        "GT-101", 12.5, "good", "combustible_gas"
    )
    assert second.value == 13.0 and isinstance(second.value, float)
    assert (esd.state, esd.value, esd.kind) == ("tripped", None, "interlock")


def test_value_above_range_is_kept_and_flagged_over_range() -> None:
    out = decode(batch({"sensor": "GT-101", "ts_ms": NOW_MS, "value": 130.0}))
    assert out.readings[0].over_range is True and out.readings[0].value == 130.0


def test_historical_flag_is_carried_to_every_reading() -> None:
    out = decode(batch({"sensor": "GT-101", "ts_ms": NOW_MS, "value": 1.0}, historical=True))
    assert out.historical and out.readings[0].historical


@pytest.mark.parametrize(
    ("reading", "reason"),
    [
        ({"sensor": "NOPE", "ts_ms": NOW_MS, "value": 1.0}, Reason.unknown_sensor),
        ({"sensor": "GT-201", "ts_ms": NOW_MS, "value": 1.0}, Reason.unknown_sensor),
        ({"sensor": "GT-101", "ts_ms": NOW_MS, "value": "12"}, Reason.wrong_type),
        ({"sensor": "GT-101", "ts_ms": NOW_MS, "value": True}, Reason.wrong_type),
        ({"sensor": "GT-101", "ts_ms": NOW_MS}, Reason.wrong_type),
        ({"sensor": "GT-101", "ts_ms": "now", "value": 1.0}, Reason.wrong_type),
        ({"sensor": "GT-101", "ts_ms": NOW_MS, "value": 1.0, "quality": "meh"}, Reason.wrong_type),
        ({"sensor": "GT-101", "ts_ms": NOW_MS, "value": 1.0, "colour": 1}, Reason.bad_shape),
        ({"sensor": "GT-101", "ts_ms": NOW_MS, "state": "normal"}, Reason.state_on_analog),
        ({"sensor": "ESD-01", "ts_ms": NOW_MS, "value": 1.0}, Reason.value_on_interlock),
        ({"sensor": "ESD-01", "ts_ms": NOW_MS, "state": "open"}, Reason.wrong_type),
        ({"sensor": "GT-101", "ts_ms": NOW_MS + 301_000, "value": 1.0}, Reason.future_timestamp),
    ],
)
def test_one_bad_reading_is_rejected_alone(reading: dict[str, Any], reason: Reason) -> None:
    good = {"sensor": "GT-101", "ts_ms": NOW_MS, "value": 3.0}
    out = decode(batch(good, reading, good))
    assert [r.value for r in out.readings] == [3.0, 3.0]
    assert len(out.rejections) == 1
    rejection = out.rejections[0]
    assert rejection.reason is reason and rejection.index == 1 and rejection.raw == reading
    assert rejection.detail  # a human sentence


def test_a_timestamp_less_than_five_minutes_ahead_is_fine() -> None:
    out = decode(batch({"sensor": "GT-101", "ts_ms": NOW_MS + 299_000, "value": 1.0}))
    assert out.rejections == [] and len(out.readings) == 1


@pytest.mark.parametrize(
    ("payload", "reason"),
    [
        (b"not json", Reason.not_json),
        (b'{"boot": 1, "seq": 1, "readings": [{"sensor": "GT-101", "ts_ms": 1, "value": NaN}]}',
         Reason.not_json),
        (b"[1, 2]", Reason.bad_shape),
        (b'{"boot": 1, "readings": []}', Reason.bad_shape),
        (b'{"boot": 1, "seq": -1, "readings": [{}]}', Reason.bad_shape),
        (b'{"boot": 1, "seq": 1, "readings": []}', Reason.bad_shape),
        (b'{"boot": 1, "seq": 1, "readings": [{}], "extra": 1}', Reason.bad_shape),
        (b'{"boot": 1, "seq": 1, "historical": "yes", "readings": [{}]}', Reason.bad_shape),
        (b" " * (MAX_PAYLOAD_BYTES + 1), Reason.too_large),
    ],
)
def test_a_bad_message_is_rejected_whole(payload: bytes, reason: Reason) -> None:
    out = decode(payload)
    assert out.readings == [] and out.whole_message_rejected
    assert out.rejections[0].reason is reason


def test_too_many_readings_rejects_the_message() -> None:
    reading = {"sensor": "GT-101", "ts_ms": NOW_MS, "value": 1.0}
    out = decode(batch(*[reading] * 5001))
    assert out.whole_message_rejected and out.rejections[0].reason is Reason.bad_shape
    assert len(decode(batch(*[reading] * 5000)).readings) == 5000


def test_unknown_gateway_is_rejected_whole() -> None:
    out = decode(batch({"sensor": "GT-101", "ts_ms": NOW_MS, "value": 1.0}), gateway="gw-x")
    assert out.whole_message_rejected and out.rejections[0].reason is Reason.unknown_gateway


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=6), inner,
                                                                max_size=4),
    max_leaves=12,
)
hostile_reading = st.one_of(
    json_values,
    st.fixed_dictionaries(
        {"sensor": st.sampled_from(["GT-101", "ESD-01", "AT-1", "X"]) | st.text(max_size=4)},
        optional={
            "ts_ms": st.integers(min_value=-10, max_value=NOW_MS * 2) | json_values,
            "value": st.floats() | json_values,
            "state": st.sampled_from(["normal", "tripped", "bypassed", "fault"]) | json_values,
            "quality": st.sampled_from(["good", "bad", "uncertain", "maintenance"]) | json_values,
        },
    ),
)


@pytest.mark.fuzz
@settings(max_examples=300, deadline=None)
@given(st.lists(hostile_reading, min_size=1, max_size=20))
def test_every_reading_is_either_kept_or_rejected_with_a_reason(readings: list[Any]) -> None:
    payload = json.dumps({"boot": 1, "seq": 2, "readings": readings}).encode()
    out = decode(payload)
    if out.whole_message_rejected:
        assert "NaN" in payload.decode() or "Infinity" in payload.decode()
        return
    assert len(out.readings) + len(out.rejections) == len(readings)
    assert all(r.detail and r.index is not None for r in out.rejections)
    for reading in out.readings:
        assert (reading.value is None) != (reading.state is None)


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=200))
def test_arbitrary_bytes_never_raise(payload: bytes) -> None:
    out = decode(payload)
    assert out.readings or out.rejections


def test_models_describe_the_same_shapes() -> None:
    model = TelemetryBatch.model_validate_json(
        batch({"sensor": "GT-101", "ts_ms": NOW_MS, "value": 12.5})
    )
    assert model.readings[0].quality == "good"
    assert GatewayState.model_validate({"online": False, "boot": 3}).ts_ms is None
    event = AlarmEvent.model_validate(
        {"alarm_id": "jh-chem-01/GT-101/high_high#17", "key": "jh-chem-01/GT-101/high_high",
         "site": "jh-chem-01", "gateway": "gw-tankfarm", "sensor": "GT-101",
         "condition": "high_high", "priority": "critical", "event": "raised", "state": "unack",
         "returned": False, "value": 55.0, "ts_ms": NOW_MS, "user": None, "note": None}
    )
    assert event.alarm_id.endswith("#17")


def test_a_rejected_batch_still_reports_its_boot_and_seq() -> None:
    """So that a gateway's bad message is dead-lettered, not also counted as lost."""
    out = decode(b'{"boot": 3, "seq": 9, "readings": "none"}')
    assert out.whole_message_rejected and (out.boot, out.seq) == (3, 9)
    out = decode(b'{"boot": 3, "readings": []}')
    assert (out.boot, out.seq) == (None, None)
