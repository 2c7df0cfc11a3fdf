"""The architecture, checked on the imports of each package (README, "Layout").

- the edge (`gateway/`) and `simulators/` know only the contract (`hazmon`), never the
  services' internals;
- `ingest/` and `alarms/` are parallel consumers of the bus: neither imports the other;
- `hazmon/` (registry, contract, settings) imports none of the parts built on it,
  except its command line, which is where the parts are put together.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).parents[2]
SERVICES = {"ingest", "alarms", "stores", "api", "broker", "dashboards"}


def imported_packages(package: str) -> set[tuple[str, str]]:
    """(file, top-level package) for every import in a package's modules."""
    found: set[tuple[str, str]] = set()
    for path in (ROOT / package).rglob("*.py"):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module]
            else:
                continue
            for name in names:
                found.add((str(path.relative_to(ROOT)), name.split(".")[0]))
    return found


@pytest.mark.parametrize("package", ["gateway", "simulators"])
def test_edge_and_simulators_know_only_the_contract(package: str) -> None:
    bad = {(f, top) for f, top in imported_packages(package) if top in SERVICES}
    assert not bad, f"{package} imports service internals: {sorted(bad)}"


@pytest.mark.parametrize(("package", "other"), [("ingest", "alarms"), ("alarms", "ingest")])
def test_ingest_and_alarms_are_parallel_consumers(package: str, other: str) -> None:
    bad = {(f, top) for f, top in imported_packages(package) if top == other}
    assert not bad, f"{package} imports {other}: {sorted(bad)}"


def test_the_shared_package_depends_on_no_part() -> None:
    parts = SERVICES | {"gateway", "simulators"}
    bad = {
        (f, top)
        for f, top in imported_packages("hazmon")
        if top in parts and not f.startswith("hazmon/cli/")
    }
    assert not bad, f"hazmon imports the parts built on it: {sorted(bad)}"
