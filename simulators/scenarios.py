"""Scenarios by name, built for any registry (the bundled demo plant or your own).

| name          | what happens (plant time)                                            |
|---------------|----------------------------------------------------------------------|
| `normal`      | healthy plant: noise, drift, slow calibration error; no alarm        |
| `leak`        | a gas release at 10 s: level 1, level 2, then the grade A ESD trips  |
| `electrical`  | residual current creeps over 300 mA; a cable overheats               |
| `fault`       | a detector reports a fault; another's 4-20 mA loop breaks            |
| `calibration` | a detector in calibration (quality maintenance) with span gas        |
| `power_loss`  | a gateway loses power for 60 s (will message), then reboots          |
| `bypass`      | an interlock is bypassed (no permit: the platform raises `bypass`)   |
| `late_trip`   | a release on a cause-and-effect row's sensors; its interlock trips   |
|               | 10 s later than the row allows (`ce_failed`, then `ce_late`)         |
| `missing_trip`| a release on another row's sensors; its interlock never trips        |
| `demo`        | all of the above on different sites; alarms within the first minute, |
|               | site colours change; a late trip at 600 s, a missing one at 900 s;   |
|               | repeats every 30 minutes                                             |

Targets are picked from the registry: the leak goes where a gas detector shares a
gateway with a grade A interlock (a hazardous chemicals site first), and so on.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from hazmon.contract.errors import HazmonError
from hazmon.contract.kinds import Condition, Kind
from hazmon.contract.registry import CauseEffectRow, Gateway, Registry, Sensor, Site
from hazmon.simulators.effects import Creep, Detector, Effect, Leak, Overheat, PowerLoss, Window
from hazmon.simulators.signals import profile_for, thresholds_of

GAS = (Kind.combustible_gas, Kind.toxic_gas)


@dataclass(slots=True)
class Scenario:
    name: str
    effects: list[Effect] = field(default_factory=list)
    timeline: list[str] = field(default_factory=list)  # what will happen, for the log
    cycle_s: float | None = None  # the scenario starts over after this long


class UnknownScenario(HazmonError, ValueError):
    def __init__(self, name: str) -> None:
        self.name = name
        super().__init__(f"no scenario {name!r}; one of {', '.join(SCENARIOS)}")


def build_scenario(name: str, registry: Registry) -> Scenario:
    try:
        builder = SCENARIOS[name]
    except KeyError:
        raise UnknownScenario(name) from None
    scenario = Scenario(name)
    builder(scenario, registry)
    return scenario


# -- picking targets ---------------------------------------------------------------


def _sites(registry: Registry, prefer: str | None, avoid: Iterable[str] = ()) -> list[Site]:
    """Sites of the preferred industry first, sites already used by the scenario last."""
    used = set(avoid)
    return sorted(registry.sites, key=lambda s: (s.id in used, s.industry != prefer))


def _of(gateway: Gateway, *kinds: Kind) -> list[Sensor]:
    return [x for x in gateway.sensors if x.kind in kinds]


def _leak_gateway(site: Site) -> tuple[Gateway, Sensor | None] | None:
    """A gateway with gas detectors, the one with a grade A interlock first."""
    best: tuple[Gateway, Sensor | None] | None = None
    for gw in site.gateways:
        if not _of(gw, *GAS):
            continue
        esd = next((x for x in _of(gw, Kind.interlock) if x.grade == "A"), None)
        if esd is not None:
            return gw, esd
        best = best or (gw, next(iter(_of(gw, Kind.interlock)), None))
    return best


# -- builders ----------------------------------------------------------------------


def add_leak(
    sc: Scenario, registry: Registry, *, start_s: float = 10.0, avoid: Iterable[str] = ()
) -> str | None:
    for site in _sites(registry, "hazardous_chemicals", avoid):
        found = _leak_gateway(site)
        if found is None:
            continue
        gw, esd = found
        gas = _of(gw, Kind.combustible_gas) or _of(gw, Kind.toxic_gas)
        area = esd.area if esd is not None else gas[0].area
        near = [x for x in gas if x.area == area] or gas[:1]
        far = [x for x in gas if x not in near][:2]
        source = near[0]
        level_2 = (
            thresholds_of(source).get(Condition.high_high) or thresholds_of(source)[Condition.high]
        )
        top = (source.range or (0.0, 100.0))[1]
        peak = min(1.6 * level_2, 0.95 * top) if 0.95 * top > 1.2 * level_2 else 1.3 * level_2
        detectors = [Detector(source.id, 1.0, 0.0, 12.0)]
        for i, x in enumerate(near[1:4], start=1):
            detectors.append(Detector(x.id, 0.6 - 0.15 * (i - 1), 3.0 * i, 12.0 + 4 * i))
        detectors += [Detector(x.id, 0.1, 15.0, 30.0) for x in far]
        leak = Leak(site.id, detectors, level_2, peak, start_s=start_s, esd=esd.id if esd else None)
        sc.effects.append(leak)
        sc.timeline.append(
            f"{start_s:.0f} s: gas release at {site.id}/{source.id} (peak {peak:g}); level 2 at "
            f"{leak.level_2_s:.0f} s" + (f"; {esd.id} trips at {leak.trip_s:.0f} s" if esd else "")
        )
        return site.id
    return None


def add_electrical(
    sc: Scenario, registry: Registry, *, start_s: float = 5.0, avoid: Iterable[str] = ()
) -> str | None:
    for site in _sites(registry, "industry_trade", avoid):
        for gw in site.gateways:
            rcs, cts = _of(gw, Kind.residual_current), _of(gw, Kind.cable_temperature)
            if not rcs or not cts:
                continue
            rc = rcs[min(1, len(rcs) - 1)]
            limit = thresholds_of(rc)[Condition.high]
            base = profile_for(rc).base
            sc.effects.append(Creep(site.id, rc.id, start_s, (limit - base) / 25.0, 1.5 * limit))
            ct = next((x for x in cts if x.insulation in (None, "pvc")), cts[0])
            hot = thresholds_of(ct)[Condition.high_high] + 15.0
            sc.effects.append(
                Overheat(site.id, ct.id, start_s + 15, hot - profile_for(ct).base, 40.0)
            )
            sc.timeline.append(
                f"{start_s:.0f} s: {site.id}/{rc.id} residual current creeps past {limit:g} mA "
                f"in ~25 s; {ct.id} overheats from {start_s + 15:.0f} s"
            )
            return site.id
    return None


def _first_gas(site: Site) -> list[Sensor]:
    return [x for gw in site.gateways for x in _of(gw, *GAS)]


def add_fault(
    sc: Scenario, registry: Registry, *, start_s: float = 20.0, avoid: Iterable[str] = ()
) -> str | None:
    for site in _sites(registry, "mining", avoid):
        gas = _first_gas(site)
        if not gas:
            continue
        sc.effects.append(Window(site.id, gas[0].id, start_s, 600.0, quality="bad"))
        sc.timeline.append(f"{start_s:.0f} s: {site.id}/{gas[0].id} reports a detector fault")
        if len(gas) > 1:
            low, high = gas[1].range or (0.0, 100.0)
            broken = low - 0.25 * (high - low)  # 0 mA on a 4-20 mA loop
            sc.effects.append(Window(site.id, gas[1].id, start_s + 30, 600.0, value=broken))
            sc.timeline.append(f"{start_s + 30:.0f} s: {site.id}/{gas[1].id} loop broken")
        return site.id
    return None


def add_calibration(
    sc: Scenario, registry: Registry, *, start_s: float = 40.0, avoid: Iterable[str] = ()
) -> str | None:
    for site in _sites(registry, "industry_trade", avoid):
        gas = _first_gas(site)
        if not gas:
            continue
        x = gas[-1]
        low, high = x.range or (0.0, 100.0)
        span_gas = min(0.5 * (high - low), 2 * thresholds_of(x).get(Condition.high_high, high))
        sc.effects.append(
            Window(site.id, x.id, start_s, 120.0, quality="maintenance", span_gas=span_gas)
        )
        sc.timeline.append(f"{start_s:.0f} s: {site.id}/{x.id} calibration for 120 s")
        return site.id
    return None


def add_bypass(
    sc: Scenario, registry: Registry, *, start_s: float = 20.0, avoid: Iterable[str] = ()
) -> str | None:
    for site in _sites(registry, "industry_trade", avoid):
        locks = [x for gw in site.gateways for x in _of(gw, Kind.interlock)]
        if locks:
            x = locks[-1]
            sc.effects.append(Window(site.id, x.id, start_s, 900.0, state="bypassed"))
            sc.timeline.append(f"{start_s:.0f} s: {site.id}/{x.id} bypassed for 900 s")
            return site.id
    return None


def add_power_loss(
    sc: Scenario, registry: Registry, *, start_s: float = 30.0, avoid: Iterable[str] = ()
) -> str | None:
    for site in _sites(registry, "mining", avoid):
        gw = site.gateways[-1]
        sc.effects.append(PowerLoss(site.id, gw.id, start_s, 60.0))
        sc.timeline.append(f"{start_s:.0f} s: {site.id}/{gw.id} loses power for 60 s")
        return site.id
    return None


def _matrix_rows(registry: Registry, avoid: Iterable[str]) -> list[tuple[Site, CauseEffectRow]]:
    """Cause-and-effect rows on gas detectors, of sites not in `avoid` first."""
    used = set(avoid)
    rows = [(site, row) for site in registry.sites for row in site.cause_effect
            if row.cause.condition is Condition.high_high]
    return sorted(rows, key=lambda pair: pair[0].id in used)


def _matrix_leak(site: Site, row: CauseEffectRow, *, start_s: float, trip: bool) -> Leak:
    """A release over a row's cause sensors, every one of them past level 2; the row's
    interlock trips 10 s after the row's time (`trip`) or never."""
    sensors = {x.id: x for gw in site.gateways for x in gw.sensors}
    source = sensors[row.cause.sensors[0]]
    level_2 = thresholds_of(source)[Condition.high_high]
    top = (source.range or (0.0, 100.0))[1]
    peak = min(1.6 * level_2, 0.95 * top)
    detectors = [Detector(sid, 1.0 - 0.05 * i, 2.0 * i, 12.0 + 2 * i)
                 for i, sid in enumerate(row.cause.sensors)]
    return Leak(site.id, detectors, level_2, peak, start_s=start_s,
                esd=row.effect.interlock if trip else None, esd_delay_s=row.within_s + 10.0)


def add_late_trip(
    sc: Scenario, registry: Registry, *, start_s: float = 10.0, avoid: Iterable[str] = ()
) -> str | None:
    for site, row in _matrix_rows(registry, avoid):
        leak = _matrix_leak(site, row, start_s=start_s, trip=True)
        sc.effects.append(leak)
        sc.timeline.append(
            f"{start_s:.0f} s: release at {site.id}/{', '.join(row.cause.sensors)} ({row.id}); "
            f"{row.effect.interlock} trips late, at {leak.trip_s:.0f} s"
        )
        return site.id
    return None


def add_missing_trip(
    sc: Scenario, registry: Registry, *, start_s: float = 10.0, avoid: Iterable[str] = ()
) -> str | None:
    for site, row in _matrix_rows(registry, avoid):
        sc.effects.append(_matrix_leak(site, row, start_s=start_s, trip=False))
        sc.timeline.append(
            f"{start_s:.0f} s: release at {site.id}/{', '.join(row.cause.sensors)} ({row.id}); "
            f"{row.effect.interlock} does not trip"
        )
        return site.id
    return None


def _demo(sc: Scenario, registry: Registry) -> None:
    used: list[str] = []
    steps: list[tuple[Callable[..., str | None], float]] = [
        (add_leak, 10.0),
        (add_electrical, 5.0),
        (add_fault, 20.0),
        (add_calibration, 40.0),
        (add_bypass, 90.0),
        (add_power_loss, 150.0),
    ]
    for add, start_s in steps:
        site = add(sc, registry, start_s=start_s, avoid=used)
        if site is not None:
            used.append(site)
    # the interlocks' answers, on rows of other sites than the first release's
    matrix_used = used[:1]
    for add, start_s in ((add_late_trip, 600.0), (add_missing_trip, 900.0)):
        site = add(sc, registry, start_s=start_s, avoid=matrix_used)
        if site is not None:
            matrix_used.append(site)
    sc.cycle_s = 1800.0


def _single(add: Callable[..., str | None]) -> Callable[[Scenario, Registry], None]:
    def build(sc: Scenario, registry: Registry) -> None:
        add(sc, registry)

    return build


SCENARIOS: dict[str, Callable[[Scenario, Registry], None]] = {
    "normal": lambda sc, registry: None,
    "leak": _single(add_leak),
    "electrical": _single(add_electrical),
    "fault": _single(add_fault),
    "calibration": _single(add_calibration),
    "power_loss": _single(add_power_loss),
    "bypass": _single(add_bypass),
    "late_trip": _single(add_late_trip),
    "missing_trip": _single(add_missing_trip),
    "demo": _demo,
}
