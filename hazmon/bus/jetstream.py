"""hazmon on NATS JetStream (docs/scale-out.md): streams, consumers, partition ownership.

Gateways keep MQTT: they publish to NATS's MQTT listener, which turns the topic
`hazmon/v1/{site}/{gateway}/{leaf}` into the subject `hazmon.v1.{site}.{gateway}.{leaf}`.
hazmon's services speak NATS (nats-py) and create what they need at start, idempotently
(`ensure_streams`):

- `HAZMON_IN` holds every gateway message until each of its consumers acknowledged it
  (interest retention, bounded by the retention budget in bytes and age). Its subject
  transform stores `hazmon.v1.{site}.{gateway}.{leaf}` as
  `hz.in.{p}.{site}.{gateway}.{leaf}`, where p = NATS's `partition(P, site)` (FNV-1a of
  the site id modulo P, the same as `partition_of`), so one site's messages always
  land in one partition, in order. `hz.in.{p}.tick` carries a clock tick per partition
  and second (published by every alarm worker, deduplicated by message id): it gives
  a partition an owner even when its sites are silent. `hz.in.{p}.canary` carries the
  chain watch's canary to each partition (alarms/watch.py): its owner echoes it once
  evaluated and committed.
- Ingest replicas share the durable consumer `ingest` (all partitions).
- Alarm workers share one durable consumer per partition, `alarms-p{p}`, in the
  priority group `alarms` with the pinned-client policy: the server gives each
  partition to one worker at a time and moves it to a standby when the owner stops
  pulling for `PIN_TIMEOUT_S` (dead, frozen or cut off). A worker learns that it owns a
  partition from the `Nats-Pin-Id` of the messages it gets, and that it lost it from a
  status 423 (pin mismatch) or from a refused changelog write (`Fenced`).
- `HAZMON_PARTS` keeps each partition's changelog under `hz.part.{p}`: every commit of
  the partition's alarm state and journal, written with the expected last sequence of
  that subject, so a worker that lost the partition can never write after its
  successor (the write is refused: `Fenced`).
- The object store `HAZMON_SNAPSHOTS` holds each partition's database as of a
  changelog record (`p{p}`, the record's sequence in its description): a takeover
  starts from it and replays only the records after it.

The acknowledgement wait of the alarm consumers is shorter than the pin timeout, so
what a dead owner had in hand is due again before a successor gets its first message,
and comes to it first, in stream order.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import nats
import orjson
from nats.aio.client import Client as Nats
from nats.aio.msg import Msg
from nats.errors import TimeoutError as NatsTimeout
from nats.js.api import ObjectMeta, ObjectStoreConfig, StorageType
from nats.js.errors import NotFoundError, ObjectNotFoundError
from nats.js.object_store import ObjectStore

from hazmon.contract.errors import ConfigError, HazmonError, Problem

log = logging.getLogger(__name__)

IN_STREAM = "HAZMON_IN"
PARTS_STREAM = "HAZMON_PARTS"
SNAP_BUCKET = "HAZMON_SNAPSHOTS"
INGEST_CONSUMER = "ingest"
ALARMS_GROUP = "alarms"
DEFAULT_PARTITIONS = 16
PIN_TIMEOUT_S = 5.0  # an owner that has not pulled for this long loses its partitions
ALARM_ACK_WAIT_S = 3.0  # < PIN_TIMEOUT_S: a dead owner's messages are due before takeover
INGEST_ACK_WAIT_S = 30.0
PULL_EXPIRES_S = 1.0
ASKED_GRACE_S = 2.0  # a request whose end has not come this long after its expiry is over
AFTER_HEADER = "Nats-Expected-Last-Subject-Sequence"  # a changelog record's predecessor
NS = 1_000_000_000
UNSUBSCRIBE_S = 2.0
REPLAY_TRIES = 10  # pulls of 2 s that bring nothing before a replay gives up


class JetStreamError(HazmonError):
    """A JetStream request failed or a stream has a configuration hazmon cannot use."""


class Fenced(JetStreamError):
    """A changelog write was refused: another worker wrote the partition since (it owns
    it now). The writer must drop the partition without acting on what it evaluated."""


@dataclass(frozen=True, slots=True)
class StreamPlan:
    """What hazmon creates on the cluster (`hazmon cluster-config` writes it)."""

    partitions: int = DEFAULT_PARTITIONS
    replicas: int = 1
    max_bytes: int = -1  # HAZMON_IN's budget (-1: the server's limits)
    max_age_s: float = 0.0  # 0: no age limit


def load_plan(path: Path, *, servers: int) -> StreamPlan:
    """The plan `hazmon cluster-config` wrote (`streams.json`: partitions, replicas,
    max_bytes, max_age_s); a file that does not read as one is a ConfigError."""
    try:
        doc = orjson.loads(path.read_bytes())
        return StreamPlan(
            partitions=int(doc["partitions"]),
            replicas=int(doc.get("replicas", 3 if servers >= 3 else 1)),
            max_bytes=int(doc.get("max_bytes", -1)),
            max_age_s=float(doc.get("max_age_s", 0)),
        )
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise ConfigError([Problem(str(path), 1, "streams", f"cluster-config's streams.json "
                                   f"({type(exc).__name__}: {exc})")]) from None


def default_plan(servers: int, partitions: int = DEFAULT_PARTITIONS) -> StreamPlan:
    """Without a streams file: 3 replicas once there are 3 servers, no budget."""
    return StreamPlan(partitions=partitions, replicas=3 if servers >= 3 else 1)


def partition_of(site: str, partitions: int) -> int:
    """NATS's `{{partition(n,1)}}` of a site's subject token: 32-bit FNV-1a, modulo n."""
    h = 0x811C9DC5
    for byte in _token(site).encode():
        h = ((h ^ byte) * 0x01000193) & 0xFFFFFFFF
    return h % partitions


def _token(level: str) -> str:
    """A topic level as a subject token: NATS's MQTT listener writes `.` as `//`."""
    return level.replace(".", "//")


def topic_of(subject: str) -> str:
    """`hz.in.{p}.{site}.{gateway}.{leaf}` -> `hazmon/v1/{site}/{gateway}/{leaf}`;
    `hz.in.{p}.tick` -> `hz/tick/{p}`; any other subject level by level."""
    parts = [token.replace("//", ".") for token in subject.split(".")]
    if len(parts) == 6 and parts[0] == "hz" and parts[1] == "in":
        return "hazmon/v1/" + "/".join(parts[3:])
    if len(parts) == 4 and parts[3] == "tick":
        return f"hz/tick/{parts[2]}"
    return "/".join(parts)


def subject_of(topic: str) -> str:
    """An MQTT topic (hazmon's: no empty levels, `+` or `#`) as NATS's MQTT listener
    names it: levels become tokens, `.` becomes `//`."""
    return ".".join(_token(level) for level in topic.split("/"))


def tick_subject(partition: int) -> str:
    return f"hz.in.{partition}.tick"


def canary_subject(partition: int) -> str:
    return f"hz.in.{partition}.canary"


def is_tick(subject: str) -> bool:
    return subject.endswith(".tick")


def is_canary(subject: str) -> bool:
    return subject.endswith(".canary")


def is_control(subject: str) -> bool:
    """A clock tick or a canary: the alarm workers' own, nothing to store."""
    return subject.endswith((".tick", ".canary"))


def part_subject(partition: int) -> str:
    return f"hz.part.{partition}"


def in_stream_config(plan: StreamPlan) -> dict[str, Any]:
    return {
        "name": IN_STREAM,
        "subjects": ["hazmon.v1.*.*.telemetry", "hazmon.v1.*.*.state", "hz.in.*.tick",
                     "hz.in.*.canary"],
        "retention": "interest",
        "storage": "file",
        "num_replicas": plan.replicas,
        "max_bytes": plan.max_bytes,
        "max_age": int(plan.max_age_s * NS),
        "discard": "old",
        "duplicate_window": 120 * NS,
        "subject_transform": {
            "src": "hazmon.v1.*.*.*",
            "dest": (
                f"hz.in.{{{{partition({plan.partitions},1)}}}}"
                ".{{wildcard(1)}}.{{wildcard(2)}}.{{wildcard(3)}}"
            ),
        },
    }


def parts_stream_config(plan: StreamPlan) -> dict[str, Any]:
    return {
        "name": PARTS_STREAM,
        "subjects": ["hz.part.*"],
        "retention": "limits",
        "storage": "file",
        "num_replicas": plan.replicas,
        "discard": "old",
    }


def ingest_consumer_config() -> dict[str, Any]:
    return {
        "durable_name": INGEST_CONSUMER,
        "ack_policy": "explicit",
        "ack_wait": int(INGEST_ACK_WAIT_S * NS),
        "max_ack_pending": 50_000,
        "max_deliver": -1,
        "deliver_policy": "all",
    }


def alarm_consumer_config(partition: int) -> dict[str, Any]:
    return {
        "durable_name": f"alarms-p{partition}",
        "filter_subject": f"hz.in.{partition}.>",
        "ack_policy": "explicit",
        "ack_wait": int(ALARM_ACK_WAIT_S * NS),
        "max_ack_pending": 20_000,
        "max_deliver": -1,
        "deliver_policy": "all",
        "priority_policy": "pinned_client",
        "priority_groups": [ALARMS_GROUP],
        "priority_timeout": int(PIN_TIMEOUT_S * NS),
    }


# -- connecting and the JetStream API -----------------------------------------------------


async def connect(
    servers: Sequence[str],
    *,
    name: str,
    user: str | None = None,
    password: str | None = None,
    timeout_s: float = 10.0,
) -> Nats:
    """A connection that reconnects for ever, to any of the servers."""
    try:  # the first connection bounded: nats-py would try it for ever
        async with asyncio.timeout(timeout_s * (len(servers) + 1)):
            return await nats.connect(
                servers=list(servers), name=name, user=user, password=password,
                connect_timeout=timeout_s, max_reconnect_attempts=-1,
                reconnect_time_wait=0.5, allow_reconnect=True,
            )
    except Exception as exc:  # nats-py raises several unrelated types here
        raise JetStreamError(f"cannot connect to {','.join(servers)}: {exc}") from exc


async def api(nc: Nats, subject: str, body: dict[str, Any], timeout_s: float = 10.0) -> Any:
    """One JetStream API request; its error as JetStreamError."""
    try:
        reply = await nc.request(f"$JS.API.{subject}", orjson.dumps(body), timeout=timeout_s)
    except NatsTimeout as exc:
        raise JetStreamError(f"JetStream did not answer {subject} in {timeout_s} s") from exc
    doc = orjson.loads(reply.data)
    if "error" in doc:
        err = doc["error"]
        raise JetStreamError(f"{subject}: {err.get('description')} ({err.get('err_code')})")
    return doc


async def ensure_streams(nc: Nats, plan: StreamPlan, *, strict: bool = True) -> StreamPlan:
    """Create hazmon's streams and consumers (the alarm workers' too, so that nothing
    ingest acknowledges first leaves the stream before they read it), or check that
    those there fit the plan; the plan in force. The partition count is fixed at
    creation: a stream made for another count is an error (docs/scale-out.md says how
    to change it), unless not `strict` (ingest: any count suits it), which takes the
    stream's."""
    have = await _ensure_stream(nc, in_stream_config(plan), strict=strict)
    if have is not None and have != plan.partitions:
        plan = StreamPlan(have, plan.replicas, plan.max_bytes, plan.max_age_s)
    await _ensure_stream(nc, parts_stream_config(plan), strict=strict)
    await _ensure_consumer(nc, IN_STREAM, ingest_consumer_config())
    for p in range(plan.partitions):
        await _ensure_consumer(nc, IN_STREAM, alarm_consumer_config(p))
    return plan


def partitions_of(transform: dict[str, Any] | None) -> int | None:
    """P of a stream's `{{partition(P,1)}}` transform."""
    found = re.search(r"partition\((\d+),1\)", (transform or {}).get("dest", ""))
    return int(found.group(1)) if found else None


async def _ensure_stream(nc: Nats, cfg: dict[str, Any], *, strict: bool) -> int | None:
    """The stream made or found; its partition count (None: not partitioned)."""
    name = cfg["name"]
    try:
        info = await api(nc, f"STREAM.INFO.{name}", {})
    except JetStreamError as exc:
        if "(10059)" not in str(exc):  # stream not found
            raise
        with contextlib.suppress(JetStreamError):
            await api(nc, f"STREAM.CREATE.{name}", cfg)
            return partitions_of(cfg.get("subject_transform"))
        info = await api(nc, f"STREAM.INFO.{name}", {})  # made meanwhile by another
    missing = [s for s in cfg["subjects"] if s not in info["config"].get("subjects", [])]
    if missing:  # a stream made by an earlier version: it gains the subjects it lacks
        update = {**info["config"], "subjects": [*info["config"]["subjects"], *missing]}
        await api(nc, f"STREAM.UPDATE.{name}", update)
        log.info("stream %s: subjects %s added", name, ", ".join(missing))
    have = info["config"].get("subject_transform")
    want = cfg.get("subject_transform")
    if want is not None and have != want and strict:
        raise JetStreamError(
            f"stream {name} partitions by {have and have.get('dest')}, this plan by "
            f"{want['dest']}: the partition count is fixed when the stream is made "
            "(docs/scale-out.md, Changing the partition count)"
        )
    return partitions_of(have)


async def _ensure_consumer(nc: Nats, stream: str, cfg: dict[str, Any]) -> None:
    name = cfg["durable_name"]
    body = {"stream_name": stream, "config": cfg, "action": ""}
    await api(nc, f"CONSUMER.CREATE.{stream}.{name}", body)


# -- pulling ------------------------------------------------------------------------------


@dataclass(slots=True)
class Batch:
    messages: list[Msg]
    pin: str | None  # the Nats-Pin-Id the server gave them (pinned consumers)


class Puller:
    """Pull requests on one durable consumer, answered on one subscription.

    Every request has a reply subject of its own under one inbox, and the inbox is
    subscribed from the first pull until `stop()`: a message the server sent for a
    request the caller stopped waiting for still comes, in stream order, with the next
    `pull()`, instead of reaching nobody and being delivered again after its
    acknowledgement wait, behind newer messages (the alarm core ignores a reading older
    than the last one it evaluated of a sensor, so a crossing would raise nothing).

    `pull(batch)` asks for more when fewer than half a batch are still asked for, then
    returns as soon as it has messages: what came, and what is there at once, up to
    `batch`. It does not wait for the batch to fill, so a message waits for the
    processing of the one batch ahead of it, not for the request's expiry. With
    `group`, requests carry the priority group and the pin id last given: a status 423
    means the pin moved to another client (`lost` is set and the pin forgotten, so the
    next request competes again). Messages the server sent before a pin moved still
    come (a frozen process finds them in its socket when it wakes); they carry the old
    pin, and what is done with them is fenced by the changelog (hazmon.alarms.workers).
    """

    def __init__(self, nc: Nats, stream: str, consumer: str, *, group: str | None = None):
        self.nc = nc
        self.subject = f"$JS.API.CONSUMER.MSG.NEXT.{stream}.{consumer}"
        self.group = group
        self.pin: str | None = None
        self.lost = False
        self._inbox = ""
        self._sub: Any = None
        self._queue: asyncio.Queue[Msg] = asyncio.Queue()
        self._asked: dict[str, tuple[int, float]] = {}  # reply subject: (still due, until)
        self._count = 0

    async def start(self) -> None:
        if self._sub is None:
            self._inbox = self.nc.new_inbox()
            self._sub = await self.nc.subscribe(f"{self._inbox}.*", cb=self._put)

    async def stop(self) -> None:
        """Unsubscribe: what comes after is delivered again once its acknowledgement
        wait is over (bounded: a connection closing under a cancelled pull must not
        hold it)."""
        sub, self._sub = self._sub, None
        self._asked.clear()
        if sub is not None:
            with contextlib.suppress(Exception):
                async with asyncio.timeout(UNSUBSCRIBE_S):
                    await sub.unsubscribe()

    async def _put(self, msg: Msg) -> None:
        self._queue.put_nowait(msg)

    def _came(self) -> None:
        """A message came: it counts against the oldest request still due (a message
        says its stream subject, not the request it answers; the server serves a
        consumer's requests in order). A status names its request (its subject)."""
        for reply, (left, until) in self._asked.items():
            if left > 1:
                self._asked[reply] = (left - 1, until)
            else:
                del self._asked[reply]
            return

    def due(self) -> int:
        """Messages asked for and not yet come (of requests that can still answer)."""
        now = asyncio.get_running_loop().time()
        for reply in [r for r, (_, until) in self._asked.items() if until < now]:
            del self._asked[reply]  # its end never came (a reconnect): forgotten
        return sum(left for left, _ in self._asked.values())

    def idle(self) -> bool:
        """Nothing asked for is still to come, and nothing came that was not taken."""
        return self.due() == 0 and self._queue.empty()

    async def pull(
        self,
        batch: int,
        expires_s: float = PULL_EXPIRES_S,
        *,
        no_wait: bool = False,
        last: Callable[[Msg], bool] | None = None,
        ask: bool = True,
        linger_s: float = 0.0,
    ) -> Batch:
        """`no_wait`: answer with what is there now (status 404 when nothing is);
        `last`: return as soon as a message it is true of arrived; not `ask`: only
        what earlier requests bring (to finish them before letting the consumer go);
        `linger_s`: after the first message, wait this long for the batch to fill (a
        consumer with a cost per batch, such as a database write, takes fewer, fuller
        batches: the messages of one request come in several socket reads)."""
        await self.start()
        self.lost = False
        newest = ""
        if ask and (no_wait or self.due() + self._queue.qsize() < (batch + 1) // 2):
            newest = await self._ask(batch, expires_s, no_wait)
        got = await self._collect(batch, expires_s, newest, last, linger_s)
        return Batch(got, self.pin if self.group is not None else None)

    async def keep_pin(self) -> None:
        """A request for one message, carrying the pin: while a partition's loop is busy
        (a long batch, a takeover's replay), this tells the server its owner is alive
        (it moves the pin after PIN_TIMEOUT_S without a request). What it brings waits
        for the next `pull()`, in order."""
        await self.start()
        await self._ask(1, PULL_EXPIRES_S, False)

    async def _ask(self, batch: int, expires_s: float, no_wait: bool) -> str:
        req: dict[str, Any] = {"batch": batch, "expires": int(expires_s * NS)}
        if no_wait:
            req["no_wait"] = True
        if self.group is not None:
            req["group"] = self.group
            if self.pin is not None:
                req["id"] = self.pin
        self._count += 1
        reply = f"{self._inbox}.{self._count}"
        if not no_wait:  # a no_wait request is over once answered: no end may come
            until = asyncio.get_running_loop().time() + expires_s + ASKED_GRACE_S
            self._asked[reply] = (batch, until)
        await self.nc.publish(self.subject, orjson.dumps(req), reply=reply)
        return reply

    async def _collect(
        self, batch: int, expires_s: float, newest: str,
        last: Callable[[Msg], bool] | None, linger_s: float,
    ) -> list[Msg]:
        got: list[Msg] = []
        loop = asyncio.get_running_loop()
        deadline = loop.time() + expires_s + 0.5
        while len(got) < batch:
            if got and self._queue.empty():
                if not linger_s:
                    break  # what is there at once is taken
                deadline = min(deadline, loop.time() + linger_s)
                linger_s = 0.0  # from the first message on, once
            left = deadline - loop.time()
            if left <= 0:
                break
            try:  # asyncio.timeout, not wait_for: on 3.11 wait_for may swallow a cancel
                async with asyncio.timeout(left):
                    msg = await self._queue.get()
            except TimeoutError:
                break
            status = _status(msg)
            if status is None:
                self._came()
                pin = msg.headers.get("Nats-Pin-Id") if msg.headers else None
                if pin is not None:
                    self.pin = pin
                got.append(msg)
                if last is not None and last(msg):
                    break
                continue
            if status == "100":  # idle heartbeat
                continue
            self._asked.pop(msg.subject, None)  # the request is over
            if status == "423":
                self.pin, self.lost = None, True
                break
            if msg.subject == newest or not self._asked:
                break  # 404 nothing there, 408 expired, 409 limits: of the last request
        return got


def _status(msg: Msg) -> str | None:
    if msg.headers and not msg.data:
        return msg.headers.get("Status")
    return None


async def ack_all(messages: Sequence[Msg]) -> None:
    for msg in messages:
        if msg.reply:
            await msg._client.publish(msg.reply, b"+ACK")
    if messages:
        await messages[0]._client.flush()


# -- the partition changelog --------------------------------------------------------------


async def unpin(nc: Nats, partition: int) -> None:
    """Let the server give the partition's consumer to another waiting worker now
    (its owner has handed it over: docs/scale-out.md, "Spreading partitions")."""
    await api(nc, f"CONSUMER.UNPIN.{IN_STREAM}.alarms-p{partition}", {"group": ALARMS_GROUP})


async def snapshot_store(nc: Nats, plan: StreamPlan) -> ObjectStore:
    """The object store of the partitions' snapshots (made if missing)."""
    found = await existing_snapshot_store(nc)
    if found is not None:
        return found
    jsc = nc.jetstream()
    config = ObjectStoreConfig(bucket=SNAP_BUCKET, replicas=plan.replicas,
                               storage=StorageType.FILE)
    try:
        return await jsc.create_object_store(SNAP_BUCKET, config=config)
    except Exception:  # made meanwhile by another
        return await jsc.object_store(SNAP_BUCKET)


async def existing_snapshot_store(nc: Nats) -> ObjectStore | None:
    """The object store of the partitions' snapshots, None while there is none (an API
    instance reads snapshots and never makes the store: the workers make it, with the
    plan's replicas)."""
    try:
        return await nc.jetstream().object_store(SNAP_BUCKET)
    except Exception:  # not found (nats-py raises its own types)
        return None


async def save_snapshot(store: ObjectStore, partition: int, data: bytes, covers: int) -> None:
    """A partition's database as it was after changelog record `covers`."""
    await store.put(f"p{partition}", data,
                    meta=ObjectMeta(name=f"p{partition}", description=str(covers)))


async def load_snapshot(store: ObjectStore, partition: int) -> tuple[bytes, int] | None:
    """The newest snapshot of a partition and the record it covers, or None."""
    try:
        got = await store.get(f"p{partition}")
    except (NotFoundError, ObjectNotFoundError):  # none yet
        return None
    except Exception as exc:  # no answer: the caller must not go on without it
        raise JetStreamError(f"snapshot of partition {partition}: {exc!r}") from exc
    if got.data is None or got.info.description is None:
        return None
    return bytes(got.data), int(got.info.description)


async def trim(nc: Nats, partition: int, before: int) -> None:
    """Drop the partition's changelog records older than sequence `before`, an older
    snapshot's record: they are in every snapshot since (docs/scale-out.md, "What is
    replicated"). The newest record always stays (the next append expects it)."""
    await api(nc, f"STREAM.PURGE.{PARTS_STREAM}",
              {"filter": part_subject(partition), "seq": before})


async def last_seq(nc: Nats, partition: int) -> int:
    """The sequence of the partition's newest changelog record, 0 when there is none."""
    try:
        doc = await api(
            nc, f"STREAM.MSG.GET.{PARTS_STREAM}", {"last_by_subj": part_subject(partition)}
        )
    except JetStreamError as exc:
        if "(10037)" in str(exc):  # no message found
            return 0
        raise
    return int(doc["message"]["seq"])


async def append(nc: Nats, partition: int, record: bytes, *, after: int) -> int:
    """Append one changelog record, only if the partition's newest is still `after`;
    the new record's sequence. Refused (another worker wrote since): Fenced."""
    headers = {AFTER_HEADER: str(after)}  # stored with the record: its predecessor
    try:
        reply = await nc.request(part_subject(partition), record, timeout=10.0, headers=headers)
    except NatsTimeout as exc:
        raise JetStreamError(f"changelog of partition {partition}: no answer") from exc
    doc = orjson.loads(reply.data)
    if "error" in doc:
        err = doc["error"]
        if err.get("err_code") == 10071:  # wrong last sequence
            raise Fenced(f"partition {partition} was written by another worker")
        raise JetStreamError(f"changelog of partition {partition}: {err.get('description')}")
    return int(doc["seq"])


async def replay(
    nc: Nats,
    partition: int,
    apply: Callable[[int, bytes], Awaitable[None] | None],
    *,
    after: int = 0,
    batch: int = 1000,
) -> int:
    """Give every changelog record of the partition after sequence `after` (a
    snapshot's), oldest first, to `apply(seq, data)`; the sequence of the last one
    (`after` when there is none)."""
    until = await last_seq(nc, partition)
    if until <= after:
        return after
    name = "replay-" + nc.new_inbox().rsplit(".", 1)[-1]
    start: dict[str, Any] = (
        {"deliver_policy": "by_start_sequence", "opt_start_seq": after + 1} if after
        else {"deliver_policy": "all"}
    )
    cfg: dict[str, Any] = {
        "name": name,
        "filter_subject": part_subject(partition),
        "ack_policy": "none",
        **start,
        "inactive_threshold": 30 * NS,
        "mem_storage": True,
        "num_replicas": 1,
    }
    await api(nc, f"CONSUMER.CREATE.{PARTS_STREAM}.{name}",
              {"stream_name": PARTS_STREAM, "config": cfg})
    puller = Puller(nc, PARTS_STREAM, name)
    await puller.start()
    seen = after
    empty = 0
    try:
        while seen < until:
            got = await puller.pull(batch, expires_s=2.0,
                                    last=lambda m: m.metadata.sequence.stream >= until)
            if not got.messages:
                # a consumer just made may not serve the first request on a busy cluster
                empty += 1
                if empty >= REPLAY_TRIES:
                    raise JetStreamError(f"replay of partition {partition} stopped at {seen}")
                continue
            empty = 0
            for msg in got.messages:
                seq = msg.metadata.sequence.stream
                if seq > until:
                    return seen
                prev = msg.headers.get(AFTER_HEADER) if msg.headers else None
                if prev is not None and int(prev) != seen:
                    raise JetStreamError(
                        f"changelog of partition {partition}: record {seq} follows {prev}, "
                        f"the replay is at {seen} (trimmed past the snapshot)")
                done = apply(seq, msg.data)
                if done is not None:
                    await done
                seen = seq
    finally:
        await puller.stop()
        with contextlib.suppress(JetStreamError):
            await api(nc, f"CONSUMER.DELETE.{PARTS_STREAM}.{name}", {})
    return seen
