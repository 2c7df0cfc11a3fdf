"""The command line's rough edges a newcomer meets first: an HTTP address without a
port, `hazmon bench --help`, flags shown as flags, a missing --config file, and a
journal export without --format."""

from __future__ import annotations

import csv
import io
from pathlib import Path
from typing import Any

import pytest
from typer.main import get_command
from typer.testing import CliRunner

from hazmon.cli import app
from hazmon.cli._addresses import http_address
from tests.alarms.journal_helpers import build

runner = CliRunner()


@pytest.mark.parametrize(
    ("given", "meant"),
    [
        ("localhost", "localhost:8080"),
        ("0.0.0.0", "0.0.0.0:8080"),
        ("localhost:9000", "localhost:9000"),
        (":9000", "127.0.0.1:9000"),
        ("[::1]", "[::1]:8080"),
        ("[::1]:9000", "[::1]:9000"),
    ],
)
def test_an_http_address_may_leave_out_the_port(given: str, meant: str) -> None:
    assert http_address(given, default_port=8080) == meant


@pytest.mark.parametrize("given", ["localhost:http", "host:0", "host:70000", "::1", "[::1"])
def test_a_bad_http_address_is_a_usage_error_naming_the_option(given: str) -> None:
    with pytest.raises(ValueError, match="HOST:PORT"):
        http_address(given, default_port=8080)
    result = runner.invoke(app, ["up", "--config", "plant.yaml", "--http", given])
    assert result.exit_code == 2
    assert "Invalid value for '--http'" in result.output
    assert "invalid literal" not in result.output


def test_bench_help_is_the_commands_own() -> None:
    result = runner.invoke(app, ["bench", "--help"], env={"COLUMNS": "120"})
    assert result.exit_code == 0, result.output
    assert "Usage: hazmon bench [OPTIONS]" in result.output
    for option in ("--seconds", "--burst", "--systems", "--storage-only", "--out"):
        assert option in result.output
    assert "e2e_bench.py" not in result.output
    assert "issue" not in result.output.lower() and "#8" not in result.output


def every_command(group: Any, prefix: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    found = []
    for name, command in group.commands.items():
        if hasattr(command, "commands"):  # a group
            found += every_command(command, (*prefix, name))
        else:
            found.append((*prefix, name))
    return found


def test_no_flag_is_shown_as_taking_a_value() -> None:
    commands = every_command(get_command(app))
    assert ("simulate",) in commands and ("journal", "export") in commands
    for command in commands:
        result = runner.invoke(app, [*command, "--help"], env={"COLUMNS": "200"})
        assert result.exit_code == 0, (command, result.output)
        assert "<bool>" not in result.output, " ".join(command)
    simulate = runner.invoke(app, ["simulate", "--help"], env={"COLUMNS": "200"}).output
    assert "<float range>" in simulate  # options with a value keep their type


def test_a_missing_config_file_is_named_without_a_line(tmp_path: Path) -> None:
    missing = tmp_path / "missing.yaml"
    result = runner.invoke(app, ["up", "--config", str(missing)])
    assert result.exit_code == 2
    assert f"{missing}: expected a readable file (there is no such file)" in result.output
    assert f"{missing}:1" not in result.output


def test_journal_export_is_csv_unless_told(tmp_path: Path) -> None:
    build(tmp_path, 3)
    result = runner.invoke(app, ["journal", "export", "--data", str(tmp_path)])
    assert result.exit_code == 0, result.output
    table = list(csv.reader(io.StringIO(result.stdout)))
    assert table[0][:3] == ["seq", "ts_ms", "alarm_id"] and len(table) == 4
