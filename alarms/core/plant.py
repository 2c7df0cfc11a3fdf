"""The core's picture of the plant: every alarm point, sensor and gateway of the
registry in force, indexed the ways the engine looks them up, and what changed since
the shell last persisted it.

Kept as the plant changes, so that the hot paths do not rescan it:
- `quiet`: per analog sensor, the values a `good` reading may have and change nothing
  while no point of the sensor is active or pending (`QuietBand`);
- `hazards` / `flagged`: per site, the points that count for its risk grade (condition
  active or occurrence open) and the sensors with a permit, out of service or in
  maintenance, refreshed from what was marked (`refresh_site_sets`), so a site's grade
  is computed from those instead of from all its points.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass

from hazmon.alarms.core.conditions import Limits, limits_of, range_floor
from hazmon.alarms.core.matrix import Matrix
from hazmon.alarms.core.model import (
    AlarmPoint,
    Dirty,
    Doc,
    GatewayLink,
    LastReading,
    LastRow,
    Occurrence,
    OccurrenceRecord,
    SensorState,
)
from hazmon.contract.kinds import HIGH_CONDITIONS, Condition, Kind, Priority
from hazmon.contract.registry import Registry, Sensor, Site


@dataclass(frozen=True, slots=True)
class QuietBand:
    """A `good` analog reading with `above < value < below` and `value >= floor` gives
    every condition of its sensor the verdict inactive (hazmon.alarms.core.conditions): below
    each high threshold minus the deadband, above each low one plus the deadband, and
    not under the range (fault)."""

    above: float
    below: float
    floor: float

    def holds(self, value: float) -> bool:
        return self.above < value < self.below and value >= self.floor


def quiet_band(sensor: Sensor) -> QuietBand | None:
    if not sensor.analog:
        return None
    above, below = -math.inf, math.inf
    for condition, threshold in sensor.thresholds.items():
        if condition in HIGH_CONDITIONS:
            below = min(below, threshold - sensor.deadband)
        else:
            above = max(above, threshold + sensor.deadband)
    return QuietBand(above, below, range_floor(sensor))


# a sensor's state, its last-reading row, its quiet band and its points
Quick = tuple[SensorState, LastRow, QuietBand | None, tuple[AlarmPoint, ...]]


@dataclass(frozen=True, slots=True)
class Clocks:
    """A sensor's service-clock periods, in ms."""

    stale_ms: int
    on_delay_ms: int


def sensor_conditions(sensor: Sensor) -> list[Condition]:
    """The alarm points of a sensor: its thresholds (or trip and bypass), fault, stale."""
    if sensor.kind is Kind.interlock:
        return [Condition.trip, Condition.bypass, Condition.fault, Condition.stale]
    return [c for c, _ in sensor.thresholds.items()] + [Condition.fault, Condition.stale]


class Plant:
    def __init__(self, registry: Registry) -> None:
        self.registry = registry
        self.sites: dict[str, Site] = {s.id: s for s in registry.sites}
        self.points: dict[str, AlarmPoint] = {}
        self.configs: dict[str, Sensor] = {}
        self.sensors: dict[str, SensorState] = {}
        self.gateways: dict[str, GatewayLink] = {}
        self.sensor_points: dict[str, dict[Condition, AlarmPoint]] = {}
        self.offline_points: dict[str, AlarmPoint] = {}
        self.feed_points: dict[str, AlarmPoint] = {}  # by gateway id: its feed_gap
        self.gateway_sensors: dict[str, list[str]] = {}
        self.site_points: dict[str, list[AlarmPoint]] = {}
        self.site_sensors: dict[str, list[str]] = {}
        self.quiet: dict[str, QuietBand | None] = {}
        self.limits: dict[str, Limits] = {}  # by sensor id: what its verdicts need
        self.clocks: dict[str, Clocks] = {}
        # the service clock's pass over every sensor (silence.sensors_clock): its state,
        # last-reading row, stale period (ms) and whether it has an on-delay
        self.clock_list: list[tuple[SensorState, LastRow, int, bool]] = []
        self.point_list: dict[str, tuple[AlarmPoint, ...]] = {}  # by sensor id
        self.hazards: dict[str, dict[str, AlarmPoint]] = {s: {} for s in self.sites}
        self.flagged: dict[str, dict[str, SensorState]] = {s: {} for s in self.sites}
        self._dirty_points: set[str] = set()
        self._dirty_sensors: set[str] = set()
        # each gateway's last readings (by `site/gateway`), {sensor: SensorState.row}
        # (the same lists) of the sensors that have one, and the sensors of each
        # gateway whose last reading changed
        self.last_rows: dict[str, dict[str, LastRow]] = {}
        self.dirty_last: dict[str, set[str]] = {}
        # the engine's hot loop (readings.live_batch): by gateway, by sensor name, what
        # a reading needs to be found quiet, in one lookup
        self.quick: dict[str, dict[str, Quick]] = {}
        self._dirty_gateways: set[str] = set()
        self._dirty_occ: dict[str, tuple[AlarmPoint, Occurrence]] = {}
        self.touched_sites: set[str] = set()
        self._touched_points: set[str] = set()
        self._touched_sensors: set[str] = set()
        self.matrix = Matrix(registry)  # the sites' cause-and-effect rows
        for site, gateway, sensor in registry.sensors():
            self._add_sensor(site, gateway.id, sensor)
        for site in registry.sites:
            for gateway in site.gateways:
                self._add_gateway(site, gateway.id, gateway.period_s)

    def _add_sensor(self, site: Site, gateway: str, sensor: Sensor) -> None:
        sid = f"{site.id}/{sensor.id}"
        self.configs[sid] = sensor
        self.sensors[sid] = SensorState(site.id, gateway, sensor.id)
        self.gateway_sensors.setdefault(f"{site.id}/{gateway}", []).append(sid)
        self.site_sensors.setdefault(site.id, []).append(sid)
        points: dict[Condition, AlarmPoint] = {}
        conditions = sensor_conditions(sensor)
        if sensor.id in self.matrix.effects(site.id):
            conditions.append(Condition.ce_failed)  # it must trip on its rows' demands
        for condition in conditions:
            key = f"{sid}/{condition.value}"
            point = AlarmPoint(
                key, site.id, gateway, sensor.id, condition,
                sensor.priority(condition), sensor.latches(condition),
            )
            points[condition] = self.points[key] = point
            self.site_points.setdefault(site.id, []).append(point)
        self.sensor_points[sid] = points
        self.point_list[sid] = tuple(points.values())
        self.quiet[sid] = quiet_band(sensor)
        self.limits[sid] = limits_of(sensor)
        state = self.sensors[sid]
        gid = f"{site.id}/{gateway}"
        self.last_rows.setdefault(gid, {})
        self.quick.setdefault(gid, {})[sensor.id] = (
            state, state.row, self.quiet[sid], self.point_list[sid])
        clock = self.clocks[sid] = Clocks(
            int((sensor.stale_after_s or 10.0) * 1000), int(sensor.on_delay_s * 1000)
        )
        self.clock_list.append((state, state.row, clock.stale_ms, clock.on_delay_ms > 0))

    def _add_gateway(self, site: Site, gateway: str, period_s: float) -> None:
        gid = f"{site.id}/{gateway}"
        self.gateways[gid] = GatewayLink(site.id, gateway, period_s)
        key = f"{gid}/{Condition.offline.value}"
        point = AlarmPoint(
            key, site.id, gateway, gateway, Condition.offline, Priority.medium, False
        )
        self.points[key] = self.offline_points[gid] = point
        self.site_points.setdefault(site.id, []).append(point)
        key = f"{gid}/{Condition.feed_gap.value}"
        gap = AlarmPoint(key, site.id, gateway, gateway, Condition.feed_gap, Priority.high, False)
        self.points[key] = self.feed_points[gid] = gap
        self.site_points.setdefault(site.id, []).append(gap)

    # -- lookups --------------------------------------------------------------------

    def point_of_alarm(self, alarm_id: str) -> tuple[AlarmPoint, int] | None:
        """The point of an `alarm_id` (`key#n`) and its n, if both make sense."""
        key, _, number = alarm_id.rpartition("#")
        point = self.points.get(key)
        if point is None or not number.isdigit() or not 1 <= int(number) <= point.count:
            return None
        return point, int(number)

    def points_of(self, sensor_id: str) -> Iterator[AlarmPoint]:
        return iter(self.sensor_points.get(sensor_id, {}).values())

    # -- what changed ----------------------------------------------------------------

    def mark_point(self, point: AlarmPoint, *, touch: bool = True) -> None:
        """Persist the point; `touch`: its site's risk grade may have changed."""
        self._dirty_points.add(point.key)
        if touch:
            self.touched_sites.add(point.site)
            self._touched_points.add(point.key)
        if point.occ is not None:
            self._dirty_occ[point.occ.alarm_id] = (point, point.occ)

    def mark_sensor(self, state: SensorState, *, touch: bool = True) -> None:
        sid = state.id
        self._dirty_sensors.add(sid)
        self.mark_last(state)
        if touch:
            self.touched_sites.add(state.site)
            self._touched_sensors.add(sid)

    def mark_last(self, state: SensorState) -> None:
        """Persist the sensor's last reading (every live reading changes it)."""
        gid = f"{state.site}/{state.gateway}"
        self.last_rows[gid][state.sensor] = state.row
        changed = self.dirty_last.get(gid)
        if changed is None:
            changed = self.dirty_last[gid] = set()
        changed.add(state.sensor)

    # -- what counts for the risk grades ---------------------------------------------

    def refresh_site_sets(self) -> None:
        """Bring `hazards` and `flagged` up to date with the points and sensors marked
        (touched) since the last refresh."""
        for key in self._touched_points:
            point = self.points[key]
            if point.hazard:
                self.hazards[point.site][key] = point
            else:
                self.hazards[point.site].pop(key, None)
        for sid in self._touched_sensors:
            state = self.sensors[sid]
            if _flagged(state):
                self.flagged[state.site][sid] = state
            else:
                self.flagged[state.site].pop(sid, None)
        self._touched_points.clear()
        self._touched_sensors.clear()

    def rebuild_site_sets(self) -> None:
        """From scratch (at start, after a restore)."""
        for site in self.sites:
            self.hazards[site] = {p.key: p for p in self.site_points.get(site, ()) if p.hazard}
            self.flagged[site] = {
                sid: self.sensors[sid]
                for sid in self.site_sensors.get(site, ())
                if _flagged(self.sensors[sid])
            }
        self._touched_points.clear()
        self._touched_sensors.clear()

    def mark_gateway(self, link: GatewayLink) -> None:
        self._dirty_gateways.add(link.id)

    def take_dirty(self) -> Dirty:
        dirty = Dirty(
            sensors={i: self.sensors[i].doc() for i in self._dirty_sensors},
            points={k: self.points[k].doc() for k in self._dirty_points},
            gateways={i: self.gateways[i].doc() for i in self._dirty_gateways},
            occurrences={
                alarm_id: occurrence_record(point, occ)
                for alarm_id, (point, occ) in self._dirty_occ.items()
            },
            last_changed={gid: changed for gid, changed in self.dirty_last.items() if changed},
            last_tables=self.last_rows,
        )
        self._dirty_points.clear()
        self._dirty_sensors.clear()
        self.dirty_last = {}  # its sets went with `dirty`
        self._dirty_gateways.clear()
        self._dirty_occ.clear()
        return dirty

    # -- restoring what the shell persisted ---------------------------------------------

    def restore(
        self,
        *,
        sensors: dict[str, Doc],
        points: dict[str, Doc],
        gateways: dict[str, Doc],
        open_occurrences: dict[str, Doc],
        last: dict[str, LastReading] | None = None,
    ) -> None:
        """Load persisted state; ids the registry no longer has are left out."""
        for sid, doc in sensors.items():
            if sid in self.sensors:
                self.sensors[sid].load(doc)
        for sid, row in (last or {}).items():
            if sid in self.sensors:
                self.sensors[sid].load_last(row)
        for sid in {*sensors, *(last or ())}:  # a reading restored (rows, or older docs)
            state = self.sensors.get(sid)
            if state is not None and (state.row[0] is not None or state.row[1] is not None):
                self.last_rows[f"{state.site}/{state.gateway}"][state.sensor] = state.row
        for gid, doc in gateways.items():
            if gid in self.gateways:
                self.gateways[gid].load(doc)
        for key, doc in points.items():
            if key in self.points:
                self.points[key].load(doc)
        for alarm_id, doc in open_occurrences.items():
            found = self.point_of_alarm(alarm_id)
            if found is not None:
                found[0].occ = Occurrence.load(doc)


def _flagged(state: SensorState) -> bool:
    """Whether the sensor's own situation can raise its site's grade (hazmon.alarms.core.risk)."""
    return (
        state.permit is not None
        or state.oos_until_ms is not None
        or state.maintenance_since_ms is not None
    )


def occurrence_record(point: AlarmPoint, occ: Occurrence) -> OccurrenceRecord:
    return OccurrenceRecord(
        occ.alarm_id, point.key, point.site, point.priority.value, occ.raised_ms,
        occ.ended_ms, occ.doc(),
    )
