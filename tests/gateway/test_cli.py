"""`hazmon gateway` and `hazmon simulate` from the command line."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from typer.testing import CliRunner

from hazmon.cli import app
from hazmon.contract.config import load_registry
from hazmon.testing.mqtt_clients import subscriber
from hazmon.testing.processes import Child
from hazmon.testing.servers import Mosquitto

pytestmark = pytest.mark.integration  # the tests run `hazmon gateway` as a process

HAZMON = [str(Path(sys.executable).parent / "hazmon")]


def test_gateway_config_errors_exit_2_with_file_and_line(tmp_path: Path) -> None:
    path = tmp_path / "gw.yaml"
    path.write_text("site: s1\ngateway: gw/1\ndevices: []\npoints:\n  - {sensor: GT-1}\n")
    result = CliRunner().invoke(app, ["gateway", "--config", str(path)])
    assert result.exit_code == 2
    assert f"{path}:2: gateway: expected an id" in result.output
    assert f"{path}:5: points[0].device: expected field `device`" in result.output
    assert "problem(s)" in result.output


def test_write_registry_for_the_load_plant(tmp_path: Path) -> None:
    path = tmp_path / "load.yaml"
    result = CliRunner().invoke(
        app, ["simulate", "--write-registry", str(path), "--gateways", "12", "--sensors", "5"]
    )
    assert result.exit_code == 0, result.output
    assert len(load_registry(path).sensors()) == 60


def test_unknown_scenario_exits_2() -> None:
    result = CliRunner().invoke(
        app, ["simulate", "--broker", "mqtt://127.0.0.1:1", "--scenario", "meteor"]
    )
    assert result.exit_code == 2
    assert "no scenario 'meteor'" in result.output


def test_credentials_in_the_broker_url_are_refused() -> None:
    result = CliRunner().invoke(app, ["simulate", "--broker", "mqtt://u:secret@127.0.0.1:1883"])
    assert result.exit_code == 2
    assert "HAZMON_MQTT_" in result.output


@pytest.mark.integration
def test_simulate_the_demo_plant_then_stop_cleanly(mosquitto: Mosquitto, tmp_path: Path) -> None:
    collector = subscriber(mosquitto.port, "hazmon/v1/jh-chem-01/gw-tankfarm/#")
    try:
        proc = subprocess.run(
            [
                *HAZMON,
                "simulate",
                "--broker",
                mosquitto.url,
                "--scenario",
                "demo",
                "--rate",
                "2",
                "--duration",
                "3",
            ],
            capture_output=True,
            text=True,
            timeout=60,
            cwd=tmp_path,
        )
        time.sleep(0.3)
    finally:
        collector.close()
    assert proc.returncode == 0, proc.stderr
    assert "simulated" in proc.stdout
    telemetry = collector.snapshot("telemetry")
    assert len(telemetry) >= 4
    assert collector.snapshot("state")[-1].doc["online"] is False


@pytest.mark.integration
def test_gateway_process_stops_on_sigterm_saying_offline(
    mosquitto: Mosquitto, unique_id: str, tmp_path: Path
) -> None:
    registry = _one_gateway_registry(tmp_path, unique_id)
    devices = Child([*HAZMON, "simulate", "--field-devices", "--modbus-port", "0",
                     "--config", str(registry), "--broker", mosquitto.url,
                     "--gateway-configs", str(tmp_path / "gw")],
                    log=tmp_path / "devices.log", cwd=tmp_path, name="field devices")  # fmt: skip
    env = {"HAZMON_MQTT_PASSWORD": "not-on-the-command-line"}
    config = tmp_path / "gw" / f"{unique_id}.gw-1.yaml"
    gateway = Child([*HAZMON, "gateway", "--config", str(config)], log=tmp_path / "gateway.log",
                    env=env, cwd=tmp_path, name="gateway")  # fmt: skip
    collector = subscriber(mosquitto.port, f"hazmon/v1/{unique_id}/#")
    with devices, collector:
        devices.wait_ready(lambda: config.exists() and config.read_text().endswith("\n"),
                           timeout_s=10, what="writing the gateway's configuration")  # fmt: skip
        with gateway:
            deadline = time.monotonic() + 20
            while len(collector.snapshot("telemetry")) < 3 and time.monotonic() < deadline:
                time.sleep(0.1)
            code = gateway.stop(signal.SIGTERM, timeout_s=15)
        time.sleep(0.3)
    gateway_log = gateway.output()
    assert code == 0, gateway_log
    assert len(collector.snapshot("telemetry")) >= 3, gateway_log
    states = [m.doc for m in collector.snapshot("state")]
    assert states[0]["online"] is True and states[-1]["online"] is False
    assert "not-on-the-command-line" not in " ".join(gateway.argv)
    assert (tmp_path / "hazmon-gateway" / f"{unique_id}.gw-1" / "gateway.sqlite3").exists()


def _one_gateway_registry(tmp_path: Path, site: str) -> Path:
    path = tmp_path / "registry.yaml"
    path.write_text(
        f"sites:\n  - id: {site}\n    name: t\n    industry: mining\n"
        "    location: {lat: 29, lon: 119}\n    gateways:\n      - id: gw-1\n"
        "        sensors:\n          - {id: GT-1, kind: combustible_gas}\n"
        "          - {id: ESD-1, kind: interlock, grade: B}\n"
    )
    return path
