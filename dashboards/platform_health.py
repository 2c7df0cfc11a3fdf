"""Platform health: is the telemetry getting in? (`ingest_stats`, docs/dashboards.md)

Ingest rate per ingest replica, rejected readings by reason, the spool that holds
readings while the store is unreachable, and how long store writes take. A growing
spool or latency means the dashboards and alarms may be looking at old data.
"""

from __future__ import annotations

from grafana_foundation_sdk.builders import common as common_builders
from grafana_foundation_sdk.builders import timeseries
from grafana_foundation_sdk.models import common as common_models
from grafana_foundation_sdk.models import dashboard as model

from hazmon.dashboards import queries
from hazmon.dashboards.common import (
    Grid,
    finish,
    new_dashboard,
    query,
    tag_variable,
    trend,
)

UID = "hazmon-platform-health"


def build() -> model.Dashboard:
    dashboard = new_dashboard(
        uid=UID,
        title="hazmon · Platform health",
        description="Ingest rate, rejects by reason, spool depth and store write latency.",
    ).with_variable(
        tag_variable(
            "instance",
            label="Ingest instance",
            measurement="ingest_stats",
            key="instance",
            multi=True,
        )
    )
    grid = (
        Grid()
        .add(ingest_rate(), w=12, h=9)
        .add(rejects(), w=12, h=9)
        .add(spool_depth(), w=12, h=9)
        .add(write_latency(), w=12, h=9)
    )
    return finish(dashboard, grid)


def _trend(title: str, description: str, unit: str) -> timeseries.Panel:
    return trend().title(title).description(description).unit(unit).min(0)


def ingest_rate() -> timeseries.Panel:
    return (
        _trend("Ingest rate", "Readings accepted per second, stacked by ingest replica.", "short")
        .with_target(query(queries.INGEST_RATE).alias("$tag_instance"))
        .stacking(common_builders.StackingConfig().mode(common_models.StackingMode.NORMAL))
        .fill_opacity(30)
        .axis_label("readings/s")
    )


def rejects() -> timeseries.Panel:
    return (
        _trend(
            "Rejected readings by reason",
            "Readings and messages rejected per minute (unknown sensor, bad shape, ...).",
            "short",
        )
        .with_target(query(queries.REJECTS_BY_REASON).alias("$tag_reason ($tag_instance)"))
        .draw_style(common_models.GraphDrawStyle.BARS)
        .fill_opacity(80)
        .stacking(common_builders.StackingConfig().mode(common_models.StackingMode.NORMAL))
        .axis_label("rejects/min")
    )


def spool_depth() -> timeseries.Panel:
    return (
        _trend(
            "Spool depth",
            "Readings held on disk while the store cannot take them; should be 0.",
            "short",
        )
        .with_target(query(queries.SPOOL_DEPTH).alias("$tag_instance"))
        .axis_label("readings")
    )


def write_latency() -> timeseries.Panel:
    return (
        _trend("Store write latency", "Slowest and mean store write per interval.", "ms")
        .with_target(query(queries.WRITE_LATENCY_MAX).ref_id("max").alias("max $tag_instance"))
        .with_target(query(queries.WRITE_LATENCY_MEAN).ref_id("mean").alias("mean $tag_instance"))
    )
