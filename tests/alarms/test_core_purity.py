"""The alarm core does no I/O and reads no clock (docs/development.md §1): parse its imports."""

from __future__ import annotations

import ast
from pathlib import Path

import hazmon.alarms.core

CORE = Path(hazmon.alarms.core.__file__).parent
FORBIDDEN_MODULES = {
    "asyncio", "paho", "httpx", "sqlite3", "fastapi", "time", "socket",
    "threading", "subprocess", "os", "io", "pathlib", "logging", "requests", "urllib",
    "http", "aiohttp", "uvicorn", "random", "stores", "api", "ingest",
}
ALLOWED_FIRST_PARTY = ("hazmon.alarms.core", "hazmon.contract")


def _imports(path: Path) -> list[tuple[int, str]]:
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    found: list[tuple[int, str]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.append((node.lineno, node.module))
        elif isinstance(node, ast.ImportFrom):
            raise AssertionError(f"{path.name}:{node.lineno}: use absolute imports")
    return found


def test_the_core_has_modules_to_check() -> None:
    assert len(list(CORE.glob("*.py"))) >= 8


def test_the_core_imports_no_io_and_no_clock() -> None:
    bad = []
    for path in sorted(CORE.glob("*.py")):
        for line, module in _imports(path):
            top = module.split(".")[0]
            first_party = top == "hazmon"
            if top in FORBIDDEN_MODULES:
                bad.append(f"{path.name}:{line} imports {module}")
            elif first_party and not module.startswith(ALLOWED_FIRST_PARTY):
                bad.append(f"{path.name}:{line} imports {module} (outside the core)")
    assert bad == []


def test_the_core_never_calls_a_clock() -> None:
    clocks = {"now", "utcnow", "time", "time_ns", "monotonic", "perf_counter", "today"}
    bad = []
    for path in sorted(CORE.glob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
                    and node.func.attr in clocks):
                bad.append(f"{path.name}:{node.lineno} calls .{node.func.attr}()")
    assert bad == []


def test_the_checker_catches_an_io_import(tmp_path: Path) -> None:
    sample = tmp_path / "x.py"
    sample.write_text("import sqlite3\nfrom asyncio import sleep\n")
    assert [m for _, m in _imports(sample)] == ["sqlite3", "asyncio"]
