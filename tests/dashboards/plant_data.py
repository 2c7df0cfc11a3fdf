"""Half an hour of a healthy plant, as the services would store it (docs/contract.md §5).

Readings for every sensor of a registry, the alarm service's series
(`alarm_event`, `site_risk`, `gateway_status`) and the ingest service's `ingest_stats`
(docs/dashboards.md), all as InfluxDB line protocol ending at `now_ms`.

The readings come from the plant simulator (its `demo` scenario), decoded by the
wire decoder and encoded by the same line-protocol encoder as ingest uses.
"""

from __future__ import annotations

import math
from collections.abc import Iterator

from hazmon.contract.kinds import Kind
from hazmon.contract.lineproto import FieldValue, ReadingEncoder, line
from hazmon.contract.registry import GRADE_LEVEL, Registry, Site
from hazmon.contract.wire import Decoder
from hazmon.simulators.plant import PlantSimulator

SPAN_MS = 30 * 60 * 1000
READING_EVERY_MS = 15_000
STATUS_EVERY_MS = 60_000
STATS_EVERY_MS = 10_000
INGEST_INSTANCES = ("ingest-1", "ingest-2")
REJECT_REASONS = ("unknown_sensor", "bad_shape")


def readings(registry: Registry, now_ms: int) -> Iterator[str]:
    """The demo scenario of the plant simulator over the span, every 15 s, as stored.

    Each simulated telemetry batch goes through the same decoder as ingest, so the
    rows are what the platform would keep (over-range flags included).
    """
    start_ms = now_ms - SPAN_MS
    simulator = PlantSimulator(
        registry, seed=7, scenario="demo", start_ms=start_ms, clock=lambda: start_ms
    )
    decoder = Decoder(registry)
    encoder = ReadingEncoder()
    for t_ms in range(start_ms, now_ms + 1, READING_EVERY_MS):
        for site, gateway, batch in simulator.telemetry(t_ms):
            if batch is None:
                continue  # a gateway without power sends nothing
            payload = batch.model_dump_json(exclude_none=True).encode()
            decoded = decoder.decode(site, gateway, payload, now_ms=now_ms)
            assert not decoded.rejections, decoded.rejections
            for reading in decoded.readings:
                yield encoder.encode(reading)


def alarm_events(site: Site, now_ms: int) -> Iterator[str]:
    """One ended occurrence (raised, acked, cleared, reset) and one still unacknowledged."""
    sensor = next(x for g in site.gateways for x in g.sensors if x.kind is not Kind.interlock)
    ended = f"{site.id}/{sensor.id}/high#1"
    active = f"{site.id}/{sensor.id}/high_high#1"
    steps = [
        (ended, "high", "high", "raised", "unack", 20 * 60_000, None),
        (ended, "high", "high", "acked", "acked", 19 * 60_000, "checked on site"),
        (ended, "high", "high", "shelved", "shelved", 18 * 60_000, "bump test"),
        (ended, "high", "high", "unshelved", "acked", 17 * 60_000, None),
        (ended, "high", "high", "cleared", "normal", 15 * 60_000, None),
        (active, "high_high", "critical", "raised", "unack", 5 * 60_000, None),
    ]
    for alarm_id, condition, priority, event, state, ago_ms, note in steps:
        tags = {
            "site": site.id,
            "sensor": sensor.id,
            "condition": condition,
            "priority": priority,
            "event": event,
        }
        fields: dict[str, FieldValue | None] = {
            "alarm_id": alarm_id, "state": state, "value": 30.0, "user": None, "note": note,
        }  # fmt: skip
        if event in ("acked", "shelved"):
            fields["user"] = "zhang.wei"
        yield line("alarm_event", tags, fields, now_ms - ago_ms)


def site_risk(site: Site, now_ms: int) -> Iterator[str]:
    location = {"lat": site.location.lat, "lon": site.location.lon}
    for ago_ms, grade in ((25 * 60_000, site.baseline_risk), (5 * 60_000, "red")):
        fields = {"grade": grade, "level": GRADE_LEVEL[grade], **location}
        yield line("site_risk", {"site": site.id}, fields, now_ms - ago_ms)


def gateway_status(site: Site, now_ms: int) -> Iterator[str]:
    for number, gateway in enumerate(site.gateways):
        for i, t_ms in enumerate(range(now_ms - SPAN_MS, now_ms + 1, STATUS_EVERY_MS)):
            online = not (number == 0 and t_ms > now_ms - 3 * 60_000)
            fields = {"online": online, "lost_messages": i // 3}
            yield line("gateway_status", {"site": site.id, "gateway": gateway.id}, fields, t_ms)


def ingest_stats(now_ms: int) -> Iterator[str]:
    for number, instance in enumerate(INGEST_INSTANCES):
        for i, t_ms in enumerate(range(now_ms - SPAN_MS, now_ms + 1, STATS_EVERY_MS)):
            fields = {
                "readings_in": i * 1_770 * (number + 1),
                "spool_depth": max(0, 40 - i) if number else 0,
                "write_latency_ms": 4.0 + 3.0 * math.sin(i / 7),
            }
            yield line("ingest_stats", {"instance": instance}, fields, t_ms)
            for reason in REJECT_REASONS:
                tags = {"instance": instance, "reason": reason}
                yield line("ingest_stats", tags, {"rejected": i // 4}, t_ms)


def plant_lines(registry: Registry, now_ms: int) -> Iterator[str]:
    yield from readings(registry, now_ms)
    for site in registry.sites:
        yield from alarm_events(site, now_ms)
        yield from site_risk(site, now_ms)
        yield from gateway_status(site, now_ms)
    yield from ingest_stats(now_ms)
