"""IngestService: every reading off the broker, durable before it is acknowledged.

    service = IngestService(registry=..., broker=..., settings=..., store=..., data_dir=...)
    await service.run(ready=event)      # until cancelled

Threads (docs/ingest.md has the picture):
- the link's own thread (hazmon.bus.seam; on MQTT: paho's network thread,
  hazmon.bus.consumer) takes one socket read's messages at a time, decodes them
  (hazmon.ingest.pipeline) and adds them to the open batch (hazmon.ingest.batch); it
  waits when the writer is two batches behind;
- the writer thread (hazmon.ingest.writer) makes each batch durable (store, else disk
  spool), then acknowledges its messages (the batch carries their link tokens);
- the asyncio task only starts and stops them and writes `ingest_stats` every 10 s,
  so it shares an event loop with the alarm service and the API without slowing it.

On cancellation it stops taking messages, makes durable and acknowledges what it
holds, then disconnects: a clean stop loses nothing and leaves nothing unacknowledged
that it has stored.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hazmon.bus.mqtt import stable_client_id
from hazmon.bus.seam import Inbound, Link, open_link
from hazmon.contract.errors import HazmonError
from hazmon.contract.registry import Registry
from hazmon.contract.settings import BrokerAddress, NatsAddress, Settings
from hazmon.contract.topics import STATE_WILDCARD, TELEMETRY_WILDCARD
from hazmon.ingest.batch import Batch, Batcher, Outcome
from hazmon.ingest.deadletter import FILE_NAME as DEAD_LETTER_FILE
from hazmon.ingest.deadletter import DeadLetters
from hazmon.ingest.feeds import HOUR_MS, hour_of
from hazmon.ingest.feeds import MEASUREMENT as FEED_MEASUREMENT
from hazmon.ingest.metrics import IngestMetrics
from hazmon.ingest.pipeline import Pipeline, internal_error
from hazmon.ingest.stats import stats_points
from hazmon.ingest.writer import Writer
from hazmon.stores.base import Point, Store, StoreError
from hazmon.stores.spool import Spool

log = logging.getLogger(__name__)

# after a socket read of few messages, wait this long before the next one
# (hazmon.bus.consumer, gathering): a message is stored at most this much later, and
# ingest decodes and batches many per call instead of one
READ_GATHER_S = 0.005


class IngestError(HazmonError):
    """Ingest cannot run (its subscription was refused, its data folder is in use)."""


@dataclass(frozen=True, slots=True)
class IngestTuning:
    batch_items: int = 5000  # readings + dead letters per batch (about 5,000 lines)
    flush_interval_s: float = 0.5  # a batch is written at the latest this old
    max_sealed: int = 2  # full batches waiting for the writer before paho waits
    spool_max_bytes: int = 2 * 1024**3
    dead_letter_max_rows: int = 100_000
    stats_interval_s: float = 10.0  # ingest_stats and gateway_feed points
    silence_interval_s: float = 1.0  # how often silent gateways are looked for
    subscribe_timeout_s: float = 30.0


def wall_clock_ms() -> int:
    return time.time_ns() // 1_000_000


class IngestService:
    def __init__(
        self,
        *,
        registry: Registry,
        broker: BrokerAddress | NatsAddress,
        settings: Settings,
        store: Store,
        data_dir: Path,
        share_group: str | None = None,
        client_id: str | None = None,
        tuning: IngestTuning | None = None,
        clock_ms: Callable[[], int] = wall_clock_ms,
    ) -> None:
        """`clock_ms` is the receiving clock (epoch ms): arrivals, silence, the hours of
        `gateway_feed` and the times of ingest's own points are read from it."""
        self.registry = registry
        self.clock_ms = clock_ms
        self.broker = broker
        self.settings = settings
        self.store = store
        self.data_dir = data_dir
        self.share_group = share_group
        self.tuning = tuning or IngestTuning()
        role = f"ingest-{share_group}" if share_group else "ingest"
        self.client_id = client_id or settings.client_id or stable_client_id(data_dir, role)
        self.metrics = IngestMetrics()
        self.metrics_registry = self.metrics.registry
        self.pipeline = Pipeline(registry, track_seq=share_group is None,
                                 lines=store.takes_lines)
        t = self.tuning
        self.batcher = Batcher(
            max_items=t.batch_items, max_sealed=t.max_sealed, flush_interval_s=t.flush_interval_s
        )
        self.spool_dir = data_dir / "spool" / store.pack_format
        self.spool: Spool | None = None
        self.dead_letters: DeadLetters | None = None
        self.writer: Writer | None = None
        self.link: Link | None = None
        self._paused = False
        self.ready = False

    @property
    def topics(self) -> list[str]:
        wildcards = [TELEMETRY_WILDCARD, STATE_WILDCARD]
        if self.share_group:
            return [f"$share/{self.share_group}/{w}" for w in wildcards]
        return wildcards

    def health(self) -> dict[str, Any]:
        spool = self.spool
        return {
            "ready": self.ready,
            "broker": bool(self.link and self.link.connected),
            "store": self.writer.store_up if self.writer else False,
            "store_refused": bool(self.writer and self.writer.store_refused),
            "spool_depth": spool.depth if spool else 0,
            "spool_age_s": round(spool.age_s(), 1) if spool else 0.0,
        }

    # -- running ----------------------------------------------------------------------------

    async def run(self, *, ready: asyncio.Event | None = None) -> None:
        """Run until cancelled; `ready` is set once the subscription is acknowledged."""
        writer_thread = await asyncio.to_thread(self._open)
        try:
            await asyncio.to_thread(self._seed_gateways)
            await asyncio.to_thread(self._seed_feeds)
            link = self.link = open_link(
                self.broker, self.settings, client_id=self.client_id, topics=self.topics,
                consumer=self._consume, gather_s=READ_GATHER_S,
            )
            await link.connect()
            await self._subscribed(link)
            self.ready = True
            if ready is not None:
                ready.set()
            log.info("ingest subscribed to %s", ", ".join(self.topics))
            log.debug("ingest client id %s", self.client_id)
            async with asyncio.TaskGroup() as group:
                group.create_task(self._report_stats(), name="ingest-stats")
                if self.pipeline.track_seq:
                    group.create_task(self._watch_silence(), name="ingest-silence")
        finally:
            stopping = asyncio.ensure_future(asyncio.to_thread(self._close, writer_thread))
            try:
                await asyncio.shield(stopping)
            except asyncio.CancelledError:
                await stopping
                raise

    def _open(self) -> threading.Thread:
        try:
            self.spool = Spool(self.spool_dir, max_bytes=self.tuning.spool_max_bytes)
        except StoreError as exc:
            raise IngestError(str(exc)) from exc
        self.dead_letters = DeadLetters(
            self.data_dir / DEAD_LETTER_FILE, max_rows=self.tuning.dead_letter_max_rows
        )
        if self.spool.depth:
            log.info("spool holds %d batches from before: replaying", self.spool.depth)
        spool = self.spool
        self.metrics.gauges(
            spool_depth=lambda: spool.depth,
            spool_bytes=lambda: spool.bytes,
            spool_age_s=spool.age_s,
            queue_depth=lambda: self.batcher.pending,
        )
        self.writer = Writer(
            store=self.store,
            spool=self.spool,
            dead_letters=self.dead_letters,
            batcher=self.batcher,
            metrics=self.metrics,
            ack=self._ack,
        )
        thread = threading.Thread(target=self.writer.run, name="ingest-writer", daemon=True)
        thread.start()
        return thread

    def _close(self, writer_thread: threading.Thread) -> None:
        """Stop taking messages, make durable and acknowledge what is held, disconnect."""
        self._paused = True
        self.ready = False
        self.batcher.add_points(self._feed_points())  # the counts since the last report
        self.batcher.close()
        if self.writer is not None:
            self.writer.stop.set()
        writer_thread.join()
        if self.link is not None:
            self.link.close()
        for closable in (self.spool, self.dead_letters):
            if closable is not None:
                closable.close()
        log.info("ingest stopped")

    async def _subscribed(self, link: Link) -> None:
        try:
            async with asyncio.timeout(self.tuning.subscribe_timeout_s):
                await link.subscribed()
        except TimeoutError:
            raise IngestError("no SUBACK from the broker in time") from None
        except HazmonError as exc:  # refused
            raise IngestError(str(exc)) from exc

    async def _report_stats(self) -> None:
        assert self.writer is not None and self.spool is not None
        previous = None
        while True:
            await asyncio.sleep(self.tuning.stats_interval_s)
            now_ms = self.clock_ms()
            points, previous = stats_points(
                self.writer.stats,
                self.spool,
                instance=self.client_id,
                now_ms=now_ms,
                previous=previous,
            )
            self.batcher.add_points(points + self._feed_points())

    def _feed_points(self) -> list[Point]:
        """The `gateway_feed` hours counted since the last report (ingest/feeds.py)."""
        return self.pipeline.feeds.points(instance=self.client_id, now_ms=self.clock_ms())

    async def reload_registry(self, registry: Registry) -> None:
        """Take a changed registry while running (`hazmon up` on SIGHUP): its sites,
        gateways and sensors are decoded from the next message on."""
        self.registry = registry
        self.pipeline.use_registry(registry)
        log.info("ingest: registry reloaded (%d sites)", len(registry.sites))

    async def _watch_silence(self) -> None:
        """Every second: a gateway silent for its offline_after_s is offline in the
        `gateway_status` series too, as it is for the alarm service (silence counts)."""
        while True:
            points = self.pipeline.tracker.silence(self.clock_ms())
            if points:
                self.batcher.add_points(points)
            await asyncio.sleep(self.tuning.silence_interval_s)

    def _seed_gateways(self) -> None:
        """Carry each gateway's lost-message count over from the store (best effort)."""
        if self.share_group:
            return
        now_ms = self.clock_ms()
        for site in self.registry.sites:
            for gateway in site.gateways:
                tags = {"site": site.id, "gateway": gateway.id}
                try:
                    rows = self.store.points(
                        "gateway_status", from_ms=0, to_ms=now_ms, tags=tags, limit=1
                    )
                except StoreError as exc:
                    log.warning("gateway status not read from the store: %s", exc)
                    return
                if rows:
                    lost = rows[0].fields.get("lost_messages")
                    online = rows[0].fields.get("online")
                    self.pipeline.tracker.seed(
                        site.id,
                        gateway.id,
                        lost_messages=lost if isinstance(lost, int) else 0,
                        online=online if isinstance(online, bool) else None,
                    )

    def _seed_feeds(self) -> None:
        """Go on from this instance's `gateway_feed` counts of the current hour, written
        before a restart (best effort)."""
        hour_ms = hour_of(self.clock_ms())
        try:
            rows = self.store.points(
                FEED_MEASUREMENT, from_ms=hour_ms, to_ms=hour_ms + HOUR_MS - 1,
                tags={"instance": self.client_id}, limit=100_000,
            )
        except StoreError as exc:
            log.warning("gateway feed counts not read from the store: %s", exc)
            return
        for row in rows:
            site, gateway = row.tags.get("site"), row.tags.get("gateway")
            if site and gateway and row.ts_ms == hour_ms:
                self.pipeline.feeds.seed(site, gateway, row.ts_ms, row.fields)

    # -- the link's thread ------------------------------------------------------------------

    def _consume(self, items: list[Inbound]) -> None:
        """One batch from the link (a socket read's messages on MQTT): each message
        decoded and added to the open batch, waiting while the writer is behind."""
        batcher, pipeline = self.batcher, self.pipeline
        for topic, payload, token, retained in items:
            if self._paused:
                return  # not acknowledged: the broker keeps them for the next session
            now_ms = self.clock_ms()
            if retained and topic.endswith("/telemetry"):
                outcome = self._retained_telemetry(topic)
            else:
                try:
                    outcome = pipeline.handle(topic, payload, now_ms)
                except Exception as exc:
                    log.exception("ingest could not handle a message on %r", topic)
                    outcome = internal_error(topic, payload, now_ms, exc)
            batcher.add(outcome, token=token, payload_bytes=len(payload))

    def _retained_telemetry(self, topic: str) -> Outcome:
        """A retained message the broker sent on subscribing: a gateway's retained state
        is its current state, but telemetry is never retained (docs/contract.md §2), and a
        retained one would be read again on every resubscribe: ignored, counted, and
        acknowledged in order with the rest."""
        self.metrics.retained_ignored.inc()
        log.debug("retained telemetry on %r ignored", topic)
        return Outcome()

    def _ack(self, batch: Batch) -> None:
        """On the writer's thread, once the batch is durable: its messages, by their
        tokens alone (neither payloads nor message objects stay in memory for this)."""
        if self.link is not None and batch.tokens:
            items = [Inbound("", b"", token) for token in batch.tokens]
            try:
                self.link.ack(items)
            except Exception:
                log.exception("acknowledging %d messages failed", len(items))
