"""Site risk grade (docs/alarms.md, "Site risk grade"): effective = max(baseline, dynamic).

Dynamic: red for a critical point whose condition is active or whose occurrence has
not ended, hidden or not (hidden is not safe); orange likewise for high, and for a
bypass permit in force on a grade A interlock; yellow for any medium, any other
permit in force, any sensor out of service or in maintenance (a gateway offline is a
medium `offline` point; messages of a gateway lost, its high `feed_gap` point,
counts as yellow too: data is missing, no hazard was seen); else blue.
"""

from __future__ import annotations

from collections.abc import Iterable

from hazmon.alarms.core.model import AlarmPoint, SensorState
from hazmon.alarms.core.plant import Plant
from hazmon.contract.kinds import Condition, Priority
from hazmon.contract.registry import GRADE_LEVEL, LEVEL_GRADE

PRIORITY_LEVEL: dict[Priority, int] = {
    Priority.critical: 3,
    Priority.high: 2,
    Priority.medium: 1,
}
FEED_GAP_LEVEL = PRIORITY_LEVEL[Priority.medium]


def site_level(plant: Plant, site_id: str, now_ms: int) -> int:
    """From the site's points and sensors that count (`Plant.hazards`, `flagged`; the
    caller has refreshed them: `Plant.refresh_site_sets`)."""
    points = plant.hazards.get(site_id, {}).values()
    sensors = plant.flagged.get(site_id, {}).values()
    return _level(plant, site_id, points, sensors, now_ms)


def site_level_scan(plant: Plant, site_id: str, now_ms: int) -> int:
    """The same from every point and sensor of the site (what the sets must agree with)."""
    points = [p for p in plant.site_points.get(site_id, ()) if p.hazard]
    sensors = [plant.sensors[sid] for sid in plant.site_sensors.get(site_id, ())]
    return _level(plant, site_id, points, sensors, now_ms)


def _level(
    plant: Plant,
    site_id: str,
    points: Iterable[AlarmPoint],
    sensors: Iterable[SensorState],
    now_ms: int,
) -> int:
    level = GRADE_LEVEL[plant.sites[site_id].baseline_risk]
    for point in points:
        if point.condition is Condition.feed_gap:  # data missing, not a hazard seen:
            level = max(level, FEED_GAP_LEVEL)  # yellow, as a gateway offline
            continue
        level = max(level, PRIORITY_LEVEL[point.priority])
        if level == 3:
            return level
    for state in sensors:
        if state.permit is not None and state.permit.valid(now_ms):
            level = max(level, 2 if plant.configs[state.id].grade == "A" else 1)
        if state.oos_until_ms is not None or state.maintenance_since_ms is not None:
            level = max(level, 1)
    return level


def site_grade(plant: Plant, site_id: str, now_ms: int) -> str:
    return LEVEL_GRADE[site_level(plant, site_id, now_ms)]
