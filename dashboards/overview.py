"""Overview: the whole region at a glance, for the duty officer's wall screen.

A map of the sites coloured by their effective risk grade (`site_risk`), the active
alarms by priority, how many gateways are online and the messages lost on the way.
"""

from __future__ import annotations

from grafana_foundation_sdk.builders import common as common_builders
from grafana_foundation_sdk.builders import dashboard as builders
from grafana_foundation_sdk.builders import geomap, stat, statetimeline, table, timeseries
from grafana_foundation_sdk.models import common as common_models
from grafana_foundation_sdk.models import dashboard as model
from grafana_foundation_sdk.models import geomap as geomap_models

from hazmon.dashboards import palette, queries
from hazmon.dashboards.common import (
    Grid,
    finish,
    new_dashboard,
    priority_colours,
    query,
    rows_table,
    trend,
)

UID = "hazmon-overview"


def build() -> model.Dashboard:
    dashboard = new_dashboard(
        uid=UID,
        title="hazmon · Overview",
        description="Sites by risk grade, active alarms, gateways and lost messages.",
    )
    grid = (
        Grid()
        .add(risk_map(), w=12, h=14)
        .add(active_alarms(), w=6, h=14)
        .add(gateways_online(), w=6, h=14)
        .add(risk_timeline(), w=24, h=7)
        .add(gateway_table(), w=12, h=10)
        .add(lost_messages(), w=12, h=10)
    )
    return finish(dashboard, grid)


def risk_map() -> geomap.Panel:
    """Each site a marker at its registry location, in the colour of its grade."""
    markers = (
        common_builders.MapLayerOptions()
        .type("markers")
        .name("Sites")
        .location(
            common_builders.FrameGeometrySource()
            .mode(common_models.FrameGeometrySourceMode.COORDS)
            .latitude("lat")
            .longitude("lon")
        )
        .tooltip(True)
        .config(
            {
                "showLegend": True,
                "style": {
                    "color": {"field": "level", "fixed": "blue"},
                    "size": {"fixed": 14},
                    "opacity": 0.9,
                    "symbol": {"mode": "fixed", "fixed": "img/icons/marker/circle.svg"},
                    "text": {"mode": "field", "field": "site", "fixed": ""},
                    "textConfig": {"fontSize": 12, "offsetY": -16, "textAlign": "center"},
                },
            }
        )
    )
    return (
        geomap.Panel()
        .title("Sites by risk grade")
        .description("Effective grade = max(baseline, dynamic), as the alarm service decided.")
        .with_target(query(queries.SITE_RISK_NOW).table())
        .view(geomap.MapViewConfig().id("fit").max_zoom(12).padding(20))
        .controls(geomap.ControlsOptions().show_zoom(True).mouse_wheel_zoom(False))
        .basemap(common_builders.MapLayerOptions().type("default").name("Basemap"))
        .layers([markers])
        .tooltip(geomap.TooltipOptions().mode(geomap_models.TooltipMode.DETAILS))
        .thresholds(palette.grade_level_thresholds())
        .color_scheme(builders.FieldColor().mode(model.FieldColorModeId.THRESHOLDS))
        .override_by_name(
            "level",
            [model.DynamicConfigValue(id_val="mappings", value=palette.grade_level_mapping())],
        )
    )


def active_alarms() -> stat.Panel:
    """Occurrences not yet ended, by priority (shelved and suppressed ones included:
    hidden is not safe)."""
    return (
        stat.Panel()
        .title("Active alarms by priority")
        .with_target(query(queries.active_alarms_by_priority()).alias("$tag_priority"))
        .reduce_options(common_builders.ReduceDataOptions().calcs(["lastNotNull"]))
        .color_mode(common_models.BigValueColorMode.BACKGROUND)
        .graph_mode(common_models.BigValueGraphMode.NONE)
        .no_value("0")
        .overrides(priority_colours())
    )


def gateways_online() -> stat.Panel:
    return (
        stat.Panel()
        .title("Gateways online")
        .description("Gateways whose latest status is online, of all that ever reported.")
        .with_target(query(queries.GATEWAYS_ONLINE).ref_id("online").alias("online"))
        .with_target(query(queries.GATEWAYS_KNOWN).ref_id("known").alias("known"))
        .reduce_options(common_builders.ReduceDataOptions().calcs(["lastNotNull"]))
        .graph_mode(common_models.BigValueGraphMode.NONE)
        .no_value("0")
    )


def risk_timeline() -> statetimeline.Panel:
    return (
        statetimeline.Panel()
        .title("Risk grade by site")
        .with_target(query(queries.SITE_RISK_TREND).alias("$tag_site"))
        .mappings(palette.grade_level_mapping())
        .thresholds(palette.grade_level_thresholds())
        .color_scheme(builders.FieldColor().mode(model.FieldColorModeId.THRESHOLDS))
    )


def gateway_table() -> table.Panel:
    return (
        rows_table()
        .title("Gateways")
        .description("Latest status of every gateway; lost messages are sequence gaps.")
        .with_target(query(queries.GATEWAY_TABLE.format(where="")).table())
        .override_by_name(
            "online",
            [
                model.DynamicConfigValue(id_val="mappings", value=palette.boolean_online_mapping()),
                model.DynamicConfigValue(
                    id_val="custom.cellOptions", value={"type": "color-background"}
                ),
            ],
        )
        .override_by_name("Time", [model.DynamicConfigValue(id_val="custom.hidden", value=True)])
    )


def lost_messages() -> timeseries.Panel:
    return (
        trend()
        .title("Lost messages per interval")
        .description(
            "Telemetry messages missing from each gateway's sequence (docs/contract.md §3)."
        )
        .with_target(query(queries.LOST_MESSAGES).alias("$tag_site/$tag_gateway"))
        .draw_style(common_models.GraphDrawStyle.BARS)
        .fill_opacity(80)
        .stacking(common_builders.StackingConfig().mode(common_models.StackingMode.NORMAL))
        .unit("short")
        .min(0)
    )
