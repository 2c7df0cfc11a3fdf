"""Helpers of the ingest tests: a small registry per test, publishers, waiting."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import orjson
import paho.mqtt.client as paho
from paho.mqtt.enums import CallbackAPIVersion

from hazmon.contract.config import parse_registry
from hazmon.contract.registry import Registry
from hazmon.contract.topics import state, telemetry

T_BASE_MS = 1_764_000_000_000  # well in the past: no reading is "from the future"


def registry_yaml(site: str, *, gateways: int = 2, sensors: int = 10) -> str:
    lines = [
        "sites:",
        f"  - id: {site}",
        "    name: test site",
        "    industry: hazardous_chemicals",
        "    location: {lat: 29.0, lon: 119.6}",
        "    gateways:",
    ]
    for g in range(gateways):
        lines += [f"      - id: gw{g}", "        sensors:"]
        for s in range(sensors):
            lines.append(
                f"          - {{id: GT-{g}{s:02d}, kind: combustible_gas, unit: '%LEL', "
                "range: [0, 100]}"
            )
        lines.append(f"          - {{id: ESD-{g}, kind: interlock, grade: A}}")
    return "\n".join(lines) + "\n"


def small_registry(site: str, *, gateways: int = 2, sensors: int = 10) -> Registry:
    return parse_registry(registry_yaml(site, gateways=gateways, sensors=sensors))


def batch(boot: int, seq: int, readings: list[dict[str, Any]], **extra: Any) -> bytes:
    return orjson.dumps({"boot": boot, "seq": seq, "readings": readings, **extra})


def good_messages(
    site: str,
    *,
    gateways: int,
    sensors: int,
    messages: int,
    per_message: int,
    start_ms: int = T_BASE_MS,
) -> Iterator[tuple[str, bytes]]:
    """(topic, payload) of telemetry with distinct (sensor, ts_ms) for every reading."""
    for g in range(gateways):
        topic = telemetry(site, f"gw{g}")
        for m in range(messages):
            readings = []
            for i in range(per_message):
                n = m * per_message + i
                readings.append(
                    {"sensor": f"GT-{g}{n % sensors:02d}", "ts_ms": start_ms + n, "value": n % 97}
                )
            yield topic, batch(1, m, readings)


def state_message(site: str, gateway: str, *, online: bool, boot: int) -> tuple[str, bytes]:
    return state(site, gateway), orjson.dumps({"online": online, "boot": boot})


class Publisher:
    """A QoS 1 publisher (paho) that can be paced and waited for."""

    def __init__(self, host: str, port: int, client_id: str = "") -> None:
        self.client = paho.Client(
            CallbackAPIVersion.VERSION2, client_id=client_id, protocol=paho.MQTTv5
        )
        self.client.max_inflight_messages_set(200)
        self.client.max_queued_messages_set(0)
        self.client.connect(host, port)
        self.client.loop_start()
        self.published = 0

    def publish(self, topic: str, payload: bytes, *, retain: bool = False) -> None:
        self.client.publish(topic, payload, qos=1, retain=retain)
        self.published += 1
        if self.published % 500 == 0:
            self.wait()

    def wait(self, timeout_s: float = 60.0) -> None:
        """Until the broker has acknowledged everything published so far."""
        deadline = time.monotonic() + timeout_s
        while self.client._out_messages:
            if time.monotonic() > deadline:
                raise TimeoutError(f"{len(self.client._out_messages)} publishes unacknowledged")
            time.sleep(0.01)

    def close(self) -> None:
        self.wait()
        self.client.disconnect()
        self.client.loop_stop()


def wait_until(
    check: Callable[[], bool], *, timeout_s: float = 60.0, every_s: float = 0.2, what: str = ""
) -> None:
    deadline = time.monotonic() + timeout_s
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout_s:.0f} s waiting for {what or check}")
        time.sleep(every_s)


@contextmanager
def running(service: Any, *, timeout_s: float = 30.0) -> Iterator[Any]:
    """Run an IngestService in a thread of its own (its own event loop) until the block ends."""
    loop = asyncio.new_event_loop()
    ready = asyncio.Event()
    task_box: dict[str, asyncio.Task[None]] = {}
    failure: list[BaseException] = []

    def main() -> None:
        asyncio.set_event_loop(loop)
        task = task_box["task"] = loop.create_task(service.run(ready=ready))
        try:
            loop.run_until_complete(task)
        except asyncio.CancelledError:
            pass
        except BaseException as exc:
            failure.append(exc)
        finally:
            loop.close()

    thread = threading.Thread(target=main, name="ingest-under-test", daemon=True)
    thread.start()
    wait_until(
        lambda: ready.is_set() or bool(failure) or not thread.is_alive(),
        timeout_s=timeout_s,
        what="the ingest subscription",
    )
    if failure:
        raise failure[0]
    try:
        yield service
    finally:
        loop.call_soon_threadsafe(task_box["task"].cancel)
        thread.join(timeout=60)
        assert not thread.is_alive(), "ingest did not stop"
    if failure:
        raise failure[0]


def sample(service: Any, name: str, **labels: str) -> float:
    """A sample of the service's metrics registry (0 when it has none yet)."""
    value = service.metrics_registry.get_sample_value(name, labels)
    return float(value) if value is not None else 0.0
