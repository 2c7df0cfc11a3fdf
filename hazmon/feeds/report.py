"""The monthly feed report of one enterprise (site): its content, pure.

What an auditor hands to the bureau for a month: the feed accounting of the site and
of each gateway (online rate, offline periods, losses, back-fill, readings not good,
per day), the alarms raised by priority, standing and chattering alarms (the figures
of hazmon.alarms.kpi, from the journal), and the bypasses still open at the month's
end: interlocks bypassed without a valid permit (a `bypass` alarm whose condition had
not cleared) and bypass permits in force. `hazmon.feeds.render` writes it as HTML or
CSV; docs/feeds.md describes it.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from hazmon.alarms.kpi import ENDS_ACTIVITY
from hazmon.feeds.accounting import SiteFeed
from hazmon.feeds.calendar import Month

_UNTIL = re.compile(r"until (\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2})Z")


@dataclass(frozen=True, slots=True)
class OpenBypass:
    """An interlock bypassed at the month's end: without a valid permit (`alarm_id` set,
    its `bypass` alarm raised at `since_ms`) or under a permit (`until_ms`, `note`)."""

    sensor: str
    since_ms: int
    alarm_id: str | None = None
    until_ms: int | None = None
    user: str | None = None
    note: str | None = None


@dataclass(frozen=True, slots=True)
class FeedReport:
    site: str
    site_name: str
    month: Month
    from_ms: int
    to_ms: int  # the month's end, or the time of the report for the month in progress
    generated_ms: int
    feed: SiteFeed
    alarms: Mapping[str, Any]  # hazmon.alarms.kpi figures of the site for the month
    unpermitted: list[OpenBypass] = field(default_factory=list)
    permits: list[OpenBypass] = field(default_factory=list)

    @property
    def complete(self) -> bool:
        return self.to_ms >= self.month.to_ms


def _until_ms(note: str | None) -> int | None:
    found = _UNTIL.search(note or "")
    if found is None:
        return None
    moment = datetime.fromisoformat(found.group(1)).replace(tzinfo=UTC)
    return int(moment.timestamp() * 1000)


def _sensor(key: str) -> str:
    parts = key.split("/")
    return parts[1] if len(parts) > 1 else key


def open_bypasses(
    entries: Iterable[Mapping[str, Any]], *, at_ms: int
) -> tuple[list[OpenBypass], list[OpenBypass]]:
    """From a site's journal entries (seq order): the `bypass` alarms whose condition
    was still active at `at_ms`, and the bypass permits in force then."""
    alarms: dict[str, OpenBypass] = {}
    permits: dict[str, OpenBypass] = {}
    for e in entries:
        ts_ms, event, key = int(e["ts_ms"]), str(e["event"]), str(e.get("key") or "")
        if ts_ms > at_ms:
            continue
        alarm_id = e.get("alarm_id")
        if alarm_id is not None and key.endswith("/bypass"):
            if event == "raised":
                alarms.setdefault(alarm_id, OpenBypass(_sensor(key), ts_ms, alarm_id))
            elif event == "cleared" or e.get("to_state") in ENDS_ACTIVITY:
                alarms.pop(alarm_id, None)
        elif alarm_id is None and event == "bypass_permit":
            note = e.get("note")
            permits[key] = OpenBypass(_sensor(key), ts_ms, None, _until_ms(note), e.get("user"),
                                      note)
        elif alarm_id is None and event == "permit_expired":
            permits.pop(key, None)
    in_force = [p for p in permits.values() if p.until_ms is None or p.until_ms > at_ms]
    return (sorted(alarms.values(), key=lambda b: (b.since_ms, b.sensor)),
            sorted(in_force, key=lambda b: (b.since_ms, b.sensor)))


def build(
    *, site: str, site_name: str, month: Month, to_ms: int, generated_ms: int, feed: SiteFeed,
    alarm_figures: Mapping[str, Any], journal: Iterable[Mapping[str, Any]],
) -> FeedReport:
    """The report from its parts: `feed` over [month start, to_ms), the alarm figures of
    the same window, and the site's journal entries up to `to_ms`."""
    unpermitted, permits = open_bypasses(journal, at_ms=to_ms - 1)
    return FeedReport(site, site_name, month, month.from_ms, to_ms, generated_ms, feed,
                      alarm_figures, unpermitted, permits)
