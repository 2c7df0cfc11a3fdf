"""The two systems under test, behind one small interface.

- `Hazmon`: `hazmon ingest` and `hazmon alarms` as two processes, as deployed, each
  with its own data folder, on the benchmark's broker and database.
- `NodeRedPeer`: the Node-RED flow of `benchmarks/nodered/`;
- `HazmonJetStream` (jetstream.py): the same services on a nats-server, with N alarm
  workers.

Both are started per case on a fresh database and stopped at its end. hazmon's
services keep a broker session for 300 s after they stop (docs/contract.md §2); so that it
does not collect the next system's load, the runner ends those sessions
(`end_sessions`, a clean start with the same client id), and removes the journal
anchor the alarm service left retained (`clear_retained`): the next case starts a fresh
journal.
"""

from __future__ import annotations

import shutil
import sys
import time
import uuid
from pathlib import Path
from typing import Protocol

import httpx

from benchmarks.e2e import nodered
from benchmarks.e2e.plant import Plant
from benchmarks.e2e.procs import Child
from hazmon.testing.servers import free_port


class SystemUnderTestError(RuntimeError):
    """A system under test did not start or died."""


class System(Protocol):
    name: str
    evaluates_alarms: bool  # its alarm events are measured (latency, evaluated/s)

    def start(self, database: str, work_dir: Path) -> None: ...

    def ready(self) -> bool: ...

    def failure(self) -> str | None: ...

    def pids(self) -> dict[str, int]: ...

    def stop(self) -> None: ...

    def errors(self) -> list[str]:
        """Error lines the system logged so far."""
        ...

    def dropped_readings(self, per_message: int) -> int:
        """Readings the system says it dropped so far (0 if it never drops)."""
        ...


def hazmon_command() -> list[str]:
    """`hazmon` of this checkout's virtualenv (or the one on PATH)."""
    local = Path(sys.executable).with_name("hazmon")
    if local.exists():
        return [str(local)]
    found = shutil.which("hazmon")
    if found is None:
        raise SystemUnderTestError("the `hazmon` command is not installed (pip install -e .)")
    return [found]


def missing_hazmon_commands() -> list[str]:
    """Which of `hazmon ingest` / `hazmon alarms` this checkout does not have yet."""
    import subprocess

    missing = []
    for command in ("ingest", "alarms"):
        result = subprocess.run(
            [*hazmon_command(), command, "--help"], capture_output=True, text=True, check=False
        )
        if result.returncode != 0:
            missing.append(f"hazmon {command}")
    return missing


class Hazmon:
    name = "hazmon"
    evaluates_alarms = True

    def __init__(self, *, registry: Path, broker_url: str, influx_url: str) -> None:
        self.registry = registry
        self.broker_url = broker_url
        self.influx_url = influx_url
        self.ingest: Child | None = None
        self.alarms: Child | None = None
        self.http_port = 0
        self.ingest_http_port = 0
        self.data: dict[str, Path] = {}

    def start(self, database: str, work_dir: Path) -> None:
        command = hazmon_command()
        self.http_port = free_port()
        self.ingest_http_port = free_port()
        self.data = {role: work_dir / f"hazmon-{role}" for role in ("ingest", "alarms")}
        common = [
            "--config", str(self.registry), "--broker", self.broker_url,
            "--influx", f"{self.influx_url}/{database}",
        ]
        env = {"PYTHONUNBUFFERED": "1"}
        self.ingest = Child(
            "ingest",
            [*command, "ingest", *common, "--data", str(self.data["ingest"]),
             "--http", f"127.0.0.1:{self.ingest_http_port}"],
            log_path=work_dir / "hazmon-ingest.log",
            env=env,
        )
        self.alarms = Child(
            "alarms",
            [*command, "alarms", *common, "--data", str(self.data["alarms"]),
             "--http", f"127.0.0.1:{self.http_port}"],
            log_path=work_dir / "hazmon-alarms.log",
            env=env,
        )
        self.ingest.start()
        self.alarms.start()

    def ready(self) -> bool:
        """Both services answer /health (the probe proves the rest)."""
        for port in (self.ingest_http_port, self.http_port):
            try:
                response = httpx.get(f"http://127.0.0.1:{port}/health", timeout=1.0)
            except httpx.HTTPError:
                return False
            if response.status_code != 200:
                return False
        return True

    def failure(self) -> str | None:
        for child in (self.ingest, self.alarms):
            if child is not None and not child.running:
                return f"hazmon {child.name} exited:\n{child.log_tail()}"
        return None

    def pids(self) -> dict[str, int]:
        return {
            f"hazmon {c.name}": c.pid for c in (self.ingest, self.alarms) if c is not None
        }

    def stop(self) -> None:
        for child in (self.ingest, self.alarms):
            if child is not None:
                child.stop()

    def client_ids(self) -> list[str]:
        ids = []
        for folder in self.data.values():
            ids += [p.read_text().strip() for p in folder.glob("*.client-id")]
        return ids

    def errors(self) -> list[str]:
        lines: list[str] = []
        for child in (self.ingest, self.alarms):
            if child is not None:
                lines += [
                    f"{child.name}: {line}"
                    for line in child.log_text().splitlines()
                    if " ERROR " in line or " WARNING " in line or "Traceback" in line
                ]
        return lines

    def dropped_readings(self, per_message: int) -> int:
        return 0


class NodeRedPeer:
    name = "node-red"
    evaluates_alarms = False

    def __init__(
        self, *, install_path: Path, plant: Plant, mqtt: tuple[str, int], influx: tuple[str, int]
    ) -> None:
        self.install_path = install_path
        self.plant = plant
        self.mqtt = mqtt
        self.influx = influx
        self.flow: nodered.NodeRed | None = None

    def start(self, database: str, work_dir: Path) -> None:
        self.flow = nodered.NodeRed(
            install_path=self.install_path,
            work_dir=work_dir,
            mqtt_host=self.mqtt[0],
            mqtt_port=self.mqtt[1],
            influx_host=self.influx[0],
            influx_port=self.influx[1],
            database=database,
            sensor_kinds=self.plant.sensor_kinds(),
        )
        self.flow.start()

    def ready(self) -> bool:
        return self.flow is not None and self.flow.connected()

    def failure(self) -> str | None:
        if self.flow is not None and not self.flow.child.running:
            return f"node-red exited:\n{self.flow.child.log_tail()}"
        return None

    def pids(self) -> dict[str, int]:
        return {"node-red": self.flow.pid} if self.flow is not None else {}

    def stop(self) -> None:
        if self.flow is not None:
            self.flow.stop()

    def errors(self) -> list[str]:
        """Errors Node-RED logged (each is a message the influxdb node dropped)."""
        return self.flow.errors() if self.flow is not None else []

    def dropped_readings(self, per_message: int) -> int:
        return len(self.errors()) * per_message


def end_sessions(host: str, port: int, client_ids: list[str]) -> None:
    """End the broker sessions of stopped clients (MQTT 5 clean start, expiry 0)."""
    import paho.mqtt.client as paho
    from paho.mqtt.enums import CallbackAPIVersion
    from paho.mqtt.packettypes import PacketTypes
    from paho.mqtt.properties import Properties

    for client_id in client_ids:
        client = paho.Client(
            CallbackAPIVersion.VERSION2, client_id=client_id, protocol=paho.MQTTv5
        )
        props = Properties(PacketTypes.CONNECT)  # type: ignore[no-untyped-call]
        props.SessionExpiryInterval = 0
        try:
            client.connect(host, port, clean_start=True, properties=props)
        except OSError:
            continue
        client.loop_start()
        deadline = time.monotonic() + 5
        while not client.is_connected() and time.monotonic() < deadline:
            time.sleep(0.02)
        client.disconnect()
        client.loop_stop()


def clear_retained(host: str, port: int, topics: list[str]) -> None:
    """Remove retained messages (an empty retained publish each): the journal anchor a
    stopped alarm service left on the broker would make the next case's alarm service,
    with a fresh journal, refuse to start (docs/alarms.md, the journal's anchors)."""
    import paho.mqtt.client as paho
    from paho.mqtt.enums import CallbackAPIVersion

    client = paho.Client(
        CallbackAPIVersion.VERSION2,
        client_id=f"bench-clear-{uuid.uuid4().hex[:8]}",
        protocol=paho.MQTTv311,
    )
    client.connect(host, port)
    client.loop_start()
    try:
        for topic in topics:
            client.publish(topic, b"", qos=1, retain=True).wait_for_publish(5)
    finally:
        client.disconnect()
        client.loop_stop()


def unique_database(system: str, case: str) -> str:
    return f"bench_{system.replace('-', '')}_{case}_{uuid.uuid4().hex[:6]}"
