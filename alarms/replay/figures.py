"""The arithmetic of a replay's report, from the events each registry gave.

Definitions (docs/alarms.md, "What-if replay"):

- an **episode** of an alarm point runs from its `raised` to its `cleared` (or to its
  hiding by maintenance, `suppressed`); one still active at the range's end runs to
  the end (`end_ms` None);
- **operator**: one console position per site (hazmon shows each site's alarms on one
  console), so alarms per operator per 10 minutes is a site's `raised` × 10 min over
  the range (`mean`, EEMUA 191's target being at most 1) and the most in any
  10 minutes (`peak`); the total's figure is the mean over sites;
- **flood**: more than 10 raises in the trailing 10 minutes starts one, fewer than 5
  ends it (hazmon.alarms.kpi.floods, as `hazmon kpi`);
- **chattering** point: 3 or more raises within any 60 s;
- **fleeting** alarm: an episode cleared less than 30 s after it was raised;
- **standing** alarm: an episode active over 24 h, or active through the whole range
  (raised in its first 10 minutes, still active at its end);
- **time in alarm**: the episodes' durations summed;
- a crossing of the current registry (one of its episodes) is **missed** by the
  proposal when the proposal has no episode of the same point active at its start
  or raised before it ends, and **delayed** when the proposal's first such episode
  is raised after it started (by that much).
"""

from __future__ import annotations

from bisect import bisect_right
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from statistics import median
from typing import Any

from hazmon.alarms.core import Event
from hazmon.alarms.kpi import CHATTER_MS, CHATTER_RAISES, STANDING_MS, TEN_MIN_MS, floods
from hazmon.alarms.kpi import sliding_peak as _sliding_peak

FLEETING_MS = 30_000
THROUGH_START_MS = TEN_MIN_MS  # raised this soon after the start: there from the start
LISTED = 100  # crossings missed or delayed listed one by one (all are counted)


@dataclass(frozen=True, slots=True)
class Episode:
    key: str
    site: str
    sensor: str
    condition: str
    priority: str
    raised_ms: int
    end_ms: int | None  # None: still active at the range's end
    value: float | str | None  # the value that raised it

    def until(self, to_ms: int) -> int:
        return self.end_ms if self.end_ms is not None else to_ms


def episodes(events: Iterable[Event]) -> list[Episode]:
    """The episodes of a replay's events (in time order per point), by raise time."""
    open_: dict[str, Event] = {}
    found: list[Episode] = []
    for e in events:
        if e.event == "raised":
            open_.setdefault(e.key, e)
        elif e.event in ("cleared", "suppressed") and e.key in open_:
            found.append(_episode(open_.pop(e.key), e.ts_ms))
    found += [_episode(e, None) for e in open_.values()]
    return sorted(found, key=lambda x: (x.raised_ms, x.key))


def _episode(raised: Event, end_ms: int | None) -> Episode:
    return Episode(raised.key, raised.site, raised.sensor, raised.condition, raised.priority,
                   raised.ts_ms, end_ms, raised.value)


def sliding_peak(times_ms: list[int], span_ms: int) -> int:
    return _sliding_peak(times_ms, span_ms) if times_ms else 0


def fleeting(ep: Episode) -> bool:
    return ep.end_ms is not None and ep.end_ms - ep.raised_ms < FLEETING_MS


def standing(ep: Episode, from_ms: int, to_ms: int) -> bool:
    if ep.until(to_ms) - ep.raised_ms > STANDING_MS:
        return True
    return ep.end_ms is None and ep.raised_ms < from_ms + THROUGH_START_MS


def chattering_keys(eps: Sequence[Episode]) -> dict[str, int]:
    """Keys with CHATTER_RAISES or more raises in CHATTER_MS: the most in any such span."""
    by_key: dict[str, list[int]] = defaultdict(list)
    for ep in eps:
        by_key[ep.key].append(ep.raised_ms)
    peaks = {k: sliding_peak(sorted(t), CHATTER_MS) for k, t in by_key.items()}
    return {k: n for k, n in sorted(peaks.items()) if n >= CHATTER_RAISES}


def group_figures(eps: Sequence[Episode], *, from_ms: int, to_ms: int) -> dict[str, Any]:
    """Figures of one group of episodes (a sensor's, a site's)."""
    times = sorted(ep.raised_ms for ep in eps)
    window_ms = max(to_ms - from_ms, 1)
    flood_periods = floods(times, to_ms)
    chatter = chattering_keys(eps)
    return {
        "raised": len(times),
        "per_10min": {"mean": len(times) * TEN_MIN_MS / window_ms,
                      "peak": sliding_peak(times, TEN_MIN_MS)},
        "floods": {"count": len(flood_periods),
                   "time_ms": sum(f["end_ms"] - f["start_ms"] for f in flood_periods),
                   "periods": flood_periods},
        "chattering": {"points": len(chatter),
                       "raised": sum(1 for ep in eps if ep.key in chatter)},
        "fleeting": sum(1 for ep in eps if fleeting(ep)),
        "standing": sum(1 for ep in eps if standing(ep, from_ms, to_ms)),
        "time_in_alarm_ms": sum(ep.until(to_ms) - ep.raised_ms for ep in eps),
    }


def sensor_figures(eps: Sequence[Episode], *, from_ms: int, to_ms: int) -> dict[str, Any]:
    chatter = chattering_keys(eps)
    return {
        "raised": len(eps),
        "chattering": bool(chatter),
        "fleeting": sum(1 for ep in eps if fleeting(ep)),
        "standing": sum(1 for ep in eps if standing(ep, from_ms, to_ms)),
        "time_in_alarm_ms": sum(ep.until(to_ms) - ep.raised_ms for ep in eps),
    }


def registry_figures(
    eps: Sequence[Episode], sites: Iterable[str], *, from_ms: int, to_ms: int
) -> dict[str, Any]:
    """Per site, per sensor (`site/sensor`, those with an alarm) and in total."""
    by_site: dict[str, list[Episode]] = {s: [] for s in sites}
    by_sensor: dict[str, list[Episode]] = defaultdict(list)
    for ep in eps:
        by_site.setdefault(ep.site, []).append(ep)
        by_sensor[f"{ep.site}/{ep.sensor}"].append(ep)
    site_figs = {s: group_figures(e, from_ms=from_ms, to_ms=to_ms)
                 for s, e in sorted(by_site.items())}
    total = group_figures(eps, from_ms=from_ms, to_ms=to_ms)
    means = [f["per_10min"]["mean"] for f in site_figs.values()]
    total["per_10min"]["mean_per_operator"] = sum(means) / len(means) if means else 0.0
    total["per_10min"]["peak_per_operator"] = max(
        (f["per_10min"]["peak"] for f in site_figs.values()), default=0)
    return {
        "total": total,
        "sites": site_figs,
        "sensors": {s: sensor_figures(e, from_ms=from_ms, to_ms=to_ms)
                    for s, e in sorted(by_sensor.items())},
    }


def crossing_outcome(ep: Episode, proposed: Sequence[Episode], starts: list[int],
                     to_ms: int) -> int | None:
    """How late the proposal raises the point of `ep` (0: on time), None: never within
    `ep`. `proposed` are the proposal's episodes of the same point by raise time,
    `starts` their raise times."""
    end = ep.until(to_ms)
    i = bisect_right(starts, ep.raised_ms)
    if i > 0 and proposed[i - 1].until(to_ms) > ep.raised_ms:
        return 0  # active at the crossing (or raised at the same millisecond)
    if i > 0 and starts[i - 1] == ep.raised_ms:
        return 0
    if i < len(starts) and starts[i] <= end:
        return starts[i] - ep.raised_ms
    return None


def safety_cost(current: Sequence[Episode], proposed: Sequence[Episode], *,
                to_ms: int) -> dict[str, Any]:
    """The current registry's crossings the proposal misses or raises late."""
    by_key: dict[str, list[Episode]] = defaultdict(list)
    for ep in proposed:
        by_key[ep.key].append(ep)
    starts = {k: [ep.raised_ms for ep in v] for k, v in by_key.items()}
    missed: list[Episode] = []
    delayed: list[tuple[Episode, int]] = []
    for ep in current:
        late = crossing_outcome(ep, by_key.get(ep.key, []), starts.get(ep.key, []), to_ms)
        if late is None:
            missed.append(ep)
        elif late > 0:
            delayed.append((ep, late))
    return _cost_doc(current, missed, delayed)


def _cost_doc(current: Sequence[Episode], missed: list[Episode],
              delayed: list[tuple[Episode, int]]) -> dict[str, Any]:
    delays = [d for _, d in delayed]
    by_site: dict[str, dict[str, int]] = defaultdict(lambda: {"missed": 0, "delayed": 0})
    by_sensor: dict[str, dict[str, int]] = defaultdict(lambda: {"missed": 0, "delayed": 0})
    for ep in missed:
        by_site[ep.site]["missed"] += 1
        by_sensor[f"{ep.site}/{ep.sensor}"]["missed"] += 1
    for ep, _ in delayed:
        by_site[ep.site]["delayed"] += 1
        by_sensor[f"{ep.site}/{ep.sensor}"]["delayed"] += 1
    listed = sorted([(ep, None) for ep in missed] + [(ep, d) for ep, d in delayed],
                    key=lambda x: (x[0].raised_ms, x[0].key))
    return {
        "crossings": len(current),
        "missed": len(missed),
        "missed_critical": sum(1 for ep in missed if ep.priority == "critical"),
        "delayed": len(delayed),
        "delay_ms": {"max": max(delays, default=0),
                     "median": int(median(delays)) if delays else 0,
                     "total": sum(delays)},
        "sites": dict(sorted(by_site.items())),
        "sensors": dict(sorted(by_sensor.items())),
        "listed": [_crossing_doc(ep, d) for ep, d in listed[:LISTED]],
    }


def _crossing_doc(ep: Episode, delay_ms: int | None) -> dict[str, Any]:
    return {"key": ep.key, "priority": ep.priority, "raised_ms": ep.raised_ms,
            "value": ep.value, "outcome": "missed" if delay_ms is None else "delayed",
            "delay_ms": delay_ms}


def compare(
    current: Iterable[Event], proposed: Iterable[Event], *, sites: Iterable[str],
    from_ms: int, to_ms: int,
) -> dict[str, Any]:
    """The report: each registry's figures and the proposal's safety cost."""
    cur, pro = episodes(current), episodes(proposed)
    names = sorted(set(sites))
    return {
        "from_ms": from_ms,
        "to_ms": to_ms,
        "current": registry_figures(cur, names, from_ms=from_ms, to_ms=to_ms),
        "proposed": registry_figures(pro, names, from_ms=from_ms, to_ms=to_ms),
        "safety": safety_cost(cur, pro, to_ms=to_ms),
    }
