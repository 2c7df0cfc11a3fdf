"""Alarm history: what the alarm engine decided, event by event (`alarm_event`).

The raise rate per 10 minutes against the EEMUA 191 flood line (10 raises in 10
minutes), the points that raised most, and the table of every event with who did
what; raises and human actions are drawn over the trend as annotations. The
authoritative, tamper-evident record stays the journal (`hazmon journal export`).
"""

from __future__ import annotations

from grafana_foundation_sdk.builders import common as common_builders
from grafana_foundation_sdk.builders import dashboard as builders
from grafana_foundation_sdk.builders import table, timeseries
from grafana_foundation_sdk.models import common as common_models
from grafana_foundation_sdk.models import dashboard as model

from hazmon.contract.kinds import Priority
from hazmon.dashboards import palette, queries
from hazmon.dashboards.common import (
    Grid,
    alarm_annotation,
    custom_variable,
    finish,
    new_dashboard,
    priority_colours,
    query,
    rows_table,
    tag_variable,
    trend,
)

UID = "hazmon-alarm-history"
FLOOD_RAISES_PER_10_MIN = 10
SITES_AND_PRIORITIES = '"site" =~ /^$site$/ AND "priority" =~ /^$priority$/'


def build() -> model.Dashboard:
    dashboard = (
        new_dashboard(
            uid=UID,
            title="hazmon · Alarm history",
            description="Alarm events as the alarm engine decided them, with rates and bad actors.",
        )
        .time("now-24h", "now")
        .with_variable(
            tag_variable("site", label="Site", measurement="alarm_event", key="site", multi=True)
        )
        .with_variable(custom_variable("priority", label="Priority", values=list(Priority)))
        .annotation(
            alarm_annotation("Raised", "raised", "red", site_filter=SITES_AND_PRIORITIES)
        )
        .annotation(
            alarm_annotation(
                "Acknowledged, reset or shelved",
                "acked|reset|shelved",
                "blue",
                site_filter=SITES_AND_PRIORITIES,
            )
        )
    )
    grid = (
        Grid()
        .add(raise_rate(), w=16, h=9)
        .add(bad_actors(), w=8, h=9)
        .add(event_table(), w=24, h=16)
    )
    return finish(dashboard, grid)


def raise_rate() -> timeseries.Panel:
    flood = (
        builders.ThresholdsConfig()
        .mode(model.ThresholdsMode.ABSOLUTE)
        .steps(
            [
                model.Threshold(value=None, color="green"),
                model.Threshold(value=FLOOD_RAISES_PER_10_MIN, color="red"),
            ]
        )
    )
    return (
        trend()
        .title("Alarms raised per 10 minutes")
        .description(
            "Stacked by priority. The red line is the EEMUA 191 flood threshold: "
            "more than 10 raises in 10 minutes."
        )
        .with_target(query(queries.ALARMS_RAISED_PER_10_MIN).alias("$tag_priority"))
        .draw_style(common_models.GraphDrawStyle.BARS)
        .fill_opacity(80)
        .stacking(common_builders.StackingConfig().mode(common_models.StackingMode.NORMAL))
        .thresholds_style(
            common_builders.GraphThresholdsStyleConfig().mode(
                common_models.GraphTresholdsStyleMode.DASHED
            )
        )
        .thresholds(flood)
        .unit("short")
        .min(0)
        .overrides(priority_colours())
    )


def bad_actors() -> table.Panel:
    return (
        rows_table()
        .title("Most frequent alarms (bad actors)")
        .description("Raises per alarm point in the time range, most first.")
        .with_target(query(queries.BAD_ACTORS).table())
        .sort_by([common_builders.TableSortByFieldState().display_name("raised").desc(True)])
        .override_by_name("Time", [model.DynamicConfigValue(id_val="custom.hidden", value=True)])
    )


def event_table() -> table.Panel:
    return (
        rows_table()
        .title("Alarm events")
        .description("Newest first, at most 1000; the journal export has them all.")
        .with_target(query(queries.ALARM_EVENT_TABLE).table())
        .override_by_name(
            "priority",
            [
                model.DynamicConfigValue(id_val="mappings", value=palette.priority_mapping()),
                model.DynamicConfigValue(id_val="custom.cellOptions", value={"type": "color-text"}),
            ],
        )
        .override_by_name(
            "state",
            [
                model.DynamicConfigValue(id_val="mappings", value=palette.alarm_state_mapping()),
                model.DynamicConfigValue(id_val="custom.cellOptions", value={"type": "color-text"}),
            ],
        )
    )
