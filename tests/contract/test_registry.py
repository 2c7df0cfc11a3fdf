"""The site registry: defaults of docs/alarms.md and every error with file, line and path."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from hazmon.contract.config import load_registry, parse_registry
from hazmon.contract.errors import ConfigError, Problem
from hazmon.contract.kinds import Condition, Kind, Priority, mg_m3_to_ppm, ppm_to_mg_m3

DEMO = Path(__file__).parents[2] / "hazmon" / "demo" / "plant.yaml"

HEAD = """\
sites:
  - id: jh-chem-01
    name: 金华某化工有限公司
    industry: hazardous_chemicals
    location: {lat: 29.079, lon: 119.647}
    gateways:
      - id: gw-1
        period_s: 2
        sensors:
"""


def registry_with(sensors: str, tail: str = "") -> str:
    return HEAD + textwrap.indent(textwrap.dedent(sensors), " " * 10) + textwrap.dedent(tail)


def problems_of(text: str) -> list[Problem]:
    with pytest.raises(ConfigError) as info:
        parse_registry(text, file="plant.yaml")
    return info.value.problems


def only_problem(text: str) -> Problem:
    problems = problems_of(text)
    assert len(problems) == 1, problems
    return problems[0]


def sensor_of(text: str, index: int = 0):  # type: ignore[no-untyped-def]
    return parse_registry(text).sites[0].gateways[0].sensors[index]


def test_demo_plant_is_valid_and_large_enough() -> None:
    registry = load_registry(DEMO)
    assert len(registry.sites) >= 3
    assert len(registry.sensors()) >= 120
    industries = {s.industry for s in registry.sites}
    assert {"hazardous_chemicals", "industry_trade"} <= industries
    for site in registry.sites:
        assert 27.0 < site.location.lat < 31.5 and 118.0 < site.location.lon < 123.0  # Zhejiang


def test_combustible_defaults_are_gbt_50493_levels() -> None:
    sensor = sensor_of(registry_with("- {id: GT-1, kind: combustible_gas}\n"))
    assert sensor.unit == "%LEL" and sensor.range == (0.0, 100.0)
    assert (sensor.thresholds.high, sensor.thresholds.high_high) == (25.0, 50.0)
    assert sensor.priority(Condition.high) is Priority.high
    assert sensor.priority(Condition.high_high) is Priority.critical
    assert sensor.latches(Condition.high_high) and not sensor.latches(Condition.high)
    assert sensor.stale_after_s == 10.0  # max(3 x 2 s, 10 s)


@pytest.mark.parametrize(
    ("gas", "unit", "high", "high_high"),
    [
        ("H2S", "mg/m³", 10.0, 20.0),
        ("CO", "mg/m3", 20.0, 40.0),
        ("chlorine", "mg/m³", 1.0, 2.0),
        ("NH3", "mg/m³", 20.0, 40.0),
        # ppm = mg/m³ x 24.45 / M: NH3 20 mg/m³ -> 28.714 ppm; H2S 10 mg/m³ -> 7.174 ppm
        ("NH3", "ppm", 28.714, 57.428),
        ("H2S", "ppm", 7.174, 14.349),
    ],
)
def test_toxic_defaults_from_the_oel_table(
    gas: str, unit: str, high: float, high_high: float
) -> None:
    text = registry_with(f"- {{id: AT-1, kind: toxic_gas, gas: {gas}, unit: '{unit}', "
                         "range: [0, 500]}\n")
    sensor = sensor_of(text)
    assert sensor.thresholds.high == pytest.approx(high, abs=1e-3)
    assert sensor.thresholds.high_high == pytest.approx(high_high, abs=1e-3)


def test_idlh_basis_uses_five_and_ten_percent_of_idlh() -> None:
    text = registry_with(
        "- {id: AT-1, kind: toxic_gas, gas: H2S, threshold_basis: idlh, range: [0, 100]}\n"
    )
    sensor = sensor_of(text)
    assert (sensor.thresholds.high, sensor.thresholds.high_high) == (21.5, 43.0)


def test_ppm_conversion_round_trips() -> None:
    assert mg_m3_to_ppm(1.0, 24.45) == pytest.approx(1.0)
    assert ppm_to_mg_m3(mg_m3_to_ppm(17.3, 70.90), 70.90) == pytest.approx(17.3)


def test_cable_temperature_defaults_by_insulation() -> None:
    text = registry_with(
        """\
        - {id: CT-1, kind: cable_temperature}
        - {id: CT-2, kind: cable_temperature, insulation: xlpe, unit: degC}
        """
    )
    pvc, xlpe = sensor_of(text, 0), sensor_of(text, 1)
    assert (pvc.thresholds.high, pvc.thresholds.high_high) == (60.0, 70.0)
    assert (xlpe.thresholds.high, xlpe.thresholds.high_high) == (80.0, 90.0)
    assert xlpe.unit == "°C"


def test_oxygen_and_residual_current_and_interlock_defaults() -> None:
    text = registry_with(
        """\
        - {id: O2-1, kind: oxygen}
        - {id: RC-1, kind: residual_current}
        - {id: ESD-1, kind: interlock, grade: B}
        """
    )
    oxygen, rc, esd = (sensor_of(text, i) for i in range(3))
    assert (oxygen.thresholds.low, oxygen.thresholds.high) == (19.5, 23.5)
    assert oxygen.priority(Condition.low) is Priority.critical and oxygen.latches(Condition.low)
    assert rc.thresholds.high == 300.0
    assert esd.kind is Kind.interlock
    assert esd.priority(Condition.trip) is Priority.critical and esd.latches(Condition.trip)
    assert esd.priority(Condition.bypass) is Priority.high
    assert esd.priority(Condition.fault) is Priority.medium


def test_thresholds_out_of_order_names_line_and_path() -> None:
    text = registry_with(
        """\
        - id: GT-1
          kind: combustible_gas
          thresholds: {high: 20, high_high: 10}
        """
    )
    problem = only_problem(text)
    assert problem.file == "plant.yaml"
    assert problem.line == 12
    assert problem.path == "sites[0].gateways[0].sensors[0].thresholds.high_high"
    assert "order" in problem.expected


def test_threshold_above_the_standards_ceiling() -> None:
    text = registry_with("- {id: GT-1, kind: combustible_gas, thresholds: {high_high: 60}}\n")
    problem = only_problem(text)
    assert problem.path.endswith("thresholds.high_high")
    assert "at most 50" in problem.expected


def test_default_threshold_outside_the_range_points_at_the_range() -> None:
    text = registry_with("- {id: AT-1, kind: toxic_gas, gas: NH3, range: [0, 30]}\n")
    problem = only_problem(text)
    assert problem.path == "sites[0].gateways[0].sensors[0].range"
    assert "high_high = 40" in problem.expected


def test_unknown_kind_unit_and_bad_id() -> None:
    text = registry_with(
        """\
        - {id: X-1, kind: plasma}
        - {id: X-2, kind: oxygen, unit: furlongs}
        - {id: "X 3", kind: oxygen}
        - {id: X-4, kind: residual_current, unit: "%LEL"}
        """
    )
    problems = problems_of(text)
    paths = [p.path for p in problems]
    assert paths == [
        "sites[0].gateways[0].sensors[0].kind",
        "sites[0].gateways[0].sensors[1].unit",
        "sites[0].gateways[0].sensors[2].id",
        "sites[0].gateways[0].sensors[3].unit",
    ]
    assert [p.line for p in problems] == [10, 11, 12, 13]


def test_duplicate_sensor_ids_within_a_site() -> None:
    text = registry_with(
        """\
        - {id: GT-1, kind: combustible_gas}
        - {id: GT-1, kind: oxygen}
        """
    )
    problem = only_problem(text)
    assert problem.path == "sites[0].gateways[0].sensors[1].id" and "unique" in problem.expected


def test_unknown_toxic_gas_needs_thresholds_but_may_have_its_own() -> None:
    missing = registry_with("- {id: AT-1, kind: toxic_gas, gas: phosgene, range: [0, 10]}\n")
    assert "phosgene" in only_problem(missing).expected
    given = registry_with(
        "- {id: AT-1, kind: toxic_gas, gas: phosgene, unit: ppm, range: [0, 10],"
        " thresholds: {high: 0.1, high_high: 0.2}}\n"
    )
    assert sensor_of(given).thresholds.high == 0.1


def test_configured_kinds_need_thresholds_and_a_range() -> None:
    problems = problems_of(registry_with("- {id: PT-1, kind: pressure, unit: MPa}\n"))
    assert {p.path.rsplit(".", 1)[-1] for p in problems} == {"range", "thresholds"}


def test_gas_on_delay_over_30_s_is_an_error() -> None:
    text = registry_with("- {id: GT-1, kind: combustible_gas, on_delay_s: 45}\n")
    assert only_problem(text).path.endswith("on_delay_s")


def test_escalation_naming_an_unknown_notifier() -> None:
    text = registry_with(
        "- {id: GT-1, kind: combustible_gas}\n",
        """\
        escalation:
          critical:
            - {after_s: 0, notify: [duty-officer]}
            - {after_s: 300, notify: [nobody]}
        notifiers:
          duty-officer: {log: true}
        """,
    )
    problem = only_problem(text)
    assert problem.path == "escalation.critical[1].notify[0]"
    assert problem.line == 14


def test_missing_key_names_the_line_of_its_mapping() -> None:
    text = registry_with("- {id: ESD-1, kind: interlock}\n")
    problem = only_problem(text)
    assert problem.path.endswith("grade") and problem.line == 10


def test_every_error_of_a_file_is_reported_at_once() -> None:
    text = registry_with(
        """\
        - {id: GT-1, kind: combustible_gas, thresholds: {high: 30}}
        - {id: GT-1, kind: nope}
        - {id: "#bad", kind: oxygen}
        - {id: CT-1, kind: cable_temperature, range: [0, 65]}
        """
    )
    assert len(problems_of(text)) >= 5


def test_yaml_syntax_error_has_a_line() -> None:
    problem = only_problem(HEAD + "          - {id: [unclosed\n")
    assert problem.line >= 10 and "YAML" in problem.expected


def test_check_config_command_exits_2_and_lists_every_problem(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text(
        registry_with(
            """\
            - {id: GT-1, kind: combustible_gas, thresholds: {high: 30}}
            - {id: GT-1, kind: oxygen}
            """
        ),
        encoding="utf-8",
    )
    cmd = [sys.executable, "-m", "hazmon.cli", "check-config"]
    result = subprocess.run([*cmd, str(bad)], capture_output=True, text=True, check=False)
    assert result.returncode == 2
    lines = [line for line in result.stderr.splitlines() if line.startswith(str(bad))]
    assert len(lines) == 2
    assert f"{bad}:10: sites[0].gateways[0].sensors[0].thresholds.high" in lines[0]
    good = subprocess.run([*cmd, str(DEMO)], capture_output=True, text=True, check=False)
    assert good.returncode == 0 and "ok" in good.stdout


def test_lines_are_counted_as_an_editor_does() -> None:
    """A lone CR, NEL or LS is a YAML line break but no line of the file's `grep -n`."""
    text = "sites: [1]\r  bad: x\n"
    problem = only_problem(text)
    assert problem.line == 1
