"""compose.yaml is valid for Debian's docker-compose 1.29 and matches docs/deploy.md.

`docker-compose config` needs no engine: it interpolates the environment, checks the
file against the compose schema and prints the result, which these tests read.
A missing docker-compose fails the test (scripts/test installs it).
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

pytestmark = pytest.mark.integration  # the tests run docker-compose

ROOT = Path(__file__).resolve().parents[2]
COMPOSE_FILE = ROOT / "compose.yaml"
DEPLOY_DOC = ROOT / "docs" / "deploy.md"
REQUIRED = re.compile(r"\$\{([A-Z0-9_]+):\?")
DOC_SERVICE_ROW = re.compile(r"^\| `([a-z0-9-]+)` \| ", re.MULTILINE)
INFRASTRUCTURE = ("mosquitto", "influxdb", "grafana")
BROKER_AUTH = "/srv/hazmon/broker"


def required_variables() -> list[str]:
    return sorted(set(REQUIRED.findall(COMPOSE_FILE.read_text(encoding="utf-8"))))


def secrets() -> dict[str, str]:
    """A distinct, recognisable value for every variable compose requires (a folder
    for the broker's auth files, which compose mounts)."""
    values = {name: f"secret-{name.lower()}" for name in required_variables()}
    return values | {"HAZMON_BROKER_AUTH": BROKER_AUTH}


def compose_config(env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    binary = shutil.which("docker-compose")
    if binary is None:
        pytest.fail("docker-compose not found (Debian package docker-compose; scripts/test)")
    clean = {k: v for k, v in os.environ.items() if k not in required_variables()}
    return subprocess.run(
        [binary, "-f", str(COMPOSE_FILE), "config"],
        cwd=ROOT,
        env={**clean, **env},
        capture_output=True,
        text=True,
        timeout=60,
    )


@pytest.fixture(scope="module")
def config() -> dict[str, Any]:
    result = compose_config(secrets())
    assert result.returncode == 0, result.stderr
    document: dict[str, Any] = yaml.safe_load(result.stdout)
    return document


def test_compose_requires_its_secrets() -> None:
    assert {
        "HAZMON_BROKER_AUTH",
        "HAZMON_INGEST_MQTT_PASSWORD",
        "HAZMON_ALARMS_MQTT_PASSWORD",
        "HAZMON_INFLUX_PASSWORD",
        "INFLUXDB_ADMIN_PASSWORD",
        "GRAFANA_INFLUX_PASSWORD",
        "GRAFANA_ADMIN_PASSWORD",
    } <= set(required_variables())
    result = compose_config({})
    assert result.returncode != 0
    assert "Missing mandatory value" in result.stderr


@pytest.mark.parametrize("missing", ["GRAFANA_ADMIN_PASSWORD", "HAZMON_BROKER_AUTH"])
def test_each_missing_secret_is_named(missing: str) -> None:
    env = secrets()
    del env[missing]
    result = compose_config(env)
    assert result.returncode != 0
    assert missing in result.stderr


def test_the_stack_has_its_services(config: dict[str, Any]) -> None:
    assert set(config["services"]) == {*INFRASTRUCTURE, "ingest", "alarms", "watch",
                                       "simulator"}
    assert config["services"]["watch"]["command"][:1] == ["watch"]
    assert "--broker=mqtt://mosquitto:1884" in config["services"]["watch"]["command"]
    assert config["services"]["simulator"]["profiles"] == ["simulator"]
    for name in ("mosquitto", "influxdb", "grafana", "ingest", "alarms"):
        assert "profiles" not in config["services"][name]


def test_infrastructure_and_api_have_healthchecks(config: dict[str, Any]) -> None:
    for name in (*INFRASTRUCTURE, "alarms"):
        assert config["services"][name]["healthcheck"]["test"][0] in ("CMD", "CMD-SHELL"), name


def test_services_wait_for_healthy_dependencies(config: dict[str, Any]) -> None:
    services = config["services"]
    for name in ("ingest", "alarms"):
        assert services[name]["depends_on"] == {
            "mosquitto": {"condition": "service_healthy"},
            "influxdb": {"condition": "service_healthy"},
        }
    assert services["grafana"]["depends_on"] == {"influxdb": {"condition": "service_healthy"}}
    assert services["simulator"]["depends_on"] == {"mosquitto": {"condition": "service_healthy"}}


def test_hazmon_services_run_the_image_built_here(config: dict[str, Any]) -> None:
    for name in ("ingest", "alarms", "simulator"):
        service = config["services"][name]
        assert Path(service["build"]["context"]) == ROOT
        assert service["command"][0] == {"ingest": "ingest", "alarms": "alarms"}.get(
            name, "simulate"
        )
    dockerfile = (ROOT / "Dockerfile").read_text(encoding="utf-8")
    assert re.search(r"^FROM python:3\.11-slim$", dockerfile, re.MULTILINE)
    assert 'ENTRYPOINT ["hazmon"]' in dockerfile


def test_hazmon_services_get_time_to_flush_on_stop(config: dict[str, Any]) -> None:
    for name in ("ingest", "alarms"):
        assert config["services"][name]["stop_grace_period"] == "30s"


def test_ingest_scales_on_a_shared_subscription(config: dict[str, Any]) -> None:
    ingest = config["services"]["ingest"]
    assert "--share=hazmon-ingest" in ingest["command"]
    assert ingest["scale"] >= 2
    assert "ports" not in ingest and "container_name" not in ingest
    assert "/var/lib/hazmon" in ingest["volumes"], "each replica needs its own data folder"


def test_secrets_reach_the_environment_and_never_a_command_line(config: dict[str, Any]) -> None:
    values = set(secrets().values()) - {BROKER_AUTH}
    seen = set()
    for name, service in config["services"].items():
        command = " ".join(service.get("command", []))
        healthcheck = " ".join(service.get("healthcheck", {}).get("test", []))
        assert not any(v in command or v in healthcheck for v in values), name
        seen |= {v for v in (service.get("environment") or {}).values() if v in values}
    assert seen == values


def test_grafana_gets_the_generated_provisioning(config: dict[str, Any]) -> None:
    volumes = config["services"]["grafana"]["volumes"]
    mounted = {v.split(":")[1]: Path(v.split(":")[0]) for v in volumes if ":/etc/grafana" in v}
    assert mounted == {
        "/etc/grafana/provisioning/datasources": ROOT / "dashboards/provisioning/datasources",
        "/etc/grafana/provisioning/dashboards": ROOT / "dashboards/provisioning/dashboards",
    }
    environment = config["services"]["grafana"]["environment"]
    provisioned = (ROOT / "dashboards/provisioning/datasources/hazmon-influxdb.yaml").read_text()
    for variable in re.findall(r"\$\{([A-Z_]+)\}", provisioned):
        assert variable in environment, f"Grafana's environment lacks {variable}"


def test_mosquitto_mounts_the_template_and_the_operators_auth(config: dict[str, Any]) -> None:
    volumes = config["services"]["mosquitto"]["volumes"]
    assert f"{ROOT}/deploy/mosquitto/mosquitto.conf:/mosquitto/config/mosquitto.conf:ro" in volumes
    assert f"{BROKER_AUTH}:/mosquitto/auth:ro" in volumes


def test_docs_name_exactly_the_services_of_the_stack(config: dict[str, Any]) -> None:
    documented = set(DOC_SERVICE_ROW.findall(DEPLOY_DOC.read_text(encoding="utf-8")))
    assert documented == set(config["services"])


def test_docs_list_every_required_secret() -> None:
    text = DEPLOY_DOC.read_text(encoding="utf-8")
    for variable in required_variables():
        assert f"`{variable}`" in text, variable
