"""The consuming services' MQTT link (hazmon.bus.seam.Link on paho-mqtt 2): ingest's and
the alarm service's persistent session, with manual acknowledgements.

    link = MqttLink(opts, topics=[...], consumer=take, publishing=True)   # take(list[Inbound])
    await link.connect(); await link.subscribed()
    ...
    link.ack(items)   # after what they caused is durable, from any thread
    link.close()

- Callbacks are in place before CONNECT, so the messages a persistent session holds
  (delivered right after CONNACK) are not lost; every (re)connect subscribes again
  (QoS 1). A refused subscription makes `subscribed()` raise MqttError.
- paho reads the socket in chunks and QoS 0/1 PUBLISH packets are parsed without
  MQTT 5 properties (hazmon.bus.paho_patches); paho's own `on_message` stays as the
  fall-back for anything else (QoS 2, a packet that does not parse). Either way a
  message joins those of the socket read in progress.
- After each read of the socket (`loop_read`: one chunk of up to 256 KiB, and the
  whole packets in it), paho's network thread calls `consumer(items)` with that
  read's messages, in the order they came. There is no queue and no hop to another
  thread in between, and the consumer never has more than one read's messages in
  hand. Staying on paho's thread is a measured choice: handing each read to the event
  loop and a worker thread cost the alarm service 71 % of a core at 10,000 messages/s
  against 49-55 % here (docs/benchmarks.md), and ingest decodes there as well.
- Gathering (`gather_s`, 0 by default): after a read that brought fewer than
  GATHER_BELOW messages, paho's thread waits `gather_s` before the next, so that
  one read (one consumer call: one decode loop, one commit) takes what came
  meanwhile instead of one message each. At 10,000 messages/s of one reading each,
  a wakeup, a select and a consumer call per message were most of both services'
  CPU (docs/benchmarks.md). It adds at most `gather_s` to a message's way, never
  under load (reads are then full), and delays acknowledgements as much.
- Backpressure comes by itself: while the consumer runs, paho's thread does not read
  the socket, so TCP's window fills and the broker keeps the rest (queued for the
  session, up to its `max_queued_messages`). It also writes nothing in that time
  (acknowledgements, PINGREQ), so one call must stay well under the keep-alive.
- Acknowledgements (`ack`, from any thread): the PUBACKs of a batch go out as one
  write. A QoS 1 message's token is its packet id with the connection (`generation`)
  that delivered it, `generation << 16 | mid` (`mid_of`, `generation_of`); an ack for
  a message of an earlier connection is never sent (its packet id means nothing on
  the new one; the broker sends the message again), nor one while disconnected. A
  QoS 0 message has no token. A consumer call that raises is logged; its messages
  are not acknowledged, so the broker sends them again on the next connection.
- `close()`: no consumer call starts after it; the call in progress, if any, finishes
  first (its acks are written before DISCONNECT), then paho's thread stops. So
  `close()` takes at most one consumer call (one socket read's messages) plus the
  DISCONNECT. Messages read but not yet given to the consumer are not acknowledged:
  the broker keeps them for the next session. Whoever calls `close()` must not hold
  anything the consumer waits for.
- With `publishing`, what the service publishes (alarm events, grades, anchors, MQTT
  notifications) goes out on a second connection (client id `<id>-out`, nothing
  subscribed). On the receiving one the broker keeps up to 65,535 messages in flight
  (our Receive Maximum, so that a backlog is held within the broker's per-client
  limit), and it writes the PUBACK of anything we publish behind them: in a burst the
  alarm service's events waited for their PUBACKs behind a whole in-flight window of
  telemetry, paho's own window of 1,000 unacknowledged publishes filled, and events
  went out in lumps of 1,000 for about 100 s.
- MQTT 5 (session expiry, Receive Maximum 65535) with a fall back to 3.1.1.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import Sequence
from dataclasses import replace
from typing import Any

import paho.mqtt.client as paho
from paho.mqtt.enums import MQTTErrorCode

from hazmon.bus.mqtt import (
    MQTT_V5,
    MqttError,
    MqttOptions,
    close_client,
    connect,
    new_client,
    retry_connect,
    send_connect,
)
from hazmon.bus.paho_patches import ack_many, buffer_reads, lean_publish
from hazmon.bus.seam import Consumer, Inbound

log = logging.getLogger(__name__)

_MID_BITS = 16
GATHER_BELOW = 32  # a read of fewer messages than this is followed by `gather_s`
_MID_MASK = (1 << _MID_BITS) - 1


def mid_of(token: object) -> int:
    """The packet id of an MQTT link's token (0 for none)."""
    return token & _MID_MASK if isinstance(token, int) else 0


def generation_of(token: object) -> int:
    """The connection (1, 2, ...) that delivered the message of an MQTT link's token."""
    return token >> _MID_BITS if isinstance(token, int) else 0


class MqttLink:
    def __init__(
        self,
        opts: MqttOptions,
        *,
        topics: Sequence[str],
        consumer: Consumer,
        publishing: bool = False,
        gather_s: float = 0.0,
    ) -> None:
        self.opts = opts
        self.gather_s = gather_s
        self.topics = list(topics)
        self.protocol: int = MQTT_V5
        self.publishing = publishing
        self._consumer = consumer
        self._loop: asyncio.AbstractEventLoop | None = None  # the one that awaits SUBACK
        self._subscribed = asyncio.Event()
        self._refused: str | None = None
        self._generation = 0
        self._connected = False
        self._ack_lock = threading.Lock()  # generation changes vs. acks queued
        # held by paho's thread while the consumer runs; `close()` waits for it
        self._consuming = threading.RLock()
        self._closing = False
        self._client: paho.Client | None = None
        self._out: paho.Client | None = None  # publishing only (see the module docstring)
        self._pending: list[Inbound] = []  # paho's thread only: this read's messages

    @property
    def connected(self) -> bool:
        return self._connected

    @property
    def generation(self) -> int:
        """The connection in use: 1 for the first, one more for every reconnection."""
        return self._generation

    # -- connecting ------------------------------------------------------------------

    async def connect(self, *, attempts: int = 5, timeout_s: float = 10.0) -> None:
        self._loop = asyncio.get_running_loop()
        await asyncio.to_thread(self._connect_blocking, attempts, timeout_s)

    def _connect_blocking(self, attempts: int, timeout_s: float) -> None:
        if self.publishing:
            self._out, _ = connect(self._out_opts(), attempts=attempts, timeout_s=timeout_s)
        self.protocol = retry_connect(
            self.opts, lambda protocol: self._try(protocol, timeout_s), attempts=attempts
        )

    def _out_opts(self) -> MqttOptions:
        """The publishing connection's: its own client id (and session)."""
        client_id = f"{self.opts.client_id}-out" if self.opts.client_id else ""
        return replace(self.opts, client_id=client_id)

    def _try(self, protocol: int, timeout_s: float) -> str:
        client = new_client(self.opts, protocol=protocol, manual_ack=True)
        first = threading.Event()
        outcome: dict[str, Any] = {}

        def on_connect(c: paho.Client, _u: Any, _f: Any, rc: Any, _p: Any = None) -> None:
            if not first.is_set():
                outcome["reason"] = "ok" if not rc.is_failure else str(rc)
                first.set()
            if not rc.is_failure:
                self._connected_now(c)

        def on_disconnect(_c: paho.Client, _u: Any, _f: Any, rc: Any, _p: Any = None) -> None:
            with self._ack_lock:
                was_connected, self._connected = self._connected, False
            if not first.is_set():
                outcome["reason"] = f"closed before CONNACK ({rc})"
                first.set()
            elif was_connected and not self._closing:
                log.warning("MQTT connection lost (%s); paho reconnects", rc)

        self._install_reads(client)
        client.on_connect = on_connect
        client.on_disconnect = on_disconnect
        client.on_subscribe = self._on_subscribe
        unreachable = send_connect(client, self.opts, protocol)
        if unreachable is not None:
            return unreachable
        client.loop_start()
        if not first.wait(timeout_s):
            outcome["reason"] = "no CONNACK in time"
        if outcome.get("reason") == "ok":
            self._client = client
            return "ok"
        close_client(client)
        return str(outcome.get("reason", "refused"))

    def _install_reads(self, client: paho.Client) -> None:
        """Chunked reads, lean PUBLISH parsing (paho's own as the fall-back), and one
        consumer call per socket read."""
        buffer_reads(client)
        lean_publish(client, self._deliver, retained=self._deliver_retained)
        client.on_message = self._on_message
        read = client.loop_read

        def loop_read(max_packets: int = 1) -> MQTTErrorCode:
            count = 0
            try:
                return read(max_packets)
            finally:
                count = len(self._pending)
                if count:
                    self._consume()
                if 0 < count < GATHER_BELOW and self.gather_s > 0 and not self._closing:
                    time.sleep(self.gather_s)  # the next read takes what came meanwhile

        client.loop_read = loop_read  # type: ignore[method-assign]

    def _connected_now(self, client: paho.Client) -> None:
        with self._ack_lock:
            self._generation += 1
            self._connected = True
        client.subscribe([(topic, 1) for topic in self.topics])
        log.info("MQTT %s:%d connected (connection %d)", self.opts.host, self.opts.port,
                 self._generation)

    def _on_subscribe(
        self, _c: paho.Client, _u: Any, _mid: int, codes: list[Any], _p: Any = None
    ) -> None:
        failed = [str(c) for c in codes if getattr(c, "is_failure", False)]
        if failed:
            self._refused = f"subscription refused: {', '.join(failed)}"
            log.error("%s (topics %s)", self._refused, self.topics)
        self._call(self._subscribed.set)

    async def subscribed(self) -> None:
        """Returns once the broker acknowledged the subscriptions (SUBACK); MqttError
        if it refused one."""
        await self._subscribed.wait()
        if self._refused is not None:
            raise MqttError(self._refused)

    # -- receiving: paho's thread ----------------------------------------------------------

    def _call(self, fn: Any, *args: Any) -> bool:
        loop = self._loop
        if loop is None:
            return False
        try:
            loop.call_soon_threadsafe(fn, *args)
        except RuntimeError:  # the loop is closed: we are shutting down
            return False
        return True

    def _deliver(self, topic: str, payload: bytes, mid: int, qos: int) -> None:
        token = self._generation << _MID_BITS | mid if qos == 1 else None
        self._pending.append(Inbound(topic, payload, token))

    def _deliver_retained(self, topic: str, payload: bytes, mid: int, qos: int) -> None:
        token = self._generation << _MID_BITS | mid if qos == 1 else None
        self._pending.append(Inbound(topic, payload, token, True))

    def _on_message(self, _c: paho.Client, _u: Any, msg: paho.MQTTMessage) -> None:
        """What paho decoded itself (what `lean_publish` passed on)."""
        try:
            topic = msg.topic
        except UnicodeDecodeError:
            topic = repr(bytes(msg._topic))
        deliver = self._deliver_retained if msg.retain else self._deliver
        deliver(topic, bytes(msg.payload), msg.mid, msg.qos)

    def _consume(self) -> None:
        """Give this read's messages to the consumer, unless closing (then they are not
        acknowledged, and the broker keeps them)."""
        items, self._pending = self._pending, []
        with self._consuming:
            if self._closing:
                return
            try:
                self._consumer(items)
            except Exception:  # not acknowledged: the broker sends them again
                log.exception("could not process %d messages", len(items))

    # -- acknowledging ---------------------------------------------------------------------

    def ack(self, items: Sequence[Inbound]) -> None:
        client = self._client
        if client is None:
            return
        with self._ack_lock:
            if not self._connected:
                return
            current = self._generation
            # only this connection's: a packet id of an earlier one means nothing here
            ack_many(client, [t & _MID_MASK for t in (i.token for i in items)
                              if isinstance(t, int) and t >> _MID_BITS == current])

    # -- sending ------------------------------------------------------------------------

    def publish(self, topic: str, payload: bytes, *, retain: bool = False) -> None:
        """Publish QoS 1 on the publishing connection, without waiting (paho sends it
        again after a reconnect)."""
        self._publish(topic, payload, retain)

    def _publish(self, topic: str, payload: bytes, retain: bool) -> paho.MQTTMessageInfo:
        if self._out is None:
            raise MqttError("not connected" if self.publishing else "this link does not publish")
        return self._out.publish(topic, payload, qos=1, retain=retain)

    async def publish_confirmed(
        self, topic: str, payload: bytes, *, retain: bool = False, timeout_s: float = 10.0
    ) -> None:
        """Publish QoS 1 and wait for the broker's PUBACK."""
        info = self._publish(topic, payload, retain)
        await asyncio.to_thread(_wait_published, info, timeout_s)

    def close(self) -> None:
        """Stop: after the consumer call in progress, if any (see the module docstring)."""
        self._closing = True
        with self._consuming:  # no consumer call runs past this point
            client, self._client = self._client, None
        if client is not None:
            close_client(client)
        with self._ack_lock:
            self._connected = False
        out, self._out = self._out, None
        if out is not None:
            close_client(out)


def _wait_published(info: paho.MQTTMessageInfo, timeout_s: float) -> None:
    try:
        info.wait_for_publish(timeout_s)
    except (ValueError, RuntimeError) as exc:
        raise MqttError(f"not published: {exc}") from exc
    if not info.is_published():
        raise MqttError(f"no PUBACK within {timeout_s:g} s")

