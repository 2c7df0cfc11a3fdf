"""The embedded MQTT broker of `hazmon up` / `hazmon demo` (when no `--broker` is given).

    async with embedded_broker(data_dir=Path("hazmon-data"), port=1883) as running:
        ... running.address ...      # BrokerAddress("127.0.0.1", 1883, tls=False)

Which broker, and why (docs/running.md has the long form):

1. Mosquitto, when its binary is installed (`/usr/sbin/mosquitto`, or `mosquitto` on
   PATH): a maintained, production broker. It speaks MQTT 5, keeps its queue on disk
   in the data folder (so a restart of hazmon loses nothing the broker accepted), and
   is configured with `max_queued_messages 100000` (its default of 1000 drops
   messages silently, docs/contract.md §2). It runs as a child process in its own session, so
   a Ctrl-C in the terminal reaches hazmon, which stops the broker last.
2. amqtt 0.12 otherwise (a pure-Python dependency, so `hazmon demo` works with nothing
   else installed). It speaks MQTT 3.1.1 only (hazmon's clients fall back), keeps
   everything in memory, queues without a bound (it never drops for a full queue),
   but gives up on a QoS 1 delivery that is not acknowledged within 5 s and keeps no
   messages for a disconnected anonymous client. That is enough for one process whose
   services stay connected, not for production: use Mosquitto (`hazmon
   broker-config`) there. It runs on its own thread and event loop, so that hazmon's
   own work never delays its acknowledgements.

Both listen on 127.0.0.1 only, without authentication.
"""

from __future__ import annotations

import shutil
import socket
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from hazmon.broker.errors import BrokerError
from hazmon.contract.settings import BrokerAddress

Kind = Literal["mosquitto", "amqtt"]
MOSQUITTO_PATHS = (Path("/usr/sbin/mosquitto"), Path("/usr/local/sbin/mosquitto"))


@dataclass(frozen=True, slots=True)
class RunningBroker:
    kind: Kind
    address: BrokerAddress

    @property
    def url(self) -> str:
        return f"mqtt://{self.address.host}:{self.address.port}"


def mosquitto_binary() -> Path | None:
    for path in MOSQUITTO_PATHS:
        if path.exists():
            return path
    found = shutil.which("mosquitto")
    return Path(found) if found else None


def port_is_free(host: str, port: int) -> bool:
    """Whether a server could listen on it now (connections of a previous run waiting
    in TIME_WAIT do not count: servers bind with SO_REUSEADDR, as Mosquitto does)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return False
        return True


def free_port(host: str) -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        port: int = sock.getsockname()[1]
        return port


def choose_port(host: str, port: int, *, or_any_free: bool) -> int:
    """`port` if free; else a free one when allowed, else BrokerError."""
    if port_is_free(host, port):
        return port
    if or_any_free:
        return free_port(host)
    raise BrokerError(
        f"{host}:{port} is in use: stop what holds it, or give --broker mqtt://HOST:PORT "
        "to use a broker that is already running"
    )


@asynccontextmanager
async def embedded_broker(
    *,
    data_dir: Path,
    host: str = "127.0.0.1",
    port: int = 1883,
    or_any_free_port: bool = False,
    kind: Kind | None = None,
) -> AsyncIterator[RunningBroker]:
    """Start a broker (Mosquitto if installed, else amqtt) and stop it on exit."""
    chosen = choose_port(host, port, or_any_free=or_any_free_port)
    binary = mosquitto_binary()
    use = kind or ("mosquitto" if binary else "amqtt")
    address = BrokerAddress(host, chosen, tls=False)
    folder = data_dir / "broker"
    folder.mkdir(parents=True, exist_ok=True)
    if use == "mosquitto":
        if binary is None:
            raise BrokerError("Mosquitto is not installed (Debian package `mosquitto`)")
        from hazmon.broker.mosquitto import run_mosquitto

        async with run_mosquitto(binary, address, folder):
            yield RunningBroker("mosquitto", address)
    else:
        from hazmon.broker.amqtt_broker import run_amqtt

        async with run_amqtt(address):
            yield RunningBroker("amqtt", address)


__all__ = [
    "BrokerError",
    "RunningBroker",
    "choose_port",
    "embedded_broker",
    "free_port",
    "mosquitto_binary",
    "port_is_free",
]
