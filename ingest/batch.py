"""Batches, and the bounded hand-off between paho's network thread and the writer.

The network thread decodes each message and adds what came of it to the open batch;
a batch is sealed when it holds `max_items` readings and dead letters (about 5,000
lines) or `max_bytes` of payload, or, by the writer, once it is `flush_interval_s`
old. Sealed batches wait in order for the writer; when `max_sealed` are waiting, the
network thread waits too (memory stays bounded; the broker holds the rest).

A batch carries the link's acknowledgement tokens of its messages
(`hazmon.bus.seam.Inbound.token`, opaque here), and the writer has them acknowledged
once the batch is durable. A batch that is not made durable is never acknowledged:
its tokens go with it, and the bus delivers those messages again. A token of an
earlier connection is the link's to drop (on MQTT: a packet id means nothing on a
later connection, and the broker sends the message again).
"""

from __future__ import annotations

import threading
import time
from collections import Counter, deque
from collections.abc import Sequence
from dataclasses import dataclass, field

from hazmon.contract.wire import Reading
from hazmon.ingest.deadletter import DeadLetter
from hazmon.stores.base import Point


@dataclass(slots=True)
class Batch:
    readings: list[Reading] = field(default_factory=list)
    lines: list[str] = field(default_factory=list)  # readings as line protocol, one each
    points: list[Point] = field(default_factory=list)
    dead: list[DeadLetter] = field(default_factory=list)
    tokens: list[object] = field(default_factory=list)  # to acknowledge once durable
    messages: int = 0
    payload_bytes: int = 0
    rejected: Counter[str] = field(default_factory=Counter)
    lost: Counter[tuple[str, str]] = field(default_factory=Counter)
    reboots: Counter[tuple[str, str]] = field(default_factory=Counter)
    opened_s: float = field(default_factory=time.monotonic)

    def __len__(self) -> int:
        return len(self.readings) + len(self.lines) + len(self.dead) + len(self.points)

    @property
    def reading_count(self) -> int:
        return len(self.readings) + len(self.lines)

    @property
    def empty(self) -> bool:
        return self.messages == 0 and not self.points

    @property
    def mids(self) -> list[object]:
        """`tokens`, the name the writer counts acknowledged messages by."""
        return self.tokens


@dataclass(slots=True)
class Outcome:
    """What one message gave: readings, points, dead letters, and its accounting."""

    readings: Sequence[Reading] = ()
    lines: Sequence[str] = ()  # or the readings as line protocol (Pipeline's `lines`)
    points: list[Point] = field(default_factory=list)
    dead: list[DeadLetter] = field(default_factory=list)
    lost: int = 0
    rebooted: bool = False
    gateway: tuple[str, str] | None = None


class Batcher:
    def __init__(
        self,
        *,
        max_items: int = 5000,
        max_bytes: int = 8 * 1024 * 1024,
        max_sealed: int = 2,
        flush_interval_s: float = 0.5,
    ) -> None:
        self.max_items = max_items
        self.max_bytes = max_bytes
        self.max_sealed = max_sealed
        self.flush_interval_s = flush_interval_s
        self._cond = threading.Condition()
        self._sealed: deque[Batch] = deque()
        self._open = Batch()
        self._closed = False

    def add(self, outcome: Outcome, *, token: object, payload_bytes: int) -> None:
        """Add one message's outcome and its acknowledgement token (None: nothing to
        acknowledge); wait while the writer is `max_sealed` batches behind."""
        with self._cond:
            batch = self._open
            if batch.empty:
                batch.opened_s = time.monotonic()
            if outcome.readings:
                batch.readings.extend(outcome.readings)
            if outcome.lines:
                batch.lines.extend(outcome.lines)
            if outcome.points:
                batch.points.extend(outcome.points)
            if outcome.dead:
                batch.dead.extend(outcome.dead)
                for letter in outcome.dead:
                    batch.rejected[letter.reason] += 1
            if outcome.gateway is not None:
                if outcome.lost:
                    batch.lost[outcome.gateway] += outcome.lost
                if outcome.rebooted:
                    batch.reboots[outcome.gateway] += 1
            if token is not None:
                batch.tokens.append(token)
            batch.messages += 1
            batch.payload_bytes += payload_bytes
            if len(batch) >= self.max_items or batch.payload_bytes >= self.max_bytes:
                self._seal()
                while len(self._sealed) > self.max_sealed and not self._closed:
                    self._cond.wait()

    def add_points(self, points: list[Point]) -> None:
        """Points of ingest's own (stats); never waits."""
        with self._cond:
            if self._open.empty:
                self._open.opened_s = time.monotonic()
            self._open.points.extend(points)

    def _seal(self) -> None:
        self._sealed.append(self._open)
        self._open = Batch()
        self._cond.notify_all()

    def take(self, timeout_s: float) -> Batch | None:
        """The next batch for the writer: the oldest sealed one, else the open one once
        it is `flush_interval_s` old; waits up to `timeout_s` for either."""
        deadline = time.monotonic() + timeout_s
        with self._cond:
            while True:
                if self._sealed:
                    batch = self._sealed.popleft()
                    self._cond.notify_all()
                    return batch
                now = time.monotonic()
                age_s = now - self._open.opened_s
                if not self._open.empty and (age_s >= self.flush_interval_s or self._closed):
                    self._seal()
                    continue
                if now >= deadline:
                    return None
                wait_s = deadline - now
                if not self._open.empty:
                    wait_s = min(wait_s, self.flush_interval_s - age_s)
                self._cond.wait(max(wait_s, 0.001))

    def close(self) -> None:
        """No more waiting for room: what is left is taken as it is."""
        with self._cond:
            self._closed = True
            self._cond.notify_all()

    @property
    def pending(self) -> int:
        """Batches waiting for the writer (the open one included when not empty)."""
        with self._cond:
            return len(self._sealed) + (0 if self._open.empty else 1)
