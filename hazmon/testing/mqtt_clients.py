"""The MQTT client of the tests and benchmarks: a paho client (MQTT 5 or 3.1.1) that keeps
the broker's answers (CONNACK, SUBACK and PUBACK reason codes) and every message it
receives, in order, with its arrival time.

    with subscriber(broker.port, f"hazmon/v1/{site}/#") as recorder:
        ...
        raised = recorder.wait_for(lambda m: m.topic.endswith("/alarms"))[0].doc
        await recorder.until(lambda m: m.doc["seq"] == 3)   # the same, in a coroutine

`received()` and `next_message()` read what arrived one message at a time (each once);
`snapshot()` and `wait_for()` look at everything received so far. With a
`session_expiry_s` the broker keeps the session (clean start off) and what is published
while the client is away; after a reconnect the client subscribes again to its topics.

Used against the session broker, a broker restarted under the client, and any Mosquitto
the tests start with a configuration of their own (deploy/mosquitto's template,
what `hazmon broker-config` writes: hazmon/testing/brokers.py).
"""

from __future__ import annotations

import asyncio
import ssl
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson
import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion, MQTTProtocolVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from paho.mqtt.reasoncodes import ReasonCode

WAIT_S = 5.0  # for an answer of the broker
QUIET_S = 0.5  # nothing more came for this long: nothing more is coming
ARRIVE_S = 10.0  # for a message that something else is to cause
NOT_AUTHORIZED = 0x87
FAILURE = 0x80  # MQTT 5 reason codes from 0x80 are failures (0x10: no subscribers, a success)


@dataclass(frozen=True, slots=True)
class Message:
    """A message as it arrived: topic, payload, retain flag, QoS, and when (monotonic s)."""

    topic: str
    payload: bytes
    retain: bool
    qos: int
    at_s: float

    @property
    def doc(self) -> Any:
        """The payload as JSON; None when it is empty (a retained message cleared)."""
        return orjson.loads(self.payload) if self.payload else None


Check = Callable[[Message], bool]


class Client:
    """A paho client that keeps the broker's answers and every message received."""

    def __init__(
        self,
        port: int,
        user: str | None = None,
        password: str | None = None,
        *,
        protocol: MQTTProtocolVersion = mqtt.MQTTv5,
        ca_file: Path | None = None,
        tls: bool = False,
        client_id: str = "",
        session_expiry_s: int = 0,
    ) -> None:
        if session_expiry_s and not client_id:  # the session is found again by its id
            client_id = f"test-{uuid.uuid4().hex[:8]}"
        v3_session = protocol != mqtt.MQTTv5 and session_expiry_s > 0
        self.mqtt = mqtt.Client(callback_api_version=CallbackAPIVersion.VERSION2,
                                client_id=client_id, protocol=protocol,
                                clean_session=False if v3_session else None)  # fmt: skip
        if user is not None:
            self.mqtt.username_pw_set(user, password)
        if tls or ca_file is not None:
            self.mqtt.tls_set(ca_certs=str(ca_file) if ca_file else None,
                              cert_reqs=ssl.CERT_REQUIRED)  # fmt: skip
        self.mqtt.reconnect_delay_set(min_delay=1, max_delay=1)
        self.port = port
        self.protocol = protocol
        self.session_expiry_s = session_expiry_s
        self.connacks: list[ReasonCode] = []
        self.disconnects = 0  # how often the connection closed (the broker's doing, or ours)
        self._answers = threading.Condition()  # CONNACK, SUBACK, PUBACK
        self._suback: dict[int, list[ReasonCode]] = {}
        self._puback: dict[int, ReasonCode] = {}
        self._topics: list[str] = []  # subscribed again after a reconnect
        self._arrived = threading.Condition()
        self._messages: list[Message] = []
        self._read = 0  # how many of them received() and next_message() handed out
        self.mqtt.on_connect = self._on_connect
        self.mqtt.on_disconnect = self._on_disconnect
        self.mqtt.on_subscribe = self._on_subscribe
        self.mqtt.on_publish = self._on_publish
        self.mqtt.on_message = self._on_message

    # --- paho's thread ------------------------------------------------------------------

    def _on_connect(self, _c: Any, _u: Any, _f: Any, reason: ReasonCode, _p: Any) -> None:
        with self._answers:
            again = bool(self.connacks)
            self.connacks.append(reason)
            self._answers.notify_all()
        if again and not reason.is_failure:
            for topic in self._topics:
                self.mqtt.subscribe(topic, qos=1)

    def _on_disconnect(self, *_args: Any) -> None:
        self.disconnects += 1

    def _on_subscribe(self, _c: Any, _u: Any, mid: int, reasons: list[ReasonCode],
                      _p: Any) -> None:  # fmt: skip
        with self._answers:
            self._suback[mid] = list(reasons)
            self._answers.notify_all()

    def _on_publish(self, _c: Any, _u: Any, mid: int, reason: ReasonCode, _p: Any) -> None:
        with self._answers:
            self._puback[mid] = reason
            self._answers.notify_all()

    def _on_message(self, _c: Any, _u: Any, msg: mqtt.MQTTMessage) -> None:
        at_s = time.monotonic()
        message = Message(msg.topic, bytes(msg.payload), bool(msg.retain), msg.qos, at_s)
        with self._arrived:
            self._messages.append(message)
            self._arrived.notify_all()

    # --- speaking to the broker ---------------------------------------------------------

    def connect(self) -> ReasonCode | None:
        """The CONNACK reason, or None when the connection closed before one came."""
        properties = None
        if self.protocol == mqtt.MQTTv5 and self.session_expiry_s:
            properties = Properties(PacketTypes.CONNECT)  # type: ignore[no-untyped-call]
            properties.SessionExpiryInterval = self.session_expiry_s
        if self.protocol == mqtt.MQTTv5:
            self.mqtt.connect("127.0.0.1", self.port, clean_start=not self.session_expiry_s,
                              properties=properties)  # fmt: skip
        else:
            self.mqtt.connect("127.0.0.1", self.port)
        self.mqtt.loop_start()
        with self._answers:
            if self._answers.wait_for(lambda: bool(self.connacks), WAIT_S):
                return self.connacks[0]
        return None

    def subscribe(self, topic: str) -> int:
        """The SUBACK reason code (QoS 1 granted: 1); subscribed again on a reconnect."""
        result, mid = self.mqtt.subscribe(topic, qos=1)
        assert result == mqtt.MQTT_ERR_SUCCESS and mid is not None, f"subscribe {topic}: {result}"
        with self._answers:
            assert self._answers.wait_for(lambda: mid in self._suback, WAIT_S), topic
            reason = int(self._suback.pop(mid)[0].value)
        if reason < FAILURE:
            self._topics.append(topic)
        return reason

    def publish(self, topic: str, payload: bytes = b"{}", *, retain: bool = False) -> int:
        """The PUBACK reason code (always 0 under MQTT 3.1.1, which cannot refuse)."""
        info = self.mqtt.publish(topic, payload, qos=1, retain=retain)
        with self._answers:
            assert self._answers.wait_for(lambda: info.mid in self._puback, WAIT_S), topic
            return int(self._puback.pop(info.mid).value)

    # --- what arrived -------------------------------------------------------------------

    def next_message(self, timeout_s: float = WAIT_S) -> Message | None:
        """The next message not handed out yet, or None when none came in `timeout_s`."""
        with self._arrived:
            if not self._arrived.wait_for(lambda: self._read < len(self._messages), timeout_s):
                return None
            self._read += 1
            return self._messages[self._read - 1]

    def received(self, quiet_s: float = QUIET_S) -> list[Message]:
        """Every message not handed out yet, until nothing more came for `quiet_s`."""
        found: list[Message] = []
        while (message := self.next_message(quiet_s)) is not None:
            found.append(message)
        return found

    def snapshot(self, leaf: str | None = None) -> list[Message]:
        """Everything received so far; with `leaf`, what came on topics ending `/leaf`."""
        with self._arrived:
            return [m for m in self._messages if leaf is None or m.topic.endswith("/" + leaf)]

    def wait_for(self, test: Check, *, timeout_s: float = ARRIVE_S,
                 count: int = 1) -> list[Message]:  # fmt: skip
        """Every message received that passes `test`, once there are `count` of them."""
        found: list[Message] = []
        seen = 0
        deadline = time.monotonic() + timeout_s
        with self._arrived:
            while True:
                found += [m for m in self._messages[seen:] if test(m)]
                seen = len(self._messages)
                left_s = deadline - time.monotonic()
                if len(found) >= count:
                    return found
                if left_s <= 0:
                    raise AssertionError(f"not {count} such messages in {timeout_s:g} s "
                                         f"({len(found)}); the last: {self._messages[-5:]}")
                self._arrived.wait(left_s)

    async def until(self, test: Check, *, timeout_s: float = ARRIVE_S,
                    count: int = 1) -> list[Message]:  # fmt: skip
        """`wait_for()` in a coroutine: the event loop runs on meanwhile."""
        return await asyncio.to_thread(self.wait_for, test, timeout_s=timeout_s, count=count)

    # --- the end --------------------------------------------------------------------------

    def close(self) -> None:
        self.mqtt.disconnect()
        self.mqtt.loop_stop()
        # paho has no close(): loop_start()'s wake-up socket pair is only closed in
        # __del__, which a reference cycle defers to the gc, and the gc may finalize the
        # sockets first: a ResourceWarning, an error under the tests (paho issue 627)
        self.mqtt._reset_sockets()

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


@contextmanager
def client(port: int, user: str | None = None, password: str | None = None,
           **options: Any) -> Iterator[Client]:  # fmt: skip
    """A client not connected yet, closed at the end of the block."""
    session = Client(port, user, password, **options)
    try:
        yield session
    finally:
        session.close()


def subscriber(port: int, *topics: str, user: str | None = None, password: str | None = None,
               **options: Any) -> Client:  # fmt: skip
    """A client connected and subscribed to `topics` (QoS 1), recording what arrives;
    close it (or use it in a `with` block)."""
    session = Client(port, user, password, **options)
    try:
        reason = session.connect()
        assert reason is not None and not reason.is_failure, f"connect: {reason}"
        for topic in topics:
            assert session.subscribe(topic) < FAILURE, f"subscribe {topic}"
    except BaseException:
        session.close()
        raise
    return session
