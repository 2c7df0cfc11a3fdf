"""Prometheus metrics of one ingest service, in a registry of its own (never the global one).

Counters move once per batch, not per message, so the hot path pays nothing for them.
"""

from __future__ import annotations

from collections.abc import Callable

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from hazmon.ingest.batch import Batch

_LATENCY_BUCKETS_S = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


class IngestMetrics:
    def __init__(self) -> None:
        self.registry = r = CollectorRegistry(auto_describe=True)
        self.messages = Counter("hazmon_ingest_messages", "MQTT messages received", registry=r)
        self.readings_in = Counter(
            "hazmon_ingest_readings", "readings received and accepted", registry=r
        )
        self.readings_stored = Counter(
            "hazmon_ingest_readings_stored",
            "readings written to the store (directly or replayed from the spool)",
            registry=r,
        )
        self.rejected = Counter(
            "hazmon_ingest_rejected", "rejected messages and readings", ["reason"], registry=r
        )
        self.dead_lettered = Counter(
            "hazmon_ingest_dead_letters", "dead letters written", registry=r
        )
        self.dead_evicted = Counter(
            "hazmon_ingest_dead_letters_evicted", "dead letters evicted (oldest)", registry=r
        )
        gateway = ["site", "gateway"]
        self.lost = Counter(
            "hazmon_ingest_lost_messages", "seq gaps: messages lost", gateway, registry=r
        )
        self.reboots = Counter(
            "hazmon_ingest_gateway_boots", "gateway restarts seen", gateway, registry=r
        )
        self.retained_ignored = Counter(
            "hazmon_ingest_retained_telemetry_ignored",
            "retained telemetry messages ignored "
            "(telemetry is never retained, docs/contract.md §2)",
            registry=r,
        )
        self.acked = Counter("hazmon_ingest_messages_acked", "PUBACKs sent", registry=r)
        self.write_latency = Histogram(
            "hazmon_ingest_write_latency_seconds",
            "time to write one batch to the store",
            buckets=_LATENCY_BUCKETS_S,
            registry=r,
        )
        self.store_errors = Counter(
            "hazmon_ingest_store_errors", "failed batch writes", ["kind"], registry=r
        )
        self.spooled = Counter(
            "hazmon_ingest_spooled_batches", "batches written to the disk spool", registry=r
        )
        self.replayed = Counter(
            "hazmon_ingest_replayed_batches", "spooled batches replayed", registry=r
        )
        self.internal_errors = Counter(
            "hazmon_ingest_internal_errors", "unexpected errors inside ingest", registry=r
        )
        self.store_up = Gauge("hazmon_ingest_store_up", "1: the last write worked", registry=r)
        self.store_up.set(1)

    def gauges(
        self,
        *,
        spool_depth: Callable[[], float],
        spool_bytes: Callable[[], float],
        spool_age_s: Callable[[], float],
        queue_depth: Callable[[], float],
    ) -> None:
        """Gauges read at scrape time."""
        specs = [
            ("hazmon_ingest_spool_depth", "batches waiting in the disk spool", spool_depth),
            ("hazmon_ingest_spool_bytes", "bytes in the disk spool", spool_bytes),
            ("hazmon_ingest_spool_age_seconds", "age of the oldest spooled batch", spool_age_s),
            ("hazmon_ingest_queue_depth", "batches waiting for the writer", queue_depth),
        ]
        for name, doc, read in specs:
            Gauge(name, doc, registry=self.registry).set_function(read)

    def received(self, batch: Batch) -> None:
        """Count a batch the writer took."""
        self.messages.inc(batch.messages)
        self.readings_in.inc(batch.reading_count)
        for reason, n in batch.rejected.items():
            self.rejected.labels(reason).inc(n)
        for (site, gateway), n in batch.lost.items():
            self.lost.labels(site, gateway).inc(n)
        for (site, gateway), n in batch.reboots.items():
            self.reboots.labels(site, gateway).inc(n)
