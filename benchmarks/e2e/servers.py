"""The benchmark's Mosquitto, and what it says about itself.

`BenchBroker` is the test suite's Mosquitto (hazmon/testing/servers.py: `max_queued_messages
100000`, persistence, anonymous on a free loopback port) with `sys_interval 1`, so that
its `$SYS` figures are fresh every second. `BrokerWatch` follows two of them:
`publish/messages/dropped` (messages Mosquitto dropped because a client's queue was
full) and `store/messages/count` (messages it holds, queued or retained).
"""

from __future__ import annotations

import threading
import uuid
from typing import Any

from hazmon.testing.servers import Mosquitto

DROPPED = "$SYS/broker/publish/messages/dropped"
STORED = "$SYS/broker/store/messages/count"
RETAINED = "$SYS/broker/retained messages/count"


class BenchBroker(Mosquitto):
    """`queued`: the per-client queue, when not the test suite's 100,000 (Mosquitto takes
    the last value of an option)."""

    def __init__(self, *, queued: int | None = None) -> None:
        super().__init__()
        self.queued = queued

    def _write_config(self) -> list[str]:
        argv = super()._write_config()
        with open(self.dir / "mosquitto.conf", "a") as conf:
            conf.write("sys_interval 1\n")
            if self.queued is not None:
                conf.write(f"max_queued_messages {self.queued}\n")
        return argv


class BrokerWatch:
    def __init__(self, host: str, port: int) -> None:
        import paho.mqtt.client as paho
        from paho.mqtt.enums import CallbackAPIVersion

        self.values: dict[str, int] = {}
        self._lock = threading.Lock()
        self._client = paho.Client(
            CallbackAPIVersion.VERSION2,
            client_id=f"bench-sys-{uuid.uuid4().hex[:8]}",
            protocol=paho.MQTTv311,
        )
        self._client.on_connect = self._on_connect
        self._client.on_message = self._on_message
        self._client.connect(host, port)
        self._client.loop_start()

    def _on_connect(self, client: Any, *_args: Any) -> None:
        for topic in (DROPPED, STORED, RETAINED):
            client.subscribe(topic, qos=0)

    def _on_message(self, _c: Any, _u: Any, message: Any) -> None:
        try:
            value = int(float(message.payload))
        except ValueError:
            return
        with self._lock:
            self.values[message.topic] = value

    @property
    def dropped(self) -> int:
        with self._lock:
            return self.values.get(DROPPED, 0)

    @property
    def queued(self) -> int:
        """Messages held that are not retained: roughly the subscribers' backlog."""
        with self._lock:
            return max(0, self.values.get(STORED, 0) - self.values.get(RETAINED, 0))

    def close(self) -> None:
        self._client.disconnect()
        self._client.loop_stop()
