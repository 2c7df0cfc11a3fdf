"""Helpers of the alarm service's integration tests: a publisher, and the service run as
a task (the recording subscriber is hazmon.testing.mqtt_clients.subscriber)."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import paho.mqtt.client as paho
import pytest
from paho.mqtt.enums import CallbackAPIVersion


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
