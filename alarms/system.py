"""System alarms: hazmon's own faults (a background writer failing, a journal started
shortened by an auditor's decision) as alarms an operator sees, made in the service
shell; the alarm core knows nothing of them.

A system alarm has the reserved site `_system` (no registry id can begin with `_`),
the key `_system/<service>/<what>` (so `sensor` is the service and `condition` what
failed, e.g. `_system/alarms/anchor-file`), priority high (critical for the alarm chain
dead and the broker dropping messages, which the chain watch reports: alarms/watch.py),
and the last error as its note. It is journalled, published on
`hazmon/v1/_system/alarms`, stored, sent to live streams and listed by the API like
any alarm, and told to the first escalation tier of its priority when raised and
when cleared (AlarmService; the chain watch tells of its own). It needs no
acknowledgement: it is `raised` (normal -> unack) when its source starts failing and
`cleared` (-> normal, the occurrence ends) once the source works again.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

from hazmon.alarms.core.model import Dirty, Event, OccurrenceRecord
from hazmon.alarms.state_db import AlarmDb

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
    alarm_id: str
    raised_ms: int
    latest: dict[str, object]


class SystemAlarms:
    """The open system alarms, kept in step with the faults reported (`sync`)."""

    def __init__(self) -> None:
        self.open: dict[str, Raised] = {}  # source: its open occurrence

    def restore(self, key: str, alarm_id: str, raised_ms: int, latest: dict[str, object]) -> None:
        """An occurrence left open by a previous run (by key)."""
        source = key.removeprefix(f"{SITE}/")
        self.open[source] = Raised(alarm_id, raised_ms, latest)

    def sync(self, failing: dict[str, str], now_ms: int, *, numbers: dict[str, int]) -> Change:
        """Raise an alarm for each failing source without one, clear the alarms of
        sources that work again. `numbers`: occurrences of each key so far."""
        change = Change()
        for source, detail in sorted(failing.items()):
            if source in self.open:
                continue
            key = key_of(source)
            alarm_id = f"{key}#{numbers.get(key, 0) + 1}"
            raised = event(source, "raised", alarm_id=alarm_id, ts_ms=now_ms,
                           from_state="normal", state="unack", note=detail)
            self._record(change, raised, now_ms, ended_ms=None)
        for source in sorted(set(self.open) - set(failing)):
            occ = self.open[source]
            cleared = event(source, "cleared", alarm_id=occ.alarm_id, ts_ms=now_ms,
                            from_state="unack", state="normal", note="works again")
            self._record(change, cleared, occ.raised_ms, ended_ms=now_ms)
        return change

    def commit(self, db: AlarmDb, failing: dict[str, str], now_ms: int) -> list[Event]:
        """`sync` and journal the change (the caller holds the desk's lock); the events."""
        change = self.sync(failing, now_ms, numbers=db.occurrence_numbers(SITE))
        if not change:
            return []
        db.commit(change.events, change.dirty)
        self.committed(change)
        for ev in change.events:
            log.error("system alarm %s %s: %s", ev.key, ev.event, ev.note)
        return change.events

    def committed(self, change: Change) -> None:
        """The change is in the journal: keep what is open now."""
        for ev in change.events:
            source = ev.key.removeprefix(f"{SITE}/")
            if ev.event == "raised":
                self.open[source] = Raised(str(ev.alarm_id), ev.ts_ms, ev.wire())
            else:
                self.open.pop(source, None)

    def _record(self, change: Change, ev: Event, raised_ms: int, *, ended_ms: int | None) -> None:
        change.events.append(ev)
        doc = {"alarm_id": ev.alarm_id, "raised_ms": raised_ms, "latest": ev.wire(),
               "acked_ms": None, "acked_by": None, "ended_ms": ended_ms}
        change.dirty.occurrences[str(ev.alarm_id)] = OccurrenceRecord(
            str(ev.alarm_id), ev.key, SITE, priority_of(ev.key), raised_ms, ended_ms, doc
        )
