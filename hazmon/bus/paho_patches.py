"""Patches of paho-mqtt 2's internals: measured speed-ups for the consumers' link
(hazmon.bus.consumer), which ingest (its profile in docs/ingest.md) and the alarm
service take telemetry through.

At one reading per message, a py-spy profile of ingest showed paho's own socket
handling as a large share of the process: three `recv` calls per incoming packet
(command byte, length byte, body) and, for acknowledgements, one `_packet_queue`
call, one wake-up byte on paho's socket pair and one `send` per PUBACK. So:

- `buffer_reads(client)`: paho reads the socket in chunks of 256 KiB and serves its
  small reads from that buffer; `loop_read` goes on while whole packets are buffered
  (else they would wait for the next byte on the socket), but never reads the socket
  again itself: paho's loop must get back to writing PUBACKs (a first version that
  kept reading starved them under load, the broker's queue for ingest overflowed,
  and messages were lost; the benchmark caught it through the lost-messages count).
  The buffer belongs to one socket and is dropped when paho reconnects.
- `ack_many(client, mids)`: the PUBACKs of a batch (4 bytes each: 0x40 0x02 and the
  packet id, the same bytes paho writes for MQTT 3.1.1 and 5) are queued as one
  write.
- `lean_publish(client, deliver)`: paho decodes every MQTT 5 PUBLISH into a
  `Properties` object, about 8 µs a message (9.5 µs against 1.6 µs for the same
  packet in 3.1.1); neither consumer uses a PUBLISH property, so QoS 0/1 PUBLISH
  packets are parsed here (topic, packet id, properties skipped by their length,
  payload) and handed to `deliver(topic, payload, mid, qos)`. Anything else (QoS 2,
  a packet that does not parse) goes to paho's own handler.

They use paho internals (`_sock_recv`, `_packet_read`, `_loop_rc_handle`, `_sock`,
`_packet_queue`, `_handle_publish`, `_in_packet`, `_protocol`), so each checks they
are there and falls back to paho's own paths otherwise;
tests/bus/test_paho_patches.py checks them against paho as installed.
"""

from __future__ import annotations

import logging
import struct
from collections.abc import Callable, Sequence
from typing import Any

import paho.mqtt.client as paho
from paho.mqtt.enums import MQTTErrorCode

log = logging.getLogger(__name__)

READ_CHUNK_BYTES = 256 * 1024
PUBACK = 0x40
_PUBACK_HEAD = 0x4002_0000  # PUBACK, remaining length 2, then the 16-bit packet id


def _has(client: paho.Client, *names: str) -> bool:
    return all(callable(getattr(client, name, None)) for name in names)


class _BufferedReads:
    """paho's `_sock_recv` and `loop_read`, reading the socket in chunks."""

    def __init__(self, client: paho.Client, chunk_bytes: int) -> None:
        self.client = client
        self.chunk_bytes = chunk_bytes
        self.raw_recv = client._sock_recv
        self.plain_loop_read = client.loop_read
        self.sock: Any = None  # the socket the buffer belongs to
        self.buf = b""
        self.pos = 0
        self.refill = True

    def recv(self, bufsize: int) -> bytes:
        sock = self.client._sock
        if self.sock is not sock:  # a new connection: nothing buffered belongs to it
            self.sock, self.buf, self.pos = sock, b"", 0
        if self.pos >= len(self.buf):
            if not self.refill:
                raise BlockingIOError  # paho keeps the partial packet and waits for select
            data = self.raw_recv(self.chunk_bytes)  # BlockingIOError when empty, b"" at EOF
            if not data:
                return data
            self.buf, self.pos = data, 0
        out = self.buf[self.pos : self.pos + bufsize]
        self.pos += len(out)
        return out

    def loop_read(self, max_packets: int = 1) -> MQTTErrorCode:
        """paho's read, then every packet already in the buffer, without reading the
        socket again: the network loop gets back to writing (acknowledgements) at least
        once per chunk read."""
        client = self.client
        rc = self.plain_loop_read(max_packets)
        self.refill = False
        try:
            while (
                rc == MQTTErrorCode.MQTT_ERR_SUCCESS
                and client._sock is not None
                and self.sock is client._sock
                and self.pos < len(self.buf)
            ):
                rc = client._packet_read()
                if rc > 0:
                    return client._loop_rc_handle(rc)
                if rc == MQTTErrorCode.MQTT_ERR_AGAIN:  # a partial packet: wait for select
                    return MQTTErrorCode.MQTT_ERR_SUCCESS
        finally:
            self.refill = True
        return rc


def buffer_reads(client: paho.Client, chunk_bytes: int = READ_CHUNK_BYTES) -> bool:
    """Have `client` read its socket in chunks; False (and unchanged) if paho differs."""
    if not _has(client, "_sock_recv", "_packet_read", "_loop_rc_handle", "loop_read"):
        log.warning("paho internals not as expected: reads stay unbuffered")
        return False
    reads = _BufferedReads(client, chunk_bytes)
    client._sock_recv = reads.recv  # type: ignore[method-assign]
    client.loop_read = reads.loop_read  # type: ignore[method-assign]
    return True


def puback_bytes(mids: Sequence[int]) -> bytes:
    return struct.pack(f"!{len(mids)}I", *[_PUBACK_HEAD | mid for mid in mids])


def ack_many(client: paho.Client, mids: Sequence[int]) -> None:
    """Acknowledge QoS 1 packet ids in order, as one write when paho allows it."""
    if not mids:
        return
    if _has(client, "_packet_queue"):
        client._packet_queue(PUBACK, puback_bytes(mids), 0, 1)
        return
    for mid in mids:
        client.ack(mid, 1)


Deliver = Callable[[str, bytes, int, int], None]  # topic, payload, packet id, QoS


def parse_publish(command: int, packet: bytes | bytearray, v5: bool) -> tuple[str, bytes, int, int]:
    """(topic, payload, packet id, QoS) of a PUBLISH body; IndexError or
    UnicodeDecodeError when it does not parse."""
    qos = (command & 0x06) >> 1
    end = 2 + ((packet[0] << 8) | packet[1])
    topic = bytes(packet[2:end]).decode("utf-8")
    mid = 0
    if qos:
        mid = (packet[end] << 8) | packet[end + 1]
        end += 2
    if v5:  # skip the properties: a variable byte integer length, then that many bytes
        length = shift = 0
        while True:
            byte = packet[end]
            end += 1
            length |= (byte & 0x7F) << shift
            shift += 7
            if not byte & 0x80:
                break
            if shift > 21:
                raise IndexError("a property length over 4 bytes")
        end += length
        if end > len(packet):
            raise IndexError("properties beyond the packet")
    return topic, bytes(packet[end:]), mid, qos


def lean_publish(
    client: paho.Client, deliver: Deliver, *, retained: Deliver | None = None
) -> bool:
    """Parse QoS 0/1 PUBLISH packets without paho's Properties; False if paho differs.

    With `retained`, PUBLISH packets with the RETAIN flag (a retained message the broker
    sends because of a subscription) go there instead of to `deliver`."""
    if not (
        _has(client, "_handle_publish")
        and hasattr(client, "_in_packet")
        and hasattr(client, "_protocol")
    ):
        log.warning("paho internals not as expected: PUBLISH decoded by paho")
        return False
    paho_handler = client._handle_publish

    def handle_publish() -> MQTTErrorCode:
        command = client._in_packet["command"]
        if command & 0x06 == 0x04:  # QoS 2: paho's own flow
            return paho_handler()
        try:
            topic, payload, mid, qos = parse_publish(
                command, client._in_packet["packet"], client._protocol == paho.MQTTv5
            )
        except (IndexError, UnicodeDecodeError):
            return paho_handler()
        if retained is not None and command & 0x01:
            retained(topic, payload, mid, qos)
        else:
            deliver(topic, payload, mid, qos)
        return MQTTErrorCode.MQTT_ERR_SUCCESS

    client._handle_publish = handle_publish  # type: ignore[method-assign]
    return True
