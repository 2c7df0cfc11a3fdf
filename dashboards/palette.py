"""Colours and value mappings that mean the same on every hazmon dashboard.

Risk grades wear their own colour (blue, yellow, orange, red: docs/alarms.md, site risk
grade); alarm priorities are red (critical), orange (high) and yellow (medium); an
interlock's state is green when normal and red when tripped. Threshold steps come
from the registry in force, so the line a duty officer sees on a trend is the limit
the alarm engine applies.
"""

from __future__ import annotations

from grafana_foundation_sdk.builders import dashboard as builders
from grafana_foundation_sdk.models import dashboard as model

from hazmon.contract.kinds import Condition, Priority
from hazmon.contract.registry import LEVEL_GRADE, Sensor

GRADE_COLOUR: dict[str, str] = {
    "blue": "blue",
    "yellow": "yellow",
    "orange": "orange",
    "red": "red",
}
PRIORITY_COLOUR: dict[str, str] = {
    Priority.critical: "red",
    Priority.high: "orange",
    Priority.medium: "yellow",
}
NORMAL_COLOUR = "green"
INTERLOCK_COLOUR: dict[str, str] = {
    "normal": "green",
    "tripped": "red",
    "bypassed": "orange",
    "fault": "purple",
}
ALARM_STATE_COLOUR: dict[str, str] = {
    "unack": "red",
    "acked": "orange",
    "rtn_unack": "yellow",
    "normal": "green",
    "shelved": "purple",
    "suppressed": "purple",
    "out_of_service": "purple",
}


def _value_map(colours: dict[str, str], texts: dict[str, str] | None = None) -> model.ValueMap:
    texts = texts or {}
    return model.ValueMap(
        options={
            key: model.ValueMappingResult(text=texts.get(key, key), color=colour, index=i)
            for i, (key, colour) in enumerate(colours.items())
        }
    )


def grade_level_mapping() -> list[model.ValueMapping]:
    """Risk level 0-3 shown as its grade, in its colour."""
    colours = {str(level): GRADE_COLOUR[grade] for level, grade in enumerate(LEVEL_GRADE)}
    texts = {str(level): grade for level, grade in enumerate(LEVEL_GRADE)}
    return [_value_map(colours, texts)]


def grade_name_mapping() -> list[model.ValueMapping]:
    return [_value_map(GRADE_COLOUR)]


def grade_level_thresholds() -> builders.ThresholdsConfig:
    """Steps at the risk levels, so a map marker or a cell takes its grade's colour."""
    steps = [
        model.Threshold(value=None if level == 0 else float(level), color=GRADE_COLOUR[grade])
        for level, grade in enumerate(LEVEL_GRADE)
    ]
    return builders.ThresholdsConfig().mode(model.ThresholdsMode.ABSOLUTE).steps(steps)


def interlock_mapping() -> list[model.ValueMapping]:
    return [_value_map(INTERLOCK_COLOUR)]


def alarm_state_mapping() -> list[model.ValueMapping]:
    return [_value_map(ALARM_STATE_COLOUR)]


def priority_mapping() -> list[model.ValueMapping]:
    return [_value_map({str(p): c for p, c in PRIORITY_COLOUR.items()})]


def boolean_online_mapping() -> list[model.ValueMapping]:
    return [_value_map({"true": "green", "false": "red"}, {"true": "online", "false": "offline"})]


def sensor_steps(sensor: Sensor) -> list[model.Threshold]:
    """Threshold steps of a sensor in force: green between its limits, the colour of
    each condition's priority beyond it (level 1 and level 2 of a gas detector)."""
    limits = dict(sensor.thresholds.items())
    lows: list[Condition] = [c for c in (Condition.low_low, Condition.low) if c in limits]
    base = PRIORITY_COLOUR[sensor.priority(lows[0])] if lows else NORMAL_COLOUR
    steps = [model.Threshold(value=None, color=base)]
    for i, condition in enumerate(lows):
        following = lows[i + 1] if i + 1 < len(lows) else None
        colour = PRIORITY_COLOUR[sensor.priority(following)] if following else NORMAL_COLOUR
        steps.append(model.Threshold(value=limits[condition], color=colour))
    for condition in (Condition.high, Condition.high_high):
        if condition in limits:
            colour = PRIORITY_COLOUR[sensor.priority(condition)]
            steps.append(model.Threshold(value=limits[condition], color=colour))
    return steps
