"""System alarms: hazmon's own faults (a background writer failing, a journal started
shortened by an auditor's decision) as alarms an operator sees, made in the service
shell; the alarm core knows nothing of them.

A system alarm has the reserved site `_system` (no registry id can begin with `_`),
the key `_system/<service>/<what>` (so `sensor` is the service and `condition` what
failed, e.g. `_system/alarms/anchor-file`), priority high (critical for the alarm chain
dead and the broker dropping messages, which the chain watch reports: alarms/watch.py),
and the last error as its note. It is journalled, published on
`hazmon/v1/_system/alarms`, stored, sent to live streams and listed by the API like
any alarm, and goes through the same ISA-18.2 states and escalation as a process
alarm (docs/alarms.md, "System alarms"):

- its source starts failing: `raised`, normal -> unack; failing again while
  rtn_unack: `raised` again, rtn_unack -> unack (the same occurrence);
- its source works again: `cleared`, unack -> rtn_unack (it waits for an
  acknowledgement) or acked -> normal (the occurrence ends);
- an operator acknowledges it (`ack`, the only operator input it takes): unack ->
  acked, rtn_unack -> normal;
- while unack or rtn_unack its priority's escalation tiers are told in turn, then the
  last tier every `repeat_s` (`escalated` events), as for a process alarm. A dead chain
  or a dropping broker is told to everyone at once by the chain watch itself, which
  works when this service does not; the service tells the later tiers.
"""

from __future__ import annotations

import copy
import dataclasses
import logging
from dataclasses import dataclass, field

from hazmon.alarms.core import escalation
from hazmon.alarms.core.errors import IllegalTransition, UnknownAlarm
from hazmon.alarms.core.model import Dirty, Event, NotifyRequest, OccurrenceRecord
from hazmon.alarms.state_db import AlarmDb
from hazmon.contract.kinds import Priority
from hazmon.contract.registry import Escalation

log = logging.getLogger(__name__)

SITE = "_system"
PRIORITY = "high"
WATCHED = frozenset({"chain_dead", "broker_dropping"})  # what the chain watch reports


def priority_of(key: str) -> str:
    return "critical" if told_by_watch(key) else PRIORITY


def told_by_watch(key: str) -> bool:
    """A dead chain or a dropping broker (critical): the chain watch, which works when
    the alarm service does not, sends their notifications itself."""
    return key.rpartition("/")[2] in WATCHED


def watch_sources(component: str) -> tuple[str, str]:
    """The sources of the chain watch's verdicts in a service's journal: `chain/...` and
    `broker/...` for the one alarm service on MQTT; each JetStream partition's own
    (`alarms-p3/chain_dead`: its lane of the chain, the stream discarding)."""
    if component == "alarms":
        return "chain/chain_dead", "broker/broker_dropping"
    return f"{component}/chain_dead", f"{component}/broker_dropping"


def key_of(source: str) -> str:
    """`alarms/anchor-file` -> `_system/alarms/anchor-file`."""
    service, _, what = source.partition("/")
    return f"{SITE}/{service}/{what or 'service'}"


@dataclass(slots=True)
class Change:
    """What to commit (the journal entries and the occurrences they open or end)."""

    events: list[Event] = field(default_factory=list)
    dirty: Dirty = field(default_factory=Dirty)
    notify: list[NotifyRequest] = field(default_factory=list)

    def __bool__(self) -> bool:
        return bool(self.events)


def event(source: str, name: str, *, alarm_id: str | None, ts_ms: int, from_state: str | None,
          state: str | None, note: str | None, published: bool = True) -> Event:
    key = key_of(source)
    _, sensor, condition = key.split("/", 2)
    return Event(
        key=key, site=SITE, event=name, ts_ms=ts_ms, alarm_id=alarm_id, sensor=sensor,
        condition=condition, priority=priority_of(key), from_state=from_state, state=state,
        note=note, published=published,
    )


@dataclass(slots=True)
class Raised:
    """An open system alarm: its state and its escalation round."""

    alarm_id: str
    raised_ms: int
    latest: dict[str, object]
    state: str = "unack"  # unack, acked or rtn_unack
    acked_ms: int | None = None
    acked_by: str | None = None
    esc_since_ms: int | None = None  # the round started (unack or rtn_unack), else None
    esc_done: int = 0  # steps told in this round: tiers, then reminders
    esc_last_ms: int | None = None

    def doc(self, ended_ms: int | None) -> dict[str, object]:
        return {"alarm_id": self.alarm_id, "raised_ms": self.raised_ms, "latest": self.latest,
                "state": self.state, "acked_ms": self.acked_ms, "acked_by": self.acked_by,
                "ended_ms": ended_ms, "esc_since_ms": self.esc_since_ms,
                "esc_done": self.esc_done, "esc_last_ms": self.esc_last_ms}

    @classmethod
    def load(cls, alarm_id: str, raised_ms: int, doc: dict[str, object]) -> Raised:
        latest = doc.get("latest")
        latest = latest if isinstance(latest, dict) else {}
        state = str(doc.get("state") or latest.get("state") or "unack")
        since = doc.get("esc_since_ms", raised_ms if state != "acked" else None)
        last = doc.get("esc_last_ms")
        acked_ms = doc.get("acked_ms")
        return cls(alarm_id, raised_ms, latest, state,
                   acked_ms=int(acked_ms) if isinstance(acked_ms, int) else None,
                   acked_by=str(doc["acked_by"]) if doc.get("acked_by") else None,
                   esc_since_ms=int(since) if isinstance(since, int) else None,
                   esc_done=int(doc.get("esc_done", 1)),  # type: ignore[call-overload]
                   esc_last_ms=int(last) if isinstance(last, int) else None)


ESCALATING = frozenset({"unack", "rtn_unack"})


class SystemAlarms:
    """The open system alarms, kept in step with the faults reported (`sync`), the
    operators' acknowledgements (`ack`) and the escalation policy (`escalate`). The
    caller holds its desk's lock and journals each change (`commit`, `committed`)."""

    def __init__(self) -> None:
        self.open: dict[str, Raised] = {}  # source: its open occurrence
        self.failing: set[str] = set()  # sources failing at the last sync

    def restore(self, key: str, alarm_id: str, raised_ms: int, doc: dict[str, object]) -> None:
        """An occurrence left open by a previous run (by key, its occurrence doc)."""
        source = key.removeprefix(f"{SITE}/")
        occ = Raised.load(alarm_id, raised_ms, doc)
        self.open[source] = occ
        if occ.state != "rtn_unack":
            self.failing.add(source)

    def sync(self, failing: dict[str, str], now_ms: int, *, numbers: dict[str, int]) -> Change:
        """Raise an alarm for each source that started failing, clear those of sources
        that work again. `numbers`: occurrences of each key so far."""
        change = Change()
        for source, detail in sorted(failing.items()):
            occ = self.open.get(source)
            if source in self.failing and occ is not None:
                continue
            if occ is None:
                key = key_of(source)
                occ = Raised(f"{key}#{numbers.get(key, 0) + 1}", now_ms, {})
                self._step(change, source, occ, "raised", "normal", "unack", now_ms, detail)
            elif occ.state == "rtn_unack":  # failing again before anyone acknowledged it
                self._step(change, source, occ, "raised", "rtn_unack", "unack", now_ms, detail)
        for source in sorted(set(self.open) - set(failing)):
            occ = self.open[source]
            if occ.state == "unack":
                self._step(change, source, occ, "cleared", "unack", "rtn_unack", now_ms,
                           "works again")
            elif occ.state == "acked":
                self._step(change, source, occ, "cleared", "acked", "normal", now_ms,
                           "works again")
        return change

    def commit_ack(self, db: AlarmDb, alarm_id: str, user: str, note: str | None,
                   now_ms: int) -> Change:
        """`ack`, journalled (the caller holds the desk's lock)."""
        saved = copy.deepcopy(self.open)
        try:
            change = self.ack(alarm_id, user, note, now_ms)
            db.commit(change.events, change.dirty)
        except Exception:  # refused or not journalled: nothing changed
            self.open = saved
            raise
        self.committed(change)
        return change

    def ack(self, alarm_id: str, user: str, note: str | None, now_ms: int) -> Change:
        """An operator's acknowledgement: unack -> acked, rtn_unack -> normal."""
        found = [(s, o) for s, o in self.open.items() if o.alarm_id == alarm_id]
        if not found:
            raise UnknownAlarm(alarm_id)
        source, occ = found[0]
        if occ.state not in ESCALATING:
            raise IllegalTransition(occ.state, "ack", alarm_id)
        change = Change()
        to = "acked" if occ.state == "unack" else "normal"
        occ.acked_ms, occ.acked_by = now_ms, user
        self._step(change, source, occ, "acked", occ.state, to, now_ms, note, user=user)
        return change

    def escalate(self, policy: Escalation, now_ms: int) -> Change:
        """The tiers due for every unacknowledged system alarm: tier k once it has been
        unacknowledged for its `after_s`, then the last tier every `repeat_s` (one
        reminder at a time, however many fell due), by hazmon.alarms.core.escalation."""
        change = Change()
        for source, occ in sorted(self.open.items()):
            key = key_of(source)
            tiers = policy.tiers(Priority(priority_of(key)))
            if occ.esc_since_ms is None or not tiers:
                continue
            while True:
                step = occ.esc_done
                due_ms, tier = escalation.due(tiers, step, since_ms=occ.esc_since_ms,
                                              last_ms=occ.esc_last_ms,
                                              repeat_ms=int(policy.repeat_s * 1000))
                if now_ms < due_ms:
                    break
                if step == 0:
                    payload = occ.latest  # tier 1 is told of the event that started it
                else:
                    ev = event(source, "escalated", alarm_id=occ.alarm_id, ts_ms=now_ms,
                               from_state=occ.state, state=occ.state,
                               note=escalation.step_note(step, len(tiers), tier))
                    change.events.append(ev)
                    payload = occ.latest = ev.wire()
                if not (step == 0 and told_by_watch(key)):  # the watch told everyone
                    change.notify += [
                        NotifyRequest(f"{occ.alarm_id}|{occ.esc_since_ms}|s{step}|{r}", r,
                                      occ.alarm_id, key, SITE, min(step, len(tiers) - 1) + 1,
                                      payload)
                        for r in tier.notify]
                occ.esc_done, occ.esc_last_ms = step + 1, now_ms
                self._record(change, occ, ended_ms=None)
                if step >= len(tiers):
                    break
        return change

    def commit(self, db: AlarmDb, failing: dict[str, str], now_ms: int,
               policy: Escalation | None = None) -> Change:
        """`sync` and `escalate`, journalled (the caller holds the desk's lock)."""
        saved = copy.deepcopy(self.open), set(self.failing)
        try:
            change = self.sync(failing, now_ms, numbers=db.occurrence_numbers(SITE))
            self.failing = set(failing)
            if policy is not None:
                escalated = self.escalate(policy, now_ms)
                change.events += escalated.events
                change.notify += escalated.notify
                change.dirty.occurrences.update(escalated.dirty.occurrences)
            if change.events or change.dirty.occurrences:
                db.commit(change.events, change.dirty)
        except Exception:  # not journalled: as it was, tried again at the next sync
            self.open, self.failing = saved
            raise
        for ev in change.events:
            if ev.event in ("raised", "cleared"):
                log.error("system alarm %s %s: %s", ev.key, ev.event, ev.note)
        self.committed(change)
        return change

    def committed(self, change: Change) -> None:
        """The change is in the journal: an occurrence back to normal is over."""
        for ev in change.events:
            if ev.state == "normal":
                self.open.pop(ev.key.removeprefix(f"{SITE}/"), None)

    def _step(self, change: Change, source: str, occ: Raised, name: str, before: str,
              to: str, now_ms: int, note: str | None, *, user: str | None = None) -> None:
        ev = event(source, name, alarm_id=occ.alarm_id, ts_ms=now_ms, from_state=before,
                   state=to, note=note)
        if user is not None:
            ev = dataclasses.replace(ev, user=user)
        change.events.append(ev)
        occ.state, occ.latest = to, ev.wire()
        if to in ESCALATING and before not in ESCALATING:  # a new round, from tier 1
            occ.esc_since_ms, occ.esc_done, occ.esc_last_ms = now_ms, 0, None
        elif to not in ESCALATING:
            occ.esc_since_ms = None
        self.open[source] = occ
        self._record(change, occ, ended_ms=now_ms if to == "normal" else None)

    @staticmethod
    def _record(change: Change, occ: Raised, *, ended_ms: int | None) -> None:
        key = str(occ.latest.get("key")) if occ.latest.get("key") else occ.alarm_id.split("#")[0]
        change.dirty.occurrences[occ.alarm_id] = OccurrenceRecord(
            occ.alarm_id, key, SITE, priority_of(key), occ.raised_ms, ended_ms,
            occ.doc(ended_ms))
