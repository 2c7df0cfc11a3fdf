"""The kinds table of docs/alarms.md: units, conditions, priorities, defaults and ceilings.

Everything a plant engineer may look up about a kind of sensor lives here, as data.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class Kind(StrEnum):
    combustible_gas = "combustible_gas"
    toxic_gas = "toxic_gas"
    oxygen = "oxygen"
    interlock = "interlock"
    residual_current = "residual_current"
    cable_temperature = "cable_temperature"
    current = "current"
    voltage = "voltage"
    level = "level"
    pressure = "pressure"
    temperature = "temperature"


class Condition(StrEnum):
    high = "high"
    high_high = "high_high"
    low = "low"
    low_low = "low_low"
    trip = "trip"
    bypass = "bypass"
    fault = "fault"
    stale = "stale"
    offline = "offline"
    feed_gap = "feed_gap"  # a gateway's messages lost on the way (a gap in its seq)
    ce_failed = "ce_failed"  # an interlock that did not trip in time on a real demand


class Priority(StrEnum):
    critical = "critical"
    high = "high"
    medium = "medium"


PRIORITY_RANK: dict[Priority, int] = {Priority.critical: 0, Priority.high: 1, Priority.medium: 2}

THRESHOLD_CONDITIONS: tuple[Condition, ...] = (
    Condition.low_low,
    Condition.low,
    Condition.high,
    Condition.high_high,
)
HIGH_CONDITIONS = frozenset({Condition.high, Condition.high_high})
LOW_CONDITIONS = frozenset({Condition.low, Condition.low_low})

INTERLOCK_STATES = frozenset({"normal", "tripped", "bypassed", "fault"})
QUALITIES = frozenset({"good", "bad", "uncertain", "maintenance"})

# Units as written in the registry, mapped to their canonical spelling.
UNIT_ALIASES: dict[str, str] = {
    "%LEL": "%LEL",
    "%VOL": "%VOL",
    "ppm": "ppm",
    "mg/m³": "mg/m³",
    "mg/m3": "mg/m³",
    "mA": "mA",
    "A": "A",
    "V": "V",
    "°C": "°C",
    "degC": "°C",
    "m": "m",
    "kPa": "kPa",
    "MPa": "MPa",
}


@dataclass(frozen=True, slots=True)
class KindSpec:
    """What docs/alarms.md says about one kind."""

    units: frozenset[str]
    default_unit: str | None
    conditions: dict[Condition, Priority]  # threshold conditions allowed, with priority
    latched: frozenset[Condition]
    default_thresholds: dict[Condition, float]
    default_range: tuple[float, float] | None
    gas_like: bool = False  # on_delay_s is capped at 30 s (detectors answer within 30 s)


_CONFIGURED = {
    Condition.low_low: Priority.critical,
    Condition.low: Priority.high,
    Condition.high: Priority.high,
    Condition.high_high: Priority.critical,
}

KINDS: dict[Kind, KindSpec] = {
    Kind.combustible_gas: KindSpec(
        units=frozenset({"%LEL"}),
        default_unit="%LEL",
        conditions={Condition.high: Priority.high, Condition.high_high: Priority.critical},
        latched=frozenset({Condition.high_high}),
        # GB/T 50493-2019: level 1 <= 25 %LEL, level 2 <= 50 %LEL (also the ceilings).
        default_thresholds={Condition.high: 25.0, Condition.high_high: 50.0},
        default_range=(0.0, 100.0),
        gas_like=True,
    ),
    Kind.toxic_gas: KindSpec(
        units=frozenset({"ppm", "mg/m³"}),
        default_unit="mg/m³",
        conditions={Condition.high: Priority.high, Condition.high_high: Priority.critical},
        latched=frozenset({Condition.high_high}),
        default_thresholds={},  # from the gas table, see toxic_defaults()
        default_range=None,
        gas_like=True,
    ),
    Kind.oxygen: KindSpec(
        units=frozenset({"%VOL"}),
        default_unit="%VOL",
        conditions={Condition.low: Priority.critical, Condition.high: Priority.high},
        latched=frozenset({Condition.low}),
        # GB 8958: below 19.5 %VOL is oxygen-deficient; 23.5 % is the enrichment limit.
        default_thresholds={Condition.low: 19.5, Condition.high: 23.5},
        default_range=(0.0, 30.0),
        gas_like=True,
    ),
    Kind.interlock: KindSpec(
        units=frozenset(),
        default_unit=None,
        conditions={},
        latched=frozenset({Condition.trip}),
        default_thresholds={},
        default_range=None,
    ),
    Kind.residual_current: KindSpec(
        units=frozenset({"mA"}),
        default_unit="mA",
        conditions={Condition.high: Priority.high},
        latched=frozenset(),
        # GB 50116-2013 commentary: 300-500 mA, normal leakage is 100-200 mA.
        default_thresholds={Condition.high: 300.0},
        default_range=(0.0, 1000.0),
    ),
    Kind.cable_temperature: KindSpec(
        units=frozenset({"°C"}),
        default_unit="°C",
        conditions={Condition.high: Priority.high, Condition.high_high: Priority.critical},
        latched=frozenset(),
        default_thresholds={},  # by insulation, see CABLE_DEFAULTS
        default_range=(0.0, 200.0),
    ),
    Kind.current: KindSpec(frozenset({"A", "mA"}), None, _CONFIGURED, frozenset(), {}, None),
    Kind.voltage: KindSpec(frozenset({"V"}), None, _CONFIGURED, frozenset(), {}, None),
    Kind.level: KindSpec(frozenset({"m"}), None, _CONFIGURED, frozenset(), {}, None),
    Kind.pressure: KindSpec(frozenset({"kPa", "MPa"}), None, _CONFIGURED, frozenset(), {}, None),
    Kind.temperature: KindSpec(frozenset({"°C"}), None, _CONFIGURED, frozenset(), {}, None),
}

# PVC conductors are rated 70 degC, XLPE 90 degC: alarm 10 degC before, trip at the rating.
CABLE_DEFAULTS: dict[str, dict[Condition, float]] = {
    "pvc": {Condition.high: 60.0, Condition.high_high: 70.0},
    "xlpe": {Condition.high: 80.0, Condition.high_high: 90.0},
}


@dataclass(frozen=True, slots=True)
class ToxicGas:
    """A built-in toxic gas: exposure limits in mg/m³ (GBZ 2.1) and molar mass in g/mol."""

    formula: str
    oel_mg_m3: float
    idlh_mg_m3: float
    molar_mass_g_mol: float


TOXIC_GASES: dict[str, ToxicGas] = {
    "H2S": ToxicGas("H2S", 10.0, 430.0, 34.08),
    "CO": ToxicGas("CO", 20.0, 1700.0, 28.01),
    "Cl2": ToxicGas("Cl2", 1.0, 88.0, 70.90),
    "NH3": ToxicGas("NH3", 20.0, 360.0, 17.03),
}
GAS_ALIASES: dict[str, str] = {
    "h2s": "H2S",
    "hydrogen_sulfide": "H2S",
    "hydrogen_sulphide": "H2S",
    "co": "CO",
    "carbon_monoxide": "CO",
    "cl2": "Cl2",
    "chlorine": "Cl2",
    "nh3": "NH3",
    "ammonia": "NH3",
}

MOLAR_VOLUME_L_MOL = 24.45  # 25 degC, 101.325 kPa


def mg_m3_to_ppm(mg_m3: float, molar_mass_g_mol: float) -> float:
    """Convert a concentration in mg/m³ to ppm (by volume) at 25 °C and 101.325 kPa."""
    return mg_m3 * MOLAR_VOLUME_L_MOL / molar_mass_g_mol


def ppm_to_mg_m3(ppm: float, molar_mass_g_mol: float) -> float:
    return ppm * molar_mass_g_mol / MOLAR_VOLUME_L_MOL


def canonical_gas(name: str | None) -> str | None:
    """The built-in gas a name refers to, or None for a gas the table does not know."""
    if name is None:
        return None
    if name in TOXIC_GASES:
        return name
    return GAS_ALIASES.get(name.strip().lower())


def toxic_defaults(gas: ToxicGas, *, unit: str, basis: str) -> dict[Condition, float]:
    """Level 1 and 2 of a toxic gas: 100 % / 200 % of OEL, or 5 % / 10 % of IDLH.

    These are also the ceilings a registry may not exceed. Values in ppm are rounded
    to 3 significant decimals so they read well on a dashboard.
    """
    if basis == "idlh":
        high, high_high = 0.05 * gas.idlh_mg_m3, 0.10 * gas.idlh_mg_m3
    else:
        high, high_high = gas.oel_mg_m3, 2.0 * gas.oel_mg_m3
    if unit == "ppm":
        high = round(mg_m3_to_ppm(high, gas.molar_mass_g_mol), 3)
        high_high = round(mg_m3_to_ppm(high_high, gas.molar_mass_g_mol), 3)
    return {Condition.high: high, Condition.high_high: high_high}


def interlock_priority(condition: Condition, grade: str) -> Priority:
    if condition in (Condition.trip, Condition.ce_failed):
        return Priority.critical
    if condition is Condition.bypass:
        return Priority.critical if grade == "A" else Priority.high
    if condition is Condition.fault:
        return Priority.high if grade == "A" else Priority.medium
    return Priority.medium
