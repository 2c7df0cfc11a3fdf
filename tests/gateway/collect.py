"""A plain paho subscriber that records what arrives, for the edge integration tests."""

from __future__ import annotations

import asyncio
import threading
import time
import uuid
from dataclasses import dataclass
from typing import Any

import orjson
import paho.mqtt.client as paho
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties


@dataclass(frozen=True, slots=True)
class Message:
    topic: str
    doc: Any
    retained: bool
    at_s: float  # monotonic arrival time


class Collector:
    """Subscribes (QoS 1, persistent session) and keeps every message, in order."""

    def __init__(self, url: str, topic: str) -> None:
        host, port = url.removeprefix("mqtt://").split(":")
        self.topic = topic
        self.messages: list[Message] = []
        self._lock = threading.Lock()
        self._subscribed = threading.Event()
        self.client = paho.Client(
            CallbackAPIVersion.VERSION2,
            client_id=f"collect-{uuid.uuid4().hex[:8]}",
            protocol=paho.MQTTv5,
        )
        self.client.reconnect_delay_set(min_delay=1, max_delay=1)
        self.client.on_connect = self._connected
        self.client.on_message = self._message
        self.client.on_subscribe = lambda *a: self._subscribed.set()
        props = Properties(PacketTypes.CONNECT)  # type: ignore[no-untyped-call]
        props.SessionExpiryInterval = 600
        self.client.connect(host, int(port), clean_start=False, properties=props)
        self.client.loop_start()
        assert self._subscribed.wait(10), "no SUBACK"

    def _connected(self, client: paho.Client, *_: Any) -> None:
        client.subscribe(self.topic, qos=1)

    def _message(self, _c: paho.Client, _u: Any, msg: paho.MQTTMessage) -> None:
        with self._lock:
            self.messages.append(
                Message(msg.topic, orjson.loads(msg.payload), msg.retain, time.monotonic())
            )

    def snapshot(self, leaf: str | None = None) -> list[Message]:
        with self._lock:
            return [m for m in self.messages if leaf is None or m.topic.endswith("/" + leaf)]

    async def until(self, predicate: Any, timeout_s: float = 10.0, count: int = 1) -> list[Message]:
        """Wait (without blocking the loop) until `count` messages match."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            found = [m for m in self.snapshot() if predicate(m)]
            if len(found) >= count:
                return found
            await asyncio.sleep(0.05)
        raise AssertionError(
            f"not {count} matches within {timeout_s} s; last: {self.snapshot()[-3:]}"
        )

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()
