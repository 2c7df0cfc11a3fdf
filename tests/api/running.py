"""`hazmon` commands as child processes, for the browser and demo tests."""

from __future__ import annotations

import os
import resource
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import orjson
import paho.mqtt.client as paho
from paho.mqtt.enums import CallbackAPIVersion

from hazmon.testing.servers import Mosquitto

HAZMON = Path(sys.executable).parent / "hazmon"
ROOT = Path(__file__).parents[2]
ARTIFACTS = ROOT / "test-artifacts"


class Hazmon:
    """`hazmon ARGS...` with its output in a file; `stop()` sends SIGTERM.

    `nofile` caps the process's open files (soft and hard limit, so that it cannot
    raise them), as a systemd `LimitNOFILE=` would; `verify` is what httpx checks an
    HTTPS server's certificate against (with `scheme="https"`)."""

    def __init__(
        self, *args: str, http: str, log: Path, env: dict[str, str] | None = None,
        nofile: int | None = None, scheme: str = "http", verify: Any = True,
    ):
        self.base_url = f"{scheme}://{http}"
        self.log = log
        self.argv = [str(HAZMON), *args, "--http", http]
        self.env = {**os.environ, **(env or {})}
        self.nofile = nofile
        self.verify = verify
        self.proc = self._spawn()

    def _limits(self) -> None:
        if self.nofile is not None:
            resource.setrlimit(resource.RLIMIT_NOFILE, (self.nofile, self.nofile))

    def _spawn(self) -> subprocess.Popen[bytes]:
        with open(self.log, "ab") as out:
            return subprocess.Popen(
                self.argv, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
                cwd=ROOT, env=self.env, preexec_fn=self._limits if self.nofile else None,
            )

    def restart(self) -> None:
        """Stop (if running) and start the same command again, same data and port."""
        self.stop()
        self.log.write_bytes(b"")
        self.proc = self._spawn()

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def wait_serving(self, timeout_s: float = 60.0) -> None:
        """Until the console is announced and /health answers ok."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError(f"hazmon exited {self.proc.returncode}:\n{self.output()}")
            if "hazmon console:" in self.output():
                try:
                    health = httpx.get(f"{self.base_url}/health", timeout=2, verify=self.verify)
                    if health.json()["status"] == "ok":
                        return
                except httpx.HTTPError:
                    pass
            time.sleep(0.2)
        raise AssertionError(f"hazmon did not serve in {timeout_s:.0f} s:\n{self.output()}")

    def get(self, path: str, token: str, **params: Any) -> Any:
        response = httpx.get(f"{self.base_url}{path}", params=params, timeout=10,
                             headers={"Authorization": f"Bearer {token}"}, verify=self.verify)
        response.raise_for_status()
        return response.json()

    def stop(self, timeout_s: float = 30.0) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout_s)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
                raise AssertionError(f"hazmon did not stop on SIGTERM:\n{self.output()}") from None
        return self.proc.returncode


def publish_reading(broker: Mosquitto, site: str, value: float, *, sensor: str = "GT-1",
                    seq: int = 0) -> None:
    """One reading of `sensor` on gateway gw-1 of `site`, stamped now, as a gateway
    publishes it (QoS 1, confirmed)."""
    client = paho.Client(CallbackAPIVersion.VERSION2, protocol=paho.MQTTv311)
    client.connect(broker.host, broker.port)
    client.loop_start()
    try:
        batch = {"boot": 1, "seq": seq, "readings": [
            {"sensor": sensor, "ts_ms": time.time_ns() // 1_000_000, "value": value}]}
        topic = f"hazmon/v1/{site}/gw-1/telemetry"
        client.publish(topic, orjson.dumps(batch), qos=1).wait_for_publish(5)
    finally:
        client.disconnect()
        client.loop_stop()
