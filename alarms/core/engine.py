"""The alarm engine: inputs in, events out, no I/O and no clock of its own.

    engine = Engine(registry)
    engine.restore(...)                      # what the shell persisted, if anything
    engine.start(now_ms)                     # silence is measured from here at least
    out = engine.on_batch(site, gw, boot=, seq=, historical=, readings=, now_ms=)
    out = engine.on_gateway_state(site, gw, online=, boot=, now_ms=)
    out = engine.tick(now_ms)                # the service clock: call it every second
    out = engine.act(Ack(alarm_id, user=, note=), now_ms=)   # any operator input
    dirty = engine.take_dirty()              # persist with out.events, atomically

Every call answers an `Output`: the events to journal (and publish), the notifications
to send, and the sites whose risk grade changed.
"""

from __future__ import annotations

from collections import deque
from typing import Any

from hazmon.alarms.core import cause_effect, operator, silence
from hazmon.alarms.core.escalation import escalate, outcome_event
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
from hazmon.alarms.core.model import (
    Dirty,
    Doc,
    Event,
    GatewayLink,
    LastReading,
    NotifyRequest,
    Output,
    RiskChange,
)
from hazmon.alarms.core.plant import Plant
from hazmon.alarms.core.readings import first_tier, historical_reading, live_batch
from hazmon.alarms.core.risk import site_level
from hazmon.contract.registry import LEVEL_GRADE, Registry
from hazmon.contract.sequence import boot_jump
from hazmon.contract.wire import Reading

RECENT_MESSAGES = 1024  # (boot, seq) pairs remembered per gateway to drop redeliveries


class Engine:
    def __init__(self, registry: Registry) -> None:
        self.plant = Plant(registry)
        self.started_ms: int | None = None
        self._levels: dict[str, int] = {}
        # a lower bound of each site's grade set by the shell (hidden dangers:
        # docs/hidden-dangers.md); the grade is the higher of it and the plant's
        self.floors: dict[str, int] = {}
        self._recent: dict[str, tuple[deque[tuple[int, int]], set[tuple[int, int]]]] = {}
        self._restored: dict[str, tuple[int, int]] = {}
        self.boot_jumps = 0  # messages refused for a boot far beyond the gateway's last

    # -- life cycle --------------------------------------------------------------------

    def restore(
        self,
        *,
        sensors: dict[str, Doc],
        points: dict[str, Doc],
        gateways: dict[str, Doc],
        open_occurrences: dict[str, Doc],
        last: dict[str, LastReading] | None = None,
    ) -> None:
        self.plant.restore(
            sensors=sensors, points=points, gateways=gateways, open_occurrences=open_occurrences,
            last=last,
        )
        # messages up to each gateway's persisted (boot, seq) were evaluated before the
        # restart: their redeliveries are repeats
        self._restored = {gid: (link.boot, link.seq) for gid, link in self.plant.gateways.items()}

    def start(self, now_ms: int) -> None:
        self.started_ms = now_ms
        self.plant.rebuild_site_sets()
        self._levels = {s: max(site_level(self.plant, s, now_ms), self.floors.get(s, 0))
                        for s in self.plant.sites}
        self.plant.touched_sites.clear()

    def take_dirty(self) -> Dirty:
        return self.plant.take_dirty()

    # -- inputs from the plant ---------------------------------------------------------

    def on_batch(
        self,
        site: str,
        gateway: str,
        *,
        boot: int,
        seq: int,
        historical: bool,
        readings: list[Reading],
        now_ms: int,
    ) -> Output:
        """One decoded telemetry message. A repeat, recognised by its (gateway, boot,
        seq) and never by timestamps, changes nothing."""
        gid = f"{site}/{gateway}"
        link = self.plant.gateways.get(gid)
        if link is None or self._seen(gid, boot, seq):
            return Output()
        if self._boot_jump(link, boot):
            return Output()
        out = Output()
        if boot != link.boot or seq != link.seq + 1:  # else the next message: no gap
            out.events += silence.feed_gap(self.plant, link, boot, seq, now_ms)
        if historical:
            link.note_message(boot, seq)
            self.plant.mark_gateway(link)
            for reading in readings:
                out.extend(historical_reading(self.plant, reading, now_ms))
            return self._finish(out, now_ms)
        plant = self.plant
        events = out.events
        events += silence.telemetry_seen(plant, link, boot, seq, now_ms)
        events += live_batch(plant, gid, readings, now_ms)
        return self._finish(out, now_ms)

    def on_gateway_state(
        self, site: str, gateway: str, *, online: bool, boot: int, now_ms: int
    ) -> Output:
        gid = f"{site}/{gateway}"
        link = self.plant.gateways.get(gid)
        if link is None or self._boot_jump(link, boot):
            return Output()
        events = silence.gateway_state(self.plant, gid, online=online, boot=boot, now_ms=now_ms)
        return self._finish(Output(events=events), now_ms)

    def tick(self, now_ms: int) -> Output:
        """The service clock: silence, delays, maintenance, expiries, escalation."""
        started_ms = self.started_ms if self.started_ms is not None else now_ms
        plant = self.plant
        out = Output(events=silence.offline_by_silence(plant, started_ms, now_ms))
        out.events += silence.gaps_confirmed(plant, now_ms)
        out.events += silence.sensors_clock(plant, started_ms, now_ms)
        out.events += silence.shelving_expired(plant, now_ms)
        out.events += cause_effect.deadlines(plant, now_ms)
        for point in plant.points.values():
            if point.occ is not None and point.occ.esc_since_ms is not None:
                out.extend(escalate(plant, point, now_ms))
        return self._finish(out, now_ms, escalation_done=True)

    # -- operator inputs ---------------------------------------------------------------

    def act(self, inp: OperatorInput, *, now_ms: int) -> Output:
        """One operator input (alarms/core/inputs.py). An illegal or unknown one raises
        (IllegalTransition, LimitExceeded, UnknownAlarm) having changed nothing."""
        plant = self.plant
        match inp:
            case Ack(alarm_id, user, note):
                events = operator.ack(plant, alarm_id, user, note, now_ms)
            case Reset(alarm_id, user, note):
                events = operator.reset(plant, alarm_id, user, note, now_ms)
            case Shelve(alarm_id, user, minutes, reason):
                events = operator.shelve(plant, alarm_id, user, minutes, reason, now_ms)
            case Unshelve(alarm_id, user, note):
                events = operator.unshelve(plant, alarm_id, user, note, now_ms)
            case Note(alarm_id, user, note):
                return Output([operator.note(plant, alarm_id, user, note, now_ms)])
            case BypassPermit():
                _, events = operator.bypass_permit(
                    plant, inp.site, inp.sensor, user=inp.user, until_ms=inp.until_ms,
                    reason=inp.reason, approved_by=inp.approved_by,
                    compensating_measures=inp.compensating_measures, now_ms=now_ms,
                )
            case OutOfService(site, sensor, user, until_ms, reason):
                events = operator.out_of_service(
                    plant, site, sensor, user=user, until_ms=until_ms, reason=reason,
                    now_ms=now_ms,
                )
            case ReturnToService(site, sensor, user, note):
                events = operator.back_in_service(
                    plant, site, sensor, user=user, note=note, now_ms=now_ms
                )
        return self._finish(Output(events), now_ms)

    def set_floors(self, floors: dict[str, int], now_ms: int) -> Output:
        """Grade floors per site from outside the plant's points (the shell's hidden
        dangers); the grades that change as a result come out as RiskChanges."""
        changed = {s for s in set(floors) | set(self.floors)
                   if floors.get(s, 0) != self.floors.get(s, 0) and s in self.plant.sites}
        self.floors = dict(floors)
        self.plant.touched_sites.update(changed)
        return self._finish(Output(), now_ms, escalation_done=True)

    # -- feedback from the notifiers -----------------------------------------------------

    def notify_outcome(
        self, request: NotifyRequest, *, ok: bool, detail: str, now_ms: int
    ) -> Output:
        event = outcome_event(self.plant, request, ok=ok, detail=detail, now_ms=now_ms)
        point = self.plant.points.get(request.key)
        if point is not None and point.occ is not None and point.occ.alarm_id == request.alarm_id:
            point.occ.latest = event.wire()
            self.plant.mark_point(point, touch=False)
        return Output([event])

    # -- views -----------------------------------------------------------------------------

    def risk_grades(self) -> dict[str, str]:
        return {site: LEVEL_GRADE[level] for site, level in self._levels.items()}

    def last_readings(self, site: str) -> dict[str, dict[str, Any]]:
        """The last live reading evaluated for each sensor of the site that has one."""
        return {
            state.sensor: {"ts_ms": state.last_ts_ms, "value": state.last_value,
                           "quality": state.last_quality}
            for state in self.plant.sensors.values()
            if state.site == site and state.last_ts_ms is not None
        }

    def active_counts(self, site: str) -> dict[str, int]:
        """The site's active occurrences by priority."""
        counts = {"critical": 0, "high": 0, "medium": 0}
        for point in self.plant.site_points.get(site, ()):
            if point.occ is not None:
                counts[point.priority.value] += 1
        return counts

    # -- inside ------------------------------------------------------------------------------

    def _boot_jump(self, link: GatewayLink, boot: int) -> bool:
        """A boot far beyond the gateway's last (docs/contract.md, boot and seq bounds)
        is not adopted: it would make the real boot's messages and will look old."""
        if boot_jump(link.boot if link.boot >= 0 else None, boot):
            self.boot_jumps += 1
            return True
        return False

    def _seen(self, gid: str, boot: int, seq: int) -> bool:
        recent = self._recent.get(gid)
        if recent is None:
            recent = self._recent[gid] = (deque(), set())
        order, members = recent
        if (boot, seq) in members:
            return True
        restored = self._restored.get(gid)
        if restored is not None and boot == restored[0] and seq <= restored[1]:
            return True  # evaluated before the restart: a redelivery
        order.append((boot, seq))
        members.add((boot, seq))
        if len(order) > RECENT_MESSAGES:
            members.discard(order.popleft())
        return False

    def _raised_again(self, event: Event) -> list[NotifyRequest]:
        """Every `raised` notifies the first tier at once. The one that starts an
        escalation round is told by `escalate`; this tells the rest: a second release on
        an acknowledged latched alarm, a return from rtn_unack within a running round."""
        point = self.plant.points[event.key]
        occ = point.occ
        if occ is None or occ.esc_event == event.wire():
            return []
        return first_tier(self.plant, point, event, f"{occ.alarm_id}|raised@{event.ts_ms}")

    def _finish(self, out: Output, now_ms: int, *, escalation_done: bool = False) -> Output:
        """Start escalation for what was just raised; compute changed risk grades."""
        touched = self.plant.touched_sites
        if not out.events and not touched:
            return out  # most messages
        raised = [e for e in out.events if e.event == "raised"]
        if not escalation_done:
            for key in sorted({e.key for e in raised}):
                out.extend(escalate(self.plant, self.plant.points[key], now_ms))
        for event in raised:
            out.notify += self._raised_again(event)
        if touched:
            self.plant.refresh_site_sets()
        for site in sorted(touched):
            level = max(site_level(self.plant, site, now_ms), self.floors.get(site, 0))
            if level != self._levels.get(site):
                self._levels[site] = level
                out.risk.append(RiskChange(site, LEVEL_GRADE[level], level, now_ms))
        touched.clear()
        return out


__all__ = ["Engine", "Event", "NotifyRequest", "Output", "RiskChange"]
