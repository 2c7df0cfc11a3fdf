"""What every store must do (stores/base.py), run against each implementation.

A test module subclasses `StoreContract` and provides a `store` fixture.
"""

from __future__ import annotations

from typing import Any

import pytest

from hazmon.contract.wire import Reading
from hazmon.feeds.accounting import HourCounts, gateway_feed
from hazmon.feeds.reading import status_of
from hazmon.stores.base import Point, Store

T0_MS = 1_764_385_200_000


def reading(
    sensor: str = "GT-101",
    ts_ms: int = T0_MS,
    value: float | None = 12.5,
    *,
    site: str = "s1",
    gateway: str = "gw1",
    kind: str = "combustible_gas",
    state: str | None = None,
    quality: str = "good",
    over_range: bool = False,
) -> Reading:
    return Reading(site, gateway, sensor, kind, ts_ms, value, state, quality, over_range, False)


def alarm_point(ts_ms: int, **fields: Any) -> Point:
    tags = {"site": "s1", "sensor": "GT-101", "condition": "high", "priority": "high"}
    tags["event"] = fields.pop("event", "raised")
    return Point("alarm_event", tags, fields, ts_ms)


class StoreContract:
    def test_rewriting_a_reading_is_idempotent(self, store: Store) -> None:
        batch = [reading(ts_ms=T0_MS + i * 1000, value=float(i)) for i in range(50)]
        store.write_readings(batch)
        store.write_readings(batch[10:30])
        assert store.count_readings() == 50

    def test_a_rewrite_replaces_the_value(self, store: Store) -> None:
        store.write_readings([reading(value=1.0)])
        store.write_readings([reading(value=2.0)])
        rows = store.readings("s1", "GT-101", from_ms=T0_MS, to_ms=T0_MS)
        assert [r.value for r in rows] == [2.0]

    def test_same_time_other_quality_is_another_row(self, store: Store) -> None:
        store.write_readings([reading(quality="good"), reading(quality="maintenance")])
        assert store.count_readings() == 2

    def test_latest_is_the_newest_reading_of_each_sensor(self, store: Store) -> None:
        store.write_readings(
            [
                reading("GT-101", T0_MS + 2000, 3.0, quality="uncertain"),
                reading("GT-101", T0_MS, 1.0),
                reading("GT-102", T0_MS + 1000, 7.0, over_range=True),
                reading("ESD-01", T0_MS, None, kind="interlock", state="tripped"),
                reading("GT-999", T0_MS, 5.0, site="other-site"),
            ]
        )
        store.write_readings([reading("GT-101", T0_MS + 1000, 2.0)])  # older than the newest
        latest = {r.sensor: r for r in store.latest("s1")}
        assert sorted(latest) == ["ESD-01", "GT-101", "GT-102"]
        assert (latest["GT-101"].value, latest["GT-101"].quality) == (3.0, "uncertain")
        assert latest["GT-101"].ts_ms == T0_MS + 2000
        assert latest["GT-102"].over_range is True
        assert (latest["ESD-01"].state, latest["ESD-01"].value) == ("tripped", None)
        assert latest["ESD-01"].kind == "interlock"
        assert latest["GT-102"].gateway == "gw1"

    def test_a_sensor_range_is_inclusive_oldest_first_and_limited(self, store: Store) -> None:
        store.write_readings([reading(ts_ms=T0_MS + i * 1000, value=float(i)) for i in range(20)])
        store.write_readings([reading("GT-102", T0_MS + 5000, 99.0)])
        rows = store.readings("s1", "GT-101", from_ms=T0_MS + 5000, to_ms=T0_MS + 9000)
        assert [r.value for r in rows] == [5.0, 6.0, 7.0, 8.0, 9.0]
        limited = store.readings("s1", "GT-101", from_ms=T0_MS, to_ms=T0_MS + 60_000, limit=3)
        assert [r.ts_ms for r in limited] == [T0_MS, T0_MS + 1000, T0_MS + 2000]

    def test_a_range_merges_qualities_in_time_order(self, store: Store) -> None:
        store.write_readings(
            [
                reading(ts_ms=T0_MS, value=1.0),
                reading(ts_ms=T0_MS + 1000, value=2.0, quality="maintenance"),
                reading(ts_ms=T0_MS + 2000, value=3.0),
            ]
        )
        rows = store.readings("s1", "GT-101", from_ms=T0_MS, to_ms=T0_MS + 2000)
        assert [(r.value, r.quality) for r in rows] == [
            (1.0, "good"),
            (2.0, "maintenance"),
            (3.0, "good"),
        ]

    def test_points_in_a_window_newest_first_with_their_types(self, store: Store) -> None:
        store.write_points(
            [
                alarm_point(T0_MS + i * 1000, alarm_id=f"a#{i}", state="unack", value=55.0)
                for i in range(5)
            ]
            + [
                Point(
                    "gateway_status",
                    {"site": "s1", "gateway": "gw1"},
                    {"online": True, "lost_messages": 3},
                    T0_MS,
                )
            ]
        )
        rows = store.points("alarm_event", from_ms=T0_MS + 1000, to_ms=T0_MS + 3000)
        assert [r.ts_ms for r in rows] == [T0_MS + 3000, T0_MS + 2000, T0_MS + 1000]
        assert rows[0].tags["condition"] == "high"
        assert rows[0].fields["alarm_id"] == "a#3"
        assert rows[0].fields["value"] == 55.0 and isinstance(rows[0].fields["value"], float)
        status = store.points("gateway_status", from_ms=0, to_ms=T0_MS)
        assert status[0].fields == {"online": True, "lost_messages": 3}
        assert isinstance(status[0].fields["lost_messages"], int)

    def test_points_filter_by_tags_and_limit(self, store: Store) -> None:
        store.write_points(
            [alarm_point(T0_MS + i, alarm_id=f"a#{i}", event="raised") for i in range(4)]
            + [alarm_point(T0_MS + 10 + i, alarm_id=f"b#{i}", event="acked") for i in range(4)]
        )
        acked = store.points(
            "alarm_event", from_ms=T0_MS, to_ms=T0_MS + 100, tags={"event": "acked"}, limit=2
        )
        assert [r.fields["alarm_id"] for r in acked] == ["b#3", "b#2"]
        other_site = store.points(
            "alarm_event", from_ms=T0_MS, to_ms=T0_MS + 100, tags={"site": "elsewhere"}
        )
        assert other_site == []

    def test_rewriting_a_point_merges_its_fields(self, store: Store) -> None:
        store.write_points([alarm_point(T0_MS, alarm_id="a#1", state="unack")])
        store.write_points([alarm_point(T0_MS, note="checked on site")])
        (row,) = store.points("alarm_event", from_ms=T0_MS, to_ms=T0_MS)
        assert row.fields == {"alarm_id": "a#1", "state": "unack", "note": "checked on site"}

    def test_a_packed_batch_writes_readings_and_points(self, store: Store) -> None:
        blob = store.pack(
            [reading(ts_ms=T0_MS + i) for i in range(3)],
            [alarm_point(T0_MS, alarm_id="a#1", state="unack", user=None)],
        )
        store.write_packed(blob)
        assert store.count_readings() == 3
        assert len(store.points("alarm_event", from_ms=T0_MS, to_ms=T0_MS)) == 1

    def test_unknown_series_and_sensors_read_as_empty(self, store: Store) -> None:
        assert store.latest("nowhere") == []
        assert store.readings("nowhere", "x", from_ms=0, to_ms=T0_MS) == []
        assert store.points("no_such_series", from_ms=0, to_ms=T0_MS) == []
        assert store.count_readings() == 0

    def test_the_feed_series_read_back_for_accounting(self, store: Store) -> None:
        """What feed accounting reads (docs/feeds.md): a gateway's status points with
        `silent_since_ms`, the newest one before a window (`limit=1`), and the hourly
        `gateway_feed` counts of each ingest instance, an hour's newer total replacing
        the older one; then the accounting of the stored points."""
        status = {"site": "s1", "gateway": "gw1"}
        store.write_points([
            Point("gateway_status", status, {"online": True, "lost_messages": 1}, T0_MS - 60_000),
            Point("gateway_status", status, {"online": False, "lost_messages": 1,
                                             "silent_since_ms": T0_MS + 20 * 60_000},
                  T0_MS + 20 * 60_000 + 10_000),
            Point("gateway_status", status, {"online": True, "lost_messages": 4},
                  T0_MS + 23 * 60_000),
            Point("gateway_status", {"site": "s2", "gateway": "gw1"},
                  {"online": False, "lost_messages": 0}, T0_MS),
        ])
        counts = {"messages": 10, "readings": 100, "historical_messages": 1,
                  "historical_readings": 10, "not_good_readings": 0}
        for instance, messages in (("ingest-a", 10), ("ingest-a", 12), ("ingest-b", 5)):
            tags = {**status, "instance": instance}
            store.write_points([Point("gateway_feed", tags, {**counts, "messages": messages},
                                      T0_MS)])
        (before,) = store.points("gateway_status", from_ms=0, to_ms=T0_MS - 1, tags=status,
                                 limit=1)
        inside = store.points("gateway_status", from_ms=T0_MS, to_ms=T0_MS + 3_599_999,
                              tags={"site": "s1"}, limit=1_000_000)
        silent = inside[1].fields["silent_since_ms"]
        assert isinstance(silent, int) and silent == T0_MS + 20 * 60_000
        hours = store.points("gateway_feed", from_ms=T0_MS, to_ms=T0_MS + 3_599_999,
                             tags={"site": "s1"}, limit=1_000_000)
        assert sorted((r.tags["instance"], r.fields["messages"]) for r in hours) == [
            ("ingest-a", 12), ("ingest-b", 5)]
        statuses = [s for s in map(status_of, reversed(inside)) if s is not None]
        feed = gateway_feed("s1", "gw1", before=status_of(before), statuses=statuses,
                            hours=[HourCounts(T0_MS, messages=17)], from_ms=T0_MS,
                            to_ms=T0_MS + 3_600_000)
        assert feed.total.online_rate == pytest.approx(0.95) and feed.total.lost_messages == 3


__all__ = ["T0_MS", "StoreContract", "alarm_point", "pytest", "reading"]
