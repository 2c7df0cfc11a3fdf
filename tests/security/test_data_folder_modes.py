"""The data folder is hazmon's own, whatever the umask: started under umask 022 (where
the client-id files used to be world-readable), every folder hazmon makes in it is
0700 and every file 0600 (client ids, spool, dead letters, journal, embedded store)."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from hazmon.bus.mqtt import stable_client_id
from hazmon.testing.processes import Child, hazmon
from hazmon.testing.servers import Mosquitto, free_port

pytestmark = pytest.mark.integration

ROOT = Path(__file__).parents[2]
DEMO_PLANT = ROOT / "hazmon" / "demo" / "plant.yaml"


def _loose(data: Path) -> list[str]:
    """Paths in `data` that others may read or enter."""
    return [f"{p} {p.stat().st_mode & 0o777:o}" for p in [data, *data.rglob("*")]
            if p.stat().st_mode & 0o077]  # fmt: skip


def _run_until(argv: list[str], data: Path, files: list[str], timeout_s: float = 90) -> str:
    """Run a hazmon command under umask 022 until `files` are in `data`; its output."""
    child = Child(hazmon(*argv), log=data.parent / f"{data.name}.log", umask=0o022,
                  env={"PYTHONPATH": str(ROOT)}).start()  # fmt: skip
    try:
        child.wait_ready(lambda: all((data / f).exists() for f in files), timeout_s=timeout_s,
                         what=f"writing {', '.join(files)}")  # fmt: skip
        time.sleep(1.0)  # let it write what it writes at start
    finally:
        child.stop(timeout_s=60)
    return child.output()


def test_stable_client_id_is_private_under_umask_022(tmp_path: Path) -> None:
    old = os.umask(0o022)
    try:
        client_id = stable_client_id(tmp_path / "data", "ingest")
    finally:
        os.umask(old)
    assert _loose(tmp_path / "data") == []
    assert stable_client_id(tmp_path / "data", "ingest") == client_id


def test_hazmon_ingest_keeps_its_data_folder_private(
    fresh_mosquitto: Mosquitto, tmp_path: Path
) -> None:
    data = tmp_path / "ingest-data"
    output = _run_until(["ingest", "--config", str(DEMO_PLANT), "--broker", fresh_mosquitto.url,
                         "--data", str(data), "--http", f"127.0.0.1:{free_port()}"],
                        data, ["ingest.client-id", "deadletter.sqlite"])  # fmt: skip
    assert _loose(data) == []
    assert "hazmon-ingest-" not in output  # the client id is not logged at INFO


def test_hazmon_up_keeps_its_data_folder_private(tmp_path: Path) -> None:
    data = tmp_path / "up-data"
    output = _run_until(["up", "--config", str(DEMO_PLANT), "--data", str(data),
                         "--http", f"127.0.0.1:{free_port()}"],
                        data, ["ingest.client-id", "alarms.client-id"])  # fmt: skip
    assert _loose(data) == []
    assert "hazmon-ingest-" not in output
