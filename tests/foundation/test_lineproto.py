"""Line protocol: InfluxDB's escaping, checked by a reference parser and a round trip."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from hazmon.lineproto import ReadingEncoder, line
from hazmon.wire import Reading

from .lineparse import parse_line

NOW_MS = 1_764_385_200_000
ids = st.from_regex(r"\A[A-Za-z0-9][A-Za-z0-9_.-]{0,20}\Z")
texts = st.text(st.characters(exclude_categories=("Cs",)), max_size=30)
key_texts = texts.filter(lambda t: t and not t.endswith("\\") and "\n" not in t)


def influx_sees(note: str) -> str:
    """What InfluxDB keeps of a string: a newline becomes the two characters `\\n`."""
    return note.replace("\n", "\\n").replace("\r", "\\r")


def test_the_contract_alarm_event_line() -> None:
    text = line(
        "alarm_event",
        {"site": "jh-chem-01", "sensor": "GT-101", "condition": "high_high",
         "priority": "critical", "event": "acked"},
        {"alarm_id": "jh-chem-01/GT-101/high_high#17", "state": "acked", "value": 55.0,
         "user": "zhang.wei", "note": 'line one\nsaid "ok", = 1'},
        NOW_MS,
    )
    assert "\n" not in text
    assert text.startswith(
        "alarm_event,condition=high_high,event=acked,priority=critical,sensor=GT-101,"
        "site=jh-chem-01 "
    )
    assert 'note="line one\\nsaid \\"ok\\", = 1"' in text
    assert text.endswith(f" {NOW_MS}")


def test_escaping_of_measurement_tags_and_fields() -> None:
    text = line("my m,x", {"a b": "c,d=e"}, {"f=g": 1, "h": True, "i": 2.5}, 5)
    assert text == "my\\ m\\,x,a\\ b=c\\,d\\=e f\\=g=1i,h=true,i=2.5 5"


def test_none_fields_and_empty_tags_are_left_out_and_nan_is_refused() -> None:
    assert line("m", {"t": ""}, {"a": None, "b": 1.0}, 1) == "m b=1.0 1"
    with pytest.raises(ValueError):
        line("m", {}, {"a": None}, 1)
    with pytest.raises(ValueError):
        line("m", {}, {"a": float("nan")}, 1)


@given(
    measurement=key_texts,
    tags=st.dictionaries(key_texts, key_texts, max_size=4),
    note=texts,
    number=st.floats(allow_nan=False, allow_infinity=False),
    count=st.integers(min_value=-(2**63), max_value=2**63 - 1),
    ts_ms=st.integers(min_value=0, max_value=2**41),
)
def test_round_trip_through_the_reference_parser(
    measurement: str, tags: dict[str, str], note: str, number: float, count: int, ts_ms: int
) -> None:
    text = line(measurement, tags, {"note": note, "value": number, "n": count}, ts_ms)
    assert "\n" not in text
    got_measurement, got_tags, got_fields, got_ts = parse_line(text)
    assert got_measurement == measurement
    assert got_tags == tags
    assert got_fields == {"note": influx_sees(note), "value": number, "n": count}
    assert got_ts == ts_ms


@given(site=ids, gateway=ids, sensor=ids, value=st.floats(allow_nan=False, allow_infinity=False))
def test_reading_encoder_matches_the_generic_encoder(
    site: str, gateway: str, sensor: str, value: float
) -> None:
    encoder = ReadingEncoder()
    reading = Reading(site, gateway, sensor, "combustible_gas", NOW_MS, value, None, "good",
                      value > 100, False)
    fields: dict[str, float | bool | None] = {"value": value, "over_range": value > 100 or None}
    tags = {"site": site, "gateway": gateway, "sensor": sensor, "kind": "combustible_gas",
            "quality": "good"}
    assert encoder.encode(reading) == line("reading", tags, fields, NOW_MS)
    assert encoder.encode(reading) == encoder.encode(reading)  # from its cache


def test_interlock_state_is_a_string_field() -> None:
    reading = Reading("s", "g", "ESD-01", "interlock", NOW_MS, None, "tripped", "good", False,
                      False)
    assert ReadingEncoder().encode(reading) == (
        'reading,gateway=g,kind=interlock,quality=good,sensor=ESD-01,site=s state="tripped" '
        f"{NOW_MS}"
    )
