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

The verdicts (`ChainVerdict`, `DropVerdict`) are pure: they take the times they are
given. The watch's state is also published every second, retained, on
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
from hazmon.contract.settings import BrokerAddress, Settings

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


# -- the watch ------------------------------------------------------------------------------


class ChainWatch:
    def __init__(
        self,
        *,
        registry: Registry,
        broker: BrokerAddress,
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
        self.chain = ChainVerdict(int(deadline_s * 1000))
        self.drops = DropVerdict(int(drops_quiet_s * 1000))
        self._clock = clock
        self._given_notifiers = notifiers
        self._numbers = itertools.count(1)
        self._run_id = f"{name}-{wall_ms()}"
        self._client: Any = None
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
        dead.set_function(lambda: 1.0 if self.chain.dead else 0.0)
        dropping = Gauge("hazmon_broker_dropping", "1 while the broker drops messages",
                         registry=self.metrics_registry)
        dropping.set_function(lambda: 1.0 if self.drops.dropping else 0.0)

    # -- what others read -----------------------------------------------------------------

    def status(self) -> dict[str, Any]:
        """The chain's state for /health, the API and the console."""
        with self._lock:
            chain = self.chain
            state = "dead" if chain.dead else "ok" if chain.echoed_ms is not None else "unknown"
            return {
                "state": state,
                "rtt_ms": chain.rtt_ms,
                "checked_ms": chain.echoed_ms,
                "dead_since_ms": chain.dead_since_ms,
                "broker_dropping": self.drops.dropping,
                "broker_dropped": self.drops.dropped,
            }

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

    async def run(self) -> None:
        self._loop = asyncio.get_running_loop()
        notifiers = self._notifiers()
        opts = dataclasses.replace(
            MqttOptions.build(self.broker, self.settings, client_id=f"{self.name}-{id(self):x}",
                              clean_start=True), session_expiry_s=0)
        client = None
        while client is None:
            try:
                client, _ = await asyncio.to_thread(
                    connect, opts, attempts=3, timeout_s=10.0, on_message=self._on_message)
            except MqttError as exc:
                log.warning("chain watch: broker unreachable (%s); trying again", exc)
                await asyncio.sleep(self.period_s)
        self._client = client
        self._subscribe(client)
        client.on_connect = lambda c, *_: self._subscribe(c)  # a reconnect subscribes again
        self.started = True
        log.info("chain watch: a canary every %.0f s, dead after %.0f s without an echo",
                 self.period_s, self.chain.deadline_ms / 1000)
        try:
            next_at = time.monotonic()
            while True:
                now = time.monotonic()
                if now >= next_at:
                    self._send_canary(client)
                    next_at = now + self.period_s
                await self._judge(notifiers)
                await asyncio.sleep(min(1.0, self.period_s))
        finally:
            with contextlib.suppress(Exception):  # its verdict goes with it
                client.publish(topics.chain(self.name), b"", qos=1, retain=True)
            await asyncio.to_thread(close_client, client)
            for notifier in notifiers.values():
                with contextlib.suppress(Exception):
                    await notifier.aclose()

    def _subscribe(self, client: Any) -> None:
        client.subscribe(topics.CANARY_ECHO, qos=1)
        client.subscribe(topics.BROKER_DROPPED, qos=0)

    def _send_canary(self, client: Any) -> None:
        number = next(self._numbers)
        now = self._clock()
        with self._lock:
            self.chain.sent(number, now)
        payload = orjson.dumps({"watch": self._run_id, "n": number, "sent_ms": now})
        client.publish(topics.CANARY, payload, qos=1)
        self._canaries.inc()

    def _on_message(self, _client: Any, _userdata: Any, msg: Any) -> None:
        """On paho's thread: an echo, or the broker's drop counter."""
        now = self._clock()
        if msg.topic == topics.CANARY_ECHO:
            with contextlib.suppress(ValueError, KeyError, TypeError):
                doc = orjson.loads(msg.payload)
                if doc["watch"] != self._run_id:
                    return  # another watch's canary
                with self._lock:
                    back = self.chain.echoed(int(doc["n"]), now)
                    rtt = self.chain.rtt_ms
                if rtt is not None:
                    self._rtt.observe(rtt / 1000)
                if back:
                    self._later("cleared", CHAIN_DEAD, "canaries answered again")
        elif msg.topic == topics.BROKER_DROPPED:
            with contextlib.suppress(ValueError):
                with self._lock:
                    started = self.drops.seen(int(msg.payload), now)
                if started:
                    self._later("raised", BROKER_DROPPING,
                                "the broker dropped messages for a client that could not "
                                "keep up ($SYS/broker/publish/messages/dropped rose)")

    def _later(self, event: str, key: str, note: str) -> None:
        loop = self._loop
        if loop is not None:
            with contextlib.suppress(RuntimeError):
                loop.call_soon_threadsafe(self._pending.append, (event, key, note))

    async def _judge(self, notifiers: Mapping[str, Notifier]) -> None:
        now = self._clock()
        with self._lock:
            dead = self.chain.check(now)
            silent_s = self.chain.silent_ms(now) / 1000
            quiet = self.drops.check(now)
        if dead:
            self._pending.append(("raised", CHAIN_DEAD,
                                  f"no echo of the alarm chain's canary for {silent_s:.0f} s"))
        if quiet:
            self._pending.append(("cleared", BROKER_DROPPING, "the broker dropped nothing "
                                  f"for {self.drops.quiet_ms / 1000:.0f} s"))
        while self._pending:
            event, key, note = self._pending.pop(0)
            await self._tell(notifiers, event, key, note, now)
        self._publish_status()

    def _publish_status(self) -> None:
        client = self._client
        if client is None:
            return
        with contextlib.suppress(Exception):
            doc = {**self.status(), "watch": self.name, "ts_ms": self._clock()}
            client.publish(topics.chain(self.name), orjson.dumps(doc), qos=1, retain=True)

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
        client = self._client
        if client is None:
            raise NotifyFailed("not connected")
        info = client.publish(topic, payload, qos=1)
        await asyncio.to_thread(info.wait_for_publish, NOTIFY_TIMEOUT_S)
