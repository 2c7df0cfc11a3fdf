"""Alarm workers on NATS JetStream (docs/scale-out.md): any number of `hazmon alarms
--broker nats://...` processes share the plant's partitions; each partition has one
owner at a time, chosen by the server.

    workers = AlarmWorkers(registry=..., servers=[...], settings=..., store=..., data_dir=...)
    await workers.run(ready=event)   # until cancelled

What runs where (one event loop; evaluation in worker threads):
- one pull loop per partition (`_partition`), on the event loop: pull requests on the
  partition's consumer in the priority group `alarms`. The server answers only the
  pinned worker; it pins another when the owner stops pulling (hazmon.bus.jetstream).
- taking a partition (`_take`): its changelog replayed into a fresh local database in
  `data_dir/partitions/p{k}` (never the previous owner's disk), a takeover record
  appended (the fence: the previous owner's next write is refused), then an
  `AlarmService` for the partition's sites on that database, with a `PartitionLink`
  in place of the MQTT connection. The service runs as it does on MQTT: evaluation
  and commit in a worker thread (`asyncio.to_thread`), every commit first appended to
  the changelog (`ReplicatedDb`), acknowledgements after the commit, notifications
  from the outbox, events and grades published as NATS subjects (which NATS's MQTT
  listener gives to MQTT subscribers).
- losing a partition (pin moved, status 423, or a refused changelog append): its
  service is abandoned: nothing more is committed, published, acknowledged or
  notified; what it had not acknowledged is delivered to the new owner.
- operator actions (`_answer`): while it owns partition p, the worker takes the
  requests of the API instances on `hz.act.{p}` (they own nothing:
  hazmon.alarms.cluster_desk; the wire form is hazmon.alarms.remote). Each runs on
  the partition's desk in a worker thread and is answered once committed to the
  changelog; one that finds the partition lost is answered NotOwner, nothing done; a
  retry (the same request id) gets the first answer again. The record of an action's
  commit names its request, so a successor that replayed it answers a retry too (as
  things are then), nothing done twice: the owner may commit and die before it
  answers. The subscription ends with the partition, once what it had received is
  answered.
- spreading (`_presence`, `_balancing`): every worker says each second on
  `hz.workers` who it is and what it owns. One that owns more than an even share of
  the partitions over the live workers hands one over (`_hand_over`: it stops asking,
  evaluates what its requests still bring, flushes, acknowledges, snapshots, unpins)
  every few seconds; one that owns less asks for every partition, and so takes what
  is handed over or left by a dead owner. A worker at its share asks only for
  partitions no live worker owns.
- the clock (`_ticks`): every second one tick per partition into the stream, with a
  message id per partition and second, so that partitions whose sites are silent get
  an owner too, and so that each partition's clock (`StreamClock`: the time the
  stream stored the newest message evaluated) moves on while its gateways are silent.
- the chain watch (alarms/watch.py) puts a canary into every partition; its owner
  evaluates, commits and echoes it like a reading, and journals the verdict it carries
  (the partition's lane dead, the stream discarding) as system alarms of the partition.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import shutil
import socket
import sqlite3
import tempfile
import threading
import time
from collections import OrderedDict
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson
from nats.aio.client import Client as Nats
from nats.aio.msg import Msg
from nats.aio.subscription import Subscription
from nats.js.object_store import ObjectStore

from hazmon.alarms import changelog, remote
from hazmon.alarms.errors import AlarmError
from hazmon.alarms.state_db import DB_FILE
from hazmon.bus import jetstream as js
from hazmon.bus.seam import Inbound
from hazmon.contract import topics
from hazmon.contract.registry import Registry
from hazmon.contract.settings import Settings
from hazmon.stores.base import Store

log = logging.getLogger(__name__)

PULL_BATCH = 500
LINGER_S = 0.01  # a batch waits this long to fill (each batch is one commit at most)
KEEP_PIN_S = 1.0  # while a partition's loop is busy, a request this often keeps its pin
KEEP_PIN_MAX_S = 30.0  # ... for at most this long: a loop stuck longer lets the pin go
SNAPSHOT_EVERY = 1000  # records: a takeover replays about this many at most
SNAPSHOT_CHECK_S = 2.0
DRAIN_S = 5.0  # at stop: what is sent (acknowledgements, events) gets out within this
APPEND_S = 15.0  # a changelog append the cluster does not answer within this fails
ANSWERS_KEPT = 1000  # operator actions answered per partition, kept for their retries
ANSWERING_STOP_S = 20.0  # a partition's end waits this long at most for its actions
PRESENCE_SUBJECT = "hz.workers"  # each worker says every PRESENCE_S who it is, what it owns
PRESENCE_S = 1.0
PRESENCE_LOST_S = 4.0  # a worker not heard from for this long is gone
BALANCE_S = 2.0  # how often a worker compares what it owns with its fair share
SETTLE_S = 6.0  # a worker hands nothing over in its first seconds (it hears the others)
HAND_OVER_GAP_S = 3.0  # a worker hands over one partition at a time, this far apart
HOLD_OFF_S = 30.0  # a worker does not ask again for a partition it handed over
STEP_RETRY_S = 1.0  # a partition's step that failed is tried again after this


def partition_registry(registry: Registry, partition: int, partitions: int) -> Registry:
    """The registry of one partition: its sites, the plant-wide rules."""
    sites = [s for s in registry.sites if js.partition_of(s.id, partitions) == partition]
    return registry.model_copy(update={"sites": sites})


class PartitionLink:
    """The bus as one partition's AlarmService sees it (hazmon.bus.seam.Link): messages
    come from the worker's pull loop, acknowledgements go back to the stream, events
    are published as NATS subjects."""

    def __init__(self, nc: Nats, partition: int, loop: asyncio.AbstractEventLoop) -> None:
        self.nc = nc
        self.partition = partition
        self._loop = loop
        self.abandoned = False
        self._ready = asyncio.Event()

    @property
    def connected(self) -> bool:
        return bool(self.nc.is_connected) and not self.abandoned

    async def connect(self, *, attempts: int = 5, timeout_s: float = 10.0) -> None:
        return None

    async def subscribed(self) -> None:
        await self._ready.wait()

    def ready(self) -> None:
        self._ready.set()

    def ack(self, items: Sequence[Inbound]) -> None:
        if self.abandoned:
            return
        msgs = [i.token for i in items if isinstance(i.token, Msg)]
        if msgs:
            self._call(js.ack_all(msgs))

    def publish(self, topic: str, payload: bytes, *, retain: bool = False) -> None:
        if self.abandoned:
            return
        self._call(self.nc.publish(js.subject_of(topic), payload))

    async def publish_confirmed(
        self, topic: str, payload: bytes, *, retain: bool = False, timeout_s: float = 10.0
    ) -> None:
        if self.abandoned:
            raise js.Fenced(f"partition {self.partition} is no longer ours")
        await self.nc.publish(js.subject_of(topic), payload)
        await self.nc.flush(timeout=int(timeout_s))

    def close(self) -> None:
        return None

    def _call(self, coro: Any) -> None:
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if running is self._loop:
            task = self._loop.create_task(coro)
            task.add_done_callback(_log_failure)
        else:
            asyncio.run_coroutine_threadsafe(coro, self._loop).add_done_callback(_log_failure)


class ChangelogWriter:
    """Appends to the partitions' changelogs for the commits, from any thread, on a
    NATS connection and an event loop of its own ("changelog" thread): a commit holds
    its desk's lock while it waits for the append, and the worker's event loop takes
    that lock too (the service's own jobs), so the append must not need that loop."""

    def __init__(self, servers: Sequence[str], *, name: str, user: str | None,
                 password: str | None) -> None:
        self._servers, self._name = list(servers), name
        self._user, self._password = user, password
        self._loop = asyncio.new_event_loop()
        self._nc: Nats | None = None
        self._thread = threading.Thread(target=self._loop.run_forever, name="changelog",
                                        daemon=True)

    async def start(self) -> None:
        self._thread.start()
        fut = asyncio.run_coroutine_threadsafe(self._connect(), self._loop)
        await asyncio.wrap_future(fut)

    async def _connect(self) -> None:
        self._nc = await js.connect(self._servers, name=self._name, user=self._user,
                                    password=self._password)

    def append(self, partition: int, record: bytes, *, after: int) -> int:
        """The new record's sequence; Fenced when another worker wrote since `after`."""
        if _on_loop(self._loop):
            raise RuntimeError("a changelog append on the changelog's own thread")
        assert self._nc is not None
        fut = asyncio.run_coroutine_threadsafe(
            js.append(self._nc, partition, record, after=after), self._loop)
        return fut.result(timeout=APPEND_S)

    async def close(self) -> None:
        async def shut() -> None:
            if self._nc is not None:
                with contextlib.suppress(Exception):
                    await asyncio.wait_for(self._nc.drain(), DRAIN_S)

        if self._thread.is_alive():
            with contextlib.suppress(Exception):
                await asyncio.wrap_future(asyncio.run_coroutine_threadsafe(shut(), self._loop))
            self._loop.call_soon_threadsafe(self._loop.stop)
            await asyncio.to_thread(self._thread.join, 5.0)


def _copy_database(owned: Owned) -> tuple[bytes, int]:
    """The partition's database as committed, and the changelog record it covers:
    taken under the desk's lock, so no commit falls between the two."""
    desk = owned.service.desk
    with desk.lock:
        covers = owned.last_seq
        with tempfile.TemporaryDirectory() as tmp:
            copy = Path(tmp) / DB_FILE
            with contextlib.closing(sqlite3.connect(desk.db.path)) as conn:
                conn.execute("VACUUM INTO ?", (str(copy),))
            data = copy.read_bytes()
        owned.since_snapshot = 0
    return data, covers


@contextlib.asynccontextmanager
async def _pin_kept(puller: js.Puller) -> AsyncIterator[None]:
    """While the block runs (evaluation of a batch, a takeover), a request every
    KEEP_PIN_S tells the server the partition's owner is alive: on a saturated machine
    a batch or a replay can outlast the pin timeout, and a pin lost sends what the owner
    had in hand to the next owner (here, the same worker again) behind newer messages.
    Only for KEEP_PIN_MAX_S: a block stuck longer (a bug, a lock never freed) lets the
    pin go, so that another worker evaluates the partition."""
    async def keep() -> None:
        for _ in range(int(KEEP_PIN_MAX_S / KEEP_PIN_S)):
            await asyncio.sleep(KEEP_PIN_S)
            with contextlib.suppress(Exception):  # disconnected: the next one tries again
                await puller.keep_pin()

    task = asyncio.create_task(keep(), name="keep-pin")
    try:
        yield
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


def _on_loop(loop: asyncio.AbstractEventLoop) -> bool:
    try:
        return asyncio.get_running_loop() is loop
    except RuntimeError:
        return False


def _log_failure(fut: Any) -> None:
    if not fut.cancelled() and fut.exception() is not None:
        log.warning("bus call failed: %s", fut.exception())


class StreamClock:
    """A partition's clock: the time the stream stored the newest message evaluated
    (gateway message or tick). Evaluation, liveness, escalation and operator actions
    go by it, so a worker working through a backlog (or woken from a freeze) sees the
    plant as it was when the messages came, not silent gateways: "arrival" is arrival
    at the bus. Caught up, it trails the wall clock by at most a tick (1 s)."""

    def __init__(self, ms: int) -> None:
        self.ms = ms

    def advance(self, messages: Sequence[Msg]) -> None:
        """To the newest storage time among `messages`. Not the last one's: a message
        delivered again (held past its acknowledgement wait) comes after newer ones, and
        a clock left behind caps the newer readings' times at it (a crossing's alarm
        then carries another reading's time)."""
        if messages:
            stored = max(m.metadata.timestamp for m in messages)
            self.ms = max(self.ms, int(stored.timestamp() * 1000))

    def __call__(self) -> int:
        return self.ms


class Peers:
    """The alarm workers heard from on PRESENCE_SUBJECT (this one included) and the
    partitions each says it owns; `now` is a monotonic time the caller reads."""

    def __init__(self, me: str) -> None:
        self.me = me
        self._heard: dict[str, tuple[float, frozenset[int]]] = {}

    def heard(self, worker: str, owned: Sequence[int], now: float) -> None:
        self._heard[worker] = (now, frozenset(owned))

    def live(self, now: float) -> dict[str, frozenset[int]]:
        """Who was heard from within PRESENCE_LOST_S, and what each owns."""
        return {w: owned for w, (at, owned) in self._heard.items()
                if now - at <= PRESENCE_LOST_S or w == self.me}

    def fair_share(self, partitions: int, now: float) -> int:
        """The most partitions a worker should own: an even split over the live ones."""
        return -(-partitions // max(1, len(self.live(now) | {self.me: frozenset()})))

    def owned_elsewhere(self, partition: int, now: float) -> bool:
        return any(partition in owned for w, owned in self.live(now).items() if w != self.me)


@dataclass(slots=True)
class Owned:
    """A partition this worker owns."""

    pin: str
    link: PartitionLink
    service: Any  # AlarmService
    task: asyncio.Task[None]
    last_seq: int
    clock: StreamClock
    lost: bool = False
    since_snapshot: int = 0  # changelog records written since the last snapshot
    snapshot_at: int = 0  # the record the newest snapshot known here covers
    actions: Subscription | None = None  # operator actions from the API instances
    answered: OrderedDict[str, bytes] = field(default_factory=OrderedDict)  # by request id
    # requests committed by earlier owners (from the records replayed), with the record
    committed: OrderedDict[str, int] = field(default_factory=OrderedDict)


class AlarmWorkers:
    def __init__(
        self,
        *,
        registry: Registry,
        servers: Sequence[str],
        settings: Settings,
        store: Store,
        data_dir: Path,
        plan: js.StreamPlan | None = None,
        worker_id: str | None = None,
        user: str | None = None,
        password: str | None = None,
        service_options: dict[str, Any] | None = None,
        snapshot_every: int = SNAPSHOT_EVERY,
    ) -> None:
        self.registry = registry
        self.servers = list(servers)
        self.settings = settings
        self.store = store
        self.data_dir = data_dir
        self.plan = plan or js.StreamPlan()
        self.worker_id = worker_id or f"{socket.gethostname()}-{id(self):x}"
        self.user, self.password = user, password
        self.service_options = service_options or {}
        self.owned: dict[int, Owned] = {}
        self.snapshot_every = snapshot_every
        self._snapshots: ObjectStore | None = None
        self.takeovers = 0
        self._nc: Nats | None = None
        self._writer: ChangelogWriter | None = None
        self.peers = Peers(self.worker_id)
        self.handing_over: set[int] = set()
        self.held_off: dict[int, float] = {}  # partition: monotonic time it may be asked again
        self._started = time.monotonic()
        self._handed_at = 0.0

    async def run(self, *, ready: asyncio.Event | None = None) -> None:
        nc = await js.connect(self.servers, name=f"hazmon-alarms-{self.worker_id}",
                              user=self.user, password=self.password)
        self._nc = nc
        self._writer = ChangelogWriter(self.servers, name=f"hazmon-alarms-{self.worker_id}-log",
                                       user=self.user, password=self.password)
        try:
            await self._writer.start()
            await js.ensure_streams(nc, self.plan)
            self._snapshots = await js.snapshot_store(nc, self.plan)
            async with asyncio.TaskGroup() as group:
                group.create_task(self._ticks(nc), name="alarms-ticks")
                group.create_task(self._snapshotting(), name="alarms-snapshots")
                group.create_task(self._presence(nc), name="alarms-presence")
                group.create_task(self._balancing(), name="alarms-balancing")
                for p in range(self.plan.partitions):
                    group.create_task(self._partition(nc, p), name=f"alarms-p{p}")
                log.info("alarm worker %s pulling %d partitions", self.worker_id,
                         self.plan.partitions)
                if ready is not None:
                    ready.set()
        finally:
            # every partition flushes at once (each commit a changelog append)
            await asyncio.gather(*(self._stop(p, abandon=False) for p in list(self.owned)))
            await self._writer.close()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(nc.drain(), DRAIN_S)
            if not nc.is_closed:
                with contextlib.suppress(Exception):
                    await nc.close()

    # -- the clock ---------------------------------------------------------------------

    async def _ticks(self, nc: Nats) -> None:
        while True:
            second = int(time.time())
            for p in range(self.plan.partitions):
                with contextlib.suppress(Exception):
                    await nc.publish(js.tick_subject(p), b"",
                                     headers={"Nats-Msg-Id": f"tick-{p}-{second}"})
            await asyncio.sleep(1.0 - time.time() % 1.0)

    # -- spreading partitions over the workers (docs/scale-out.md) -------------------------

    async def _presence(self, nc: Nats) -> None:
        async def heard(msg: Msg) -> None:
            with contextlib.suppress(Exception):  # not a worker's presence: ignored
                doc = orjson.loads(msg.data)
                self.peers.heard(str(doc["worker"]), [int(p) for p in doc["owned"]],
                                 time.monotonic())

        sub = await nc.subscribe(PRESENCE_SUBJECT, cb=heard)
        try:
            while True:
                mine = sorted(self.owned)
                self.peers.heard(self.worker_id, mine, time.monotonic())
                with contextlib.suppress(Exception):
                    await nc.publish(PRESENCE_SUBJECT, orjson.dumps(
                        {"worker": self.worker_id, "owned": mine}))
                await asyncio.sleep(PRESENCE_S)
        finally:
            with contextlib.suppress(Exception):
                await sub.unsubscribe()

    async def _balancing(self) -> None:
        """Every BALANCE_S: a worker that owns more than its fair share hands its
        highest partition over (one at a time, HAND_OVER_GAP_S apart); the others,
        which ask for what they lack, take it."""
        while True:
            await asyncio.sleep(BALANCE_S)
            now = time.monotonic()
            if (now - self._started < SETTLE_S or self.handing_over
                    or now - self._handed_at < HAND_OVER_GAP_S):
                continue
            share = self.peers.fair_share(self.plan.partitions, now)
            mine = [p for p, o in self.owned.items() if not o.lost]
            if len(mine) > share:
                self.handing_over.add(max(mine))

    def _asks_for(self, p: int) -> bool:
        """Whether the worker asks for partition p's messages: always while it owns it;
        not for HOLD_OFF_S after it handed it over; else while it owns less than its
        fair share, or while no live worker owns it (a standby, ready for a takeover)."""
        if p in self.owned:
            return True
        now = time.monotonic()
        if self.held_off.get(p, 0.0) > now:
            return False
        if len(self.owned) < self.peers.fair_share(self.plan.partitions, now):
            return True
        return not self.peers.owned_elsewhere(p, now)

    async def _hand_over(self, nc: Nats, p: int, puller: js.Puller) -> None:
        """Give partition p to another worker, losing and reordering nothing: no new
        request; what the requests made still bring is evaluated; the service stops,
        its commits flushed and acknowledged; a snapshot, so the successor replays
        little; then the server is told to pin another worker at once (it would after
        PIN_TIMEOUT_S anyway)."""
        try:
            deadline = time.monotonic() + js.PULL_EXPIRES_S + 5.0
            while not puller.idle() and time.monotonic() < deadline:
                batch = await puller.pull(PULL_BATCH, ask=False)
                owned = self.owned.get(p)
                if owned is None or owned.lost or puller.lost:
                    return  # lost meanwhile: the partition loop sees to it
                if batch.messages:
                    await self._deliver(owned, batch.messages)
            owned = self.owned.get(p)
            if owned is None or owned.lost or puller.lost:
                return
            await self._stop(p, abandon=False)  # its last commits are flushed
            if owned.since_snapshot and not owned.lost:
                try:  # of the database the stopped service left
                    await self._snapshot(p, owned)
                except Exception as exc:  # the successor replays more
                    log.warning("partition %d: snapshot failed: %s", p, exc)
            puller.pin = None
            self.held_off[p] = time.monotonic() + HOLD_OFF_S
            try:
                await js.unpin(nc, p)
            except js.JetStreamError as exc:  # the pin times out by itself
                log.warning("partition %d: unpin failed: %s", p, exc)
            log.info("worker %s handed partition %d over at %d (it owns %d, a fair share "
                     "is %d)", self.worker_id, p, owned.last_seq, len(self.owned),
                     self.peers.fair_share(self.plan.partitions, time.monotonic()))
        finally:
            self.handing_over.discard(p)
            self._handed_at = time.monotonic()

    # -- snapshots -------------------------------------------------------------------------

    async def _snapshotting(self) -> None:
        """Every SNAPSHOT_CHECK_S: the partitions that wrote `snapshot_every` records
        since their last snapshot get a new one, so a takeover replays at most about
        that many records (docs/scale-out.md, "What is replicated")."""
        while True:
            await asyncio.sleep(SNAPSHOT_CHECK_S)
            for p, owned in list(self.owned.items()):
                if owned.since_snapshot >= self.snapshot_every and not owned.lost:
                    try:
                        await self._snapshot(p, owned)
                    except Exception as exc:  # the next round tries again
                        log.warning("partition %d: snapshot failed: %s", p, exc)

    async def _snapshot(self, p: int, owned: Owned) -> None:
        """A snapshot of the partition; then the changelog records before the previous
        snapshot go: one snapshot's worth of records stays behind the newest, for an
        API instance that loaded the previous one and is still reading past it."""
        assert self._snapshots is not None and self._nc is not None
        data, covers = await asyncio.to_thread(_copy_database, owned)
        await js.save_snapshot(self._snapshots, p, data, covers)
        before, owned.snapshot_at = owned.snapshot_at, covers
        log.info("partition %d: snapshot at %d (%d bytes)", p, covers, len(data))
        if before:
            try:
                await js.trim(self._nc, p, before)
            except js.JetStreamError as exc:  # the next snapshot trims again
                log.warning("partition %d: changelog not trimmed: %s", p, exc)

    # -- one partition -------------------------------------------------------------------

    async def _partition(self, nc: Nats, p: int) -> None:
        puller = js.Puller(nc, js.IN_STREAM, f"alarms-p{p}", group=js.ALARMS_GROUP)
        await puller.start()
        try:
            await self._follow(nc, p, puller)
        finally:
            await puller.stop()

    async def _follow(self, nc: Nats, p: int, puller: js.Puller) -> None:
        """The partition's loop, for the worker's life: a step that fails (the cluster
        not answering during an election, a bug) never ends the worker nor the other
        partitions. The partition is let go, so what it had not acknowledged comes
        again, and taken again from its changelog by the next step."""
        while True:
            try:
                await self._step(nc, p, puller)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.error("partition %d: %r; it is taken again from its changelog in "
                          "%.0f s", p, exc, STEP_RETRY_S)
                with contextlib.suppress(Exception):
                    await self._stop(p, abandon=True)
                self.handing_over.discard(p)
                await asyncio.sleep(STEP_RETRY_S)

    async def _step(self, nc: Nats, p: int, puller: js.Puller) -> None:
        """One pull and what it brings: evaluated, or the partition taken first."""
        if p in self.handing_over:
            await self._hand_over(nc, p, puller)
            return
        asks = self._asks_for(p)
        if not asks and puller.idle():
            await asyncio.sleep(PRESENCE_S)
            return
        try:  # not asking: only what the requests made still bring
            batch = await puller.pull(PULL_BATCH, ask=asks, linger_s=LINGER_S)
        except Exception as exc:  # disconnected: the client reconnects by itself
            log.warning("partition %d: pull failed: %s", p, exc)
            await asyncio.sleep(0.5)
            return
        owned = self.owned.get(p)
        if owned is not None and (owned.lost or puller.lost
                                  or (batch.pin is not None and batch.pin != owned.pin)):
            log.warning("worker %s lost partition %d", self.worker_id, p)
            await self._stop(p, abandon=True)
            owned = None
        if not batch.messages:
            return
        if owned is None:
            if batch.pin is None:  # messages of a request from before a pin moved
                return  # not acknowledged: the owner gets them again
            async with _pin_kept(puller):
                owned = await self._take(nc, p, batch.pin, batch.messages)
            if owned is None:
                return  # another worker wrote it meanwhile, or no answer: not now
        async with _pin_kept(puller):
            await self._deliver(owned, batch.messages)

    async def _take(self, nc: Nats, p: int, pin: str, first: list[Msg]) -> Owned | None:
        """Build the partition's state from its changelog and fence the old owner out."""
        from hazmon.alarms.service import AlarmService  # the shell; workers sit on it

        started = time.monotonic()
        folder = self.data_dir / "partitions" / f"p{p}"
        shutil.rmtree(folder, ignore_errors=True)
        folder.mkdir(parents=True, mode=0o700)
        assert self._snapshots is not None
        try:
            snapshot = await js.load_snapshot(self._snapshots, p)
        except js.JetStreamError as exc:  # the cluster did not answer (an election)
            log.warning("partition %d: cannot take it over now: %s", p, exc)
            return None  # its messages are not acknowledged: they come again
        covers = 0
        if snapshot is not None:  # the partition's database as of record `covers`
            data, covers = snapshot
            await asyncio.to_thread((folder / DB_FILE).write_bytes, data)
        db = changelog.ReplicatedDb(folder, lambda record: None, by=self.worker_id)
        committed: OrderedDict[str, int] = OrderedDict()
        applied = [0]

        def apply(seq: int, data: bytes) -> None:
            changelog.apply(db, data)
            applied[0] += 1
            request = changelog.request_of(data)
            if request is not None:
                committed[request] = seq
                while len(committed) > ANSWERS_KEPT:
                    committed.popitem(last=False)

        try:
            last = await js.replay(nc, p, apply, after=covers)
            replayed = applied[0]
            last = await js.append(nc, p, changelog.takeover(self.worker_id,
                                                           int(time.time() * 1000)), after=last)
        except js.Fenced:
            db.close()
            return None
        except js.JetStreamError as exc:  # the cluster did not answer (an election)
            log.warning("partition %d: cannot take it over now: %s", p, exc)
            db.close()
            return None  # its messages are not acknowledged: they come again
        loop = asyncio.get_running_loop()
        link = PartitionLink(nc, p, loop)
        owned_ref: list[Owned] = []

        writer = self._writer
        assert writer is not None

        def write(record: bytes) -> None:
            owned = owned_ref[0]
            if owned.lost:
                raise js.Fenced(f"partition {p} is no longer ours")
            try:
                owned.last_seq = writer.append(p, record, after=owned.last_seq)
                owned.since_snapshot += 1
            except js.Fenced:
                owned.lost = True
                link.abandoned = True
                raise

        db.writer = write
        clock = StreamClock(0)
        clock.advance(first[:1])
        service = AlarmService(
            registry=partition_registry(self.registry, p, self.plan.partitions),
            broker=None, link=link, database=db, anchored=False, settings=self.settings,
            store=self.store, data_dir=folder, client_id=f"{self.worker_id}-p{p}",
            clock=clock, component=f"alarms-p{p}", **self.service_options,
        )
        ready = asyncio.Event()
        task = asyncio.create_task(service.run(ready=ready), name=f"alarms-p{p}-service")
        owned = Owned(pin=pin, link=link, service=service, task=task, last_seq=last,
                      clock=clock, snapshot_at=covers, committed=committed)
        owned_ref.append(owned)
        self.owned[p] = owned
        link.ready()
        await asyncio.wait({task, asyncio.create_task(ready.wait())},
                           return_when=asyncio.FIRST_COMPLETED)
        if not task.done():
            async def answer(msg: Msg) -> None:
                await self._answer(owned, msg)

            owned.actions = await nc.subscribe(remote.act_subject(p), cb=answer)
        self.takeovers += 1
        log.info("worker %s took partition %d in %.0f ms (changelog at %d; snapshot at %d, "
                 "%d records replayed)", self.worker_id, p,
                 (time.monotonic() - started) * 1000, last, covers, replayed)
        return owned

    async def _deliver(self, owned: Owned, messages: list[Msg]) -> None:
        """A batch to the partition's service: gateway messages, and the chain watch's
        canaries (evaluated, committed and echoed as on MQTT: alarms/watch.py); ticks
        only move its clock."""
        ticks = [m for m in messages if js.is_tick(m.subject)]
        items = [Inbound(topics.CANARY if js.is_canary(m.subject) else js.topic_of(m.subject),
                         m.data, m)
                 for m in messages if not js.is_tick(m.subject)]
        owned.clock.advance(messages)
        if items:
            await asyncio.to_thread(owned.service.consume, items)
        if ticks and not owned.lost:
            await js.ack_all(ticks)

    # -- operator actions from the API instances ------------------------------------------

    async def _answer(self, owned: Owned, msg: Msg) -> None:
        """One operator action for the partition (hazmon.alarms.remote), answered once
        committed; a retry of an action already answered gets the same answer."""
        rid = msg.headers.get(remote.REQUEST_ID) if msg.headers else None
        reply = owned.answered.get(rid) if rid else None
        if reply is None:
            reply, final = await act_on(owned, msg.data, rid)
            if rid and final:
                owned.answered[rid] = reply
                while len(owned.answered) > ANSWERS_KEPT:
                    owned.answered.popitem(last=False)
        if msg.reply:
            with contextlib.suppress(Exception):  # the asker is gone; it asks again
                await msg.respond(reply)

    @staticmethod
    async def _stop_answering(owned: Owned) -> None:
        """No more operator actions for the partition: those received are answered
        first (NotOwner once it is lost), within ANSWERING_STOP_S."""
        sub, owned.actions = owned.actions, None
        if sub is None:
            return
        try:
            await asyncio.wait_for(sub.drain(), ANSWERING_STOP_S)  # type: ignore[no-untyped-call]
        except Exception:  # timed out, or the connection is closing: the asker asks again
            with contextlib.suppress(Exception):
                await sub.unsubscribe()

    async def _stop(self, p: int, *, abandon: bool) -> None:
        owned = self.owned.pop(p, None)
        if owned is None:
            return
        if abandon:
            owned.lost = True
            owned.link.abandoned = True
            owned.service.abandon()
        await self._stop_answering(owned)
        owned.task.cancel()
        with contextlib.suppress(BaseException):
            await owned.task


async def act_on(owned: Owned, data: bytes, request: str | None) -> tuple[bytes, bool]:
    """The answer to one operator action on a partition this worker owns, and whether it
    is final (a retry gets it too). Its commit names the request (changelog.REQUEST); a
    request an earlier owner committed (a retry after a takeover) is answered as things
    are now, nothing done again."""
    if owned.lost:
        return remote.NOT_OWNER, False
    try:
        inp = remote.decode_input(data)
        desk = owned.service.desk
        seq = owned.committed.get(request) if request else None
        if seq is not None:
            return remote.done(await asyncio.to_thread(desk.answer_to, inp), seq), True
        token = changelog.REQUEST.set(request)
        try:  # the worker thread runs in a copy of this context
            answer = await asyncio.to_thread(desk.act, inp)
        finally:
            changelog.REQUEST.reset(token)
    except js.Fenced:  # lost meanwhile: nothing was committed
        return remote.NOT_OWNER, False
    except AlarmError as exc:  # refused: nothing changed
        return remote.refused(exc), True
    except Exception as exc:  # not committed (the changelog did not answer...)
        log.warning("partition %d: an operator action failed: %s", owned.link.partition, exc)
        return remote.failed(str(exc)), False
    return remote.done(answer, owned.last_seq), True
