"""amqtt 0.12 on a thread of its own (see broker/__init__.py for when and why).

hazmon's clients speak MQTT 3.1.1 to it from their first CONNECT (amqtt never answers
an MQTT 5 one). A client that closes its connection while amqtt is still handling it
(a CONNECT it refuses, a probe that gave up, a shutdown) makes amqtt raise OSError 107
(ENOTCONN) or a reset inside its own tasks, which asyncio would log as ERROR with a
traceback ("Task exception was never retrieved", "Unhandled exception in
client_connected_cb"): those are logged at DEBUG, in one line. So is amqtt's own
ERROR for a connection that closed before its first packet ("No data from ..."): a TCP
check of the port, such as the /health endpoint's. Any other error is reported as is.
"""

from __future__ import annotations

import asyncio
import errno
import logging
import threading
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from typing import Any

from hazmon.broker.errors import BrokerError
from hazmon.bus.mqtt import MQTT_V311, remember_protocol
from hazmon.contract.settings import BrokerAddress

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


# The errors of a connection its client closed first: nothing is wrong with the broker.
_CLOSED_BY_PEER = {errno.ENOTCONN, errno.ECONNRESET, errno.EPIPE, errno.EBADF}


def closed_by_peer(exc: BaseException | None) -> bool:
    if isinstance(exc, OSError) and exc.errno in _CLOSED_BY_PEER:
        return True
    return isinstance(exc, ConnectionError | asyncio.IncompleteReadError)


def quiet_closed_connections(loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
    """The amqtt loop's exception handler: a connection its client closed is no error."""
    exc = context.get("exception")
    if closed_by_peer(exc):
        log.debug("amqtt: a client's connection was closed while amqtt handled it (%s: %s)",
                  context.get("message", ""), exc)
        return
    loop.default_exception_handler(context)



class SnapshotSubscriptions(dict[str, Any]):
    """A dict whose iteration goes over a copy of its keys: safe while it changes."""

    def __iter__(self) -> Iterator[str]:
        return iter(list(super().keys()))

class QuietEmptyConnections(logging.Filter):
    """amqtt logs a connection closed before its first packet as ERROR and WARNING:
    DEBUG here."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        if record.levelno >= logging.WARNING and (
            message.startswith("No data from") or "No data to decode MQTT packet" in message
        ):
            log.debug("amqtt: %s", message)
            return False
        return True


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
        self._loop.set_exception_handler(quiet_closed_connections)
        broker: Broker | None = None

        class ClosingBroker(Broker):  # type: ignore[misc]  # amqtt ships no types
            """amqtt leaves the socket of a connection its client closed first open, for
            the garbage collector to find (ResourceWarning: unclosed transport): closed
            here once amqtt is done with it. And amqtt 0.12.1 iterates its subscriptions
            while it awaits, so a client subscribing meanwhile ended another's
            connection ("dictionary changed size during iteration"): it iterates a copy
            here (`SnapshotSubscriptions`)."""

            def __init__(self, *args: Any, **kwargs: Any) -> None:
                super().__init__(*args, **kwargs)
                made: dict[str, Any] = getattr(self, "_subscriptions")  # noqa: B009
                setattr(self, "_subscriptions", SnapshotSubscriptions(made))  # noqa: B010

            async def stream_connected(
                self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter,
                listener_name: str,
            ) -> None:
                try:
                    await super().stream_connected(reader, writer, listener_name)
                finally:
                    writer.close()

        async def start() -> Broker:
            started = ClosingBroker(amqtt_config(self.address))
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
    broker_log = logging.getLogger("amqtt.broker")
    if not any(isinstance(f, QuietEmptyConnections) for f in broker_log.filters):
        broker_log.addFilter(QuietEmptyConnections())
    server = AmqttThread(address)
    await asyncio.to_thread(server.start)
    remember_protocol(address.host, address.port, MQTT_V311)
    log.info("embedded amqtt broker on %s:%d (MQTT 3.1.1)", address.host, address.port)
    try:
        yield server
    finally:
        await asyncio.to_thread(server.stop)
