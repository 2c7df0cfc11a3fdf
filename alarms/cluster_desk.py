"""`ClusterDesk`: the duty desk (hazmon.alarms.desk.Desk) of an API instance on a
JetStream cluster (docs/scale-out.md). It owns no partition and answers for every site;
any number of them can run.

    desk = ClusterDesk(registry=..., servers=[...], data_dir=..., store=..., user=..., password=...)
    await desk.run(ready=event)   # until cancelled; ready once caught up with the cluster
    create_app(desk=desk, ...)    # what `hazmon api` does (hazmon/cli/api.py)

Reads come from replicated state. The desk follows every partition's changelog
(HAZMON_PARTS, `hz.part.{p}`: hazmon.alarms.changelog) from its first record, on one
ordered consumer of its own, and commits each record to a local copy of the
partition's database in `data_dir/replica/p{k}`, made afresh at every start (a copy is
never fsynced: the changelog is the truth). Each copy has a view: an `AlarmDesk` over
the copy, on a database connection of its own, whose reads are the desk's
(occurrences, last readings, grades, counts by priority). The view's engine is kept up
to date record by record from the state each record carries, so a record costs what it
holds, not what the partition holds; each batch of records then settles the view's
site sets and grades once. Measured on one core: a record of one gateway's 25 sensors
is committed and shown in about 1 ms whatever the partition's size; settling takes
2 ms for 5,000 sensors, 15 ms for 25,000; an engine built afresh from a copy would take
about 45 µs a sensor (230 ms for 5,000), too much to do as records arrive. The journal
export merges the partitions' chains by time (each chain keeps its order),
verification checks every chain, the alarm-system figures are computed over the
merged entries.

Live events are those the owners publish: alarm events and risk grades
(`hazmon.v1.{site}.alarms`, `hazmon.v1.{site}.risk`) go to the desk's subscribers.

Operator actions go to the owner of the partition of their site (hazmon.alarms.remote,
`hz.act.{p}`). While no worker answers (a takeover in progress) the desk asks again,
with the same request id, for `act_timeout_s`; then JetStreamError says the partition
has no owner. An owner's refusal comes back as the error its desk raised, so the HTTP
API answers as it does on one box. Once committed, the desk waits (at most
CATCH_UP_S) until its copy holds the commit: what the caller reads next shows it.

Threads: the NATS connection, the follower and the requests run on an event loop of
their own, in a thread of their own ("cluster-desk"); records are committed to the
copies in a worker thread of that loop. Reads are SQLite reads under a view's lock
(the follower holds it only to update the view's engine), from any thread. `act`
blocks its caller's thread until the owner's answer comes: milliseconds in steady
state, up to `act_timeout_s` during a takeover; the API calls it in a worker thread
(hazmon.api.context.act), never on an event loop, which may be the owner's own
(`hazmon up` on JetStream runs a worker and this desk in one process).
"""

from __future__ import annotations

import asyncio
import contextlib
import heapq
import itertools
import logging
import shutil
import socket
import threading
import time
import uuid
from collections.abc import Awaitable, Callable, Iterable, Iterator
from pathlib import Path
from typing import Any, Literal

import orjson
from nats.aio.client import Client as Nats
from nats.aio.msg import Msg
from nats.errors import Error as NatsError
from nats.errors import NoRespondersError
from nats.errors import TimeoutError as NatsTimeout
from prometheus_client import CollectorRegistry, Counter, Histogram

from hazmon.alarms import changelog, remote
from hazmon.alarms import state_db as db
from hazmon.alarms.core.inputs import BypassPermit, OperatorInput, OutOfService, ReturnToService
from hazmon.alarms.desk import Desk
from hazmon.alarms.journal import chain as journal
from hazmon.alarms.journal.chain import ALL_COLUMNS
from hazmon.alarms.journal.export import CHAIN, export
from hazmon.alarms.kpi import kpi
from hazmon.alarms.sqlite_desk import AlarmDesk, verify_journal
from hazmon.alarms.workers import partition_registry
from hazmon.bus import jetstream as js
from hazmon.contract.registry import Registry
from hazmon.stores.base import Store

log = logging.getLogger(__name__)

ACT_TIMEOUT_S = 15.0  # a takeover takes less (docs/scale-out.md)
ATTEMPT_S = 3.0  # one request's wait for its answer
RETRY_S = 0.25  # between requests while no worker answers
CATCH_UP_S = 2.0  # after an answer: at most this long until the copy holds the commit
RECORDS_PER_PULL = 1000
PULL_S = 1.0
CONSUMER_UNANSWERED = 2  # the consumer's server did not answer this often in a row: made again
STOP_S = 15.0
LIVE = {"hazmon.v1.*.alarms": "alarm", "hazmon.v1.*.risk": "risk"}  # what owners publish
SUBSCRIBER_QUEUE = 1000  # items per live subscriber; a slow reader loses the oldest


def wall_clock_ms() -> int:
    return time.time_ns() // 1_000_000


class CopyDb(db.AlarmDb):
    """A partition's database as the desk keeps it: made afresh from the changelog at
    every start, so its commits need not reach the disk."""

    def __init__(self, data_dir: Path) -> None:
        super().__init__(data_dir)
        self._conn.execute("PRAGMA synchronous=OFF")


class Copy:
    """One partition's copy: its database, written by the follower alone, and the view
    the readers use (`view`, an AlarmDesk over the same file on its own connection)."""

    def __init__(
        self, partition: int, registry: Registry, folder: Path, store: Store,
        *, clock: Callable[[], int] = wall_clock_ms,
    ) -> None:
        self.partition = partition
        self.folder = folder
        self.store = store
        self.clock = clock  # grades go by it (permits, out of service)
        self.db = CopyDb(folder)
        self.view = self._view(registry)
        self.applied = 0  # the stream sequence of the newest record committed here
        self._writing = threading.Lock()  # records, and a view built afresh, one at a time

    def _view(self, registry: Registry) -> AlarmDesk:
        return AlarmDesk(registry=registry, data_dir=self.folder, store=self.store,
                         clock=self.clock, database=db.AlarmDb(self.folder))

    def commit(self, seq: int, data: bytes) -> None:
        """Commit one changelog record to the copy, and show it in the view."""
        with self._writing:
            changelog.apply(self.db, data)
            self.applied = seq
            self._show(orjson.loads(data))

    def _show(self, record: dict[str, Any]) -> None:
        """The view's engine takes the state the record changed, as a restart restores
        it (`Engine.restore`); an occurrence that ended leaves its point."""
        if "takeover" in record:
            return
        dirty = record["dirty"]
        occurrences: dict[str, dict[str, Any]] = dirty["occurrences"]
        view = self.view
        with view.lock:
            engine = view.engine
            engine.restore(
                sensors=dirty["sensors"], points=dirty["points"], gateways=dirty["gateways"],
                open_occurrences={alarm_id: o["doc"] for alarm_id, o in occurrences.items()
                                  if o["ended_ms"] is None},
                last=changelog.record_last(dirty),
            )
            for alarm_id, o in occurrences.items():
                if o["ended_ms"] is None:
                    continue
                found = engine.plant.point_of_alarm(alarm_id)
                point = found[0] if found is not None else None
                if point is not None and point.occ is not None and point.occ.alarm_id == alarm_id:
                    point.occ = None

    def settle(self) -> None:
        """After a batch of records: the view's site sets and grades, from its state."""
        self.view.start()

    def holds(self, alarm_id: str) -> bool:
        view = self.view
        with view.lock:
            return view.db.occurrence(alarm_id) is not None

    def use_registry(self, registry: Registry) -> None:
        """A view of `registry` (the partition's part of it), built afresh from the copy."""
        with self._writing:
            self.view = self._view(registry)

    def close(self) -> None:
        with self._writing:
            self.view.close()
            self.db.close()


class ClusterDesk:
    def __init__(
        self,
        *,
        registry: Registry,
        servers: Iterable[str],
        data_dir: Path,
        store: Store,
        user: str | None = None,
        password: str | None = None,
        name: str | None = None,
        act_timeout_s: float = ACT_TIMEOUT_S,
        clock: Callable[[], int] = wall_clock_ms,
    ) -> None:
        self.registry = registry
        self.servers = list(servers)
        self.data_dir = data_dir
        self.store = store
        self.user, self.password = user, password
        self.name = name or f"{socket.gethostname()}-{id(self):x}"
        self.act_timeout_s = act_timeout_s
        self.clock = clock
        self.partitions = 0  # the cluster's, once connected
        self._sites = {s.id for s in registry.sites}
        self._copies: list[Copy] = []
        self._generation = 0  # copies made afresh so far (a record missed makes them again)
        self._missed = False  # a partition's record does not follow the copy's last one
        self._loop: asyncio.AbstractEventLoop | None = None  # the desk's own
        self._nc: Nats | None = None
        self._progress: asyncio.Condition | None = None  # on the desk's loop: records came
        self._until = 0  # the changelog's last sequence at start: caught up past it
        self._failure: BaseException | None = None
        self._subscribers: dict[asyncio.Queue[dict[str, Any]], asyncio.AbstractEventLoop] = {}
        self._subscribers_lock = threading.Lock()
        self.metrics_registry = CollectorRegistry(auto_describe=True)
        self._records = Counter(
            "hazmon_api_changelog_records", "Changelog records committed to the copies",
            registry=self.metrics_registry,
        )
        self._action_seconds = Histogram(
            "hazmon_api_action_seconds",
            "Operator actions: from the first request to the owner's answer, copy caught up",
            registry=self.metrics_registry,
            buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 15.0),
        )

    @property
    def connected(self) -> bool:
        nc = self._nc
        return nc is not None and bool(nc.is_connected)

    # -- running -------------------------------------------------------------------------

    async def run(self, *, ready: asyncio.Event | None = None) -> None:
        """Connect, make the copies, catch up with every changelog (then `ready`), and
        follow them until cancelled; an error of the desk's thread ends it."""
        here = asyncio.get_running_loop()
        caught_up, ended = asyncio.Event(), asyncio.Event()
        loop = asyncio.new_event_loop()

        def say_caught_up() -> None:
            here.call_soon_threadsafe(caught_up.set)

        task = loop.create_task(self._main(say_caught_up))

        def serve() -> None:
            try:
                loop.run_until_complete(task)
            except asyncio.CancelledError:
                pass
            except BaseException as exc:  # ends `run` with it
                self._failure = exc
            finally:
                loop.run_until_complete(loop.shutdown_default_executor())
                loop.close()
                with contextlib.suppress(RuntimeError):  # the caller's loop is closed
                    here.call_soon_threadsafe(ended.set)

        thread = threading.Thread(target=serve, name="cluster-desk", daemon=True)
        self._loop = loop
        thread.start()
        try:
            waits = {asyncio.ensure_future(caught_up.wait()), asyncio.ensure_future(ended.wait())}
            try:
                await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
            finally:
                for waiting in waits:
                    waiting.cancel()
            if caught_up.is_set() and not ended.is_set():
                if ready is not None:
                    ready.set()
                await ended.wait()
            if self._failure is not None:
                raise self._failure
        finally:
            with contextlib.suppress(RuntimeError):  # already closed: it ended
                loop.call_soon_threadsafe(task.cancel)
            await asyncio.to_thread(thread.join, STOP_S)
            self._loop = None
            for copy in self._copies:
                copy.close()

    async def _main(self, caught_up: Callable[[], None]) -> None:
        nc = await js.connect(self.servers, name=f"hazmon-api-{self.name}",
                              user=self.user, password=self.password)
        self._nc = nc
        self._progress = asyncio.Condition()
        try:
            self.partitions, self._until = await self._streams(nc)
            self._copies = await self._make_copies(nc)
            for subject, kind in LIVE.items():
                await nc.subscribe(subject, cb=self._live(kind))
            log.info("following %d partitions of %s (changelog at %d)", self.partitions,
                     ",".join(self.servers), self._until)
            await self._follow(nc, caught_up)
        finally:
            self._nc = None
            with contextlib.suppress(Exception):
                await nc.close()

    async def _streams(self, nc: Nats) -> tuple[int, int]:
        """The partition count and the changelog's last sequence, once the streams are
        there (the first ingest replica or alarm worker to start makes them)."""
        said = ""
        while True:
            try:
                inbound = await js.api(nc, f"STREAM.INFO.{js.IN_STREAM}", {})
                parts = await js.api(nc, f"STREAM.INFO.{js.PARTS_STREAM}", {})
            except js.JetStreamError as exc:
                if str(exc) != said:
                    log.warning("waiting for the streams %s and %s: %s", js.IN_STREAM,
                                js.PARTS_STREAM, exc)
                    said = str(exc)
                await asyncio.sleep(1.0)
                continue
            partitions = js.partitions_of(inbound["config"].get("subject_transform"))
            if partitions is None:
                raise js.JetStreamError(f"stream {js.IN_STREAM} is not partitioned by site")
            return partitions, int(parts["state"]["last_seq"])

    async def _make_copies(self, nc: Nats) -> list[Copy]:
        """Every partition's copy, made afresh: from the partition's newest snapshot
        when there is one (the workers trim the changelog behind their snapshots), so
        that following its changelog starts after the record the snapshot covers."""
        while True:
            try:
                snapshots = await self._snapshots(nc)
                break
            except js.JetStreamError as exc:  # no answer (an election): asked again
                log.warning("cannot read the partitions' snapshots: %s", exc)
                await asyncio.sleep(1.0)
        self._generation += 1
        return await asyncio.to_thread(self._copies_from, snapshots, self._generation)

    async def _snapshots(self, nc: Nats) -> dict[int, tuple[bytes, int]]:
        store = await js.existing_snapshot_store(nc)
        snapshots: dict[int, tuple[bytes, int]] = {}
        for p in range(self.partitions):
            found = await js.load_snapshot(store, p) if store is not None else None
            if found is not None:
                snapshots[p] = found
        return snapshots

    def _copies_from(self, snapshots: dict[int, tuple[bytes, int]], generation: int
                     ) -> list[Copy]:
        root = self.data_dir / "replica"
        if generation == 1:
            shutil.rmtree(root, ignore_errors=True)
        copies = []
        for p in range(self.partitions):
            folder = root / f"g{generation}" / f"p{p}"
            folder.mkdir(parents=True, exist_ok=True)
            data, covers = snapshots.get(p, (b"", 0))
            if data:
                (folder / db.DB_FILE).write_bytes(data)
            copy = Copy(p, partition_registry(self.registry, p, self.partitions), folder,
                        self.store, clock=self.clock)
            copy.applied = covers
            copy.settle()
            copies.append(copy)
        return copies

    # -- following the changelogs ------------------------------------------------------------

    async def _follow(self, nc: Nats, caught_up: Callable[[], None]) -> None:
        """Every partition's records in stream order, from the first after the
        snapshots, on a consumer of the desk's own; a consumer lost (its server died)
        or a record missed is made again from the next record not committed. A record
        that does not follow its copy's last one (records trimmed before this desk read
        them: it took several snapshots' time to start) makes the copies again, from
        the snapshots."""
        start = min((c.applied for c in self._copies), default=0) + 1
        if self._until < start:
            caught_up()
        while True:
            if self._missed:
                self._missed = False
                old, self._copies = self._copies, await self._make_copies(nc)
                for copy in old:
                    copy.close()
                start = min((c.applied for c in self._copies), default=0) + 1
            try:
                name = await self._consumer(nc, start)
            except js.JetStreamError as exc:
                log.warning("cannot follow the changelogs from %d: %s", start, exc)
                await asyncio.sleep(1.0)
                continue
            start = await self._pull(nc, name, start, caught_up)

    async def _consumer(self, nc: Nats, start: int) -> str:
        name = "api-" + nc.new_inbox().rsplit(".", 1)[-1]
        cfg: dict[str, Any] = {
            "name": name,
            "filter_subject": "hz.part.*",  # every partition's (js.part_subject)
            "ack_policy": "none",
            "deliver_policy": "by_start_sequence",
            "opt_start_seq": start,
            "inactive_threshold": 30 * js.NS,
            "mem_storage": True,
            "num_replicas": 1,
        }
        await js.api(nc, f"CONSUMER.CREATE.{js.PARTS_STREAM}.{name}",
                     {"stream_name": js.PARTS_STREAM, "config": cfg})
        return name

    async def _pull(
        self, nc: Nats, name: str, start: int, caught_up: Callable[[], None]
    ) -> int:
        """Commit what the consumer delivers until it is lost or skips a record; the
        next sequence to follow from. `caught_up()` once past the start's last record."""
        puller = js.Puller(nc, js.PARTS_STREAM, name)
        expect = 1  # the consumer's own sequence: a gap is a record missed
        unanswered = 0  # questions about the consumer in a row that got no answer
        drain = False  # records came: take what is there now (else wait for the next one)
        try:
            while True:
                try:
                    # a wait for one record, then what is there at once (with no
                    # acknowledgements a record sent is never sent again: the puller's
                    # inbox stays subscribed, so a record sent for an earlier request
                    # still comes, in order)
                    batch = await (puller.pull(RECORDS_PER_PULL, no_wait=True) if drain
                                   else puller.pull(1, expires_s=PULL_S))
                except Exception as exc:  # disconnected: the client reconnects by itself
                    log.warning("changelog pull failed: %s", exc)
                    await asyncio.sleep(0.5)
                    continue
                if not batch.messages and drain:
                    drain = False
                    continue
                if not batch.messages:
                    found = await self._consumer_found(nc, name)
                    unanswered = 0 if found is not None else unanswered + 1
                    if found is False or unanswered >= CONSUMER_UNANSWERED:
                        log.info("the changelog consumer is %s: following again from %d",
                                 "gone" if found is False else "not answering", start)
                        return start
                    continue
                unanswered, drain = 0, True
                records: list[tuple[int, int, int | None, bytes]] = []
                for msg in batch.messages:
                    seq = msg.metadata.sequence
                    if seq.consumer != expect:
                        break
                    expect += 1
                    after = msg.headers.get(js.AFTER_HEADER) if msg.headers else None
                    records.append((_partition(msg.subject), seq.stream,
                                    int(after) if after is not None else None, msg.data))
                if records:
                    await asyncio.to_thread(self._commit, records)
                    if self._missed:
                        return start
                    before, start = start, records[-1][1] + 1
                    self._records.inc(len(records))
                    if before <= self._until < start:
                        log.info("caught up with the changelogs at %d", self._until)
                        caught_up()
                    assert self._progress is not None
                    async with self._progress:
                        self._progress.notify_all()
                if len(records) < len(batch.messages):
                    log.info("a changelog record was missed: following again from %d", start)
                    return start
        finally:
            await puller.stop()
            with contextlib.suppress(Exception):
                await js.api(nc, f"CONSUMER.DELETE.{js.PARTS_STREAM}.{name}", {}, timeout_s=2.0)

    async def _consumer_found(self, nc: Nats, name: str) -> bool | None:
        """Whether the consumer is there; None: no answer (its server is down, or an
        election is under way)."""
        try:
            await js.api(nc, f"CONSUMER.INFO.{js.PARTS_STREAM}.{name}", {}, timeout_s=2.0)
        except js.JetStreamError as exc:
            if "(10014)" in str(exc):  # consumer not found
                return False
            await asyncio.sleep(0.5)
            return None
        return True

    def _commit(self, records: list[tuple[int, int, int | None, bytes]]) -> None:
        """In a worker thread: commit records to their copies, then settle the views.
        Records a copy's snapshot holds are passed over; one that does not follow the
        copy's last record stops the batch (`_missed`)."""
        touched: dict[int, Copy] = {}
        for p, seq, after, data in records:
            if not 0 <= p < len(self._copies):
                log.error("changelog record %d of partition %d: the cluster has %d", seq, p,
                          len(self._copies))
                continue
            copy = self._copies[p]
            if seq <= copy.applied:
                continue  # in the copy's snapshot
            if after is not None and after != copy.applied:
                log.error("changelog record %d of partition %d follows %d, the copy holds "
                          "%d: records were trimmed before they were read; the copies "
                          "are made again from the snapshots", seq, p, after, copy.applied)
                self._missed = True
                break
            try:
                copy.commit(seq, data)
            except Exception:  # a record this version cannot apply: said, and skipped
                log.exception("changelog record %d of partition %d not applied", seq, p)
                copy.applied = seq
            touched[p] = copy
        for copy in touched.values():
            copy.settle()

    def _live(self, kind: str) -> Callable[[Msg], Awaitable[None]]:
        """What tells the subscribers an alarm event or a risk grade an owner published."""

        async def tell(msg: Msg) -> None:
            try:
                data = orjson.loads(msg.data)
            except orjson.JSONDecodeError:
                return
            if not isinstance(data, dict):
                return
            item = {"type": kind, "data": data}
            with self._subscribers_lock:
                subscribers = list(self._subscribers.items())
            for queue, loop in subscribers:
                with contextlib.suppress(RuntimeError):  # its loop is closed
                    loop.call_soon_threadsafe(_offer, queue, item)

        return tell

    # -- the Desk: operator actions ----------------------------------------------------------

    def act(self, inp: OperatorInput) -> dict[str, Any]:
        """Sent to the owner of the input's partition; its answer once committed (and
        held by this desk's copy), or the error its desk raised."""
        loop = self._loop
        if loop is None or not self._copies:
            raise js.JetStreamError("the cluster desk is not following the cluster yet")
        try:
            running: asyncio.AbstractEventLoop | None = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if running is loop:
            raise RuntimeError("ClusterDesk.act waits for its own loop: call it from another")
        started = time.monotonic()
        future = asyncio.run_coroutine_threadsafe(self._ask(self._partition_of(inp), inp), loop)
        try:
            answer = future.result(self.act_timeout_s + CATCH_UP_S + STOP_S)
        except TimeoutError:
            future.cancel()
            raise js.JetStreamError("the cluster desk did not answer") from None
        self._action_seconds.observe(time.monotonic() - started)
        return answer

    def _partition_of(self, inp: OperatorInput) -> int:
        """The partition of the input's site; an alarm of no site of the registry (the
        alarm service's own, `_system/...`: each partition has its own) goes to the
        partition whose copy holds it."""
        if isinstance(inp, BypassPermit | OutOfService | ReturnToService):
            return js.partition_of(inp.site, self.partitions)
        site = inp.alarm_id.split("/", 1)[0]
        if site not in self._sites:
            for copy in self._copies:
                if copy.holds(inp.alarm_id):
                    return copy.partition
        return js.partition_of(site, self.partitions)

    async def _ask(self, p: int, inp: OperatorInput) -> dict[str, Any]:
        nc = self._nc
        if nc is None:
            raise js.JetStreamError("the cluster desk is not connected")
        body = remote.encode_input(inp)
        headers = {remote.REQUEST_ID: uuid.uuid4().hex}
        loop = asyncio.get_running_loop()
        started = loop.time()
        deadline = started + self.act_timeout_s
        why = "no alarm worker answered"
        attempts = 0
        while (left := deadline - loop.time()) > 0:
            attempts += 1
            try:
                reply = await nc.request(remote.act_subject(p), body,
                                         timeout=min(ATTEMPT_S, left), headers=headers)
            except NoRespondersError:  # nobody owns it now: a takeover
                await asyncio.sleep(min(RETRY_S, left))
                continue
            except NatsTimeout:  # a frozen or dead owner not yet replaced: again
                why = "the owner did not answer"
                continue
            except NatsError as exc:  # connection trouble: the client reconnects
                why = f"the cluster did not take the request ({exc})"
                await asyncio.sleep(min(RETRY_S, left))
                continue
            answer = remote.read_answer(reply.data)  # a refusal raises the owner's error
            if answer.ok is not None:
                if attempts > 1:
                    log.info("partition %d answered an operator action after %d requests in "
                             "%.1f s (%s meanwhile)", p, attempts, loop.time() - started, why)
                await self._caught_up(p, answer.seq)
                return answer.ok
            if answer.failure is not None:
                why = f"the owner could not commit it ({answer.failure})"
            await asyncio.sleep(min(RETRY_S, max(0.0, deadline - loop.time())))
        raise js.JetStreamError(
            f"partition {p} has no owner: {why} in {self.act_timeout_s:g} s; the action "
            "may not have been taken: look at the alarm before trying again")

    async def _caught_up(self, p: int, seq: int) -> None:
        """Until this desk's copy of partition `p` holds changelog record `seq` (at most
        CATCH_UP_S: the answer stands anyway)."""
        copy, progress = self._copies[p], self._progress
        if copy.applied >= seq or progress is None:
            return
        with contextlib.suppress(TimeoutError):
            async with progress:
                await asyncio.wait_for(progress.wait_for(lambda: copy.applied >= seq),
                                       CATCH_UP_S)

    # -- the Desk: views ---------------------------------------------------------------------

    def _copies_for(self, site: str | None) -> list[Copy]:
        """The copy of a site of the registry; every copy for any other (or none)."""
        if site is not None and site in self._sites and self._copies:
            return [self._copies[js.partition_of(site, self.partitions)]]
        return list(self._copies)

    def alarms(
        self,
        *,
        active: bool | None = None,
        site: str | None = None,
        priority: str | None = None,
        limit: int = 500,
    ) -> list[dict[str, Any]]:
        found = [c.view.alarms(active=active, site=site, priority=priority, limit=limit)
                 for c in self._copies_for(site)]
        if len(found) == 1:
            return found[0]
        newest_first = heapq.merge(*found, key=_raised, reverse=True)
        return list(itertools.islice(newest_first, limit))

    def last_readings(self, site: str) -> dict[str, dict[str, Any]]:
        copies = self._copies_for(site)
        return copies[0].view.last_readings(site) if len(copies) == 1 else {}

    def risk_grades(self) -> dict[str, str]:
        grades: dict[str, str] = {}
        for copy in list(self._copies):
            grades.update(copy.view.risk_grades())
        return grades

    def active_counts(self, site: str) -> dict[str, int]:
        copies = self._copies_for(site)
        if len(copies) == 1:
            return copies[0].view.active_counts(site)
        return {"critical": 0, "high": 0, "medium": 0}

    def subscribe(self) -> asyncio.Queue[dict[str, Any]]:
        queue: asyncio.Queue[dict[str, Any]] = asyncio.Queue(maxsize=SUBSCRIBER_QUEUE)
        with self._subscribers_lock:
            self._subscribers[queue] = asyncio.get_running_loop()
        return queue

    def unsubscribe(self, queue: asyncio.Queue[dict[str, Any]]) -> None:
        with self._subscribers_lock:
            self._subscribers.pop(queue, None)

    # -- the Desk: audit ---------------------------------------------------------------------

    def journal_export(
        self,
        *,
        from_ms: int | None,
        to_ms: int | None,
        site: str | None,
        fmt: Literal["csv", "jsonl"],
    ) -> Iterator[str]:
        """Every partition's chain (of the site's partition, with `site`), merged by
        time; each chain's entries stay in their order."""
        copies = {f"p{c.partition}": c.db.path for c in self._copies_for(site)}
        return export(_merged_rows(copies, from_ms=from_ms, to_ms=to_ms, site=site), fmt,
                      (CHAIN, *ALL_COLUMNS))

    def journal_verify(self) -> dict[str, Any]:
        """Every partition's chain checked: ok when all are; `first_bad` and `reason`
        of the first partition that is not; each partition's answer in `partitions`."""
        answers = {c.partition: verify_journal(c.db.path, None).answer()
                   for c in list(self._copies)}
        bad = [(p, a) for p, a in answers.items() if not a["ok"]]
        first = bad[0] if bad else None
        return {
            "ok": not bad,
            "entries": sum(a["entries"] for a in answers.values()),
            "first_bad": first[1]["first_bad"] if first else None,
            "reason": f"partition {first[0]}: {first[1]['reason']}" if first else None,
            "anchor": None,
            "partitions": {str(p): a for p, a in answers.items()},
        }

    def kpi(self, *, from_ms: int, to_ms: int, site: str | None) -> dict[str, Any]:
        paths = [c.db.path for c in self._copies_for(site)]
        conns = [db.connect(path, readonly=True) for path in paths]
        try:
            priorities: dict[str, str] = {}
            for conn in conns:
                priorities.update(
                    conn.execute("SELECT alarm_id, priority FROM occurrences").fetchall())
            rows = heapq.merge(*(journal.rows(conn, to_ms=to_ms, site=site) for conn in conns),
                               key=_ts)
            return kpi(rows, priorities=priorities, from_ms=from_ms, to_ms=to_ms, site=site)
        finally:
            for conn in conns:
                conn.close()

    # -- a changed registry (SIGHUP) ---------------------------------------------------------

    async def reload_registry(self, registry: Registry) -> None:
        """Serve a changed registry: its sites, sensors and rules (the partitions'
        views are built afresh from their copies)."""
        copies, partitions = list(self._copies), self.partitions

        def rebuild() -> None:
            for copy in copies:
                copy.use_registry(partition_registry(registry, copy.partition, partitions))

        await asyncio.to_thread(rebuild)
        self.registry = registry
        self._sites = {s.id for s in registry.sites}


def _partition(subject: str) -> int:
    """`hz.part.{p}` -> p."""
    return int(subject.rsplit(".", 1)[-1])


def _raised(alarm: dict[str, Any]) -> tuple[int, str]:
    """An occurrence's place in the desk's order, newest first (as AlarmDb sorts)."""
    return int(alarm.get("raised_ms") or 0), str(alarm.get("alarm_id") or "")


def _ts(row: dict[str, Any]) -> int:
    return int(row["ts_ms"])


def _offer(queue: asyncio.Queue[dict[str, Any]], item: dict[str, Any]) -> None:
    """On the queue's loop: put, the oldest item out first when it is full."""
    if queue.full():
        queue.get_nowait()
    queue.put_nowait(item)


def _merged_rows(
    paths: dict[str, Path], *, from_ms: int | None, to_ms: int | None, site: str | None
) -> Iterator[dict[str, Any]]:
    """The chains' entries merged by time, each naming its chain (CHAIN)."""
    conns = {name: db.connect(path, readonly=True) for name, path in paths.items()}
    try:
        chains = [({**row, CHAIN: name} for row in journal.rows(
            conn, from_ms=from_ms, to_ms=to_ms, site=site)) for name, conn in conns.items()]
        yield from heapq.merge(*chains, key=_ts)
    finally:
        for conn in conns.values():
            conn.close()


def as_desk(desk: ClusterDesk) -> Desk:
    """A ClusterDesk is a hazmon.alarms.desk.Desk (mypy checks this conversion)."""
    return desk
