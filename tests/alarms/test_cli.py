"""`hazmon journal export|verify` and `hazmon kpi` over a data folder."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

from typer.testing import CliRunner

from hazmon.alarms.journal import anchors
from hazmon.alarms.journal.anchors import Anchor
from hazmon.cli import app
from tests.alarms.journal_helpers import T0, build, rows, tamper

runner = CliRunner()


def test_export_jsonl_and_csv(tmp_path: Path) -> None:
    build(tmp_path, 6)
    result = runner.invoke(app, ["journal", "export", "--data", str(tmp_path),
                                 "--format", "jsonl", "--from-ms", str(T0 + 1_000)])
    assert result.exit_code == 0, result.output
    assert [json.loads(line)["seq"] for line in result.stdout.splitlines()] == [2, 3, 4, 5, 6]
    result = runner.invoke(app, ["journal", "export", "--data", str(tmp_path),
                                 "--format", "csv", "--site", "s1"])
    table = list(csv.reader(io.StringIO(result.stdout)))
    assert table[0][:3] == ["seq", "ts_ms", "alarm_id"] and len(table) == 7


def test_verify_exits_0_intact_1_tampered_2_missing(tmp_path: Path) -> None:
    path = build(tmp_path, 8)
    ok = runner.invoke(app, ["journal", "verify", "--data", str(tmp_path)])
    assert ok.exit_code == 0 and json.loads(ok.stdout)["ok"] is True
    tamper(path, "edit", 4)
    bad = runner.invoke(app, ["journal", "verify", "--data", str(tmp_path)])
    assert bad.exit_code == 1 and json.loads(bad.stdout)["first_bad"] == 4
    missing = runner.invoke(app, ["journal", "verify", "--data", str(tmp_path / "none")])
    assert missing.exit_code == 2


def test_verify_uses_the_anchor_file_to_find_a_cut_off_tail(tmp_path: Path) -> None:
    path = build(tmp_path, 8)
    anchors.write_file(tmp_path, Anchor(8, rows(path)[-1]["hash"], T0))
    tamper(path, "delete", 8)  # the last entry: only the anchor can tell
    result = runner.invoke(app, ["journal", "verify", "--data", str(tmp_path)])
    answer = json.loads(result.stdout)
    assert result.exit_code == 1 and answer["first_bad"] == 8
    assert answer["anchor"]["source"].startswith("file ")


def test_kpi_prints_the_figures(tmp_path: Path) -> None:
    build(tmp_path, 6)
    result = runner.invoke(app, ["kpi", "--data", str(tmp_path), "--from-ms", str(T0),
                                 "--to-ms", str(T0 + 3_600_000)])
    assert result.exit_code == 0, result.output
    figures = json.loads(result.stdout)
    assert figures["total"]["raised"] == 3  # odd entries of the sample are raises
    assert set(figures["sites"]) == {"s1"}
