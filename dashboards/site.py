"""Site: one plant in detail, chosen with the `site` variable.

Gas concentrations with their level 1 and level 2 thresholds, interlock states on a
state timeline, residual current and cable temperature, then the process values.
Every threshold line comes from the registry in force, per sensor, so it is the limit
the alarm engine applies; alarm events are drawn over the trends as annotations.
"""

from __future__ import annotations

from collections.abc import Iterator

from grafana_foundation_sdk.builders import common as common_builders
from grafana_foundation_sdk.builders import dashboard as builders
from grafana_foundation_sdk.builders import stat, statetimeline, table, timeseries
from grafana_foundation_sdk.models import common as common_models
from grafana_foundation_sdk.models import dashboard as model

from hazmon.contract.kinds import Kind
from hazmon.contract.registry import Registry, Sensor, Site
from hazmon.dashboards import palette, queries
from hazmon.dashboards.common import (
    GRAFANA_UNIT,
    Grid,
    Override,
    alarm_annotation,
    finish,
    new_dashboard,
    priority_colours,
    query,
    rows_table,
    tag_variable,
    trend,
)

UID = "hazmon-site"
SITE_FILTER = "\"site\" = '$site'"

# Panels in the order a duty officer reads them: gas first, then electrical safety.
SAFETY_TRENDS: tuple[tuple[Kind, str], ...] = (
    (Kind.combustible_gas, "Combustible gas"),
    (Kind.toxic_gas, "Toxic gas"),
    (Kind.oxygen, "Oxygen"),
    (Kind.residual_current, "Residual current"),
    (Kind.cable_temperature, "Cable temperature"),
)
PROCESS_TRENDS: tuple[tuple[Kind, str], ...] = (
    (Kind.level, "Level"),
    (Kind.pressure, "Pressure"),
    (Kind.temperature, "Temperature"),
    (Kind.current, "Motor and pump current"),
    (Kind.voltage, "Voltage"),
)


def build(registry: Registry) -> model.Dashboard:
    dashboard = (
        new_dashboard(
            uid=UID,
            title="hazmon · Site",
            description="One site: gas, interlocks, electrical safety and process values.",
        )
        .with_variable(tag_variable("site", label="Site", measurement="reading", key="site"))
        .annotation(alarm_annotation("Alarms raised", "raised", "red", site_filter=SITE_FILTER))
        .annotation(
            alarm_annotation(
                "Alarms cleared, acknowledged or reset",
                "cleared|acked|reset",
                "green",
                site_filter=SITE_FILTER,
            )
        )
    )
    grid = Grid().add(risk_grade(), w=4, h=6).add(active_alarms(), w=8, h=6)
    grid.add(gateways(), w=12, h=6)
    kinds = {sensor.kind for _, _, sensor in registry.sensors()}
    grid.row("Gas and electrical safety")
    for kind, title in SAFETY_TRENDS:
        if kind in kinds:
            grid.add(reading_trend(registry, kind, title), w=12, h=9)
    if Kind.interlock in kinds:
        grid.add(interlocks(registry), w=24, h=8)
    grid.row("Process values")
    for kind, title in PROCESS_TRENDS:
        if kind in kinds:
            grid.add(reading_trend(registry, kind, title), w=12, h=8)
    return finish(dashboard, grid)


def risk_grade() -> stat.Panel:
    return (
        stat.Panel()
        .title("Risk grade")
        .with_target(query(queries.ONE_SITE_RISK_NOW))
        .mappings(palette.grade_level_mapping())
        .thresholds(palette.grade_level_thresholds())
        .color_mode(common_models.BigValueColorMode.BACKGROUND)
        .graph_mode(common_models.BigValueGraphMode.NONE)
        .reduce_options(common_builders.ReduceDataOptions().calcs(["lastNotNull"]))
    )


def active_alarms() -> stat.Panel:
    return (
        stat.Panel()
        .title("Active alarms by priority")
        .with_target(query(queries.active_alarms_by_priority(SITE_FILTER)).alias("$tag_priority"))
        .reduce_options(common_builders.ReduceDataOptions().calcs(["lastNotNull"]))
        .graph_mode(common_models.BigValueGraphMode.NONE)
        .color_mode(common_models.BigValueColorMode.BACKGROUND)
        .no_value("0")
        .overrides(priority_colours())
    )


def gateways() -> table.Panel:
    where = f"WHERE {SITE_FILTER} "
    return (
        rows_table()
        .title("Gateways")
        .with_target(query(queries.GATEWAY_TABLE.format(where=where)).table())
        .override_by_name(
            "online",
            [model.DynamicConfigValue(id_val="mappings", value=palette.boolean_online_mapping())],
        )
        .override_by_name("Time", [model.DynamicConfigValue(id_val="custom.hidden", value=True)])
    )


def reading_trend(registry: Registry, kind: Kind, title: str) -> timeseries.Panel:
    """A kind's sensors on one chart, each with its own thresholds and unit."""
    panel = (
        trend()
        .title(title)
        .description(_trend_description(kind))
        .with_target(query(queries.reading_trend(kind)).alias("$tag_site/$tag_sensor"))
        .thresholds_style(
            common_builders.GraphThresholdsStyleConfig().mode(
                common_models.GraphTresholdsStyleMode.DASHED
            )
        )
        .span_nulls(False)
    )
    return panel.overrides(list(_sensor_overrides(registry, kind)))


def _trend_description(kind: Kind) -> str:
    selector = queries.WORST_OF_INTERVAL.get(kind)
    how = {"max": "highest", "min": "lowest"}.get(selector or "", "mean")
    return (
        f"The {how} value of each interval per sensor; dashed lines are the sensor's "
        "alarm thresholds in the registry (level 1 and level 2 for gas)."
    )


def _sensor_overrides(registry: Registry, kind: Kind) -> Iterator[Override]:
    for site, _gateway, sensor in registry.sensors():
        if sensor.kind is kind:
            yield _sensor_override(site, sensor)


def _sensor_override(site: Site, sensor: Sensor) -> Override:
    label = " ".join(part for part in (sensor.id, sensor.area, _gas(sensor)) if part)
    properties = [
        model.DynamicConfigValue(id_val="displayName", value=label),
        model.DynamicConfigValue(
            id_val="thresholds",
            value=model.ThresholdsConfig(
                mode=model.ThresholdsMode.ABSOLUTE, steps=palette.sensor_steps(sensor)
            ),
        ),
    ]
    if sensor.unit:
        properties.append(model.DynamicConfigValue(id_val="unit", value=GRAFANA_UNIT[sensor.unit]))
    return (
        builders.DashboardFieldConfigSourceOverrides()
        .matcher(model.MatcherConfig(id_val="byName", options=f"{site.id}/{sensor.id}"))
        .properties(properties)
    )


def _gas(sensor: Sensor) -> str | None:
    return f"({sensor.gas})" if sensor.gas else None


def interlocks(registry: Registry) -> statetimeline.Panel:
    names: list[Override] = [
        builders.DashboardFieldConfigSourceOverrides()
        .matcher(model.MatcherConfig(id_val="byName", options=f"{site.id}/{sensor.id}"))
        .properties(
            [
                model.DynamicConfigValue(
                    id_val="displayName", value=f"{sensor.id} grade {sensor.grade or 'A'}"
                )
            ]
        )
        for site, _, sensor in registry.sensors()
        if sensor.kind is Kind.interlock
    ]
    return (
        statetimeline.Panel()
        .title("Interlocks")
        .description("State of every interlock: normal, tripped, bypassed or fault.")
        .with_target(query(queries.interlock_states()).alias("$tag_site/$tag_sensor"))
        .mappings(palette.interlock_mapping())
        .show_value(common_models.VisibilityMode.NEVER)
        .merge_values(True)
        .overrides(names)
    )
