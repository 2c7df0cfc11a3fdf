"""Publish-to-alarm latency: alarm events on MQTT matched to the readings that raised them.

`AlarmListener` subscribes to `hazmon/v1/+/alarms` (QoS 1, its own clean session) and
keeps the arrival time (`time.monotonic_ns()`, in paho's network thread) of every
`raised` event under (site, sensor, ts_ms): docs/contract.md §6 gives an event the `ts_ms` of
the reading that raised it. `match()` joins those with the publishers' crossings
(site, sensor, ts_ms, publish time). `front_ts_ms`, the newest reading time of any raised or
cleared event, tells how far the alarm service has evaluated (the load stamps readings
with the wall clock when it publishes them); `front_of(sites)` is the same for a group of
sites (those one alarm worker owns), so that a load held to the slowest of several
workers can see each. `last_raised_ns` is when the last `raised` event arrived (the end
of evaluation, for the evaluated readings/s); `duplicates` counts `raised` events that
arrived again for the same reading (none is expected, also across a takeover).
"""

from __future__ import annotations

import math
import threading
import time
import uuid
from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import orjson

Key = tuple[str, str, int]


@dataclass(frozen=True, slots=True)
class LatencyStats:
    samples: int
    missing: int  # crossings that raised no event (yet)
    p50_ms: float
    p99_ms: float
    p999_ms: float
    max_ms: float


def percentile(sorted_values: list[float], q: float) -> float:
    """Nearest-rank percentile of an ascending list (NaN when empty)."""
    if not sorted_values:
        return math.nan
    rank = max(1, math.ceil(q * len(sorted_values) / 100.0 - 1e-9))
    return sorted_values[min(rank, len(sorted_values)) - 1]


def match(raised: dict[Key, int], crossings: Iterable[tuple[str, str, int, int]]) -> LatencyStats:
    """Latency of every crossing whose `raised` event arrived; the rest count as missing."""
    latencies_ms: list[float] = []
    missing = 0
    for site, sensor, ts_ms, published_ns in crossings:
        arrived_ns = raised.get((site, sensor, ts_ms))
        if arrived_ns is None:
            missing += 1
        else:
            latencies_ms.append((arrived_ns - published_ns) / 1e6)
    latencies_ms.sort()
    return LatencyStats(
        samples=len(latencies_ms),
        missing=missing,
        p50_ms=percentile(latencies_ms, 50),
        p99_ms=percentile(latencies_ms, 99),
        p999_ms=percentile(latencies_ms, 99.9),
        max_ms=latencies_ms[-1] if latencies_ms else math.nan,
    )


class AlarmListener:
    """Records the arrival of `raised` alarm events; `events` counts every event."""

    def __init__(self, host: str, port: int) -> None:
        import paho.mqtt.client as paho
        from paho.mqtt.enums import CallbackAPIVersion

        self.raised: dict[Key, int] = {}
        self.events = 0
        self.front_ts_ms = 0  # newest reading time any raised/cleared event was about
        self.site_front: dict[str, int] = {}  # the same per site
        self.last_raised_ns = 0
        self.duplicates = 0
        self.duplicate_keys: list[tuple[Key, int, int]] = []  # (key, first, again) arrivals
        self._lock = threading.Lock()
        self._subscribed = threading.Event()
        self._client = paho.Client(
            CallbackAPIVersion.VERSION2,
            client_id=f"bench-alarms-{uuid.uuid4().hex[:8]}",
            protocol=paho.MQTTv311,
            clean_session=True,
        )
        self._client.on_connect = self._on_connect
        self._client.on_subscribe = self._on_subscribe
        self._client.on_message = self._on_message
        self._host = host
        self._port = port

    def _on_connect(self, client: Any, _u: Any, _f: Any, _rc: Any, _p: Any = None) -> None:
        client.subscribe("hazmon/v1/+/alarms", qos=1)

    def _on_subscribe(self, *_args: Any) -> None:
        self._subscribed.set()

    def _on_message(self, _c: Any, _u: Any, message: Any) -> None:
        arrived_ns = time.monotonic_ns()
        try:
            event = orjson.loads(message.payload)
        except orjson.JSONDecodeError:
            return
        with self._lock:
            self.events += 1
            kind = event.get("event")
            ts_ms = event.get("ts_ms")
            if kind in ("raised", "cleared") and isinstance(ts_ms, int):
                self.front_ts_ms = max(self.front_ts_ms, ts_ms)
                site = str(event.get("site"))
                if ts_ms > self.site_front.get(site, 0):
                    self.site_front[site] = ts_ms
            if kind == "raised" and isinstance(ts_ms, int):
                key = (str(event.get("site")), str(event.get("sensor")), ts_ms)
                if key in self.raised:
                    self.duplicates += 1
                    if len(self.duplicate_keys) < 100:
                        self.duplicate_keys.append((key, self.raised[key], arrived_ns))
                else:
                    self.raised[key] = arrived_ns
                    self.last_raised_ns = arrived_ns

    def start(self, *, timeout_s: float = 10.0) -> None:
        self._client.connect(self._host, self._port, keepalive=60)
        self._client.loop_start()
        if not self._subscribed.wait(timeout_s):
            raise RuntimeError("alarm listener: no SUBACK from the broker")

    def snapshot(self) -> dict[Key, int]:
        with self._lock:
            return dict(self.raised)

    def front_of(self, groups: Sequence[Collection[str]]) -> int:
        """The slowest group's front: for each group of sites the newest reading time its
        events were about, the smallest of those (0 while a group has had none)."""
        with self._lock:
            fronts = [max((self.site_front.get(s, 0) for s in group), default=0)
                      for group in groups]
        return min(fronts, default=self.front_ts_ms)

    def count_raised(self, keys: Iterable[Key]) -> int:
        """How many of `keys` (crossings) have had their `raised` event."""
        with self._lock:
            return sum(1 for k in keys if k in self.raised)

    def reset(self) -> None:
        with self._lock:
            self.raised.clear()
            self.events = 0
            self.front_ts_ms = 0
            self.site_front.clear()
            self.last_raised_ns = 0
            self.duplicates = 0
            self.duplicate_keys.clear()

    def stop(self) -> None:
        self._client.disconnect()
        self._client.loop_stop()
