"""`hazmon replay` on an embedded store: the table, the JSON report, and exit 2 on a
bad range, registry or site."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from hazmon.cli import app
from hazmon.contract.wire import Reading
from hazmon.stores.sqlite import SqliteStore

T0 = 1_764_547_200_000  # 2025-12-01T00:00:00Z
PLANT = """
sites:
  - id: s1
    name: Replay site
    industry: hazardous_chemicals
    location: {{lat: 29.0, lon: 119.6}}
    gateways:
      - id: gw1
        period_s: 10
        sensors:
          - {{id: TT-1, kind: temperature, unit: °C, range: [0, 200],
             thresholds: {{high: {high}}}}}
"""


def setup(tmp_path: Path) -> tuple[Path, Path, Path]:
    data = tmp_path / "data"
    store = SqliteStore(data / "hazmon.sqlite")
    values = [50.0, 62.0, 62.0, 50.0] * 6  # six crossings of 60, none of 65
    store.write_readings([Reading("s1", "gw1", "TT-1", "analog", T0 + i * 10_000, v, None,
                                  "good", False, False) for i, v in enumerate(values)])
    store.close()
    current, proposed = tmp_path / "current.yaml", tmp_path / "proposed.yaml"
    current.write_text(PLANT.format(high=60), encoding="utf-8")
    proposed.write_text(PLANT.format(high=65), encoding="utf-8")
    return data, current, proposed


def run(data: Path, current: Path, proposed: Path, *extra: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(app, [
        "replay", "--config", str(proposed), "--against", str(current), "--data", str(data),
        "--from", "2025-12-01T00:00:00Z", "--to", str(T0 + 3_600_000), *extra])
    return result.exit_code, result.stdout, result.stderr


def test_the_report_as_json_and_as_a_table(tmp_path: Path) -> None:
    data, current, proposed = setup(tmp_path)
    code, out, err = run(data, current, proposed, "--json")
    assert code == 0, err
    report = json.loads(out)
    assert (report["from_ms"], report["readings"]) == (T0, 24)
    assert report["current"]["sites"]["s1"]["raised"] == 6
    assert report["proposed"]["sites"]["s1"]["raised"] == 0
    assert report["safety"]["missed"] == 6
    code, out, err = run(data, current, proposed, "--site", "s1")
    assert code == 0, err
    assert "What-if replay 2025-12-01T00:00:00Z .. 2025-12-01T01:00:00Z, site s1" in out
    assert "the proposal misses 6 (0 critical)" in out
    assert "s1/TT-1" in out


def test_bad_ranges_registries_and_sites_exit_2(tmp_path: Path) -> None:
    data, current, proposed = setup(tmp_path)
    code, _, err = run(data, current, proposed, "--to", "2025-11-30")
    assert code == 2 and "the end must come after the start" in err
    code, _, err = run(data, current, proposed, "--to", "yesterday")
    assert code == 2 and "ISO 8601" in err
    code, _, err = run(data, current, proposed, "--site", "s9")
    assert code == 2 and "no site 's9'" in err
    proposed.write_text("sites: [}", encoding="utf-8")
    code, _, err = run(data, current, proposed)
    assert code == 2 and "proposed.yaml" in err
    code, _, err = run(tmp_path / "empty", current, current)
    assert code == 2 and "no embedded store" in err
