"""MQTT helpers for the integration tests: a recording subscriber and a publisher."""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections.abc import Callable
from typing import Any

import paho.mqtt.client as paho
import pytest
from paho.mqtt.enums import CallbackAPIVersion


class Recorder:
    """Subscribes and keeps every message as (topic, JSON payload, retain)."""

    def __init__(self, port: int, *topics: str) -> None:
        self.messages: list[tuple[str, Any, bool]] = []
        self._lock = threading.Lock()
        self._subscribed = threading.Event()
        self.client = paho.Client(CallbackAPIVersion.VERSION2)
        self.client.on_message = self._on_message
        self.client.on_subscribe = lambda *_a: self._subscribed.set()
        self.client.connect("127.0.0.1", port)
        self.client.subscribe([(t, 1) for t in topics])
        self.client.loop_start()
        assert self._subscribed.wait(5)

    def _on_message(self, _c: Any, _u: Any, msg: paho.MQTTMessage) -> None:
        payload = json.loads(msg.payload) if msg.payload else None
        with self._lock:
            self.messages.append((msg.topic, payload, bool(msg.retain)))

    def wait_for(self, test: Callable[[str, Any], bool], timeout_s: float = 10.0) -> Any:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            with self._lock:
                for topic, payload, _ in self.messages:
                    if test(topic, payload):
                        return payload
            time.sleep(0.02)
        raise AssertionError(f"no such message in {timeout_s} s; got {self.messages}")

    def matching(self, test: Callable[[str, Any], bool]) -> list[Any]:
        with self._lock:
            return [p for t, p, _ in self.messages if test(t, p)]

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


def publisher(port: int) -> paho.Client:
    client = paho.Client(CallbackAPIVersion.VERSION2)
    client.connect("127.0.0.1", port)
    client.loop_start()
    return client


def publish(client: paho.Client, topic: str, payload: Any, *, retain: bool = False) -> None:
    data = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
    client.publish(topic, data, qos=1, retain=retain).wait_for_publish(5)


async def started(service: Any, timeout_s: float = 20.0) -> asyncio.Task[None]:
    """An alarm (or ingest) service running as a task, once it subscribed; its error if
    it ended first."""
    ready = asyncio.Event()
    task = asyncio.create_task(service.run(ready=ready))
    waiter = asyncio.create_task(ready.wait())
    await asyncio.wait([task, waiter], timeout=timeout_s, return_when=asyncio.FIRST_COMPLETED)
    if task.done():
        task.result()
    assert ready.is_set(), "the service did not subscribe in time"
    return task


async def stopped(task: asyncio.Task[None]) -> None:
    """Cancel a service's task (where it flushes) and wait for it to end."""
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
