"""paho-mqtt's network thread, bridged into asyncio for the alarm service.

- Callbacks are in place before CONNECT, so the messages a persistent session holds
  (delivered right after CONNACK) are not lost; every (re)connect subscribes again.
- Incoming messages go into a bounded asyncio queue through
  `loop.call_soon_threadsafe`; when it is full, paho's thread waits (TCP backpressure
  to the broker) rather than the queue growing.
- QoS 1 messages are acknowledged by the caller (`manual_ack`), after what they caused
  is committed; an ack for a message of an earlier connection is never sent (its
  `mid` means nothing on the new one; the broker sends the message again).
- MQTT 5 (session expiry, Receive Maximum 65535) with a fall back to 3.1.1.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import paho.mqtt.client as paho

from hazmon.mqtt import (
    MQTT_V5,
    MqttError,
    MqttOptions,
    new_client,
    retry_connect,
    send_connect,
)

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Inbound:
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
    ) -> None:
        self.opts = opts
        self.topics = list(topics)
        self.protocol: int = MQTT_V5
        self._loop = loop
        self._queue: asyncio.Queue[Inbound] = asyncio.Queue(maxsize=capacity)
        self._slots = threading.BoundedSemaphore(capacity)
        self._subscribed = asyncio.Event()
        self._generation = 0
        self._closing = False
        self._client: paho.Client | None = None

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
                self._connected(c, flags)

        def on_disconnect(_c: paho.Client, _u: Any, _f: Any, rc: Any, _p: Any = None) -> None:
            if not first.is_set():
                outcome["reason"] = f"closed before CONNACK ({rc})"
                first.set()
            elif not self._closing:
                log.warning("MQTT connection lost (%s); paho reconnects", rc)

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
        client.disconnect()
        client.loop_stop()
        return str(outcome.get("reason", "refused"))

    def _connected(self, client: paho.Client, flags: Any) -> None:
        self._generation += 1
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

    # -- receiving --------------------------------------------------------------------

    def _call(self, fn: Any, *args: Any) -> bool:
        try:
            self._loop.call_soon_threadsafe(fn, *args)
        except RuntimeError:  # the loop is closed: we are shutting down
            return False
        return True

    def _on_message(self, _c: paho.Client, _u: Any, msg: paho.MQTTMessage) -> None:
        item = Inbound(msg.topic, bytes(msg.payload), msg.mid, msg.qos, self._generation)
        while not self._slots.acquire(timeout=0.5):
            if self._closing:
                return
        if not self._call(self._queue.put_nowait, item):
            self._slots.release()

    def depth(self) -> int:
        return self._queue.qsize()

    async def batch(self, max_items: int) -> list[Inbound]:
        """Wait for one message, then take what else is there, up to `max_items`."""
        items = [await self._queue.get()]
        while len(items) < max_items:
            try:
                items.append(self._queue.get_nowait())
            except asyncio.QueueEmpty:
                break
        for _ in items:
            self._slots.release()
        return items

    def ack(self, items: Sequence[Inbound]) -> None:
        client = self._client
        if client is None:
            return
        for item in items:
            if item.qos > 0 and item.generation == self._generation:
                client.ack(item.mid, item.qos)

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
        client, self._client = self._client, None
        if client is not None:
            client.disconnect()
            client.loop_stop()


def _wait_published(info: paho.MQTTMessageInfo, timeout_s: float) -> None:
    try:
        info.wait_for_publish(timeout_s)
    except (ValueError, RuntimeError) as exc:
        raise MqttError(f"not published: {exc}") from exc
    if not info.is_published():
        raise MqttError(f"no PUBACK within {timeout_s:g} s")
