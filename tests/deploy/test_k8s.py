"""deploy/k8s checked offline: every resource against the Kubernetes schemas that
kubernetes-validate carries (strict: an unknown field is an error), the parts held to
each other (selectors, ports, probes, the broker URL), and the NATS ConfigMap's
nats.conf parsed by nats-server itself with the Secret's files `hazmon cluster-config`
writes for these pods.
"""

from __future__ import annotations

import copy
import functools
import os
import re
import subprocess
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml

from hazmon.cli.cluster_config import (
    AUTH_NAME,
    CLUSTER_AUTH_NAME,
    parse_nodes,
    plan_cluster,
    write_cluster_config,
)
from hazmon.testing.nats import NATS_SERVER_BIN, default_registry

K8S = Path(__file__).parents[2] / "deploy" / "k8s"
BROKER = "nats://nats-0.nats:4222,nats-1.nats:4222,nats-2.nats:4222"
NODES = "nats-0.nats:4222,nats-1.nats:4222,nats-2.nats:4222"
PORTS = {"client": 4222, "cluster": 6222, "mqtt": 1883, "monitor": 8222}


def resources() -> list[dict[str, Any]]:
    """Every resource of deploy/k8s, a copy of its own for each caller (tests change it)."""
    found = []
    for path in sorted(K8S.glob("*.yaml")):
        found += copy.deepcopy(documents(path.read_text()))
    return found


@functools.cache
def documents(text: str) -> list[dict[str, Any]]:
    """The resources of a file's text, parsed once (most tests here look at several)."""
    return [doc for doc in yaml.safe_load_all(text) if doc]


def one(kind: str, name: str) -> dict[str, Any]:
    return next(r for r in resources() if r["kind"] == kind and r["metadata"]["name"] == name)


def workloads() -> list[dict[str, Any]]:
    return [r for r in resources() if r["kind"] in ("Deployment", "StatefulSet")]


def nats_conf() -> str:
    text: str = one("ConfigMap", "nats-config")["data"]["nats.conf"]
    return text


@pytest.mark.parametrize("resource", resources(),
                         ids=lambda r: f"{r['kind']}/{r['metadata']['name']}")  # fmt: skip
def test_every_resource_is_valid_against_the_kubernetes_schemas(resource: dict[str, Any]) -> None:
    version = kubernetes_validate.latest_version()
    kubernetes_validate.validate(resource, version, strict=True)  # raises on any error


def test_the_validator_refuses_a_wrong_type_and_an_unknown_field() -> None:
    broken = one("Deployment", "hazmon-api")
    broken["spec"]["replicas"] = "two"
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(broken, kubernetes_validate.latest_version(), strict=True)
    unknown = one("Deployment", "hazmon-api")
    unknown["spec"]["template"]["spec"]["containers"][0]["limitNofile"] = 65536
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(unknown, kubernetes_validate.latest_version(), strict=True)


def test_the_manifests_hold_what_the_cluster_needs() -> None:
    kinds = {(r["kind"], r["metadata"]["name"]) for r in resources()}
    assert {("StatefulSet", "nats"), ("Service", "nats"), ("ConfigMap", "nats-config"),
            ("Deployment", "hazmon-ingest"), ("Deployment", "hazmon-alarms"),
            ("Deployment", "hazmon-api")} <= kinds  # fmt: skip
    for workload in workloads():
        pdbs = [r for r in resources() if r["kind"] == "PodDisruptionBudget"
                and r["spec"]["selector"] == workload["spec"]["selector"]]  # fmt: skip
        assert len(pdbs) == 1, workload["metadata"]["name"]
        labels = workload["spec"]["template"]["metadata"]["labels"]
        assert workload["spec"]["selector"]["matchLabels"].items() <= labels.items()


def test_nats_runs_three_pods_with_volumes_and_its_four_ports() -> None:
    nats = one("StatefulSet", "nats")
    spec = nats["spec"]
    assert spec["replicas"] == 3 and spec["serviceName"] == "nats"
    assert spec["podManagementPolicy"] == "Parallel"
    assert spec["volumeClaimTemplates"][0]["metadata"]["name"] == "data"
    container = spec["template"]["spec"]["containers"][0]
    assert {p["name"]: p["containerPort"] for p in container["ports"]} == PORTS
    for probe in ("startupProbe", "livenessProbe", "readinessProbe"):
        get = container[probe]["httpGet"]
        assert get["port"] == "monitor" and get["path"].startswith("/healthz"), probe
    headless = one("Service", "nats")
    assert headless["spec"]["clusterIP"] == "None"
    assert headless["spec"]["publishNotReadyAddresses"] is True
    assert {p["name"]: p["port"] for p in headless["spec"]["ports"]} == PORTS
    conf = nats_conf()
    for name, port in PORTS.items():
        if name != "client":
            assert f"0.0.0.0:{port}" in conf, name
    assert '"/data/jetstream"' in conf and "/data" in str(container["volumeMounts"])
    claim = spec["volumeClaimTemplates"][0]["spec"]["resources"]["requests"]["storage"]
    max_file_store = int(re.search(r"max_file_store: (\d+)", conf).group(1))  # type: ignore[union-attr]
    assert int(claim.removesuffix("Gi")) * 1024**3 > max_file_store


def test_hazmon_services_use_the_cluster_and_are_probed_where_they_serve() -> None:
    for name, command in (("hazmon-ingest", "ingest"), ("hazmon-alarms", "alarms"),
                          ("hazmon-api", "api")):  # fmt: skip
        pod = one("Deployment", name)["spec"]["template"]["spec"]
        container = pod["containers"][0]
        args = container["args"]
        assert args[0] == command
        assert f"--broker={BROKER}" in args
        http_port = int(next(a for a in args if a.startswith("--http=")).rsplit(":", 1)[1])
        assert container["ports"] == [{"name": "http", "containerPort": http_port}]
        assert container["readinessProbe"]["httpGet"] == {"path": "/health", "port": "http"}
        assert container["livenessProbe"]["httpGet"]["port"] == "http"
        assert {"cpu", "memory"} <= container["resources"]["requests"].keys()
        env = {e["name"]: e.get("value") for e in container["env"]}
        assert env["HAZMON_MQTT_USERNAME"] == name  # a user `hazmon cluster-config` makes
        secret = next(v for v in pod["volumes"] if v["name"] == "nats-user")["secret"]
        assert [i["key"] for i in secret["items"]] == [name]  # its own password only
        assert pod["securityContext"]["runAsNonRoot"] is True


def test_the_chain_watch_runs_apart_from_the_alarm_workers_on_the_cluster() -> None:
    pod = one("Deployment", "hazmon-watch")["spec"]["template"]["spec"]
    container = pod["containers"][0]
    args = container["args"]
    assert args[0] == "watch" and f"--broker={BROKER}" in args
    env = {e["name"]: e.get("value") for e in container["env"]}
    assert env["HAZMON_MQTT_USERNAME"] == "hazmon-alarms"  # it puts canaries into partitions
    assert container["readinessProbe"]["httpGet"]["path"] == "/health"
    assert container["livenessProbe"]["httpGet"]["path"] == "/metrics"  # dead chain: no restart
    avoid = pod["affinity"]["podAntiAffinity"]["preferredDuringSchedulingIgnoredDuringExecution"]
    assert avoid[0]["podAffinityTerm"]["labelSelector"]["matchLabels"] == {
        "app.kubernetes.io/name": "hazmon-alarms"}


def test_the_configmap_matches_a_generated_node_and_nats_server_accepts_it(
    tmp_path: Path,
) -> None:
    """The Secret's files as cluster-config writes them for the pods' names, beside the
    ConfigMap's nats.conf as the pod mounts them (/etc/nats, /etc/nats/auth)."""
    plan = plan_cluster(default_registry(), parse_nodes(NODES))
    generated = tmp_path / "generated"
    write_cluster_config(plan, generated, bind="0.0.0.0", store_dir="/data")
    node = (generated / "node-1.conf").read_text()
    conf = nats_conf()
    for key in ("max_payload", "max_file_store", "max_memory_store", "stream_replicas",
                "name"):  # fmt: skip
        ours = re.search(rf"^\s*{key}: (.+)$", conf, re.M)
        theirs = re.search(rf"^\s*{key}: (.+)$", node, re.M)
        assert ours and theirs and ours.group(1) == theirs.group(1), key
    assert "routes" in (generated / CLUSTER_AUTH_NAME).read_text()
    etc = tmp_path / "etc-nats"
    (etc / "auth").mkdir(parents=True)
    (etc / "nats.conf").write_text(conf)
    for name in (AUTH_NAME, CLUSTER_AUTH_NAME):
        (etc / "auth" / name).write_text((generated / name).read_text())
    done = subprocess.run(
        [str(NATS_SERVER_BIN), "-t", "-c", str(etc / "nats.conf")],
        capture_output=True, text=True, timeout=30, check=False,
        env={**os.environ, "POD_NAME": "nats-0"},
    )  # fmt: skip
    assert done.returncode == 0, done.stderr + done.stdout
