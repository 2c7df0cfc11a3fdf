"""MQTT 3.1.1 packets built by hand, for a publisher without a client library (the
benchmarks' lean load: every packet built before the clock starts, then `sendall`) and
for tests that hand paho's parser a byte stream of their own.

    sock.sendall(connect_packet("pub-1"))                  # clean session, no keepalive
    sock.sendall(publish_packet(b"hazmon/v1/s/gw/telemetry", 1, payload))   # QoS 1
"""

from __future__ import annotations

import struct


def remaining_length(n: int) -> bytes:
    """The variable-length "remaining length" of a fixed header."""
    out = bytearray()
    while True:
        byte, n = n % 128, n // 128
        out.append(byte | (0x80 if n else 0))
        if not n:
            return bytes(out)


def connect_packet(client_id: str) -> bytes:
    """CONNECT: MQTT 3.1.1, clean session, keepalive off."""
    body = b"\x00\x04MQTT\x04\x02\x00\x00" + struct.pack("!H", len(client_id)) + client_id.encode()
    return b"\x10" + remaining_length(len(body)) + body


def publish_packet(topic: bytes, mid: int, payload: bytes) -> bytes:
    """PUBLISH: QoS 1, no retain, no dup, packet id `mid`."""
    body = struct.pack("!H", len(topic)) + topic + struct.pack("!H", mid) + payload
    return b"\x32" + remaining_length(len(body)) + body
