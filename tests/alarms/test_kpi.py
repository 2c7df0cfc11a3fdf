"""Alarm-system health figures (EEMUA 191 / ISA-18.2) from journal rows."""

from __future__ import annotations

from typing import Any

import pytest

from hazmon.alarms.kpi import floods, kpi, sliding_peak

T0 = 1_764_385_200_000
S, MIN, H = 1_000, 60_000, 3_600_000


def row(ts_ms: int, key: str, n: int = 1, event: str = "raised", site: str = "s1",
        to_state: str = "unack") -> dict[str, Any]:
    return {"ts_ms": ts_ms, "alarm_id": f"{key}#{n}", "key": key, "event": event,
            "site": site, "to_state": to_state}


def test_sliding_peak_counts_inside_any_span() -> None:
    assert sliding_peak([0, 10, 20, 30], 25) == 3
    assert sliding_peak([0, 25, 50], 25) == 1
    assert sliding_peak([], 25) == 0


def test_a_flood_starts_above_ten_in_ten_minutes_and_ends_below_five() -> None:
    times = [T0 + i * 10 * S for i in range(12)]  # 12 raises in 2 minutes
    found = floods(times, T0 + H)
    assert len(found) == 1
    assert found[0]["start_ms"] == times[10]  # the 11th raise makes it more than 10
    # raises leave the trailing window 10 min after they came; fewer than 5 remain when
    # the 8th raise (index 7) leaves
    assert found[0]["end_ms"] == times[7] + 10 * MIN
    assert found[0]["raised"] == 12 and not found[0]["ongoing"]
    assert floods(times[:10], T0 + H) == []


def test_a_flood_still_on_at_the_window_end_is_ongoing() -> None:
    times = [T0 + i * S for i in range(11)]
    assert floods(times, T0 + 20 * S) == [
        {"start_ms": times[10], "end_ms": T0 + 20 * S, "raised": 11, "ongoing": True}
    ]


def test_figures_per_site_and_in_total() -> None:
    rows = [row(T0 + i * 5 * MIN, "s1/GT-1/high", i) for i in range(1, 7)]  # 6 raises
    rows += [row(T0 + 30 * MIN + i * 15 * S, "s2/RC-1/high", i, site="s2") for i in range(3)]
    rows += [row(T0 + 50 * MIN + i * 40 * S, "s2/LT-1/low", i, site="s2") for i in range(3)]
    priorities = {r["alarm_id"]: "critical" if "GT" in r["key"] else "high" for r in rows}
    result = kpi(rows, priorities=priorities, from_ms=T0, to_ms=T0 + 2 * H)
    total = result["total"]
    assert total["raised"] == 12
    assert total["per_10min"]["mean"] == pytest.approx(1.0)  # 12 raises in 2 h
    assert total["per_10min"]["peak"] == 5
    assert [c["key"] for c in total["chattering"]] == ["s2/RC-1/high"]  # 3 in 30 s
    assert total["bad_actors"][0] == {"key": "s1/GT-1/high", "raised": 6, "share": 0.5}
    assert total["priorities"]["critical"] == {"raised": 6, "share": 0.5}
    assert total["priorities"]["medium"] == {"raised": 0, "share": 0.0}
    assert result["sites"]["s2"]["raised"] == 6
    assert result["sites"]["s1"]["chattering"] == []
    only = kpi(rows, priorities=priorities, from_ms=T0, to_ms=T0 + 2 * H, site="s2")
    assert only["total"]["raised"] == 6 and list(only["sites"]) == ["s2"]


def test_standing_alarms_are_active_over_24_hours() -> None:
    rows = [
        row(T0, "s1/GT-1/high"),  # never cleared
        row(T0, "s1/GT-2/high"),
        row(T0 + H, "s1/GT-2/high", event="cleared", to_state="rtn_unack"),
        row(T0, "s1/GT-3/high"),
        row(T0 + 2 * H, "s1/GT-3/high", event="shelved", to_state="shelved"),
    ]
    result = kpi(rows, priorities={}, from_ms=T0 + 20 * H, to_ms=T0 + 26 * H)
    standing = result["total"]["standing"]
    assert [(s["key"], s["active_ms"]) for s in standing] == [("s1/GT-1/high", 26 * H)]
    assert result["total"]["raised"] == 0  # the raise was before the window


def test_no_raises_gives_zero_figures() -> None:
    result = kpi([], priorities={}, from_ms=T0, to_ms=T0 + H)
    assert result["total"]["raised"] == 0
    assert result["total"]["bad_actors"] == [] and result["sites"] == {}
