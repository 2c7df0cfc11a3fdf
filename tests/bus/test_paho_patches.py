"""hazmon.bus.paho_patches against paho as installed: the internals it relies on are there, and
buffered reads and one-write PUBACKs lose or reorder nothing (a real Mosquitto)."""

from __future__ import annotations

import struct
import threading
import time

import paho.mqtt.client as paho
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from hazmon.bus.mqtt import MQTT_V5, MqttOptions, connect_properties, new_client
from hazmon.bus.paho_patches import (
    ack_many,
    buffer_reads,
    lean_publish,
    parse_publish,
    puback_bytes,
)
from hazmon.testing.mqtt_packets import publish_packet
from hazmon.testing.servers import Mosquitto
from tests.ingest.helpers import Publisher, wait_until


def test_pubacks_are_the_bytes_paho_writes() -> None:
    assert puback_bytes([1, 258, 65535]) == b"\x40\x02\x00\x01\x40\x02\x01\x02\x40\x02\xff\xff"


def test_paho_has_the_internals_used() -> None:
    client = paho.Client(CallbackAPIVersion.VERSION2, protocol=paho.MQTTv5)
    names = (
        "_sock_recv",
        "_packet_read",
        "_loop_rc_handle",
        "_packet_queue",
        "loop_read",
        "_handle_publish",
    )
    for name in names:
        assert callable(getattr(client, name)), name
    assert buffer_reads(client)
    assert lean_publish(client, lambda *_: None)


def publish_body(topic: bytes, mid: int | None, payload: bytes, props: bytes | None) -> bytes:
    body = struct.pack("!H", len(topic)) + topic
    if mid is not None:
        body += struct.pack("!H", mid)
    if props is not None:
        body += bytes([len(props)]) + props
    return body + payload


@pytest.mark.parametrize(
    ("command", "mid", "props"),
    [
        (0x32, 7, None),
        (0x30, None, None),
        (0x32, 65535, b""),
        (0x3B, 9, b"\x01\x01\x02\x00\x00\x00\x3c"),
    ],
)
def test_parse_publish_agrees_with_paho(command: int, mid: int | None, props: bytes | None) -> None:
    from paho.mqtt import _packet

    v5 = props is not None
    body = publish_body(b"hazmon/v1/s/g/telemetry", mid, b'{"x": 1}', props)
    theirs = _packet.decode_publish(command, body, paho.MQTTv5 if v5 else paho.MQTTv311)
    mine = parse_publish(command, body, v5)
    assert mine == (theirs.topic.decode(), theirs.payload, theirs.mid, theirs.qos)


def test_a_publish_that_does_not_parse_goes_to_paho() -> None:
    with pytest.raises(IndexError):
        parse_publish(0x32, b"\x00\x10abc", False)
    with pytest.raises(UnicodeDecodeError):
        parse_publish(0x30, b"\x00\x02\xff\xfe", False)


@pytest.mark.integration
def test_buffered_reads_and_batched_acks_deliver_everything_in_order(
    fresh_mosquitto: Mosquitto,
) -> None:
    opts = MqttOptions(host=fresh_mosquitto.host, port=fresh_mosquitto.port, client_id="fast")
    client = new_client(opts, protocol=MQTT_V5, manual_ack=True)
    assert buffer_reads(client, chunk_bytes=1000)  # small chunks: packets cross chunk ends
    got: list[bytes] = []
    mids: list[int] = []
    lock = threading.Lock()

    def deliver(topic: str, payload: bytes, mid: int, qos: int) -> None:
        assert (topic, qos) == ("fast/t", 1)
        with lock:
            got.append(payload)
            mids.append(mid)
            if len(mids) >= 100:
                ack_many(client, mids)
                mids.clear()

    assert lean_publish(client, deliver)
    client.connect(opts.host, opts.port, clean_start=False, properties=connect_properties(opts))
    client.loop_start()
    client.subscribe("fast/#", qos=1)
    time.sleep(0.3)
    publisher = Publisher(fresh_mosquitto.host, fresh_mosquitto.port)
    sent = [b"%d:" % i + b"x" * (i % 700) for i in range(3000)]
    for payload in sent:
        publisher.publish("fast/t", payload)
    publisher.close()
    wait_until(lambda: len(got) >= len(sent), timeout_s=10, what=f"every message ({len(got)})")
    with lock:
        ack_many(client, mids)
    client.disconnect()
    client.loop_stop()
    assert got == sent
    # everything was acknowledged: a new session with the same id receives nothing again
    # (after a moment: a take-over would drop what the broker has not read of the old one)
    time.sleep(0.5)
    again: list[bytes] = []
    client = new_client(opts, protocol=MQTT_V5, manual_ack=True)
    client.on_message = lambda _c, _u, m: again.append(m.payload)
    client.connect(opts.host, opts.port, clean_start=False, properties=connect_properties(opts))
    client.loop_start()
    time.sleep(1.0)
    client.disconnect()
    client.loop_stop()
    assert again == []


class StreamSocket:
    """A socket with a long stream to read, 1000 bytes a read: the pieces end mid-packet."""

    def __init__(self, stream: bytes) -> None:
        self.stream = stream
        self.reads = 0

    def recv(self, _bufsize: int) -> bytes:
        piece = self.stream[self.reads * 1000 : (self.reads + 1) * 1000]
        self.reads += 1
        if not piece:
            raise BlockingIOError
        return piece

    def close(self) -> None:
        pass


def test_draining_the_buffer_never_reads_the_socket_again() -> None:
    """paho's loop must get back to writing PUBACKs while data keeps coming (regression:
    a loop that kept reading starved the acknowledgements and the broker dropped)."""
    client = paho.Client(CallbackAPIVersion.VERSION2, protocol=paho.MQTTv311, manual_ack=True)
    got: list[bytes] = []
    client.on_message = lambda _c, _u, m: got.append(m.payload)
    packets = [publish_packet(b"t", i + 1, b"p%03d" % i) for i in range(1000)]
    sock = StreamSocket(b"".join(packets))
    client._sock = sock  # type: ignore[assignment]
    assert buffer_reads(client)
    assert client.loop_read() == 0
    assert sock.reads == 1  # one read, then back to the loop
    assert got == [b"p%03d" % i for i in range(len(got))]
    assert 0 < len(got) < 1000
    while len(got) < 1000:  # the following loops pick up exactly where it stopped
        assert client.loop_read() == 0
    assert got == [b"p%03d" % i for i in range(1000)]
    client._sock = None
