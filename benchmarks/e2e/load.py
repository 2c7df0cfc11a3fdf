"""The benchmark's load: gateways publishing telemetry batches (docs/contract.md §3), QoS 1.

The plant's gateways are split over a few publisher processes, one MQTT 3.1.1
connection each (rawmqtt.py: clean session, QoS 1, up to 1000 messages in flight).
A publisher sends, round robin over its gateways, messages of `per_message` readings,
each gateway's sensors in turn, with `seq` +1 per message and `ts_ms` the publish time
(made unique per sensor by moving a gateway's clock on by at least 1 ms per message,
since InfluxDB keeps one point per series and timestamp).

A schedule is a list of segments, each either paced (readings/s for the whole plant,
shared by the publishers in proportion to their gateways) or flat out. Flat out is
closed loop: a publisher stops while its count of readings is above the allowance the
runner raises as readings are stored, so the backlog in the broker stays bounded
(below Mosquitto's queue of 100,000 messages) and what is measured is the rate of the
system under test, not what the broker drops. With `alarm_window`, flat out is also
held to the alarm service: a publisher stays at most that many readings (its share)
ahead of what the alarm events show evaluated (`_AlarmBound`).

Every `crosser_every`-th sensor of the plant alternates between 10 and 30 %LEL from
reading to reading (clearing and raising `high`); the other sensors read 2-9 %LEL. For
each reading at 30, the publisher keeps (site, sensor, ts_ms, publish time): the latency of
the alarm it raises is measured from there. Publish time is `time.monotonic_ns()`
just before the PUBLISH is written to the socket; that clock is the same in every
process of the machine.
"""

from __future__ import annotations

import multiprocessing as mp
import multiprocessing.synchronize
import os
import queue
import time
import uuid
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from benchmarks.e2e.plant import ABOVE, BELOW, Plant
from benchmarks.e2e.rawmqtt import RawPublisher, topic_field

MAX_INFLIGHT = 1000
LAG_CLAMP_S = 1.0  # a paced publisher that falls behind by more stops trying to catch up
NORMAL_VALUES = [f"{2 + 0.5 * i:.1f}".encode() for i in range(15)]  # 2.0 .. 9.0 %LEL


@dataclass(frozen=True, slots=True)
class Segment:
    duration_s: float
    readings_per_s: float | None  # None: flat out, bounded by the allowance


@dataclass
class PublisherResult:
    index: int
    messages: int = 0
    readings: int = 0
    first_ns: int = 0
    last_ns: int = 0
    crossings: list[tuple[str, str, int, int]] = field(default_factory=list)
    seqs: dict[int, int] = field(default_factory=dict)
    last_ts_ms: dict[int, int] = field(default_factory=dict)
    error: str | None = None


@dataclass(frozen=True, slots=True)
class PublisherSpec:
    index: int
    host: str
    port: int
    plant: Plant
    gateways: tuple[int, ...]
    per_message: int
    crosser_every: int
    segments: tuple[Segment, ...]
    boot: int
    seqs: dict[int, int]
    last_ts_ms: dict[int, int]
    alarm_window: int = 0  # > 0: flat out is also held to the alarm service (below)


class _AlarmBound:
    """A publisher's own view of how far the alarm service has evaluated its readings.

    After each message with a raising crossing it notes (ts_ms, readings published so
    far); the runner shares the newest `ts_ms` the alarm events were about
    (`alarm_front`). Everything this publisher had published when it sent the last
    crossing at or before the front has been evaluated."""

    def __init__(self, window: int) -> None:
        self.window = window
        self.marks: deque[tuple[int, int]] = deque()
        self.evaluated = 0

    def mark(self, ts_ms: int, published: int) -> None:
        self.marks.append((ts_ms, published))

    def allows(self, published: int, front_ms: int) -> bool:
        marks = self.marks
        while marks and marks[0][0] <= front_ms:
            self.evaluated = marks.popleft()[1]
        return published < self.evaluated + self.window


class _Gateway:
    """Pre-encoded pieces of one gateway's messages."""

    def __init__(self, spec: PublisherSpec, g: int) -> None:
        plant = spec.plant
        self.g = g
        self.site = plant.site_id(g)
        self.topic = topic_field(f"hazmon/v1/{self.site}/{plant.gateway_id(g)}/telemetry")
        self.sensor_ids = [plant.sensor_id(g, s) for s in range(plant.sensors_per_gateway)]
        self.heads = [f'{{"sensor":"{sid}","ts_ms":'.encode() for sid in self.sensor_ids]
        every = spec.crosser_every
        self.crosser = [
            every > 0 and (g + s) % every == 0 for s in range(plant.sensors_per_gateway)
        ]
        self.above = [True] * plant.sensors_per_gateway  # so that each phase starts below
        self.cursor = 0
        self.seq = spec.seqs.get(g, 0)
        self.last_ts_ms = spec.last_ts_ms.get(g, 0)
        self.prefix = f'{{"boot":{spec.boot},"seq":'.encode()

    def message(
        self, per_message: int, now_ms: int, crossings: list[tuple[str, str, int, int]]
    ) -> bytes:
        ts_ms = max(now_ms, self.last_ts_ms + 1)
        self.last_ts_ms = ts_ms
        ts_b = str(ts_ms).encode()
        n = len(self.heads)
        parts = []
        for _ in range(per_message):
            s = self.cursor
            self.cursor = s + 1 if s + 1 < n else 0
            if self.crosser[s]:
                above = not self.above[s]
                self.above[s] = above
                value = b"30.0" if above else b"10.0"
                if above:
                    crossings.append((self.site, self.sensor_ids[s], ts_ms, 0))
            else:
                value = NORMAL_VALUES[(s + ts_ms) % len(NORMAL_VALUES)]
            parts.append(self.heads[s] + ts_b + b',"value":' + value + b"}")
        body = (
            self.prefix + str(self.seq).encode() + b',"sent_ms":' + str(now_ms).encode()
            + b',"historical":false,"readings":[' + b",".join(parts) + b"]}"
        )
        self.seq += 1
        return body


assert ABOVE == 30.0 and BELOW == 10.0  # the literals above


def _run(
    spec: PublisherSpec,
    start: multiprocessing.synchronize.Event,
    stop: multiprocessing.synchronize.Event,
    published: Any,
    allowed: Any,
    alarm_front: Any,
) -> PublisherResult:
    client = RawPublisher(
        spec.host, spec.port, f"bench-pub-{spec.index}-{uuid.uuid4().hex[:8]}",
        max_inflight=MAX_INFLIGHT,
    )
    gateways = [_Gateway(spec, g) for g in spec.gateways]
    result = PublisherResult(spec.index)
    crossings = result.crossings
    share = len(spec.gateways) / spec.plant.gateways
    per = spec.per_message
    bound = _AlarmBound(spec.alarm_window) if spec.alarm_window > 0 else None
    start.wait()
    result.first_ns = time.monotonic_ns()
    i = 0
    for segment in spec.segments:
        seg_start = time.monotonic()
        seg_end = seg_start + segment.duration_s
        interval_s = (
            per / (segment.readings_per_s * share) if segment.readings_per_s else 0.0
        )
        next_s = seg_start
        while not stop.is_set():
            now = time.monotonic()
            if now >= seg_end:
                break
            if interval_s:
                if now < next_s:
                    client.ping_if_idle()
                    time.sleep(min(next_s - now, seg_end - now))
                    continue
            elif result.readings >= allowed.value or (
                bound is not None and not bound.allows(result.readings, alarm_front.value)
            ):
                client.ping_if_idle()
                time.sleep(0.001)
                continue
            if not client.can_send():
                time.sleep(0.0002)  # the broker has not acknowledged enough yet
                continue
            if interval_s:
                next_s = max(next_s + interval_s, now - LAG_CLAMP_S)
            gw = gateways[i]
            i = i + 1 if i + 1 < len(gateways) else 0
            mark = len(crossings)
            payload = gw.message(per, int(time.time() * 1000), crossings)
            t_ns = time.monotonic_ns()
            for k in range(mark, len(crossings)):
                site, sensor, ts_ms, _ = crossings[k]
                crossings[k] = (site, sensor, ts_ms, t_ns)
            client.publish(gw.topic, payload)
            result.messages += 1
            result.readings += per
            if bound is not None and len(crossings) > mark:
                bound.mark(crossings[-1][2], result.readings)
            published.value = result.readings
    if not client.wait_acked(30.0):
        result.error = (
            f"{client.outstanding} messages not acknowledged by the broker"
            + (f" ({client.closed_reason})" if client.closed_reason else "")
        )
    result.last_ns = time.monotonic_ns()
    client.close()
    result.seqs = {gw.g: gw.seq for gw in gateways}
    result.last_ts_ms = {gw.g: gw.last_ts_ms for gw in gateways}
    return result


def _main(
    spec: PublisherSpec,
    start: multiprocessing.synchronize.Event,
    ready: multiprocessing.synchronize.Event,
    stop: multiprocessing.synchronize.Event,
    published: Any,
    allowed: Any,
    alarm_front: Any,
    results: mp.Queue[PublisherResult],
) -> None:
    try:
        ready.set()
        results.put(_run(spec, start, stop, published, allowed, alarm_front))
    except Exception as exc:  # reported to the runner, which stops the phase
        results.put(PublisherResult(spec.index, error=f"{type(exc).__name__}: {exc}"))


class Load:
    """A set of publisher processes running one schedule; started, then joined."""

    def __init__(
        self,
        *,
        host: str,
        port: int,
        plant: Plant,
        per_message: int,
        crosser_every: int,
        segments: Sequence[Segment],
        publishers: int,
        boot: int,
        seqs: dict[int, int],
        last_ts_ms: dict[int, int],
        alarm_window: int = 0,
    ) -> None:
        ctx = mp.get_context("spawn")
        self._alarm_front = ctx.Value("q", 0, lock=False)
        self._start = ctx.Event()
        self._stop = ctx.Event()
        self._results: mp.Queue[PublisherResult] = ctx.Queue()
        self._collected: list[PublisherResult] = []
        self.per_message = per_message
        self.published: list[Any] = []
        self.allowed: list[Any] = []
        self.shares: list[float] = []
        self._procs: list[mp.process.BaseProcess] = []
        self._ready: list[multiprocessing.synchronize.Event] = []
        publishers = max(1, min(publishers, plant.gateways))
        for index in range(publishers):
            mine = tuple(range(index, plant.gateways, publishers))
            spec = PublisherSpec(
                index=index, host=host, port=port, plant=plant, gateways=mine,
                per_message=per_message, crosser_every=crosser_every,
                segments=tuple(segments), boot=boot,
                seqs={g: seqs.get(g, 0) for g in mine},
                last_ts_ms={g: last_ts_ms.get(g, 0) for g in mine},
                alarm_window=int(alarm_window * len(mine) / plant.gateways),
            )
            published = ctx.Value("q", 0, lock=False)
            allowed = ctx.Value("q", 2**62, lock=False)
            ready = ctx.Event()
            proc = ctx.Process(
                target=_main,
                args=(spec, self._start, ready, self._stop, published, allowed,
                      self._alarm_front, self._results),
                name=f"bench-publisher-{index}",
                daemon=True,
            )
            self.published.append(published)
            self.allowed.append(allowed)
            self.shares.append(len(mine) / plant.gateways)
            self._procs.append(proc)
            self._ready.append(ready)

    @property
    def pids(self) -> dict[str, int]:
        return {f"publisher-{i}": p.pid for i, p in enumerate(self._procs) if p.pid is not None}

    def prepare(self, *, timeout_s: float = 30.0) -> None:
        """Start the processes and let them connect; they wait for `go()`."""
        for proc in self._procs:
            proc.start()
        deadline = time.monotonic() + timeout_s
        for ready in self._ready:
            ready.wait(max(0.0, deadline - time.monotonic()))
        time.sleep(0.5)  # connected after `ready`; a moment for CONNACK

    def go(self) -> None:
        self._start.set()

    def stop(self) -> None:
        self._stop.set()

    def set_allowance(self, total_readings: int) -> None:
        """Flat-out segments: let the publishers reach `total_readings` in all."""
        for allowed, share in zip(self.allowed, self.shares, strict=True):
            allowed.value = int(total_readings * share) + self.per_message

    def set_alarm_front(self, ts_ms: int) -> None:
        """The newest reading time the alarm events were about (alarm_window > 0)."""
        self._alarm_front.value = ts_ms

    def published_readings(self) -> int:
        return sum(v.value for v in self.published)

    def _collect(self, timeout_s: float = 0.0) -> None:
        """Take finished publishers' results off the queue (a child cannot exit while
        its result is still in the pipe)."""
        try:
            while True:
                self._collected.append(self._results.get(timeout=timeout_s))
                timeout_s = 0.0
        except queue.Empty:
            pass

    def running(self) -> bool:
        """Whether some publisher has not reported yet (and is still alive)."""
        self._collect()
        return len(self._collected) < len(self._procs) and any(
            p.is_alive() for p in self._procs
        )

    def join(self, *, timeout_s: float = 120.0) -> list[PublisherResult]:
        deadline = time.monotonic() + timeout_s
        while self.running() and time.monotonic() < deadline:
            self._collect(timeout_s=0.5)
        self._collect()
        for proc in self._procs:
            proc.join(timeout=5)
            if proc.is_alive() and proc.pid is not None:
                os.kill(proc.pid, 9)
        return sorted(self._collected, key=lambda r: r.index)
