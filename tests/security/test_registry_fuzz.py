"""The registry loader (hazmon.contract.config.parse_registry) against arbitrary and mutated
input: it returns a registry or raises ConfigError, nothing else, and every problem
names the file, a line inside it, the field path and what was expected.
"""

from __future__ import annotations

import copy
import time
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hazmon.contract.config import parse_registry
from hazmon.contract.errors import ConfigError
from hazmon.contract.registry import Registry

DEMO_PLANT = Path(__file__).parents[2] / "hazmon" / "demo" / "plant.yaml"
DEMO_TEXT = DEMO_PLANT.read_text(encoding="utf-8")
DEMO_DOC: dict[str, Any] = yaml.safe_load(DEMO_TEXT)
FILE = "fuzzed.yaml"
WHOLE_DOCUMENT = ("valid YAML", "a mapping", "a UTF-8", "a readable", "no YAML anchors")
FUZZ = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def load(text: str) -> Registry | None:
    """parse_registry, with every problem checked; None when it was refused."""
    try:
        return parse_registry(text, file=FILE)
    except ConfigError as exc:
        assert exc.problems, "a ConfigError names at least one problem"
        last_line = max(1, text.count("\n") + 1)
        for problem in exc.problems:
            assert problem.file == FILE
            assert 1 <= problem.line <= last_line, (problem, last_line)
            assert isinstance(problem.path, str)
            assert problem.path or problem.expected.startswith(WHOLE_DOCUMENT), problem
            assert isinstance(problem.expected, str) and problem.expected.strip()
        return None


yamlish = st.text(alphabet=":-[]{}&*!|>'\"#%,? \n\tsitegwaydn01.\u00e9\u7f50", max_size=120)


@pytest.mark.fuzz
@FUZZ
@given(yamlish)
def test_yaml_like_noise(text: str) -> None:
    load(text)


@pytest.mark.fuzz
@FUZZ
@given(st.text(max_size=200))
def test_any_text(text: str) -> None:
    load(text)


scalar = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(10**30), max_value=10**30),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=30),
    st.sampled_from(["", "a b", "x/y", "+", "#", "中文", "%LEL", "ppm", "degC", "blue"]),
)
value = st.recursive(
    scalar,
    lambda inner: st.one_of(
        st.lists(inner, max_size=3), st.dictionaries(st.text(max_size=8), inner, max_size=3)
    ),
    max_leaves=8,
)


def _paths(node: Any, path: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    found = [path]
    if isinstance(node, dict):
        for key, child in node.items():
            found += _paths(child, (*path, key))
    elif isinstance(node, list):
        for i, child in enumerate(node):
            found += _paths(child, (*path, i))
    return found


DEMO_PATHS = _paths(DEMO_DOC)[1:]


@st.composite
def mutated_demo(draw: st.DrawFn) -> str:
    doc = copy.deepcopy(DEMO_DOC)
    for _ in range(draw(st.integers(1, 4))):
        path = draw(st.sampled_from(DEMO_PATHS))
        parent: Any = doc
        try:
            for key in path[:-1]:
                parent = parent[key]
            leaf = path[-1]
            current = parent[leaf]
        except (KeyError, IndexError, TypeError):
            continue  # an earlier mutation removed it
        action = draw(st.sampled_from(["replace", "delete", "duplicate", "copy_other"]))
        if action == "replace":
            parent[leaf] = draw(value)
        elif action == "delete":
            del parent[leaf]
        elif action == "duplicate" and isinstance(parent, list):
            parent.insert(leaf, copy.deepcopy(current))
        else:
            other = draw(st.sampled_from(DEMO_PATHS))
            source: Any = DEMO_DOC
            for key in other:
                source = source[key]
            parent[leaf] = copy.deepcopy(source)
    return yaml.safe_dump(doc, allow_unicode=True, sort_keys=False)


@pytest.mark.fuzz
@FUZZ
@given(mutated_demo())
def test_mutated_demo_plant(text: str) -> None:
    load(text)


@st.composite
def edited_demo_text(draw: st.DrawFn) -> str:
    lines = DEMO_TEXT.splitlines()
    for _ in range(draw(st.integers(1, 3))):
        i = draw(st.integers(0, len(lines) - 1))
        action = draw(st.sampled_from(["drop", "repeat", "indent", "outdent", "splice"]))
        if action == "drop":
            del lines[i]
        elif action == "repeat":
            lines.insert(i, lines[i])
        elif action == "indent":
            lines[i] = "  " + lines[i]
        elif action == "outdent":
            lines[i] = lines[i][2:]
        else:
            at = draw(st.integers(0, len(lines[i])))
            lines[i] = lines[i][:at] + draw(st.text(max_size=4)) + lines[i][at:]
    return "\n".join(lines) + "\n"


@pytest.mark.fuzz
@FUZZ
@given(edited_demo_text())
def test_edited_demo_plant_text(text: str) -> None:
    load(text)


def test_the_demo_plant_itself_loads() -> None:
    assert load(DEMO_TEXT) is not None


def test_a_self_referencing_alias_is_a_config_error() -> None:
    assert load("sites: &a [*a]\n") is None
    with pytest.raises(ConfigError) as info:
        parse_registry("sites: &a [*a]\n", file=FILE)
    assert "anchors or aliases" in info.value.problems[0].expected


def test_an_alias_bomb_is_refused_quickly() -> None:
    """A 300-byte file of nested aliases ("billion laughs"): 6 levels take ~1 s, each
    more level ~9x that. The registry needs no aliases: refusing them would do."""
    lines = ["a0: &a0 [x, x, x, x, x, x, x, x, x]"]
    for i in range(1, 6):
        lines.append(f"a{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * 9) + "]")
    lines.append("sites: *a5")
    started = time.perf_counter()
    assert load("\n".join(lines) + "\n") is None
    assert time.perf_counter() - started < 0.3
