"""The arithmetic of the what-if replay's report, on hand-made event lists
(hazmon.alarms.replay.figures; definitions in docs/alarms.md, "What-if replay")."""

from __future__ import annotations

from hazmon.alarms.core import Event
from hazmon.alarms.replay.figures import (
    compare,
    episodes,
    group_figures,
    registry_figures,
    safety_cost,
)

T0 = 1_764_547_200_000
MIN = 60_000
HOUR = 3_600_000


def ev(name: str, ts_ms: int, sensor: str = "GT-1", condition: str = "high",
       site: str = "s1", priority: str = "high", value: float | None = 30.0) -> Event:
    return Event(key=f"{site}/{sensor}/{condition}", site=site, event=name, ts_ms=ts_ms,
                 sensor=sensor, condition=condition, priority=priority, value=value)


def alarm(start_ms: int, length_ms: int | None, **kw: object) -> list[Event]:
    """A raise at start_ms, cleared length_ms later (None: still active)."""
    out = [ev("raised", start_ms, **kw)]  # type: ignore[arg-type]
    if length_ms is not None:
        out.append(ev("cleared", start_ms + length_ms, **kw))  # type: ignore[arg-type]
    return out


def test_episodes_pair_raises_with_clears_and_hiding() -> None:
    events = [*alarm(T0, MIN), ev("raised", T0 + 5 * MIN), ev("suppressed", T0 + 6 * MIN),
              ev("raised", T0 + 9 * MIN, sensor="GT-2")]
    found = episodes(events)
    assert [(e.key, e.raised_ms - T0, e.end_ms) for e in found] == [
        ("s1/GT-1/high", 0, T0 + MIN),
        ("s1/GT-1/high", 5 * MIN, T0 + 6 * MIN),
        ("s1/GT-2/high", 9 * MIN, None),
    ]


def test_alarms_per_ten_minutes_mean_and_peak() -> None:
    # 6 alarms in one hour, 4 of them within 10 minutes
    starts = [0, 1, 2, 3, 30, 50]
    eps = episodes([e for i, m in enumerate(starts)
                    for e in alarm(T0 + m * MIN, 20_000 + 40_000, sensor=f"GT-{i}")])
    f = group_figures(eps, from_ms=T0, to_ms=T0 + HOUR)
    assert f["raised"] == 6
    assert f["per_10min"] == {"mean": 1.0, "peak": 4}


def test_a_flood_starts_above_ten_in_ten_minutes_and_ends_below_five() -> None:
    eleven = [e for i in range(11) for e in alarm(T0 + i * 30_000, 5 * MIN, sensor=f"GT-{i}")]
    eps = episodes(eleven)
    f = group_figures(eps, from_ms=T0, to_ms=T0 + HOUR)
    assert f["floods"]["count"] == 1
    period = f["floods"]["periods"][0]
    assert period["start_ms"] == T0 + 10 * 30_000  # the 11th raise
    # ends when fewer than 5 remain in the trailing 10 minutes: the 7th raise leaves
    assert period["end_ms"] == T0 + 6 * 30_000 + 10 * MIN
    ten = episodes(eleven[:20])
    assert group_figures(ten, from_ms=T0, to_ms=T0 + HOUR)["floods"]["count"] == 0


def test_chattering_is_three_raises_of_one_alarm_within_a_minute() -> None:
    chatter = [e for s in (0, 20_000, 40_000) for e in alarm(T0 + s, 5_000)]
    slow = [e for s in (0, 40_000, 80_000) for e in alarm(T0 + s, 5_000, sensor="GT-2")]
    f = group_figures(episodes(chatter + slow), from_ms=T0, to_ms=T0 + HOUR)
    assert f["chattering"] == {"points": 1, "raised": 3}


def test_fleeting_alarms_clear_within_thirty_seconds() -> None:
    eps = episodes([*alarm(T0, 29_999), *alarm(T0 + MIN, 30_000, sensor="GT-2"),
                    ev("raised", T0 + 2 * MIN, sensor="GT-3")])
    assert group_figures(eps, from_ms=T0, to_ms=T0 + HOUR)["fleeting"] == 1


def test_standing_alarms_last_over_a_day_or_the_whole_range() -> None:
    day = 24 * HOUR
    long = episodes([*alarm(T0, day + 1), *alarm(T0 + HOUR, day, sensor="GT-2")])
    assert group_figures(long, from_ms=T0, to_ms=T0 + 3 * day)["standing"] == 1
    # a 2-hour range: active from its first minutes to its end is standing; raised later is not
    through = episodes([ev("raised", T0 + MIN), ev("raised", T0 + HOUR, sensor="GT-2")])
    assert group_figures(through, from_ms=T0, to_ms=T0 + 2 * HOUR)["standing"] == 1


def test_time_in_alarm_counts_an_open_alarm_to_the_range_end() -> None:
    eps = episodes([*alarm(T0, 10 * MIN), ev("raised", T0 + 50 * MIN, sensor="GT-2")])
    f = registry_figures(eps, ["s1"], from_ms=T0, to_ms=T0 + HOUR)
    assert f["total"]["time_in_alarm_ms"] == 20 * MIN
    assert f["sensors"]["s1/GT-1"]["time_in_alarm_ms"] == 10 * MIN
    assert f["sensors"]["s1/GT-2"]["time_in_alarm_ms"] == 10 * MIN


def test_operators_are_sites_each_with_its_own_rate() -> None:
    eps = episodes([*alarm(T0, MIN), *alarm(T0, MIN, site="s2", sensor="GT-9"),
                    *alarm(T0 + 20 * MIN, MIN, site="s2", sensor="GT-9")])
    f = registry_figures(eps, ["s1", "s2", "s3"], from_ms=T0, to_ms=T0 + HOUR)
    assert f["sites"]["s1"]["per_10min"]["mean"] == 1 / 6
    assert f["sites"]["s2"]["per_10min"]["mean"] == 2 / 6
    assert f["sites"]["s3"]["raised"] == 0
    assert f["total"]["per_10min"]["mean_per_operator"] == (1 / 6 + 2 / 6) / 3


def test_crossings_missed_delayed_and_on_time() -> None:
    current = episodes([*alarm(T0, 5 * MIN), *alarm(T0 + 10 * MIN, 5 * MIN),
                        *alarm(T0 + 20 * MIN, 5 * MIN), *alarm(T0 + 30 * MIN, MIN,
                                                               priority="critical",
                                                               condition="high_high")])
    proposed = episodes([*alarm(T0 - MIN, 2 * MIN),             # active at the first: on time
                         *alarm(T0 + 10 * MIN + 40_000, MIN)])  # the second, 40 s late
    cost = safety_cost(current, proposed, to_ms=T0 + HOUR)
    assert (cost["crossings"], cost["missed"], cost["missed_critical"], cost["delayed"]) == (
        4, 2, 1, 1)
    assert cost["delay_ms"] == {"max": 40_000, "median": 40_000, "total": 40_000}
    assert [(c["raised_ms"] - T0, c["outcome"]) for c in cost["listed"]] == [
        (10 * MIN, "delayed"), (20 * MIN, "missed"), (30 * MIN, "missed")]
    assert cost["sensors"] == {"s1/GT-1": {"missed": 2, "delayed": 1}}


def test_the_same_registry_costs_nothing() -> None:
    events = [*alarm(T0, MIN), *alarm(T0 + 5 * MIN, None)]
    report = compare(events, events, sites=["s1"], from_ms=T0, to_ms=T0 + HOUR)
    assert report["current"] == report["proposed"]
    assert (report["safety"]["missed"], report["safety"]["delayed"]) == (0, 0)
