"""The alarm service's MQTT bridge (alarms/bridge.py) against a real Mosquitto: every
message exactly once and in order, acknowledged in batches; bounded while the
consumer is slow; no ack across a reconnect; a prompt close while paho's thread waits
for room. One pure test checks that a socket read reaches the event loop in one go."""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from collections.abc import Callable

import pytest

from alarms.bridge import Inbound, MqttLink
from benchmarks.ingest_load import connect_packet, publish_packet
from hazmon.mqtt import MQTT_V311, MqttOptions, new_client
from tests.servers import Mosquitto

QUIET_S = 1.0  # a resumed session that gets nothing in this long holds nothing


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


async def opened(broker: Mosquitto, client_id: str, topic: str, capacity: int = 10_000) -> MqttLink:
    opts = MqttOptions(host=broker.host, port=broker.port, client_id=client_id)
    link = MqttLink(opts, topics=[topic], loop=asyncio.get_running_loop(), capacity=capacity)
    await link.connect(attempts=2, timeout_s=10)
    await asyncio.wait_for(link.subscribed(), 10)
    return link


async def take(link: MqttLink, count: int, *, batch: int = 500, ack: bool = True,
               timeout_s: float = 60.0) -> list[Inbound]:  # fmt: skip
    """Take `count` messages (acknowledging each batch unless told not to)."""
    got: list[Inbound] = []
    async with asyncio.timeout(timeout_s):
        while len(got) < count:
            items = await link.batch(batch)
            assert len(items) <= batch
            got += items
            if ack:
                link.ack(items)
    return got


async def nothing_held(broker: Mosquitto, client_id: str, topic: str) -> bool:
    """Whether a session resumed with `client_id` receives nothing."""
    await asyncio.sleep(0.3)  # the PUBACKs of a closed link have reached the broker
    link = await opened(broker, client_id, topic)
    try:
        await asyncio.wait_for(link.batch(1), QUIET_S)
    except TimeoutError:
        return True
    finally:
        await asyncio.to_thread(link.close)
    return False


async def eventually(check: Callable[[], bool], timeout_s: float = 10.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not check():
        assert time.monotonic() < deadline, f"not so after {timeout_s:g} s"
        await asyncio.sleep(0.01)


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
    client_id = f"alarms-{unique_id}"
    link = await opened(mosquitto, client_id, f"{unique_id}/+/telemetry")
    sent = {f"{unique_id}/gw{p}/telemetry": [b'{"seq":%d}' % i for i in range(each)]
            for p in range(publishers)}  # fmt: skip
    sending = asyncio.gather(
        *(asyncio.to_thread(send, mosquitto.port, topic, body) for topic, body in sent.items())
    )
    try:
        got = await take(link, publishers * each)
        await sending
        assert by_topic(got) == sent  # every message once, in each publisher's order
        assert {(item.qos, item.generation) for item in got} == {(1, 1)}
        assert link.depth() == 0
        with pytest.raises(TimeoutError):  # and nothing more
            await asyncio.wait_for(link.batch(1), 0.3)
    finally:
        await asyncio.to_thread(link.close)
    assert await nothing_held(mosquitto, client_id, f"{unique_id}/+/telemetry")


@pytest.mark.integration
async def test_a_slow_consumer_holds_paho_back_and_nothing_is_lost(
    mosquitto: Mosquitto, unique_id: str
) -> None:
    capacity, count = 50, 2_000
    topic = f"{unique_id}/gw1/telemetry"
    client_id = f"alarms-{unique_id}"
    link = await opened(mosquitto, client_id, topic, capacity=capacity)
    payloads = [b"%d" % i for i in range(count)]
    sending = asyncio.create_task(asyncio.to_thread(send, mosquitto.port, topic, payloads))
    got: list[Inbound] = []
    depths: list[int] = []
    try:
        async with asyncio.timeout(60):
            while len(got) < count:
                depths.append(link.depth())
                items = await link.batch(10)
                await asyncio.sleep(0.002)  # evaluating takes a while
                link.ack(items)
                got += items
        await sending
    finally:
        await asyncio.to_thread(link.close)
    assert [item.payload for item in got] == payloads
    assert max(depths) <= capacity  # bounded: paho's thread waited instead
    assert max(depths) >= capacity - 10  # ... and it did have to wait
    assert await nothing_held(mosquitto, client_id, topic)


@pytest.mark.integration
async def test_messages_of_an_earlier_connection_are_not_acked(
    fresh_mosquitto: Mosquitto, unique_id: str
) -> None:
    broker, count = fresh_mosquitto, 20
    topic = f"{unique_id}/gw1/telemetry"
    client_id = f"alarms-{unique_id}"
    payloads = [b"%d" % i for i in range(count)]
    link = await opened(broker, client_id, topic)
    try:
        await asyncio.to_thread(send, broker.port, topic, payloads)
        first = await take(link, count, ack=False)
        await asyncio.to_thread(broker.restart)  # the session and its messages are kept
        again = await take(link, count, ack=False, timeout_s=30)  # paho reconnected
        assert {item.generation for item in first} == {1}
        assert {item.generation for item in again} == {2}
        assert [i.payload for i in first] == [i.payload for i in again] == payloads
        link.ack(first)  # their packet ids mean nothing on this connection: not sent
    finally:
        await asyncio.to_thread(link.close)
    # so the broker still holds every message, for the next session
    await asyncio.sleep(0.3)
    resumed = await opened(broker, client_id, topic)
    try:
        held = await take(resumed, count, timeout_s=15)  # these are acked
        assert [item.payload for item in held] == payloads
    finally:
        await asyncio.to_thread(resumed.close)
    assert await nothing_held(broker, client_id, topic)


@pytest.mark.integration
async def test_close_returns_promptly_while_paho_waits_for_room(
    mosquitto: Mosquitto, unique_id: str
) -> None:
    capacity, count = 5, 100
    topic = f"{unique_id}/gw1/telemetry"
    client_id = f"alarms-{unique_id}"
    link = await opened(mosquitto, client_id, topic, capacity=capacity)
    payloads = [b"%d" % i for i in range(count)]
    await asyncio.to_thread(send, mosquitto.port, topic, payloads)
    await eventually(lambda: link.depth() >= capacity)
    await asyncio.sleep(0.3)
    assert link.depth() == capacity  # paho's thread waits for room
    network = link._client._thread if link._client else None
    assert isinstance(network, threading.Thread) and network.is_alive()
    started = time.monotonic()
    await asyncio.wait_for(asyncio.to_thread(link.close), 5)
    assert time.monotonic() - started < 1.0
    assert not network.is_alive()
    # nothing was acknowledged: the next session gets every message, in order
    await asyncio.sleep(0.3)
    resumed = await opened(mosquitto, client_id, topic)
    try:
        assert [item.payload for item in await take(resumed, count)] == payloads
    finally:
        await asyncio.to_thread(resumed.close)


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


async def test_each_socket_read_reaches_the_event_loop_in_one_call() -> None:
    loop = asyncio.get_running_loop()
    opts = MqttOptions(host="127.0.0.1", port=1, client_id="one-hand-over")
    link = MqttLink(opts, topics=["t/#"], loop=loop)
    calls: list[tuple[object, ...]] = []
    call_soon_threadsafe = loop.call_soon_threadsafe

    def counted(callback: object, *args: object) -> object:
        calls.append(args)
        return call_soon_threadsafe(callback, *args)  # type: ignore[arg-type]

    loop.call_soon_threadsafe = counted  # type: ignore[method-assign]
    client = new_client(opts, protocol=MQTT_V311, manual_ack=True)
    link._install_reads(client)
    packets = [publish_packet(b"t/gw1", i + 1, b"p%04d" % i) for i in range(1000)]
    sock = StreamSocket(b"".join(packets), piece=4096)  # pieces end mid-packet
    client._sock = sock  # type: ignore[assignment]
    try:
        reads = 0
        while sock.reads * sock.piece < len(sock.stream):
            assert client.loop_read() == 0
            reads += 1
    finally:
        client._sock = None
        del loop.call_soon_threadsafe
    assert len(calls) == reads < 20  # one hand-over per read, not one per message
    got = await take(link, 1000, ack=False, timeout_s=5)
    assert [item.payload for item in got] == [b"p%04d" % i for i in range(1000)]
    assert [item.mid for item in got] == list(range(1, 1001))
