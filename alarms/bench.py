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
from hazmon.alarms.sqlite_desk import AlarmDesk
from hazmon.contract.config import load_registry
from hazmon.contract.registry import Registry
from hazmon.contract.wire import Decoder
from hazmon.stores.memory import MemoryStore


def _messages(
    registry: Registry, count: int, start_ms: int, seed: int
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
                low, high = sensor.range or (0.0, 100.0)
                value = low + (high - low) * (0.9 if rng.random() < 0.02 else rng.random() * 0.2)
                readings.append({"sensor": sensor.id, "ts_ms": ts_ms, "value": round(value, 2)})
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
                        readings=d.readings, now_ms=start_ms)
        if i % batch == batch - 1:
            engine.take_dirty()
    return time.perf_counter() - began


def bench_desk(registry: Registry, messages: list[tuple[str, bytes]], batch: int) -> float:
    with tempfile.TemporaryDirectory() as tmp:
        desk = AlarmDesk(registry=registry, data_dir=Path(tmp), store=MemoryStore(),
                         clock=lambda: 1_764_385_200_000)
        began = time.perf_counter()
        for i in range(0, len(messages), batch):
            desk.receive(messages[i : i + batch])
        elapsed = time.perf_counter() - began
        desk.close()
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=2_000)
    parser.add_argument("--batch", type=int, default=100, help="messages per commit")
    args = parser.parse_args()
    plant = resources.files("hazmon") / "demo" / "plant.yaml"
    with resources.as_file(plant) as path:
        registry = load_registry(path)
    start_ms = 1_764_385_200_000
    messages = _messages(registry, args.messages, start_ms, seed=7)
    readings = _count(messages)
    engine_s = bench_engine(registry, messages, start_ms, args.batch)
    desk_s = bench_desk(registry, messages, args.batch)
    print(f"{len(messages)} messages, {readings} readings")
    print(f"engine alone (decoded):          {readings / engine_s:12,.0f} readings/s")
    print(f"decode + engine + SQLite commit: {readings / desk_s:12,.0f} readings/s "
          f"({args.batch} messages per commit)")


if __name__ == "__main__":
    main()
