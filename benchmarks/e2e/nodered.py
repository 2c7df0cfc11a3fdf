"""The Node-RED peer: installed into a cache folder, run on the benchmark's servers.

`benchmarks/nodered/package.json` pins node-red and node-red-contrib-influxdb. They are
installed with npm into `~/.cache/hazmon-bench/nodered/<hash of package.json>/` (never
into the repo), once per package.json. Each run gets a fresh user folder in a temp
directory with:

- `flows.json`: a copy of `benchmarks/nodered/flow.json` (mqtt in -> function ->
  influxdb batch); its addresses are `${BENCH_*}` environment variables, which
  Node-RED substitutes when it loads the flow;
- `settings.js`: no editor, no admin API, no HTTP nodes (`httpAdminRoot` and
  `httpNodeRoot` false), no update or telemetry checks, and the sensor -> kind map
  the function node reads from the global context;
- `node_modules`: a link to the cached install, so the influxdb nodes are found.

Nothing in Node-RED or its nodes is tuned: broker node defaults of the editor (MQTT
3.1.1, clean session, keepalive 60 s), QoS 1, influxdb batch node with precision ms.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import tempfile
from collections.abc import Mapping
from pathlib import Path

from benchmarks.e2e.procs import Child

NODERED_DIR = Path(__file__).parents[1] / "nodered"
PACKAGE_JSON = NODERED_DIR / "package.json"
FLOW_JSON = NODERED_DIR / "flow.json"
CACHE_ROOT = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "hazmon-bench"
INSTALL_TIMEOUT_S = 600.0


class NodeRedError(RuntimeError):
    """Node-RED could not be installed or started."""


def install_dir() -> Path:
    digest = hashlib.sha256(PACKAGE_JSON.read_bytes()).hexdigest()[:16]
    return CACHE_ROOT / "nodered" / digest


def install(*, log: Path | None = None) -> Path:
    """Install the pinned packages (once per package.json) and return the folder."""
    target = install_dir()
    stamp = target / ".installed"
    if stamp.exists():
        return target
    npm = shutil.which("npm")
    if npm is None:
        raise NodeRedError("npm not found: install Node.js 18.5+ and npm (Debian: nodejs npm)")
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix="install-", dir=target.parent))
    shutil.copy(PACKAGE_JSON, staging / "package.json")
    result = subprocess.run(
        [npm, "install", "--no-audit", "--no-fund", "--omit=dev", "--loglevel=error"],
        cwd=staging,
        capture_output=True,
        text=True,
        timeout=INSTALL_TIMEOUT_S,
        check=False,
    )
    if log is not None:
        log.write_text(result.stdout + result.stderr)
    if result.returncode != 0:
        shutil.rmtree(staging, ignore_errors=True)
        raise NodeRedError(f"npm install failed ({result.returncode}):\n{result.stderr[-2000:]}")
    shutil.rmtree(target, ignore_errors=True)
    staging.rename(target)
    stamp.write_text("ok\n")
    return target


def versions(target: Path) -> dict[str, str]:
    """Installed versions of node-red and node-red-contrib-influxdb, and of Node.js."""
    out: dict[str, str] = {}
    for name in ("node-red", "node-red-contrib-influxdb"):
        meta = json.loads((target / "node_modules" / name / "package.json").read_text())
        out[name] = str(meta["version"])
    node = shutil.which("node") or "node"
    out["node"] = subprocess.run(
        [node, "--version"], capture_output=True, text=True, check=True
    ).stdout.strip()
    return out


def _settings_js(user_dir: Path, kinds_file: Path) -> str:
    return f"""\
// Written by benchmarks/e2e/nodered.py for one benchmark run.
module.exports = {{
    userDir: {json.dumps(str(user_dir))},
    flowFile: "flows.json",
    flowFilePretty: true,
    credentialSecret: false,
    uiHost: "127.0.0.1",
    httpAdminRoot: false,
    httpNodeRoot: false,
    disableEditor: true,
    externalModules: {{ autoInstall: false }},
    diagnostics: {{ enabled: false }},
    telemetry: {{ enabled: false, updateNotification: false }},
    editorTheme: {{ projects: {{ enabled: false }} }},
    functionGlobalContext: {{
        sensorKinds: JSON.parse(require("fs").readFileSync({json.dumps(str(kinds_file))}, "utf8"))
    }},
    logging: {{ console: {{ level: "info", metrics: false, audit: false }} }}
}};
"""


class NodeRed:
    """One Node-RED process running the benchmark flow."""

    def __init__(
        self,
        *,
        install_path: Path,
        work_dir: Path,
        mqtt_host: str,
        mqtt_port: int,
        influx_host: str,
        influx_port: int,
        database: str,
        sensor_kinds: Mapping[str, str],
    ) -> None:
        self.user_dir = work_dir / "nodered-user"
        self.user_dir.mkdir(parents=True, exist_ok=True)
        kinds_file = self.user_dir / "sensor-kinds.json"
        kinds_file.write_text(json.dumps(dict(sensor_kinds)))
        (self.user_dir / "settings.js").write_text(_settings_js(self.user_dir, kinds_file))
        shutil.copy(FLOW_JSON, self.user_dir / "flows.json")
        link = self.user_dir / "node_modules"
        if not link.exists():
            link.symlink_to(install_path / "node_modules", target_is_directory=True)
        node = shutil.which("node")
        if node is None:
            raise NodeRedError("node not found: install Node.js 18.5+")
        red_js = install_path / "node_modules" / "node-red" / "red.js"
        self.child = Child(
            "node-red",
            [node, str(red_js), "--settings", str(self.user_dir / "settings.js"),
             "--userDir", str(self.user_dir)],
            log_path=work_dir / "node-red.log",
            env={
                "BENCH_MQTT_HOST": mqtt_host,
                "BENCH_MQTT_PORT": str(mqtt_port),
                "BENCH_INFLUX_HOST": influx_host,
                "BENCH_INFLUX_PORT": str(influx_port),
                "BENCH_INFLUX_DB": database,
                "NODE_ENV": "production",
            },
            cwd=self.user_dir,
        )
        self._log_offset = 0
        self._errors: list[str] = []

    @property
    def pid(self) -> int:
        return self.child.pid

    def start(self) -> None:
        self.child.start()

    def stop(self) -> None:
        self.child.stop()

    def connected(self) -> bool:
        """Whether the log says the flow started and the broker node connected."""
        text = self.child.log_text()
        return "Started flows" in text and "Connected to broker" in text

    def errors(self) -> list[str]:
        """The `[error]` lines logged so far (the influxdb node logs each failed write:
        that message's readings are dropped). Read incrementally."""
        try:
            with open(self.child.log_path, "rb") as log:
                log.seek(self._log_offset)
                chunk = log.read()
        except OSError:
            return self._errors
        end = chunk.rfind(b"\n") + 1
        self._log_offset += end
        for line in chunk[:end].decode(errors="replace").splitlines():
            if "[error]" in line:
                self._errors.append(line)
        return self._errors
