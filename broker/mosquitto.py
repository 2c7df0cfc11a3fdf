"""Mosquitto as a child process, configured for hazmon (see broker/__init__.py)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import pwd
import signal
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from hazmon.broker.errors import BrokerError
from hazmon.contract.settings import BrokerAddress

log = logging.getLogger(__name__)

START_TIMEOUT_S = 15.0
STOP_TIMEOUT_S = 15.0


def write_config(address: BrokerAddress, folder: Path) -> Path:
    """mosquitto.conf for a loopback broker with its queue on disk in `folder`."""
    lines = [
        "# written by `hazmon up`: the embedded broker (loopback only, anonymous)",
        f"listener {address.port} {address.host}",
        "allow_anonymous true",
        "# Mosquitto's default of 1000 drops messages silently (docs/contract.md §2)",
        "max_queued_messages 100000",
        "# alarm events go out at once, not after the previous segment's TCP ACK",
        "set_tcp_nodelay true",
        "persistence true",
        f"persistence_location {folder}/",
        "autosave_interval 60",
        f"log_dest file {folder / 'mosquitto.log'}",
    ]
    if os.geteuid() == 0:
        # Started as root, Mosquitto would drop to the `mosquitto` user, which cannot
        # write this folder: stay the user that owns it.
        lines.append(f"user {pwd.getpwuid(os.geteuid()).pw_name}")
    config = folder / "mosquitto.conf"
    config.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return config


async def _accepts(address: BrokerAddress) -> bool:
    try:
        _, writer = await asyncio.open_connection(address.host, address.port)
    except OSError:
        return False
    writer.close()
    with contextlib.suppress(OSError):
        await writer.wait_closed()
    return True


def _log_tail(folder: Path, lines: int = 15) -> str:
    try:
        text = (folder / "mosquitto.log").read_text(errors="replace")
    except OSError:
        return "(no log)"
    return "\n".join(text.splitlines()[-lines:])


async def _wait_ready(
    proc: asyncio.subprocess.Process, address: BrokerAddress, folder: Path
) -> None:
    async with asyncio.timeout(START_TIMEOUT_S):
        while not await _accepts(address):
            if proc.returncode is not None:
                raise BrokerError(
                    f"Mosquitto exited with code {proc.returncode}:\n{_log_tail(folder)}"
                )
            await asyncio.sleep(0.05)


async def _stop(proc: asyncio.subprocess.Process) -> None:
    if proc.returncode is not None:
        return
    proc.send_signal(signal.SIGTERM)  # Mosquitto saves its persistence file on SIGTERM
    try:
        async with asyncio.timeout(STOP_TIMEOUT_S):
            await proc.wait()
    except TimeoutError:
        log.warning("Mosquitto did not stop in %.0f s; killing it", STOP_TIMEOUT_S)
        proc.kill()
        await proc.wait()


@asynccontextmanager
async def run_mosquitto(
    binary: Path, address: BrokerAddress, folder: Path
) -> AsyncIterator[asyncio.subprocess.Process]:
    config = write_config(address, folder)
    proc = await asyncio.create_subprocess_exec(
        str(binary),
        "-c",
        str(config),
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.DEVNULL,
        start_new_session=True,  # a terminal's Ctrl-C reaches hazmon, not the broker
    )
    try:
        await _wait_ready(proc, address, folder)
        log.info("embedded Mosquitto (pid %d) on %s:%d", proc.pid, address.host, address.port)
        yield proc
    finally:
        await _stop(proc)
