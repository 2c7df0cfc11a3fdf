"""A lean load generator for the ingest benchmark: raw MQTT 3.1.1, QoS 1, pre-built packets.

It spends as little CPU as possible on a machine it shares with the broker, InfluxDB
and ingest: every PUBLISH packet of the run is built before the clock starts, in
chunks of about 64 KiB per connection, and the run is `sendall` of those chunks
while a reader thread per connection counts PUBACKs. Each gateway of the plant is
always on the same connection, so its `seq` arrives in order; every reading has a
(sensor, ts_ms) of its own, so N published readings must be N rows.

Flow control: a connection keeps at most `window` messages unacknowledged by the
broker, and the run stops sending while `sent - allowed` > 0 (`allowed` is raised by
the benchmark as ingest acknowledges), so the broker's per-client queue never
overflows (Mosquitto drops silently beyond `max_queued_messages`).
"""

from __future__ import annotations

import multiprocessing as mp
import multiprocessing.synchronize
import os
import socket
import threading
import time
from dataclasses import dataclass
from multiprocessing.sharedctypes import Synchronized

import orjson

from hazmon.testing.mqtt_packets import connect_packet, publish_packet

CHUNK_BYTES = 64 * 1024


@dataclass(frozen=True, slots=True)
class LoadGateway:
    site: str
    gateway: str
    sensors: tuple[tuple[str, bool], ...]  # (sensor id, is an interlock)


def payloads(gw: LoadGateway, *, per_message: int, readings: int, start_ms: int) -> list[bytes]:
    out = []
    sent_ms = start_ms + readings
    for seq, first in enumerate(range(0, readings, per_message)):
        items = []
        for n in range(first, min(first + per_message, readings)):
            sensor, interlock = gw.sensors[n % len(gw.sensors)]
            if interlock:
                items.append({"sensor": sensor, "ts_ms": start_ms + n, "state": "normal"})
            else:
                items.append({"sensor": sensor, "ts_ms": start_ms + n, "value": n % 1000 / 10})
        doc = {"boot": 1, "seq": seq, "sent_ms": sent_ms, "readings": items}
        out.append(orjson.dumps(doc))
    return out


def build_streams(
    gateways: list[LoadGateway],
    *,
    per_message: int,
    total: int,
    connections: int,
    start_ms: int,
    garbage_bytes: int = 0,
) -> list[list[tuple[bytes, int]]]:
    """Per connection, (chunk of PUBLISH packets, messages in it), gateways interleaved.
    With `garbage_bytes`, `total` messages of that many random bytes instead."""
    share = total // len(gateways)
    if garbage_bytes:
        blob = os.urandom(garbage_bytes)
        per_gateway = [[blob] * (share + (i < total % len(gateways))) for i in range(len(gateways))]
    else:
        per_gateway = [
            payloads(
                gw,
                per_message=per_message,
                readings=share + (i < total % len(gateways)),
                start_ms=start_ms,
            )
            for i, gw in enumerate(gateways)
        ]
    topics = [f"hazmon/v1/{gw.site}/{gw.gateway}/telemetry".encode() for gw in gateways]
    streams: list[list[tuple[bytes, int]]] = []
    for c in range(connections):
        mine = [i for i in range(len(gateways)) if i % connections == c]
        chunks: list[tuple[bytes, int]] = []
        parts: list[bytes] = []
        size = mid = count = 0
        for position in range(max((len(per_gateway[i]) for i in mine), default=0)):
            for i in mine:
                if position < len(per_gateway[i]):
                    mid = mid % 65535 + 1
                    packet = publish_packet(topics[i], mid, per_gateway[i][position])
                    parts.append(packet)
                    size += len(packet)
                    count += 1
                    if size >= CHUNK_BYTES:
                        chunks.append((b"".join(parts), count))
                        parts, size, count = [], 0, 0
        if parts:
            chunks.append((b"".join(parts), count))
        streams.append(chunks)
    return streams


class _Connection(threading.Thread):
    def __init__(
        self,
        port: int,
        chunks: list[tuple[bytes, int]],
        index: int,
        window: int,
        allowed: Synchronized[int],
        sent: Synchronized[int],
    ) -> None:
        super().__init__(name=f"load-{index}", daemon=True)
        self.chunks, self.window, self.allowed, self.sent = chunks, window, allowed, sent
        self.sock = socket.create_connection(("127.0.0.1", port))
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.sock.sendall(connect_packet(f"ingest-bench-{index}-{time.time_ns()}"))
        if self.sock.recv(4)[:1] != b"\x20":
            raise RuntimeError("the broker refused the load generator")
        self.acked = 0
        threading.Thread(target=self._count_acks, daemon=True).start()

    def _count_acks(self) -> None:
        pending = 0
        while True:
            data = self.sock.recv(65536)
            if not data:
                return
            pending += len(data)
            self.acked += pending // 4  # PUBACK: 4 bytes, nothing else comes in
            pending %= 4

    def run(self) -> None:
        mine = 0
        for chunk, count in self.chunks:
            while mine - self.acked > self.window or self.sent.value + count > self.allowed.value:
                time.sleep(0.001)
            self.sock.sendall(chunk)
            mine += count
            with self.sent.get_lock():
                self.sent.value += count
        while self.acked < mine:
            time.sleep(0.01)
        self.sock.close()


@dataclass(frozen=True, slots=True)
class LoadRun:
    port: int
    gateways: list[LoadGateway]
    per_message: int
    total: int
    connections: int
    start_ms: int
    window: int = 20_000
    garbage_bytes: int = 0  # > 0: `total` messages of random bytes (all dead letters)


def publish(
    run: LoadRun,
    *,
    allowed: Synchronized[int],
    sent: Synchronized[int],
    ready: mp.synchronize.Event,
    go: mp.synchronize.Event,
) -> None:
    """The publisher process: build every packet, connect, say ready, wait for go, send."""
    streams = build_streams(
        run.gateways,
        per_message=run.per_message,
        total=run.total,
        connections=run.connections,
        start_ms=run.start_ms,
        garbage_bytes=run.garbage_bytes,
    )
    port, window = run.port, run.window
    connections = [
        _Connection(port, chunks, i, window, allowed, sent) for i, chunks in enumerate(streams)
    ]
    ready.set()
    go.wait()
    for conn in connections:
        conn.start()
    for conn in connections:
        conn.join()
