"""Feed accounting of gateways and sites over a window: pure (no I/O, no clock).

Inputs are what ingest keeps in the store (docs/contract.md §5, docs/feeds.md):

- `Status`: the `gateway_status` points of one gateway, oldest first, plus the newest
  one before the window (`before`), which says the state the window starts in;
- `HourCounts`: its `gateway_feed` points (one per hour of arrival, summed over
  ingest instances).

The window is half-open, [from_ms, to_ms). A gateway's state holds from one status
point to the next; an `online: false` point written for silence holds from its
`silent_since_ms` (the last arrival), so a gateway silent for 3 minutes is offline
for 3 minutes, not for 3 minutes less the delay before silence was judged. Before the
first status point ever, the state is unknown: that time is neither online nor
offline, and the online rate is online time over the time whose state is known
(`observed_ms`); with none known, the rate is None.

Messages lost are the increments of the cumulative `lost_messages` of the status
points inside the window (the first increment measured from `before`, or from 0 when
the gateway had no status before). Counts of messages, readings, back-filled
(`historical`) ones and readings of a quality other than good come from the hours
that begin inside the window (or the day).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, fields, replace

COUNTS = ("messages", "readings", "historical_messages", "historical_readings",
          "not_good_readings")


@dataclass(frozen=True, slots=True)
class Status:
    """One `gateway_status` point."""

    ts_ms: int
    online: bool
    lost_messages: int = 0
    silent_since_ms: int | None = None


@dataclass(frozen=True, slots=True)
class HourCounts:
    """One hour's `gateway_feed` counts (of all ingest instances)."""

    hour_ms: int
    messages: int = 0
    readings: int = 0
    historical_messages: int = 0
    historical_readings: int = 0
    not_good_readings: int = 0


@dataclass(frozen=True, slots=True)
class OfflinePeriod:
    """A time a gateway was offline, cut to the window: `began_before` when it was
    offline already at the window's start, `ongoing` when still offline at its end."""

    gateway: str
    start_ms: int
    end_ms: int
    began_before: bool = False
    ongoing: bool = False

    @property
    def duration_ms(self) -> int:
        return self.end_ms - self.start_ms


@dataclass(frozen=True, slots=True)
class Figures:
    """The accounting of one span (a window, a day) for a gateway or a site."""

    from_ms: int
    to_ms: int
    online_ms: int = 0
    offline_ms: int = 0
    unknown_ms: int = 0
    lost_messages: int = 0
    messages: int = 0
    readings: int = 0
    historical_messages: int = 0
    historical_readings: int = 0
    not_good_readings: int = 0

    @property
    def observed_ms(self) -> int:
        return self.online_ms + self.offline_ms

    @property
    def online_rate(self) -> float | None:
        """Online time over the time whose state is known; None when none is."""
        return self.online_ms / self.observed_ms if self.observed_ms else None

    def __add__(self, other: Figures) -> Figures:
        summed = {f.name: getattr(self, f.name) + getattr(other, f.name) for f in fields(self)
                  if f.name not in ("from_ms", "to_ms")}
        return replace(self, **summed)


@dataclass(frozen=True, slots=True)
class GatewayFeed:
    site: str
    gateway: str
    total: Figures
    days: list[Figures] = field(default_factory=list)
    offline: list[OfflinePeriod] = field(default_factory=list)
    online_at_end: bool | None = None  # the state at the window's end (None: unknown)


@dataclass(frozen=True, slots=True)
class SiteFeed:
    site: str
    total: Figures
    days: list[Figures]
    gateways: list[GatewayFeed]

    @property
    def offline(self) -> list[OfflinePeriod]:
        periods = [p for g in self.gateways for p in g.offline]
        return sorted(periods, key=lambda p: (p.start_ms, p.gateway))


Transition = tuple[int, bool]  # from this time on, online or not
Piece = tuple[int, int, bool | None]  # [start, end): online, offline or unknown (None)


def transitions(before: Status | None, statuses: Sequence[Status]) -> list[Transition]:
    """When the state changed, oldest first: each point's time, or for a silence
    point the time the silence began (never before the previous change)."""
    out: list[Transition] = []
    for point in ([before] if before is not None else []) + list(statuses):
        at = point.ts_ms
        if not point.online and point.silent_since_ms is not None:
            at = min(at, point.silent_since_ms)
            if out:
                at = max(at, out[-1][0])
        if out and out[-1][1] == point.online:
            continue  # no change (a lost-count update)
        if out and out[-1][0] == at:
            out[-1] = (at, point.online)
        else:
            out.append((at, point.online))
    return out


def _segments(changes: list[Transition], from_ms: int, to_ms: int) -> list[Piece]:
    """The pieces covering [from_ms, to_ms)."""
    pieces: list[Piece] = []
    state: bool | None = None
    cursor = from_ms
    for at, online in changes:
        if at > cursor:
            end = min(at, to_ms)
            if end > cursor:
                pieces.append((cursor, end, state))
            cursor = max(cursor, end)
        state = online
        if cursor >= to_ms:
            break
    if cursor < to_ms:
        pieces.append((cursor, to_ms, state))
    return pieces


def _times(pieces: Iterable[Piece]) -> dict[str, int]:
    out = {"online_ms": 0, "offline_ms": 0, "unknown_ms": 0}
    for start, end, state in pieces:
        name = "unknown_ms" if state is None else "online_ms" if state else "offline_ms"
        out[name] += end - start
    return out


def offline_periods(
    gateway: str, changes: list[Transition], from_ms: int, to_ms: int
) -> list[OfflinePeriod]:
    """The offline runs inside the window (merged across adjacent pieces)."""
    periods: list[OfflinePeriod] = []
    for start, end, state in _segments(changes, from_ms, to_ms):
        if state is not False:
            continue
        if periods and periods[-1].end_ms == start:
            start = periods.pop().start_ms
        periods.append(OfflinePeriod(gateway, start, end))
    return [
        replace(p, began_before=p.start_ms == from_ms and _offline_at(changes, from_ms - 1),
                ongoing=p.end_ms == to_ms)
        for p in periods
    ]


def _offline_at(changes: list[Transition], at_ms: int) -> bool:
    state: bool | None = None
    for when, online in changes:
        if when > at_ms:
            break
        state = online
    return state is False


def losses(before: Status | None, statuses: Sequence[Status]) -> list[tuple[int, int]]:
    """(ts_ms, messages newly lost) at each status point that counted some."""
    previous = before.lost_messages if before is not None else 0
    found = []
    for point in statuses:
        if point.lost_messages > previous:
            found.append((point.ts_ms, point.lost_messages - previous))
        previous = max(previous, point.lost_messages)
    return found


def _span(
    changes: list[Transition], lost: list[tuple[int, int]], hours: Sequence[HourCounts],
    from_ms: int, to_ms: int,
) -> Figures:
    counts = dict.fromkeys(COUNTS, 0)
    for hour in hours:
        if from_ms <= hour.hour_ms < to_ms:
            for name in COUNTS:
                counts[name] += getattr(hour, name)
    lost_messages = sum(n for ts_ms, n in lost if from_ms <= ts_ms < to_ms)
    return Figures(from_ms, to_ms, **_times(_segments(changes, from_ms, to_ms)),
                   lost_messages=lost_messages, **counts)


def gateway_feed(
    site: str,
    gateway: str,
    *,
    before: Status | None,
    statuses: Sequence[Status],
    hours: Sequence[HourCounts],
    from_ms: int,
    to_ms: int,
    days: Sequence[tuple[int, int]] = (),
) -> GatewayFeed:
    """One gateway's accounting over [from_ms, to_ms), and over each of `days`
    ((start, end) spans inside the window)."""
    statuses = sorted((s for s in statuses if s.ts_ms < to_ms), key=lambda s: s.ts_ms)
    changes = transitions(before, statuses)
    lost = losses(before, statuses)
    state = _segments(changes, from_ms, to_ms)
    return GatewayFeed(
        site,
        gateway,
        _span(changes, lost, hours, from_ms, to_ms),
        [_span(changes, lost, hours, start, end) for start, end in days],
        offline_periods(gateway, changes, from_ms, to_ms),
        state[-1][2] if state else None,
    )


def site_feed(
    site: str, gateways: Sequence[GatewayFeed], *, from_ms: int, to_ms: int,
    days: Sequence[tuple[int, int]] = (),
) -> SiteFeed:
    """A site's figures: its gateways' times and counts summed (so its online rate is
    weighted by each gateway's observed time)."""
    total = Figures(from_ms, to_ms)
    for g in gateways:
        total = total + g.total
    per_day = []
    for i, (start, end) in enumerate(days):
        day = Figures(start, end)
        for g in gateways:
            day = day + g.days[i]
        per_day.append(day)
    return SiteFeed(site, total, per_day, list(gateways))


def figures_doc(f: Figures) -> dict[str, int | float | None]:
    """A span's figures as JSON (the API's and the report's shape)."""
    return {
        "from_ms": f.from_ms, "to_ms": f.to_ms, "online_ms": f.online_ms,
        "offline_ms": f.offline_ms, "unknown_ms": f.unknown_ms, "observed_ms": f.observed_ms,
        "online_rate": f.online_rate, "lost_messages": f.lost_messages,
        "messages": f.messages, "readings": f.readings,
        "historical_messages": f.historical_messages,
        "historical_readings": f.historical_readings,
        "not_good_readings": f.not_good_readings,
    }


def period_doc(p: OfflinePeriod) -> dict[str, int | bool | str]:
    return {"gateway": p.gateway, "start_ms": p.start_ms, "end_ms": p.end_ms,
            "duration_ms": p.duration_ms, "began_before": p.began_before, "ongoing": p.ongoing}
