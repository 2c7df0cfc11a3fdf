"""The gateway's YAML: every problem with file, line and field path."""

from __future__ import annotations

from pathlib import Path

import pytest

from hazmon.contract.errors import ConfigError
from hazmon.contract.gateway_config import load_gateway_config, parse_gateway_config

GOOD = """\
site: jh-chem-01
gateway: gw-tankfarm
period_s: 0.5
devices:
  - {id: panel, host: 127.0.0.1, port: 5020}
points:
  - {sensor: GT-101, device: panel, address: 0, type: uint16, scale: 0.1}
  - {sensor: ESD-01, device: panel, address: 5, codes: {0: normal, 1: tripped}}
"""


def test_good_config_with_defaults() -> None:
    cfg = parse_gateway_config(GOOD)
    assert cfg.period_s == 0.5
    assert cfg.devices[0].timeout_s == 1.0 and cfg.devices[0].unit_id == 1
    assert cfg.points[1].codes == {0: "normal", 1: "tripped"}
    assert cfg.buffer.max_messages == 500_000


def test_every_problem_with_line_and_path() -> None:
    text = """\
site: jh chem
gateway: gw-1
devices:
  - {id: panel, host: 127.0.0.1}
  - {id: panel, host: 127.0.0.2, port: 70000}
points:
  - {sensor: GT-101, device: nowhere, address: 0}
  - sensor: ESD-01
    device: panel
    address: 1
    codes: {0: normal, 1: exploded}
  - {sensor: GT-101, device: panel, address: 2, scale: 0, colour: red}
"""
    with pytest.raises(ConfigError) as info:
        parse_gateway_config(text, file="gw.yaml")
    found = {(p.line, p.path) for p in info.value.problems}
    assert (1, "site") in found
    assert (5, "devices[1].id") in found  # duplicate
    assert (5, "devices[1].port") in found
    assert (7, "points[0].device") in found
    assert (11, "points[1].codes[1]") in found
    assert (12, "points[2].scale") in found
    assert (12, "points[2].colour") in found
    assert (12, "points[2].sensor") in found  # read twice
    assert all(p.file == "gw.yaml" for p in info.value.problems)


def test_missing_file_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as info:
        load_gateway_config(tmp_path / "nope.yaml")
    assert "readable file" in str(info.value)


def test_example_config_is_valid() -> None:
    cfg = load_gateway_config(Path(__file__).parents[2] / "examples" / "gateway.yaml")
    assert cfg.points
