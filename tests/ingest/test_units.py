"""Ingest's parts without servers: gateway tracking, batching, the pipeline, the writer."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator, Sequence
from pathlib import Path

import orjson
import pytest

from hazmon.bus.seam import Inbound
from hazmon.contract.settings import Settings, parse_broker_url
from hazmon.contract.topics import state, telemetry
from hazmon.ingest.batch import Batch, Batcher, Outcome
from hazmon.ingest.deadletter import DeadLetter, DeadLetters
from hazmon.ingest.gateways import GatewayTracker
from hazmon.ingest.metrics import IngestMetrics
from hazmon.ingest.pipeline import Pipeline
from hazmon.ingest.service import IngestService
from hazmon.ingest.writer import Writer
from hazmon.stores.base import Point, Refused, StoreRejected
from hazmon.stores.memory import MemoryStore
from hazmon.stores.spool import Spool
from tests.ingest.helpers import T_BASE_MS, batch, small_registry
from tests.stores.store_contract import reading

# -- gateways -------------------------------------------------------------------------------


def test_seq_gaps_are_lost_messages_and_repeats_are_not() -> None:
    tracker = GatewayTracker()
    seen = [tracker.observe("s", "g", 1, seq, 0) for seq in (0, 1, 2, 5, 5, 3, 6, 9)]
    assert [o.lost for o in seen] == [0, 0, 0, 2, 0, 0, 0, 2]
    assert tracker.state("s", "g").lost_messages == 4
    assert seen[3].status is not None and seen[3].status.fields["lost_messages"] == 2
    assert seen[4].status is None  # nothing changed, nothing written


def test_a_reboot_restarts_seq_and_counts_the_missed_start() -> None:
    tracker = GatewayTracker()
    tracker.observe("s", "g", 1, 10, 0)
    reboot = tracker.observe("s", "g", 2, 3, 0)  # seq 0..2 of boot 2 never came
    assert (reboot.rebooted, reboot.lost) == (True, 3)
    late = tracker.observe("s", "g", 1, 11, 0)  # a straggler of boot 1
    assert (late.rebooted, late.lost) == (False, 0)
    assert tracker.observe("s", "g", 2, 4, 0).lost == 0


def test_a_state_message_announces_the_new_boot() -> None:
    tracker = GatewayTracker()
    tracker.observe("s", "g", 1, 7, 0)
    seen = tracker.set_online("s", "g", True, 2, 100)
    assert seen.rebooted and seen.status is not None
    assert seen.status.fields == {"online": True, "lost_messages": 0}
    assert tracker.observe("s", "g", 2, 0, 0).lost == 0
    offline = tracker.set_online("s", "g", False, 2, 200).status
    assert offline is not None and offline.fields["online"] is False


def test_the_count_carries_over_from_the_store() -> None:
    tracker = GatewayTracker()
    tracker.seed("s", "g", lost_messages=40, online=False)
    back = tracker.observe("s", "g", 1, 0, 0).status  # telemetry: it is delivering
    assert back is not None and back.fields == {"online": True, "lost_messages": 40}
    status = tracker.observe("s", "g", 1, 3, 0).status
    assert status is not None and status.fields == {"online": True, "lost_messages": 42}


def test_a_silent_gateway_is_offline_in_the_status_series_as_for_the_alarm() -> None:
    tracker = GatewayTracker({("s", "g"): 10.0, ("s", "quiet"): 30.0})
    assert tracker.silence(1_000) == []  # the start: silence is measured from here
    tracker.observe("s", "g", 1, 0, 5_000)
    assert tracker.silence(14_999) == []
    down = tracker.silence(15_000)
    assert [(p.tags["gateway"], p.fields["online"], p.ts_ms) for p in down] == [
        ("g", False, 15_000)]
    assert tracker.silence(16_000) == []  # once, not every second
    back = tracker.observe("s", "g", 1, 1, 17_000).status
    assert back is not None and back.fields["online"] is True
    tracker.observe("s", "g", 1, 2, 30_000)
    never = tracker.silence(31_000)  # never heard since the start: after its own delay
    assert [(p.tags["gateway"], p.fields["online"]) for p in never] == [("quiet", False)]
    will = tracker.set_online("s", "g", False, 1, 18_000).status
    assert will is not None and will.fields["online"] is False
    assert [p.tags["gateway"] for p in tracker.silence(40_000)] == []  # already offline


# -- batching -------------------------------------------------------------------------------


def test_a_batch_is_sealed_when_full_and_taken_in_order() -> None:
    batcher = Batcher(max_items=3, flush_interval_s=60)
    for i in range(7):
        batcher.add(Outcome(readings=[reading(ts_ms=i)]), token=i + 1, payload_bytes=10)
    first, second = batcher.take(0), batcher.take(0)
    assert first is not None and second is not None
    assert [r.ts_ms for r in first.readings] == [0, 1, 2] and first.tokens == [1, 2, 3]
    assert [r.ts_ms for r in second.readings] == [3, 4, 5]
    assert batcher.take(0) is None  # the open batch is young
    batcher.close()
    last = batcher.take(0)
    assert last is not None and last.tokens == [7]


def test_an_open_batch_is_taken_once_it_is_old_enough() -> None:
    batcher = Batcher(flush_interval_s=0.05)
    batcher.add(Outcome(readings=[reading()]), token=1, payload_bytes=10)
    started = time.monotonic()
    taken = batcher.take(1.0)
    assert taken is not None and taken.tokens == [1]
    assert 0.03 < time.monotonic() - started < 0.5


def test_the_network_thread_waits_when_the_writer_is_behind() -> None:
    batcher = Batcher(max_items=1, max_sealed=2, flush_interval_s=60)
    added: list[int] = []

    def produce() -> None:
        for i in range(5):
            batcher.add(Outcome(readings=[reading(ts_ms=i)]), token=i + 1, payload_bytes=1)
            added.append(i)

    thread = threading.Thread(target=produce)
    thread.start()
    time.sleep(0.2)
    assert len(added) == 2  # the third batch waits for room
    taken = [batcher.take(1.0) for _ in range(5)]
    thread.join(2)
    assert [b.tokens for b in taken if b] == [[1], [2], [3], [4], [5]]


def test_a_batch_keeps_the_link_tokens_as_they_are_and_none_for_nothing_to_ack() -> None:
    batcher = Batcher()
    first, second = object(), ("connection 2", 6)  # opaque: whatever the link hands out
    batcher.add(Outcome(readings=[reading()]), token=first, payload_bytes=1)
    batcher.add(Outcome(readings=[reading(ts_ms=1)]), token=None, payload_bytes=1)  # QoS 0
    batcher.add(Outcome(readings=[reading(ts_ms=2)]), token=second, payload_bytes=1)
    batcher.close()
    taken = batcher.take(0)
    assert taken is not None and taken.tokens == [first, second]
    assert taken.tokens[0] is first and taken.messages == len(taken.readings) == 3


# -- the pipeline ---------------------------------------------------------------------------


@pytest.fixture
def pipeline() -> Pipeline:
    return Pipeline(small_registry("s1"))


def test_telemetry_gives_readings_and_one_letter_per_bad_reading(pipeline: Pipeline) -> None:
    payload = batch(
        1,
        0,
        [
            {"sensor": "GT-000", "ts_ms": T_BASE_MS, "value": 1.5},
            {"sensor": "NOPE", "ts_ms": T_BASE_MS, "value": 1.5},
            {"sensor": "ESD-0", "ts_ms": T_BASE_MS, "state": "tripped"},
        ],
    )
    out = pipeline.handle(telemetry("s1", "gw0"), payload, T_BASE_MS)
    assert [r.sensor for r in out.readings] == ["GT-000", "ESD-0"]
    (letter,) = out.dead
    assert (letter.reason, letter.index) == ("unknown_sensor", 1)
    assert orjson.loads(letter.payload)["sensor"] == "NOPE"


def test_a_whole_bad_message_is_one_letter_with_its_payload_cut(pipeline: Pipeline) -> None:
    payload = b"x" * (2 * 1024 * 1024)
    out = pipeline.handle(telemetry("s1", "gw0"), payload, 0)
    (letter,) = out.dead
    assert letter.reason == "too_large" and letter.index is None
    assert len(letter.payload) == 64 * 1024 and letter.payload_bytes == len(payload)


def test_state_messages_become_gateway_status(pipeline: Pipeline) -> None:
    out = pipeline.handle(state("s1", "gw1"), b'{"online": false, "boot": 4}', 123)
    (point,) = out.points
    assert point == Point(
        "gateway_status",
        {"site": "s1", "gateway": "gw1"},
        {"online": False, "lost_messages": 0},
        123,
    )
    bad = pipeline.handle(state("s1", "gw1"), b'{"online": "yes"}', 0)
    assert [d.reason for d in bad.dead] == ["bad_shape"]
    assert pipeline.handle(state("s1", "gw1"), b"", 0) == Outcome()  # a retained clear
    unknown = pipeline.handle(state("s1", "gw9"), b'{"online": true}', 0)
    assert [d.reason for d in unknown.dead] == ["unknown_gateway"]


def test_topics_outside_the_contract_are_dead_letters(pipeline: Pipeline) -> None:
    for topic in ("hazmon/v1/s1/gw0/other", "hazmon/v2/s1/gw0/telemetry", "elsewhere"):
        (letter,) = pipeline.handle(topic, b"{}", 0).dead
        assert letter.reason == "bad_topic" and letter.topic == topic


# -- the writer -----------------------------------------------------------------------------


class Harness:
    def __init__(self, tmp_path: Path) -> None:
        self.store = MemoryStore()
        self.spool = Spool(tmp_path / "spool")
        self.dead = DeadLetters(tmp_path / "dead.sqlite")
        self.batcher = Batcher(flush_interval_s=0.01)
        self.acked: list[list[object]] = []
        self.writer = Writer(
            store=self.store,
            spool=self.spool,
            dead_letters=self.dead,
            batcher=self.batcher,
            metrics=IngestMetrics(),
            ack=lambda b: self.acked.append(list(b.tokens)),
        )

    def batch(self, token: int, ts_ms: int) -> Batch:
        return Batch(readings=[reading(ts_ms=ts_ms)], tokens=[token], messages=1)

    def close(self) -> None:
        self.spool.close()
        self.dead.close()


@pytest.fixture
def harness(tmp_path: Path) -> Iterator[Harness]:
    h = Harness(tmp_path)
    yield h
    h.close()


def test_a_batch_is_acknowledged_once_written(harness: Harness) -> None:
    harness.writer.persist(harness.batch(1, 0))
    assert harness.store.count_readings() == 1 and harness.acked == [[1]]


def test_an_outage_is_spooled_acknowledged_and_replayed_in_order(harness: Harness) -> None:
    harness.store.available = False
    for i in range(3):
        harness.writer.persist(harness.batch(i + 1, i))
    assert harness.acked == [[1], [2], [3]]  # durable in the spool
    assert harness.spool.depth == 3 and harness.store.count_readings() == 0
    harness.store.available = True
    harness.writer.persist(harness.batch(4, 3))  # goes behind the spooled ones
    assert harness.spool.depth == 4
    harness.writer._retry_at = 0.0
    while harness.spool.depth:
        harness.writer.replay_one()
    assert harness.store.count_readings() == 4
    assert (
        harness.writer.metrics.registry.get_sample_value("hazmon_ingest_replayed_batches_total")
        == 4
    )


def test_a_full_spool_acknowledges_nothing_more(harness: Harness, tmp_path: Path) -> None:
    harness.spool.close()
    harness.spool = harness.writer.spool = Spool(tmp_path / "small", max_bytes=300)
    harness.store.available = False
    harness.writer.stop.set()  # when full and stopping: give up rather than wait
    for i in range(5):
        harness.writer.persist(harness.batch(i + 1, i))
    assert 0 < len(harness.acked) < 5
    assert harness.acked == [[i + 1] for i in range(len(harness.acked))]


def test_lines_the_store_refuses_become_dead_letters(harness: Harness) -> None:
    def refuse(_blob: bytes) -> None:
        raise StoreRejected([Refused("reading,sensor=X value=1 1", "field type conflict")])

    harness.store.write_packed = refuse  # type: ignore[method-assign]
    harness.writer.persist(harness.batch(1, 0))
    (letter,) = harness.dead.recent()
    assert (letter.reason, letter.detail) == ("store_rejected", "field type conflict")
    assert harness.acked == [[1]]


def test_dead_letters_are_bounded(tmp_path: Path) -> None:
    dead = DeadLetters(tmp_path / "d.sqlite", max_rows=10)
    letters = [DeadLetter("t", "not_json", "x", b"p%d" % i, i) for i in range(25)]
    assert dead.add(letters) == 15
    assert dead.count() == 10 and dead.evicted == 15
    assert [d.payload for d in dead.recent(3)] == [b"p24", b"p23", b"p22"]
    dead.close()


# -- the service's acknowledgements ---------------------------------------------------------


class AckRecorder:
    """What ingest uses of its link once connected: ack and close."""

    connected = True

    def __init__(self) -> None:
        self.acked: list[list[object]] = []

    def ack(self, items: Sequence[Inbound]) -> None:
        self.acked.append([item.token for item in items])

    def close(self) -> None:
        pass


def test_a_durable_batch_is_acknowledged_by_the_tokens_its_messages_came_with(
    tmp_path: Path,
) -> None:
    store = MemoryStore()
    service = IngestService(
        registry=small_registry("s1"), broker=parse_broker_url("mqtt://127.0.0.1:1"),
        settings=Settings(), store=store, data_dir=tmp_path, client_id="units",
    )
    link = AckRecorder()
    service.link = link  # type: ignore[assignment]
    writer_thread = service._open()
    topic = telemetry("s1", "gw0")
    first, retained, second = object(), object(), object()
    reading_ = {"sensor": "GT-000", "ts_ms": T_BASE_MS, "value": 1.5}
    service._consume([
        Inbound(topic, batch(1, 0, [reading_]), first),
        Inbound(topic, b"not json", None),  # QoS 0: dead-lettered, nothing to acknowledge
        Inbound(topic, batch(1, 0, [reading_]), retained, True),  # ignored, acknowledged
        Inbound(topic, batch(1, 1, [{**reading_, "ts_ms": T_BASE_MS + 1}]), second),
    ])
    service._close(writer_thread)  # makes durable and acknowledges what it holds
    assert link.acked == [[first, retained, second]]
    assert store.count_readings() == 2
    sample = service.metrics_registry.get_sample_value
    assert sample("hazmon_ingest_dead_letters_total") == 1
    assert sample("hazmon_ingest_messages_acked_total") == 3
