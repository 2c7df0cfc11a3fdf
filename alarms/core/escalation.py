"""Escalation (docs/alarms.md): tiers per priority on the service clock, reminders until ack.

Tier 1 is told when the round starts (its `after_s` is normally 0) with the event that
started it; tier k > 1 when the alarm has been unacknowledged for its `after_s`, with
an `escalated` event; then the last tier every `repeat_s`, also as `escalated`
("reminder n"). Progress (`esc_done`) is part of the occurrence, which the shell
persists with the journal, so a restart notifies no tier twice; tiers that fell due
while the service was down are all due at its first tick, reminders only once.
"""

from __future__ import annotations

from hazmon.alarms.core.model import AlarmPoint, Event, NotifyRequest, Occurrence, Output
from hazmon.alarms.core.plant import Plant
from hazmon.contract.registry import Escalation, Tier


def escalate(plant: Plant, point: AlarmPoint, now_ms: int) -> Output:
    out = Output()
    occ = point.occ
    if occ is None or occ.esc_since_ms is None:
        return out
    policy: Escalation = plant.registry.escalation
    tiers = policy.tiers(point.priority)
    if not tiers:
        return out
    repeat_ms = int(policy.repeat_s * 1000)
    while True:
        step = occ.esc_done
        due_ms, tier = _due(occ, tiers, step, repeat_ms)
        if now_ms < due_ms:
            break
        if step == 0 and occ.esc_event is not None:
            payload = occ.esc_event
        else:
            event = _escalated(point, occ, step, len(tiers), tier, now_ms)
            out.events.append(event)
            payload = occ.latest = event.wire()
        for recipient in tier.notify:
            out.notify.append(
                NotifyRequest(
                    id=f"{occ.alarm_id}|r{occ.esc_round}|s{step}|{recipient}",
                    recipient=recipient,
                    alarm_id=occ.alarm_id,
                    key=point.key,
                    site=point.site,
                    tier=min(step, len(tiers) - 1) + 1,
                    payload=payload,
                )
            )
        occ.esc_done = step + 1
        occ.esc_last_ms = now_ms
        plant.mark_point(point)
        if step >= len(tiers):
            break  # one reminder at a time, however many fell due
    return out


def _due(occ: Occurrence, tiers: list[Tier], step: int, repeat_ms: int) -> tuple[int, Tier]:
    assert occ.esc_since_ms is not None
    return due(tiers, step, since_ms=occ.esc_since_ms, last_ms=occ.esc_last_ms,
               repeat_ms=repeat_ms)


def due(tiers: list[Tier], step: int, *, since_ms: int, last_ms: int | None,
        repeat_ms: int) -> tuple[int, Tier]:
    """When step `step` of a round started at `since_ms` falls due, and its tier: tier k
    at its `after_s`, then the last tier `repeat_ms` after the step before (`last_ms`).
    The shell's own alarms (alarms/system.py, hidden dangers) escalate by it too."""
    if step < len(tiers):
        return since_ms + int(tiers[step].after_s * 1000), tiers[step]
    return (last_ms if last_ms is not None else since_ms) + repeat_ms, tiers[-1]


def step_note(step: int, n_tiers: int, tier: Tier) -> str:
    """An `escalated` event's note: `tier 2: lead`, then `reminder 1: lead`."""
    who = ", ".join(tier.notify) or "nobody"
    reminder = step - n_tiers + 1
    return f"tier {step + 1}: {who}" if reminder < 1 else f"reminder {reminder}: {who}"


def _escalated(
    point: AlarmPoint, occ: Occurrence, step: int, n_tiers: int, tier: Tier, now_ms: int
) -> Event:
    note = step_note(step, n_tiers, tier)
    return Event(
        key=point.key,
        site=point.site,
        event="escalated",
        ts_ms=now_ms,
        alarm_id=occ.alarm_id,
        gateway=point.gateway,
        sensor=point.sensor,
        condition=point.condition.value,
        priority=point.priority.value,
        from_state=point.state.value,
        state=point.state.value,
        returned=point.returned,
        value=occ.latest.get("value"),
        note=note,
    )


def outcome_event(
    plant: Plant, request: NotifyRequest, *, ok: bool, detail: str, now_ms: int
) -> Event:
    """The journal entry for one delivery attempt: `notified` or `notify_failed`."""
    point = plant.points.get(request.key)
    current = point is not None and point.occ is not None and (
        point.occ.alarm_id == request.alarm_id
    )
    state = point.state.value if point is not None and current else "normal"
    return Event(
        key=request.key,
        site=request.site,
        event="notified" if ok else "notify_failed",
        ts_ms=now_ms,
        alarm_id=request.alarm_id,
        gateway=point.gateway if point else "",
        sensor=point.sensor if point else "",
        condition=point.condition.value if point else "",
        priority=point.priority.value if point else "",
        from_state=state,
        state=state,
        returned=point.returned if point is not None and current else False,
        value=request.payload.get("value"),
        note=f"{request.recipient} (tier {request.tier}): {detail}",
    )
