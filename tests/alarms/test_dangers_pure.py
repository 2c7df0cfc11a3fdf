"""The pure parts of hidden dangers (alarms/dangers: model, rules, ledger): the loop's
table over every (state, action), the fold of journal entries, overdue and the grade
floor, each automatic rule on a plant state, the quarter and the ledger's CSV."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import pytest

from hazmon.alarms.core import Engine
from hazmon.alarms.core.model import Permit
from hazmon.alarms.dangers import ledger, model, rules
from hazmon.contract.config import load_registry
from hazmon.contract.dangers import DangerRules

pytestmark = pytest.mark.unit

DEMO = Path(__file__).parents[2] / "hazmon" / "demo" / "plant.yaml"
H = 3_600_000
REGISTRY = load_registry(DEMO)


def record(state: str, **more: object) -> model.Doc:
    return {"id": "HD-s-0001", "site": "s", "state": state, "grade": "major", **more}


@pytest.mark.parametrize("state", model.STATES)
@pytest.mark.parametrize("action", sorted(model.ACTIONS))
def test_every_state_and_action_is_the_tables(state: str, action: str) -> None:
    rule = model.ACTIONS[action]
    if state in rule.allowed:
        to = model.step(record(state), action)
        assert to == (state if rule.to is None or (action == "cause_ended"
                                                   and state == "submitted") else rule.to)
    else:
        with pytest.raises(model.IllegalDangerAction):
            model.step(record(state), action)


def test_the_loop_reaches_closed_only_through_the_bureaus_acceptance() -> None:
    into_closed = [a for a in model.ACTIONS.values() if a.to == "closed"]
    assert [(a.name, a.by) for a in into_closed] == [("accept", "bureau")]


def test_a_record_is_the_fold_of_its_entries() -> None:
    entries = [
        {"value": json.dumps({"id": "HD-s-0001", "site": "s", "grade": "major"}),
         "to_state": "open", "ts_ms": 1},
        {"value": json.dumps({"deadline_ms": 100}), "to_state": "rectifying", "ts_ms": 2},
        {"value": json.dumps({"evidence": {"kind": "text", "text": "a"}}),
         "to_state": "rectifying", "ts_ms": 3},
        {"value": json.dumps({"evidence": {"kind": "text", "text": "b"}}),
         "to_state": "submitted", "ts_ms": 4},
    ]
    doc = None
    for entry in entries:
        doc = model.fold(doc, entry)
    assert doc is not None
    assert (doc["state"], doc["deadline_ms"], doc["updated_ms"]) == ("submitted", 100, 4)
    assert [e["text"] for e in doc["evidence"]] == ["a", "b"]


def test_overdue_and_the_grade_floor() -> None:
    late = record("rectifying", deadline_ms=100)
    assert model.overdue(late, 101) and not model.overdue(late, 100)
    assert not model.overdue(record("submitted", deadline_ms=100), 200)  # the bureau's turn
    general = {**late, "id": "HD-s-0002", "grade": "general"}
    assert model.site_floor([general], 200) == {}
    assert model.site_floor([late, general], 50) == {"s": 2}  # open major: orange
    assert model.site_floor([late], 200) == {"s": 3}  # overdue major: red
    assert model.site_floor([record("closed", deadline_ms=100)], 200) == {}


def _plant_with(now_ms: int) -> Engine:
    engine = Engine(REGISTRY)
    engine.start(0)
    return engine


def test_a_gateway_offline_is_a_finding_only_after_the_threshold() -> None:
    engine = _plant_with(0)
    plant = engine.plant
    point = plant.points["jh-chem-01/gw-tankfarm/offline"]
    point.active = True
    from hazmon.alarms.core.model import Occurrence

    point.occ = Occurrence("jh-chem-01/gw-tankfarm/offline#1", 0, {})
    config = DangerRules()
    assert rules.findings(plant, config, [], 8 * H - 1) == {}
    found = rules.findings(plant, config, [], 8 * H)
    [finding] = found.values()
    assert (finding.cause, finding.grade, finding.links) == (
        "gateway_offline:jh-chem-01/gw-tankfarm", "general",
        ("jh-chem-01/gw-tankfarm/offline#1",))


def test_a_bypass_is_a_finding_once_its_permit_is_past() -> None:
    from hazmon.alarms.core.model import Occurrence

    engine = _plant_with(0)
    plant = engine.plant
    point = plant.points["jh-chem-01/ESD-01/bypass"]
    point.active, point.occ = True, Occurrence("jh-chem-01/ESD-01/bypass#1", 0, {})
    plant.sensors["jh-chem-01/ESD-01"].permit = Permit(10 * H, "proof test", "a", "b", "c", 0)
    config = DangerRules()
    assert rules.findings(plant, config, [], 10 * H - 1) == {}
    [finding] = rules.findings(plant, config, [], 10 * H).values()
    assert (finding.rule, finding.grade) == ("bypass_past_permit", "major")


def test_three_level_2_raises_within_seven_days_are_a_finding() -> None:
    plant = _plant_with(0).plant
    day = 24 * H
    key = "jh-chem-01/GT-101/high_high"
    raises = [(key, t * day, f"{key}#{t}") for t in (0, 3, 6)]
    config = DangerRules()
    assert rules.findings(plant, config, raises[:2], 6 * day) == {}
    [finding] = rules.findings(plant, config, raises, 6 * day).values()
    assert finding.cause == "repeat_high_high:jh-chem-01/GT-101"
    assert rules.findings(plant, config, raises, 7 * day + 1) == {}  # the first fell out


def test_the_quarter_and_the_ledger_csv() -> None:
    start, end = ledger.quarter("2026q4")
    assert ledger.when(start) == "2026-10-01 00:00" and ledger.when(end) == "2027-01-01 00:00"
    with pytest.raises(ledger.BadPeriod):
        ledger.quarter("2026Q5")
    doc = record("closed", description="+1 逗号, \"引号\"", found_ms=start, source="hazmon",
                 evidence=[{}], links=["a#1", "b#2"])
    text = ledger.to_csv([doc], bom=True)
    rows = list(csv.reader(io.StringIO(text.removeprefix("\ufeff"))))
    assert rows[0] == list(ledger.HEADERS)
    row = dict(zip(rows[0], rows[1], strict=True))
    assert row["隐患描述"] == "'+1 逗号, \"引号\""
    assert (row["来源"], row["状态"], row["关联报警/记录"], row["整改证据（条）"]) == (
        "在线监测发现", "已验收销号", "a#1 b#2", "1")
