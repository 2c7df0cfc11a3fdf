"""The hot-path benchmark runs and reports readings/s (docs/development.md §8)."""

from __future__ import annotations

import sys

import pytest

from hazmon.alarms import bench


def test_the_benchmark_prints_readings_per_second(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(sys, "argv", ["bench", "--messages", "40", "--batch", "10",
                                      "--repeat", "1"])
    bench.main()
    out = capsys.readouterr().out
    assert out.count("readings/s") == 4  # engine and desk, for each mix
    assert out.startswith("wide: 40 messages, ") and "\nplant: 40 messages, " in out


def test_the_plant_mix_stays_inside_each_sensors_quiet_band_but_for_the_crossings() -> None:
    from importlib import resources

    import orjson

    from hazmon.alarms.core.plant import quiet_band
    from hazmon.contract.config import load_registry

    with resources.as_file(resources.files("hazmon") / "demo" / "plant.yaml") as path:
        registry = load_registry(path)
    configs = {(s.id, sen.id): sen for s, _, sen in registry.sensors()}
    inside = outside = 0
    for topic, payload in bench._messages(registry, 200, 0, seed=1, mix="plant"):
        site = topic.split("/")[2]
        for r in orjson.loads(payload)["readings"]:
            band = quiet_band(configs[(site, r["sensor"])])
            if band is not None:
                if band.holds(r["value"]):
                    inside += 1
                else:
                    outside += 1
    assert 0.01 < outside / (inside + outside) < 0.03  # the 2 % of crossings
