"""What the service clock decides: offline gateways, stale sensors, on-delays completed
by silence, maintenance past its maximum, and the expiry of shelving, out-of-service
and bypass permits.

Silence is measured from the newest of: the last message, the gateway coming back,
and the service's own start (`started_ms`), so a restart after a long stop raises no
flood. A gateway that went silent raises one `offline`; its sensors raise no `stale`
while it is offline or not delivering (`stale` needs the gateway to have delivered
telemetry within the sensor's `stale_after_s`).
"""

from __future__ import annotations

from dataclasses import replace

from hazmon.alarms.core.conditions import Verdict, force, on_delay_elapsed, step
from hazmon.alarms.core.model import Event, GatewayLink, SensorState
from hazmon.alarms.core.plant import Plant
from hazmon.alarms.core.points import Cause, feed
from hazmon.alarms.core.readings import DELAYED, edge, sensor_note
from hazmon.alarms.core.table import Input, State
from hazmon.contract.kinds import Condition


def _since(*stamps: int | None) -> int:
    return max(s for s in stamps if s is not None)


def gateway_state(
    plant: Plant, gid: str, *, online: bool, boot: int, now_ms: int
) -> list[Event]:
    """A (retained) state message: the will message or `online: false` raise offline."""
    link = plant.gateways.get(gid)
    if link is None or boot < link.boot:
        return []  # an older boot's message
    if boot > link.boot:
        link.seq = -1  # the new boot's first message is seq 0
    link.boot = boot
    plant.mark_gateway(link)
    point = plant.offline_points[gid]
    if online:
        if link.dead_boot is not None and boot <= link.dead_boot:
            return []  # the state of a boot that has ended
        link.alive_since_ms = now_ms
        if not force(point, False):
            return []
        return edge(plant, point, Cause(now_ms, now_ms, note="gateway online"))
    link.dead_boot = boot
    if not force(point, True):
        return []
    return edge(plant, point, Cause(now_ms, now_ms), note=f"gateway offline (boot {boot})")


# a gap not filled within this is messages lost: longer than a JetStream partition's
# takeover after its node died (5 to 11 s measured), whose messages come again late
GAP_CONFIRM_MS = 30_000
MAX_GAPS = 64  # gaps waiting per gateway; beyond, the oldest is judged at once


def feed_gap(plant: Plant, link: GatewayLink, boot: int, seq: int, now_ms: int) -> list[Event]:
    """Note the messages of the gateway that a message skips (a gap in its `seq`,
    docs/contract.md §3); a late message fills its place. A gap still open after
    GAP_CONFIRM_MS is messages lost (`gaps_confirmed`, by the service clock): a
    redelivery after a takeover that comes behind newer messages is not a loss. Nothing
    before the gateway's first message is known; a repeat loses nothing."""
    if link.boot < 0:
        return []
    if boot < link.boot or (boot == link.boot and seq <= link.seq):
        _filled(plant, link, boot, seq)
        return []
    new_boot = boot != link.boot
    first = 0 if new_boot else link.seq + 1  # a new boot counts from 0
    if seq <= first:
        return []
    link.missing.append([boot, first, seq - 1, now_ms, int(new_boot)])
    plant.mark_gateway(link)
    if len(link.missing) <= MAX_GAPS:
        return []
    return _lost(plant, link, [link.missing.pop(0)], now_ms)


def gaps_confirmed(plant: Plant, now_ms: int) -> list[Event]:
    """The service clock: gaps open for GAP_CONFIRM_MS raise the gateway's `feed_gap`."""
    events: list[Event] = []
    for link in plant.gateways.values():
        if not link.missing:
            continue
        ripe = [r for r in link.missing if now_ms - r[3] >= GAP_CONFIRM_MS]
        if ripe:
            link.missing = [r for r in link.missing if now_ms - r[3] < GAP_CONFIRM_MS]
            plant.mark_gateway(link)
            events += _lost(plant, link, ripe, now_ms)
    return events


def _filled(plant: Plant, link: GatewayLink, boot: int, seq: int) -> None:
    for i, (b, first, last, noticed, new_boot) in enumerate(link.missing):
        if b == boot and first <= seq <= last:
            parts = [[b, first, seq - 1, noticed, new_boot], [b, seq + 1, last, noticed, 0]]
            link.missing[i:i + 1] = [p for p in parts if p[1] <= p[2]]
            plant.mark_gateway(link)
            return


def _lost(plant: Plant, link: GatewayLink, gaps: list[list[int]], now_ms: int) -> list[Event]:
    """The gateway's `feed_gap` raised with the count as its value, then cleared at once,
    so that the occurrence waits for an acknowledgement (rtn_unack)."""
    lost = sum(last - first + 1 for _, first, last, _, _ in gaps)
    where = "; ".join(f"seq {first} to {last}" + (f" of boot {b}" if new_boot else "")
                      for b, first, last, _, new_boot in gaps)
    point = plant.feed_points[link.id]
    note = f"{lost} message{'s' if lost > 1 else ''} lost ({where})"
    force(point, True)
    events = edge(plant, point, Cause(now_ms, now_ms, float(lost)), note=note)
    force(point, False)  # its latest event still says what was lost (the console shows it)
    return events + edge(plant, point, Cause(now_ms, now_ms, float(lost), note=note))


def telemetry_seen(
    plant: Plant, link: GatewayLink, boot: int, seq: int, now_ms: int
) -> list[Event]:
    """A live telemetry message that is not a repeat arrived: the gateway is delivering.
    Offline is judged by arrival, never by the readings' timestamps."""
    link.note_message(boot, seq)
    link.last_rx_ms = now_ms
    plant.mark_gateway(link)
    point = plant.offline_points[link.id]
    if not force(point, False):
        return []
    link.alive_since_ms = now_ms
    link.dead_boot = None
    return edge(plant, point, Cause(now_ms, now_ms, note="telemetry again"))


def offline_by_silence(plant: Plant, started_ms: int, now_ms: int) -> list[Event]:
    events: list[Event] = []
    for gid, link in plant.gateways.items():
        point = plant.offline_points[gid]
        if point.active:
            continue
        silent_ms = now_ms - _since(link.last_rx_ms, link.alive_since_ms, started_ms)
        if silent_ms >= link.offline_after_ms and force(point, True):
            note = f"no telemetry for {silent_ms / 1000:.0f} s"
            events += edge(plant, point, Cause(now_ms, now_ms), note=note)
    return events


def sensors_clock(plant: Plant, started_ms: int, now_ms: int) -> list[Event]:
    """`sensor_clock` for every sensor, skipping those it would leave alone: heard
    within their stale period (so not stale, whatever else `_stale` checks), no
    on-delay, no maintenance, not out of service, no permit. The service clock runs
    every second over every sensor of the plant, under the lock readings wait for."""
    events: list[Event] = []
    for state, row, stale_ms, delayed in plant.clock_list:
        seen = row[1]  # last_seen_ms
        if (
            seen is not None
            and now_ms - seen < stale_ms
            and not delayed
            and state.maintenance_since_ms is None
            and state.oos_until_ms is None
            and state.permit is None
        ):
            continue
        events += sensor_clock(plant, state, started_ms, now_ms)
    return events


def sensor_clock(plant: Plant, state: SensorState, started_ms: int, now_ms: int) -> list[Event]:
    """Everything the service clock decides about one sensor."""
    events = _stale(plant, state, started_ms, now_ms)
    events += _on_delays(plant, state, now_ms)
    events += _maintenance_overrun(plant, state, now_ms)
    if state.oos_until_ms is not None and now_ms >= state.oos_until_ms:
        events += return_to_service(plant, state, None, "out-of-service expired", now_ms)
    if state.permit is not None and not state.permit.valid(now_ms):
        events += permit_expired(plant, state, now_ms)
    return events


def _stale(plant: Plant, state: SensorState, started_ms: int, now_ms: int) -> list[Event]:
    gid = f"{state.site}/{state.gateway}"
    link = plant.gateways[gid]
    point = plant.sensor_points[state.id][Condition.stale]
    if point.active or plant.offline_points[gid].active or link.last_rx_ms is None:
        return []
    stale_ms = int((plant.configs[state.id].stale_after_s or 10.0) * 1000)
    if now_ms - link.last_rx_ms >= stale_ms:
        return []  # the gateway is not delivering: that is `offline`, not `stale`
    silent_ms = now_ms - _since(state.last_seen_ms, link.alive_since_ms, started_ms)
    if silent_ms < stale_ms or not force(point, True):
        return []
    note = f"no reading for {silent_ms / 1000:.0f} s"
    return edge(plant, point, Cause(now_ms, now_ms, state.last_value), note=note)


def _on_delays(plant: Plant, state: SensorState, now_ms: int) -> list[Event]:
    on_ms = int(plant.configs[state.id].on_delay_s * 1000)
    if on_ms <= 0:
        return []
    events: list[Event] = []
    for condition, point in plant.sensor_points[state.id].items():
        value = point.pending_value  # the reading that met the condition, not the last
        if condition in DELAYED and on_delay_elapsed(point, now_ms, on_ms):
            point.pending_value = None
            note = "on-delay elapsed without a contradicting reading"
            events += edge(plant, point, Cause(now_ms, now_ms, value, note=note))
    return events


def _maintenance_overrun(plant: Plant, state: SensorState, now_ms: int) -> list[Event]:
    since = state.maintenance_since_ms
    max_ms = int(plant.registry.maintenance.max_minutes * 60_000)
    if since is None or state.maintenance_overrun or now_ms - since < max_ms:
        return []
    state.maintenance_overrun = True
    plant.mark_sensor(state)
    fault = plant.sensor_points[state.id][Condition.fault]
    force(fault, True)
    plant.mark_point(fault)
    minutes = plant.registry.maintenance.max_minutes
    cause = Cause(now_ms, now_ms, state.last_value, note=f"maintenance over {minutes:g} min")
    events: list[Event] = []
    for point in plant.points_of(state.id):
        events += feed(plant, point, Input.maintenance_end, cause)
    return events


def return_to_service(
    plant: Plant, state: SensorState, user: str | None, note: str | None, now_ms: int
) -> list[Event]:
    events = [sensor_entry(plant, state, "in_service", now_ms, user, note)]
    state.oos_until_ms = state.oos_reason = state.oos_by = None
    plant.mark_sensor(state)
    cause = Cause(now_ms, now_ms, state.last_value, user=user, note=note,
                  maintenance=state.in_maintenance)
    for point in plant.points_of(state.id):
        events += feed(plant, point, Input.return_to_service, cause)
    return events


def permit_expired(plant: Plant, state: SensorState, now_ms: int) -> list[Event]:
    assert state.permit is not None
    note = f"bypass permit (approved by {state.permit.approved_by}) expired"
    events = [sensor_entry(plant, state, "permit_expired", now_ms, None, note)]
    state.permit = None
    plant.mark_sensor(state)
    return events + bypass_again(plant, state, now_ms)


def bypass_again(plant: Plant, state: SensorState, now_ms: int) -> list[Event]:
    """Re-evaluate `bypass` after a permit came or went, from the last known state."""
    point = plant.sensor_points[state.id].get(Condition.bypass)
    if point is None or state.last_value is None or state.last_quality in ("bad", "maintenance"):
        return []
    permitted = state.permit is not None and state.permit.valid(now_ms)
    bypassed = state.last_value == "bypassed" and not permitted
    verdict = Verdict.ACTIVE if bypassed else Verdict.INACTIVE
    if not step(point, verdict, now_ms, 0, 0):
        return []
    return edge(plant, point, Cause(now_ms, now_ms, state.last_value),
                note="bypassed without a valid permit")


def shelving_expired(plant: Plant, now_ms: int) -> list[Event]:
    events: list[Event] = []
    for point in plant.points.values():
        until = point.shelved_until_ms
        if until is not None and now_ms >= until and point.state is State.shelved:
            cause = Cause(now_ms, now_ms, note="shelving expired")
            events += feed(plant, point, Input.unshelve, cause)
    return events


def sensor_entry(
    plant: Plant, state: SensorState, name: str, now_ms: int, user: str | None, note: str | None
) -> Event:
    """A journal-only entry about a sensor, by an operator or the service clock."""
    return replace(sensor_note(state, name, now_ms, note), user=user)
