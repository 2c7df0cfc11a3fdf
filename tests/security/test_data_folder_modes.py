"""The data folder is hazmon's own, whatever the umask: started under umask 022 (where
the client-id files used to be world-readable), every folder hazmon makes in it is
0700 and every file 0600 (client ids, spool, dead letters, journal, embedded store)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from hazmon.bus.mqtt import stable_client_id
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
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    log = data.parent / f"{data.name}.log"
    with open(log, "wb") as out:
        argv = [sys.executable, "-m", "hazmon.cli", *argv]
        proc = subprocess.Popen(argv, env=env, stdout=out, stderr=subprocess.STDOUT,
                                preexec_fn=lambda: os.umask(0o022))  # fmt: skip
    try:
        deadline = time.monotonic() + timeout_s
        while not all((data / f).exists() for f in files):
            assert proc.poll() is None and time.monotonic() < deadline, log.read_text()[-3000:]
            time.sleep(0.2)
        time.sleep(1.0)  # let it write what it writes at start
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=60)
    return log.read_text()


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
