"""`hazmon bench` hands its options to benchmarks/e2e_bench.py as the script reads them:
the command's defaults are the script's, and every option arrives as given."""

from __future__ import annotations

import subprocess

import pytest
from typer.testing import CliRunner

from benchmarks.e2e_bench import parse_args
from hazmon.cli import app, bench

runner = CliRunner()


def test_bench_passes_its_options_on_as_the_script_reads_them(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    seen: list[list[str]] = []

    def run(argv: list[str], check: bool) -> subprocess.CompletedProcess[bytes]:
        seen.append(argv[2:])
        return subprocess.CompletedProcess(argv, 0)

    monkeypatch.setattr(bench.subprocess, "run", run)
    assert runner.invoke(app, ["bench"]).exit_code == 0
    assert runner.invoke(app, ["bench", "--per-message", "50", "--systems", "hazmon",
                               "--storage-only", "--out", "/tmp/x"]).exit_code == 0
    defaults, chosen = (parse_args(argv) for argv in seen)
    assert (defaults.per_message, defaults.systems, defaults.storage_only) == (
        (50, 1), ("hazmon", "node-red"), False)
    assert defaults.seconds == parse_args([]).seconds
    assert (chosen.per_message, chosen.systems, chosen.storage_only, str(chosen.out)) == (
        (50,), ("hazmon",), True, "/tmp/x")
    assert (defaults.alarm_workers, defaults.partitions) == (
        parse_args([]).alarm_workers, parse_args([]).partitions)
    assert runner.invoke(app, ["bench", "--systems", "hazmon-jetstream", "--alarm-workers", "1",
                               "--alarm-workers", "3", "--partitions", "8"]).exit_code == 0
    jetstream = parse_args(seen[-1])
    assert (jetstream.systems, jetstream.alarm_workers, jetstream.partitions) == (
        ("hazmon-jetstream",), (1, 3), 8)
    assert runner.invoke(app, ["bench", "--systems", "kafka"]).exit_code != 0
    assert (parse_args([]).keep_stores, parse_args(["--keep-stores"]).keep_stores) == (
        False, True)
