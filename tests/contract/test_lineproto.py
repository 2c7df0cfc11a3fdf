"""Line protocol: InfluxDB's escaping, checked by a reference parser and a round trip."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from hazmon.contract.lineproto import ReadingEncoder, line
from hazmon.contract.wire import Reading

from .lineparse import parse_line

NOW_MS = 1_764_385_200_000
ids = st.from_regex(r"\A[A-Za-z0-9][A-Za-z0-9_.-]{0,20}\Z")
texts = st.text(st.characters(exclude_categories=("Cs",)), max_size=30)
# names: mostly the characters line protocol escapes, so that every combination comes up
names = st.text(
    st.sampled_from('ab\\,= "\n') | st.characters(exclude_categories=("Cs",)),
    min_size=1,
    max_size=12,
)


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


def writable(measurement: str, tags: dict[str, str], field_keys: list[str]) -> bool:
    """What hazmon.contract.lineproto accepts: InfluxDB reads every other name back differently."""
    names = [measurement, *tags, *tags.values(), *field_keys]
    if any(name.endswith("\\") or "\n" in name for name in names):
        return False
    if any(f"\\{c}" in measurement for c in ", "):
        return False
    return not any(f"\\{c}" in key for key in field_keys for c in ',= "')


@given(
    measurement=names,
    tags=st.dictionaries(names, names, max_size=4),
    field_key=names,
    note=texts,
    number=st.floats(allow_nan=False, allow_infinity=False),
    count=st.integers(min_value=-(2**63), max_value=2**63 - 1),
    ts_ms=st.integers(min_value=0, max_value=2**41),
)
def test_round_trip_through_the_reference_parser(
    measurement: str, tags: dict[str, str], field_key: str, note: str, number: float,
    count: int, ts_ms: int,
) -> None:
    fields = {"note": note, "value": number, field_key: count}
    if not writable(measurement, tags, list(fields)):
        with pytest.raises(ValueError, match="line protocol cannot write"):
            line(measurement, tags, fields, ts_ms)
        return
    text = line(measurement, tags, fields, ts_ms)
    assert "\n" not in text
    got_measurement, got_tags, got_fields, got_ts = parse_line(text)
    assert got_measurement == measurement
    assert got_tags == tags
    expected = dict(fields)
    if isinstance(expected["note"], str):
        expected["note"] = influx_sees(note)
    assert got_fields == expected
    assert got_ts == ts_ms


@pytest.mark.parametrize(
    ("measurement", "tags", "field_key"),
    [
        ("a\\b", {"k\\,ey": "v\\,a\\=l\\ ue"}, "f\\x"),  # kept as they are
        ("a\\,b", {}, "f"),  # the server reads the measurement back as "a,b"
        ("m", {}, "f\\,x"),  # the server rejects the line
        ("m", {"k": "v\\"}, "f"),  # the backslash would escape the separator after it
    ],
)
def test_a_backslash_before_a_comma(measurement: str, tags: dict[str, str], field_key: str) -> None:
    fields = {field_key: 1}
    if writable(measurement, tags, [field_key]):
        assert parse_line(line(measurement, tags, fields, 1)) == (measurement, tags, fields, 1)
    else:
        with pytest.raises(ValueError, match="line protocol cannot write"):
            line(measurement, tags, fields, 1)


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


def test_a_batch_encodes_as_each_reading_does() -> None:
    from hazmon.contract.lineproto import ReadingEncoder
    from hazmon.contract.wire import Reading

    readings = [
        Reading("s 1", "gw,1", "GT=1", "combustible_gas", 1_000, 3.5, None, "good", False, False),
        Reading("s 1", "gw,1", "GT=1", "combustible_gas", 2_000, 120.0, None, "good", True, False),
        Reading("s 1", "gw,1", "GT=1", "combustible_gas", 3_000, 4.0, None, "bad", False, False),
        Reading("s 1", "gw,1", "ESD", "interlock", 4_000, None, 'trip"ped', "good", False, False),
        Reading("s 1", "gw,1", "GT=1", "combustible_gas", 5_000, 5.0, None, "good", False, False),
    ]
    one_by_one = ReadingEncoder()
    assert ReadingEncoder().encode_all(readings) == [one_by_one.encode(r) for r in readings]


_SITES = st.sampled_from(["s1", "s 2"])
_GATEWAYS = st.sampled_from(["gw1", "gw,2"])
_SENSORS = st.sampled_from(["GT-1", "GT=2", "ESD"])


@st.composite
def _reading(draw: st.DrawFn) -> Reading:
    site, gateway, sensor = draw(_SITES), draw(_GATEWAYS), draw(_SENSORS)
    # mostly what the fast way takes (good, analog, in range), so that runs of it
    # across sites and gateways come up
    quality = draw(st.sampled_from(["good"] * 5 + ["bad", "uncertain", "maintenance"]))
    ts_ms = draw(st.integers(0, 2**40))
    if draw(st.integers(0, 4)) > 0:
        value = draw(st.floats(-1e6, 1e6, allow_nan=False))
        return Reading(site, gateway, sensor, "combustible_gas", ts_ms, value, None, quality,
                       draw(st.integers(0, 5)) == 0, False)
    state = draw(st.sampled_from(["normal", "tripped"]))
    return Reading(site, gateway, sensor, "interlock", ts_ms, None, state, quality, False, False)


@given(st.lists(st.lists(_reading(), max_size=12), max_size=4))
def test_encode_all_is_encode_of_each_whatever_the_runs(batches: list[list[Reading]]) -> None:
    """Batch after batch on one encoder (its tables filled by the ones before): runs of
    one gateway, gateways alternating, every quality, over range or not."""
    batched, one_by_one = ReadingEncoder(), ReadingEncoder()
    for readings in batches:
        assert batched.encode_all(readings) == [one_by_one.encode(r) for r in readings]
