"""The alarm service: the shell around the engine (docs/development.md §1 and §7).

    service = AlarmService(registry=..., broker=..., settings=..., store=..., data_dir=...)
    await service.run(ready=event)   # until cancelled; `ready` is set after SUBACK
    create_app(desk=service.desk, ...)   # the API works with the service's desk

The service has a desk (`desk`, alarms/sqlite_desk.py: the engine, its SQLite
database and the lock between them), whose journal it keeps anchored (`anchoring`,
alarms/journal/anchoring.py), and a link to the bus (hazmon.bus.seam.open_link). It
subscribes to telemetry and gateway states (QoS 1, persistent session) and commits
journal and state in one SQLite transaction before it acknowledges a message (so a
crash loses nothing: the broker sends again, and the engine drops what it has seen).

Threads, and what runs on each:
- the link's own thread (on MQTT: paho's network thread of the receiving connection,
  hazmon.bus.consumer): one socket read's messages at a time (`_consume_now`): decode
  and evaluate under the desk's lock, commit (messages that cause nothing to tell in
  groups: `Timing.group_commit_s`, `group_commit_max`), PUBACK, then publish alarm
  events and risk grades (docs/contract.md §2) right after their commit, with no hop
  to the event loop (a measured choice: docs/alarms.md, "Inbound path"). The rest of
  what they caused goes to the event loop.
- paho's network thread of the publishing connection: sends what was published
  (alarm events, grades, the journal head, MQTT notifications) and gets its PUBACKs.
- the event loop (shared with ingest and the API under `hazmon up`): start and stop,
  telling the world (`_emitted`: live subscribers, the store writer's batches of
  `alarm_event`, `site_risk` and `journal_head` gathered for `store_linger_s`, the
  notifiers), the journal head with every commit that journals an entry, and the
  periodic jobs. The API's operator actions run on it too, under the desk's lock.
- worker threads (`asyncio.to_thread`), each under the desk's lock where it touches
  the engine or the database: the service clock (`tick_s`), the commit of a group
  that is due, system alarms, journalling notification outcomes, the anchor file
  (`anchor_s`), store writes, and at start the journal against its anchors
  (alarms/journal/anchoring.py) before the service takes a message.

No error of a background task ends the service: each periodic job and the store
writer report a failure to `faults` (logged at a bounded rate) and try again next
time; every failing source is raised as a system alarm (alarms/system.py) and cleared
once it works again.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import deque
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

import orjson
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from hazmon.alarms import system
from hazmon.alarms.core import NotifyRequest, Output, RiskChange
from hazmon.alarms.journal import anchors
from hazmon.alarms.journal.anchoring import Anchoring
from hazmon.alarms.journal.anchors import Anchor
from hazmon.alarms.notifiers import Dispatcher, Notifier, RetryPolicy, from_registry
from hazmon.alarms.series import Deconflict, event_point, risk_point
from hazmon.alarms.sqlite_desk import AlarmDesk
from hazmon.alarms.state_db import AlarmDb
from hazmon.bus.mqtt import MqttOptions, stable_client_id
from hazmon.bus.seam import Inbound, Link, open_link
from hazmon.contract import topics
from hazmon.contract.errors import HazmonError
from hazmon.contract.registry import GRADE_LEVEL, Registry
from hazmon.contract.settings import BrokerAddress, Settings
from hazmon.runtime.faults import Faults
from hazmon.runtime.process import raise_open_files_limit
from hazmon.stores.base import Point, Store, StoreError, StoreUnavailable

log = logging.getLogger(__name__)


CHAIN_PREFIX = topics.chain("")
SYSTEM_TOPICS = f"{topics.ROOT}/_system/"  # the chain watch's canaries and verdicts
WATCH_FRESH_MS = 30_000  # a watch's verdict older than this is a watch gone: ignored


def wall_clock_ms() -> int:
    return time.time_ns() // 1_000_000


@dataclass(frozen=True, slots=True)
class Timing:
    """The service's own periods and sizes (the registry holds the plant's)."""

    tick_s: float = 1.0
    anchor_s: float = 60.0
    outbox_sweep_s: float = 30.0
    store_retry_s: float = 5.0
    # alarm points go to the store in batches gathered this long (MQTT carries the
    # live event; one HTTP write per event was a fifth of the service's time at 200
    # events/s)
    store_linger_s: float = 0.25
    webhook_timeout_s: float = 5.0
    # messages that caused nothing to tell are committed (and then acknowledged) in
    # groups: at most this long after the first of them, or once this many wait
    group_commit_s: float = 0.05
    group_commit_max: int = 10_000
    # after a socket read of few messages, wait this long before the next one
    # (hazmon.bus.consumer, gathering): at most this much later, many messages per
    # evaluation and commit instead of one
    gather_s: float = 0.002
    store_buffer: int = 100_000
    dangers_s: float = 5.0  # hidden dangers' rules, overdue and grade floors
    notify_retry: RetryPolicy = field(default_factory=RetryPolicy)


class AlarmService:
    """Runs a desk on the broker: MQTT in and out, the store, notifiers, metrics, the
    journal's anchors, background faults as system alarms."""

    def __init__(
        self,
        *,
        registry: Registry,
        broker: BrokerAddress | None,
        settings: Settings,
        store: Store,
        data_dir: Path,
        client_id: str | None = None,
        clock: Callable[[], int] | None = None,
        timing: Timing | None = None,
        notifiers: Mapping[str, Notifier] | None = None,
        faults: Faults | None = None,
        accept_truncated_journal: bool = False,
        link: Link | None = None,
        database: AlarmDb | None = None,
        anchored: bool = True,
        component: str = "alarms",
    ) -> None:
        self.broker = broker
        self.component = component  # its faults' and system alarms' name: `_system/<it>/...`
        self._given_link = link
        self.settings = settings
        self.store = store
        self.data_dir = data_dir
        self._clock = clock or wall_clock_ms
        self.anchoring = Anchoring(
            data_dir=data_dir, store=store, clock=self._clock, publish=self._publish,
            retained_head=self._retained_head, wake_store=self._wake_store,
            accept_truncated_journal=accept_truncated_journal,
        ) if anchored else None
        self.desk = AlarmDesk(registry=registry, data_dir=data_dir, store=store,
                              clock=self._clock, anchoring=self.anchoring, database=database)
        self.abandoned = False
        self.client_id = client_id or settings.client_id or stable_client_id(data_dir, "alarms")
        self.timing = timing or Timing()
        self._given_notifiers = notifiers
        self._link: Link | None = None
        self._loop: asyncio.AbstractEventLoop | None = None  # set while running
        self._store_wake: asyncio.Event | None = None
        self._waiting: list[Inbound] = []
        self._waiting_since = 0.0
        self._dispatcher: Dispatcher | None = None
        self._to_store: deque[Point] = deque(maxlen=self.timing.store_buffer)
        self._deconflict = Deconflict()
        self.faults = faults or Faults()
        self.system = self.desk.system
        self._publish_failing = False
        # each chain watch's last verdict: (its time, chain dead, broker dropping)
        self._watches: dict[str, tuple[int, bool, bool]] = {}
        self._watch_seen: list[tuple[int, bool, bool]] = []  # failing verdicts since a sync
        self._evaluation_failing = False
        self._retry: list[Inbound] = []  # evaluated when a commit failed: evaluated again
        self.metrics_registry = CollectorRegistry(auto_describe=True)
        self._events = Counter(
            "hazmon_alarm_events", "Alarm journal entries, by event", ["event"],
            registry=self.metrics_registry,
        )
        self._acked = Counter(
            "hazmon_alarm_messages_acked",
            "Gateway messages evaluated, committed and acknowledged (the chain watch's "
            "canaries and verdicts not counted)",
            registry=self.metrics_registry,
        )
        self._retained_ignored = Counter(
            "hazmon_alarm_retained_telemetry_ignored",
            "Retained telemetry messages acknowledged and not evaluated (telemetry is never "
            "retained; one would be read again on every resubscribe)",
            registry=self.metrics_registry,
        )
        self._latency = Histogram(
            "hazmon_alarm_evaluation_seconds",
            "Time to evaluate one socket read's messages (and commit, unless deferred)",
            registry=self.metrics_registry,
            buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5),
        )
        depth = Gauge(
            "hazmon_alarm_queue_depth",
            "Messages evaluated and waiting for their commit and acknowledgement",
            registry=self.metrics_registry,
        )
        depth.set_function(lambda: float(len(self._waiting)))
        pending = Gauge("hazmon_alarm_notify_pending", "Notifications queued or retrying",
                        registry=self.metrics_registry)
        pending.set_function(lambda: float(len(self._dispatcher.pending) if self._dispatcher
                                           else 0))

    def _now(self) -> int:
        return int(self._clock())

    def close(self) -> None:
        """Close the desk's database (after `run` ended)."""
        self.desk.close()

    @property
    def db(self) -> AlarmDb:
        """The desk's state database (the journal's head is `db.head`)."""
        return self.desk.db

    def journal_verify(self) -> dict[str, Any]:
        """The journal against every anchor reachable: the desk's `journal_verify`."""
        return self.desk.journal_verify()

    # -- running ---------------------------------------------------------------------------

    async def run(self, *, ready: asyncio.Event | None = None) -> None:
        raise_open_files_limit()
        if self.anchoring is not None:
            await asyncio.to_thread(self.desk.check_anchors)
        loop = asyncio.get_running_loop()
        link = self._given_link or self._open_link()
        self._store_wake = asyncio.Event()
        self._dispatcher = Dispatcher(self._notifiers(link), self._report,
                                      retry=self.timing.notify_retry)
        await link.connect()
        self._link = link
        self.desk.start()
        self._loop = loop
        self.desk.attach(loop, tell=self._emitted)
        self._publish_grades()
        if self.anchoring is not None:
            self.anchoring.publish_head(self.desk.db.head)
        timing = self.timing
        try:
            async with asyncio.TaskGroup() as group:
                jobs: list[tuple[float, Callable[[], Awaitable[None]], str]] = [
                    (timing.group_commit_s / 2, self._flush_due, "group-commit"),
                    (timing.tick_s, self._tick, "clock"),
                    (timing.tick_s, self._sync_system_alarms, "system-alarms"),
                    (timing.outbox_sweep_s, self._sweep, "outbox"),
                    (timing.dangers_s, self._dangers, "hidden-dangers"),
                ]
                if self.anchoring is not None:
                    jobs.append((timing.anchor_s, self._anchor, "anchor-file"))
                for period_s, job, name in jobs:
                    group.create_task(self._every(period_s, job, name), name=f"alarms-{name}")
                group.create_task(self._store_writer(), name="alarms-store")
                group.create_task(self._dispatcher.run(), name="alarms-notify")
                await self._guarded("outbox", self._sweep)  # what fell due before a restart
                await link.subscribed()
                # a partition's service (alarms/workers.py) says so in the worker's words
                log.log(logging.DEBUG if self._given_link else logging.INFO,
                        "alarm service subscribed")
                log.debug("alarm service client id %s", self.client_id)
                if ready is not None:
                    ready.set()
        finally:
            stopping = asyncio.ensure_future(self._stop(link))
            try:
                await asyncio.shield(stopping)
            except asyncio.CancelledError:  # cancelled again: the stop still completes
                await stopping
                raise

    def _open_link(self) -> Link:
        if self.broker is None:
            raise HazmonError("the alarm service needs a broker or a link")
        return open_link(
            self.broker, self.settings, client_id=self.client_id,
            topics=[topics.TELEMETRY_WILDCARD, topics.STATE_WILDCARD, topics.CANARY,
                    topics.CHAIN_WILDCARD],
            consumer=self._consume_now, publishing=True, gather_s=self.timing.gather_s,
        )

    def consume(self, items: list[Inbound]) -> None:
        """A batch from a link the service was given (alarm workers, alarms/workers.py),
        on the thread that delivers it: as from its own link."""
        self._consume_now(items)

    def abandon(self) -> None:
        """The partition this service evaluated belongs to another worker now: from
        here it commits, acknowledges, publishes and notifies nothing (its stop too);
        what it had not acknowledged goes to the new owner. Whoever called this cancels
        `run` next; every commit it might still try is refused by the changelog."""
        self.abandoned = True

    async def reload_registry(self, registry: Registry) -> None:
        """Take a changed registry while running (`hazmon up` on SIGHUP): sites,
        sensors, thresholds, escalation and hiding limits apply at once; the messages
        waiting for a commit are committed and acknowledged first. Notifier definitions
        (`notifiers:`) apply at the next start: their queues and workers are built then."""
        changed_notifiers = registry.notifiers != self.desk.registry.notifiers

        def swap() -> None:
            with self.desk.lock:
                self.desk.use_registry(registry)
                if self._link is not None:
                    self._ack(self._link, self._waiting)

        await asyncio.to_thread(swap)
        if changed_notifiers:
            log.warning("reload: the notifiers changed; they apply at the next start")
        log.info("alarm service: registry reloaded (%d sites)", len(registry.sites))

    async def _every(
        self, period_s: float, job: Callable[[], Awaitable[None]], name: str
    ) -> None:
        while True:
            await asyncio.sleep(period_s)
            await self._guarded(name, job)

    async def _guarded(self, name: str, job: Callable[[], Awaitable[None]]) -> None:
        """Run a background job; a failure is a fault of `alarms/<name>` (logged at a
        bounded rate, raised as a system alarm), never the end of the service."""
        source = f"{self.component}/{name}"
        try:
            await job()
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # reported, retried next period
            self.faults.failed(source, exc)
        else:
            self.faults.ok(source)

    async def _stop(self, link: Link) -> None:
        """At stop: anchor the journal, flush what the store has not got, close."""
        self._loop = None
        self.desk.detach()
        if self.abandoned:
            link.close()
            self._link = None
            return
        try:  # in a worker thread, as every commit: a changelog append needs the loop
            await asyncio.to_thread(self._flush_waiting, due_only=False)
        except Exception as exc:  # not acknowledged: the broker sends it again
            log.error("could not commit the messages waiting at stop: %s", exc)
        if self.anchoring is not None:
            await self._anchor_at_stop(link)
        try:
            self.store.write_points(list(self._to_store))
            self._to_store.clear()
        except StoreError as exc:
            log.warning("store unreachable at stop, %d points not written: %s",
                        len(self._to_store), exc)
        link.close()
        self._link = None

    async def _anchor_at_stop(self, link: Link) -> None:
        head = self.desk.db.head
        anchor = Anchor(head.seq, head.hash, self._now(), "this service")
        try:
            await link.publish_confirmed(topics.JOURNAL_HEAD, orjson.dumps(anchor.message()),
                                         retain=True, timeout_s=2.0)
        except (HazmonError, RuntimeError, ValueError, OSError) as exc:
            log.warning("could not publish the journal anchor at stop: %s", exc)
        self._to_store.append(anchor.point())
        try:
            self.desk.write_anchor()
        except OSError as exc:
            log.warning("could not write the anchor file at stop: %s", exc)

    # -- evaluating ------------------------------------------------------------------------

    def _consume_now(self, items: list[Inbound]) -> None:
        """On paho's thread, one socket read's messages: evaluate them. Messages that
        caused an event, a notification or a grade change are committed at once, with
        whatever waited before them, then acknowledged and published; quiet ones wait
        for the next commit: a later read's, or `_flush_due`'s once their group is
        `group_commit_s` old, or at once when `group_commit_max` would wait (a
        transaction per handful of messages was most of the alarm service's time at one
        reading per message)."""
        if self.abandoned:
            return
        timing = self.timing
        own = [i for i in items if i.topic.startswith(SYSTEM_TOPICS)]  # one pass; mostly none
        canaries = [i.payload for i in own if i.topic == topics.CANARY]
        for item in own:
            if item.topic.startswith(CHAIN_PREFIX):
                self._watch_said(item.topic.removeprefix(CHAIN_PREFIX), item.payload)
        for payload in canaries:  # on JetStream a canary carries its watch's verdict
            self._canary_said(payload)
        with self.desk.lock:
            now = time.monotonic()
            if not self._waiting:
                self._waiting_since = now
            defer = (len(self._waiting) + len(items) < timing.group_commit_max
                     and now - self._waiting_since < timing.group_commit_s
                     and not canaries)  # a canary's batch is committed at once
            if self._retry:  # evaluated before a commit failed: again, first
                items, self._retry = [*self._retry, *items], []
            try:
                out, committed = self._process(items, defer)
            except Exception as exc:  # the commit failed (ENOSPC...): not acknowledged
                self._commit_failed(exc, items)
                return
            self._commit_works()
            self._waiting += items
            if committed and self._link is not None:
                self._ack(self._link, self._waiting)
        self._emit(out)
        if canaries:
            self._echo(canaries)

    def _echo(self, canaries: list[bytes]) -> None:
        """Canaries of the chain watch (alarms/watch.py), evaluated and committed with
        their batch: echoed from the event loop, where notifications are submitted."""
        loop = self._loop
        if loop is None:
            return
        with contextlib.suppress(RuntimeError):  # the loop closed: stopping
            for payload in canaries:
                loop.call_soon_threadsafe(self._publish, topics.CANARY_ECHO, payload)

    def _watch_said(self, watch: str, payload: bytes) -> None:
        """A chain watch's verdict (retained, every second): a dead chain or a dropping
        broker is a system alarm journalled here too, once this service runs
        (`_sync_system_alarms`)."""
        try:
            doc = orjson.loads(payload) if payload else None
            if doc is None:
                self._watches.pop(watch, None)  # the watch stopped
                return
            verdict = (int(doc["ts_ms"]), doc.get("state") == "dead",
                       bool(doc.get("broker_dropping")))
        except (ValueError, KeyError, TypeError, AttributeError):
            return
        self._watches[watch] = verdict
        if verdict[1] or verdict[2]:  # kept until the next sync, even if "ok" follows:
            self._watch_seen.append(verdict)  # a frozen service reads them all at once

    def _canary_said(self, payload: bytes) -> None:
        """The verdict a JetStream canary carries (alarms/watch.py): its partition's lane
        of the chain, and for every partition whether the stream discards."""
        with contextlib.suppress(ValueError, KeyError, TypeError, AttributeError):
            verdict = orjson.loads(payload).get("verdict")
            if verdict is not None:
                self._watch_said(str(verdict["watch"]), orjson.dumps(verdict))

    def _watch_failing(self) -> dict[str, str]:
        """What the watches heard from within WATCH_FRESH_MS report failing, and what
        they reported failing since the last call."""
        now = self._now()
        seen, self._watch_seen = self._watch_seen, []
        fresh = [v for v in [*self._watches.values(), *seen] if now - v[0] <= WATCH_FRESH_MS]
        failing: dict[str, str] = {}
        chain, broker = system.watch_sources(self.component)
        if any(dead for _, dead, _ in fresh):
            failing[chain] = "no echo of the alarm chain's canary"
        if any(dropping for _, _, dropping in fresh):
            failing[broker] = "the broker dropped messages"
        return failing

    def _commit_failed(self, exc: Exception, items: list[Inbound]) -> None:
        """A commit failed: the desk went back to what the database holds
        (`AlarmDesk._commit`), so the messages waiting for a commit and these ones are
        evaluated again, in order, at the next chance: the next socket read or
        `_flush_due`, every `group_commit_s`. Until then they are not acknowledged, and a
        system alarm says why (`alarms/evaluation`)."""
        self._retry = [*self._waiting, *items]
        self._waiting.clear()
        self._evaluation_failing = True
        self.faults.failed(f"{self.component}/evaluation", exc)

    def _commit_works(self) -> None:
        if self._evaluation_failing:
            self._evaluation_failing = False
            self.faults.ok(f"{self.component}/evaluation")

    def _emit(self, out: Output) -> None:
        if not out:
            return
        loop = self._loop
        if loop is None:  # not running yet (a resumed session delivers at once)
            self.desk.hand_over(out)
            return
        self._publish_out(out)  # from here: no hop to the event loop before it goes out
        with contextlib.suppress(RuntimeError):  # the loop closed: stopping
            loop.call_soon_threadsafe(self._emitted_rest, out)

    async def _flush_due(self) -> None:
        await asyncio.to_thread(self._flush_waiting)

    def _flush_waiting(self, *, due_only: bool = True) -> None:
        """Commit and acknowledge the messages waiting for a commit (if their group is
        due)."""
        if self.abandoned:
            return
        with self.desk.lock:
            if self._retry:
                self._retry_failed()
                return
            age_s = time.monotonic() - self._waiting_since
            if not self._waiting or (due_only and age_s < self.timing.group_commit_s):
                return
            try:
                self.desk.flush()
            except Exception as exc:
                self._commit_failed(exc, [])
                return
            if self._link is not None:
                self._ack(self._link, self._waiting)

    def _retry_failed(self) -> None:
        """Evaluate again what a failed commit left (the lock is held)."""
        items, self._retry = self._retry, []
        try:
            out, _ = self._process(items, defer=False)
        except Exception as exc:
            self._commit_failed(exc, items)
            return
        self._commit_works()
        self._waiting += items
        if self._link is not None:
            self._ack(self._link, self._waiting)
        self._emit(out)

    def _ack(self, link: Link, items: list[Inbound]) -> None:
        link.ack(items)  # only now: what they caused is committed
        self._acked.inc(sum(1 for i in items if not i.topic.startswith(SYSTEM_TOPICS)))
        items.clear()

    def _process(self, items: list[Inbound], defer: bool) -> tuple[Output, bool]:
        started = time.perf_counter()
        messages = [(item.topic, item.payload) for item in items
                    if not (item.retained and item.topic.endswith("/telemetry"))]
        if len(messages) < len(items):
            self._retained_ignored.inc(len(items) - len(messages))
        found = self.desk.evaluate(messages, defer=defer)
        self._latency.observe(time.perf_counter() - started)
        return found

    async def _tick(self) -> None:
        await asyncio.to_thread(self.desk.tick)  # what it caused comes to `_emitted`

    async def _dangers(self) -> None:
        """Hidden dangers: the rules, overdue escalation and the grade floors
        (alarms/dangers/book.py); what it caused comes to `_emitted`."""
        await asyncio.to_thread(self.desk.dangers.tick)

    # -- telling the world -----------------------------------------------------------------

    def _emitted(self, out: Output) -> None:
        """On the event loop: publish, then the rest (`_emitted_rest`)."""
        self._publish_out(out)
        self._emitted_rest(out)

    def _publish_out(self, out: Output) -> None:
        """Alarm events and risk grades to MQTT (from any thread: paho's is safe)."""
        for event in out.events:
            if event.published:
                self._publish(topics.alarms(event.site), orjson.dumps(event.wire()))
        for change in out.risk:
            message = {"site": change.site, "grade": change.grade, "ts_ms": change.ts_ms}
            self._publish(topics.risk(change.site), orjson.dumps(message), retain=True)

    def _emitted_rest(self, out: Output) -> None:
        """On the event loop: live subscribers, metrics, the store, the notifiers."""
        self.desk.tell_subscribers(out)
        for event in out.events:
            self._events.labels(event.event).inc()
            if event.published:
                self._to_store.append(self._deconflict.place(event_point(event)))
        for change in out.risk:
            self._to_store.append(self._deconflict.place(risk_point(change, self.desk.registry)))
        if self._store_wake is not None and self._to_store:
            self._store_wake.set()
        if self._dispatcher is not None:
            for request in out.notify:
                self._dispatcher.submit(request)

    def _publish(self, topic: str, payload: bytes, *, retain: bool = False) -> None:
        if self._link is None:
            return
        try:
            self._link.publish(topic, payload, retain=retain)
        except (HazmonError, OSError, ValueError, RuntimeError) as exc:
            self._publish_failing = True
            self.faults.failed(f"{self.component}/publish", exc)
        else:
            if self._publish_failing:  # only then: this is on the path of every event
                self._publish_failing = False
                self.faults.ok(f"{self.component}/publish")

    def _publish_grades(self) -> None:
        now_ms = self._now()
        grades = self.desk.risk_grades()
        changes = [RiskChange(s, g, GRADE_LEVEL[g], now_ms) for s, g in grades.items()]
        self._emitted(Output(risk=changes))

    async def _store_writer(self) -> None:
        """Alarm points, grades and the newest anchor to the store, in batches; a batch
        that fails (store unavailable, out of file descriptors, disk full...) is kept
        and tried again every `store_retry_s`: a fault of `alarms/store` meanwhile."""
        assert self._store_wake is not None
        while True:
            await self._store_wake.wait()
            await asyncio.sleep(self.timing.store_linger_s)
            self._store_wake.clear()
            head_point = self.anchoring.take_point() if self.anchoring is not None else None
            if head_point is not None:
                self._to_store.append(head_point)
            while self._to_store:
                batch = [self._to_store.popleft() for _ in range(min(5000, len(self._to_store)))]
                try:
                    await asyncio.to_thread(self.store.write_points, batch)
                except asyncio.CancelledError:  # written at stop (a repeat is idempotent)
                    self._to_store.extendleft(reversed(batch))
                    raise
                except Exception as exc:  # unavailable, EMFILE, ENOSPC...
                    if isinstance(exc, StoreError) and not isinstance(exc, StoreUnavailable):
                        log.error("store refused alarm points: %s", exc)  # for good
                        continue
                    self.faults.failed(f"{self.component}/store", exc)
                    self._to_store.extendleft(reversed(batch))
                    await asyncio.sleep(self.timing.store_retry_s)
                else:
                    self.faults.ok(f"{self.component}/store")

    async def _anchor(self) -> None:
        """Every `anchor_s`: the head to MQTT and the store, then to the anchor file."""
        assert self.anchoring is not None
        self.anchoring.publish_head(self.desk.db.head)
        await asyncio.to_thread(self.desk.write_anchor)

    # -- system alarms ------------------------------------------------------------------------

    async def _sync_system_alarms(self) -> None:
        """Raise a system alarm for every failing source, clear those working again."""
        failing = {**self.faults.active(), **self._watch_failing()}
        if not failing and not self.system.open:
            return  # nothing to raise, clear or escalate
        self._emitted(await asyncio.to_thread(self._commit_system_alarms, failing))

    def _commit_system_alarms(self, failing: dict[str, str]) -> Output:
        """Journal what changed and the escalation due (alarms/system.py); the events
        and the tiers to tell (a dead chain's and a dropping broker's first tier was
        told by the chain watch: it works when this service does not)."""
        with self.desk.lock:
            change = self.system.commit(self.desk.db, failing, self._now(),
                                        self.desk.registry.escalation)
        return Output(events=change.events, notify=change.notify)

    # -- notifying -------------------------------------------------------------------------

    def _notifiers(self, link: Link) -> dict[str, Notifier]:
        if self._given_notifiers is not None:
            return dict(self._given_notifiers)
        return from_registry(self.desk.registry.notifiers, partial(link.publish_confirmed),
                             webhook_timeout_s=self.timing.webhook_timeout_s)

    async def _report(self, request: NotifyRequest, ok: bool, detail: str, final: bool) -> None:
        """Journal a delivery attempt. If that fails (disk full...), the request stays
        in the outbox and a later sweep sends it again (with the same idempotency key):
        a fault of `alarms/notify-journal` meanwhile. A system alarm's notification is
        not in the outbox (its alarm is no point of the plant): logged only."""
        if request.site == system.SITE:
            (log.info if ok else log.error)("system alarm %s to %s: %s", request.alarm_id,
                                             request.recipient, detail)
            return
        try:
            out = await asyncio.to_thread(
                partial(self.desk.record_outcome, request, ok=ok, detail=detail, final=final)
            )
        except Exception as exc:  # reported; the outbox keeps the request
            self.faults.failed(f"{self.component}/notify-journal", exc)
            return
        self.faults.ok(f"{self.component}/notify-journal")
        self._emitted(out)

    async def _sweep(self) -> None:
        if self._dispatcher is None:
            return
        with self.desk.lock:
            waiting = self.desk.db.outbox()
        for request in waiting:
            self._dispatcher.submit(request)

    # -- the journal's anchors: the service's ways out ------------------------------------------

    def _retained_head(self) -> Anchor | None:
        """The retained head on the broker (a short connection of its own)."""
        if self.broker is None:
            return None
        opts = MqttOptions.build(self.broker, self.settings, client_id="", clean_start=True)
        return anchors.read_mqtt_with(opts, attempts=3, timeout_s=10.0)

    def _wake_store(self) -> None:
        if self._store_wake is not None:
            self._store_wake.set()
