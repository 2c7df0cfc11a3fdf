"""The writer thread: makes each batch durable, in order, then has it acknowledged.

For each batch, oldest first: its dead letters go to the dead-letter store, its
readings and points are packed once (`Store.pack`) and written to the store, or,
when the store is unavailable or the spool is not empty (order is kept), appended
to the disk spool. Only then are its messages acknowledged. Between batches the
spool is replayed to the store, oldest first, with jittered exponential backoff
while the store stays unavailable. When the spool is full the writer waits (it
acknowledges nothing it has not made durable), the hand-off fills, and the broker
keeps the rest.
"""

from __future__ import annotations

import logging
import sqlite3
import struct
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field

from hazmon.bus.backoff import Backoff
from hazmon.ingest.batch import Batch, Batcher
from hazmon.ingest.deadletter import DeadLetter, DeadLetters
from hazmon.ingest.metrics import IngestMetrics
from hazmon.ingest.pipeline import STORE_REJECTED, letter
from hazmon.runtime.faults import PROCESS, Faults
from hazmon.stores.base import Store, StoreRejected, StoreUnauthorized, StoreUnavailable
from hazmon.stores.spool import Spool, SpoolFull

log = logging.getLogger(__name__)

_COUNT = struct.Struct("<I")  # readings in a spooled record, before the store's blob
_MIN_BACKOFF_S = 0.5
_MAX_BACKOFF_S = 30.0
REFUSED_LOG_INTERVAL_S = 60.0  # credentials refused: an error this often, until fixed


@dataclass(slots=True)
class WriterStats:
    """Cumulative figures for the `ingest_stats` series (read with `snapshot`)."""

    readings_in: int = 0
    rejected: Counter[str] = field(default_factory=Counter)
    write_s_sum: float = 0.0
    writes: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)

    def snapshot(self) -> WriterStats:
        with self.lock:
            return WriterStats(
                self.readings_in, Counter(self.rejected), self.write_s_sum, self.writes
            )


class Writer:
    def __init__(
        self,
        *,
        store: Store,
        spool: Spool,
        dead_letters: DeadLetters,
        batcher: Batcher,
        metrics: IngestMetrics,
        ack: Callable[[Batch], None],
        faults: Faults = PROCESS,
    ) -> None:
        self.faults = faults
        self.store = store
        self.spool = spool
        self.dead_letters = dead_letters
        self.batcher = batcher
        self.metrics = metrics
        self.ack = ack
        self.stats = WriterStats()
        self.stop = threading.Event()
        self._retry_at = 0.0
        self._backoff = Backoff(min_s=_MIN_BACKOFF_S, max_s=_MAX_BACKOFF_S)
        self._store_down = False
        self.store_refused: str | None = None  # why the store refuses the credentials
        self._refused_logged_at = -REFUSED_LOG_INTERVAL_S

    def run(self) -> None:
        """The thread's body: until `stop` is set and every batch is taken."""
        while True:
            wait_s = 0.0 if self._can_replay() else 0.25
            batch = self.batcher.take(wait_s)
            if batch is not None:
                self._guarded(self.persist, batch)
            elif self.stop.is_set():
                return
            if self._can_replay():
                self._guarded(self.replay_one)

    def _guarded(self, step: Callable[..., None], *args: Batch) -> None:
        """A step that fails (an I/O error: EMFILE, ENOSPC...) leaves its batch
        unacknowledged (the broker sends it again) and is a fault of `ingest/writer`:
        logged at a bounded rate, a system alarm under `hazmon up`."""
        try:
            step(*args)
        except Exception as exc:
            self.metrics.internal_errors.inc()
            self.faults.failed("ingest/writer", exc)
            time.sleep(0.5)
        else:
            self.faults.ok("ingest/writer")

    # -- one batch ------------------------------------------------------------------------

    def persist(self, batch: Batch) -> None:
        self.metrics.received(batch)
        with self.stats.lock:
            self.stats.readings_in += batch.reading_count
            self.stats.rejected.update(batch.rejected)
        if batch.dead:
            self._dead_letter(batch.dead)
        durable = True
        if batch.readings or batch.lines or batch.points:
            blob = self.store.pack(batch.readings, batch.points, lines=batch.lines)
            durable = self._store_or_spool(blob, batch.reading_count)
        if durable:
            self.ack(batch)
            self.metrics.acked.inc(len(batch.mids))

    def _store_or_spool(self, blob: bytes, readings: int) -> bool:
        if self.spool.depth == 0 and time.monotonic() >= self._retry_at:
            try:
                self._write(blob, readings)
                return True
            except (StoreUnavailable, OSError) as exc:  # OSError: EMFILE, ENOSPC...
                self._down(exc)
        return self._spool(_COUNT.pack(readings) + self.store.for_spool(blob))

    def _write(self, blob: bytes, readings: int) -> None:
        started = time.perf_counter()
        try:
            self.store.write_packed(blob)
        except StoreRejected as exc:
            self.metrics.store_errors.labels("rejected").inc()
            now_ms = time.time_ns() // 1_000_000
            refused = [
                letter("", r.item.encode(), now_ms, STORE_REJECTED, r.reason) for r in exc.refused
            ]
            self._dead_letter(refused)
            readings = max(0, readings - len(refused))
        elapsed_s = time.perf_counter() - started
        self.metrics.write_latency.observe(elapsed_s)
        self.metrics.readings_stored.inc(readings)
        with self.stats.lock:
            self.stats.write_s_sum += elapsed_s
            self.stats.writes += 1
        self._up()

    def _spool(self, record: bytes) -> bool:
        """Append to the spool, waiting (and replaying) while it is full; False if stopped."""
        while True:
            try:
                self.spool.append(record)
            except OSError as exc:  # EMFILE, ENOSPC: the same batch again, in a while
                self.faults.failed("ingest/spool", exc)
                if self.stop.is_set():
                    return False
                time.sleep(0.5)
            except SpoolFull as exc:
                if self.stop.is_set():
                    log.error("ingest stopping with a full spool: batch left unacknowledged")
                    return False
                log.warning("%s; waiting for the store", exc)
                if self._can_replay():
                    self.replay_one()
                else:
                    time.sleep(min(1.0, max(0.05, self._retry_at - time.monotonic())))
            else:
                self.metrics.spooled.inc()
                self.faults.ok("ingest/spool")
                return True

    def _dead_letter(self, letters: list[DeadLetter]) -> None:
        while True:
            try:
                evicted = self.dead_letters.add(letters)
                break
            except (sqlite3.Error, OSError) as exc:
                self.faults.failed("ingest/dead-letters", exc)
                time.sleep(1.0)
        self.faults.ok("ingest/dead-letters")
        self.metrics.dead_lettered.inc(len(letters))
        self.metrics.dead_evicted.inc(evicted)

    # -- the spool --------------------------------------------------------------------------

    def _can_replay(self) -> bool:
        return self.spool.depth > 0 and time.monotonic() >= self._retry_at

    def replay_one(self) -> None:
        record = self.spool.peek()
        if record is None:
            return
        (readings,) = _COUNT.unpack_from(record.blob)
        try:
            self._write(record.blob[_COUNT.size :], readings)
        except (StoreUnavailable, OSError) as exc:
            self._down(exc)
            return
        self.spool.pop()
        self.metrics.replayed.inc()
        if self.spool.depth == 0:
            log.info("spool replayed: the store has everything again")

    # -- store health -----------------------------------------------------------------------

    @property
    def store_up(self) -> bool:
        """False from a failed write until the next one that works."""
        return not self._store_down

    def _down(self, exc: StoreUnavailable | OSError) -> None:
        self.faults.failed("ingest/store", exc)
        self.metrics.store_errors.labels("unavailable").inc()
        self.metrics.store_up.set(0)
        if isinstance(exc, StoreUnauthorized):
            self._refused(exc)
        elif not self._store_down:
            log.warning("store unavailable (%s): spooling to %s", exc, self.spool.directory)
        self._store_down = True
        self._retry_at = time.monotonic() + self._backoff.next_delay_s()

    def _refused(self, exc: StoreUnauthorized) -> None:
        """Wrong credentials do not pass by themselves: /health fails and an error is
        logged every REFUSED_LOG_INTERVAL_S until a write works."""
        self.store_refused = str(exc)
        now = time.monotonic()
        if now - self._refused_logged_at >= REFUSED_LOG_INTERVAL_S:
            self._refused_logged_at = now
            log.error("the store refuses hazmon's credentials, nothing is stored (%s); "
                      "spooling to %s", exc, self.spool.directory)  # fmt: skip

    def _up(self) -> None:
        self.store_refused = None
        if self._store_down:
            self.faults.ok("ingest/store")
            log.info("store available again")
            self._store_down = False
            self.metrics.store_up.set(1)
        self._backoff.reset()
