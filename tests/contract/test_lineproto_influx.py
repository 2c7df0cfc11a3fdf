"""Line protocol against a real InfluxDB: what hazmon writes is what InfluxDB keeps."""

from __future__ import annotations

import pytest

from hazmon.contract.lineproto import ReadingEncoder, line
from hazmon.contract.wire import Reading
from hazmon.testing.servers import InfluxDB, InfluxQueryError, quote_ident

pytestmark = pytest.mark.integration
NOW_MS = 1_764_385_200_000

NOTES = [
    "plain",
    'said "ok", and left',
    "two\nlines\r\nhere",
    "back\\slash and \\\\ double",
    "= + - @ spreadsheet starters",
    "中文备注：已通知值班长",
    "",
]


def test_notes_with_quotes_backslashes_and_newlines_survive(
    influxdb: InfluxDB, influx_db: str
) -> None:
    lines = [
        line(
            "alarm_event",
            {"site": "jh-chem-01", "sensor": "GT-101", "condition": "high", "priority": "high",
             "event": "acked"},
            {"alarm_id": f"jh-chem-01/GT-101/high#{i}", "note": note, "value": 26.5},
            NOW_MS + i,
        )
        for i, note in enumerate(NOTES)
    ]
    influxdb.write(influx_db, lines)
    body = influxdb.query(influx_db, 'SELECT "note", "alarm_id" FROM "alarm_event"', epoch="ms")
    rows = body["results"][0]["series"][0]["values"]
    kept = {alarm_id: note for _ts, note, alarm_id in rows}
    for i, note in enumerate(NOTES):
        expected = note.replace("\n", "\\n").replace("\r", "\\r")
        assert kept[f"jh-chem-01/GT-101/high#{i}"] == expected


def test_readings_are_idempotent_and_over_range_is_a_field(
    influxdb: InfluxDB, influx_db: str
) -> None:
    encoder = ReadingEncoder()
    readings = [
        Reading("jh-chem-01", "gw-tankfarm", "GT-101", "combustible_gas", NOW_MS + i,
                float(i), None, "good", False, False)
        for i in range(10)
    ]
    over = Reading("jh-chem-01", "gw-tankfarm", "GT-101", "combustible_gas", NOW_MS + 99,
                   130.0, None, "good", True, False)
    esd = Reading("jh-chem-01", "gw-tankfarm", "ESD-01", "interlock", NOW_MS, None, "tripped",
                  "good", False, False)
    body = [encoder.encode(r) for r in [*readings, over, esd]]
    influxdb.write(influx_db, body)
    influxdb.write(influx_db, body)  # a QoS 1 redelivery writes the same rows again
    assert influxdb.count(influx_db, "reading", "value") == 11
    assert influxdb.count(influx_db, "reading", "state") == 1
    result = influxdb.query(
        influx_db, 'SELECT "value" FROM "reading" WHERE "over_range" = true', epoch="ms"
    )
    assert result["results"][0]["series"][0]["values"] == [[NOW_MS + 99, 130.0]]


def test_names_with_backslashes_are_kept_or_refused_as_influxdb_reads_them(
    influxdb: InfluxDB, influx_db: str
) -> None:
    tag_key, tag_value, field_key = "k\\,e\\=y", "v\\,a\\ l\\=ue\\x", 'f\\x "q",='
    influxdb.write(influx_db, line("m\\x", {tag_key: tag_value}, {field_key: 1}, NOW_MS))
    assert influxdb.query(influx_db, "SHOW MEASUREMENTS")["results"][0]["series"][0][
        "values"
    ] == [["m\\x"]]
    keys = influxdb.query(influx_db, "SHOW TAG KEYS")["results"][0]["series"][0]["values"]
    assert keys == [[tag_key]]
    values = influxdb.query(
        influx_db, f"SHOW TAG VALUES WITH KEY = {quote_ident(tag_key)}"
    )["results"][0]["series"][0]["values"]
    assert values == [[tag_key, tag_value]]
    fields = influxdb.query(influx_db, "SHOW FIELD KEYS")["results"][0]["series"][0]["values"]
    assert fields == [[field_key, "integer"]]

    # What the encoder refuses, the server would misread: a measurement loses the
    # backslash before its comma, a field key with one is not a line at all.
    with pytest.raises(ValueError, match="line protocol cannot write"):
        line("a\\,b", {}, {"f": 1}, NOW_MS)
    influxdb.write(influx_db, "a\\\\,b f=1i 1")  # "a\,b" with its comma escaped
    measurements = influxdb.query(influx_db, "SHOW MEASUREMENTS")["results"][0]["series"][0]
    assert ["a,b"] in measurements["values"]
    with pytest.raises(ValueError, match="line protocol cannot write"):
        line("m", {}, {"f\\,x": 1}, NOW_MS)
    with pytest.raises(InfluxQueryError, match="invalid field format"):
        influxdb.write(influx_db, "m f\\\\,x=1i 1")
