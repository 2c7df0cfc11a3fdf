"""How fast the alarm path is (docs/development.md §8): `python -m hazmon.alarms.bench`.

Drives the bundled demo plant (177 sensors) with realistic values, a few per cent of
them crossing thresholds, and prints readings/s for the engine alone and for the whole
evaluation path of the service (decode, evaluate, one SQLite commit per batch of
messages, as `AlarmService` does).
"""

from __future__ import annotations

import argparse
import random
import tempfile
import time
from importlib import resources
from pathlib import Path

import orjson

from hazmon.alarms.core import Engine
from hazmon.alarms.core.plant import quiet_band
from hazmon.alarms.sqlite_desk import AlarmDesk
from hazmon.contract.config import load_registry
from hazmon.contract.registry import Registry, Sensor
from hazmon.contract.wire import Decoder
from hazmon.stores.memory import MemoryStore


def _value(sensor: Sensor, rng: random.Random, mix: str) -> float:
    """An analog reading: `wide`, anywhere in the lowest fifth of the range (about a
    quarter of the demo plant's sensors have a high limit there, so they go in and out
    of alarm all the time); `plant`, in the middle half of the sensor's quiet band (as a
    plant runs), both with 2 % of readings at 90 % of the range (over the high limits)."""
    low, high = sensor.range or (0.0, 100.0)
    if rng.random() < 0.02:
        return round(low + (high - low) * 0.9, 2)
    if mix == "wide":
        return round(low + (high - low) * rng.random() * 0.2, 2)
    band = quiet_band(sensor)
    assert band is not None
    bottom, top = max(band.above, band.floor, low), min(band.below, high)
    return round(bottom + (top - bottom) * (0.25 + 0.5 * rng.random()), 2)


def _messages(
    registry: Registry, count: int, start_ms: int, seed: int, mix: str = "wide"
) -> list[tuple[str, bytes]]:
    rng = random.Random(seed)
    gateways = [(s.id, g) for s in registry.sites for g in s.gateways]
    out = []
    for i in range(count):
        site, gateway = gateways[i % len(gateways)]
        ts_ms = start_ms + (i // len(gateways)) * 1_000
        readings = []
        for sensor in gateway.sensors:
            if sensor.analog:
                value = _value(sensor, rng, mix)
                readings.append({"sensor": sensor.id, "ts_ms": ts_ms, "value": value})
            else:
                state = "tripped" if rng.random() < 0.01 else "normal"
                readings.append({"sensor": sensor.id, "ts_ms": ts_ms, "state": state})
        body = {"boot": 1, "seq": i // len(gateways), "readings": readings}
        out.append((f"hazmon/v1/{site}/{gateway.id}/telemetry", orjson.dumps(body)))
    return out


def _count(messages: list[tuple[str, bytes]]) -> int:
    return sum(len(orjson.loads(p)["readings"]) for _, p in messages)


def bench_engine(
    registry: Registry, messages: list[tuple[str, bytes]], start_ms: int, batch: int
) -> float:
    decoder, engine = Decoder(registry), Engine(registry)
    engine.start(start_ms)
    decoded = []
    for topic, payload in messages:
        _, _, site, gateway, _ = topic.split("/")
        decoded.append(decoder.decode(site, gateway, payload, now_ms=start_ms + 10**9))
    began = time.perf_counter()
    for i, d in enumerate(decoded):
        assert d.boot is not None and d.seq is not None
        engine.on_batch(d.site, d.gateway, boot=d.boot, seq=d.seq, historical=False,
                        readings=d.readings, now_ms=d.readings[0].ts_ms + 200)  # 200 ms late
        if i % batch == batch - 1:
            engine.take_dirty()
    return time.perf_counter() - began


def bench_desk(registry: Registry, messages: list[tuple[str, bytes]], batch: int,
               start_ms: int) -> float:
    """The service's path; its clock 200 ms after the newest message of each batch."""
    now = [start_ms]
    per_round = sum(len(s.gateways) for s in registry.sites)
    with tempfile.TemporaryDirectory() as tmp:
        desk = AlarmDesk(registry=registry, data_dir=Path(tmp), store=MemoryStore(),
                         clock=lambda: now[0])
        began = time.perf_counter()
        for i in range(0, len(messages), batch):
            now[0] = start_ms + (min(i + batch, len(messages)) - 1) // per_round * 1_000 + 200
            desk.receive(messages[i : i + batch])
        elapsed = time.perf_counter() - began
        desk.close()
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=2_000)
    parser.add_argument("--batch", type=int, default=100, help="messages per commit")
    parser.add_argument("--mix", nargs="+", choices=["wide", "plant"], default=["wide", "plant"],
                        help="readings: wide (a quarter of the sensors in and out of alarm) "
                        "or plant (inside each sensor's quiet band); 2%% over the limits")
    parser.add_argument("--repeat", type=int, default=3, help="the best of this many runs")
    args = parser.parse_args()
    plant = resources.files("hazmon") / "demo" / "plant.yaml"
    with resources.as_file(plant) as path:
        registry = load_registry(path)
    start_ms = 1_764_385_200_000
    for mix in args.mix:
        messages = _messages(registry, args.messages, start_ms, seed=7, mix=mix)
        readings = _count(messages)
        engine_s = min(bench_engine(registry, messages, start_ms, args.batch)
                       for _ in range(args.repeat))
        desk_s = min(bench_desk(registry, messages, args.batch, start_ms)
                     for _ in range(args.repeat))
        print(f"{mix}: {len(messages)} messages, {readings} readings")
        print(f"  engine alone (decoded):          {readings / engine_s:12,.0f} readings/s")
        print(f"  decode + engine + SQLite commit: {readings / desk_s:12,.0f} readings/s "
              f"({args.batch} messages per commit)")


if __name__ == "__main__":
    main()
