"""paho-mqtt's network thread, bridged into asyncio for the alarm service.

- Callbacks are in place before CONNECT, so the messages a persistent session holds
  (delivered right after CONNACK) are not lost; every (re)connect subscribes again.
- paho reads the socket in chunks and QoS 0/1 PUBLISH packets are parsed without
  MQTT 5 properties (`hazmon.fastpaho`, as ingest does); paho's own `on_message`
  stays as the fall-back for anything else.
- On paho's thread each message is appended to a pending list; after each read of
  the socket (`loop_read`) the whole list goes to the event loop in one
  `loop.call_soon_threadsafe`, not one call (and one wake-up of the loop) per message.
- Backpressure: at most `capacity` messages wait for the event loop (pending or handed
  over, not yet taken by `batch()`); beyond that paho's thread waits until `batch()`
  takes some (TCP backpressure to the broker) rather than the queue growing. `close()`
  wakes it.
- QoS 1 messages are acknowledged by the caller (`ack`), after what they caused is
  committed, the PUBACKs of a batch as one write; an ack for a message of an earlier
  connection is never sent (its `mid` means nothing on the new one; the broker sends
  the message again).
- MQTT 5 (session expiry, Receive Maximum 65535) with a fall back to 3.1.1.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections import deque
from collections.abc import Callable, Sequence
from typing import Any, NamedTuple

import paho.mqtt.client as paho
from paho.mqtt.enums import MQTTErrorCode

from hazmon.fastpaho import ack_many, buffer_reads, lean_publish
from hazmon.mqtt import (
    MQTT_V5,
    MqttError,
    MqttOptions,
    close_client,
    new_client,
    retry_connect,
    send_connect,
)

log = logging.getLogger(__name__)

ROOM_POLL_S = 0.5  # how often a paho thread waiting for room looks at `closing`


class Inbound(NamedTuple):
    topic: str
    payload: bytes
    mid: int
    qos: int
    generation: int  # which connection delivered it


class MqttLink:
    def __init__(
        self,
        opts: MqttOptions,
        *,
        topics: Sequence[str],
        loop: asyncio.AbstractEventLoop,
        capacity: int = 10_000,
        consumer: Callable[[list[Inbound]], None] | None = None,
    ) -> None:
        self.opts = opts
        self._consumer = consumer
        self.topics = list(topics)
        self.protocol: int = MQTT_V5
        self.capacity = capacity
        self._loop = loop
        self._subscribed = asyncio.Event()
        self._generation = 0
        self._connected = False
        self._ack_lock = threading.Lock()  # generation changes vs. acks queued
        self._closing = False
        self._client: paho.Client | None = None
        # paho's thread only
        self._pending: list[Inbound] = []
        # handed over, not yet taken by batch(): written under `_room`, read anywhere
        self._handed = 0
        self._room = threading.Condition(threading.Lock())
        # the event loop only
        self._ready: deque[Inbound] = deque()
        self._arrived = asyncio.Event()

    # -- connecting ------------------------------------------------------------------

    async def connect(self, *, attempts: int = 5, timeout_s: float = 10.0) -> None:
        await asyncio.to_thread(self._connect_blocking, attempts, timeout_s)

    def _connect_blocking(self, attempts: int, timeout_s: float) -> None:
        self.protocol = retry_connect(
            self.opts, lambda protocol: self._try(protocol, timeout_s), attempts=attempts
        )

    def _try(self, protocol: int, timeout_s: float) -> str:
        client = new_client(self.opts, protocol=protocol, manual_ack=True)
        first = threading.Event()
        outcome: dict[str, Any] = {}

        def on_connect(c: paho.Client, _u: Any, flags: Any, rc: Any, _p: Any = None) -> None:
            if not first.is_set():
                outcome["reason"] = "ok" if not rc.is_failure else str(rc)
                first.set()
            if not rc.is_failure:
                self._connected_now(c, flags)

        def on_disconnect(_c: paho.Client, _u: Any, _f: Any, rc: Any, _p: Any = None) -> None:
            with self._ack_lock:
                self._connected = False
            if not first.is_set():
                outcome["reason"] = f"closed before CONNACK ({rc})"
                first.set()
            elif not self._closing:
                log.warning("MQTT connection lost (%s); paho reconnects", rc)

        self._install_reads(client)
        client.on_connect = on_connect
        client.on_disconnect = on_disconnect
        client.on_message = self._on_message
        client.on_subscribe = self._on_subscribe
        unreachable = send_connect(client, self.opts, protocol)
        if unreachable is not None:
            return unreachable
        client.loop_start()
        if not first.wait(timeout_s):
            outcome["reason"] = "no CONNACK in time"
        if outcome.get("reason") == "ok":
            self._client = client
            return "ok"
        close_client(client)
        return str(outcome.get("reason", "refused"))

    def _install_reads(self, client: paho.Client) -> None:
        """Chunked reads, lean PUBLISH parsing, and one hand-over per socket read."""
        buffer_reads(client)
        lean_publish(client, self._deliver)
        read = client.loop_read

        def loop_read(max_packets: int = 1) -> MQTTErrorCode:
            try:
                return read(max_packets)
            finally:
                if self._pending:
                    if self._consumer is not None:
                        items, self._pending = self._pending, []
                        try:
                            self._consumer(items)
                        except Exception:  # not acknowledged: the broker sends them again
                            log.exception("could not process %d messages", len(items))
                    else:
                        self._hand_over()

        client.loop_read = loop_read  # type: ignore[method-assign]

    def _connected_now(self, client: paho.Client, flags: Any) -> None:
        with self._ack_lock:
            self._generation += 1
            self._connected = True
        client.subscribe([(topic, 1) for topic in self.topics])

    def _on_subscribe(
        self, _c: paho.Client, _u: Any, _mid: int, codes: list[Any], _p: Any = None
    ) -> None:
        failed = [str(c) for c in codes if getattr(c, "is_failure", False)]
        if failed:
            log.error("the broker refused subscriptions %s: %s", self.topics, failed)
            return
        self._call(self._subscribed.set)

    async def subscribed(self) -> None:
        """Returns once the broker acknowledged the subscriptions (SUBACK)."""
        await self._subscribed.wait()

    # -- receiving: paho's thread ----------------------------------------------------------

    def _call(self, fn: Any, *args: Any) -> bool:
        try:
            self._loop.call_soon_threadsafe(fn, *args)
        except RuntimeError:  # the loop is closed: we are shutting down
            return False
        return True

    def _deliver(self, topic: str, payload: bytes, mid: int, qos: int) -> None:
        if self._handed + len(self._pending) >= self.capacity and not self._wait_for_room():
            return  # closing: not acknowledged, so the broker keeps it
        self._pending.append(Inbound(topic, payload, mid, qos, self._generation))

    def _on_message(self, _c: paho.Client, _u: Any, msg: paho.MQTTMessage) -> None:
        """What paho decoded itself (what `lean_publish` passed on)."""
        try:
            topic = msg.topic
        except UnicodeDecodeError:
            topic = repr(bytes(msg._topic))
        self._deliver(topic, bytes(msg.payload), msg.mid, msg.qos)

    def _hand_over(self) -> None:
        items, self._pending = self._pending, []
        with self._room:
            self._handed += len(items)
        if not self._call(self._arrive, items):
            with self._room:
                self._handed -= len(items)

    def _wait_for_room(self) -> bool:
        """Hand over what is pending, then wait until `batch()` makes room; False when
        closing."""
        if self._pending:
            self._hand_over()
        with self._room:
            while self._handed >= self.capacity:
                if self._closing:
                    return False
                self._room.wait(ROOM_POLL_S)
        return not self._closing

    # -- receiving: the event loop -----------------------------------------------------

    def _arrive(self, items: list[Inbound]) -> None:
        self._ready.extend(items)
        self._arrived.set()

    def depth(self) -> int:
        """Messages received and not yet taken for evaluation."""
        return self._handed

    async def batch(self, max_items: int) -> list[Inbound]:
        """Wait for one message, then take what else is there, up to `max_items`."""
        ready = self._ready
        while not ready:
            self._arrived.clear()
            await self._arrived.wait()
        if len(ready) <= max_items:
            items = list(ready)
            ready.clear()
        else:
            items = [ready.popleft() for _ in range(max_items)]
        with self._room:
            self._handed -= len(items)
            self._room.notify_all()
        return items

    def ack(self, items: Sequence[Inbound]) -> None:
        client = self._client
        if client is None:
            return
        with self._ack_lock:
            if not self._connected:
                return
            current = self._generation
            # only this connection's: a mid of an earlier one means nothing on this one.
            # QoS 1 at most: the subscriptions are QoS 1, so the broker sends no QoS 2.
            ack_many(client, [i.mid for i in items if i.qos == 1 and i.generation == current])

    # -- sending ------------------------------------------------------------------------

    def publish(self, topic: str, payload: bytes, *, retain: bool = False) -> paho.MQTTMessageInfo:
        """Publish QoS 1 without waiting (paho sends it again after a reconnect)."""
        if self._client is None:
            raise MqttError("not connected")
        return self._client.publish(topic, payload, qos=1, retain=retain)

    async def publish_confirmed(
        self, topic: str, payload: bytes, *, retain: bool = False, timeout_s: float = 10.0
    ) -> None:
        """Publish QoS 1 and wait for the broker's PUBACK."""
        info = self.publish(topic, payload, retain=retain)
        await asyncio.to_thread(_wait_published, info, timeout_s)

    def close(self) -> None:
        self._closing = True
        with self._room:
            self._room.notify_all()  # paho's thread may wait for room
        client, self._client = self._client, None
        if client is not None:
            close_client(client)


def _wait_published(info: paho.MQTTMessageInfo, timeout_s: float) -> None:
    try:
        info.wait_for_publish(timeout_s)
    except (ValueError, RuntimeError) as exc:
        raise MqttError(f"not published: {exc}") from exc
    if not info.is_published():
        raise MqttError(f"no PUBACK within {timeout_s:g} s")
