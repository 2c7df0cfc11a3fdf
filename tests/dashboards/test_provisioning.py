"""The committed provisioning folder is what the code draws, and what it draws is right.

Pure tests: no server. The drift test is the one CI relies on to keep
`dashboards/provisioning/` in step with the Python that generates it.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest
import yaml
from grafana_foundation_sdk.cog.encoder import JSONEncoder
from typer.testing import CliRunner

from hazmon.cli import app
from hazmon.cli.dashboards import DEMO_REGISTRY
from hazmon.contract.config import load_registry
from hazmon.dashboards import provisioning
from hazmon.dashboards.influxql import InfluxQLQuery, register
from tests.dashboards import grafana_like

REGISTRY = load_registry(DEMO_REGISTRY)
FILES = provisioning.render(REGISTRY)


def dashboard(stem: str) -> dict[str, Any]:
    document: dict[str, Any] = json.loads(FILES[f"{provisioning.DASHBOARD_FOLDER}/{stem}.json"])
    return document


def panel(stem: str, title: str) -> Mapping[str, Any]:
    return next(p for p in grafana_like.panels(dashboard(stem)) if p.get("title") == title)


def override_steps(found: Mapping[str, Any], series: str) -> list[tuple[float | None, str]]:
    override = next(
        o for o in found["fieldConfig"]["overrides"] if o["matcher"]["options"] == series
    )
    thresholds = next(p for p in override["properties"] if p["id"] == "thresholds")
    return [(step["value"], step["color"]) for step in thresholds["value"]["steps"]]


# -- drift -----------------------------------------------------------------------------


def test_committed_provisioning_is_what_the_code_generates() -> None:
    differing = provisioning.stale(provisioning.PACKAGE_FOLDER, FILES)
    assert differing == [], "run `hazmon dashboards build` and commit dashboards/provisioning"


def test_drift_is_detected(tmp_path: Path) -> None:
    provisioning.write(tmp_path, FILES)
    assert provisioning.stale(tmp_path, FILES) == []
    site = tmp_path / provisioning.DASHBOARD_FOLDER / "site.json"
    site.write_text(site.read_text(encoding="utf-8").replace("20.0", "21.0"), encoding="utf-8")
    (tmp_path / provisioning.DASHBOARD_FOLDER / "old.json").write_text("{}", encoding="utf-8")
    assert provisioning.stale(tmp_path, FILES) == [
        f"{provisioning.DASHBOARD_FOLDER}/old.json",
        f"{provisioning.DASHBOARD_FOLDER}/site.json",
    ]


def test_build_command_writes_and_checks(tmp_path: Path) -> None:
    runner = CliRunner()
    built = runner.invoke(app, ["dashboards", "build", "--out", str(tmp_path)])
    assert built.exit_code == 0, built.output
    assert sorted(str(p.relative_to(tmp_path)) for p in tmp_path.rglob("*.*")) == sorted(FILES)
    assert (
        runner.invoke(app, ["dashboards", "build", "--out", str(tmp_path), "--check"]).exit_code
        == 0
    )
    (tmp_path / "dashboards/hazmon/overview.json").write_text("{}", encoding="utf-8")
    checked = runner.invoke(app, ["dashboards", "build", "--out", str(tmp_path), "--check"])
    assert checked.exit_code == 1
    assert "overview.json" in checked.output


def test_build_reports_a_bad_registry(tmp_path: Path) -> None:
    registry = tmp_path / "plant.yaml"
    registry.write_text("sites: []\n", encoding="utf-8")
    result = CliRunner().invoke(
        app, ["dashboards", "build", "--config", str(registry), "--out", str(tmp_path / "out")]
    )
    assert result.exit_code == 2
    assert "plant.yaml" in result.output
    assert not (tmp_path / "out").exists()


# -- provisioning files ------------------------------------------------------------------


def test_datasource_is_influxql_from_the_environment() -> None:
    document = yaml.safe_load(FILES["datasources/hazmon-influxdb.yaml"])
    (source,) = document["datasources"]
    assert source["uid"] == "hazmon-influxdb"
    assert source["type"] == "influxdb"
    assert source["jsonData"]["version"] == "InfluxQL"
    assert source["url"] == "${HAZMON_GRAFANA_INFLUX_URL}"
    assert source["secureJsonData"]["password"] == "${HAZMON_GRAFANA_INFLUX_PASSWORD}"


def test_provider_points_at_the_dashboards_in_the_container() -> None:
    document = yaml.safe_load(FILES["dashboards/hazmon.yaml"])
    (provider,) = document["providers"]
    assert provider["folderUid"] == "hazmon"
    assert provider["options"]["path"] == "/etc/grafana/provisioning/dashboards/hazmon"
    assert provider["allowUiUpdates"] is False


# -- the dashboards -------------------------------------------------------------------


@pytest.mark.parametrize("stem", ["overview", "site", "alarm-history", "platform-health"])
def test_every_query_is_raw_influxql_on_the_datasource_variable(stem: str) -> None:
    document = dashboard(stem)
    assert document["uid"].startswith("hazmon-")
    assert grafana_like.variables(document)["datasource"]["query"] == "influxdb"
    for found in grafana_like.panels(document):
        if found["type"] == "row":
            continue
        assert found["targets"], f"{found['title']} has no query"
        ref_ids = [t["refId"] for t in found["targets"]]
        assert len(ref_ids) == len(set(ref_ids))
        for target in found["targets"]:
            assert target["rawQuery"] is True
            assert target["resultFormat"] in ("time_series", "table")
            assert target["datasource"] == {"type": "influxdb", "uid": "${datasource}"}
            assert target["query"].startswith("SELECT ")


@pytest.mark.parametrize("stem", ["overview", "site", "alarm-history", "platform-health"])
def test_panels_tile_the_grid_without_overlap(stem: str) -> None:
    cells: set[tuple[int, int]] = set()
    ids = []
    for found in dashboard(stem)["panels"]:
        pos = found["gridPos"]
        assert pos["x"] + pos["w"] <= 24
        mine = {
            (x, y)
            for x in range(pos["x"], pos["x"] + pos["w"])
            for y in range(pos["y"], pos["y"] + pos["h"])
        }
        assert not cells & mine, f"{found['title']} overlaps another panel"
        cells |= mine
        ids.append(found["id"])
    assert len(ids) == len(set(ids))


def test_overview_maps_sites_by_risk_grade() -> None:
    found = panel("overview", "Sites by risk grade")
    assert found["type"] == "geomap"
    assert 'FROM "site_risk"' in found["targets"][0]["query"]
    (layer,) = found["options"]["layers"]
    assert layer["location"] == {"mode": "coords", "latitude": "lat", "longitude": "lon"}
    assert layer["config"]["style"]["color"]["field"] == "level"
    steps = found["fieldConfig"]["defaults"]["thresholds"]["steps"]
    assert [(s["value"], s["color"]) for s in steps] == [
        (None, "blue"), (1.0, "yellow"), (2.0, "orange"), (3.0, "red"),
    ]  # fmt: skip


def test_overview_counts_alarms_gateways_and_lost_messages() -> None:
    alarms = panel("overview", "Active alarms by priority")
    assert "\"state\" != 'normal'" in alarms["targets"][0]["query"]
    gateways = panel("overview", "Gateways online")
    assert {t["refId"] for t in gateways["targets"]} == {"online", "known"}
    lost = panel("overview", "Lost messages per interval")
    assert '"lost_messages"' in lost["targets"][0]["query"]


def test_gas_thresholds_come_from_the_registry() -> None:
    gas = panel("site", "Combustible gas")
    # GT-101: the plant's own 20/40 %LEL; GT-109: the GB/T 50493 defaults 25/50 %LEL.
    assert override_steps(gas, "jh-chem-01/GT-101") == [
        (None, "green"),
        (20.0, "orange"),
        (40.0, "red"),
    ]
    assert override_steps(gas, "jh-chem-01/GT-109") == [
        (None, "green"),
        (25.0, "orange"),
        (50.0, "red"),
    ]
    oxygen = panel("site", "Oxygen")
    series = next(o["matcher"]["options"] for o in oxygen["fieldConfig"]["overrides"])
    # deficiency below 19.5 %VOL is critical (red), enrichment from 23.5 %VOL high (orange)
    assert override_steps(oxygen, series) == [(None, "red"), (19.5, "green"), (23.5, "orange")]


def test_every_sensor_of_a_trended_kind_has_its_thresholds_and_unit() -> None:
    document = dashboard("site")
    for site, _, sensor in REGISTRY.sensors():
        if sensor.kind.value == "interlock":
            continue
        series = f"{site.id}/{sensor.id}"
        owners = [
            p
            for p in grafana_like.panels(document)
            if series in _override_names(p) and f"'{sensor.kind.value}'" in p["targets"][0]["query"]
        ]
        assert len(owners) == 1, series
        steps = override_steps(owners[0], series)
        assert [v for v, _ in steps[1:]] == sorted(v for _, v in sensor.thresholds.items())


def _override_names(found: Mapping[str, Any]) -> set[str]:
    overrides = found.get("fieldConfig", {}).get("overrides", [])
    return {o["matcher"]["options"] for o in overrides}


def test_site_dashboard_has_a_site_variable_and_interlock_timeline() -> None:
    document = dashboard("site")
    site = grafana_like.variables(document)["site"]
    assert site["type"] == "query"
    assert site["query"] == 'SHOW TAG VALUES FROM "reading" WITH KEY = "site"'
    interlocks = panel("site", "Interlocks")
    assert interlocks["type"] == "state-timeline"
    mapping = interlocks["fieldConfig"]["defaults"]["mappings"][0]["options"]
    assert mapping["tripped"]["color"] == "red"
    assert mapping["normal"]["color"] == "green"


def test_alarm_history_has_the_event_table_and_annotations() -> None:
    document = dashboard("alarm-history")
    table = panel("alarm-history", "Alarm events")
    assert table["type"] == "table"
    assert table["targets"][0]["resultFormat"] == "table"
    assert 'FROM "alarm_event"' in table["targets"][0]["query"]
    names = [a["name"] for a in document["annotations"]["list"]]
    assert names == ["Raised", "Acknowledged, reset or shelved"]
    for annotation in document["annotations"]["list"]:
        assert annotation["target"]["query"] == annotation["query"]
        assert annotation["target"]["textColumn"] == "alarm_id"


def test_platform_health_reads_ingest_stats() -> None:
    queries = " ".join(t.query for t in grafana_like.targets(dashboard("platform-health")))
    for field in ("readings_in", "rejected", "spool_depth", "write_latency_ms"):
        assert f'"{field}"' in queries
    assert '"reason"' in queries


def test_influxql_targets_read_back_through_the_sdk() -> None:
    register()
    from grafana_foundation_sdk.cog.runtime import dataquery_from_json

    target = panel("site", "Combustible gas")["targets"][0]
    parsed = dataquery_from_json(target, "")
    assert isinstance(parsed, InfluxQLQuery)
    assert json.loads(json.dumps(parsed, cls=JSONEncoder)) == target
