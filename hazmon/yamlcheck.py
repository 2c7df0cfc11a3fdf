"""Load any YAML file into a pydantic model, with file, line and field path in errors.

The registry has its own loader (hazmon.config) because its rules span fields; other
configuration files (a gateway's, a simulator's) only need their shape checked, and
their errors reported the same way: every problem, with the line of the offending key
(CONTRACT §4).

    config = load_yaml_model(path, GatewayConfig)     # raises ConfigError
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from hazmon.config import PathKey, _compose, _pydantic_problems, format_path
from hazmon.errors import ConfigError, Problem

M = TypeVar("M", bound=BaseModel)

# Cross-field rules of a model: given the raw document, yield (path, expected).
ExtraRules = Callable[[Any], Iterable[tuple[PathKey, str]]]


def read_text(path: str | Path) -> str:
    """The file's text, or a ConfigError naming the file."""
    file = str(path)
    try:
        return Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError([Problem(file, 1, "", f"a readable file ({exc.strerror})")]) from exc
    except UnicodeDecodeError as exc:
        raise ConfigError([Problem(file, 1, "", "a UTF-8 text file")]) from exc


def load_yaml_model(path: str | Path, model: type[M], *, rules: ExtraRules | None = None) -> M:
    """Read `path` and validate it as `model`; raise ConfigError with every problem."""
    return parse_yaml_model(read_text(path), model, file=str(path), rules=rules)


def parse_yaml_model(
    text: str, model: type[M], *, file: str = "<yaml>", rules: ExtraRules | None = None
) -> M:
    data, lines = _compose(text, file)
    if not isinstance(data, dict):
        raise ConfigError([Problem(file, 1, "", f"a mapping ({model.__name__})")])
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
