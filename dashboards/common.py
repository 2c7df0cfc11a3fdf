"""What every hazmon dashboard shares: the data source, the variables, the panel kit.

Panels read InfluxDB through a data source variable (`$datasource`, InfluxDB type),
so the same JSON works in the compose stack (data source `hazmon-influxdb`) and in an
operator's own Grafana, whatever its InfluxDB data source is called.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TypeVar

from grafana_foundation_sdk.builders import common as common_builders
from grafana_foundation_sdk.builders import dashboard as builders
from grafana_foundation_sdk.builders import table, timeseries
from grafana_foundation_sdk.cog import builder as cogbuilder
from grafana_foundation_sdk.models import common as common_models
from grafana_foundation_sdk.models import dashboard as model

from hazmon.dashboards import queries
from hazmon.dashboards.influxql import DATASOURCE_TYPE, Annotation, InfluxAnnotation, InfluxQL
from hazmon.dashboards.palette import PRIORITY_COLOUR

DATASOURCE_UID = "hazmon-influxdb"
DATASOURCE_NAME = "hazmon-influxdb"
DATASOURCE_VARIABLE = "datasource"
DATASOURCE = model.DataSourceRef(type_val=DATASOURCE_TYPE, uid=f"${{{DATASOURCE_VARIABLE}}}")
T = TypeVar("T")
Override = cogbuilder.Builder[model.DashboardFieldConfigSourceOverrides]
TAGS = ["hazmon"]
ALL = model.VariableOption(text=["All"], value=["$__all"])
REFRESH = "30s"

# Grafana unit ids for the registry's units (docs/contract.md §4); `suffix:` where Grafana has none.
GRAFANA_UNIT: dict[str, str] = {
    "%LEL": "suffix: %LEL",
    "%VOL": "suffix: %VOL",
    "ppm": "ppm",
    "mg/m³": "conmgm3",
    "mA": "mamp",
    "A": "amp",
    "V": "volt",
    "°C": "celsius",
    "m": "lengthm",
    "kPa": "pressurekpa",
    "MPa": "suffix: MPa",
}


def new_dashboard(*, uid: str, title: str, description: str) -> builders.Dashboard:
    """A dashboard with hazmon's tags, refresh, time range and data source variable."""
    return (
        builders.Dashboard(title)
        .uid(uid)
        .description(description)
        .tags(TAGS)
        .refresh(REFRESH)
        .time("now-6h", "now")
        .timezone("browser")
        .readonly()
        .with_variable(datasource_variable())
    )


def datasource_variable() -> builders.DatasourceVariable:
    return (
        builders.DatasourceVariable(DATASOURCE_VARIABLE)
        .label("InfluxDB")
        .type(DATASOURCE_TYPE)
        .current(model.VariableOption(text=DATASOURCE_NAME, value=DATASOURCE_UID))
    )


def tag_variable(
    name: str, *, label: str, measurement: str, key: str, multi: bool = False
) -> builders.QueryVariable:
    """A variable listing the values of one tag, as the data shows them."""
    variable = (
        builders.QueryVariable(name)
        .label(label)
        .datasource(DATASOURCE)
        .query(f'SHOW TAG VALUES FROM "{measurement}" WITH KEY = "{key}"')
        .refresh(model.VariableRefresh.ON_DASHBOARD_LOAD)
        .sort(model.VariableSort.ALPHABETICAL_ASC)
    )
    if multi:
        variable = variable.multi(True).include_all(True).current(ALL)
    return variable


class Built(cogbuilder.Builder[T]):
    """A model finished by hand, where the SDK's builder lacks a setter."""

    def __init__(self, built: T) -> None:
        self._built = built

    def build(self) -> T:
        return self._built


def custom_variable(name: str, *, label: str, values: Iterable[str]) -> Built[model.VariableModel]:
    """A fixed list (alarm priorities, say), several at once, all by default."""
    variable = builders.CustomVariable(name).label(label).values(",".join(values)).build()
    variable.multi = True
    variable.include_all = True
    variable.current = ALL
    return Built(variable)


def trend() -> timeseries.Panel:
    """A time series panel whose tooltip lists every series, highest first."""
    return timeseries.Panel().tooltip(
        common_builders.VizTooltipOptions()
        .mode(common_models.TooltipDisplayMode.MULTI)
        .sort(common_models.SortOrder.DESCENDING)
    )


def rows_table() -> table.Panel:
    """A table panel (rows as InfluxDB returns them)."""
    return table.Panel().show_header(True)


def query(text: str) -> InfluxQL:
    """A raw InfluxQL target on the dashboard's data source."""
    return InfluxQL(" ".join(text.split())).datasource(DATASOURCE)


def alarm_annotation(name: str, events: str, colour: str, *, site_filter: str) -> Annotation:
    """Alarm events (`events`, a regex of event kinds) drawn over the panels' time axis."""
    return Annotation(
        InfluxAnnotation(
            name=name,
            query=queries.alarm_annotation(events=events, site_filter=site_filter),
            datasource=DATASOURCE,
            icon_color=colour,
            text_column="alarm_id",
            tags_columns=["event", "priority", "condition", "state"],
        )
    )


class Grid:
    """Places panels left to right in rows of 24 columns, under optional row headers,
    with explicit positions (what Grafana stores), so the JSON never depends on how a
    builder guessed the layout."""

    WIDTH = 24

    def __init__(self) -> None:
        self.panels: list[model.Panel | model.RowPanel] = []
        self._x = 0
        self._y = 0
        self._line_height = 0

    def add(self, panel: cogbuilder.Builder[model.Panel], *, w: int, h: int) -> Grid:
        if self._x + w > self.WIDTH:
            self._new_line()
        built = panel.build()
        built.grid_pos = model.GridPos(h=h, w=w, x=self._x, y=self._y)
        built.id_val = len(self.panels) + 1
        self.panels.append(built)
        self._x += w
        self._line_height = max(self._line_height, h)
        return self

    def row(self, title: str) -> Grid:
        self._new_line()
        self.panels.append(
            model.RowPanel(
                title=title,
                collapsed=False,
                id_val=len(self.panels) + 1,
                grid_pos=model.GridPos(h=1, w=self.WIDTH, x=0, y=self._y),
            )
        )
        self._y += 1
        return self

    def _new_line(self) -> None:
        if self._x:
            self._y += self._line_height
        self._x = 0
        self._line_height = 0


def finish(dashboard: cogbuilder.Builder[model.Dashboard], grid: Grid) -> model.Dashboard:
    built = dashboard.build()
    built.panels = list(grid.panels)
    return built


def fixed_colour(name: str, colour: str) -> Override:
    """The series or field called `name` always in `colour`."""
    return (
        builders.DashboardFieldConfigSourceOverrides()
        .matcher(model.MatcherConfig(id_val="byName", options=name))
        .properties(
            [
                model.DynamicConfigValue(
                    id_val="color", value={"mode": "fixed", "fixedColor": colour}
                )
            ]
        )
    )


def priority_colours() -> list[Override]:
    """Series named after a priority take its colour (critical red, high orange, ...)."""
    return [fixed_colour(str(p), colour) for p, colour in PRIORITY_COLOUR.items()]
