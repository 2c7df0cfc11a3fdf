"""`pip install .` installs one top-level package, `hazmon`, with every part under it
and the data files the parts read (docs/architecture.md, "One import root")."""

from __future__ import annotations

import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

pytestmark = pytest.mark.integration

ROOT = Path(__file__).parents[2]


def test_the_wheel_holds_one_top_level_package_with_every_part(tmp_path: Path) -> None:
    leftover = ROOT / "build"  # setuptools builds in the source tree
    existed = leftover.exists()
    try:
        subprocess.run(
            [sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "-w", str(tmp_path),
             str(ROOT)],
            check=True, capture_output=True, timeout=300,
        )
    finally:
        if not existed:
            shutil.rmtree(leftover, ignore_errors=True)
    (wheel,) = tmp_path.glob("hazmon-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    tops = {n.split("/")[0] for n in names}
    assert {t for t in tops if not t.endswith(".dist-info")} == {"hazmon"}
    for part in ("alarms", "api", "broker", "dashboards", "gateway", "ingest", "simulators",
                 "stores", "contract", "runtime", "bus", "cli"):
        assert f"hazmon/{part}/__init__.py" in names, part
    for data in ("hazmon/demo/plant.yaml", "hazmon/api/static/index.html",
                 "hazmon/alarms/core/engine.py",
                 "hazmon/dashboards/provisioning/dashboards/hazmon.yaml"):
        assert data in names, data
