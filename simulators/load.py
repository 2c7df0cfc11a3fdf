"""The load generator: N gateways x M sensors at R Hz straight onto MQTT.

    report = run_load(LoadPlan(gateways=100, sensors=100, rate_hz=1, per_message=100,
                               duration_s=30), broker=parse_broker_url(url), settings=None)

Fast by construction: every message is a pre-built bytes template filled with one
`%` (sequence numbers, timestamps and values from a pre-formatted pool); a few paho
clients (each gateway always on the same one, so its `seq` stays in order) publish
QoS 1 with a raised in-flight window; pacing is a token bucket on readings, with
back-pressure when the broker falls behind. Live progress each second, then a
summary; the benchmarks use it.
"""

from __future__ import annotations

import dataclasses
import random
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import orjson
import paho.mqtt.client as paho

from hazmon.bus.mqtt import MqttOptions, connect
from hazmon.contract import topics
from hazmon.contract.settings import BrokerAddress, Settings
from hazmon.simulators.loadplant import LoadGateway, layout

DRAIN_S = 15.0
PROGRESS_EVERY_S = 1.0


@dataclass(frozen=True, slots=True)
class LoadPlan:
    gateways: int
    sensors: int
    rate_hz: float = 1.0  # readings per sensor per second
    per_message: int = 100  # readings per message (K)
    duration_s: float = 10.0
    connections: int = 4
    max_inflight: int = 1000  # per connection

    @property
    def readings_per_s(self) -> float:
        return self.gateways * self.sensors * self.rate_hz


@dataclass(slots=True)
class LoadReport:
    plan: LoadPlan
    elapsed_s: float = 0.0
    messages: int = 0
    readings: int = 0
    acked_messages: int = 0
    acked_readings: int = 0
    errors: int = 0
    stalls: int = 0  # times the publisher waited for the broker (back-pressure)

    @property
    def readings_per_s(self) -> float:
        return self.readings / self.elapsed_s if self.elapsed_s else 0.0

    def summary(self) -> str:
        p = self.plan
        msgs_per_s = self.messages / self.elapsed_s if self.elapsed_s else 0.0
        return (
            f"load: {p.gateways} gateways x {p.sensors} sensors at {p.rate_hz:g} Hz, "
            f"{p.per_message} readings/message, {p.connections} connections\n"
            f"sent {self.readings:,} readings in {self.messages:,} messages "
            f"in {self.elapsed_s:.1f} s: {self.readings_per_s:,.0f} readings/s "
            f"({msgs_per_s:,.0f} msg/s; target {p.readings_per_s:,.0f} readings/s)\n"
            f"acknowledged {self.acked_messages:,} messages ({self.acked_readings:,} readings), "
            f"errors {self.errors}, back-pressure waits {self.stalls}"
        )


class _Template:
    """One message shape of one gateway: its sensors' readings with slots to fill."""

    def __init__(self, gw: LoadGateway, sensors: tuple[str, ...], frames: int, boot: int) -> None:
        reading = [b'{"sensor":"' + s.encode() + b'","ts_ms":%d,"value":%s}' for s in sensors]
        head = b'{"boot":%d,"seq":%%d,"sent_ms":%%d,"historical":false,"readings":[' % boot
        self.text = head + b",".join(reading * frames) + b"]}"
        self.topic = topics.telemetry(gw.site, gw.gateway)
        self.width = len(sensors)
        self.frames = frames
        self.readings = len(sensors) * frames
        self.slots: list[Any] = [0] * (2 + 2 * self.readings)


class _Link:
    """One paho client; counts its acknowledgements and errors in its own thread."""

    def __init__(self, client: paho.Client) -> None:
        self.client = client
        self.acked_messages = 0
        self.acked_readings = 0
        self.errors = 0
        self.sizes: dict[int, int] = {}
        self._early: dict[int, bool] = {}
        self._lock = threading.Lock()
        client.on_publish = self._published
        client.on_disconnect = self._disconnected

    def publish(self, topic: str, payload: bytes, readings: int) -> bool:
        # Not under our lock: paho calls on_publish holding its own lock (no cycle).
        info = self.client.publish(topic, payload, qos=1)
        if info.rc != paho.MQTT_ERR_SUCCESS:
            self.errors += 1
            return False
        with self._lock:  # the ack may have come back before publish() returned
            if self._early.pop(info.mid, None) is not None:
                self.acked_readings += readings
            else:
                self.sizes[info.mid] = readings
        return True

    def _published(self, _c: paho.Client, _u: Any, mid: int, rc: Any, _p: Any = None) -> None:
        if getattr(rc, "value", 0) >= 0x80:
            self.errors += 1
            return
        with self._lock:
            readings = self.sizes.pop(mid, None)
            if readings is None:
                self._early[mid] = True
            else:
                self.acked_readings += readings
            self.acked_messages += 1

    def _disconnected(self, *_: Any) -> None:
        self.errors += 1

    def reset(self) -> None:
        with self._lock:
            self.acked_messages = self.acked_readings = self.errors = 0
            self.sizes.clear()
            self._early.clear()

    def close(self) -> None:
        self.client.on_disconnect = None
        self.client.disconnect()
        self.client.loop_stop()


def _templates(plan: LoadPlan, boot: int) -> list[list[_Template]]:
    """Per gateway, the messages of one publishing round."""
    k, m = plan.per_message, plan.sensors
    out = []
    for gw in layout(plan.gateways, m):
        if k >= m:
            out.append([_Template(gw, gw.sensors, k // m, boot)])
        else:
            out.append([_Template(gw, gw.sensors[i : i + k], 1, boot) for i in range(0, m, k)])
    return out


def generate(plan: LoadPlan, boot: int, start_ms: int) -> Iterator[tuple[int, _Template, bytes]]:
    """(gateway index, template, payload) in publishing order, forever."""
    templates = _templates(plan, boot)
    rng = random.Random(1)
    pool = [b"%.2f" % rng.uniform(0.5, 9.5) for _ in range(4096)]
    pool = pool + pool
    seqs = [0] * len(templates)
    frames = templates[0][0].frames
    step_ms = 1000.0 / plan.rate_hz
    rnd = 0
    while True:
        ts = [start_ms + round((rnd + f) * step_ms) for f in range(frames)]
        for g, shapes in enumerate(templates):
            for t in shapes:
                slots = t.slots
                slots[0], slots[1] = seqs[g], int(time.time() * 1000)
                slots[2::2] = [x for x in ts for _ in range(t.width)]
                offset = (seqs[g] * 31 + g) % 4096
                slots[3::2] = pool[offset : offset + t.readings]
                seqs[g] += 1
                yield g, t, t.text % tuple(slots)
        rnd += frames


def _connect_links(plan: LoadPlan, broker: BrokerAddress, settings: Settings | None) -> list[_Link]:
    links = []
    for i in range(max(1, min(plan.connections, plan.gateways))):
        opts = MqttOptions.build(
            broker,
            settings,
            client_id=f"hazmon-load-{i}-{uuid.uuid4().hex[:6]}",
            clean_start=True,
            max_inflight=plan.max_inflight,
        )
        opts = dataclasses.replace(opts, session_expiry_s=0)  # nothing to resume
        client, _ = connect(opts)
        links.append(_Link(client))
    return links


def _announce(links: list[_Link], plan: LoadPlan, boot: int, *, online: bool) -> None:
    """Each gateway's retained state; waits for the acks, which the counts leave out."""
    infos = []
    for g, gw in enumerate(layout(plan.gateways, 1)):
        state = orjson.dumps({"online": online, "boot": boot, "ts_ms": int(time.time() * 1000)})
        client = links[g % len(links)].client
        infos.append(client.publish(topics.state(gw.site, gw.gateway), state, qos=1, retain=True))
    deadline = time.monotonic() + DRAIN_S
    while time.monotonic() < deadline and not all(i.is_published() for i in infos):
        time.sleep(0.01)
    for link in links:
        link.reset()


def run_load(
    plan: LoadPlan,
    *,
    broker: BrokerAddress,
    settings: Settings | None,
    progress: Callable[[str], None] | None = print,
    stop: threading.Event | None = None,
) -> LoadReport:
    """Publish at the plan's rate for its duration (or until `stop`); report."""
    boot = int(time.time())  # a fresh boot per run: seq starts again from 0
    links = _connect_links(plan, broker, settings)
    _announce(links, plan, boot, online=True)
    report = LoadReport(plan)
    try:
        _publish(plan, links, report, boot, progress, stop or threading.Event())
        _drain(links, report)
        _count(links, report)
    finally:
        _announce(links, plan, boot, online=False)
        for link in links:
            link.close()
    if progress is not None:
        progress(report.summary())
    return report


def _publish(
    plan: LoadPlan,
    links: list[_Link],
    report: LoadReport,
    boot: int,
    progress: Callable[[str], None] | None,
    stop: threading.Event,
) -> None:
    window = plan.max_inflight * len(links)
    started = time.monotonic()
    next_report = started + PROGRESS_EVERY_S
    messages = generate(plan, boot, int(time.time() * 1000))
    while not stop.is_set():
        now = time.monotonic()
        elapsed = now - started
        if elapsed >= plan.duration_s:
            break
        if now >= next_report and progress is not None:
            progress(_progress_line(report, links, elapsed))
            next_report += PROGRESS_EVERY_S
        budget = int(elapsed * plan.readings_per_s) - report.readings
        if budget <= 0:
            time.sleep(0.001)
            continue
        if report.messages - sum(link.acked_messages for link in links) >= window:
            report.stalls += 1
            time.sleep(0.001)
            continue
        for _ in range(min(budget // plan.per_message + 1, 200)):
            g, t, payload = next(messages)
            if links[g % len(links)].publish(t.topic, payload, t.readings):
                report.messages += 1
                report.readings += t.readings
    report.elapsed_s = time.monotonic() - started


def _drain(links: list[_Link], report: LoadReport) -> None:
    deadline = time.monotonic() + DRAIN_S
    while time.monotonic() < deadline:
        if sum(link.acked_messages for link in links) >= report.messages:
            return
        time.sleep(0.01)


def _count(links: list[_Link], report: LoadReport) -> None:
    report.acked_messages = sum(link.acked_messages for link in links)
    report.acked_readings = sum(link.acked_readings for link in links)
    report.errors = sum(link.errors for link in links)


def _progress_line(report: LoadReport, links: list[_Link], elapsed_s: float) -> str:
    acked = sum(link.acked_messages for link in links)
    errors = sum(link.errors for link in links)
    return (
        f"{elapsed_s:6.1f} s  {report.readings / elapsed_s:>10,.0f} readings/s  "
        f"sent {report.readings:,}  acked {acked:,} msgs  in flight {report.messages - acked:,}  "
        f"errors {errors}"
    )
