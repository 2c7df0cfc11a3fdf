"""Every panel and annotation query of the committed dashboards, run on a real InfluxDB.

The database holds half an hour of the demo plant (tests/dashboards/plant_data.py):
readings of all 177 sensors, the alarm service's series and `ingest_stats`. Each
InfluxQL query is interpolated as Grafana would, for every value of the dashboard's
variables, and must return data; a query on a site returns that site's series only.
"""

from __future__ import annotations

import json
import re
import time
import uuid
from collections.abc import Iterator, Sequence
from typing import Any

import pytest

from hazmon.cli.dashboards import DEMO_REGISTRY
from hazmon.contract.config import load_registry
from hazmon.contract.kinds import Priority
from hazmon.contract.registry import Registry
from hazmon.dashboards.provisioning import DASHBOARD_FOLDER, PACKAGE_FOLDER
from hazmon.testing.servers import InfluxDB
from tests.dashboards import grafana_like
from tests.dashboards.plant_data import INGEST_INSTANCES, plant_lines

pytestmark = pytest.mark.integration

REGISTRY = load_registry(DEMO_REGISTRY)
SITE_IDS = sorted(site.id for site in REGISTRY.sites)
DASHBOARDS = {
    path.stem: json.loads(path.read_text(encoding="utf-8"))
    for path in sorted((PACKAGE_FOLDER / DASHBOARD_FOLDER).glob("*.json"))
}
TARGETS = [t for d in DASHBOARDS.values() for t in grafana_like.targets(d)]
ANNOTATIONS = [t for d in DASHBOARDS.values() for t in grafana_like.annotation_targets(d)]
KIND_IN_QUERY = re.compile(r"\"kind\" = '([a-z_]+)'")
WRITE_BATCH_LINES = 5_000


def _id(target: grafana_like.Target) -> str:
    return f"{target.dashboard}:{target.panel}:{target.ref_id}"


@pytest.fixture(scope="module")
def plant_db(influxdb: InfluxDB) -> Iterator[str]:
    """A database of this module's own, filled with the demo plant's last half hour."""
    name = f"hazmon_dashboards_{uuid.uuid4().hex[:8]}"
    influxdb.create_database(name)
    lines = list(plant_lines(REGISTRY, int(time.time() * 1000)))
    for start in range(0, len(lines), WRITE_BATCH_LINES):
        influxdb.write(name, lines[start : start + WRITE_BATCH_LINES])
    yield name
    influxdb.drop_database(name)


def sites_with_kind(registry: Registry, kind: str) -> list[str]:
    return sorted({site.id for site, _, sensor in registry.sensors() if sensor.kind == kind})


def variable_contexts(
    influxdb: InfluxDB, db: str, dashboard: dict[str, Any], query: str
) -> list[dict[str, Sequence[str]]]:
    """The variable values to try: each site alone for a single-site dashboard (only
    the sites that have the queried kind), every value at once for multi-value ones."""
    variables = grafana_like.variables(dashboard)
    fixed: dict[str, Sequence[str]] = {"datasource": ["hazmon-influxdb"]}
    one_at_a_time: list[str] = []
    for name, variable in variables.items():
        if variable["type"] == "query":
            answer = influxdb.query(db, grafana_like.interpolate(variable["query"], {}))
            options = grafana_like.tag_values(answer)
        elif variable["type"] == "custom":
            options = variable["query"].split(",")
        else:
            continue
        if variable.get("multi"):
            fixed[name] = options
        else:
            kind = KIND_IN_QUERY.search(query)
            one_at_a_time = sites_with_kind(REGISTRY, kind.group(1)) if kind else options
            one_name = name
    if not one_at_a_time:
        return [fixed]
    return [{**fixed, one_name: [value]} for value in one_at_a_time]


def run(influxdb: InfluxDB, db: str, target: grafana_like.Target) -> None:
    dashboard = next(d for d in DASHBOARDS.values() if d["uid"] == target.dashboard)
    contexts = variable_contexts(influxdb, db, dashboard, target.query)
    assert contexts, f"{_id(target)}: no variable values to try"
    for values in contexts:
        text = grafana_like.interpolate(target.query, values)
        answer = influxdb.query(db, text, epoch="ms")
        assert grafana_like.has_data(answer), f"no data for {text}"
        if "site" in values and len(values["site"]) == 1:
            assert_only_site(answer, values["site"][0], text)


def assert_only_site(answer: dict[str, Any], site: str, text: str) -> None:
    for result in answer["results"]:
        for series in result.get("series", []):
            tagged = series.get("tags", {}).get("site")
            assert tagged in (None, site), f"{text} returned {tagged}'s series"
            if "site" in series["columns"]:
                column = series["columns"].index("site")
                assert {row[column] for row in series["values"]} == {site}


def test_the_dashboards_have_queries_to_check() -> None:
    assert set(DASHBOARDS) == {"overview", "site", "alarm-history", "platform-health"}
    assert len(TARGETS) >= 20
    assert len(ANNOTATIONS) == 4


def test_variables_list_what_the_plant_writes(influxdb: InfluxDB, plant_db: str) -> None:
    site = grafana_like.variables(DASHBOARDS["site"])["site"]
    answer = influxdb.query(plant_db, site["query"])
    assert grafana_like.tag_values(answer) == SITE_IDS
    instance = grafana_like.variables(DASHBOARDS["platform-health"])["instance"]
    answer = influxdb.query(plant_db, instance["query"])
    assert grafana_like.tag_values(answer) == sorted(INGEST_INSTANCES)
    priority = grafana_like.variables(DASHBOARDS["alarm-history"])["priority"]
    assert priority["query"].split(",") == [str(p) for p in Priority]


@pytest.mark.parametrize("target", TARGETS, ids=_id)
def test_panel_query_returns_data(
    influxdb: InfluxDB, plant_db: str, target: grafana_like.Target
) -> None:
    run(influxdb, plant_db, target)


@pytest.mark.parametrize("target", ANNOTATIONS, ids=_id)
def test_annotation_query_returns_data(
    influxdb: InfluxDB, plant_db: str, target: grafana_like.Target
) -> None:
    run(influxdb, plant_db, target)


def test_a_site_without_the_kind_gets_no_series(influxdb: InfluxDB, plant_db: str) -> None:
    """The site filter really filters: a site with no oxygen detector shows none."""
    oxygen = next(t for t in TARGETS if "'oxygen'" in t.query)
    without = sorted(set(SITE_IDS) - set(sites_with_kind(REGISTRY, "oxygen")))
    assert without, "the demo plant should have a site without oxygen detectors"
    text = grafana_like.interpolate(oxygen.query, {"site": [without[0]]})
    assert not grafana_like.has_data(influxdb.query(plant_db, text))
