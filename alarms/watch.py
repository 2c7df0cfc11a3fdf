"""The alarm chain watched (docs/alarms.md, "The alarm chain watched"): a canary through
the real path, and the broker's own drop counter.

    watch = ChainWatch(registry=..., broker=..., settings=..., period_s=10, deadline_s=30)
    await watch.run()        # until cancelled; or watch.start_thread() beside a service
    watch.status()           # {"state": "ok", "rtt_ms": 38.0, ...}: /health, the console

Every `period_s` the watch publishes a canary (QoS 1) on `hazmon/v1/_system/canary/ping`.
The alarm service takes it on its own subscription, in the same batches as readings:
evaluated under the desk's lock, committed (a canary forces the commit of its batch),
acknowledged, then echoed from the event loop where notifications are submitted, on
`hazmon/v1/_system/canary/echo`. The round trip is the chain's latency
(`hazmon_chain_rtt_seconds`).

When the oldest unanswered canary is older than `deadline_s`, the chain is dead: the
watch itself (its own connection, its own thread under `hazmon up`, its own process as
`hazmon watch`; nothing of the alarm service) sends the critical system alarm
`_system/chain/chain_dead` through every notifier of the registry that works, and
`/health` fails. The first echo after that clears it (sent the same way).

Mosquitto counts the messages it dropped (a client's queue full: docs/contract.md §2)
on `$SYS/broker/publish/messages/dropped`, every `sys_interval`. When that counter
rises, the watch raises `_system/broker/broker_dropping` (critical) the same way, and
clears it once it has not risen for `quiet_s`.

On NATS JetStream (`broker` a NatsAddress: docs/scale-out.md) the canary goes into
every partition of the stream (`hz.in.{p}.canary`): the partition's owner evaluates,
commits and echoes it, so each partition is a lane of the chain with its own round
trip, and the chain is dead when any lane is. The stream has no drop counter: under
interest retention every message it holds is one a consumer has not acknowledged, so
a stream at its byte, message or age limit (`StreamLimits`) pushes out messages
hazmon has not taken; that raises `broker_dropping`. Each canary carries the watch's
verdict for its partition, which the partition's owner journals (its lane dead, the
stream discarding) as system alarms of the partition.

The verdicts (`ChainVerdict`, `DropVerdict`, `StreamLimits`) are pure: they take the
times they are given. The watch's state is also published every second, retained, on
`hazmon/v1/_system/chain/{name}`, where the alarm service journals `chain_dead` and
`broker_dropping` as system alarms (docs/alarms.md) once it runs.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import itertools
import logging
import socket
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import orjson
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from hazmon.alarms.core.model import NotifyRequest
from hazmon.alarms.notifiers import Notifier, NotifyFailed, from_registry
from hazmon.bus.mqtt import MqttError, MqttOptions, close_client, connect
from hazmon.contract import topics
from hazmon.contract.registry import Registry
from hazmon.contract.settings import BrokerAddress, NatsAddress, Settings

log = logging.getLogger(__name__)

PERIOD_S = 10.0
DEADLINE_S = 30.0
DROPS_QUIET_S = 60.0  # broker_dropping clears once the counter has not risen this long
CHAIN_DEAD = "_system/chain/chain_dead"
BROKER_DROPPING = "_system/broker/broker_dropping"
NOTIFY_TIMEOUT_S = 5.0


def wall_ms() -> int:
    return time.time_ns() // 1_000_000


# -- the verdicts (pure) -------------------------------------------------------------------


@dataclass(slots=True)
class ChainVerdict:
    """Canaries sent and echoed; dead once the oldest unanswered one is older than
    `deadline_ms`. An echo answers its canary and every older one (a newer round trip
    proves the chain works; an older canary lost on the way is not a dead chain)."""

    deadline_ms: int
    waiting: dict[int, int] = field(default_factory=dict)  # canary number: sent at
    dead: bool = False
    rtt_ms: float | None = None
    echoed_ms: int | None = None  # when the newest echo came
    dead_since_ms: int | None = None

    def sent(self, number: int, now_ms: int) -> None:
        self.waiting[number] = now_ms

    def echoed(self, number: int, now_ms: int) -> bool:
        """An echo came; True when it brings the chain back from dead."""
        sent = self.waiting.get(number)
        if sent is None:
            return False  # a repeat, or a canary of an earlier run of the watch
        for n in [n for n in self.waiting if n <= number]:
            del self.waiting[n]
        self.rtt_ms = float(now_ms - sent)
        self.echoed_ms = now_ms
        back = self.dead
        self.dead, self.dead_since_ms = False, None
        return back

    def check(self, now_ms: int) -> bool:
        """True when the chain has just been found dead."""
        if self.dead or not self.waiting:
            return False
        oldest = min(self.waiting.values())
        if now_ms - oldest <= self.deadline_ms:
            return False
        self.dead, self.dead_since_ms = True, now_ms
        return True

    def silent_ms(self, now_ms: int) -> int:
        return now_ms - min(self.waiting.values()) if self.waiting else 0


@dataclass(slots=True)
class DropVerdict:
    """The broker's cumulative drop counter; dropping while it rose within `quiet_ms`.
    A counter that goes down is a restarted broker: a new baseline, nothing dropped."""

    quiet_ms: int
    last: int | None = None
    rose_ms: int | None = None
    dropping: bool = False
    dropped: int = 0  # messages dropped since the watch started (over baselines)

    def seen(self, counter: int, now_ms: int) -> bool | None:
        """True when the broker just started dropping; None when nothing changed."""
        before, self.last = self.last, counter
        if before is None or counter <= before:
            return None
        self.dropped += counter - before
        self.rose_ms = now_ms
        if self.dropping:
            return None
        self.dropping = True
        return True

    def check(self, now_ms: int) -> bool:
        """True when the drops have just stopped (quiet for `quiet_ms`)."""
        if not self.dropping or self.rose_ms is None or now_ms - self.rose_ms < self.quiet_ms:
            return False
        self.dropping = False
        return True


@dataclass(slots=True)
class StreamLimits:
    """A JetStream stream under interest retention, from its info (`STREAM.INFO`): every
    message it holds is one some consumer has not acknowledged, so while it is at its
    byte, message or age limit, each message the limit pushes out is lost to a consumer.
    `seen` gives a cumulative count for DropVerdict: the messages removed between two
    looks while the stream was at its limit at both (an upper bound when consumers
    acknowledge meanwhile; the gateways' seq gaps, `feed_gap`, say what each lost)."""

    full: bool = False
    last_seq: int | None = None
    messages: int = 0
    discarded: int = 0

    @staticmethod
    def at_limit(config: Mapping[str, Any], state: Mapping[str, Any], now_ms: int) -> bool:
        msgs, size = int(state.get("messages", 0)), int(state.get("bytes", 0))
        if msgs == 0:
            return False
        max_bytes, max_msgs = int(config.get("max_bytes", -1)), int(config.get("max_msgs", -1))
        max_age_ms = int(config.get("max_age", 0)) // 1_000_000
        if max_bytes > 0 and size + 2 * (size // msgs) >= max_bytes:
            return True  # within two messages of the limit: the next ones push out
        if max_msgs > 0 and msgs >= max_msgs:
            return True
        first_ms = _rfc3339_ms(state.get("first_ts"))
        return max_age_ms > 0 and first_ms is not None and now_ms - first_ms >= max_age_ms - 2000

    def seen(self, info: Mapping[str, Any], now_ms: int) -> int:
        config, state = info["config"], info["state"]
        full = self.at_limit(config, state, now_ms)
        last, msgs = int(state.get("last_seq", 0)), int(state.get("messages", 0))
        if self.last_seq is not None and last >= self.last_seq and (full or self.full):
            removed = (last - self.last_seq) - (msgs - self.messages)
            if full and removed > 0:
                self.discarded += removed
        self.full, self.last_seq, self.messages = full, last, msgs
        return self.discarded


def _rfc3339_ms(text: Any) -> int | None:
    """`2026-12-06T14:38:23.123456789Z` (NATS's times) in ms; None for none."""
    if not isinstance(text, str) or text.startswith("0001-"):
        return None
    from datetime import datetime

    head, _, rest = text.rstrip("Z").partition(".")
    frac = "".join(c for c in rest if c.isdigit())[:6].ljust(6, "0")
    try:
        stamp = datetime.fromisoformat(f"{head}.{frac}+00:00")
    except ValueError:
        return None
    return int(stamp.timestamp() * 1000)


# -- how the watch reaches the chain ---------------------------------------------------------


class MqttChannel:
    """The watch on MQTT: one lane (the alarm service), the verdict retained, the
    broker's drop counter from $SYS."""

    def __init__(self, broker: BrokerAddress, settings: Settings, client_id: str) -> None:
        self._opts = dataclasses.replace(
            MqttOptions.build(broker, settings, client_id=client_id, clean_start=True),
            session_expiry_s=0)
        self._client: Any = None

    async def open(self, on_echo: Callable[[bytes], None],
                   on_dropped: Callable[[int], None], retry_s: float) -> None:
        def on_message(_client: Any, _userdata: Any, msg: Any) -> None:
            if msg.topic == topics.CANARY_ECHO:
                on_echo(msg.payload)
            elif msg.topic == topics.BROKER_DROPPED:
                with contextlib.suppress(ValueError):
                    on_dropped(int(msg.payload))

        while self._client is None:
            try:
                self._client, _ = await asyncio.to_thread(
                    connect, self._opts, attempts=3, timeout_s=10.0, on_message=on_message)
            except MqttError as exc:
                log.warning("chain watch: broker unreachable (%s); trying again", exc)
                await asyncio.sleep(retry_s)
        self._subscribe(self._client)
        self._client.on_connect = lambda c, *_: self._subscribe(c)  # again after a reconnect

    @staticmethod
    def _subscribe(client: Any) -> None:
        client.subscribe(topics.CANARY_ECHO, qos=1)
        client.subscribe(topics.BROKER_DROPPED, qos=0)

    async def lanes(self) -> int:
        return 1

    def canary(self, lane: int, payload: bytes, msg_id: str) -> None:
        self._client.publish(topics.CANARY, payload, qos=1)

    async def look(self) -> None:
        """Nothing to ask: Mosquitto publishes its counter every sys_interval."""

    def verdict(self, topic: str, payload: bytes) -> None:
        with contextlib.suppress(Exception):
            self._client.publish(topic, payload, qos=1, retain=True)

    async def publish(self, topic: str, payload: bytes, timeout_s: float) -> None:
        info = self._client.publish(topic, payload, qos=1)
        await asyncio.to_thread(info.wait_for_publish, timeout_s)

    async def close(self, verdict_topic: str) -> None:
        client, self._client = self._client, None
        if client is None:
            return
        with contextlib.suppress(Exception):  # its verdict goes with it
            client.publish(verdict_topic, b"", qos=1, retain=True)
        await asyncio.to_thread(close_client, client)


class NatsChannel:
    """The watch on NATS JetStream: one lane per partition of HAZMON_IN, the verdict in
    each canary, and the stream's limits (`StreamLimits`) looked at every second."""

    def __init__(self, address: NatsAddress, settings: Settings, name: str) -> None:
        self._servers = list(address.servers)
        self._user, self._password = settings.mqtt_username, settings.mqtt_secret()
        self._name = name
        self._nc: Any = None
        self._on_dropped: Callable[[int], None] | None = None
        self._limits = StreamLimits()

    async def open(self, on_echo: Callable[[bytes], None],
                   on_dropped: Callable[[int], None], retry_s: float) -> None:
        from hazmon.bus import jetstream as js

        while self._nc is None:
            try:
                self._nc = await js.connect(self._servers, name=self._name, user=self._user,
                                            password=self._password)
            except Exception as exc:
                log.warning("chain watch: NATS unreachable (%s); trying again", exc)
                await asyncio.sleep(retry_s)

        async def echoed(msg: Any) -> None:
            on_echo(msg.data)

        await self._nc.subscribe(js.subject_of(topics.CANARY_ECHO), cb=echoed)
        self._on_dropped = on_dropped

    async def lanes(self) -> int:
        """The stream's partition count (0 while there is no stream yet)."""
        from hazmon.bus import jetstream as js

        try:
            info = await js.api(self._nc, f"STREAM.INFO.{js.IN_STREAM}", {}, timeout_s=5.0)
        except js.JetStreamError:
            return 0
        return js.partitions_of(info["config"].get("subject_transform")) or 0

    def canary(self, lane: int, payload: bytes, msg_id: str) -> None:
        from hazmon.bus import jetstream as js

        task = asyncio.ensure_future(self._nc.publish(
            js.canary_subject(lane), payload, headers={"Nats-Msg-Id": msg_id}))
        task.add_done_callback(_log_failure)

    async def look(self) -> None:
        from hazmon.bus import jetstream as js

        try:
            info = await js.api(self._nc, f"STREAM.INFO.{js.IN_STREAM}", {}, timeout_s=5.0)
        except js.JetStreamError as exc:
            log.debug("chain watch: no stream info: %s", exc)
            return
        if self._on_dropped is not None:
            self._on_dropped(self._limits.seen(info, wall_ms()))

    def verdict(self, topic: str, payload: bytes) -> None:
        from hazmon.bus import jetstream as js

        task = asyncio.ensure_future(self._nc.publish(js.subject_of(topic), payload))
        task.add_done_callback(_log_failure)

    async def publish(self, topic: str, payload: bytes, timeout_s: float) -> None:
        from hazmon.bus import jetstream as js

        await self._nc.publish(js.subject_of(topic), payload)
        await self._nc.flush(timeout=max(1, int(timeout_s)))

    async def close(self, verdict_topic: str) -> None:
        nc, self._nc = self._nc, None
        if nc is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(nc.drain(), 5.0)


def _log_failure(fut: Any) -> None:
    if not fut.cancelled() and fut.exception() is not None:
        log.warning("chain watch: publish failed: %s", fut.exception())


# -- the watch ------------------------------------------------------------------------------


class ChainWatch:
    def __init__(
        self,
        *,
        registry: Registry,
        broker: BrokerAddress | NatsAddress,
        settings: Settings,
        period_s: float = PERIOD_S,
        deadline_s: float = DEADLINE_S,
        drops_quiet_s: float = DROPS_QUIET_S,
        notifiers: Mapping[str, Notifier] | None = None,
        name: str = f"watch-{socket.gethostname()}",
        clock: Callable[[], int] = wall_ms,
    ) -> None:
        self.registry = registry
        self.broker = broker
        self.settings = settings
        self.period_s = period_s
        self.name = name
        self.deadline_ms = int(deadline_s * 1000)
        self.lanes: dict[int, ChainVerdict] = {}  # by partition (one lane, 0, on MQTT)
        self.drops = DropVerdict(int(drops_quiet_s * 1000))
        self._died: set[int] = set()  # lanes found dead since their last canary
        self._dropped_0 = False  # the stream found discarding since partition 0's last canary
        self._clock = clock
        self._given_notifiers = notifiers
        self._numbers = itertools.count(1)
        self._run_id = f"{name}-{wall_ms()}"
        self._channel: MqttChannel | NatsChannel | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._lock = threading.Lock()  # the status is read from other threads
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()
        self.started = False
        self.sent_alarms: list[tuple[str, str]] = []  # (key, event) sent, newest last
        self._pending: list[tuple[str, str, str]] = []  # (event, key, note), on the loop
        self.metrics_registry = CollectorRegistry(auto_describe=True)
        self._rtt = Histogram(
            "hazmon_chain_rtt_seconds", "Alarm chain round trip: canary published to echo",
            registry=self.metrics_registry,
            buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0),
        )
        self._canaries = Counter("hazmon_chain_canaries", "Canaries published",
                                 registry=self.metrics_registry)
        dead = Gauge("hazmon_chain_dead", "1 while the alarm chain is dead",
                     registry=self.metrics_registry)
        dead.set_function(lambda: 1.0 if self.dead_lanes() else 0.0)
        dropping = Gauge("hazmon_broker_dropping", "1 while the broker drops messages",
                         registry=self.metrics_registry)
        dropping.set_function(lambda: 1.0 if self.drops.dropping else 0.0)

    # -- what others read -----------------------------------------------------------------

    def dead_lanes(self) -> list[int]:
        return sorted(lane for lane, chain in list(self.lanes.items()) if chain.dead)

    def status(self) -> dict[str, Any]:
        """The chain's state for /health, the API and the console: dead when any lane
        is; its round trip is the slowest lane's latest."""
        with self._lock:
            lanes = list(self.lanes.values())
            dead = [chain for chain in lanes if chain.dead]
            rtts = [chain.rtt_ms for chain in lanes if chain.rtt_ms is not None]
            echoed = [chain.echoed_ms for chain in lanes if chain.echoed_ms is not None]
            state = "dead" if dead else "ok" if echoed else "unknown"
            doc: dict[str, Any] = {
                "state": state,
                "rtt_ms": max(rtts) if rtts else None,
                "checked_ms": max(echoed) if echoed else None,
                "dead_since_ms": min(c.dead_since_ms for c in dead if c.dead_since_ms)
                if dead else None,
                "broker_dropping": self.drops.dropping,
                "broker_dropped": self.drops.dropped,
            }
            if isinstance(self.broker, NatsAddress):
                doc["lanes"] = len(lanes)
                doc["dead_lanes"] = self.dead_lanes()
            return doc

    # -- running --------------------------------------------------------------------------

    def start_thread(self) -> None:
        """Run in a thread of its own with its own event loop: a stuck event loop or
        alarm service of this process does not stop the watch."""
        def main() -> None:
            asyncio.run(self._run_until_stopped())

        self._thread = threading.Thread(target=main, name="chain-watch", daemon=True)
        self._thread.start()

    def stop_thread(self, timeout_s: float = 5.0) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout_s)

    async def _run_until_stopped(self) -> None:
        task = asyncio.ensure_future(self.run())
        stopped = asyncio.ensure_future(asyncio.to_thread(self._stop.wait))
        await asyncio.wait({task, stopped}, return_when=asyncio.FIRST_COMPLETED)
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await task
        self._stop.set()  # the waiting thread ends
        await stopped

    def _make_channel(self) -> MqttChannel | NatsChannel:
        if isinstance(self.broker, NatsAddress):
            return NatsChannel(self.broker, self.settings, self.name)
        return MqttChannel(self.broker, self.settings, f"{self.name}-{id(self):x}")

    async def run(self) -> None:
        self._loop = asyncio.get_running_loop()
        notifiers = self._notifiers()
        channel = self._channel = self._make_channel()
        await channel.open(self._on_echo, self._on_dropped, self.period_s)
        self.started = True
        log.info("chain watch: a canary every %.0f s, dead after %.0f s without an echo",
                 self.period_s, self.deadline_ms / 1000)
        try:
            next_at = time.monotonic()
            while True:
                now = time.monotonic()
                if now >= next_at:
                    await self._send_canaries(channel)
                    next_at = now + self.period_s
                await channel.look()
                await self._judge(notifiers)
                await asyncio.sleep(min(1.0, self.period_s))
        finally:
            await channel.close(topics.chain(self.name))
            for notifier in notifiers.values():
                with contextlib.suppress(Exception):
                    await notifier.aclose()

    async def _send_canaries(self, channel: MqttChannel | NatsChannel) -> None:
        """One canary per lane, each with the verdict its lane's owner journals."""
        count = await channel.lanes()
        number = next(self._numbers)
        now = self._clock()
        with self._lock:
            for lane in range(count):
                self.lanes.setdefault(lane, ChainVerdict(self.deadline_ms)).sent(number, now)
        for lane in range(count):
            doc: dict[str, Any] = {"watch": self._run_id, "n": number, "lane": lane,
                                   "sent_ms": now}
            if isinstance(channel, NatsChannel):
                doc["verdict"] = self._lane_verdict(lane, now)
            channel.canary(lane, orjson.dumps(doc), f"{self._run_id}-{number}-{lane}")
        self._canaries.inc(count)

    def _lane_verdict(self, lane: int, now_ms: int) -> dict[str, Any]:
        """What partition `lane` journals: its lane dead (now, or found dead since its
        previous canary: a lane that came back before a canary told it is journalled
        too); partition 0, the stream discarding (one record for the stream)."""
        with self._lock:
            chain = self.lanes.get(lane)
            dead = (chain is not None and chain.dead) or lane in self._died
            self._died.discard(lane)
            dropping = lane == 0 and (self.drops.dropping or self._dropped_0)
            if lane == 0:
                self._dropped_0 = False
            return {"watch": self.name, "ts_ms": now_ms, "state": "dead" if dead else "ok",
                    "broker_dropping": dropping}

    def _on_echo(self, payload: bytes) -> None:
        """An echo (on paho's thread on MQTT)."""
        now = self._clock()
        with contextlib.suppress(ValueError, KeyError, TypeError):
            doc = orjson.loads(payload)
            if doc["watch"] != self._run_id:
                return  # another watch's canary
            lane = int(doc.get("lane", 0))
            with self._lock:
                chain = self.lanes.get(lane)
                if chain is None:
                    return
                back = chain.echoed(int(doc["n"]), now)
                rtt = chain.rtt_ms
                still_dead = any(c.dead for c in self.lanes.values())
            if rtt is not None:
                self._rtt.observe(rtt / 1000)
            if back and not still_dead:
                self._later("cleared", CHAIN_DEAD, "canaries answered again")

    def _on_dropped(self, counter: int) -> None:
        """The broker's cumulative count of messages dropped (Mosquitto's $SYS counter;
        on JetStream, StreamLimits')."""
        now = self._clock()
        with self._lock:
            started = self.drops.seen(counter, now)
            self._dropped_0 = self._dropped_0 or bool(started)
        if started:
            why = ("HAZMON_IN is at its retention limit: messages not yet taken are pushed "
                   "out" if isinstance(self.broker, NatsAddress) else
                   "the broker dropped messages for a client that could not keep up "
                   "($SYS/broker/publish/messages/dropped rose)")
            self._later("raised", BROKER_DROPPING, why)

    def _later(self, event: str, key: str, note: str) -> None:
        loop = self._loop
        if loop is not None:
            with contextlib.suppress(RuntimeError):
                loop.call_soon_threadsafe(self._pending.append, (event, key, note))

    async def _judge(self, notifiers: Mapping[str, Notifier]) -> None:
        now = self._clock()
        with self._lock:
            was_dead = any(chain.dead for chain in self.lanes.values())
            found = [lane for lane, chain in self.lanes.items() if chain.check(now)]
            self._died.update(found)
            silent_s = max((c.silent_ms(now) for c in self.lanes.values()), default=0) / 1000
            quiet = self.drops.check(now)
        if found and not was_dead:
            where = (f" (partitions {', '.join(map(str, found))})"
                     if isinstance(self.broker, NatsAddress) else "")
            self._pending.append(("raised", CHAIN_DEAD, "no echo of the alarm chain's "
                                  f"canary for {silent_s:.0f} s{where}"))
        if quiet:
            self._pending.append(("cleared", BROKER_DROPPING, "the broker dropped nothing "
                                  f"for {self.drops.quiet_ms / 1000:.0f} s"))
        while self._pending:
            event, key, note = self._pending.pop(0)
            await self._tell(notifiers, event, key, note, now)
        self._publish_status()

    def _publish_status(self) -> None:
        channel = self._channel
        if channel is None:
            return
        doc = {**self.status(), "watch": self.name, "ts_ms": self._clock()}
        channel.verdict(topics.chain(self.name), orjson.dumps(doc))

    async def _tell(self, notifiers: Mapping[str, Notifier], event: str, key: str,
                    note: str, now_ms: int) -> None:
        """Send a system alarm's event through every notifier; one that fails does not
        stop the others (each is tried once per event: the watch's own log says so)."""
        site, service, condition = key.split("/", 2)
        payload = {
            "alarm_id": f"{key}#{now_ms}", "key": key, "site": site, "sensor": service,
            "condition": condition, "priority": "critical", "event": event,
            "state": "unack" if event == "raised" else "rtn_unack", "ts_ms": now_ms,
            "note": note, "by": self.name,
        }
        level = logging.ERROR if event == "raised" else logging.WARNING
        log.log(level, "system alarm %s %s: %s", key, event, note)
        self.sent_alarms.append((key, event))

        async def one(name: str, notifier: Notifier) -> None:
            request = NotifyRequest(id=f"{key}#{now_ms}/{event}/{name}", recipient=name,
                                    alarm_id=str(payload["alarm_id"]), key=key, site=site,
                                    tier=1, payload=payload)
            try:
                async with asyncio.timeout(NOTIFY_TIMEOUT_S):
                    await notifier.send(request)
            except (NotifyFailed, TimeoutError) as exc:
                log.error("chain watch: notifier %s failed: %s", name, exc)

        await asyncio.gather(*(one(n, x) for n, x in notifiers.items()))

    def _notifiers(self) -> dict[str, Notifier]:
        if self._given_notifiers is not None:
            return dict(self._given_notifiers)
        return from_registry(self.registry.notifiers, self._publish_notification,
                             webhook_timeout_s=NOTIFY_TIMEOUT_S)

    async def _publish_notification(self, topic: str, payload: bytes) -> None:
        channel = self._channel
        if channel is None:
            raise NotifyFailed("not connected")
        await channel.publish(topic, payload, NOTIFY_TIMEOUT_S)
