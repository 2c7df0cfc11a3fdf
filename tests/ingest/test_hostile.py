"""Hostile payloads interleaved with good ones, against a real Mosquitto and InfluxDB.

Hypothesis builds messages from parts whose fate is known by construction: good
readings (each with a (sensor, ts_ms) of its own), bad readings (one of the ways of
docs/contract.md §3), whole messages that are not a batch. After each example, once ingest
has acknowledged every message: the store holds exactly the good readings so far,
the dead-letter store exactly one letter per bad reading or message, each with a
reason, and the connection never dropped.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hazmon.contract.settings import InfluxAddress, Settings, parse_broker_url
from hazmon.contract.topics import telemetry
from hazmon.contract.wire import Reason
from hazmon.ingest.service import IngestService, IngestTuning
from hazmon.stores.influx import InfluxStore
from hazmon.testing.servers import InfluxDB, Mosquitto
from tests.ingest.helpers import T_BASE_MS, Publisher, running, sample, small_registry, wait_until

pytestmark = pytest.mark.integration

ANALOG = [f"GT-0{s:02d}" for s in range(10)]
INTERLOCK = "ESD-0"
STATES = ["normal", "tripped", "bypassed", "fault"]
QUALITIES = ["good", "bad", "uncertain", "maintenance"]
TS = -1  # placeholder, replaced by a fresh timestamp when the payload is built

# -- readings -------------------------------------------------------------------------------

numbers = st.one_of(
    st.floats(allow_nan=False, allow_infinity=False, width=64), st.integers(-(10**6), 10**6)
)
good_analog = st.fixed_dictionaries(
    {"sensor": st.sampled_from(ANALOG), "ts_ms": st.just(TS), "value": numbers},
    optional={"quality": st.sampled_from(QUALITIES)},
)
good_interlock = st.fixed_dictionaries(
    {"sensor": st.just(INTERLOCK), "ts_ms": st.just(TS), "state": st.sampled_from(STATES)}
)
junk = st.one_of(
    st.none(), st.booleans(), st.text(max_size=10), st.lists(st.integers(), max_size=3)
)
base = {"sensor": ANALOG[0], "ts_ms": T_BASE_MS, "value": 1.0}
bad_reading = st.one_of(
    st.builds(lambda s: {**base, "sensor": f"NOPE-{s}"}, st.text(max_size=8)),
    st.builds(lambda v: {**base, "value": v}, junk),
    st.just({**base, "sensor": INTERLOCK}),  # value on an interlock
    st.just({**base, "state": "tripped"}),  # state on an analog sensor
    st.builds(lambda v: {**base, "ts_ms": v}, st.one_of(junk, st.just(-5), st.just(1.5))),
    st.just({**base, "ts_ms": 4_000_000_000_000}),  # far in the future
    st.builds(
        lambda q: {**base, "quality": q}, st.text(max_size=8).filter(lambda q: q not in QUALITIES)
    ),
    st.builds(lambda k: {**base, f"x{k}": 1}, st.text(max_size=5)),  # unknown field
    st.builds(
        lambda s: {"sensor": INTERLOCK, "ts_ms": T_BASE_MS, "state": s},
        st.text(max_size=8).filter(lambda s: s not in STATES),
    ),
    junk.filter(lambda j: not isinstance(j, dict)),  # not an object
)
reading_part = st.one_of(
    st.tuples(st.just("good"), st.one_of(good_analog, good_interlock)),
    st.tuples(st.just("bad"), bad_reading),
)

# -- whole messages ---------------------------------------------------------------------

NAN_BATCH = b'{"boot":1,"seq":1,"readings":[{"sensor":"GT-000","ts_ms":1,"value":NaN}]}'
bad_message = st.one_of(
    st.binary(max_size=200),
    st.just(NAN_BATCH),
    st.just(b'{"boot":1,"seq":2,"readings":[]}'),
    st.just(b'{"boot":-1,"seq":2,"readings":[{"sensor":"GT-000","ts_ms":1,"value":1}]}'),
    st.just(b'{"boot":1,"seq":2,"historical":"yes","readings":[1]}'),
    st.just(b'{"boot":1,"seq":2,"extra":true,"readings":[1]}'),
    st.just(b'{"boot":1,"seq":2,"readings":[' + b"1," * 5000 + b"1]}"),  # 5001 readings
    st.just(b'{"boot":1,"seq":2,"readings":[1]}' + b" " * (1024 * 1024)),  # over 1 MiB
    st.text(max_size=50).map(lambda t: orjson.dumps({"text": t})),
)
message = st.one_of(
    st.tuples(st.just("batch"), st.lists(reading_part, min_size=1, max_size=30), st.booleans()),
    st.tuples(st.just("bad"), bad_message, st.just(False)),
    st.tuples(st.just("stranger"), st.lists(reading_part, min_size=1, max_size=3), st.just(False)),
)


def dumps(doc: Any) -> bytes:
    """JSON as a gateway might write it (integers of any size included)."""
    return json.dumps(doc, allow_nan=False).encode()


class Tally:
    """What the store and the dead-letter store must hold, over every example so far."""

    def __init__(self) -> None:
        self.good = 0
        self.dead = 0
        self.published = 0
        self.next_ts_ms = T_BASE_MS

    def build(self, site: str, kind: str, body: Any, historical: bool) -> tuple[str, bytes]:
        if kind == "bad":
            self.dead += 1
            return telemetry(site, "gw0"), body
        readings = []
        for fate, raw in body:
            item = dict(raw) if isinstance(raw, dict) else raw
            if fate == "good":
                item["ts_ms"] = self.next_ts_ms
                self.next_ts_ms += 1
            readings.append(item)
        doc = {"boot": 1, "seq": self.published, "historical": historical, "readings": readings}
        if kind == "stranger":  # a gateway the registry does not know: the whole message
            self.dead += 1
            return telemetry(site, "gw-unknown"), dumps(doc)
        self.good += sum(1 for fate, _ in body if fate == "good")
        self.dead += sum(1 for fate, _ in body if fate == "bad")
        return telemetry(site, "gw0"), dumps(doc)


@pytest.fixture
def service(
    fresh_mosquitto: Mosquitto,
    influxdb: InfluxDB,
    influx_db: str,
    tmp_path: Path,
    unique_id: str,
) -> Iterator[IngestService]:
    store = InfluxStore(InfluxAddress(influxdb.url, influx_db))
    service = IngestService(
        registry=small_registry(unique_id, gateways=1),
        broker=parse_broker_url(fresh_mosquitto.url),
        settings=Settings(),
        store=store,
        data_dir=tmp_path,
        tuning=IngestTuning(flush_interval_s=0.05),
    )
    with running(service):
        yield service
    store.close()


def test_hostile_payloads_never_cost_a_good_reading(
    service: IngestService,
    fresh_mosquitto: Mosquitto,
    influxdb: InfluxDB,
    influx_db: str,
    unique_id: str,
) -> None:
    publisher = Publisher(fresh_mosquitto.host, fresh_mosquitto.port)
    tally = Tally()
    reasons = {r.value for r in Reason}
    assert service.dead_letters is not None and service.link is not None

    @settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck))
    @given(st.lists(message, min_size=1, max_size=12))
    def check(messages: list[tuple[str, Any, bool]]) -> None:
        for kind, body, historical in messages:
            topic, payload = tally.build(unique_id, kind, body, historical)
            publisher.publish(topic, payload)
            tally.published += 1
        publisher.wait()
        wait_until(
            lambda: sample(service, "hazmon_ingest_messages_acked_total") == tally.published,
            timeout_s=30,
            every_s=0.02,
            what="every message acknowledged",
        )
        assert (
            influxdb.count(influx_db, "reading", "value")
            + influxdb.count(influx_db, "reading", "state")
            == tally.good
        )
        assert service.dead_letters.count() == tally.dead

    check()
    publisher.close()
    assert tally.good > 0 and tally.dead > 0
    letters = service.dead_letters.recent(limit=100_000)
    assert letters and all(d.reason in reasons and d.detail for d in letters)
    assert all(len(d.payload) <= 64 * 1024 for d in letters)
    assert service.link.generation == 1 and service.link.connected  # never dropped
