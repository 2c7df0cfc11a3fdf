"""Alarm-system health figures (EEMUA 191 / ISA-18.2, docs/alarms.md, "Alarm-system figures"), from
the journal, for a time window, per site and in total.

- raises per 10 minutes: `mean` over the window, `peak` = the most raises inside any
  10-minute span (sliding);
- floods: a flood starts when more than 10 raises fall in the trailing 10 minutes and
  ends when fewer than 5 do; `time_ms` and `share` of the window; a flood still on at
  the window's end is `ongoing`;
- chattering points: keys with 3 or more raises inside any 60 s;
- standing alarms: occurrences whose condition stayed active (raised, not yet
  cleared, not hidden nor ended) for over 24 h within the window;
- bad actors: the ten keys that raised most, with their share of all raises;
- priorities: raises and share per priority;
- `unrationalized(registry)`: the high and critical alarms of the registry without a
  rationalization record (docs/alarms.md, "The rationalization record").
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping
from typing import Any

from hazmon.contract.matrix import rated_conditions
from hazmon.contract.registry import Registry

TEN_MIN_MS = 600_000
CHATTER_MS = 60_000
CHATTER_RAISES = 3
FLOOD_START = 10  # more than this many raises in 10 min starts a flood
FLOOD_END = 5  # fewer than this many ends it
STANDING_MS = 24 * 3_600_000
ENDS_ACTIVITY = frozenset({"normal", "shelved", "suppressed", "out_of_service"})
PRIORITIES = ("critical", "high", "medium")


def sliding_peak(times_ms: list[int], span_ms: int) -> int:
    """The most events inside any span (t - span, t] (times sorted)."""
    peak, start = 0, 0
    for end, t in enumerate(times_ms):
        while times_ms[start] <= t - span_ms:
            start += 1
        peak = max(peak, end - start + 1)
    return peak


def floods(times_ms: list[int], to_ms: int) -> list[dict[str, Any]]:
    """Flood periods over sorted raise times (trailing 10-minute count)."""
    changes = sorted([(t + TEN_MIN_MS, 0) for t in times_ms] + [(t, 1) for t in times_ms])
    found: list[dict[str, Any]] = []
    count, start_ms, raised = 0, None, 0
    for t, entering in changes:
        if t > to_ms:
            break
        count += 1 if entering else -1
        if start_ms is None and count > FLOOD_START:
            start_ms, raised = t, count
        elif start_ms is not None:
            raised += entering
            if count < FLOOD_END:
                found.append({"start_ms": start_ms, "end_ms": t, "raised": raised,
                              "ongoing": False})
                start_ms = None
    if start_ms is not None:
        found.append({"start_ms": start_ms, "end_ms": to_ms, "raised": raised, "ongoing": True})
    return found


def _standing(intervals: list[tuple[str, str, int, int]], from_ms: int) -> list[dict[str, Any]]:
    found = []
    for alarm_id, key, start_ms, end_ms in intervals:
        if end_ms - start_ms > STANDING_MS and end_ms >= from_ms:
            found.append({"alarm_id": alarm_id, "key": key, "raised_ms": start_ms,
                          "active_ms": end_ms - start_ms})
    return sorted(found, key=lambda s: -s["active_ms"])


def figures(
    raises: list[tuple[int, str, str]],
    intervals: list[tuple[str, str, int, int]],
    *,
    from_ms: int,
    to_ms: int,
) -> dict[str, Any]:
    """Figures of one group: raises as (ts_ms, key, priority), active intervals."""
    times = sorted(t for t, _, _ in raises)
    total = len(times)
    window_ms = max(to_ms - from_ms, 1)
    flood_periods = floods(times, to_ms)
    flood_ms = sum(f["end_ms"] - f["start_ms"] for f in flood_periods)
    by_key: dict[str, list[int]] = defaultdict(list)
    for t, key, _ in raises:
        by_key[key].append(t)
    chattering = []
    for key, key_times in sorted(by_key.items()):
        most = sliding_peak(sorted(key_times), CHATTER_MS)
        if most >= CHATTER_RAISES:
            chattering.append({"key": key, "raises_in_60s": most, "raised": len(key_times)})
    actors = Counter(key for _, key, _ in raises).most_common(10)
    priorities = Counter(p for _, _, p in raises)
    return {
        "raised": total,
        "per_10min": {"mean": total * TEN_MIN_MS / window_ms,
                      "peak": sliding_peak(times, TEN_MIN_MS)},
        "floods": {"count": len(flood_periods), "time_ms": flood_ms,
                   "share": flood_ms / window_ms, "periods": flood_periods},
        "chattering": chattering,
        "standing": _standing(intervals, from_ms),
        "bad_actors": [{"key": k, "raised": n, "share": n / total} for k, n in actors],
        "priorities": {
            p: {"raised": priorities.get(p, 0), "share": priorities.get(p, 0) / total if total
                else 0.0}
            for p in (*PRIORITIES, *sorted(set(priorities) - set(PRIORITIES)))
        },
    }


def kpi(
    rows: Iterable[Mapping[str, Any]],
    *,
    priorities: Mapping[str, str],
    from_ms: int,
    to_ms: int,
    site: str | None = None,
) -> dict[str, Any]:
    """The figures from journal rows up to `to_ms` (earlier ones give standing alarms'
    starts), per site and in total; `priorities` maps alarm_id to priority."""
    raises: dict[str, list[tuple[int, str, str]]] = defaultdict(list)
    intervals: dict[str, list[tuple[str, str, int, int]]] = defaultdict(list)
    active: dict[str, tuple[str, str, int]] = {}
    for row in rows:
        ts_ms, alarm_id, event = int(row["ts_ms"]), row["alarm_id"], row["event"]
        row_site = str(row.get("site") or "")
        if ts_ms > to_ms or alarm_id is None or (site is not None and row_site != site):
            continue
        if event == "raised":
            if from_ms <= ts_ms:
                raises[row_site].append((ts_ms, row["key"], priorities.get(alarm_id, "unknown")))
            active.setdefault(alarm_id, (row_site, row["key"], ts_ms))
        elif alarm_id in active and (event == "cleared" or row["to_state"] in ENDS_ACTIVITY):
            where, key, start_ms = active.pop(alarm_id)
            intervals[where].append((alarm_id, key, start_ms, ts_ms))
    for alarm_id, (where, key, start_ms) in active.items():
        intervals[where].append((alarm_id, key, start_ms, to_ms))
    sites = sorted(set(raises) | set(intervals))
    every_raise = [r for s in sites for r in raises[s]]
    every_interval = [i for s in sites for i in intervals[s]]
    return {
        "from_ms": from_ms,
        "to_ms": to_ms,
        "site": site,
        "total": figures(every_raise, every_interval, from_ms=from_ms, to_ms=to_ms),
        "sites": {
            s: figures(raises[s], intervals[s], from_ms=from_ms, to_ms=to_ms) for s in sites
        },
    }


def unrationalized(registry: Registry, *, site: str | None = None) -> list[dict[str, Any]]:
    """Every high and critical alarm (sensor and condition) of the registry, or of one
    site, that has no rationalization record, in registry order."""
    return [
        {"key": f"{s.id}/{x.id}/{c.value}", "site": s.id, "sensor": x.id,
         "condition": c.value, "priority": x.priority(c).value}
        for s, _, x in registry.sensors()
        if site is None or s.id == site
        for c in rated_conditions(x)
        if c.value not in x.rationalization
    ]
