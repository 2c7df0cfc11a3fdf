"""The site registry (docs/contract.md §4) as pydantic models.

`RegistryDoc` is the document as written; `load_registry()` (hazmon.contract.config) checks it
and returns it with every default filled in (`Sensor.thresholds`, `latch`, `unit`,
`range`, `stale_after_s`), which is the registry in force.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, field_validator

from hazmon.contract.dangers import HiddenDangers
from hazmon.contract.kinds import (
    CABLE_DEFAULTS,
    KINDS,
    UNIT_ALIASES,
    Condition,
    Kind,
    Priority,
    canonical_gas,
    interlock_priority,
)

ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$"
Id = Annotated[str, StringConstraints(pattern=ID_PATTERN)]
Grade = Literal["blue", "yellow", "orange", "red"]
GRADE_LEVEL: dict[str, int] = {"blue": 0, "yellow": 1, "orange": 2, "red": 3}
LEVEL_GRADE: tuple[str, ...] = ("blue", "yellow", "orange", "red")
Role = Literal["viewer", "operator", "engineer", "auditor", "admin", "inspector"]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Thresholds(_Model):
    low_low: float | None = None
    low: float | None = None
    high: float | None = None
    high_high: float | None = None

    def items(self) -> list[tuple[Condition, float]]:
        """The thresholds that are set, lowest condition first."""
        pairs = [
            (Condition.low_low, self.low_low),
            (Condition.low, self.low),
            (Condition.high, self.high),
            (Condition.high_high, self.high_high),
        ]
        return [(c, v) for c, v in pairs if v is not None]


class Rationalization(_Model):
    """Why an alarm exists and what to do about it (EEMUA 191 / ISA-18.2 rationalization):
    the operator sees cause, consequence and action with the alarm."""

    cause: str = Field(min_length=1)
    consequence: str = Field(min_length=1)
    action: str = Field(min_length=1)
    respond_within_s: float = Field(gt=0)
    source: str = Field(min_length=1)  # a standard's clause or an engineering note


class Sensor(_Model):
    id: Id
    kind: Kind
    name: str | None = None
    area: str | None = None
    gas: str | None = None
    unit: str | None = None
    range: tuple[float, float] | None = None
    threshold_basis: Literal["oel", "idlh"] = "oel"
    thresholds: Thresholds = Thresholds()
    deadband: float = Field(default=0.0, ge=0)
    on_delay_s: float = Field(default=0.0, ge=0)
    off_delay_s: float = Field(default=0.0, ge=0)
    stale_after_s: float | None = Field(default=None, gt=0)
    latch: bool | None = None
    grade: Literal["A", "B"] | None = None
    insulation: Literal["pvc", "xlpe"] | None = None
    rationalization: dict[str, Rationalization] = Field(default_factory=dict)  # by condition

    @field_validator("unit")
    @classmethod
    def _known_unit(cls, unit: str | None) -> str | None:
        if unit is None:
            return None
        if unit not in UNIT_ALIASES:
            raise ValueError(f"a unit, one of {', '.join(UNIT_ALIASES)}; got {unit!r}")
        return UNIT_ALIASES[unit]

    @field_validator("range")
    @classmethod
    def _ordered_range(cls, rng: tuple[float, float] | None) -> tuple[float, float] | None:
        if rng is not None and not rng[0] < rng[1]:
            raise ValueError(f"a range [low, high] with low < high; got {list(rng)}")
        return rng

    # -- the registry in force (defaults filled in by hazmon.contract.config) -------------

    @property
    def analog(self) -> bool:
        return self.kind is not Kind.interlock

    def priority(self, condition: Condition) -> Priority:
        if self.kind is Kind.interlock:
            return interlock_priority(condition, self.grade or "A")
        spec = KINDS[self.kind]
        if condition in spec.conditions:
            return spec.conditions[condition]
        return Priority.medium  # fault, stale

    def latches(self, condition: Condition) -> bool:
        if condition in (Condition.fault, Condition.stale, Condition.offline,
                         Condition.feed_gap, Condition.ce_failed):
            return False
        if self.latch is not None:
            return self.latch
        return condition in KINDS[self.kind].latched

    @property
    def gas_formula(self) -> str | None:
        return canonical_gas(self.gas)


class Gateway(_Model):
    id: Id
    name: str | None = None
    period_s: float = Field(default=1.0, gt=0)
    sensors: list[Sensor] = Field(min_length=1)

    @property
    def offline_after_s(self) -> float:
        return max(3 * self.period_s, 10.0)


class Location(_Model):
    lat: float = Field(ge=-90, le=90)
    lon: float = Field(ge=-180, le=180)


class Cause(_Model):
    """A demand: `vote` (MooN, by default 1ooN) of the sensors in `condition`."""

    sensors: list[Id] = Field(min_length=1)
    condition: Condition
    vote: str | None = None  # MooN; checked by hazmon.contract.matrix

    @property
    def needed(self) -> int:
        """M of MooN: how many of the sensors must be in the condition."""
        if self.vote is None or "oo" not in self.vote:
            return 1
        return int(self.vote.split("oo")[0])


class Effect(_Model):
    interlock: Id
    state: Literal["tripped"] = "tripped"


class CauseEffectRow(_Model):
    """One row of a site's cause-and-effect matrix: on the cause, the effect within
    `within_s` (docs/alarms.md, "Cause-and-effect verification")."""

    id: Id
    description: str | None = None
    cause: Cause
    effect: Effect
    within_s: float


class Site(_Model):
    id: Id
    name: str
    industry: Literal["hazardous_chemicals", "mining", "industry_trade"]
    location: Location
    baseline_risk: Grade = "blue"
    gateways: list[Gateway] = Field(min_length=1)
    cause_effect: list[CauseEffectRow] = Field(default_factory=list)
    rationalization: Literal["required", "optional"] = "optional"


class Tier(_Model):
    after_s: float = Field(ge=0)
    notify: list[str] = Field(default_factory=list)


class Escalation(_Model):
    critical: list[Tier] = Field(default_factory=list)
    high: list[Tier] = Field(default_factory=list)
    medium: list[Tier] = Field(default_factory=list)
    repeat_s: float = Field(default=600.0, gt=0)

    def tiers(self, priority: Priority) -> list[Tier]:
        tiers: list[Tier] = getattr(self, priority.value)
        return sorted(tiers, key=lambda t: t.after_s)


class Notifier(_Model):
    webhook: str | None = Field(default=None, pattern=r"^https?://")
    mqtt: str | None = None
    log: bool | None = None

    @property
    def kind(self) -> str:
        for name in ("webhook", "mqtt", "log"):
            if getattr(self, name) not in (None, False):
                return name
        return "log"


class Shelving(_Model):
    max_minutes: float = Field(default=480, gt=0)
    allow_critical: bool = False


class OutOfService(_Model):
    max_hours: float = Field(default=168, gt=0)


class Bypass(_Model):
    max_hours_grade_a: float = Field(default=24, gt=0)
    max_hours_grade_b: float = Field(default=72, gt=0)


class Maintenance(_Model):
    max_minutes: float = Field(default=120, gt=0)


class Token(_Model):
    name: str = Field(min_length=1)
    role: Role
    sha256: str = Field(pattern=r"^[0-9a-fA-F]{64}$")
    sites: list[Id] | None = Field(default=None, min_length=1)  # None: every site


class Auth(_Model):
    tokens: list[Token] = Field(default_factory=list)


class Registry(_Model):
    sites: list[Site] = Field(min_length=1)
    escalation: Escalation = Escalation()
    notifiers: dict[str, Notifier] = Field(default_factory=dict)
    shelving: Shelving = Shelving()
    out_of_service: OutOfService = OutOfService()
    bypass: Bypass = Bypass()
    maintenance: Maintenance = Maintenance()
    auth: Auth = Auth()
    hidden_dangers: HiddenDangers = HiddenDangers()

    def site(self, site_id: str) -> Site | None:
        return next((s for s in self.sites if s.id == site_id), None)

    def sensors(self) -> list[tuple[Site, Gateway, Sensor]]:
        return [(s, g, x) for s in self.sites for g in s.gateways for x in g.sensors]


def default_thresholds(sensor: Sensor) -> dict[Condition, float]:
    """The kind's defaults for a sensor, before the registry's own overrides."""
    from hazmon.contract.kinds import TOXIC_GASES, toxic_defaults

    if sensor.kind is Kind.toxic_gas:
        formula = sensor.gas_formula
        if formula is None:
            return {}
        return toxic_defaults(
            TOXIC_GASES[formula], unit=sensor.unit or "mg/m³", basis=sensor.threshold_basis
        )
    if sensor.kind is Kind.cable_temperature:
        return dict(CABLE_DEFAULTS[sensor.insulation or "pvc"])
    return dict(KINDS[sensor.kind].default_thresholds)
