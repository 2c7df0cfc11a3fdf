"""amqtt 0.12 on a thread of its own (see broker/__init__.py for when and why)."""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from broker.errors import BrokerError
from hazmon.settings import BrokerAddress

log = logging.getLogger(__name__)

START_TIMEOUT_S = 15.0
STOP_TIMEOUT_S = 15.0


def amqtt_config(address: BrokerAddress) -> dict[str, Any]:
    """Loopback, anonymous; no packet logging (it costs CPU per message) and no $SYS."""
    return {
        "listeners": {
            "default": {"type": "tcp", "bind": f"{address.host}:{address.port}"},
        },
        "plugins": {
            "amqtt.plugins.authentication.AnonymousAuthPlugin": {"allow_anonymous": True},
        },
    }


class AmqttThread:
    """An amqtt Broker served by its own event loop on a daemon thread."""

    def __init__(self, address: BrokerAddress) -> None:
        self.address = address
        self.error: BaseException | None = None
        self._loop = asyncio.new_event_loop()
        self._started = threading.Event()
        self._thread = threading.Thread(target=self._run, name="embedded-amqtt", daemon=True)

    def _run(self) -> None:
        from amqtt.broker import Broker

        asyncio.set_event_loop(self._loop)
        broker: Broker | None = None

        async def start() -> Broker:
            started = Broker(amqtt_config(self.address))
            await started.start()
            return started

        try:
            broker = self._loop.run_until_complete(start())
        except BaseException as exc:  # reported to the starting thread
            self.error = exc
        self._started.set()
        if broker is not None:
            self._loop.run_forever()
            self._loop.run_until_complete(broker.shutdown())
        for task in asyncio.all_tasks(self._loop):
            task.cancel()
        self._loop.run_until_complete(asyncio.sleep(0))
        self._loop.close()

    def start(self) -> None:
        self._thread.start()
        if not self._started.wait(START_TIMEOUT_S):
            raise BrokerError("amqtt did not start in time")
        if self.error is not None:
            raise BrokerError(f"amqtt could not start: {self.error}") from self.error

    def stop(self) -> None:
        if self._thread.is_alive():
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(STOP_TIMEOUT_S)


@asynccontextmanager
async def run_amqtt(address: BrokerAddress) -> AsyncIterator[AmqttThread]:
    for noisy in ("amqtt", "transitions"):  # amqtt's state machines log every step at INFO
        logging.getLogger(noisy).setLevel(logging.WARNING)
    server = AmqttThread(address)
    await asyncio.to_thread(server.start)
    log.info("embedded amqtt broker on %s:%d (MQTT 3.1.1)", address.host, address.port)
    try:
        yield server
    finally:
        await asyncio.to_thread(server.stop)
