"""`FakeDesk`: an in-memory Desk for tests of the API and the console.

It is not the alarm service: it evaluates no readings. A test raises and clears
occurrences by hand (`raise_alarm`, `clear`), and the operator inputs follow the
ISA-18.2 table of docs/alarms.md (illegal ones raise IllegalTransition and change
nothing), so the API's status codes and the console's flows can be checked against
it. It remembers whether each condition is still active, so that unshelving and
returning to service re-evaluate (`unack` if active, else `normal`), and it hides an
occurrence while its sensor is out of service. Every action is journalled in memory
with the real journal's entry fields, hash chain, exports and verification
(hazmon.alarms.journal.chain, hazmon.alarms.journal.export).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Iterator
from typing import Any, Literal

from hazmon.alarms.core.inputs import (
    Ack,
    BypassPermit,
    Note,
    OperatorInput,
    OutOfService,
    Reset,
    ReturnToService,
    Shelve,
    Unshelve,
)
from hazmon.alarms.errors import IllegalTransition, LimitExceeded, UnknownAlarm
from hazmon.alarms.journal.chain import GENESIS, entry_hash, verify
from hazmon.alarms.journal.export import export
from hazmon.contract.registry import GRADE_LEVEL, LEVEL_GRADE, Registry

PRIORITY_GRADE = {"critical": 3, "high": 2, "medium": 1}
INTERNAL = frozenset({"latched", "active"})  # kept by the fake, not part of an answer
HIDDEN = frozenset({"shelved", "out_of_service"})
MINUTE_MS = 60_000


class FakeDesk:
    def __init__(self, registry: Registry, *, clock: Callable[[], float] = time.time) -> None:
        self.registry = registry
        self.clock = clock
        self.occurrences: dict[str, dict[str, Any]] = {}
        self.journal: list[dict[str, Any]] = []
        self.permits: list[dict[str, Any]] = []
        self._count: dict[str, int] = {}
        self._queues: list[asyncio.Queue[dict[str, Any]]] = []
        self._grades = self.risk_grades()

    def _now_ms(self) -> int:
        return int(self.clock() * 1000)

    def last_readings(self, site: str) -> dict[str, dict[str, Any]]:
        return {}  # evaluates nothing: the store's newest readings stand

    # -- driving it (tests) -----------------------------------------------------------

    def raise_alarm(
        self, site: str, sensor: str, condition: str, priority: str, value: float | str,
        *, gateway: str = "gw", latched: bool = False,
    ) -> dict[str, Any]:
        key = f"{site}/{sensor}/{condition}"
        self._count[key] = self._count.get(key, 0) + 1
        now = self._now_ms()
        alarm: dict[str, Any] = {
            "alarm_id": f"{key}#{self._count[key]}", "key": key, "site": site,
            "gateway": gateway, "sensor": sensor, "condition": condition,
            "priority": priority, "event": "raised", "state": "normal", "returned": False,
            "value": value, "ts_ms": now, "user": None, "note": None, "raised_ms": now,
            "acked_ms": None, "acked_by": None, "shelved_until_ms": None,
            "latched": latched, "active": True,
        }
        self.occurrences[alarm["alarm_id"]] = alarm
        return self._apply(alarm, "raised", "unack", user=None, note=None)

    def clear(self, alarm_id: str) -> dict[str, Any]:
        alarm = self._get(alarm_id)
        alarm["active"] = False
        if alarm["state"] in HIDDEN:  # still evaluated while hidden; shown again later
            alarm["returned"] = alarm["latched"]
            return self._public(alarm)
        if alarm["latched"]:
            alarm["returned"] = True
            return self._apply(alarm, "cleared", alarm["state"], user=None, note=None)
        to = "rtn_unack" if alarm["state"] == "unack" else "normal"
        return self._apply(alarm, "cleared", to, user=None, note=None)

    # -- the Desk ---------------------------------------------------------------------

    def alarms(
        self, *, active: bool | None = None, site: str | None = None,
        priority: str | None = None, limit: int = 500,
    ) -> list[dict[str, Any]]:
        rows = [
            a for a in reversed(self.occurrences.values())
            if (active is None or (a["state"] != "normal") == active)
            and (site is None or a["site"] == site)
            and (priority is None or a["priority"] == priority)
        ]
        return [self._public(a) for a in rows[:limit]]

    def act(self, inp: OperatorInput) -> dict[str, Any]:
        match inp:
            case Ack(alarm_id, user, note):
                return self.ack(alarm_id, user=user, note=note)
            case Reset(alarm_id, user, note):
                return self.reset(alarm_id, user=user, note=note)
            case Shelve(alarm_id, user, minutes, reason):
                return self.shelve(alarm_id, user=user, minutes=int(minutes), reason=reason)
            case Unshelve(alarm_id, user, note):
                return self.unshelve(alarm_id, user=user, note=note)
            case Note(alarm_id, user, note):
                return self.note(alarm_id, user=user, note=note)
            case BypassPermit():
                return self.bypass_permit(
                    inp.site, inp.sensor, user=inp.user, until_ms=inp.until_ms,
                    reason=inp.reason, approved_by=inp.approved_by,
                    compensating_measures=inp.compensating_measures,
                )
            case OutOfService(site, sensor, user, until_ms, reason):
                return self.out_of_service(site, sensor, user=user, until_ms=until_ms,
                                           reason=reason)
            case ReturnToService(site, sensor, user, note):
                return self.return_to_service(site, sensor, user=user, note=note)

    def ack(self, alarm_id: str, *, user: str, note: str | None) -> dict[str, Any]:
        alarm = self._get(alarm_id)
        to = {"unack": "acked", "rtn_unack": "normal"}.get(alarm["state"])
        if to is None:
            raise IllegalTransition(alarm["state"], "ack", alarm_id)
        alarm["acked_ms"], alarm["acked_by"] = self._now_ms(), user
        return self._apply(alarm, "acked", to, user=user, note=note)

    def reset(self, alarm_id: str, *, user: str, note: str | None) -> dict[str, Any]:
        alarm = self._get(alarm_id)
        if alarm["state"] != "acked" or not alarm["returned"]:
            raise IllegalTransition(alarm["state"], "reset", alarm_id)
        return self._apply(alarm, "reset", "normal", user=user, note=note)

    def shelve(self, alarm_id: str, *, user: str, minutes: int, reason: str) -> dict[str, Any]:
        alarm = self._get(alarm_id)
        if alarm["state"] not in ("unack", "acked", "rtn_unack"):
            raise IllegalTransition(alarm["state"], "shelve", alarm_id)
        rules = self.registry.shelving
        if alarm["priority"] == "critical" and not rules.allow_critical:
            raise LimitExceeded("a critical alarm cannot be shelved")
        if minutes > rules.max_minutes:
            raise LimitExceeded(f"shelving lasts at most {rules.max_minutes:g} minutes")
        alarm["shelved_until_ms"] = self._now_ms() + minutes * MINUTE_MS
        return self._apply(alarm, "shelved", "shelved", user=user, note=reason)

    def unshelve(self, alarm_id: str, *, user: str, note: str | None) -> dict[str, Any]:
        alarm = self._get(alarm_id)
        if alarm["state"] != "shelved":
            raise IllegalTransition(alarm["state"], "unshelve", alarm_id)
        return self._re_evaluate(alarm, "unshelved", user=user, note=note)

    def note(self, alarm_id: str, *, user: str, note: str) -> dict[str, Any]:
        alarm = self._get(alarm_id)
        self._journal(alarm, "note", alarm["state"], alarm["state"], user, note)
        return self._public(alarm)

    def bypass_permit(
        self, site: str, sensor: str, *, user: str, until_ms: int, reason: str,
        approved_by: str, compensating_measures: str,
    ) -> dict[str, Any]:
        return self._permit("bypass", site, sensor, user, until_ms, reason,
                            approved_by=approved_by, compensating_measures=compensating_measures)

    def out_of_service(
        self, site: str, sensor: str, *, user: str, until_ms: int, reason: str
    ) -> dict[str, Any]:
        permit = self._permit("out_of_service", site, sensor, user, until_ms, reason)
        for alarm in self._open_of(site, sensor):
            if alarm["state"] != "out_of_service":
                self._apply(alarm, "suppressed", "out_of_service", user=user, note=reason)
        return permit

    def return_to_service(
        self, site: str, sensor: str, *, user: str, note: str | None
    ) -> dict[str, Any]:
        now = self._now_ms()
        permits = [p for p in self.permits if p["kind"] == "out_of_service"
                   and (p["site"], p["sensor"]) == (site, sensor) and p["until_ms"] > now]
        if not permits:
            raise IllegalTransition("in service", "return to service", f"{site}/{sensor}")
        self.permits = [p for p in self.permits if p not in permits]
        for alarm in self._open_of(site, sensor):
            if alarm["state"] == "out_of_service":
                self._re_evaluate(alarm, "unsuppressed", user=user, note=note)
        return {"site": site, "sensor": sensor, "user": user, "note": note}

    def risk_grades(self) -> dict[str, str]:
        grades = {}
        for site in self.registry.sites:
            level = GRADE_LEVEL[site.baseline_risk]
            for alarm in self.occurrences.values():
                if alarm["site"] == site.id and alarm["state"] != "normal":
                    level = max(level, PRIORITY_GRADE[alarm["priority"]])
            grades[site.id] = LEVEL_GRADE[level]
        return grades

    def active_counts(self, site: str) -> dict[str, int]:
        counts = {"critical": 0, "high": 0, "medium": 0}
        for alarm in self.occurrences.values():
            if alarm["site"] == site and alarm["state"] != "normal":
                counts[alarm["priority"]] += 1
        return counts

    def subscribe(self) -> asyncio.Queue[dict[str, Any]]:
        queue: asyncio.Queue[dict[str, Any]] = asyncio.Queue(maxsize=1000)
        self._queues.append(queue)
        return queue

    def unsubscribe(self, queue: asyncio.Queue[dict[str, Any]]) -> None:
        if queue in self._queues:
            self._queues.remove(queue)

    def journal_export(
        self, *, from_ms: int | None, to_ms: int | None, site: str | None,
        fmt: Literal["csv", "jsonl"],
    ) -> Iterator[str]:
        rows = [
            e for e in self.journal
            if (from_ms is None or e["ts_ms"] >= from_ms)
            and (to_ms is None or e["ts_ms"] <= to_ms)
            and (site is None or e["site"] == site)
        ]
        return export(rows, fmt)

    def journal_verify(self) -> dict[str, Any]:
        answer = verify(self.journal).answer()
        return {k: answer[k] for k in ("ok", "entries", "first_bad", "anchor")}

    def kpi(self, *, from_ms: int, to_ms: int, site: str | None) -> dict[str, Any]:
        raised = [e for e in self.journal if e["event"] == "raised"
                  and from_ms <= e["ts_ms"] <= to_ms
                  and (site is None or e["site"] == site)]
        return {"from_ms": from_ms, "to_ms": to_ms, "site": site, "raised": len(raised)}

    # -- inside -----------------------------------------------------------------------

    def _get(self, alarm_id: str) -> dict[str, Any]:
        alarm = self.occurrences.get(alarm_id)
        if alarm is None:
            raise UnknownAlarm(alarm_id)
        return alarm

    def _public(self, alarm: dict[str, Any]) -> dict[str, Any]:
        return {k: v for k, v in alarm.items() if k not in INTERNAL}

    def _open_of(self, site: str, sensor: str) -> list[dict[str, Any]]:
        return [a for a in self.occurrences.values()
                if (a["site"], a["sensor"]) == (site, sensor) and a["state"] != "normal"]

    def _re_evaluate(
        self, alarm: dict[str, Any], event: str, *, user: str, note: str | None
    ) -> dict[str, Any]:
        """Shown again: `unack` (and raised again) if its condition is active, else
        `normal` (the occurrence ends)."""
        if not alarm["active"]:
            return self._apply(alarm, event, "normal", user=user, note=note)
        self._apply(alarm, event, "unack", user=user, note=note)
        return self._apply(alarm, "raised", "unack", user=user, note=note)

    def _apply(
        self, alarm: dict[str, Any], event: str, to: str, *, user: str | None, note: str | None
    ) -> dict[str, Any]:
        before = alarm["state"]
        alarm.update(event=event, state=to, ts_ms=self._now_ms(), user=user, note=note)
        if to != "shelved":
            alarm["shelved_until_ms"] = None
        self._journal(alarm, event, before, to, user, note)
        self._publish("alarm", self._public(alarm))
        grades = self.risk_grades()
        if grades[alarm["site"]] != self._grades.get(alarm["site"]):
            self._publish("risk", {"site": alarm["site"], "grade": grades[alarm["site"]],
                                   "ts_ms": self._now_ms()})
        self._grades = grades
        return self._public(alarm)

    def _journal(
        self, alarm: dict[str, Any], event: str, before: str, to: str, user: str | None,
        note: str | None,
    ) -> None:
        body = {"seq": len(self.journal) + 1, "ts_ms": self._now_ms(),
                "alarm_id": alarm["alarm_id"], "key": alarm["key"], "event": event,
                "from_state": before, "to_state": to, "value": alarm["value"], "user": user,
                "note": note, "site": alarm["site"]}
        prev = self.journal[-1]["hash"] if self.journal else GENESIS
        self.journal.append({**body, "prev": prev, "hash": entry_hash(prev, body)})

    def _publish(self, kind: str, data: dict[str, Any]) -> None:
        for queue in self._queues:
            if queue.full():
                queue.get_nowait()
            queue.put_nowait({"type": kind, "data": data})

    def _permit(
        self, kind: str, site: str, sensor: str, user: str, until_ms: int, reason: str,
        **extra: str,
    ) -> dict[str, Any]:
        if not any(s.id == site and x.id == sensor for s, _, x in self.registry.sensors()):
            raise UnknownAlarm(f"{site}/{sensor}")
        if until_ms <= self._now_ms():
            raise LimitExceeded("the permit must end in the future")
        permit = {"kind": kind, "site": site, "sensor": sensor, "user": user,
                  "until_ms": until_ms, "reason": reason, **extra}
        self.permits.append(permit)
        return permit
