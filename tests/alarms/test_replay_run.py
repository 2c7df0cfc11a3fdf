"""The what-if replay's engine runs (hazmon.alarms.replay.run): stored readings through
the real core give the events a live desk gave for the same readings; skipping the
readings every engine finds quiet changes no event; a higher limit is reported as
crossings missed; an on-delay no reading contradicts completes on its own time."""

from __future__ import annotations

import orjson

from hazmon.alarms.memory_desk import MemoryDesk
from hazmon.alarms.replay import compare, replay
from hazmon.alarms.replay.run import PROCESS_CONDITIONS, STATE_EVENTS, BadRange
from hazmon.alarms.replay.source import sensor_readings
from hazmon.contract import topics
from hazmon.contract.config import parse_registry
from hazmon.contract.registry import Registry
from hazmon.contract.wire import Reading
from hazmon.stores.memory import MemoryStore

T0 = 1_764_547_200_000
SECONDS = 240

PLANT = """
sites:
  - id: s1
    name: Replay site
    industry: hazardous_chemicals
    location: {{lat: 29.0, lon: 119.6}}
    gateways:
      - id: gw1
        period_s: 1
        sensors:
          - {{id: GT-1, kind: combustible_gas, range: [0, 100]}}
          - {{id: GT-2, kind: combustible_gas, range: [0, 100], deadband: 2,
             on_delay_s: 2, off_delay_s: 5}}
          - {{id: TT-1, kind: temperature, unit: °C, range: [0, 200],
             thresholds: {{high: {high}}}}}
          - {{id: ESD-A, kind: interlock, grade: A}}
"""


def registry(high: float = 60.0) -> Registry:
    return parse_registry(PLANT.format(high=high))


def wave(second: int, period: int, low: float, high: float) -> float:
    """A triangle wave between low and high."""
    phase = second % period
    half = period / 2
    return round(low + (high - low) * (phase / half if phase < half else (period - phase) / half),
                 2)


def readings_at(second: int) -> list[dict[str, object]]:
    ts_ms = T0 + second * 1000
    out: list[dict[str, object]] = [
        {"sensor": "GT-1", "ts_ms": ts_ms, "value": wave(second, 80, 2.0, 58.0)},
        {"sensor": "GT-2", "ts_ms": ts_ms, "value": wave(second, 37, 10.0, 31.0)},
        {"sensor": "TT-1", "ts_ms": ts_ms, "value": wave(second, 60, 40.0, 66.0)},
        {"sensor": "ESD-A", "ts_ms": ts_ms,
         "state": "tripped" if 100 <= second < 130 else "normal"},
    ]
    if 150 <= second < 160:
        out[0]["quality"] = "bad"
    return out


def live_run(reg: Registry, store: MemoryStore) -> list[tuple[object, ...]]:
    """The readings through a MemoryDesk as the service takes them (arriving 100 ms
    after their stamp, the service clock ticking every second) and into the store."""
    now = [T0]
    desk = MemoryDesk(registry=reg, clock=lambda: now[0])
    for second in range(SECONDS):
        batch = readings_at(second)
        payload = orjson.dumps({"boot": 1, "seq": second, "readings": batch})
        now[0] = T0 + second * 1000 + 100
        desk.receive([(topics.telemetry("s1", "gw1"), payload)])
        store.write_readings([_stored(r) for r in batch])
        now[0] += 400
        desk.tick()
    return [(e["key"], e["event"], e["ts_ms"], e["value"], e["to_state"]) for e in desk.journal
            if e["event"] in STATE_EVENTS and e["key"].rsplit("/", 1)[1] in PROCESS_CONDITIONS]


def _stored(r: dict[str, object]) -> Reading:
    kind = "interlock" if "state" in r else "analog"
    value = r.get("value")
    return Reading("s1", "gw1", str(r["sensor"]), kind, int(str(r["ts_ms"])),
                   float(str(value)) if value is not None else None,
                   str(r["state"]) if "state" in r else None, str(r.get("quality", "good")),
                   False, False)


def replayed(store: MemoryStore, reg: Registry, **kw: bool) -> list[tuple[object, ...]]:
    runs = replay(store, {"r": reg}, from_ms=T0, to_ms=T0 + SECONDS * 1000, page=50, **kw)
    return [(e.key, e.event, e.ts_ms, e.value, e.state) for e in runs["r"].events]


def test_the_replay_gives_the_live_desks_events() -> None:
    store = MemoryStore()
    live = live_run(registry(), store)
    events = replayed(store, registry())
    assert {k for k, *_ in live} >= {"s1/GT-1/high_high", "s1/GT-2/high", "s1/TT-1/high",
                                     "s1/ESD-A/trip", "s1/GT-1/fault"}
    assert sorted(events, key=lambda e: (e[2], e[0])) == sorted(live, key=lambda e: (e[2], e[0]))
    assert replayed(store, registry(), skip_quiet=False) == events


def test_a_higher_high_limit_misses_the_crossings_below_it() -> None:
    store = MemoryStore()
    live_run(registry(), store)
    runs = replay(store, {"current": registry(60.0), "proposed": registry(65.0)},
                  from_ms=T0, to_ms=T0 + SECONDS * 1000)
    report = compare(runs["current"].events, runs["proposed"].events, sites=["s1"],
                     from_ms=T0, to_ms=T0 + SECONDS * 1000)
    cur, pro = report["current"]["sensors"]["s1/TT-1"], report["proposed"]["sensors"]["s1/TT-1"]
    assert cur["raised"] == 4 and pro["raised"] == 4  # 66 °C peaks: both still alarm
    assert pro["time_in_alarm_ms"] < cur["time_in_alarm_ms"]
    delayed = [c for c in report["safety"]["listed"] if c["key"] == "s1/TT-1/high"]
    assert [c["outcome"] for c in delayed] == ["delayed"] * 4
    assert all(c["delay_ms"] > 0 for c in delayed)
    runs = replay(store, {"current": registry(60.0), "proposed": registry(70.0)},
                  from_ms=T0, to_ms=T0 + SECONDS * 1000)
    report = compare(runs["current"].events, runs["proposed"].events, sites=["s1"],
                     from_ms=T0, to_ms=T0 + SECONDS * 1000)
    assert report["safety"]["missed"] == 4
    assert report["safety"]["sensors"] == {"s1/TT-1": {"missed": 4, "delayed": 0}}


def test_an_on_delay_completes_at_its_time_without_a_reading() -> None:
    store = MemoryStore()
    # GT-2 over its limit once at t=10 s, then silent: the on-delay (2 s) ends at 12 s
    store.write_readings([_stored({"sensor": "GT-2", "ts_ms": T0, "value": 1.0}),
                          _stored({"sensor": "GT-2", "ts_ms": T0 + 10_000, "value": 30.0})])
    events = replayed(store, registry())
    assert events == [("s1/GT-2/high", "raised", T0 + 12_000, 30.0, "unack")]


def test_pages_never_split_a_millisecond() -> None:
    store = MemoryStore()
    rows = [_stored({"sensor": "GT-1", "ts_ms": T0 + i // 2 * 1000, "value": float(i),
                     "quality": "good" if i % 2 else "uncertain"}) for i in range(9)]
    store.write_readings(rows)
    got = list(sensor_readings(store, "s1", "GT-1", from_ms=T0, to_ms=T0 + 10_000, page=4))
    assert sorted((r.ts_ms, r.value) for r in got) == sorted((r.ts_ms, r.value) for r in rows)


def test_a_reversed_or_empty_range_is_refused() -> None:
    for from_ms, to_ms in ((T0, T0), (T0, T0 - 1), (T0, T0 + 400 * 86_400_000)):
        try:
            replay(MemoryStore(), {"r": registry()}, from_ms=from_ms, to_ms=to_ms)
        except BadRange as exc:
            assert exc.from_ms == from_ms
        else:
            raise AssertionError("no BadRange")
