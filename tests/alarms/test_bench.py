"""The hot-path benchmark runs and reports readings/s (docs/development.md §8)."""

from __future__ import annotations

import sys

import pytest

from hazmon.alarms import bench


def test_the_benchmark_prints_readings_per_second(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(sys, "argv", ["bench", "--messages", "40", "--batch", "10"])
    bench.main()
    out = capsys.readouterr().out
    assert out.count("readings/s") == 2
    assert out.startswith("40 messages, ")
