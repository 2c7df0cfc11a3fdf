"""A minimal MQTT 3.1.1 QoS 1 publisher on a plain socket, for the load generator.

paho-mqtt costs about 100 µs of CPU per message, so 10,000 messages/s would take a
whole core of this 2-core machine away from the systems under test. Publishing is the
only thing the load needs, so this client encodes PUBLISH packets itself (a few µs
each), writes them with one `sendall`, and counts PUBACKs in a reader thread. It does
what a gateway does on the wire: CONNECT (clean session), PUBLISH QoS 1 with packet ids
1..65535 in turn, PINGREQ when idle; it never has more than `max_inflight` messages
unacknowledged, so a packet id is never reused while in flight (Mosquitto acknowledges
in order).
"""

from __future__ import annotations

import socket
import struct
import threading
import time

CONNECT_TIMEOUT_S = 10.0
KEEPALIVE_S = 60


class MqttWireError(RuntimeError):
    """The broker refused the connection or closed it."""


def _remaining_length(n: int) -> bytes:
    out = bytearray()
    while True:
        byte = n % 128
        n //= 128
        if n:
            byte |= 0x80
        out.append(byte)
        if not n:
            return bytes(out)


def _utf8(text: str) -> bytes:
    raw = text.encode()
    return struct.pack("!H", len(raw)) + raw


def connect_packet(client_id: str, *, keepalive_s: int = KEEPALIVE_S) -> bytes:
    # protocol name, level 4 (3.1.1), flags: clean session
    variable = _utf8("MQTT") + bytes([4, 0x02]) + struct.pack("!H", keepalive_s)
    body = variable + _utf8(client_id)
    return b"\x10" + _remaining_length(len(body)) + body


def publish_packet(topic: bytes, packet_id: int, payload: bytes) -> bytes:
    """PUBLISH, QoS 1, no retain, no dup. `topic` is already length-prefixed."""
    body_len = len(topic) + 2 + len(payload)
    return b"\x32" + _remaining_length(body_len) + topic + struct.pack("!H", packet_id) + payload


def topic_field(topic: str) -> bytes:
    return _utf8(topic)


class RawPublisher:
    def __init__(self, host: str, port: int, client_id: str, *, max_inflight: int = 1000) -> None:
        self.max_inflight = max_inflight
        self.sent = 0
        self.acked = 0
        self.closed_reason: str | None = None
        self._next_id = 1
        self._last_send_s = time.monotonic()
        self._sock = socket.create_connection((host, port), timeout=CONNECT_TIMEOUT_S)
        self._sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self._sock.sendall(connect_packet(client_id))
        connack = self._recv_exact(4)
        if connack[0] != 0x20 or connack[3] != 0:
            raise MqttWireError(f"CONNACK refused: {connack.hex()}")
        self._sock.settimeout(None)
        self._reader = threading.Thread(target=self._read, name="mqtt-reader", daemon=True)
        self._reader.start()

    def _recv_exact(self, n: int) -> bytes:
        data = b""
        while len(data) < n:
            chunk = self._sock.recv(n - len(data))
            if not chunk:
                raise MqttWireError("connection closed by the broker")
            data += chunk
        return data

    def _read(self) -> None:
        buf = b""
        try:
            while True:
                chunk = self._sock.recv(65536)
                if not chunk:
                    self.closed_reason = "connection closed by the broker"
                    return
                buf += chunk
                pos = 0
                acked = 0
                while len(buf) - pos >= 2:
                    kind = buf[pos]
                    # PUBACK and PINGRESP have a one-byte remaining length
                    length = buf[pos + 1]
                    if len(buf) - pos < 2 + length:
                        break
                    if kind == 0x40:
                        acked += 1
                    pos += 2 + length
                buf = buf[pos:]
                self.acked += acked
        except OSError as exc:
            if self.closed_reason is None:
                self.closed_reason = f"socket error: {exc}"

    @property
    def outstanding(self) -> int:
        return self.sent - self.acked

    def can_send(self) -> bool:
        return self.sent - self.acked < self.max_inflight

    def publish(self, topic: bytes, payload: bytes) -> None:
        """Send one QoS 1 message now (the caller checks `can_send()` first)."""
        if self.closed_reason is not None:
            raise MqttWireError(self.closed_reason)
        packet_id = self._next_id
        self._next_id = packet_id + 1 if packet_id < 65535 else 1
        self._sock.sendall(publish_packet(topic, packet_id, payload))
        self.sent += 1
        self._last_send_s = time.monotonic()

    def ping_if_idle(self) -> None:
        if time.monotonic() - self._last_send_s > KEEPALIVE_S / 3:
            self._sock.sendall(b"\xc0\x00")
            self._last_send_s = time.monotonic()

    def wait_acked(self, timeout_s: float) -> bool:
        deadline = time.monotonic() + timeout_s
        while self.acked < self.sent and time.monotonic() < deadline:
            if self.closed_reason is not None:
                return False
            time.sleep(0.01)
        return self.acked >= self.sent

    def close(self) -> None:
        try:
            self._sock.sendall(b"\xe0\x00")  # DISCONNECT
            self._sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self._sock.close()
        self._reader.join(timeout=2)
