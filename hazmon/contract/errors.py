"""The shared error tree of hazmon.

    HazmonError
    ├── ConfigError        a registry or settings file is wrong (carries every problem)
    └── ContractError      a message breaks the wire contract
"""

from __future__ import annotations

from dataclasses import dataclass


class HazmonError(Exception):
    """Base of every error hazmon raises on purpose."""


@dataclass(frozen=True, slots=True)
class Problem:
    """One thing wrong in a configuration file."""

    file: str
    line: int
    path: str
    expected: str

    def __str__(self) -> str:
        """`file:line: path: expected ...`; a problem of the whole file (line 0) has no line."""
        where = f"{self.path}: " if self.path else ""
        at = f"{self.file}:{self.line}" if self.line > 0 else self.file
        return f"{at}: {where}expected {self.expected}"


class ConfigError(HazmonError):
    """A configuration file has one or more problems; all of them are in `problems`."""

    def __init__(self, problems: list[Problem]) -> None:
        self.problems = problems
        super().__init__("\n".join(str(p) for p in problems))


class ContractError(HazmonError):
    """A message does not follow the wire contract."""
