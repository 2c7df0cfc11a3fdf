"""The engine's shortcuts change nothing but speed (hypothesis): the same random
history through an engine with its shortcuts and through one with each shortcut
replaced by the plain path gives the same events, the same state and the same risk
grades. The shortcuts: a quiet reading skips the verdicts (readings._quiet, and inline
in the batch loop, readings.live_batch), the
service clock skips sensors it would leave alone (silence.sensors_clock), a site's
grade comes from the points and sensors that count (Plant.hazards / flagged).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

import hazmon.alarms.core.engine as engine_module
from hazmon.alarms.core import Engine, Output, readings, risk, silence
from hazmon.alarms.core.inputs import OutOfService, ReturnToService
from hazmon.alarms.core.plant import quiet_band
from hazmon.alarms.errors import IllegalTransition
from hazmon.contract.config import parse_registry
from hazmon.contract.registry import LEVEL_GRADE
from tests.alarms.plant import GW, SITE, T0, matrix_registry, reading

pytestmark = pytest.mark.unit

REGISTRY = matrix_registry()  # its cause-and-effect rows (ce_failed) go through both paths
SENSORS = {  # values around every threshold, deadband and range edge of these sensors
    "GT-1": [0.0, 5.0, 22.9, 23.0, 24.9, 25.0, 49.9, 50.0, 120.0, -4.9, -5.1],
    "GT-2": [0.0, 22.9, 23.1, 25.0, 30.0, 51.0],
    "O2-1": [20.9, 19.5, 19.4, 19.6, 18.0, 23.5, 24.0],
    "LT-1": [0.4, 0.5, 0.6, 1.0, 1.5, 7.0, 13.4, 13.5, 14.5, 16.9],
}
INTERLOCK_STATES = ["normal", "tripped", "bypassed", "fault"]
QUALITIES = ["good", "good", "good", "good", "uncertain", "bad", "maintenance"]

step = st.one_of(
    st.tuples(st.just("reading"), st.sampled_from(sorted(SENSORS)), st.integers(0, 10),
              st.sampled_from(QUALITIES), st.integers(0, 3)),
    st.tuples(st.just("interlock"), st.sampled_from(["ESD-A", "ESD-B"]), st.integers(0, 3),
              st.sampled_from(QUALITIES), st.integers(0, 3)),
    st.tuples(st.just("tick"), st.just(""), st.sampled_from([1, 2, 3, 11, 70, 700]),
              st.just(""), st.just(0)),
    st.tuples(st.just("oos"), st.sampled_from(["GT-1", "O2-1"]), st.integers(0, 1),
              st.just(""), st.just(0)),
)


CE_FAILED_LATE = [("reading", "GT-1", 5, "good", 1), ("tick", "", 11, "", 0),
                  ("interlock", "ESD-A", 1, "good", 1)]


@contextmanager
def plain_paths() -> Iterator[None]:
    """Every shortcut replaced by the plain path."""
    quiet, clock, level = readings._quiet, silence.sensors_clock, risk.site_level

    def every_sensor(plant: Any, started_ms: int, now_ms: int) -> list[Any]:
        events = []
        for state in plant.sensors.values():
            events += silence.sensor_clock(plant, state, started_ms, now_ms)
        return events

    readings._quiet = lambda *_a: False  # type: ignore[assignment]
    readings.QUIET_SHORTCUT = False  # the batch loop's inline quiet readings too
    silence.sensors_clock = every_sensor
    risk.site_level = engine_module.site_level = risk.site_level_scan
    try:
        yield
    finally:
        readings._quiet, silence.sensors_clock = quiet, clock
        readings.QUIET_SHORTCUT = True
        risk.site_level = engine_module.site_level = level


def run(history: list[tuple[str, str, int, str, int]]) -> tuple[list[Any], dict[str, Any]]:
    eng = Engine(REGISTRY)
    eng.start(T0)
    now = T0
    seq = 0
    events: list[Any] = []
    for kind, sensor, pick, quality, step_s in history:
        now += step_s * 1_000
        out = Output()
        if kind in ("reading", "interlock"):
            seq += 1
            if kind == "reading":
                values = SENSORS[sensor]
                r = reading(sensor, now, values[pick % len(values)], quality=quality)
            else:
                r = reading(sensor, now, state=INTERLOCK_STATES[pick], quality=quality)
            out = eng.on_batch(SITE, GW, boot=1, seq=seq, historical=False, readings=[r],
                               now_ms=now)
        elif kind == "tick":
            now += pick * 1_000
            out = eng.tick(now)
        elif pick:
            out = eng.act(OutOfService(SITE, sensor, user="eng", until_ms=now + 600_000,
                                       reason="fix"), now_ms=now)
        else:
            try:
                out = eng.act(ReturnToService(SITE, sensor, user="eng", note=None), now_ms=now)
            except IllegalTransition:  # not out of service: refused, changes nothing
                out = Output()
        events += [e.wire() | {"journal_only": not e.published} for e in out.events]
        events += [(c.site, c.grade) for c in out.risk]
        events += [n.id for n in out.notify]
    plant = eng.plant
    state = {
        "points": {k: p.doc() for k, p in plant.points.items()},
        "sensors": {i: (s.doc(), s.last()) for i, s in plant.sensors.items()},
        "open": {p.occ.alarm_id: p.occ.doc() for p in plant.points.values() if p.occ},
        "grades": eng.risk_grades(),
        "scanned": {s: risk.site_level_scan(plant, s, now) for s in plant.sites},
        "dirty": eng.take_dirty(),
    }
    return events, state


@settings(max_examples=500, deadline=None)
@given(st.lists(step, max_size=40))
@example([("reading", "GT-2", 4, "good", 1), ("tick", "", 3, "", 0)])  # on-delay, by clock
@example([("reading", "GT-1", 5, "good", 1), ("reading", "GT-1", 1, "good", 1)])
@example(CE_FAILED_LATE)  # a demand, its deadline on the clock, the trip late
def test_shortcuts_change_nothing_but_speed(
    history: list[tuple[str, str, int, str, int]],
) -> None:
    fast = run(history)
    with plain_paths():
        plain = run(history)
    assert fast == plain
    grades, scanned = fast[1]["grades"], fast[1]["scanned"]
    assert grades == {site: LEVEL_GRADE[level] for site, level in scanned.items()}


def test_the_examples_reach_the_cause_and_effect_rows() -> None:
    events, _ = run(CE_FAILED_LATE)
    found = [(e["key"], e["event"]) for e in events if isinstance(e, dict)]
    assert (f"{SITE}/ESD-A", "ce_demand") in found
    assert (f"{SITE}/ESD-A/ce_failed", "raised") in found
    assert (f"{SITE}/ESD-A", "ce_late") in found


def test_the_plain_paths_are_restored() -> None:
    quiet = readings._quiet
    with plain_paths():
        assert readings._quiet is not quiet
    assert readings._quiet is quiet
    assert risk.site_level is not risk.site_level_scan
    assert engine_module.site_level is risk.site_level


def test_quiet_band_of_high_low_and_range() -> None:
    reg = parse_registry(
        """
sites:
  - id: s1
    name: S
    industry: hazardous_chemicals
    location: {lat: 29.0, lon: 119.6}
    gateways:
      - id: gw1
        period_s: 1
        sensors:
          - {id: LT-1, kind: level, unit: m, range: [0, 16], deadband: 0.2,
             thresholds: {low_low: 0.5, low: 1.0, high: 13.5, high_high: 14.5}}
          - {id: ESD-1, kind: interlock, grade: A}
"""
    )
    level, interlock = reg.sites[0].gateways[0].sensors
    band = quiet_band(level)
    assert band is not None
    assert (band.above, band.below, band.floor) == pytest.approx((1.2, 13.3, -0.8))
    assert band.holds(7.0) and band.holds(1.21) and band.holds(13.29)
    assert not band.holds(1.2) and not band.holds(13.3) and not band.holds(0.9)
    assert quiet_band(interlock) is None
