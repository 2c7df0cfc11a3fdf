"""Feed accounting (hazmon.feeds.accounting), hand-computed cases."""

from __future__ import annotations

from collections.abc import Sequence

import pytest

from hazmon.feeds.accounting import (
    Figures,
    GatewayFeed,
    HourCounts,
    OfflinePeriod,
    Status,
    gateway_feed,
    site_feed,
    transitions,
)

T0 = 1_764_522_000_000  # 2025-11-30T17:00:00Z, on an hour
MIN = 60_000
HOUR = 3_600_000


def account(
    before: Status | None, statuses: list[Status], *, to_ms: int = T0 + 60 * MIN,
    days: Sequence[tuple[int, int]] = (),
) -> GatewayFeed:
    """One gateway's accounting over [T0, to_ms)."""
    return gateway_feed("s1", "gw1", before=before, statuses=statuses, hours=[],
                        from_ms=T0, to_ms=to_ms, days=days)


def test_a_gateway_silent_3_of_60_minutes_is_online_95_percent() -> None:
    feed = account(None, [
        Status(T0, True),                                   # its first message
        Status(T0 + 20 * MIN + 10_000, False, silent_since_ms=T0 + 20 * MIN),  # judged silent
        Status(T0 + 23 * MIN, True),                        # back
    ])
    assert feed.total.online_ms == 57 * MIN
    assert feed.total.offline_ms == 3 * MIN
    assert feed.total.unknown_ms == 0
    assert feed.total.online_rate == pytest.approx(0.95)
    assert feed.offline == [OfflinePeriod("gw1", T0 + 20 * MIN, T0 + 23 * MIN)]
    assert feed.online_at_end is True


def test_a_will_counts_offline_from_its_own_time() -> None:
    feed = account(None, [Status(T0, True), Status(T0 + 30 * MIN, False),
                          Status(T0 + 36 * MIN, True)])
    assert (feed.total.online_ms, feed.total.offline_ms) == (54 * MIN, 6 * MIN)
    assert feed.total.online_rate == pytest.approx(0.9)


def test_a_window_starting_while_offline() -> None:
    feed = account(Status(T0 - 10 * MIN, False), [Status(T0 + 5 * MIN, True)])
    assert (feed.total.offline_ms, feed.total.online_ms) == (5 * MIN, 55 * MIN)
    assert feed.offline == [OfflinePeriod("gw1", T0, T0 + 5 * MIN, began_before=True)]
    assert feed.total.online_rate == pytest.approx(55 / 60)


def test_silence_that_began_before_the_window_counts_from_the_window_start() -> None:
    feed = account(Status(T0 - 30 * MIN, True),
                   [Status(T0 + 10_000, False, silent_since_ms=T0 - 20_000)])
    assert feed.total.offline_ms == 60 * MIN and feed.total.online_rate == 0.0
    (period,) = feed.offline
    assert period.began_before and period.ongoing


def test_an_offline_period_still_open_at_the_window_end() -> None:
    feed = account(None, [Status(T0, True), Status(T0 + 50 * MIN, False)])
    assert feed.offline == [OfflinePeriod("gw1", T0 + 50 * MIN, T0 + 60 * MIN, ongoing=True)]
    assert feed.total.online_rate == pytest.approx(50 / 60)
    assert feed.online_at_end is False


def test_a_window_before_any_status_is_known() -> None:
    later = [Status(T0 + 90 * MIN, True)]
    feed = account(None, later)
    assert feed.total.unknown_ms == 60 * MIN and feed.total.observed_ms == 0
    assert feed.total.online_rate is None and feed.offline == [] and feed.online_at_end is None
    longer = account(None, later, to_ms=T0 + 120 * MIN)
    assert (longer.total.unknown_ms, longer.total.online_ms) == (90 * MIN, 30 * MIN)
    assert longer.total.online_rate == 1.0  # of the time whose state is known


def test_points_after_the_window_change_nothing() -> None:
    feed = account(None, [Status(T0, True), Status(T0 + 70 * MIN, False, lost_messages=9)])
    assert feed.total.online_ms == 60 * MIN and feed.total.lost_messages == 0


def test_lost_messages_are_the_increments_inside_the_window() -> None:
    feed = account(Status(T0 - MIN, True, lost_messages=5), [
        Status(T0 + 10 * MIN, True, lost_messages=7),
        Status(T0 + 20 * MIN, False, lost_messages=7),
        Status(T0 + 30 * MIN, True, lost_messages=10),
    ], days=[(T0, T0 + 15 * MIN), (T0 + 15 * MIN, T0 + 60 * MIN)])
    assert feed.total.lost_messages == 5
    assert [d.lost_messages for d in feed.days] == [2, 3]
    assert [d.offline_ms for d in feed.days] == [0, 10 * MIN]
    first = account(None, [Status(T0 + MIN, True, lost_messages=4)])
    assert first.total.lost_messages == 4  # no status before: counted from 0


def test_hour_counts_fall_in_the_span_their_hour_begins_in() -> None:
    hours = [HourCounts(T0, 3600, 36_000, 10, 100, 7),
             HourCounts(T0 + HOUR, 3600, 36_000, 0, 0, 1),
             HourCounts(T0 + 2 * HOUR, 1, 1, 1, 1, 1)]
    feed = gateway_feed("s1", "gw1", before=None, statuses=[Status(T0, True)], hours=hours,
                        from_ms=T0, to_ms=T0 + 2 * HOUR,
                        days=[(T0, T0 + HOUR), (T0 + HOUR, T0 + 2 * HOUR)])
    assert feed.total.messages == 7200 and feed.total.readings == 72_000
    assert (feed.total.historical_messages, feed.total.historical_readings) == (10, 100)
    assert feed.total.not_good_readings == 8
    assert [d.not_good_readings for d in feed.days] == [7, 1]


def test_a_site_sums_its_gateways_weighted_by_observed_time() -> None:
    full = account(None, [Status(T0, True)])
    gaps = account(None, [Status(T0, True), Status(T0 + 57 * MIN, False)])
    never = account(None, [])
    site = site_feed("s1", [full, gaps, never], from_ms=T0, to_ms=T0 + 60 * MIN)
    assert site.total.online_ms == 117 * MIN and site.total.offline_ms == 3 * MIN
    assert site.total.unknown_ms == 60 * MIN
    assert site.total.online_rate == pytest.approx(117 / 120)
    assert [p.gateway for p in site.offline] == ["gw1"]


def test_status_updates_that_change_nothing_are_not_transitions() -> None:
    changes = transitions(None, [Status(1, True), Status(2, True, 3), Status(5, False, 3,
                                                                            silent_since_ms=1),
                                 Status(9, True)])
    assert changes == [(1, False), (9, True)]  # silent since its first point


def test_figures_add_up() -> None:
    a = Figures(0, 10, online_ms=4, offline_ms=1, lost_messages=2)
    b = Figures(0, 10, online_ms=5, unknown_ms=5, lost_messages=1)
    assert (a + b).online_ms == 9 and (a + b).lost_messages == 3 and (a + b).from_ms == 0
