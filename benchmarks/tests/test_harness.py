"""The end-to-end benchmark's own parts: the load is valid telemetry, the Node-RED
function maps a batch as hazmon stores it, the latency matcher joins the right events."""

from __future__ import annotations

import json
import math
import shutil
import subprocess
from typing import Any

import orjson
import pytest

from benchmarks.e2e.latency import match, percentile
from benchmarks.e2e.load import PublisherSpec, Segment, _AlarmBound, _Gateway
from benchmarks.e2e.nodered import FLOW_JSON
from benchmarks.e2e.phases import STORAGE_ONLY, PhaseResult
from benchmarks.e2e.plant import ABOVE, BELOW, PROBE_SITE, Plant
from benchmarks.e2e.report import throughput_table
from hazmon.contract.config import parse_registry
from hazmon.contract.wire import Decoder

NOW_MS = 1_764_385_200_000
PLANT = Plant(4, 10, gateways_per_site=2)
SITE = PLANT.site_id(0)


def _spec(per_message: int, crosser_every: int = 10) -> PublisherSpec:
    return PublisherSpec(
        index=0, host="127.0.0.1", port=1, plant=PLANT, gateways=(0, 1, 2, 3),
        per_message=per_message, crosser_every=crosser_every,
        segments=(Segment(1.0, None),), boot=3, seqs={1: 41}, last_ts_ms={},
    )


def test_plant_registry_is_valid() -> None:
    registry = parse_registry(PLANT.registry_yaml())
    assert [s.id for s in registry.sites] == ["bench-001", "bench-002", PROBE_SITE]
    sensors = sum(len(g.sensors) for s in registry.sites for g in s.gateways)
    assert sensors == PLANT.sensors + 1  # + probe
    assert set(PLANT.sensor_kinds()) == {
        f"{s.id}/{sensor.id}" for s in registry.sites for g in s.gateways for sensor in g.sensors
    }


@pytest.mark.parametrize("per_message", [1, 10])
def test_load_messages_decode_without_rejections(per_message: int) -> None:
    decoder = Decoder(parse_registry(PLANT.registry_yaml()))
    gw = _Gateway(_spec(per_message), 1)
    crossings: list[tuple[str, str, int, int]] = []
    seen: set[tuple[str, int]] = set()
    for k in range(25):
        payload = gw.message(per_message, NOW_MS, crossings)
        doc = orjson.loads(payload)
        assert doc["boot"] == 3
        assert doc["seq"] == 41 + k
        out = decoder.decode(PLANT.site_id(1), PLANT.gateway_id(1), payload, now_ms=NOW_MS)
        assert not out.rejections
        assert len(out.readings) == per_message
        for r in out.readings:
            assert (r.sensor, r.ts_ms) not in seen  # one point per series and timestamp
            seen.add((r.sensor, r.ts_ms))


def test_crossers_alternate_and_every_raise_is_recorded() -> None:
    gw = _Gateway(_spec(10, crosser_every=3), 2)
    crossings: list[tuple[str, str, int, int]] = []
    values: dict[str, list[float]] = {}
    for _ in range(4):
        doc = orjson.loads(gw.message(10, NOW_MS, crossings))
        for r in doc["readings"]:
            values.setdefault(r["sensor"], []).append(r["value"])
    crossers = {s for s, v in values.items() if ABOVE in v}
    assert crossers == {PLANT.sensor_id(2, s) for s in range(10) if (2 + s) % 3 == 0}
    for sensor in crossers:
        assert values[sensor] == [BELOW, ABOVE, BELOW, ABOVE]
    assert len(crossings) == 2 * len(crossers)
    assert {c[0] for c in crossings} == {PLANT.site_id(2)}
    assert all(max(v) < 23 for s, v in values.items() if s not in crossers)


def test_latency_matches_on_site_sensor_and_reading_time() -> None:
    raised = {(SITE, "A", 1000): 5_000_000, (SITE, "B", 2000): 9_000_000}
    crossings = [
        (SITE, "A", 1000, 1_000_000), (SITE, "B", 2000, 8_000_000), (SITE, "C", 3000, 0),
        ("other-site", "A", 1000, 0),
    ]
    stats = match(raised, crossings)
    assert stats.samples == 2
    assert stats.missing == 2
    assert stats.p50_ms == pytest.approx(1.0)
    assert stats.max_ms == pytest.approx(4.0)


def test_percentile_is_nearest_rank() -> None:
    values = [float(v) for v in range(1, 1001)]
    assert percentile(values, 50) == 500.0
    assert percentile(values, 99) == 990.0
    assert percentile(values, 99.9) == 999.0
    assert math.isnan(percentile([], 50))


NODE_RUNNER = r"""
const vm = require("vm");
const [code, msg, kinds] = JSON.parse(require("fs").readFileSync(0, "utf8"));
const sandbox = { msg, global: { get: (k) => (k === "sensorKinds" ? kinds : undefined) } };
const out = vm.runInNewContext("(function(){" + code + "\n})()", sandbox);
process.stdout.write(JSON.stringify(out));
"""


@pytest.mark.skipif(shutil.which("node") is None, reason="Node.js not installed")
def test_nodered_function_maps_a_batch_as_hazmon_stores_it() -> None:
    flow = json.loads(FLOW_JSON.read_text())
    (func,) = [n for n in flow if n["type"] == "function"]
    msg = {
        "topic": f"hazmon/v1/{SITE}/gw-0001/telemetry",
        "payload": {
            "boot": 1, "seq": 0, "sent_ms": NOW_MS,
            "readings": [
                {"sensor": "GT-0001-000", "ts_ms": NOW_MS, "value": 12.5},
                {"sensor": "ESD-01", "ts_ms": NOW_MS + 1, "state": "tripped", "quality": "bad"},
            ],
        },
    }
    kinds = {f"{SITE}/GT-0001-000": "combustible_gas", f"{SITE}/ESD-01": "interlock"}
    result = subprocess.run(
        ["node", "-e", NODE_RUNNER],
        input=json.dumps([func["func"], msg, kinds]),
        capture_output=True, text=True, check=True, timeout=30,
    )
    points = json.loads(result.stdout)["payload"]
    assert points == [
        {"measurement": "reading",
         "tags": {"site": SITE, "gateway": "gw-0001", "sensor": "GT-0001-000",
                  "kind": "combustible_gas", "quality": "good"},
         "fields": {"value": 12.5}, "timestamp": NOW_MS},
        {"measurement": "reading",
         "tags": {"site": SITE, "gateway": "gw-0001", "sensor": "ESD-01",
                  "kind": "interlock", "quality": "bad"},
         "fields": {"state": "tripped"}, "timestamp": NOW_MS + 1},
    ]


def test_nodered_flow_is_wired_to_the_benchmark_addresses() -> None:
    flow = {n["type"]: n for n in json.loads(FLOW_JSON.read_text())}
    assert flow["mqtt in"]["topic"] == "hazmon/v1/+/+/telemetry"
    assert flow["mqtt in"]["qos"] == "1"
    assert flow["mqtt-broker"]["broker"] == "${BENCH_MQTT_HOST}"
    assert flow["influxdb"]["database"] == "${BENCH_INFLUX_DB}"
    assert flow["influxdb batch"]["precision"] == "ms"


def test_alarm_bound_holds_a_publisher_to_what_the_alarm_events_show() -> None:
    bound = _AlarmBound(window=100)
    bound.mark(1000, 50)
    bound.mark(1005, 120)
    bound.mark(1010, 180)
    assert bound.allows(99, front_ms=0)
    assert not bound.allows(100, front_ms=0)  # nothing evaluated yet: one window ahead
    assert bound.allows(219, front_ms=1005)  # evaluated up to the 120th reading
    assert not bound.allows(220, front_ms=1005)
    assert bound.allows(279, front_ms=1012)


def test_burst_catch_up_is_when_writing_falls_back_to_the_live_rate() -> None:
    from benchmarks.e2e.phases import Burst, PhaseResult, Sample, _catch_up

    burst = Burst(warmup_s=10.0, burst_s=10.0, target_per_s=200.0)
    result = PhaseResult("x", "50/msg", "burst", 50, published=6000, stored=6000, burst=burst)
    history = []
    written = 0
    for t in range(0, 60):
        published = 100 * t + (100 * min(max(t - 10, 0), 10))  # 200/s during 10..20 s
        written = min(published, written + 150)  # stores 150/s at most
        front = 1_000 * t - (3_000 if 20 <= t < 30 else 0)  # alarms 3 s behind till 30 s
        history.append(Sample(float(t), 1_000 * t, published, written, front))
    _catch_up(result, history, 0.0, base_per_s=100.0, alarms=True)
    assert burst.reached_per_s == pytest.approx(200.0)
    assert burst.catch_up_s is not None and 5 <= burst.catch_up_s <= 25
    assert burst.alarms_catch_up_s == pytest.approx(10.0)


def test_the_ratio_table_has_the_storing_only_columns_only_when_that_phase_ran() -> None:
    def phase(system: str, name: str, stored: int) -> PhaseResult:
        return PhaseResult(system, "50/msg", name, 50, published=stored, stored=stored,
                           stored_s=1.0)  # fmt: skip

    both = [phase("hazmon", "flat out", 120_000), phase("node-red", "flat out", 60_000)]
    table = throughput_table(both).splitlines()
    assert table[0].count("|") == table[1].count("|") == table[2].count("|") == 7
    assert "**2.0x**" in table[2] and "alarms may lag" not in table[0]
    with_storing = throughput_table([*both, phase("hazmon", STORAGE_ONLY, 150_000)])
    rows = with_storing.splitlines()
    assert rows[0].count("|") == rows[1].count("|") == rows[2].count("|") == 9
    assert rows[2].endswith("| 150,000 | 2.5x |")


def test_ownership_follows_the_last_taker_until_it_logs_the_loss() -> None:
    from benchmarks.e2e.jetstream import ownership, takeovers

    w1 = "\n".join([
        "2026-12-06 06:51:42,827 INFO hazmon.alarms.workers: worker w1 took partition 0 in 15 ms",
        "2026-12-06 06:51:42,900 INFO hazmon.alarms.workers: worker w1 took partition 1 in 9 ms",
        "2026-12-06 06:51:53,018 WARNING hazmon.alarms.workers: worker w1 lost partition 1",
    ])
    w2 = "\n".join([
        "2026-12-06 06:51:40,000 INFO hazmon.alarms.workers: alarm worker w2 pulling 2 partitions",
        "2026-12-06 06:51:52,801 INFO hazmon.alarms.workers: worker w2 took partition 1 in 693 ms",
    ])
    # w2 took partition 1 before w1 noticed; w1's loss does not take it from w2
    assert ownership({"w1": w1, "w2": w2}) == {"w1": [0], "w2": [1]}
    assert ownership({"w1": w1, "w2": ""}) == {"w1": [0], "w2": []}
    handed = w1 + ("\n2026-12-06 06:51:55,100 INFO hazmon.alarms.workers: worker w1 handed "
                   "partition 0 over at 12 (it owns 0, a fair share is 1)")
    assert ownership({"w1": handed, "w2": w2}) == {"w1": [], "w2": [1]}
    (took,) = takeovers(w2, "w2")
    assert took[1:] == (1, 693.0)
    assert took[0] - takeovers(w1, "w1")[0][0] == pytest.approx(9.974, abs=1e-3)


def test_stream_watch_reads_the_backlog_and_the_redeliveries() -> None:
    from benchmarks.e2e.jetstream import StreamWatch

    body: dict[str, Any] = {"account_details": [{"name": "$G", "stream_detail": [
        {"name": "HAZMON_PARTS", "state": {"messages": 9, "bytes": 99}},
        {"name": "HAZMON_IN", "state": {"messages": 120, "bytes": 360_000, "last_seq": 1000},
         "consumer_detail": [
             {"name": "ingest", "delivered": {"consumer_seq": 1004, "stream_seq": 1000}},
             {"name": "alarms-p0", "delivered": {"consumer_seq": 700, "stream_seq": 999}},
             {"name": "alarms-p1", "delivered": {"consumer_seq": 310, "stream_seq": 1000}},
         ]},
    ]}]}

    class Fake:
        def get(self, url: str, params: dict[str, str]) -> object:
            class Response:
                def json(self) -> dict[str, Any]:
                    return body
            return Response()

    watch = StreamWatch.__new__(StreamWatch)
    watch.url, watch.stream, watch._http = "x", "HAZMON_IN", Fake()  # type: ignore[assignment]
    assert watch.poll(consumers=True) == (120, 360_000, {"ingest": 4, "alarms": 10})


def test_the_slowest_workers_front_holds_the_load() -> None:
    from benchmarks.e2e.latency import AlarmListener

    listener = AlarmListener("127.0.0.1", 1)
    for site, ts in (("a", 100), ("b", 300), ("c", 200)):
        message = type("M", (), {"payload": orjson.dumps(
            {"event": "raised", "site": site, "sensor": "S", "ts_ms": ts})})()
        listener._on_message(None, None, message)
    listener._on_message(None, None, message)  # the same reading raised again
    assert listener.front_ts_ms == 300
    assert listener.front_of([{"a", "b"}, {"c"}]) == 200
    assert listener.front_of([{"a"}, {"d"}]) == 0  # a worker whose events have not come
    assert listener.duplicates == 1
    assert listener.count_raised([("a", "S", 100), ("c", "S", 201)]) == 1


def test_crossing_sites_are_those_the_load_makes_cross() -> None:
    plant = Plant(200, 50)
    sites = plant.crossing_sites(100)
    spec = PublisherSpec(
        index=0, host="127.0.0.1", port=1, plant=plant, gateways=tuple(range(200)),
        per_message=50, crosser_every=100, segments=(Segment(1.0, None),), boot=1,
        seqs={}, last_ts_ms={},
    )
    crossing = {plant.site_id(g) for g in range(200) if any(_Gateway(spec, g).crosser)}
    assert sites == crossing
    assert "bench-002" not in sites and "bench-006" in sites


def test_the_takeover_report_gives_each_figure_over_the_kills() -> None:
    from benchmarks.takeover_bench import Bench, Kill, Options, report

    bench = Bench(Options(kills=3))
    for i, (first, last) in enumerate(((5100.0, 5300.0), (5000.0, 5900.0), (5200.0, 5400.0))):
        bench.kills.append(Kill(i, "w1", "w2", [0, 1], 0.0, {0: first, 1: last},
                                {0: 40.0, 1: 60.0}, 0.5))
    summary = bench.summary()
    assert summary["kill_to_last_partition_ms"] == {"n": 3, "p50": 5400.0, "p99": 5900.0,
                                                    "max": 5900.0}
    assert summary["kill_to_each_partition_ms"]["n"] == 6
    doc = {"summary": summary, "alarms": {"crossings": 10, "missing": 0, "duplicate_raised": 0},
           "changelog": {"records": 5, "bytes": 500}}
    assert "| the survivor's last \"took partition\" | 3 | 5,400 | 5,900 | 5,900 |" in report(doc)
