"""Ingest's MQTT connection: paho-mqtt 2 with manual acknowledgements.

Built from the foundation's parts (hazmon.bus.mqtt: `new_client`, `connect_properties`,
MQTT 5 with Receive Maximum 65535 and session expiry, else 3.1.1 with a persistent
session), with one difference from `hazmon.bus.mqtt.connect`: the message callback is
set *before* connecting, because a resumed session starts delivering right after
CONNACK, and a message delivered with no callback would be neither stored nor
acknowledged.

Every (re)connection is a new `generation`; packet ids are acknowledged only on the
connection that delivered them. Subscriptions are (re)made on every connection.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Sequence
from typing import Any

import paho.mqtt.client as paho
from paho.mqtt.subscribeoptions import SubscribeOptions

from hazmon.bus.mqtt import MQTT_V5, MqttOptions, new_client, retry_connect, send_connect
from hazmon.bus.paho_patches import Deliver, ack_many, buffer_reads, lean_publish

log = logging.getLogger(__name__)


class Link:
    def __init__(
        self,
        opts: MqttOptions,
        *,
        topics: Sequence[str],
        on_message: Deliver,
        on_generation: Callable[[int], None],
        on_retained: Deliver | None = None,
    ) -> None:
        self.opts = opts
        self.topics = list(topics)
        self.generation = 0
        self.protocol: int | None = None
        self.subscribed = threading.Event()
        self.subscribe_error: str | None = None
        self.connected = False
        self.stopping = False
        self._on_message = on_message
        self._on_retained = on_retained or on_message
        self._on_generation = on_generation
        self._client: paho.Client | None = None
        self._connack = threading.Event()
        self._connack_reason = ""
        self._sub_mid: int | None = None
        self._ack_lock = threading.Lock()

    # -- connecting ---------------------------------------------------------------------------

    def start(self, *, attempts: int = 5, timeout_s: float = 10.0) -> None:
        """Connect (MQTT 5, else 3.1.1), retrying with jittered backoff; the loop runs after."""
        retry_connect(self.opts, lambda protocol: self._try(protocol, timeout_s), attempts=attempts)

    def _try(self, protocol: int, timeout_s: float) -> str:
        client = new_client(self.opts, protocol=protocol, manual_ack=True)
        buffer_reads(client)
        lean_publish(client, self._on_message, retained=self._on_retained)
        client.on_connect = self._connected
        client.on_disconnect = self._disconnected
        client.on_message = self._message
        client.on_subscribe = self._suback
        self._client, self.protocol = client, protocol
        self._connack.clear()
        unreachable = send_connect(client, self.opts, protocol, clean_start=False)
        if unreachable is not None:
            return unreachable
        client.loop_start()
        if self._connack.wait(timeout_s) and self.connected:
            return "ok"
        reason = self._connack_reason or "no CONNACK in time"
        client.disconnect()
        client.loop_stop()
        return reason

    # -- paho callbacks (network thread) --------------------------------------------------

    def _connected(self, client: paho.Client, _u: Any, _f: Any, rc: Any, _p: Any = None) -> None:
        self._connack_reason = str(rc)
        if rc.is_failure:
            self._connack.set()
            return
        with self._ack_lock:
            self.generation += 1
            self._on_generation(self.generation)
            self.connected = True
        if self.protocol == MQTT_V5:
            subs: list[tuple[str, Any]] = [(t, SubscribeOptions(qos=1)) for t in self.topics]
        else:
            subs = [(t, 1) for t in self.topics]
        _rc, self._sub_mid = client.subscribe(subs)
        log.info("connected to %s:%d (%d)", self.opts.host, self.opts.port, self.generation)
        self._connack.set()

    def _disconnected(self, _c: paho.Client, _u: Any, _f: Any, rc: Any, _p: Any = None) -> None:
        if self.connected and not self.stopping:
            log.warning("disconnected from the broker (%s); paho reconnects", rc)
        self.connected = False
        if not self._connack.is_set():
            self._connack_reason = f"closed before CONNACK ({rc})"
            self._connack.set()

    def _suback(self, _c: paho.Client, _u: Any, mid: int, codes: Any, _p: Any = None) -> None:
        if mid != self._sub_mid:
            return
        failed = [str(code) for code in codes if code.is_failure]
        if failed:
            self.subscribe_error = f"subscription refused: {', '.join(failed)}"
            log.error("%s (topics %s)", self.subscribe_error, self.topics)
        self.subscribed.set()

    def _message(self, _c: paho.Client, _u: Any, msg: paho.MQTTMessage) -> None:
        """What paho decoded itself (when lean_publish passed it on)."""
        try:
            topic = msg.topic
        except UnicodeDecodeError:
            topic = repr(bytes(msg._topic))
        deliver = self._on_retained if msg.retain else self._on_message
        deliver(topic, bytes(msg.payload), msg.mid, msg.qos)

    # -- acknowledging and stopping --------------------------------------------------------

    def ack(self, generation: int, mids: Sequence[int]) -> bool:
        """Acknowledge packet ids delivered on connection `generation` (if it is current)."""
        client = self._client
        with self._ack_lock:
            if client is None or generation != self.generation or not self.connected:
                return False
            ack_many(client, mids)
        return True

    def stop(self) -> None:
        """Disconnect after the queued acknowledgements are sent; stop the network thread."""
        client = self._client
        if client is None:
            return
        self.stopping = True
        client.disconnect()
        client.loop_stop()
        self.connected = False
