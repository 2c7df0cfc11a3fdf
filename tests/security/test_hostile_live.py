"""Hostile payloads against a live `hazmon up` on a real Mosquitto with the generated
ACLs (benchmarks/hostile_run.py, shortened, run as the script it is): it keeps serving,
keeps processing, and its memory levels off. One run, shared by the tests of this
module (~40 s).
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace

import pytest

from hazmon.testing.processes import Child

pytestmark = [pytest.mark.integration, pytest.mark.slow]

SCRIPT = Path(__file__).parents[2] / "benchmarks" / "hostile_run.py"
Figures = SimpleNamespace  # the run's figures and phases, read from its JSON


@pytest.fixture(scope="module")
def figures(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Figures]:
    """The figures the run prints as JSON (--json), after its own lines."""
    log = tmp_path_factory.mktemp("hostile") / "hostile_run.log"
    run = Child([sys.executable, str(SCRIPT), "--scale", "0.5", "--flood-s", "6", "--json"],
                log=log, name="hostile run").start()  # fmt: skip
    assert run.wait(timeout_s=600) == 0, run.log_tail()
    lines = run.output().splitlines()
    printed, doc = lines[: lines.index("{")], json.loads("\n".join(lines[lines.index("{") :]))
    print("\n".join(printed))  # shown with -rP / on failure
    yield Figures(**doc | {"phases": [Figures(**p) for p in doc["phases"]]})


def phase(figures: Figures, name: str) -> dict[str, object]:
    found = [p for p in figures.phases if p.name == name]
    assert found, name
    p = found[0]
    return {"health_ms": p.health_ms, "rss_mb": p.rss_mb, "notes": " ".join(p.notes),
            "messages": p.messages}  # fmt: skip


def test_it_keeps_serving_and_processing(figures: Figures) -> None:
    assert figures.alive
    assert [p.name for p in figures.phases] == [
        "oversize", "deep nesting", "unknown sensors", "flood", "flood again", "API abuse",
    ]  # fmt: skip
    for p in figures.phases:
        assert p.health_ms < 2000, p  # /health answered, and promptly, after every phase
    assert figures.last_reading_seen  # a plain reading after all that reached the API
    # seq gaps: only the messages whose seq hazmon could not read (over 1 MiB, cut by the
    # broker, or nested deeper than any JSON parser's limit) may count as lost; the floods,
    # the unknown sensors and the readable hostile batches lose nothing
    oversize = int(str(phase(figures, "oversize")["messages"]))
    nesting = int(str(phase(figures, "deep nesting")["messages"]))
    unreadable = oversize + nesting // 2  # two of the four nesting shapes are not JSON
    assert figures.metrics.get("hazmon_ingest_lost_messages", 0) <= unreadable


def test_rejections_are_counted_and_dead_letters_bounded(figures: Figures) -> None:
    unknown = 50_000  # scale 0.5: 10 messages of 5000 unknown sensors
    assert figures.metrics["hazmon_ingest_rejected"] >= unknown
    assert figures.metrics["hazmon_ingest_dead_letters"] >= unknown


def test_memory_levels_off(figures: Figures) -> None:
    first, again = (p.rss_mb for p in figures.phases if p.name.startswith("flood"))
    assert figures.rss_peak_mb < figures.rss_start_mb + 250
    assert again < first * 1.15 + 10, (first, again)  # a second flood adds (almost) nothing


def test_the_api_refuses_abuse(figures: Figures) -> None:
    notes = str(phase(figures, "API abuse")["notes"])
    assert "10 MiB body: 413" in notes
    assert "40 KB nested body: 400" in notes or "40 KB nested body: 422" in notes
    assert "11 bad tokens: 10x401 at once, 1x401 held 6 s" in notes  # slowed, not locked
    assert "then a valid token: 200 in 0." in notes  # the operator's token works at once


def test_nothing_hostile_makes_it_log_an_error(figures: Figures) -> None:
    assert figures.log_errors == []
