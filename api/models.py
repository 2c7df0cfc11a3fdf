"""Request bodies and answer shapes of the HTTP API (docs/contract.md §7), for validation and
for the OpenAPI document. Answers allow extra fields: the alarm service may tell more
than the contract promises, and the API passes it on."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

Grade = Literal["blue", "yellow", "orange", "red"]
Priority = Literal["critical", "high", "medium"]
Text = Field(min_length=1, max_length=2000)
OptionalText = Field(default=None, max_length=2000)


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class _Answer(BaseModel):
    model_config = ConfigDict(extra="allow")


# -- bodies ----------------------------------------------------------------------


class NoteBody(_Body):
    note: str = Text


class OptionalNoteBody(_Body):
    note: str | None = OptionalText


class AckManyBody(_Body):
    """Several occurrences acknowledged with one note (a flood worked through)."""

    alarm_ids: list[str] = Field(min_length=1, max_length=500)
    note: str | None = OptionalText


class ShelveBody(_Body):
    minutes: int = Field(ge=1, le=1_000_000)
    reason: str = Text


class BypassPermitBody(_Body):
    until_ms: int = Field(ge=0, le=2**53)
    reason: str = Text
    approved_by: str = Field(min_length=1, max_length=200)
    compensating_measures: str = Text


class OutOfServiceBody(_Body):
    until_ms: int = Field(ge=0, le=2**53)
    reason: str = Text


# -- answers ---------------------------------------------------------------------


class Location(_Answer):
    lat: float
    lon: float


class ActiveCounts(_Answer):
    critical: int = 0
    high: int = 0
    medium: int = 0


class SiteFeedOut(_Answer):
    """A site's feed quality (docs/feeds.md): the online rate of its gateways over the
    last 24 h (None when no gateway status is known), and `degraded` when a gateway is
    offline now or lost messages in the last hour."""

    online_rate_24h: float | None
    degraded: bool
    offline_gateways: list[str]
    lost_messages_1h: int


class SiteOut(_Answer):
    id: str
    name: str
    industry: str
    location: Location
    baseline_risk: Grade
    risk_grade: Grade
    active_alarms: ActiveCounts
    feed: SiteFeedOut | None = None


class SensorOut(_Answer):
    id: str
    gateway: str
    kind: str
    name: str | None = None
    unit: str | None
    area: str | None = None
    value: float | None
    state: str | None
    quality: str | None
    ts_ms: int | None
    over_range: bool = False
    thresholds: dict[str, float]


class ReadingOut(_Answer):
    ts_ms: int
    value: float | None
    state: str | None
    quality: str
    over_range: bool = False


class AlarmEventOut(_Answer):
    """One row of a sensor's alarm history (the `alarm_event` series)."""

    ts_ms: int
    alarm_id: str | None = None
    condition: str | None = None
    priority: str | None = None
    event: str | None = None
    state: str | None = None
    value: float | str | None = None
    user: str | None = None
    note: str | None = None


class RationalizationOut(_Answer):
    """Why the alarm exists and what to do (the registry's rationalization record)."""

    cause: str
    consequence: str
    action: str
    respond_within_s: float
    source: str


class AlarmOut(_Answer):
    """An occurrence: its latest alarm event (docs/contract.md §6) plus when raised and acked."""

    alarm_id: str
    key: str
    site: str
    sensor: str
    condition: str
    priority: Priority
    event: str
    state: str
    returned: bool = False
    value: float | str | None = None
    ts_ms: int
    user: str | None = None
    note: str | None = None
    raised_ms: int | None = None
    acked_ms: int | None = None
    acked_by: str | None = None
    shelved_until_ms: int | None = None  # addition: when a shelved occurrence comes back
    rationalization: RationalizationOut | None = None  # addition: cause, consequence, action


class AckOutcome(_Answer):
    """One occurrence of a bulk acknowledgement: its state now, or why it was not."""

    alarm_id: str
    ok: bool
    alarm: AlarmOut | None = None
    error: str | None = None
    detail: str | None = None


class InService(_Answer):
    """A sensor returned to service (its points re-evaluated)."""

    site: str
    sensor: str
    user: str
    note: str | None = None


class Verification(_Answer):
    ok: bool
    entries: int
    first_bad: int | None
    anchor: object | None = None


class Me(_Answer):
    name: str
    role: str
    rights: list[str]
    sites: list[str] | None = Field(
        default=None, description="the token's sites; null: every site"
    )


class ChainOut(_Answer):
    """The alarm chain as the chain watch last saw it (docs/alarms.md)."""

    state: Literal["ok", "dead", "unknown"]
    rtt_ms: float | None = None
    checked_ms: int | None = None


class MonitoringReason(_Answer):
    alarm_id: str | None
    key: str
    site: str
    condition: str
    priority: Priority
    state: str
    note: str | None = None


class Monitoring(_Answer):
    degraded: bool
    reasons: list[MonitoringReason]
    chain: ChainOut


class Health(_Answer):
    status: Literal["ok", "degraded", "failing"]
    broker: bool
    store: bool
    chain: ChainOut | None = None
