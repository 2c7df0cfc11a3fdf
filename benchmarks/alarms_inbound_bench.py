"""The alarm service's inbound path: messages/s and readings/s evaluated, committed, acked.

    .venv/bin/python benchmarks/alarms_inbound_bench.py                 # 1/message, then 50
    .venv/bin/python benchmarks/alarms_inbound_bench.py --case 1 --messages 60000
    .venv/bin/python benchmarks/alarms_inbound_bench.py --case 1 --rate 10000   # CPU at a rate
    .venv/bin/python benchmarks/alarms_inbound_bench.py --case 1 --py-spy /tmp/prof

For each case it starts a real Mosquitto (hazmon/testing/servers.py) and runs `AlarmService`
in this process (MemoryStore, its SQLite in a temp folder) on the plant of
benchmarks/e2e/plant.py (20 gateways of 50 gas detectors, two sites). A publisher
process of its own sends N prebuilt QoS 1 PUBLISH packets (raw MQTT 3.1.1, the
packets of benchmarks/ingest_load.py) on 4 connections, each gateway always on the
same one, as fast as the broker takes them (or at `--rate` messages/s, to read the
service's CPU at a given load). Every reading is new (a `ts_ms` of its own) and below
every threshold, so what is measured is the path every reading takes (receive,
decode, evaluate on paho's thread one socket read at a time, SQLite commits
grouped over `group_commit_s`, PUBACKs after the commit), not alarm handling.

The clock runs from the first publish until the service has acknowledged N messages
(`hazmon_alarm_messages_acked_total`, counted after the commit and the PUBACKs);
then the service stops and a session resumed with its client id must receive
nothing (every message was acknowledged), and the engine must have seen the last
`seq` of every gateway. N stays under the broker's queue of 100,000 messages per
client (hazmon/testing/servers.py), beyond which Mosquitto would drop messages.

Printed: messages/s and readings/s, the CPU of this process (the alarm service;
the publisher is another process) as a share of one core and per message, the CPU
of the broker and the publisher for context, and the messages per batch (one
socket read, evaluated in one call; quiet batches share a commit).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import multiprocessing as mp
import multiprocessing.synchronize
import queue
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import orjson
import paho.mqtt.client as paho
import psutil
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

ROOT = Path(__file__).parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.e2e.plant import Plant  # noqa: E402
from benchmarks.ingest_load import CHUNK_BYTES, connect_packet, publish_packet  # noqa: E402
from hazmon.alarms.service import AlarmService  # noqa: E402
from hazmon.contract.config import parse_registry  # noqa: E402
from hazmon.contract.settings import Settings, parse_broker_url  # noqa: E402
from hazmon.stores.memory import MemoryStore  # noqa: E402
from hazmon.testing.servers import Mosquitto  # noqa: E402

PLANT = Plant(gateways=20, sensors_per_gateway=50)
CONNECTIONS = 4
BROKER_QUEUE = 100_000  # max_queued_messages of hazmon/testing/servers.py's Mosquitto
ACKED = "hazmon_alarm_messages_acked_total"
BATCHES = "hazmon_alarm_evaluation_seconds_count"  # one observation per socket read evaluated
CLIENT_ID = "alarms-inbound-bench"


@dataclass(frozen=True, slots=True)
class Case:
    per_message: int
    messages: int
    rate: float | None = None  # messages/s offered, else as fast as the broker takes them

    @property
    def readings(self) -> int:
        return self.per_message * self.messages

    def share(self, g: int) -> int:
        """Messages of gateway `g`."""
        return self.messages // PLANT.gateways + (g < self.messages % PLANT.gateways)


@dataclass(frozen=True, slots=True)
class Result:
    case: Case
    elapsed_s: float
    service_cpu_s: float
    broker_cpu_s: float
    publisher_cpu_s: float
    batches: int
    redelivered: int

    def lines(self) -> list[str]:
        c, s = self.case, self.elapsed_s
        offered = f" at {c.rate:,.0f}/s offered" if c.rate else ""
        return [
            f"{c.per_message} reading(s)/message{offered}: {c.messages:,} messages "
            f"({c.readings:,} readings) evaluated, committed and acked in {s:.2f} s = "
            f"{c.messages / s:,.0f} messages/s, {c.readings / s:,.0f} readings/s",
            f"  alarm service: {self.service_cpu_s:.1f} CPU s ({self.service_cpu_s / s:.0%} "
            f"of one core, {self.service_cpu_s / c.messages * 1e6:.0f} µs/message); broker "
            f"{self.broker_cpu_s:.1f} s, publisher {self.publisher_cpu_s:.1f} s; "
            f"{c.messages / max(self.batches, 1):,.0f} messages per batch (socket read); "
            f"redelivered after the run: {self.redelivered}",
        ]


# -- the publisher (a process of its own) -------------------------------------------------


def payloads(g: int, *, per_message: int, count: int, start_ms: int) -> list[bytes]:
    """`count` telemetry messages of gateway `g`, every reading new and below thresholds."""
    out = []
    for seq in range(count):
        ts_ms = start_ms + seq
        if per_message == 1:
            sensors = [seq % PLANT.sensors_per_gateway]
        else:
            sensors = [(seq + i) % PLANT.sensors_per_gateway for i in range(per_message)]
        readings = [{"sensor": PLANT.sensor_id(g, s), "ts_ms": ts_ms, "value": 5.0 + seq % 10}
                    for s in sensors]  # fmt: skip
        out.append(orjson.dumps({"boot": 1, "seq": seq, "readings": readings}))
    return out


def streams(c: Case, start_ms: int) -> list[list[tuple[bytes, int]]]:
    """Per connection, (chunk of PUBLISH packets, messages in it); gateways interleaved,
    each on one connection. Paced, a chunk is 10 ms of the connection's share."""
    share = [c.share(g) for g in range(PLANT.gateways)]
    most = max(1, int(c.rate / CONNECTIONS / 100)) if c.rate else c.messages
    out: list[list[tuple[bytes, int]]] = []
    for conn in range(CONNECTIONS):
        mine = [g for g in range(PLANT.gateways) if g % CONNECTIONS == conn]
        bodies = {g: payloads(g, per_message=c.per_message, count=share[g], start_ms=start_ms)
                  for g in mine}  # fmt: skip
        topics = {g: f"hazmon/v1/{PLANT.site_id(g)}/{PLANT.gateway_id(g)}/telemetry".encode()
                  for g in mine}  # fmt: skip
        chunks: list[tuple[bytes, int]] = []
        parts: list[bytes] = []
        size = mid = 0
        for seq in range(max(share[g] for g in mine)):
            for g in mine:
                if seq < share[g]:
                    mid = mid % 65535 + 1
                    parts.append(publish_packet(topics[g], mid, bodies[g][seq]))
                    size += len(parts[-1])
                    if size >= CHUNK_BYTES or len(parts) >= most:
                        chunks.append((b"".join(parts), len(parts)))
                        parts, size = [], 0
        if parts:
            chunks.append((b"".join(parts), len(parts)))
        out.append(chunks)
    return out


def _send(port: int, index: int, chunks: list[tuple[bytes, int]], rate: float | None) -> None:
    """Send the chunks (at `rate` messages/s if given); wait for every PUBACK."""
    messages = sum(count for _, count in chunks)
    sock = socket.create_connection(("127.0.0.1", port))
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    sock.sendall(connect_packet(f"alarms-bench-pub-{index}-{time.time_ns()}"))
    if sock.recv(4)[:1] != b"\x20":
        raise RuntimeError("the broker refused the publisher")
    acked = [0]

    def count_acks() -> None:  # PUBACKs, 4 bytes each, are all that comes in
        received = 0
        while received < 4 * messages:
            data = sock.recv(65536)
            if not data:
                return
            received += len(data)
        acked[0] = received // 4

    reader = threading.Thread(target=count_acks, daemon=True)
    reader.start()
    started, sent = time.perf_counter(), 0
    for chunk, count in chunks:
        if rate:
            time.sleep(max(0.0, started + sent / rate - time.perf_counter()))
        sock.sendall(chunk)
        sent += count
    reader.join(600)
    sock.close()
    if acked[0] < messages:
        raise RuntimeError(f"the broker acknowledged {acked[0]:,} of {messages:,} messages")


def publish(
    port: int, c: Case, start_ms: int, ready: mp.synchronize.Event, go: mp.synchronize.Event
) -> None:
    """Build every packet, say ready, wait for go, send on every connection at once."""
    per_connection = streams(c, start_ms)
    rate = c.rate / CONNECTIONS if c.rate else None
    ready.set()
    go.wait()
    senders = [threading.Thread(target=_send, args=(port, i, chunks, rate))
               for i, chunks in enumerate(per_connection)]  # fmt: skip
    for sender in senders:
        sender.start()
    for sender in senders:
        sender.join()


# -- the alarm service (this process) -------------------------------------------------------


def cpu_s(pid: int | None) -> float:
    if pid is None:
        return 0.0
    try:
        t = psutil.Process(pid).cpu_times()
        return float(t.user + t.system)
    except psutil.Error:
        return 0.0


def acked(service: AlarmService) -> int:
    return int(service.metrics_registry.get_sample_value(ACKED) or 0)


def last_seqs_seen(service: AlarmService, c: Case) -> bool:
    """Whether the engine has seen the last `seq` of every gateway."""
    for g in range(PLANT.gateways):
        count = c.share(g)
        gid = f"{PLANT.site_id(g)}/{PLANT.gateway_id(g)}"
        _order, members = service.desk.engine._recent.get(gid, ((), set()))
        if count and (1, count - 1) not in members:
            return False
    return True


def redelivered(port: int) -> int:
    """Messages a resumed session of the service's client id receives in 1 s."""
    got: queue.Queue[str] = queue.Queue()
    client = paho.Client(CallbackAPIVersion.VERSION2, client_id=CLIENT_ID, protocol=paho.MQTTv5)
    client.on_message = lambda _c, _u, msg: got.put(msg.topic)
    props = Properties(PacketTypes.CONNECT)  # type: ignore[no-untyped-call]
    props.SessionExpiryInterval = 0  # and drop the session afterwards
    client.connect("127.0.0.1", port, clean_start=False, properties=props)
    client.loop_start()
    time.sleep(1.0)
    client.disconnect()
    client.loop_stop()
    return got.qsize()


async def run_service(c: Case, broker: Mosquitto, data_dir: Path, go: mp.synchronize.Event,
                      publisher_pid: int | None, timeout_s: float) -> Result:  # fmt: skip
    service = AlarmService(
        registry=parse_registry(PLANT.registry_yaml()), broker=parse_broker_url(broker.url),
        settings=Settings(), store=MemoryStore(), data_dir=data_dir, client_id=CLIENT_ID,
    )
    ready = asyncio.Event()
    task = asyncio.create_task(service.run(ready=ready), name="alarm-service")
    await asyncio.wait_for(ready.wait(), 30)
    broker_before, publisher_before = cpu_s(broker.pid), cpu_s(publisher_pid)
    cpu_before, started = time.process_time(), time.perf_counter()
    go.set()
    last_print = 0.0
    while (done := acked(service)) < c.messages:
        now = time.perf_counter() - started
        if now - last_print >= 1:
            print(f"  {now:5.1f} s: {done:,} messages acked ({done / now:,.0f}/s)", flush=True)
            last_print = now
        if now > timeout_s or task.done():
            task.cancel()
            raise RuntimeError(f"only {done:,} of {c.messages:,} after {now:.0f} s")
        await asyncio.sleep(0.005)
    elapsed_s = time.perf_counter() - started
    service_cpu_s = time.process_time() - cpu_before
    broker_cpu_s = cpu_s(broker.pid) - broker_before
    publisher_cpu_s = cpu_s(publisher_pid) - publisher_before
    batches = int(service.metrics_registry.get_sample_value(BATCHES) or 0)
    if not last_seqs_seen(service, c):
        raise RuntimeError("acked N messages but the engine did not see every last seq")
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
    service.close()
    again = await asyncio.to_thread(redelivered, broker.port)
    return Result(c, elapsed_s, service_cpu_s, broker_cpu_s, publisher_cpu_s, batches, again)


def run_case(c: Case, *, timeout_s: float, py_spy: Path | None) -> Result:
    with Mosquitto() as broker, tempfile.TemporaryDirectory() as tmp:
        ready, go = mp.Event(), mp.Event()
        start_ms = int(time.time() * 1000) - c.messages // PLANT.gateways - 1000
        publisher = mp.Process(target=publish, args=(broker.port, c, start_ms, ready, go))
        publisher.start()
        spy = None
        try:
            if not ready.wait(600):
                raise RuntimeError("the publisher did not get ready")
            if py_spy is not None:
                spy = profile(py_spy, c)
            return asyncio.run(run_service(c, broker, Path(tmp), go, publisher.pid, timeout_s))
        finally:
            if spy is not None:
                spy.send_signal(signal.SIGINT)  # py-spy writes its file on SIGINT
                spy.wait()
            go.set()
            publisher.join(60)
            if publisher.is_alive():
                publisher.kill()


def profile(out_dir: Path, c: Case) -> subprocess.Popen[bytes]:
    """py-spy attached to this process, writing collapsed stacks."""
    out_dir.mkdir(parents=True, exist_ok=True)
    out = out_dir / f"alarms-inbound-{c.per_message}-per-message.txt"
    py_spy = str(Path(sys.executable).parent / "py-spy")
    argv = [py_spy, "record", "--pid", str(psutil.Process().pid), "--threads", "--idle",
            "--format", "raw", "--rate", "100", "-o", str(out)]  # fmt: skip
    return subprocess.Popen(argv)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--case", type=int, choices=[1, 50], action="append",
                        help="readings per message (default: 1, then 50)")  # fmt: skip
    parser.add_argument("--messages", type=int,
                        help="N messages (default: 90,000 at 1/message, 20,000 at 50)")
    parser.add_argument("--rate", type=float,
                        help="messages/s offered (default: as fast as the broker takes them)")
    parser.add_argument("--timeout", type=float, default=300.0)
    parser.add_argument("--py-spy", type=Path, help="record this process's stacks here")
    args = parser.parse_args()
    if args.messages is not None and not 0 < args.messages < BROKER_QUEUE:
        parser.error(f"--messages must be between 1 and {BROKER_QUEUE - 1:,} "
                     "(the broker's queue per client)")  # fmt: skip
    results = []
    for per_message in args.case or [1, 50]:
        c = Case(per_message, args.messages or (90_000 if per_message == 1 else 20_000),
                 args.rate)  # fmt: skip
        offered = f"{c.rate:,.0f} messages/s offered" if c.rate else "flat out"
        print(f"-- {per_message} reading(s)/message, N = {c.messages:,} messages, {offered}",
              flush=True)  # fmt: skip
        result = run_case(c, timeout_s=args.timeout, py_spy=args.py_spy)
        results.append(result)
        print("\n".join(result.lines()), flush=True)
    print(f"\nsummary (machine: {psutil.cpu_count()} cores, load average "
          f"{', '.join(f'{x:.1f}' for x in psutil.getloadavg())})")  # fmt: skip
    for result in results:
        print("\n".join(result.lines()))
        assert result.redelivered == 0, f"{result.redelivered} messages were not acknowledged"


if __name__ == "__main__":
    main()
