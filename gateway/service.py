"""The edge gateway: poll field devices each period, publish, store and forward.

    poll ──> batch ──> disk (write-ahead) ──> MQTT (live, QoS 1) ──PUBACK──> deleted
                          │ broker unreachable: the batch waits on disk
                          └──> replay after reconnect: oldest first, `historical: true`,
                               rate-limited and windowed, so live data goes first

`boot` comes from the disk and is incremented at every start; `seq` counts the
messages of this boot (docs/contract.md §3). When the bounded buffer must evict batches that
were never delivered, the next message skips as many `seq` numbers: the platform
counts the gap as lost messages of this gateway, so the loss is visible there too,
besides this gateway's log and its counters.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass

import orjson

from hazmon.bus.backoff import Backoff
from hazmon.bus.mqtt import MqttOptions, Will
from hazmon.bus.uplink import Uplink
from hazmon.contract import topics
from hazmon.contract.gateway_config import GatewayConfig
from hazmon.contract.settings import Settings, parse_broker_url
from hazmon.gateway.buffer import Buffer, Eviction
from hazmon.gateway.fieldbus import DeviceLink

log = logging.getLogger(__name__)

STOP_DRAIN_S = 5.0
MAX_INFLIGHT = 1000  # unacknowledged batches; beyond it new ones wait on disk (bounded)
REPORT_EVERY_S = 60.0
FIRST_CONNECT_GRACE_S = 2.0


def wall_ms() -> int:
    return time.time_ns() // 1_000_000


@dataclass(slots=True)
class Stats:
    """What the gateway did; logged every minute, read by tests."""

    polls: int = 0
    overruns: int = 0
    live_sent: int = 0
    replayed: int = 0
    acked: int = 0
    rejected: int = 0
    buffered: int = 0


def compose(body: bytes, *, boot: int, seq: int, sent_ms: int, historical: bool) -> bytes:
    """A telemetry batch (docs/contract.md §3) around a stored JSON array of readings."""
    flag = b"true" if historical else b"false"
    head = b'{"boot":%d,"seq":%d,"sent_ms":%d,"historical":%s,"readings":' % (
        boot,
        seq,
        sent_ms,
        flag,
    )
    return head + body + b"}"


class Gateway:
    def __init__(
        self,
        config: GatewayConfig,
        *,
        settings: Settings | None = None,
        clock: Callable[[], int] = wall_ms,
    ) -> None:
        self.config = config
        self.clock = clock
        self.stats = Stats()
        self.buffer = Buffer(
            config.data_dir / "gateway.sqlite3", max_messages=config.buffer.max_messages
        )
        self.boot = self.buffer.next_boot()
        self.seq = 0
        self.links = [
            DeviceLink(
                d, [p for p in config.points if p.device == d.id], reconnect=config.reconnect
            )
            for d in config.devices
        ]
        self._telemetry_topic = topics.telemetry(config.site, config.gateway)
        self._state_topic = topics.state(config.site, config.gateway)
        self._inflight: dict[int, int] = {}  # mid -> batch id
        self._replaying: set[int] = set()  # mids of replayed batches not yet acked
        self._wake = asyncio.Event()
        self.uplink = Uplink(
            opts=_mqtt_options(config, settings),
            will=Will(self._state_topic, orjson.dumps({"online": False, "boot": self.boot})),
            backoff=Backoff(min_s=config.reconnect.min_s, max_s=config.reconnect.max_s),
            on_ack=self._acked,
            on_connected=self._connection_changed,
        )

    # -- lifecycle ----------------------------------------------------------------------

    async def run(self, stop: asyncio.Event) -> None:
        """Run until `stop` is set, then publish offline, drain and disconnect."""
        c = self.config
        log.info(
            "gateway %s/%s boot %d: %d devices, %d points, every %g s, %d batches on disk",
            c.site,
            c.gateway,
            self.boot,
            len(c.devices),
            len(c.points),
            c.period_s,
            len(self.buffer),
        )
        try:
            async with asyncio.TaskGroup() as tg:
                tg.create_task(self.uplink.connect(stop), name="mqtt-connect")
                tg.create_task(self._poll_loop(stop), name="poll")
                tg.create_task(self._replay_loop(stop), name="replay")
                tg.create_task(self._report_loop(stop), name="report")
        finally:
            await self._shutdown()

    async def _shutdown(self) -> None:
        if self.uplink.connected:
            self._publish_state(online=False)
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(STOP_DRAIN_S):
                    while self._inflight and self.uplink.connected:
                        self._wake.clear()
                        await self._wake.wait()
        await self.uplink.close()
        for link in self.links:
            await link.close()
        self._report()
        self.buffer.close()

    def _connection_changed(self, up: bool) -> None:
        if up:
            self._publish_state(online=True)
        self._wake.set()

    def _publish_state(self, *, online: bool) -> None:
        state = {"online": online, "boot": self.boot, "ts_ms": self.clock()}
        self.uplink.publish(self._state_topic, orjson.dumps(state), retain=True)

    # -- live ---------------------------------------------------------------------------

    async def _poll_loop(self, stop: asyncio.Event) -> None:
        period_s = self.config.period_s
        with contextlib.suppress(TimeoutError):  # a moment for the broker before the first poll
            async with asyncio.timeout(min(period_s, FIRST_CONNECT_GRACE_S)):
                await self.uplink.changed.wait()
        due = time.monotonic()
        while not stop.is_set():
            ts_ms = self.clock()
            polls = await asyncio.gather(*(link.poll() for link in self.links))
            readings = [s.as_wire(ts_ms) for samples in polls for s in samples]
            self.stats.polls += 1
            self.emit(orjson.dumps(readings), first_ts_ms=ts_ms, count=len(readings))
            due += period_s
            now = time.monotonic()
            if due < now:  # a slow device made us miss ticks: skip them, keep the grid
                missed = int((now - due) // period_s) + 1
                self.stats.overruns += missed
                due += missed * period_s
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(due - now):
                    await stop.wait()

    def emit(self, body: bytes, *, first_ts_ms: int, count: int) -> None:
        """Store a batch and, when the broker is there, publish it live."""
        live = self.uplink.connected and len(self._inflight) < MAX_INFLIGHT
        batch_id, eviction = self.buffer.add(
            body, first_ts_ms=first_ts_ms, readings=count, handed=live
        )
        if eviction is not None:
            self._evicted(eviction)
        if not live:
            self.stats.buffered += 1
            return
        mid = self._send(body, historical=False)
        if mid is None:
            self.buffer.mark_waiting(batch_id)
            self.stats.buffered += 1
        else:
            self._inflight[mid] = batch_id
            self.stats.live_sent += 1

    def _send(self, body: bytes, *, historical: bool) -> int | None:
        skipped = self.buffer.take_unreported_evictions()
        seq = self.seq + skipped
        payload = compose(
            body, boot=self.boot, seq=seq, sent_ms=self.clock(), historical=historical
        )
        mid = self.uplink.publish(self._telemetry_topic, payload)
        if mid is not None:
            self.seq = seq + 1
        elif skipped:
            self.seq = seq  # the gap stays, in front of the next message
        return mid

    def _evicted(self, eviction: Eviction) -> None:
        log.warning(
            "buffer full (%d messages): evicted the oldest %d undelivered messages "
            "(%d readings); %d messages evicted in total",
            self.buffer.max_messages,
            eviction.messages,
            eviction.readings,
            self.buffer.evicted_messages,
        )

    def _acked(self, mid: int, ok: bool) -> None:
        batch_id = self._inflight.pop(mid, None)
        self._replaying.discard(mid)
        if batch_id is None:
            return  # a state message
        if ok:
            self.stats.acked += 1
        else:
            self.stats.rejected += 1
            log.error("broker refused telemetry batch %d (not authorized?); dropped", batch_id)
        self.buffer.acknowledged(batch_id)
        self._wake.set()

    def backlog(self) -> int:
        """Batches not yet acknowledged by the broker (waiting on disk or in flight)."""
        return self.buffer.waiting() + len(self._inflight)

    # -- store and forward ----------------------------------------------------------------

    async def _replay_loop(self, stop: asyncio.Event) -> None:
        interval_s = 1.0 / self.config.buffer.replay_rate_msgs_s
        window = self.config.buffer.replay_window
        while not stop.is_set():
            stored = self.buffer.next_waiting() if self.uplink.connected else None
            if stored is None or len(self._replaying) >= window:
                self._wake.clear()
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(1.0):
                        await self._wake.wait()
                continue
            mid = self._send(stored.body, historical=True)
            if mid is not None:
                self.buffer.mark_handed(stored.id)
                self._inflight[mid] = stored.id
                self._replaying.add(mid)
                self.stats.replayed += 1
            await asyncio.sleep(interval_s)

    async def _report_loop(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(REPORT_EVERY_S):
                    await stop.wait()
            if not stop.is_set():  # the last report is made at shutdown
                self._report()

    def _report(self) -> None:
        s = self.stats
        failures = {link.device.id: link.failures for link in self.links if link.failures}
        log.info(
            "gateway %s: seq %d, %d live, %d replayed, %d acked; %d on disk (%d waiting); "
            "evicted %d messages / %d readings; %d overruns; device failures %s",
            self.config.gateway,
            self.seq,
            s.live_sent,
            s.replayed,
            s.acked,
            len(self.buffer),
            self.buffer.waiting(),
            self.buffer.evicted_messages,
            self.buffer.evicted_readings,
            s.overruns,
            failures or "none",
        )


def _mqtt_options(config: GatewayConfig, settings: Settings | None) -> MqttOptions:
    client_id = config.client_id or f"hazmon-gw-{config.site}-{config.gateway}"
    return MqttOptions.build(parse_broker_url(config.broker), settings, client_id=client_id)
