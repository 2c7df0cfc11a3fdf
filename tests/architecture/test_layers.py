"""The architecture, checked on the imports of every module (docs/architecture.md).

One import root, `hazmon`, in layers:

- `hazmon.contract`, the shared vocabulary (registry, wire contract, topics, sequence
  bounds, settings, the root error, the gateway's register map and Modbus codec),
  imports nothing of hazmon outside itself;
- `hazmon.runtime` (process support of services) stands on the contract only, and
  `hazmon.bus` (MQTT) on the contract and the runtime;
- the alarm core (`hazmon.alarms.core`) imports nothing outside itself but the
  contract (tests/alarms/test_core_purity.py says what else it may not touch);
- the edge (`hazmon.gateway`) and the simulators know only the vocabulary and the bus:
  neither imports the other, nor any service;
- `hazmon.ingest` and `hazmon.alarms` are parallel consumers of the bus: neither
  imports the other;
- nothing imports the command line (`hazmon.cli`), which sits on top of everything;
- nothing is imported by its old top-level name (`alarms`, `api`, ...): one root;
- the tests and the benchmarks do not import each other: what both need is in
  `hazmon.testing`, and the benchmarks' own tests are in benchmarks/tests.
"""

from __future__ import annotations

import ast
import functools
from pathlib import Path

import pytest

ROOT = Path(__file__).parents[2]
PACKAGE = ROOT / "hazmon"
PARTS = ("alarms", "api", "broker", "dashboards", "gateway", "ingest", "simulators", "stores")
SERVICES = ("alarms", "api", "broker", "dashboards", "ingest", "stores")


def modules(package: str) -> dict[str, Path]:
    """Dotted module name -> file, for every module of a package (links followed)."""
    base = PACKAGE.joinpath(*package.split(".")[1:])
    found = {}
    for path in sorted(base.rglob("*.py")):
        rel = path.relative_to(PACKAGE).with_suffix("")
        found[".".join(("hazmon", *rel.parts))] = path
    return found


def imports(path: Path) -> list[tuple[int, str]]:
    """(line, imported name) of every absolute import of a file, anywhere in it."""
    stat = path.stat()
    return list(_imports(path, stat.st_mtime_ns, stat.st_size))


@functools.cache
def _imports(path: Path, mtime_ns: int, size: int) -> tuple[tuple[int, str], ...]:
    """Each file parsed once while it stays as it is (most tests here read the same)."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    found: list[tuple[int, str]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.append((node.lineno, node.module))
        elif isinstance(node, ast.ImportFrom):  # relative: only the tests use them
            assert not path.is_relative_to(PACKAGE), f"{path}:{node.lineno}: use absolute"
    return tuple(found)


def first_party(name: str) -> str | None:
    """`hazmon.<layer>` of an import of hazmon, else None."""
    parts = name.split(".")
    if parts[0] != "hazmon":
        return None
    return ".".join(parts[:2]) if len(parts) > 1 else "hazmon"


def violations(package: str, allowed: tuple[str, ...]) -> list[str]:
    bad = []
    for module, path in modules(package).items():
        for line, name in imports(path):
            layer = first_party(name)
            if layer is not None and layer != package and layer not in allowed:
                bad.append(f"{module}:{line} imports {name}")
    return bad


def test_every_part_is_under_the_one_root() -> None:
    for part in PARTS:
        assert (PACKAGE / part / "__init__.py").exists(), f"hazmon/{part} is missing"
    assert len(modules("hazmon.alarms")) > 20  # the links are followed


@pytest.mark.parametrize(
    ("package", "allowed"),
    [
        ("hazmon.contract", ()),
        ("hazmon.runtime", ("hazmon.contract",)),
        ("hazmon.bus", ("hazmon.contract", "hazmon.runtime")),
        ("hazmon.gateway", ("hazmon.contract", "hazmon.runtime", "hazmon.bus")),
        ("hazmon.simulators", ("hazmon.contract", "hazmon.runtime", "hazmon.bus")),
    ],
)
def test_lower_layers_import_only_what_is_below(package: str, allowed: tuple[str, ...]) -> None:
    assert violations(package, allowed) == []


def imports_of(package: str) -> list[tuple[str, int, str]]:
    """(module, line, imported name) for every hazmon import of a package's modules."""
    return [(module, line, name) for module, path in modules(package).items()
            for line, name in imports(path) if first_party(name) is not None]


def inside(name: str, package: str) -> bool:
    return name == package or name.startswith(package + ".")


@pytest.mark.parametrize(("package", "other"),
                         [("hazmon.ingest", "hazmon.alarms"), ("hazmon.alarms", "hazmon.ingest")])
def test_ingest_and_alarms_are_parallel_consumers(package: str, other: str) -> None:
    assert [(m, n) for m, _, n in imports_of(package) if inside(n, other)] == []


def test_the_alarm_core_stands_on_the_contract_alone() -> None:
    core = "hazmon.alarms.core"
    bad = [(m, n) for m, _, n in imports_of(core)
           if not (inside(n, core) or inside(n, "hazmon.contract"))]
    assert bad == []


def test_no_part_of_the_product_imports_the_test_support() -> None:
    bad = []
    for package in ("hazmon.contract", "hazmon.runtime", "hazmon.bus", "hazmon.cli",
                    *(f"hazmon.{p}" for p in PARTS)):
        bad += [(m, n) for m, _, n in imports_of(package) if inside(n, "hazmon.testing")]
    assert bad == []


def test_the_benchmarks_import_nothing_of_the_tests() -> None:
    bad = [f"{path.relative_to(ROOT)}:{line} imports {name}"
           for path in (ROOT / "benchmarks").rglob("*.py")
           for line, name in imports(path) if name.split(".")[0] == "tests"]
    assert bad == []


def test_nothing_imports_the_command_line() -> None:
    bad = []
    for package in ("hazmon.contract", "hazmon.runtime", "hazmon.bus",
                    *(f"hazmon.{p}" for p in PARTS)):
        bad += [v for v in violations(package, ()) if " imports hazmon.cli" in v]
    assert bad == []


def test_nothing_is_imported_by_an_old_top_level_name() -> None:
    bad = []
    folders = [PACKAGE, *(ROOT / part for part in PARTS), ROOT / "tests", ROOT / "benchmarks"]
    files = [path for folder in folders for path in folder.rglob("*.py")]
    for path in files:
        for line, name in imports(path):
            if name.split(".")[0] in PARTS:
                bad.append(f"{path.relative_to(ROOT)}:{line} imports {name}")
    assert bad == []


def crossing_imports(root: Path) -> list[str]:
    """Imports of the benchmarks under root/tests, and of the tests under root/benchmarks
    (anywhere in a file: at the top, or inside a function)."""
    crossings = (("tests", "benchmarks"), ("benchmarks", "tests"))
    return [f"{path.relative_to(root)}:{line} imports {name}"
            for folder, other in crossings
            for path in sorted((root / folder).rglob("*.py"))
            for line, name in imports(path) if name.split(".")[0] == other]


def test_the_tests_and_the_benchmarks_do_not_import_each_other(tmp_path: Path) -> None:
    assert crossing_imports(ROOT) == []
    (tmp_path / "tests" / "cli").mkdir(parents=True)
    (tmp_path / "benchmarks" / "tests").mkdir(parents=True)
    (tmp_path / "tests" / "cli" / "test_x.py").write_text(
        "def test_x() -> None:\n    from benchmarks.e2e_bench import parse_args\n")
    (tmp_path / "benchmarks" / "tests" / "test_y.py").write_text(
        "import benchmarks.e2e\nfrom tests.alarms.plant import T0\n")
    assert crossing_imports(tmp_path) == [
        "tests/cli/test_x.py:2 imports benchmarks.e2e_bench",
        "benchmarks/tests/test_y.py:2 imports tests.alarms.plant",
    ]
