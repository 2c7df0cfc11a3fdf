"""Load any YAML file into a pydantic model, with file, line and field path in errors.

Every configuration file (the registry, a gateway's) is read this way: its shape checked
by its pydantic model, cross-field rules given as `rules`, and every problem reported
at once, with the line of the offending key (docs/contract.md §4).

    config = load_yaml_model(path, GatewayConfig)     # raises ConfigError
"""

from __future__ import annotations

import bisect
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import yaml
from pydantic import BaseModel, ValidationError

from hazmon.contract.errors import ConfigError, Problem

M = TypeVar("M", bound=BaseModel)

PathKey = tuple[str | int, ...]


def format_path(path: PathKey) -> str:
    out = ""
    for part in path:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else part
    return out


class _Lines:
    """Line numbers as an editor or `grep -n` counts them: by `\n` only.

    YAML also breaks lines at a lone CR, NEL and LS/PS; its own line numbers would
    then point past what an editor shows, so positions are counted here instead.
    """

    def __init__(self, text: str) -> None:
        self._breaks = [i for i, ch in enumerate(text) if ch == "\n"]

    def of(self, mark: Any) -> int:
        """The line of a YAML mark (pure-Python or libyaml's), 1 without one."""
        return 1 if mark is None else bisect.bisect_left(self._breaks, mark.index) + 1


class _LineIndex:
    """Line numbers of every key and item in a YAML document, by field path."""

    def __init__(self, root: yaml.Node | None, lines: _Lines) -> None:
        self.key_lines: dict[PathKey, int] = {}
        self.node_lines: dict[PathKey, int] = {}
        self._lines = lines
        if root is not None:
            self._walk(root, ())

    def _walk(self, node: yaml.Node, path: PathKey) -> None:
        line_of = self._lines.of
        self.node_lines[path] = line_of(node.start_mark)
        if isinstance(node, yaml.MappingNode):
            for key_node, value_node in node.value:
                key = key_node.value if isinstance(key_node, yaml.ScalarNode) else str(key_node)
                child = (*path, key)
                self.key_lines[child] = line_of(key_node.start_mark)
                self._walk(value_node, child)
        elif isinstance(node, yaml.SequenceNode):
            for i, item in enumerate(node.value):
                self.key_lines[(*path, i)] = line_of(item.start_mark)
                self._walk(item, (*path, i))

    def line(self, path: PathKey) -> int:
        """The line of the offending key; for a missing key, the line of its mapping."""
        probe = path
        while probe:
            if probe in self.key_lines:
                return self.key_lines[probe]
            probe = probe[:-1]
        return self.node_lines.get((), 1)


# libyaml's parser when PyYAML has it (every wheel does): the demo plant's 3,000 lines
# load in ~0.1 s instead of ~0.6 s with the pure-Python one. Same safe constructors.
_Loader: type[Any] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def _refuse_aliases(text: str, file: str, lines: _Lines) -> None:
    """The registry needs no anchors or aliases; refusing them refuses alias bombs too."""
    for event in yaml.parse(text, Loader=_Loader):
        anchored = isinstance(event, yaml.AliasEvent) or getattr(event, "anchor", None)
        if anchored:
            line = lines.of(event.start_mark)
            raise ConfigError(
                [Problem(file, line, "", "no YAML anchors or aliases (write each value out)")]
            )


def _compose(text: str, file: str) -> tuple[Any, _LineIndex]:
    lines = _Lines(text)
    try:
        _refuse_aliases(text, file, lines)
        loader = _Loader(text)
        try:
            root = loader.get_single_node()
            data = loader.construct_document(root) if root is not None else None
        finally:
            loader.dispose()
    except yaml.MarkedYAMLError as exc:
        line = lines.of(exc.problem_mark or exc.context_mark)
        raise ConfigError([Problem(file, line, "", f"valid YAML ({exc.problem})")]) from exc
    except yaml.YAMLError as exc:
        raise ConfigError([Problem(file, 1, "", f"valid YAML ({exc})")]) from exc
    return data, _LineIndex(root, lines)


def _pydantic_problems(exc: ValidationError) -> Iterator[tuple[PathKey, str]]:
    for err in exc.errors(include_url=False):
        loc: PathKey = tuple(part for part in err["loc"] if isinstance(part, str | int))
        msg = err["msg"]
        kind = err["type"]
        if kind == "extra_forbidden":
            yield loc, "no such field (unknown key)"
        elif kind == "missing":
            yield loc, f"field `{loc[-1]}` (it is required)"
        elif kind == "enum" or kind == "literal_error":
            yield loc, msg.replace("Input should be", "one of").replace("Value error, ", "")
        elif kind == "string_pattern_mismatch":
            yield loc, "an id matching ^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$ (no /, +, #, spaces)"
        else:
            text = msg.removeprefix("Value error, ").replace("Input should be", "")
            yield loc, text.strip()



# Cross-field rules of a model: given the raw document, yield (path, expected).
ExtraRules = Callable[[Any], Iterable[tuple[PathKey, str]]]


def read_text(path: str | Path) -> str:
    """The file's text, or a ConfigError naming the file."""
    file = str(path)
    try:
        return Path(path).read_text(encoding="utf-8")
    except FileNotFoundError as exc:
        missing = Problem(file, 0, "", "a readable file (there is no such file)")
        raise ConfigError([missing]) from exc
    except OSError as exc:
        raise ConfigError([Problem(file, 0, "", f"a readable file ({exc.strerror})")]) from exc
    except UnicodeDecodeError as exc:
        raise ConfigError([Problem(file, 0, "", "a UTF-8 text file")]) from exc


def load_yaml_model(path: str | Path, model: type[M], *, rules: ExtraRules | None = None) -> M:
    """Read `path` and validate it as `model`; raise ConfigError with every problem."""
    return parse_yaml_model(read_text(path), model, file=str(path), rules=rules)


def parse_yaml_model(
    text: str,
    model: type[M],
    *,
    file: str = "<yaml>",
    rules: ExtraRules | None = None,
    shape: str | None = None,
) -> M:
    """Validate YAML text as `model` (plus cross-field `rules`); every problem at once."""
    data, lines = _compose(text, file)
    if not isinstance(data, dict):
        raise ConfigError([Problem(file, 1, "", shape or f"a mapping ({model.__name__})")])
    found: list[tuple[PathKey, str]] = []
    result: M | None = None
    try:
        result = model.model_validate(data)
    except ValidationError as exc:
        found.extend(_pydantic_problems(exc))
    if rules is not None:
        found.extend(rules(data))
    if found:
        problems: list[Problem] = []
        seen: set[tuple[int, str, str]] = set()
        for key, expected in found:
            problem = Problem(file, lines.line(key), format_path(key), expected)
            marker = (problem.line, problem.path, problem.expected)
            if marker not in seen:
                seen.add(marker)
                problems.append(problem)
        problems.sort(key=lambda p: (p.line, p.path))
        raise ConfigError(problems)
    assert result is not None
    return result
