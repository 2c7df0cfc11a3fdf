"""Feed accounting from the store: what the API and `hazmon report feeds` call.

Per site, over [from_ms, to_ms): the site's `gateway_status` points in the window (one
query), each gateway's newest point before it (one query each, `limit=1`) and the
site's `gateway_feed` hours (one query); then `hazmon.feeds.accounting` does the rest.
Calls are blocking (the API runs them in a worker thread).
"""

from __future__ import annotations

import threading
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from hazmon.contract.registry import Site
from hazmon.feeds import calendar
from hazmon.feeds.accounting import (
    COUNTS,
    HourCounts,
    SiteFeed,
    Status,
    gateway_feed,
    site_feed,
)
from hazmon.feeds.report import FeedReport, build
from hazmon.ingest.feeds import MEASUREMENT as FEED
from hazmon.stores.base import Row, Store, StoreError

STATUS = "gateway_status"
MAX_ROWS = 1_000_000  # rows of one series for one site and window
HOUR_MS = 3_600_000
DAY_MS = 24 * HOUR_MS


def _int(fields: Mapping[str, Any], name: str) -> int:
    value = fields.get(name)
    return value if isinstance(value, int) and not isinstance(value, bool) else 0


def status_of(row: Row) -> Status | None:
    online = row.fields.get("online")
    if not isinstance(online, bool):
        return None
    since = row.fields.get("silent_since_ms")
    return Status(row.ts_ms, online, _int(row.fields, "lost_messages"),
                  since if isinstance(since, int) and not isinstance(since, bool) else None)


def _rows(store: Store, measurement: str, site: str, from_ms: int, to_ms: int) -> list[Row]:
    rows = store.points(measurement, from_ms=from_ms, to_ms=to_ms, tags={"site": site},
                        limit=MAX_ROWS)
    if len(rows) >= MAX_ROWS:
        raise StoreError(f"over {MAX_ROWS:,} {measurement} points of {site} in the window: "
                         "ask for a shorter one")
    return rows


def _before(store: Store, site: str, gateway: str, from_ms: int) -> Status | None:
    if from_ms <= 0:
        return None
    rows = store.points(STATUS, from_ms=0, to_ms=from_ms - 1,
                        tags={"site": site, "gateway": gateway}, limit=1)
    return status_of(rows[0]) if rows else None


def _hours(rows: list[Row]) -> dict[str, list[HourCounts]]:
    """Hour counts per gateway, summed over the ingest instances that wrote them."""
    summed: dict[tuple[str, int], dict[str, int]] = defaultdict(lambda: dict.fromkeys(COUNTS, 0))
    for row in rows:
        counts = summed[(row.tags.get("gateway", ""), row.ts_ms)]
        for name in COUNTS:
            counts[name] += _int(row.fields, name)
    out: dict[str, list[HourCounts]] = defaultdict(list)
    for (gateway, hour_ms), counts in sorted(summed.items()):
        out[gateway].append(HourCounts(hour_ms, **counts))
    return out


def account_site(
    store: Store, site: Site, *, from_ms: int, to_ms: int,
    days: list[tuple[int, int]] | None = None,
) -> SiteFeed:
    """The site's feed accounting over [from_ms, to_ms) (and per span of `days`)."""
    spans = days or []
    statuses: dict[str, list[Status]] = defaultdict(list)
    for row in _rows(store, STATUS, site.id, from_ms, to_ms - 1):
        status = status_of(row)
        if status is not None:
            statuses[row.tags.get("gateway", "")].append(status)
    hours = _hours(_rows(store, FEED, site.id, from_ms, to_ms - 1))
    gateways = [
        gateway_feed(
            site.id, g.id, before=_before(store, site.id, g.id, from_ms),
            statuses=sorted(statuses[g.id], key=lambda s: s.ts_ms), hours=hours[g.id],
            from_ms=from_ms, to_ms=to_ms, days=spans,
        )
        for g in site.gateways
    ]
    return site_feed(site.id, gateways, from_ms=from_ms, to_ms=to_ms, days=spans)


def summary(store: Store, site: Site, *, now_ms: int) -> dict[str, Any]:
    """The compact `feed` of a site in `GET /api/v1/sites`: the online rate of the last
    24 h, and `degraded` when a gateway is offline now or lost messages in the last hour."""
    last_hour = (now_ms - HOUR_MS, now_ms)
    feed = account_site(store, site, from_ms=now_ms - DAY_MS, to_ms=now_ms, days=[last_hour])
    offline = [g.gateway for g in feed.gateways if g.online_at_end is False]
    lost_1h = feed.days[0].lost_messages
    return {
        "online_rate_24h": feed.total.online_rate,
        "degraded": bool(offline) or lost_1h > 0,
        "offline_gateways": offline,
        "lost_messages_1h": lost_1h,
    }


class FeedSummaries:
    """`summary` per site, kept for `ttl_s` (the site list is polled often; each
    summary costs a few store queries per gateway)."""

    def __init__(self, *, ttl_s: float = 15.0, clock_s: Callable[[], float]) -> None:
        self.ttl_s = ttl_s
        self._clock_s = clock_s
        self._lock = threading.Lock()
        self._kept: dict[str, tuple[float, dict[str, Any]]] = {}

    def get(self, store: Store, site: Site, *, now_ms: int) -> dict[str, Any]:
        now_s = self._clock_s()
        with self._lock:
            kept = self._kept.get(site.id)
        if kept is not None and now_s - kept[0] < self.ttl_s:
            return kept[1]
        found = summary(store, site, now_ms=now_ms)
        with self._lock:
            self._kept[site.id] = (now_s, found)
        return found


def monthly_report(
    store: Store, site: Site, month: calendar.Month, *, now_ms: int,
    alarm_figures: Mapping[str, Any], journal: Iterable[Mapping[str, Any]],
) -> FeedReport:
    """The month's feed report of a site (up to `now_ms` for the month in progress);
    the caller gives the alarm figures of the same window and the site's journal."""
    to_ms = min(month.to_ms, now_ms)
    feed = account_site(store, site, from_ms=month.from_ms, to_ms=to_ms,
                        days=calendar.days(month.from_ms, to_ms))
    return build(site=site.id, site_name=site.name, month=month, to_ms=to_ms,
                 generated_ms=now_ms, feed=feed, alarm_figures=alarm_figures, journal=journal)


def report_window(month: calendar.Month, now_ms: int) -> tuple[int, int]:
    """[from_ms, to_ms) of a month's report: the month, up to now while it runs."""
    return month.from_ms, min(month.to_ms, now_ms)
