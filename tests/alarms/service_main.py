"""Run an AlarmService in its own process, for the restart tests (killed with SIGKILL).

    python -m tests.alarms.service_main REGISTRY.yaml BROKER_URL DATA_DIR

Prints READY once subscribed; stops cleanly on SIGTERM.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import sys
from pathlib import Path

from hazmon.alarms.service import AlarmService, Timing
from hazmon.contract.config import load_registry
from hazmon.contract.settings import Settings, parse_broker_url
from hazmon.stores.memory import MemoryStore


async def main(registry_file: str, broker_url: str, data_dir: str) -> None:
    service = AlarmService(
        registry=load_registry(registry_file),
        broker=parse_broker_url(broker_url),
        settings=Settings(),
        store=MemoryStore(),
        data_dir=Path(data_dir),
        timing=Timing(tick_s=0.1, outbox_sweep_s=0.5),
    )
    ready = asyncio.Event()
    task = asyncio.create_task(service.run(ready=ready))
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, task.cancel)
    waiter = asyncio.create_task(ready.wait())
    await asyncio.wait([task, waiter], return_when=asyncio.FIRST_COMPLETED)
    if ready.is_set():
        print("READY", flush=True)
    with contextlib.suppress(asyncio.CancelledError):
        await task
    service.close()


if __name__ == "__main__":
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
    asyncio.run(main(*sys.argv[1:4]))
