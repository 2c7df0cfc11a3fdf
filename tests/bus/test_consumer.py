"""The consumers' MQTT link (hazmon.bus.consumer, what ingest and the alarm service
take the bus through) against a real Mosquitto: paho's thread gives each socket
read's messages to the consumer. Every message exactly once and in order,
acknowledged in batches; a slow consumer holds paho back (one read at a time, the
broker keeps the rest) and loses nothing; publishing is not held up by what is in
flight to the consumer; no ack across a reconnect; close() while the consumer is busy
waits for that call only and acknowledges nothing it did not process; a refused
subscription is an error. One pure test checks one consumer call per socket read."""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from collections.abc import Callable

import pytest
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.reasoncodes import ReasonCode

from hazmon.bus.consumer import MqttLink, generation_of, mid_of
from hazmon.bus.mqtt import MQTT_V311, MqttError, MqttOptions, new_client
from hazmon.bus.paho_patches import READ_CHUNK_BYTES
from hazmon.bus.seam import Inbound
from hazmon.testing.mqtt_packets import connect_packet, publish_packet
from hazmon.testing.servers import Mosquitto

QUIET_S = 1.0  # a resumed session that gets nothing in this long holds nothing
CLOSE_MARGIN_S = 1.0  # close(): the consumer call in progress, then at most this


class Recorder:
    """A consumer: records each call's messages once processed (after `delay_s`, and
    after acknowledging them unless `ack` is False); `gate`, when given, holds the
    first call until it is set."""

    def __init__(self, *, ack: bool = True, delay_s: float = 0.0,
                 gate: threading.Event | None = None) -> None:  # fmt: skip
        self.ack, self.delay_s, self.gate = ack, delay_s, gate
        self.link: MqttLink | None = None
        self.calls: list[list[Inbound]] = []
        self.busy = threading.Event()  # set while a call runs
        self._lock = threading.Lock()

    def __call__(self, items: list[Inbound]) -> None:
        self.busy.set()
        try:
            if self.gate is not None and not self.calls:
                assert self.gate.wait(60), "the gate was never opened"
            time.sleep(self.delay_s)
            if self.ack and self.link is not None:
                self.link.ack(items)
            with self._lock:
                self.calls.append(items)
        finally:
            self.busy.clear()

    @property
    def got(self) -> list[Inbound]:
        with self._lock:
            return [item for call in self.calls for item in call]


def send(port: int, topic: str, payloads: list[bytes]) -> None:
    """One publisher connection (MQTT 3.1.1, QoS 1): send every PUBLISH at once, then
    wait for the broker's PUBACK of each."""
    with socket.create_connection(("127.0.0.1", port)) as sock:
        sock.sendall(connect_packet(f"pub-{topic.replace('/', '-')}-{time.time_ns()}"))
        assert sock.recv(4)[:1] == b"\x20", "no CONNACK"
        packets = [publish_packet(topic.encode(), i % 65535 + 1, p) for i, p in enumerate(payloads)]
        sock.sendall(b"".join(packets))
        received = 0
        while received < 4 * len(payloads):  # PUBACKs, 4 bytes each
            data = sock.recv(65536)
            assert data, "the broker closed the publisher's connection"
            received += len(data)


async def opened(broker: Mosquitto, client_id: str, topic: str, consumer: Recorder) -> MqttLink:
    opts = MqttOptions(host=broker.host, port=broker.port, client_id=client_id)
    link = MqttLink(opts, topics=[topic], consumer=consumer, publishing=True)
    consumer.link = link
    await link.connect(attempts=2, timeout_s=10)
    await asyncio.wait_for(link.subscribed(), 10)
    return link


async def eventually(check: Callable[[], bool], timeout_s: float = 30.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not check():
        assert time.monotonic() < deadline, f"not so after {timeout_s:g} s"
        await asyncio.sleep(0.01)


async def received(consumer: Recorder, count: int, timeout_s: float = 60.0) -> list[Inbound]:
    await eventually(lambda: len(consumer.got) >= count, timeout_s)
    return consumer.got


async def held(broker: Mosquitto, client_id: str, topic: str, count: int) -> list[bytes]:
    """What a session resumed with `client_id` receives (acknowledging it): `count`
    messages, then nothing more for QUIET_S."""
    await asyncio.sleep(0.3)  # the PUBACKs of a closed link have reached the broker
    consumer = Recorder()
    link = await opened(broker, client_id, topic, consumer)
    try:
        await received(consumer, count, timeout_s=15)
        await asyncio.sleep(QUIET_S)
        return [item.payload for item in consumer.got]
    finally:
        await asyncio.to_thread(link.close)


def by_topic(items: list[Inbound]) -> dict[str, list[bytes]]:
    out: dict[str, list[bytes]] = {}
    for item in items:
        out.setdefault(item.topic, []).append(item.payload)
    return out


@pytest.mark.integration
async def test_many_small_messages_arrive_once_in_order_and_are_all_acked(
    mosquitto: Mosquitto, unique_id: str
) -> None:
    publishers, each = 4, 5_000
    client_id, topic = f"alarms-{unique_id}", f"{unique_id}/+/telemetry"
    consumer = Recorder()
    link = await opened(mosquitto, client_id, topic, consumer)
    sent = {f"{unique_id}/gw{p}/telemetry": [b'{"seq":%d}' % i for i in range(each)]
            for p in range(publishers)}  # fmt: skip
    try:
        await asyncio.gather(
            *(asyncio.to_thread(send, mosquitto.port, t, body) for t, body in sent.items())
        )
        await received(consumer, publishers * each)
        await asyncio.sleep(0.3)  # and nothing more
        got = consumer.got
        assert by_topic(got) == sent  # every message once, in each publisher's order
        assert {generation_of(item.token) for item in got} == {1}
        assert link.connected and link.generation == 1
        assert len(consumer.calls) > 1  # in batches, one per socket read
    finally:
        await asyncio.to_thread(link.close)
    assert await held(mosquitto, client_id, topic, 0) == []  # every one was acknowledged


@pytest.mark.integration
async def test_a_slow_consumer_holds_paho_back_and_nothing_is_lost(
    mosquitto: Mosquitto, unique_id: str
) -> None:
    count, payload_bytes = 5_000, 1_000  # 5 MB: more than the sockets buffer
    topic, client_id = f"{unique_id}/gw1/telemetry", f"alarms-{unique_id}"
    gate = threading.Event()
    consumer = Recorder(delay_s=0.01, gate=gate)
    link = await opened(mosquitto, client_id, topic, consumer)
    payloads = [b"%05d" % i + b"x" * (payload_bytes - 5) for i in range(count)]
    try:
        await asyncio.to_thread(send, mosquitto.port, topic, payloads)  # the broker has all
        await asyncio.sleep(0.3)
        # the first call is still held: paho read nothing more, the rest waits upstream
        assert consumer.busy.is_set() and consumer.calls == []
        gate.set()
        got = await received(consumer, count)
        await asyncio.sleep(0.3)
    finally:
        await asyncio.to_thread(link.close)
    assert [item.payload for item in consumer.got] == payloads  # none lost, none twice
    packet_bytes = len(publish_packet(topic.encode(), 1, payloads[0]))
    one_read = READ_CHUNK_BYTES // packet_bytes + 1  # whole packets in one chunk, at most
    assert max(len(call) for call in consumer.calls) <= one_read  # bounded
    assert len(consumer.calls) >= count // one_read
    assert len(got) == count
    assert await held(mosquitto, client_id, topic, 0) == []


@pytest.mark.integration
async def test_publishing_does_not_wait_behind_the_telemetry_in_flight(
    mosquitto: Mosquitto, unique_id: str
) -> None:
    """The broker writes the PUBACK of what we publish behind what it has in flight to
    us; on the receiving connection, with the consumer busy and thousands of messages
    in flight, a publish would not be confirmed until they were all read."""
    count, payload_bytes = 5_000, 1_000
    topic, client_id = f"{unique_id}/gw1/telemetry", f"alarms-{unique_id}"
    gate = threading.Event()
    consumer = Recorder(gate=gate)
    link = await opened(mosquitto, client_id, topic, consumer)
    payloads = [b"%05d" % i + b"x" * (payload_bytes - 5) for i in range(count)]
    try:
        await asyncio.to_thread(send, mosquitto.port, topic, payloads)
        await eventually(lambda: consumer.busy.is_set())  # held, the rest in flight
        started = time.monotonic()
        await link.publish_confirmed(f"{unique_id}/alarms", b"event", timeout_s=5)
        assert time.monotonic() - started < 2.0
        assert consumer.calls == []  # confirmed while nothing was read past the first call
    finally:
        gate.set()
        await received(consumer, count)
        await asyncio.to_thread(link.close)


@pytest.mark.integration
async def test_messages_of_an_earlier_connection_are_not_acked(
    fresh_mosquitto: Mosquitto, unique_id: str
) -> None:
    broker, count = fresh_mosquitto, 20
    topic, client_id = f"{unique_id}/gw1/telemetry", f"alarms-{unique_id}"
    payloads = [b"%d" % i for i in range(count)]
    consumer = Recorder(ack=False)
    link = await opened(broker, client_id, topic, consumer)
    try:
        await asyncio.to_thread(send, broker.port, topic, payloads)
        first = await received(consumer, count)
        await asyncio.to_thread(broker.restart)  # the session and its messages are kept
        again = (await received(consumer, 2 * count, timeout_s=30))[count:]  # reconnected
        assert {generation_of(item.token) for item in first} == {1}
        assert {generation_of(item.token) for item in again} == {2}
        assert [i.payload for i in first] == [i.payload for i in again] == payloads
        link.ack(first)  # their packet ids mean nothing on this connection: not sent
    finally:
        await asyncio.to_thread(link.close)
    # so the broker still holds every message, for the next session
    assert await held(broker, client_id, topic, count) == payloads


@pytest.mark.integration
async def test_close_waits_for_the_consumer_call_in_progress_only(
    mosquitto: Mosquitto, unique_id: str
) -> None:
    count, delay_s = 2_000, 0.5
    topic, client_id = f"{unique_id}/gw1/telemetry", f"alarms-{unique_id}"
    consumer = Recorder(delay_s=delay_s)
    link = await opened(mosquitto, client_id, topic, consumer)
    payloads = [b"%d" % i for i in range(count)]
    await asyncio.to_thread(send, mosquitto.port, topic, payloads[:1])
    await eventually(consumer.busy.is_set)  # the consumer has the first message...
    await asyncio.to_thread(send, mosquitto.port, topic, payloads[1:])  # ... these wait
    network = link._client._thread if link._client else None
    assert isinstance(network, threading.Thread) and network.is_alive()
    assert consumer.busy.is_set()
    started = time.monotonic()
    await asyncio.wait_for(asyncio.to_thread(link.close), delay_s + 5)
    assert time.monotonic() - started < delay_s + CLOSE_MARGIN_S
    assert not network.is_alive()
    # the call in progress finished (and acknowledged its message); no call started
    # after close(), and nothing else was acknowledged: the next session gets the rest
    assert [item.payload for item in consumer.got] == payloads[:1]
    assert await held(mosquitto, client_id, topic, count - 1) == payloads[1:]


class StreamSocket:
    """A socket with a stream of packets to read, `piece` bytes a read."""

    def __init__(self, stream: bytes, piece: int) -> None:
        self.stream, self.piece, self.reads = stream, piece, 0

    def recv(self, _bufsize: int) -> bytes:
        data = self.stream[self.reads * self.piece : (self.reads + 1) * self.piece]
        if not data:
            raise BlockingIOError
        self.reads += 1
        return data

    def close(self) -> None:
        pass


def test_the_consumer_gets_each_socket_read_in_one_call() -> None:
    opts = MqttOptions(host="127.0.0.1", port=1, client_id="one-call-per-read")
    consumer = Recorder(ack=False)
    link = MqttLink(opts, topics=["t/#"], consumer=consumer)
    client = new_client(opts, protocol=MQTT_V311, manual_ack=True)
    link._install_reads(client)
    odd = 500  # its topic is not UTF-8: paho parses it, and it still comes in its place
    packets = [publish_packet(b"t/\xff" if i == odd else b"t/gw1", i + 1, b"p%04d" % i)
               for i in range(1000)]  # fmt: skip
    sock = StreamSocket(b"".join(packets), piece=4096)  # pieces end mid-packet
    client._sock = sock  # type: ignore[assignment]
    try:
        reads = 0
        while sock.reads * sock.piece < len(sock.stream):
            calls = len(consumer.calls)
            assert client.loop_read() == 0
            reads += 1
            assert len(consumer.calls) == calls + 1  # this read's messages, at its end
    finally:
        client._sock = None
    assert len(consumer.calls) == reads < 20  # one call per read, not one per message
    got = consumer.got
    assert [item.payload for item in got] == [b"p%04d" % i for i in range(1000)]
    assert [mid_of(item.token) for item in got] == list(range(1, 1001))
    assert got[odd].topic == repr(b"t/\xff")


@pytest.mark.integration
async def test_a_link_that_does_not_publish_opens_one_connection(
    mosquitto: Mosquitto, unique_id: str
) -> None:
    opts = MqttOptions(host=mosquitto.host, port=mosquitto.port, client_id=f"ingest-{unique_id}")
    link = MqttLink(opts, topics=[f"{unique_id}/#"], consumer=Recorder())
    await link.connect(attempts=2, timeout_s=10)
    try:
        await asyncio.wait_for(link.subscribed(), 10)
        with pytest.raises(MqttError, match="does not publish"):
            link.publish(f"{unique_id}/x", b"")
        assert link._out is None
    finally:
        await asyncio.to_thread(link.close)
    assert not link.connected


async def test_a_refused_subscription_is_an_error() -> None:
    opts = MqttOptions(host="127.0.0.1", port=1, client_id="refused")
    link = MqttLink(opts, topics=["hazmon/v1/+/+/telemetry"], consumer=Recorder())
    link._loop = asyncio.get_running_loop()
    refused = ReasonCode(PacketTypes.SUBACK, identifier=0x87)  # not authorized
    link._on_subscribe(new_client(opts, protocol=MQTT_V311), None, 1, [refused])
    with pytest.raises(MqttError, match="subscription refused: Not authorized"):
        await asyncio.wait_for(link.subscribed(), 5)


def send_paced(port: int, topic: str, payloads: list[bytes], gap_s: float) -> None:
    """One publisher connection (QoS 1): one PUBLISH every `gap_s`, then the PUBACKs."""
    with socket.create_connection(("127.0.0.1", port)) as sock:
        sock.sendall(connect_packet(f"paced-{time.time_ns()}"))
        assert sock.recv(4)[:1] == b"\x20", "no CONNACK"
        for i, payload in enumerate(payloads):
            sock.sendall(publish_packet(topic.encode(), i + 1, payload))
            time.sleep(gap_s)
        received = 0
        while received < 4 * len(payloads):
            data = sock.recv(65536)
            assert data, "the broker closed the publisher's connection"
            received += len(data)


@pytest.mark.integration
@pytest.mark.parametrize(("gather_s", "most_calls", "least_calls"), [(0.0, 60, 30),
                                                                     (0.05, 8, 1)])
async def test_gathering_takes_a_trickle_in_few_reads(
    mosquitto: Mosquitto, unique_id: str, gather_s: float, most_calls: int, least_calls: int
) -> None:
    """60 messages 4 ms apart: one consumer call per message or nearly without
    gathering; with `gather_s` 50 ms, one call per 50 ms or so, every message once and
    in order all the same."""
    consumer = Recorder()
    opts = MqttOptions(host=mosquitto.host, port=mosquitto.port, client_id=f"g-{unique_id}")
    link = MqttLink(opts, topics=[f"{unique_id}/t"], consumer=consumer, gather_s=gather_s)
    consumer.link = link
    await link.connect(attempts=2, timeout_s=10)
    await asyncio.wait_for(link.subscribed(), 10)
    payloads = [b"%03d" % i for i in range(60)]
    try:
        await asyncio.to_thread(send_paced, mosquitto.port, f"{unique_id}/t", payloads, 0.004)
        got = await received(consumer, 60)
        assert [item.payload for item in got] == payloads
        assert least_calls <= len(consumer.calls) <= most_calls, len(consumer.calls)
    finally:
        await asyncio.to_thread(link.close)
