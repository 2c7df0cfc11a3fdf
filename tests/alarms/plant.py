"""A small registry and reading helpers for the alarm tests."""

from __future__ import annotations

from typing import Any

from hazmon.alarms.core import Engine, Output
from hazmon.contract.config import parse_registry
from hazmon.contract.registry import Registry
from hazmon.contract.wire import Reading

SITE = "s1"
GW = "gw1"
T0 = 1_764_385_200_000

REGISTRY_YAML = """
sites:
  - id: s1
    name: Test site
    industry: hazardous_chemicals
    location: {lat: 29.0, lon: 119.6}
    gateways:
      - id: gw1
        period_s: 1
        sensors:
          - {id: GT-1, kind: combustible_gas, range: [0, 100]}
          - {id: GT-2, kind: combustible_gas, range: [0, 100], deadband: 2,
             on_delay_s: 2, off_delay_s: 5}
          - {id: H2S-1, kind: toxic_gas, gas: H2S, unit: "mg/m3", range: [0, 100]}
          - {id: H2S-P, kind: toxic_gas, gas: H2S, unit: ppm, range: [0, 100]}
          - {id: CO-I, kind: toxic_gas, gas: CO, unit: "mg/m3", range: [0, 500],
             threshold_basis: idlh}
          - {id: O2-1, kind: oxygen}
          - {id: ESD-A, kind: interlock, grade: A}
          - {id: ESD-B, kind: interlock, grade: B}
          - {id: RC-1, kind: residual_current}
          - {id: CT-P, kind: cable_temperature}
          - {id: CT-X, kind: cable_temperature, insulation: xlpe}
          - {id: LT-1, kind: level, unit: m, range: [0, 16],
             thresholds: {low_low: 0.5, low: 1.0, high: 13.5, high_high: 14.5}}
      - id: gw2
        period_s: 1
        sensors:
          - {id: GT-9, kind: combustible_gas}
          - {id: GT-10, kind: combustible_gas}
          - {id: GT-11, kind: combustible_gas}
escalation:
  critical:
    - {after_s: 0, notify: [duty]}
    - {after_s: 300, notify: [lead]}
    - {after_s: 900, notify: [manager, regulator]}
  high:
    - {after_s: 0, notify: [duty]}
  repeat_s: 600
notifiers:
  duty: {log: true}
  lead: {log: true}
  manager: {log: true}
  regulator: {log: true}
"""


# a cause-and-effect matrix on gw1's detectors and interlocks (docs/alarms.md)
MATRIX_YAML = """    cause_effect:
      - {id: CE-1, cause: {sensors: [GT-1, GT-2], condition: high}, within_s: 3,
         effect: {interlock: ESD-A}}
      - {id: CE-2, cause: {sensors: [GT-1, GT-2], condition: high_high, vote: 2oo2},
         within_s: 5, effect: {interlock: ESD-B, state: tripped}}
    gateways:
"""


def matrix_registry() -> Registry:
    """The test plant with MATRIX_YAML on its site."""
    return registry(REGISTRY_YAML.replace("    gateways:\n", MATRIX_YAML, 1))


def registry(text: str = REGISTRY_YAML, **overrides: Any) -> Registry:
    reg = parse_registry(text)
    return reg.model_copy(update=overrides) if overrides else reg


def engine(reg: Registry | None = None, *, start_ms: int = T0) -> Engine:
    eng = Engine(reg or registry())
    eng.start(start_ms)
    return eng


def reading(
    sensor: str,
    ts_ms: int,
    value: float | None = None,
    *,
    state: str | None = None,
    quality: str = "good",
    gateway: str = GW,
    site: str = SITE,
    historical: bool = False,
    over_range: bool = False,
) -> Reading:
    kind = "interlock" if state is not None else "analog"
    return Reading(site, gateway, sensor, kind, ts_ms, value, state, quality, over_range,
                   historical)


class Feeder:
    """Drives an engine like the service does: one message per call, increasing seq."""

    def __init__(self, eng: Engine, *, site: str = SITE, gateway: str = GW) -> None:
        self.eng = eng
        self.site = site
        self.gateway = gateway
        self.seq = 0
        self.boot = 1

    def send(self, *readings: Reading, now_ms: int | None = None,
             historical: bool = False) -> Output:
        now = now_ms if now_ms is not None else max(r.ts_ms for r in readings)
        out = self.eng.on_batch(
            self.site, self.gateway, boot=self.boot, seq=self.seq, historical=historical,
            readings=list(readings), now_ms=now,
        )
        self.seq += 1
        return out

    def value(self, sensor: str, ts_ms: int, value: float, *, now_ms: int | None = None,
              **kw: Any) -> Output:
        r = reading(sensor, ts_ms, value, gateway=self.gateway, site=self.site, **kw)
        return self.send(r, now_ms=now_ms)

    def state(self, sensor: str, ts_ms: int, state: str, *, now_ms: int | None = None,
              **kw: Any) -> Output:
        r = reading(sensor, ts_ms, state=state, gateway=self.gateway, site=self.site, **kw)
        return self.send(r, now_ms=now_ms)


def names(out: Output) -> list[tuple[str, str]]:
    """(key, event) of every event, in order."""
    return [(e.key, e.event) for e in out.events]


def events(out: Output, key: str) -> list[str]:
    """The event names of one point, in order."""
    return [e.event for e in out.events if e.key == key]


def key(sensor: str, condition: str, site: str = SITE) -> str:
    return f"{site}/{sensor}/{condition}"


class Clock:
    """A service clock the test moves by hand."""

    def __init__(self, now_ms: int = T0) -> None:
        self.now_ms = now_ms

    def __call__(self) -> int:
        return self.now_ms

    def advance(self, seconds: float) -> int:
        self.now_ms += int(seconds * 1000)
        return self.now_ms


def telemetry(seq: int, *readings: dict[str, Any], boot: int = 1,
              historical: bool = False) -> bytes:
    import orjson

    return orjson.dumps({"boot": boot, "seq": seq, "historical": historical,
                         "readings": list(readings)})


SMALL_YAML = """
sites:
  - id: {site}
    name: Integration site
    industry: hazardous_chemicals
    location: {{lat: 29.0, lon: 119.6}}
    gateways:
      - id: gw1
        period_s: 1
        sensors:
          - {{id: GT-1, kind: combustible_gas, range: [0, 100]}}
          - {{id: RC-1, kind: residual_current}}
          - {{id: ESD-A, kind: interlock, grade: A}}
escalation:
  critical:
    - {{after_s: 0, notify: [duty]}}
    - {{after_s: {tier2_s}, notify: [lead]}}
  high:
    - {{after_s: 0, notify: [duty]}}
  repeat_s: 600
notifiers:
  duty: {duty}
  lead: {lead}
"""


def small_registry_text(site: str, *, duty: str = "{log: true}", lead: str = "{log: true}",
                        tier2_s: float = 300) -> str:
    return SMALL_YAML.format(site=site, duty=duty, lead=lead, tier2_s=tier2_s)
