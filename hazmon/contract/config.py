"""Loading and checking the site registry, with file, line and field path in every error.

`load_registry(path)` reads the YAML, checks its shape with the pydantic models, then
the rules of docs/contract.md §4 and docs/alarms.md that span fields, and reports every problem at
once (`ConfigError.problems`). On success it returns the registry in force: every
default filled in.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from hazmon.contract.kinds import KINDS, TOXIC_GASES, Condition, Kind, toxic_defaults
from hazmon.contract.matrix import matrix_problems, sensor_rationalization_problems
from hazmon.contract.registry import Registry, Sensor, Thresholds, default_thresholds
from hazmon.contract.yamlcheck import PathKey, parse_yaml_model, read_text


def load_registry(path: str | Path) -> Registry:
    """Read and check a registry file; raise ConfigError listing every problem."""
    return parse_registry(read_text(path), file=str(path))


def parse_registry(text: str, *, file: str = "<registry>") -> Registry:
    registry = parse_yaml_model(
        text, Registry, file=file, rules=_semantic_problems, shape="a mapping with a `sites` list"
    )
    return resolve(registry)


# -- rules that span fields ------------------------------------------------------


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def _as_dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _semantic_problems(data: dict[str, Any]) -> Iterator[tuple[PathKey, str]]:
    site_ids: dict[str, int] = {}
    for si, site in enumerate(_as_list(data.get("sites"))):
        site = _as_dict(site)
        yield from _duplicate(site_ids, site.get("id"), ("sites", si, "id"), "site")
        sensor_ids: dict[str, int] = {}
        gateway_ids: dict[str, int] = {}
        sensors: dict[str, Sensor] = {}
        required = site.get("rationalization") == "required"
        for gi, gateway in enumerate(_as_list(site.get("gateways"))):
            gateway = _as_dict(gateway)
            gpath: PathKey = ("sites", si, "gateways", gi)
            yield from _duplicate(gateway_ids, gateway.get("id"), (*gpath, "id"), "gateway")
            for xi, raw in enumerate(_as_list(gateway.get("sensors"))):
                raw = _as_dict(raw)
                xpath: PathKey = (*gpath, "sensors", xi)
                yield from _duplicate(sensor_ids, raw.get("id"), (*xpath, "id"), "sensor")
                try:
                    sensor = Sensor.model_validate(raw)
                except ValidationError:
                    continue  # its shape problems are already reported
                sensors.setdefault(sensor.id, sensor)
                for rel, expected in sensor_problems(sensor):
                    yield (*xpath, *rel), expected
                for rel, expected in sensor_rationalization_problems(sensor, required=required):
                    yield (*xpath, *rel), expected
        yield from matrix_problems(site, sensors, ("sites", si))
    yield from _escalation_problems(data)
    yield from _token_problems(data, site_ids)


def _token_problems(
    data: dict[str, Any], site_ids: dict[str, int]
) -> Iterator[tuple[PathKey, str]]:
    """A token's `sites` must name sites of the registry (a typo would lock its holder
    out of the site meant, silently)."""
    tokens = _as_list(_as_dict(data.get("auth")).get("tokens"))
    for ti, token in enumerate(tokens):
        for si, site in enumerate(_as_list(_as_dict(token).get("sites"))):
            if isinstance(site, str) and site not in site_ids:
                known = ", ".join(sorted(site_ids)) or "none"
                yield (
                    ("auth", "tokens", ti, "sites", si),
                    f"a site of the registry ({known}); got {site!r}",
                )


def _duplicate(
    seen: dict[str, int], ident: Any, path: PathKey, what: str
) -> Iterator[tuple[PathKey, str]]:
    if not isinstance(ident, str):
        return
    if ident in seen:
        yield path, f"a unique {what} id; {ident!r} is already used at index {seen[ident]}"
    else:
        seen[ident] = int(path[-2]) if isinstance(path[-2], int) else 0


def _escalation_problems(data: dict[str, Any]) -> Iterator[tuple[PathKey, str]]:
    notifiers = _as_dict(data.get("notifiers"))
    for name, spec in notifiers.items():
        set_keys = [k for k, v in _as_dict(spec).items() if v not in (None, False)]
        if len(set_keys) != 1:
            yield ("notifiers", name), "exactly one of `webhook`, `mqtt` or `log`"
    escalation = _as_dict(data.get("escalation"))
    for priority in ("critical", "high", "medium"):
        for ti, tier in enumerate(_as_list(escalation.get(priority))):
            for ni, who in enumerate(_as_list(_as_dict(tier).get("notify"))):
                if isinstance(who, str) and who not in notifiers:
                    known = ", ".join(sorted(notifiers)) or "none defined"
                    yield (
                        ("escalation", priority, ti, "notify", ni),
                        f"a notifier defined under `notifiers` ({known}); got {who!r}",
                    )


def sensor_problems(sensor: Sensor) -> Iterator[tuple[PathKey, str]]:
    """Rules of one sensor that span its fields (kinds, units, thresholds, range)."""
    spec = KINDS[sensor.kind]
    if sensor.kind is Kind.interlock:
        for field in ("unit", "range", "gas", "insulation"):
            if getattr(sensor, field) is not None:
                yield (field,), f"no `{field}` on an interlock (it reports a state)"
        if sensor.thresholds.items():
            yield ("thresholds",), "no thresholds on an interlock (it trips by state)"
        if sensor.grade is None:
            yield ("grade",), "the interlock's `grade`, A (plant trip) or B (unit trip)"
        return
    if sensor.grade is not None:
        yield ("grade",), "`grade` only on an interlock"
    if sensor.insulation is not None and sensor.kind is not Kind.cable_temperature:
        yield ("insulation",), "`insulation` only on a cable_temperature sensor"
    unit = sensor.unit or spec.default_unit
    if unit is None:
        allowed = ", ".join(sorted(spec.units))
        yield ("unit",), f"a unit for a {sensor.kind.value} sensor ({allowed})"
    elif unit not in spec.units:
        allowed = ", ".join(sorted(spec.units))
        yield ("unit",), f"a unit that fits {sensor.kind.value} ({allowed}); got {unit!r}"
    if sensor.range is None and spec.default_range is None:
        yield ("range",), f"a measuring range [low, high] for a {sensor.kind.value} sensor"
    if spec.gas_like and sensor.on_delay_s > 30:
        yield ("on_delay_s",), "at most 30 s for a gas or oxygen detector (GB/T 50493)"
    if sensor.kind is Kind.toxic_gas:
        yield from _toxic_problems(sensor)
    elif sensor.gas is not None and sensor.kind is not Kind.combustible_gas:
        yield ("gas",), "`gas` only on a combustible_gas or toxic_gas sensor"
    yield from _threshold_problems(sensor, unit)


def _toxic_problems(sensor: Sensor) -> Iterator[tuple[PathKey, str]]:
    formula = sensor.gas_formula
    if sensor.gas is None:
        yield ("gas",), f"the toxic gas, one of {', '.join(TOXIC_GASES)} or your own"
    elif formula is None:
        set_keys = {c for c, _ in sensor.thresholds.items()}
        if not {Condition.high, Condition.high_high} <= set_keys:
            yield (
                ("thresholds",),
                f"explicit `high` and `high_high` for {sensor.gas!r}, a gas without "
                f"built-in limits (built in: {', '.join(TOXIC_GASES)})",
            )


def _threshold_problems(sensor: Sensor, unit: str | None) -> Iterator[tuple[PathKey, str]]:
    spec = KINDS[sensor.kind]
    given = dict(sensor.thresholds.items())
    for condition in given:
        if condition not in spec.conditions:
            allowed = ", ".join(c.value for c in spec.conditions) or "none"
            yield (
                ("thresholds", condition.value),
                f"a condition of {sensor.kind.value} ({allowed}); {condition.value} is not",
            )
    effective = {**default_thresholds(_with_unit(sensor, unit)), **given}
    effective = {c: v for c, v in effective.items() if c in spec.conditions}
    if not effective and spec.conditions and sensor.kind is not Kind.toxic_gas:
        yield ("thresholds",), f"at least one threshold for a {sensor.kind.value} sensor"
    ceilings = _ceilings(sensor, unit)
    for condition, value in given.items():
        ceiling = ceilings.get(condition)
        if ceiling is not None and value > ceiling + 1e-9:
            yield (
                ("thresholds", condition.value),
                f"at most {ceiling:g} {unit} for {condition.value} of {sensor.kind.value} "
                f"(the standard's ceiling); got {value:g}",
            )
    order = (Condition.low_low, Condition.low, Condition.high, Condition.high_high)
    ordered = [(c, effective[c]) for c in order if c in effective]
    for (lower_c, lower_v), (upper_c, upper_v) in itertools.pairwise(ordered):
        if upper_v < lower_v:
            culprit = upper_c if upper_c in given else lower_c
            yield (
                ("thresholds", culprit.value),
                f"thresholds in order ({lower_c.value} ≤ {upper_c.value}); "
                f"{lower_c.value} is {lower_v:g}, {upper_c.value} is {upper_v:g}",
            )
    rng = sensor.range or spec.default_range
    if rng is not None:
        for condition, value in effective.items():
            if not rng[0] <= value <= rng[1]:
                origin = "" if condition in given else " (the kind's default)"
                at_range = condition not in given
                path: PathKey = ("range",) if at_range else ("thresholds", condition.value)
                yield (
                    path,
                    f"{condition.value} = {value:g}{origin} inside the sensor's range "
                    f"[{rng[0]:g}, {rng[1]:g}]",
                )


def _with_unit(sensor: Sensor, unit: str | None) -> Sensor:
    return sensor if unit == sensor.unit else sensor.model_copy(update={"unit": unit})


def _ceilings(sensor: Sensor, unit: str | None) -> dict[Condition, float]:
    if sensor.kind is Kind.combustible_gas:
        return dict(KINDS[Kind.combustible_gas].default_thresholds)
    if sensor.kind is Kind.toxic_gas and sensor.gas_formula is not None:
        gas = TOXIC_GASES[sensor.gas_formula]
        return toxic_defaults(gas, unit=unit or "mg/m³", basis=sensor.threshold_basis)
    return {}


# -- the registry in force -------------------------------------------------------


def resolve(registry: Registry) -> Registry:
    """Fill every default in, so that services and the API see the registry in force."""
    sites = []
    for site in registry.sites:
        gateways = []
        for gateway in site.gateways:
            sensors = [_resolve_sensor(x, gateway.period_s) for x in gateway.sensors]
            gateways.append(gateway.model_copy(update={"sensors": sensors}))
        sites.append(site.model_copy(update={"gateways": gateways}))
    return registry.model_copy(update={"sites": sites})


def _resolve_sensor(sensor: Sensor, period_s: float) -> Sensor:
    spec = KINDS[sensor.kind]
    update: dict[str, Any] = {}
    if sensor.stale_after_s is None:
        update["stale_after_s"] = max(3 * period_s, 10.0)
    if sensor.kind is Kind.interlock:
        return sensor.model_copy(update=update)
    unit = sensor.unit or spec.default_unit
    update["unit"] = unit
    update["range"] = sensor.range or spec.default_range
    if sensor.kind is Kind.toxic_gas and sensor.gas_formula:
        update["gas"] = sensor.gas_formula
    if sensor.kind is Kind.cable_temperature:
        update["insulation"] = sensor.insulation or "pvc"
    given = dict(sensor.thresholds.items())
    effective = {**default_thresholds(_with_unit(sensor, unit)), **given}
    update["thresholds"] = Thresholds(
        **{c.value: v for c, v in effective.items() if c in spec.conditions}
    )
    return sensor.model_copy(update=update)
