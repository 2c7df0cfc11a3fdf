"""Two measured speed-ups of paho-mqtt 2 for ingest's hot path (docs/ingest.md, profile).

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

Both use paho internals (`_sock_recv`, `_packet_read`, `_loop_rc_handle`, `_sock`,
`_packet_queue`), so both check they are there and fall back to paho's own paths
otherwise; tests/ingest/test_fastpaho.py checks them against paho as installed.
"""

from __future__ import annotations

import logging
import struct
from collections.abc import Sequence
from typing import Any

import paho.mqtt.client as paho
from paho.mqtt.enums import MQTTErrorCode

log = logging.getLogger(__name__)

READ_CHUNK_BYTES = 256 * 1024
PUBACK = 0x40
_PUBACK_HEAD = 0x4002_0000  # PUBACK, remaining length 2, then the 16-bit packet id


def _has(client: paho.Client, *names: str) -> bool:
    return all(callable(getattr(client, name, None)) for name in names)


def buffer_reads(client: paho.Client, chunk_bytes: int = READ_CHUNK_BYTES) -> bool:
    """Have `client` read its socket in chunks; False (and unchanged) if paho differs."""
    if not _has(client, "_sock_recv", "_packet_read", "_loop_rc_handle", "loop_read"):
        log.warning("paho internals not as expected: reads stay unbuffered")
        return False
    raw_recv = client._sock_recv
    plain_loop_read = client.loop_read
    state: dict[str, Any] = {"sock": None, "buf": b"", "pos": 0, "refill": True}

    def buffered(bufsize: int) -> bytes:
        sock = client._sock
        if state["sock"] is not sock:  # a new connection: nothing buffered belongs to it
            state.update(sock=sock, buf=b"", pos=0)
        buf: bytes = state["buf"]
        pos: int = state["pos"]
        if pos >= len(buf):
            if not state["refill"]:
                raise BlockingIOError  # paho keeps the partial packet and waits for select
            buf = raw_recv(chunk_bytes)  # BlockingIOError when empty, b"" at EOF
            if not buf:
                return buf
            pos = 0
        out = buf[pos : pos + bufsize]
        state["buf"], state["pos"] = buf, pos + len(out)
        return out

    def loop_read(max_packets: int = 1) -> MQTTErrorCode:
        """paho's read, then every packet already in the buffer, without reading the
        socket again: the network loop gets back to writing (acknowledgements) at least
        once per chunk read."""
        rc = plain_loop_read(max_packets)
        state["refill"] = False
        try:
            while (
                rc == MQTTErrorCode.MQTT_ERR_SUCCESS
                and client._sock is not None
                and state["sock"] is client._sock
                and state["pos"] < len(state["buf"])
            ):
                rc = client._packet_read()
                if rc > 0:
                    return client._loop_rc_handle(rc)
                if rc == MQTTErrorCode.MQTT_ERR_AGAIN:  # a partial packet: wait for select
                    return MQTTErrorCode.MQTT_ERR_SUCCESS
        finally:
            state["refill"] = True
        return rc

    client._sock_recv = buffered  # type: ignore[method-assign]
    client.loop_read = loop_read  # type: ignore[method-assign]
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
