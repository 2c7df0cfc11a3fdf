"""Test MQTT clients that keep the broker's answers (CONNACK, SUBACK, PUBACK reason codes).

Used against any Mosquitto the tests start with a configuration of their own:
deploy/mosquitto's template (tests/dashboards) and what `hazmon broker-config` writes
(hazmon/testing/brokers.py).
"""

from __future__ import annotations

import queue
import ssl
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion, MQTTProtocolVersion
from paho.mqtt.reasoncodes import ReasonCode

WAIT_S = 5.0
QUIET_S = 0.5
NOT_AUTHORIZED = 0x87
FAILURE = 0x80  # MQTT 5 reason codes from 0x80 are failures (0x10: no subscribers, a success)


class Client:
    """A paho client (MQTT 5 or 3.1.1) that keeps the broker's answers."""

    def __init__(
        self,
        port: int,
        user: str | None = None,
        password: str | None = None,
        *,
        protocol: MQTTProtocolVersion = mqtt.MQTTv5,
        ca_file: Path | None = None,
        tls: bool = False,
    ) -> None:
        self.mqtt = mqtt.Client(callback_api_version=CallbackAPIVersion.VERSION2,
                                protocol=protocol)  # fmt: skip
        if user is not None:
            self.mqtt.username_pw_set(user, password)
        if tls or ca_file is not None:
            self.mqtt.tls_set(ca_certs=str(ca_file) if ca_file else None,
                              cert_reqs=ssl.CERT_REQUIRED)  # fmt: skip
        self.port = port
        self.connack: queue.Queue[ReasonCode] = queue.Queue()
        self.suback: queue.Queue[list[ReasonCode]] = queue.Queue()
        self.puback: dict[int, ReasonCode] = {}
        self.published = threading.Condition()
        self.inbox: queue.Queue[mqtt.MQTTMessage] = queue.Queue()
        self.mqtt.on_connect = lambda _c, _u, _f, reason, _p: self.connack.put(reason)
        self.mqtt.on_subscribe = lambda _c, _u, _m, reasons, _p: self.suback.put(list(reasons))
        self.mqtt.on_publish = self._on_publish
        self.mqtt.on_message = lambda _c, _u, message: self.inbox.put(message)

    def _on_publish(self, _c: Any, _u: Any, mid: int, reason: ReasonCode, _p: Any) -> None:
        with self.published:
            self.puback[mid] = reason
            self.published.notify_all()

    def connect(self) -> ReasonCode | None:
        """The CONNACK reason, or None when the connection closed before one came."""
        self.mqtt.connect("127.0.0.1", self.port)
        self.mqtt.loop_start()
        try:
            return self.connack.get(timeout=WAIT_S)
        except queue.Empty:
            return None

    def subscribe(self, topic: str) -> int:
        self.mqtt.subscribe(topic, qos=1)
        return int(self.suback.get(timeout=WAIT_S)[0].value)

    def publish(self, topic: str, payload: bytes = b"{}", *, retain: bool = False) -> int:
        """The PUBACK reason code (always 0 under MQTT 3.1.1, which cannot refuse)."""
        info = self.mqtt.publish(topic, payload, qos=1, retain=retain)
        with self.published:
            assert self.published.wait_for(lambda: info.mid in self.puback, WAIT_S), topic
            return int(self.puback[info.mid].value)

    def received(self, quiet_s: float = QUIET_S) -> list[mqtt.MQTTMessage]:
        """Everything received until nothing more came for `quiet_s`."""
        found: list[mqtt.MQTTMessage] = []
        while True:
            try:
                found.append(self.inbox.get(timeout=quiet_s))
            except queue.Empty:
                return found

    def close(self) -> None:
        self.mqtt.disconnect()
        self.mqtt.loop_stop()
        self.mqtt._reset_sockets()  # see tests/test_servers.py: paho issue 627


@contextmanager
def client(port: int, user: str | None = None, password: str | None = None,
           **options: Any) -> Iterator[Client]:  # fmt: skip
    session = Client(port, user, password, **options)
    try:
        yield session
    finally:
        session.close()
