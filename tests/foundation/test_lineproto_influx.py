"""Line protocol against a real InfluxDB: what hazmon writes is what InfluxDB keeps."""

from __future__ import annotations

import pytest

from hazmon.lineproto import ReadingEncoder, line
from hazmon.wire import Reading
from tests.servers import InfluxDB

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
