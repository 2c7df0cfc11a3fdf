"""What the alarm core knows and what it answers with.

- `AlarmPoint`: one condition of one sensor (or `offline` of one gateway), the unit of
  the ISA-18.2 state machine; its `key` is `site/sensor/condition`.
- `Occurrence`: one episode of a point (`alarm_id` = `key#n`), from raise to normal.
- `SensorState`, `GatewayLink`: what the core remembers about a sensor and a gateway.
- `Event` (journalled, and published when `published`), `NotifyRequest` (for the
  notifiers of the shell), `RiskChange`; `Output` gathers them for one input.

Every stateful object turns into a JSON-able dict (`doc()`) and back (`load`), so the
shell can persist it in the same transaction as the journal entries.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields
from typing import Any, Generic, TypeVar

from hazmon.alarms.core.table import HIDDEN_STATES, State
from hazmon.contract.kinds import Condition, Priority

Doc = dict[str, Any]
Value = float | str | None
LastReading = tuple[int | None, int | None, Value, str]  # ts_ms, seen_ms, value, quality
LastRow = list[Any]  # a LastReading, changed in place (SensorState.row)
T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Event:
    """One journal entry; a point's event is also an alarm event (docs/contract.md §6)."""

    key: str
    site: str
    event: str
    ts_ms: int
    alarm_id: str | None = None
    gateway: str = ""
    sensor: str = ""
    condition: str = ""
    priority: str = ""
    from_state: str | None = None
    state: str | None = None
    returned: bool = False
    value: Value = None
    user: str | None = None
    note: str | None = None
    published: bool = True  # False: journal only (notes, permits, out-of-service)

    def wire(self) -> Doc:
        """The alarm event of docs/contract.md §6."""
        return {
            "alarm_id": self.alarm_id,
            "key": self.key,
            "site": self.site,
            "gateway": self.gateway,
            "sensor": self.sensor,
            "condition": self.condition,
            "priority": self.priority,
            "event": self.event,
            "state": self.state,
            "returned": self.returned,
            "value": self.value,
            "ts_ms": self.ts_ms,
            "user": self.user,
            "note": self.note,
        }


@dataclass(frozen=True, slots=True)
class NotifyRequest:
    """Tell one recipient (a notifier of the registry) about one alarm event."""

    id: str  # unique and stable: also the idempotency key a webhook receives
    recipient: str
    alarm_id: str
    key: str
    site: str
    tier: int
    payload: Doc  # the alarm event (docs/contract.md §6)

    def doc(self) -> Doc:
        return asdict(self)

    @classmethod
    def load(cls, doc: Doc) -> NotifyRequest:
        return cls(**doc)


@dataclass(frozen=True, slots=True)
class RiskChange:
    site: str
    grade: str
    level: int
    ts_ms: int


@dataclass(slots=True)
class Output:
    events: list[Event] = field(default_factory=list)
    notify: list[NotifyRequest] = field(default_factory=list)
    risk: list[RiskChange] = field(default_factory=list)

    def extend(self, other: Output) -> None:
        self.events.extend(other.events)
        self.notify.extend(other.notify)
        self.risk.extend(other.risk)

    def __bool__(self) -> bool:
        return bool(self.events or self.notify or self.risk)


@dataclass(slots=True)
class Occurrence:
    alarm_id: str
    raised_ms: int
    latest: Doc  # the occurrence's latest alarm event
    acked_ms: int | None = None
    acked_by: str | None = None
    ended_ms: int | None = None
    # escalation, on the service clock
    esc_since_ms: int | None = None  # unacknowledged since; None: not escalating
    esc_round: int = 0  # escalation runs started (a new raise after unshelving is one)
    esc_done: int = 0  # tiers notified, then reminders sent, in this round
    esc_last_ms: int | None = None
    esc_event: Doc | None = None  # the event that started this round (tier 1 gets it)

    def doc(self) -> Doc:
        return {name: getattr(self, name) for name in _OCCURRENCE_FIELDS}

    @classmethod
    def load(cls, doc: Doc) -> Occurrence:
        return cls(**doc)

    def public(self) -> Doc:
        """What the API lists: the latest event plus raised, acked."""
        return {
            **self.latest,
            "raised_ms": self.raised_ms,
            "acked_ms": self.acked_ms,
            "acked_by": self.acked_by,
        }


@dataclass(slots=True)
class AlarmPoint:
    key: str
    site: str
    gateway: str
    sensor: str
    condition: Condition
    priority: Priority
    latched: bool
    # the ISA-18.2 state and the evaluated condition
    state: State = State.normal
    returned: bool = False
    active: bool = False
    pending_ts_ms: int | None = None  # an on- or off-delay running since this reading
    pending_value: Value = None  # the latest value that met the condition while it ran
    count: int = 0  # occurrences so far
    occ: Occurrence | None = None
    shelved_until_ms: int | None = None
    before_hiding: State | None = None  # the state it had when it was hidden

    @property
    def open(self) -> bool:
        """Whether the point has an occurrence not yet ended."""
        return self.occ is not None

    @property
    def hidden(self) -> bool:
        return self.state in HIDDEN_STATES

    @property
    def hazard(self) -> bool:
        """Counts for the risk grade: condition active, or occurrence not yet ended."""
        return self.active or self.occ is not None

    def doc(self) -> Doc:
        return {
            "state": self.state.value,
            "returned": self.returned,
            "active": self.active,
            "pending_ts_ms": self.pending_ts_ms,
            "pending_value": self.pending_value,
            "count": self.count,
            "shelved_until_ms": self.shelved_until_ms,
            "before_hiding": self.before_hiding.value if self.before_hiding else None,
        }

    def load(self, doc: Doc) -> None:
        self.state = State(doc["state"])
        self.returned = bool(doc["returned"])
        self.active = bool(doc["active"])
        self.pending_ts_ms = doc.get("pending_ts_ms")
        self.pending_value = doc.get("pending_value")
        self.count = int(doc["count"])
        self.shelved_until_ms = doc.get("shelved_until_ms")
        before = doc.get("before_hiding")
        self.before_hiding = State(before) if before else None


@dataclass(slots=True)
class Permit:
    """An interlock bypass permit (IEC 61511 §16.2)."""

    until_ms: int
    reason: str
    approved_by: str
    compensating_measures: str
    user: str
    granted_ms: int

    def valid(self, now_ms: int) -> bool:
        return now_ms < self.until_ms


class _RowItem(Generic[T]):
    """An attribute that is one item of the object's `row` list (SensorState's
    `last_*`: the row itself is what the plant's tables hold)."""

    def __init__(self, index: int) -> None:
        self.index = index

    def __get__(self, obj: Any, owner: Any = None) -> T:
        return obj.row[self.index]  # type: ignore[no-any-return]

    def __set__(self, obj: Any, value: T) -> None:
        obj.row[self.index] = value


@dataclass(slots=True)
class SensorState:
    site: str
    gateway: str
    sensor: str
    # the last live reading evaluated: [ts_ms (reading clock, capped), seen_ms (when it
    # arrived, service clock), value, quality], the `last_*` properties. One list for
    # the sensor's life, changed in place: the plant's per-site table of last readings
    # (`Plant.last_rows`) holds the same list, so persisting a site's last readings is
    # one serialization of that table, not a walk over its sensors
    row: LastRow = field(default_factory=lambda: [None, None, None, "good"])
    last_raw_ts_ms: int | None = None  # the last reading's own stamp, uncapped (in memory only)
    last_hist_ts_ms: int | None = None
    hist_active: list[str] = field(default_factory=list)  # conditions active in replay
    maintenance_since_ms: int | None = None
    maintenance_overrun: bool = False
    oos_until_ms: int | None = None
    oos_reason: str | None = None
    oos_by: str | None = None
    permit: Permit | None = None
    # an interlock in a cause-and-effect matrix (hazmon.alarms.core.cause_effect): the
    # demands waiting for its trip, by matrix row, and when it last tripped
    ce_demands: dict[str, Doc] = field(default_factory=dict)
    ce_tripped_ms: int | None = None

    @property
    def id(self) -> str:
        return f"{self.site}/{self.sensor}"

    last_ts_ms = _RowItem[int | None](0)
    last_seen_ms = _RowItem[int | None](1)
    last_value = _RowItem[Value](2)
    last_quality = _RowItem[str](3)

    @property
    def in_maintenance(self) -> bool:
        return self.maintenance_since_ms is not None and not self.maintenance_overrun

    def doc(self) -> Doc:
        """What changes only with the sensor's situation (maintenance, out of service,
        permit, replay); the last reading is `last()`, persisted apart and cheaply, since
        every reading changes it."""
        doc = {name: getattr(self, name) for name in _SENSOR_FIELDS}
        doc["hist_active"] = list(self.hist_active)
        doc["ce_demands"] = {row: dict(d) for row, d in self.ce_demands.items()}
        doc["permit"] = asdict(self.permit) if self.permit is not None else None
        return doc

    def last(self) -> LastReading:
        ts_ms, seen_ms, value, quality = self.row
        return (ts_ms, seen_ms, value, quality)

    def load_last(self, row: LastReading) -> None:
        self.row[:] = row  # in place: the plant's table holds this list

    def load(self, doc: Doc) -> None:
        for name in (
            "last_ts_ms", "last_seen_ms", "last_value", "last_quality", "last_hist_ts_ms",
            "hist_active", "maintenance_since_ms", "maintenance_overrun", "oos_until_ms",
            "oos_reason", "oos_by", "ce_demands", "ce_tripped_ms",
        ):
            if name in doc:
                setattr(self, name, doc[name])
        permit = doc.get("permit")
        self.permit = Permit(**permit) if permit else None


_SENSOR_FIELDS = tuple(
    f.name for f in fields(SensorState)
    if f.name not in ("permit", "row", "last_raw_ts_ms")
)
_OCCURRENCE_FIELDS = tuple(f.name for f in fields(Occurrence))


@dataclass(slots=True)
class GatewayLink:
    """What the core knows of a gateway's connection."""

    site: str
    gateway: str
    period_s: float
    boot: int = -1  # the newest boot seen
    seq: int = -1  # the highest seq of that boot evaluated
    dead_boot: int | None = None  # a boot its will message (or online: false) ended
    last_rx_ms: int | None = None  # last live telemetry (service clock)
    alive_since_ms: int | None = None  # since when it is delivering again
    recent: list[tuple[int, int]] = field(default_factory=list)  # (boot, seq), not kept
    # messages not come yet: [boot, first seq, last seq, noticed at, a new boot's start]
    missing: list[list[int]] = field(default_factory=list)
    id: str = field(init=False, default="")  # site/gateway

    def __post_init__(self) -> None:
        self.id = f"{self.site}/{self.gateway}"

    def note_message(self, boot: int, seq: int) -> None:
        """Keep the newest boot and the highest seq of it (a restart's repeat mark)."""
        if boot > self.boot:
            self.boot, self.seq = boot, seq
        elif boot == self.boot and seq > self.seq:
            self.seq = seq

    @property
    def offline_after_ms(self) -> int:
        return int(max(3 * self.period_s, 10.0) * 1000)

    def doc(self) -> Doc:
        return {
            "boot": self.boot,
            "seq": self.seq,
            "dead_boot": self.dead_boot,
            "last_rx_ms": self.last_rx_ms,
            "alive_since_ms": self.alive_since_ms,
            "missing": self.missing,
        }

    def load(self, doc: Doc) -> None:
        self.boot = int(doc.get("boot", -1))
        self.seq = int(doc.get("seq", -1))
        self.dead_boot = doc.get("dead_boot")
        self.last_rx_ms = doc.get("last_rx_ms")
        self.alive_since_ms = doc.get("alive_since_ms")
        self.missing = [[int(x) for x in r] for r in doc.get("missing") or []]


@dataclass(frozen=True, slots=True)
class OccurrenceRecord:
    """An occurrence as the shell stores it: indexed columns and the whole doc."""

    alarm_id: str
    key: str
    site: str
    priority: str
    raised_ms: int
    ended_ms: int | None
    doc: Doc


@dataclass(slots=True)
class Dirty:
    """What changed since the shell last persisted: docs to upsert, by id."""

    sensors: dict[str, Doc] = field(default_factory=dict)
    points: dict[str, Doc] = field(default_factory=dict)
    gateways: dict[str, Doc] = field(default_factory=dict)
    occurrences: dict[str, OccurrenceRecord] = field(default_factory=dict)
    # the last readings that changed. From the engine: the sensors by gateway
    # (`site/gateway`) and every gateway's table of rows (`Plant.last_rows`, live: read
    # it before evaluating on), split into documents and rows at commit
    # (`split_last`). From a changelog record: `last_docs` and `last_rows` as split
    # by the owner, or (older records) `last`, rows by site
    last_changed: dict[str, set[str]] = field(default_factory=dict)
    last_tables: dict[str, dict[str, LastRow]] = field(default_factory=dict)
    last_docs: dict[str, dict[str, LastRow]] = field(default_factory=dict)
    last_rows: dict[str, LastRow] = field(default_factory=dict)
    last: dict[str, dict[str, LastRow]] = field(default_factory=dict)

    def split_last(self, doc_from: int, doc_share: int) -> None:
        """Move the engine's changed last readings into `last_docs` (a gateway's whole
        table, when at least `doc_from` of its sensors changed or 1/`doc_share` of
        them) and `last_rows` (the others, by sensor id). Idempotent."""
        for gid, changed in self.last_changed.items():
            table = self.last_tables[gid]
            if len(changed) < doc_from and len(changed) * doc_share < len(table):
                site = gid.partition("/")[0]
                self.last_rows.update((f"{site}/{sensor}", table[sensor]) for sensor in changed)
            else:
                self.last_docs[gid] = table
        self.last_changed = {}

    def __bool__(self) -> bool:
        return bool(
            self.sensors or self.points or self.gateways or self.occurrences or self.last
            or self.last_changed or self.last_docs or self.last_rows
        )
