"""The core's picture of the plant: every alarm point, sensor and gateway of the
registry in force, indexed the ways the engine looks them up, and what changed since
the shell last persisted it."""

from __future__ import annotations

from collections.abc import Iterator

from alarms.core.model import (
    AlarmPoint,
    Dirty,
    Doc,
    GatewayLink,
    Occurrence,
    OccurrenceRecord,
    SensorState,
)
from hazmon.kinds import Condition, Kind, Priority
from hazmon.registry import Registry, Sensor, Site


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
        self.gateway_sensors: dict[str, list[str]] = {}
        self.site_points: dict[str, list[AlarmPoint]] = {}
        self.site_sensors: dict[str, list[str]] = {}
        self._dirty_points: set[str] = set()
        self._dirty_sensors: set[str] = set()
        self._dirty_gateways: set[str] = set()
        self._dirty_occ: dict[str, tuple[AlarmPoint, Occurrence]] = {}
        self.touched_sites: set[str] = set()
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
        for condition in sensor_conditions(sensor):
            key = f"{sid}/{condition.value}"
            point = AlarmPoint(
                key, site.id, gateway, sensor.id, condition,
                sensor.priority(condition), sensor.latches(condition),
            )
            points[condition] = self.points[key] = point
            self.site_points.setdefault(site.id, []).append(point)
        self.sensor_points[sid] = points

    def _add_gateway(self, site: Site, gateway: str, period_s: float) -> None:
        gid = f"{site.id}/{gateway}"
        self.gateways[gid] = GatewayLink(site.id, gateway, period_s)
        key = f"{gid}/{Condition.offline.value}"
        point = AlarmPoint(
            key, site.id, gateway, gateway, Condition.offline, Priority.medium, False
        )
        self.points[key] = self.offline_points[gid] = point
        self.site_points.setdefault(site.id, []).append(point)

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
        if point.occ is not None:
            self._dirty_occ[point.occ.alarm_id] = (point, point.occ)

    def mark_sensor(self, state: SensorState, *, touch: bool = True) -> None:
        self._dirty_sensors.add(state.id)
        if touch:
            self.touched_sites.add(state.site)

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
        )
        self._dirty_points.clear()
        self._dirty_sensors.clear()
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
    ) -> None:
        """Load persisted state; ids the registry no longer has are left out."""
        for sid, doc in sensors.items():
            if sid in self.sensors:
                self.sensors[sid].load(doc)
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


def occurrence_record(point: AlarmPoint, occ: Occurrence) -> OccurrenceRecord:
    return OccurrenceRecord(
        occ.alarm_id, point.key, point.site, point.priority.value, occ.raised_ms,
        occ.ended_ms, occ.doc(),
    )
