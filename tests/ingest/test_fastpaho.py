"""ingest.fastpaho against paho as installed: the internals it relies on are there, and
buffered reads and one-write PUBACKs lose or reorder nothing (a real Mosquitto)."""

from __future__ import annotations

import threading
import time

import paho.mqtt.client as paho
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from hazmon.mqtt import MQTT_V5, MqttOptions, connect_properties, new_client
from ingest.fastpaho import ack_many, buffer_reads, puback_bytes
from tests.ingest.helpers import Publisher, wait_until
from tests.servers import Mosquitto


def test_pubacks_are_the_bytes_paho_writes() -> None:
    assert puback_bytes([1, 258, 65535]) == b"\x40\x02\x00\x01\x40\x02\x01\x02\x40\x02\xff\xff"


def test_paho_has_the_internals_used() -> None:
    client = paho.Client(CallbackAPIVersion.VERSION2, protocol=paho.MQTTv5)
    for name in ("_sock_recv", "_packet_read", "_loop_rc_handle", "_packet_queue", "loop_read"):
        assert callable(getattr(client, name)), name
    assert buffer_reads(client)


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

    def on_message(_c: paho.Client, _u: object, msg: paho.MQTTMessage) -> None:
        with lock:
            got.append(msg.payload)
            mids.append(msg.mid)
            if len(mids) >= 100:
                ack_many(client, mids)
                mids.clear()

    client.on_message = on_message
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
    from benchmarks.ingest_load import publish_packet

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
