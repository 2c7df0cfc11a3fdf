"""The registry's cause-and-effect matrix and rationalization record (docs/registry.md):
what `hazmon check-config` refuses, each with the row or sensor named."""

from __future__ import annotations

import textwrap

import pytest

from hazmon.contract.config import parse_registry
from hazmon.contract.errors import ConfigError
from hazmon.contract.kinds import Condition

pytestmark = pytest.mark.unit

SITE = """\
sites:
  - id: s1
    name: Site
    industry: hazardous_chemicals
    location: {lat: 29, lon: 119}
@EXTRA@    gateways:
      - id: gw
        sensors:
          - {id: GT-101, kind: combustible_gas}
          - {id: GT-102, kind: combustible_gas}
          - {id: GT-103, kind: combustible_gas}
          - {id: TT-1, kind: temperature, unit: "°C", range: [0, 100], thresholds: {high: 50}}
          - {id: ESD-01, kind: interlock, grade: A}
"""
GOOD_ROW = """\
cause_effect:
  - id: CE-01
    description: gas level 2 trips the tank farm ESD
    cause: {sensors: [GT-101, GT-102, GT-103], condition: high_high, vote: 2oo3}
    effect: {interlock: ESD-01, state: tripped}
    within_s: 5
"""


def site(extra: str) -> str:
    return SITE.replace("@EXTRA@", textwrap.indent(textwrap.dedent(extra), "    "))


def problems(text: str) -> list[str]:
    with pytest.raises(ConfigError) as info:
        parse_registry(text, file="plant.yaml")
    return [f"{p.path}: {p.expected}" for p in info.value.problems]


def test_a_good_row_is_read_with_its_vote_and_default() -> None:
    rows = parse_registry(site(GOOD_ROW)).sites[0].cause_effect
    assert rows[0].cause.needed == 2 and rows[0].within_s == 5
    one = parse_registry(site(GOOD_ROW.replace(", vote: 2oo3", ""))).sites[0].cause_effect[0]
    assert one.cause.needed == 1 and one.cause.condition is Condition.high_high


@pytest.mark.parametrize(("change", "expected"), [
    (("GT-103]", "GT-999]"),
     "sites[0].cause_effect[0].cause.sensors[2]: a sensor of the site (row 'CE-01'); "
     "got 'GT-999'"),
    (("GT-103]", "TT-1]"),
     "sites[0].cause_effect[0].cause.condition: a condition every cause sensor has "
     "(row 'CE-01'): TT-1 has high, not high_high"),
    (("2oo3", "4oo3"), "sites[0].cause_effect[0].cause.vote: M ≤ N in 4oo3 (row 'CE-01'); "
     "4 of 3 cannot vote"),
    (("2oo3", "2oo2"), "sites[0].cause_effect[0].cause.vote: N of 2oo2 equal to the number "
     "of cause sensors (row 'CE-01': 3); got 2"),
    (("2oo3", "two"), "sites[0].cause_effect[0].cause.vote: a vote MooN such as 2oo3 "
     "(row 'CE-01'); got 'two'"),
    (("interlock: ESD-01", "interlock: ESD-09"), "sites[0].cause_effect[0].effect.interlock: "
     "an interlock of the site (row 'CE-01'); 'ESD-09' is not a sensor of the site"),
    (("interlock: ESD-01", "interlock: TT-1"), "sites[0].cause_effect[0].effect.interlock: "
     "an interlock of the site (row 'CE-01'); 'TT-1' is a temperature sensor"),
    (("within_s: 5", "within_s: 0"), "sites[0].cause_effect[0].within_s: a positive time "
     "in seconds (row 'CE-01'); got 0"),
    (("within_s: 5", "within_s: -2"), "sites[0].cause_effect[0].within_s: a positive time "
     "in seconds (row 'CE-01'); got -2"),
])
def test_a_bad_row_is_refused_naming_it(change: tuple[str, str], expected: str) -> None:
    assert problems(site(GOOD_ROW.replace(*change))) == [expected]


def test_row_ids_are_unique_per_site() -> None:
    twice = GOOD_ROW + GOOD_ROW.split("\n", 1)[1]
    assert problems(site(twice)) == [
        "sites[0].cause_effect[1].id: a unique row id; 'CE-01' is already row 0"
    ]


RATED = "{cause: 泄漏, consequence: 爆炸, action: 关阀, respond_within_s: 60, source: GB/T 50493}"


def test_rationalization_required_lists_every_missing_high_and_critical_alarm() -> None:
    text = site("rationalization: required\n").replace(
        "{id: GT-101, kind: combustible_gas}",
        f"{{id: GT-101, kind: combustible_gas, rationalization: {{high: {RATED}}}}}",
    )
    assert problems(text) == [
        "sites[0].gateways[0].sensors[0].rationalization: a rationalization of GT-101 for "
        "high_high (high and critical alarms; the site sets `rationalization: required`)",
        *[f"sites[0].gateways[0].sensors[{i}].rationalization: a rationalization of GT-10{i + 1}"
          " for high, high_high (high and critical alarms; the site sets "
          "`rationalization: required`)" for i in (1, 2)],
        "sites[0].gateways[0].sensors[3].rationalization: a rationalization of TT-1 for high "
        "(high and critical alarms; the site sets `rationalization: required`)",
        "sites[0].gateways[0].sensors[4].rationalization: a rationalization of ESD-01 for trip, "
        "bypass, fault (high and critical alarms; the site sets `rationalization: required`)",
    ]


def test_a_rationalization_is_kept_and_must_name_a_condition_of_its_sensor() -> None:
    text = site("").replace(
        "{id: GT-101, kind: combustible_gas}",
        f"{{id: GT-101, kind: combustible_gas, rationalization: {{high: {RATED}}}}}",
    )
    sensor = parse_registry(text).sites[0].gateways[0].sensors[0]
    assert sensor.rationalization["high"].action == "关阀"
    assert problems(text.replace("{high: {cause", "{low: {cause")) == [
        "sites[0].gateways[0].sensors[0].rationalization.low: a condition of GT-101 "
        "(high, high_high, fault, stale); 'low' is not"
    ]
