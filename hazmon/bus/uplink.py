"""A publisher's MQTT connection (hazmon.bus.mqtt, paho-mqtt 2), bridged to asyncio.

- The first connection is retried forever with jittered exponential backoff (a
  gateway starts, and buffers, even while the broker is down).
- Later losses are retried by paho's network thread; the delay of each attempt is
  set here from the same jittered backoff (paho's own has no jitter).
- `publish()` hands a message to paho and returns its message id; PUBACKs come back
  on the asyncio loop through `on_ack(mid)`. paho keeps unacknowledged QoS 1 messages
  and resends them after a reconnect.
- `kill()` drops the connection without DISCONNECT, as a power loss does, so the
  broker sends the will message.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import socket
import threading
from collections.abc import Callable
from concurrent.futures import Executor
from typing import Any

import paho.mqtt.client as paho

from hazmon.bus.backoff import Backoff
from hazmon.bus.mqtt import MqttError, MqttOptions, Will, connect

log = logging.getLogger(__name__)

ACK_FAILURE = 0x80  # MQTT 5 reason codes from 0x80 on mean the broker refused it


class Uplink:
    def __init__(
        self,
        *,
        opts: MqttOptions,
        will: Will | None,
        backoff: Backoff,
        on_ack: Callable[[int, bool], None] = lambda mid, ok: None,
        on_connected: Callable[[bool], None] = lambda up: None,
        connect_timeout_s: float = 5.0,
        executor: Executor | None = None,
    ) -> None:
        self.opts = opts
        self.will = will
        self._backoff = backoff
        self._on_ack = on_ack
        self._on_connected = on_connected
        self._timeout_s = connect_timeout_s
        self._executor = executor  # connecting blocks a thread (None: asyncio's default pool)
        self._client: paho.Client | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self.connected = False
        self.changed = asyncio.Event()  # set on every connect / disconnect

    @property
    def where(self) -> str:
        return f"{self.opts.host}:{self.opts.port}"

    async def connect(self, stop: asyncio.Event) -> bool:
        """Connect, retrying with jittered backoff until it works or `stop` is set."""
        self._loop = asyncio.get_running_loop()
        while not stop.is_set():
            attempt = functools.partial(
                connect, self.opts, will=self.will, timeout_s=self._timeout_s, attempts=1
            )
            try:
                client, _protocol = await self._loop.run_in_executor(self._executor, attempt)
            except MqttError as exc:
                delay_s = self._backoff.next_delay_s()
                log.warning("MQTT %s: %s; retrying in %.1f s", self.where, exc, delay_s)
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(delay_s):
                        await stop.wait()
                continue
            self._attach(client)
            return True
        return False

    def _attach(self, client: paho.Client) -> None:
        self._client = client
        client.on_connect = self._paho_connected
        client.on_disconnect = self._paho_disconnected
        client.on_connect_fail = self._paho_connect_failed
        client.on_publish = self._paho_published
        self._backoff.reset()
        self._set_connected(client.is_connected())

    def publish(self, topic: str, payload: bytes, *, retain: bool = False) -> int | None:
        """Hand a QoS 1 message to the client; its mid, or None when not connected."""
        client = self._client
        if client is None or not self.connected:
            return None
        info = client.publish(topic, payload, qos=1, retain=retain)
        if info.rc not in (paho.MQTT_ERR_SUCCESS, paho.MQTT_ERR_NO_CONN):
            log.error("MQTT %s: publish to %s failed (%s)", self.where, topic, info.rc)
            return None
        mid: int = info.mid
        return mid

    async def close(self) -> None:
        """Disconnect cleanly (no will message) and stop the network thread."""
        client, self._client = self._client, None
        if client is None:
            return
        client.on_disconnect = None
        client.on_connect_fail = None
        await asyncio.to_thread(_disconnect, client)
        self.connected = False

    def kill(self) -> None:
        """Drop the TCP connection without DISCONNECT (the broker sends the will)."""
        client, self._client = self._client, None
        if client is None:
            return
        for name in ("on_connect", "on_disconnect", "on_connect_fail", "on_publish"):
            setattr(client, name, None)
        sock = client.socket()
        if isinstance(sock, socket.socket):
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
        # paho's thread may sit in a reconnect wait for up to a second: don't block here
        threading.Thread(target=client.loop_stop, name="mqtt-kill", daemon=True).start()
        self.connected = False

    # -- paho callbacks (network thread) -> asyncio loop ------------------------------

    def _call(self, fn: Callable[..., None], *args: Any) -> None:
        loop = self._loop
        if loop is not None and not loop.is_closed():
            with contextlib.suppress(RuntimeError):
                loop.call_soon_threadsafe(fn, *args)

    def _paho_connected(
        self, client: paho.Client, _u: Any, _f: Any, rc: Any, _p: Any = None
    ) -> None:
        if not rc.is_failure:
            self._backoff.reset()
            _set_delay(client, self._backoff.min_s, self._backoff.max_s)
            self._call(self._set_connected, True)

    def _paho_disconnected(
        self, client: paho.Client, _u: Any, _f: Any, rc: Any, _p: Any = None
    ) -> None:
        self._next_attempt(client)
        log.warning("MQTT %s: connection lost (%s)", self.where, rc)
        self._call(self._set_connected, False)

    def _paho_connect_failed(self, client: paho.Client, _u: Any) -> None:
        self._next_attempt(client)

    def _next_attempt(self, client: paho.Client) -> None:
        delay_s = self._backoff.next_delay_s()
        _set_delay(client, delay_s, delay_s)

    def _paho_published(self, _c: paho.Client, _u: Any, mid: int, rc: Any, _p: Any = None) -> None:
        ok = getattr(rc, "value", 0) < ACK_FAILURE
        self._call(self._on_ack, mid, ok)

    def _set_connected(self, up: bool) -> None:
        if up == self.connected:
            return
        self.connected = up
        if up:
            log.info("MQTT %s: connected", self.where)
        self.changed.set()
        self._on_connected(up)


def _set_delay(client: paho.Client, min_s: float, max_s: float) -> None:
    """paho annotates whole seconds; it sleeps fractions just as well."""
    client.reconnect_delay_set(min_delay=min_s, max_delay=max_s)  # type: ignore[arg-type]


def _disconnect(client: paho.Client) -> None:
    client.disconnect()
    client.loop_stop()
