"""The monthly feed report: months and days, open bypasses, reading the store, the
HTML and CSV renderings; and ingest's hourly feed counter."""

from __future__ import annotations

import base64
import csv
import hashlib
import io
import re
from pathlib import Path

import pytest

from hazmon.contract.config import load_registry
from hazmon.contract.registry import Site
from hazmon.feeds import calendar, reading, render
from hazmon.feeds.report import FeedReport, open_bypasses
from hazmon.ingest.feeds import FeedCounter
from hazmon.stores.base import Point
from hazmon.stores.memory import MemoryStore

DEMO_PLANT = Path(__file__).parents[2] / "hazmon" / "demo" / "plant.yaml"
NOW_MS = 1_796_500_000_000  # 2026-12-05, CST
NOV = calendar.parse_month("2026-11", now_ms=NOW_MS)
MIN = 60_000
HOUR = 3_600_000


@pytest.fixture(scope="module")
def site() -> Site:
    found = load_registry(DEMO_PLANT).site("yw-paint-01")
    assert found is not None
    return found


# -- months and days --------------------------------------------------------------------


def test_a_month_runs_from_midnight_cst_on_the_first() -> None:
    assert calendar.utc_text(NOV.from_ms) == "2026-10-31T16:00:00Z"
    assert calendar.utc_text(NOV.to_ms) == "2026-11-30T16:00:00Z"
    days = calendar.days(NOV.from_ms, NOV.to_ms)
    assert len(days) == 30 and days[0] == (NOV.from_ms, NOV.from_ms + 86_400_000)
    assert calendar.local_date(days[-1][0]) == "2026-11-30"
    dec = calendar.parse_month("2026-12", now_ms=NOW_MS)
    assert calendar.utc_text(dec.to_ms) == "2026-12-31T16:00:00Z"  # a year's turn


def test_days_are_cut_to_the_window() -> None:
    start = NOV.from_ms + 10 * HOUR
    assert calendar.days(start, start + 20 * HOUR) == [
        (start, NOV.from_ms + 24 * HOUR), (NOV.from_ms + 24 * HOUR, start + 20 * HOUR)]


@pytest.mark.parametrize("text", ["2026-13", "2026-1", "26-11", "2026-11-01", "", "abcd-ef",
                                  "2026-00"])
def test_a_malformed_month_is_refused(text: str) -> None:
    with pytest.raises(calendar.BadMonth, match="expected YYYY-MM"):
        calendar.parse_month(text, now_ms=NOW_MS)


def test_a_month_not_yet_begun_is_refused() -> None:
    with pytest.raises(calendar.BadMonth, match="not begun"):
        calendar.parse_month("2027-01", now_ms=NOW_MS)
    assert calendar.parse_month("2026-12", now_ms=NOW_MS).name == "2026-12"  # in progress


# -- bypasses open at the month's end -----------------------------------------------------


def entry(ts_ms: int, event: str, key: str, alarm_id: str | None = None,
          to_state: str | None = None, note: str | None = None) -> dict[str, object]:
    return {"ts_ms": ts_ms, "event": event, "key": key, "alarm_id": alarm_id,
            "to_state": to_state, "note": note, "user": "li.na", "site": "s1"}


def test_open_bypasses_at_the_month_end() -> None:
    end = NOV.to_ms - 1
    entries = [
        entry(NOV.from_ms, "raised", "s1/ESD-01/bypass", "s1/ESD-01/bypass#1", "unack"),
        entry(NOV.from_ms + HOUR, "raised", "s1/ESD-02/bypass", "s1/ESD-02/bypass#1", "unack"),
        entry(NOV.from_ms + 2 * HOUR, "cleared", "s1/ESD-02/bypass", "s1/ESD-02/bypass#1",
              "rtn_unack"),
        entry(NOV.from_ms + 3 * HOUR, "raised", "s1/GT-1/high", "s1/GT-1/high#1", "unack"),
        entry(end - HOUR, "bypass_permit", "s1/ESD-03",
              note="until 2026-12-01T04:00:00Z; approved by wu; reason: proof test; ..."),
        entry(end - 2 * HOUR, "bypass_permit", "s1/ESD-04",
              note="until 2026-11-30T10:00:00Z; approved by wu"),  # ended before the end
        entry(NOV.from_ms, "bypass_permit", "s1/ESD-05", note="until 2026-12-02T00:00:00Z"),
        entry(NOV.from_ms + HOUR, "permit_expired", "s1/ESD-05"),
        entry(end + 1, "raised", "s1/ESD-06/bypass", "s1/ESD-06/bypass#1", "unack"),  # after
    ]
    unpermitted, permits = open_bypasses(entries, at_ms=end)
    assert [(b.sensor, b.alarm_id) for b in unpermitted] == [("ESD-01", "s1/ESD-01/bypass#1")]
    assert [(p.sensor, p.user) for p in permits] == [("ESD-03", "li.na")]
    assert permits[0].until_ms is not None
    assert calendar.utc_text(permits[0].until_ms) == "2026-12-01T04:00:00Z"


# -- from the store ---------------------------------------------------------------------------


def status(site: str, gateway: str, ts_ms: int, online: bool, lost: int = 0,
           since: int | None = None) -> Point:
    fields: dict[str, bool | int | None] = {"online": online, "lost_messages": lost,
                                            "silent_since_ms": since}
    return Point("gateway_status", {"site": site, "gateway": gateway}, fields, ts_ms)


def feed_point(site: str, gateway: str, hour_ms: int, instance: str, **counts: int) -> Point:
    tags = {"site": site, "gateway": gateway, "instance": instance}
    return Point("gateway_feed", tags, dict(counts), hour_ms)


def test_a_site_is_accounted_from_what_ingest_wrote(site: Site) -> None:
    """yw-paint-01's gw-spray silent 3 of the last 60 minutes of November, two ingest
    instances sharing its counts; gw-polish online; gw-power never heard of."""
    store = MemoryStore()
    t0 = NOV.to_ms - HOUR
    store.write_points([
        status(site.id, "gw-spray", t0 - 5 * HOUR, True, lost=2),
        status(site.id, "gw-spray", t0 + 20 * MIN + 30_000, False, lost=2, since=t0 + 20 * MIN),
        status(site.id, "gw-spray", t0 + 23 * MIN, True, lost=6),
        status(site.id, "gw-polish", t0 - HOUR, True),
        status("other-site", "gw-spray", t0 + 30 * MIN, False),
        feed_point(site.id, "gw-spray", t0, "ingest-a", messages=100, readings=500,
                   historical_messages=4, historical_readings=20, not_good_readings=3),
        feed_point(site.id, "gw-spray", t0, "ingest-b", messages=50, readings=250,
                   not_good_readings=1),
        feed_point(site.id, "gw-spray", t0 - HOUR, "ingest-a", messages=7),  # before
    ])
    feed = reading.account_site(store, site, from_ms=t0, to_ms=NOV.to_ms)
    spray, polish, power = feed.gateways
    assert spray.total.online_rate == pytest.approx(0.95)
    assert (spray.total.lost_messages, spray.total.messages, spray.total.readings) == (4, 150, 750)
    assert (spray.total.historical_messages, spray.total.not_good_readings) == (4, 4)
    assert polish.total.online_rate == 1.0
    assert power.total.online_rate is None and power.total.unknown_ms == HOUR
    assert feed.total.online_rate == pytest.approx(117 / 120)
    month = reading.account_site(store, site, from_ms=NOV.from_ms, to_ms=NOV.to_ms,
                                 days=calendar.days(NOV.from_ms, NOV.to_ms))
    assert month.gateways[0].total.messages == 157
    # the first status ever (lost 2, that evening) counts from 0: 2 + 4 on the last day
    assert month.days[-1].lost_messages == 6 and month.days[0].observed_ms == 0


def test_the_compact_feed_of_a_site(site: Site) -> None:
    store = MemoryStore()
    now = NOV.to_ms
    store.write_points([status(site.id, "gw-spray", now - 2 * HOUR, True),
                        status(site.id, "gw-polish", now - 2 * HOUR, True),
                        status(site.id, "gw-power", now - 2 * HOUR, True)])
    calm = reading.summary(store, site, now_ms=now)
    assert calm == {"online_rate_24h": 1.0, "degraded": False, "offline_gateways": [],
                    "lost_messages_1h": 0}
    store.write_points([status(site.id, "gw-polish", now - 30 * MIN, True, lost=3)])
    assert reading.summary(store, site, now_ms=now)["degraded"] is True
    store.write_points([status(site.id, "gw-power", now - 1 * HOUR, False)])
    cut = reading.summary(store, site, now_ms=now + HOUR)
    assert cut["offline_gateways"] == ["gw-power"] and cut["degraded"] is True
    assert cut["online_rate_24h"] == pytest.approx((3 * 3 - 2) / 9)


def test_summaries_are_kept_for_their_ttl(site: Site) -> None:
    clock = [0.0]
    store = MemoryStore()
    kept = reading.FeedSummaries(ttl_s=10.0, clock_s=lambda: clock[0])
    first = kept.get(store, site, now_ms=NOV.to_ms)
    store.write_points([status(site.id, "gw-spray", NOV.to_ms - HOUR, False)])
    assert kept.get(store, site, now_ms=NOV.to_ms) is first
    clock[0] = 10.0
    assert kept.get(store, site, now_ms=NOV.to_ms)["offline_gateways"] == ["gw-spray"]


# -- rendering ------------------------------------------------------------------------------


@pytest.fixture
def report(site: Site) -> FeedReport:
    store = MemoryStore()
    t0 = NOV.to_ms - HOUR
    store.write_points([
        status(site.id, "gw-spray", t0, True),
        status(site.id, "gw-spray", t0 + 20 * MIN + 30_000, False, since=t0 + 20 * MIN),
        status(site.id, "gw-spray", t0 + 23 * MIN, True, lost=5),
        feed_point(site.id, "gw-spray", t0, "i", messages=360, readings=3600,
                   historical_messages=2, historical_readings=20, not_good_readings=9),
    ])
    figures = {"raised": 4, "priorities": {"critical": {"raised": 1, "share": 0.25},
                                           "high": {"raised": 3, "share": 0.75}},
               "standing": [{"alarm_id": "yw-paint-01/LT-1/high#2", "key": "k",
                             "raised_ms": NOV.from_ms, "active_ms": 30 * HOUR}],
               "chattering": [{"key": "=cmd|' /C calc'!A0", "raises_in_60s": 4, "raised": 9}]}
    journal = [entry(NOV.from_ms, "raised", "yw-paint-01/ESD-1/bypass",
                     "yw-paint-01/ESD-1/bypass#1", "unack")]
    return reading.monthly_report(store, site, NOV, now_ms=NOW_MS, alarm_figures=figures,
                                  journal=journal)


def test_the_html_report_is_self_contained_and_printable(report: FeedReport) -> None:
    page = render.html(report)
    assert page.startswith("<!DOCTYPE html>") and '<html lang="zh-CN">' in page
    assert "重大危险源监测数据接入月报" in page and "2026-11" in page
    assert "95.00%" in page  # gw-spray over the hour it was known
    assert "2026-11-30 23:20:00" in page and "2026-11-30 23:23:00" in page  # its gap, CST
    assert "<script" not in page and not re.search(r"(src|href)=", page)
    assert "http://" not in page and "https://" not in page
    assert "@media print" in page and "@page" in page
    assert "yw-paint-01/ESD-1/bypass#1" in page  # bypassed at the month's end
    assert "&#x27;" in page or "=cmd" in page  # the chattering key is escaped text
    style = re.search(r"<style>(.*?)</style>", page, re.S)
    assert style is not None
    digest = base64.b64encode(hashlib.sha256(style.group(1).encode()).digest()).decode()
    assert f"'sha256-{digest}'" in render.CSP  # the inline style is allowed by its hash


def test_the_english_report(report: FeedReport) -> None:
    page = render.html(report, "en")
    assert '<html lang="en">' in page and "Monthly feed report" in page
    assert "Offline periods" in page and "重大" not in page


def test_the_csv_report_has_every_section_with_numbers(report: FeedReport) -> None:
    text = render.csv_text(report, "en")
    assert text.startswith("\ufeff")
    rows = list(csv.reader(io.StringIO(text[1:])))
    titles = [r[0] for r in rows if len(r) == 1]
    assert "1. Feed summary" in titles and "3. Offline periods" in titles
    gateways = rows[rows.index(["2. Gateways"]) + 2]
    assert gateways[:2] == ["gw-spray", "95.0"] and gateways[4] == "5"
    summary = {r[0]: r[1] for r in rows if len(r) == 2}
    assert summary["Online rate"] == "95.00%"  # only gw-spray is known
    assert summary["Time with no state known"] == "89 d 23 h 0 min"  # 3 x 30 d less 1 h
    assert summary["Back-filled messages"] == "2" and summary["Messages lost"] == "5"
    chattering = rows[rows.index(["Chattering alarms (3 or more raises in 60 s)"]) + 2]
    assert chattering[0].startswith("'=")  # a formula is not run by a spreadsheet
    assert any("2026-11-30 23:20:00" in r for r in rows)
    zh = render.csv_text(report)
    assert "在线率" in zh


def test_durations_read_as_people_write_them() -> None:
    assert render.duration(3 * MIN, "zh") == "3分"
    assert render.duration(2 * 86_400_000 + 3 * HOUR + 5 * MIN, "en") == "2 d 3 h 5 min"
    assert render.duration(HOUR, "zh") == "1小时0分"


# -- ingest's counter ------------------------------------------------------------------------


def test_the_counter_keeps_hours_and_forgets_the_past_once_written() -> None:
    counter = FeedCounter()
    t = NOV.to_ms - HOUR  # on an hour
    counter.count("s", "g", t + 1, readings=10, historical=False, not_good=2)
    counter.count("s", "g", t + 2, readings=5, historical=True, not_good=0)
    (point,) = counter.points(instance="i", now_ms=t + 3)
    assert point.ts_ms == t and point.tags == {"site": "s", "gateway": "g", "instance": "i"}
    assert point.fields == {"messages": 2, "readings": 15, "historical_messages": 1,
                            "historical_readings": 5, "not_good_readings": 2}
    assert counter.points(instance="i", now_ms=t + 4) == []  # nothing new
    counter.count("s", "g", t + HOUR, readings=1, historical=False, not_good=0)
    (later,) = counter.points(instance="i", now_ms=t + HOUR)
    assert later.ts_ms == t + HOUR and later.fields["messages"] == 1
    counter.seed("s", "g", t + HOUR, {"messages": 40, "readings": 400, "online": True})
    (seeded,) = counter.points(instance="i", now_ms=t + HOUR + 1)
    assert (seeded.fields["messages"], seeded.fields["readings"]) == (41, 401)
