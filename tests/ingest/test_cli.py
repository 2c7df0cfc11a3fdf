"""`hazmon ingest` on the command line: errors exit with the contract's statuses."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from hazmon.stores.spool import Spool
from hazmon.testing.servers import free_port
from tests.ingest.helpers import registry_yaml

pytestmark = pytest.mark.integration  # each test runs `hazmon ingest` as a process


def ingest(*args: str) -> subprocess.CompletedProcess[str]:
    argv = [sys.executable, "-m", "hazmon.cli", "ingest", "--http", f"127.0.0.1:{free_port()}"]
    return subprocess.run([*argv, *args], capture_output=True, text=True, timeout=60)


def test_a_config_error_exits_2_naming_file_and_line(tmp_path: Path) -> None:
    config = tmp_path / "plant.yaml"
    config.write_text(registry_yaml("s1").replace("kind: interlock", "kind: nonsense", 1))
    done = ingest("--config", str(config), "--broker", "mqtt://127.0.0.1:1")
    assert done.returncode == 2
    assert f"{config}:" in done.stderr and "kind" in done.stderr


def test_a_bad_share_group_exits_2(tmp_path: Path) -> None:
    config = tmp_path / "plant.yaml"
    config.write_text(registry_yaml("s1"))
    done = ingest("--config", str(config), "--broker", "mqtt://127.0.0.1:1", "--share", "a/b")
    assert done.returncode == 2 and "--share" in done.stderr


def test_a_data_folder_in_use_exits_1(tmp_path: Path) -> None:
    config = tmp_path / "plant.yaml"
    config.write_text(registry_yaml("s1"))
    data = tmp_path / "data"
    with Spool(data / "spool" / "json-v1"):  # another ingest holds this folder
        done = ingest(
            "--config", str(config), "--broker", "mqtt://127.0.0.1:1", "--data", str(data)
        )
    assert done.returncode == 1 and "in use" in done.stderr
