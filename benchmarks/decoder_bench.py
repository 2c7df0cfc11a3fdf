"""Decoder throughput: readings/s through parse + validate (+ line-protocol encoding).

    .venv/bin/python benchmarks/decoder_bench.py [--seconds 5]

Decodes telemetry batches of the bundled demo plant, with 50 readings per message and
with 1 reading per message, and prints readings/s for decode alone, for decode plus
line-protocol encoding, and straight to line protocol in one pass (`decode_lines`:
what ingest does per reading before InfluxDB).
"""

from __future__ import annotations

import argparse
import random
import time
from pathlib import Path

import orjson

from hazmon.contract.config import load_registry
from hazmon.contract.lineproto import ReadingEncoder
from hazmon.contract.wire import Decoder

DEMO = Path(__file__).parents[1] / "hazmon" / "demo" / "plant.yaml"


def payloads(per_message: int, count: int) -> list[tuple[str, str, bytes]]:
    registry = load_registry(DEMO)
    rng = random.Random(7)
    gateways = [(s.id, g) for s in registry.sites for g in s.gateways]
    now_ms = int(time.time() * 1000)
    out = []
    for seq in range(count):
        site, gateway = gateways[seq % len(gateways)]
        readings = []
        for i in range(per_message):
            sensor = gateway.sensors[i % len(gateway.sensors)]
            ts_ms = now_ms - 1000 * (per_message - i)
            if sensor.kind.value == "interlock":
                readings.append({"sensor": sensor.id, "ts_ms": ts_ms, "state": "normal"})
            else:
                readings.append({"sensor": sensor.id, "ts_ms": ts_ms,
                                 "value": round(rng.uniform(0, 10), 2)})
        batch = {"boot": 1, "seq": seq, "sent_ms": now_ms, "readings": readings}
        out.append((site, gateway.id, orjson.dumps(batch)))
    return out


def measure(per_message: int, seconds: float, *, how: str) -> float:
    """Readings/s through `how`: "decode", "decode+encode" (then `encode_all`), or
    "lines" (`Decoder.decode_lines`: straight to line protocol, ingest on InfluxDB)."""
    decoder = Decoder(load_registry(DEMO))
    encoder = ReadingEncoder()
    batch = payloads(per_message, 2000)
    now_ms = int(time.time() * 1000)
    readings = 0
    start = time.perf_counter()
    deadline = start + seconds
    while time.perf_counter() < deadline:
        for site, gateway, payload in batch:
            if how == "lines":
                lines = decoder.decode_lines(site, gateway, payload, now_ms=now_ms,
                                             encoder=encoder)
                assert lines is not None
                "\n".join(lines.lines)
                readings += len(lines.lines)
                continue
            out = decoder.decode(site, gateway, payload, now_ms=now_ms)
            if how == "decode+encode":
                "\n".join(encoder.encode_all(out.readings))
            readings += len(out.readings)
    return readings / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=float, default=5.0)
    args = parser.parse_args()
    print(f"{'readings/message':>17} {'decode':>14} {'decode+encode':>15} "
          f"{'straight to lines':>19}")
    for per_message in (50, 1):
        decode_rate = measure(per_message, args.seconds, how="decode")
        both_rate = measure(per_message, args.seconds, how="decode+encode")
        lines_rate = measure(per_message, args.seconds, how="lines")
        print(f"{per_message:>17} {decode_rate:>12,.0f}/s {both_rate:>13,.0f}/s "
              f"{lines_rate:>17,.0f}/s")


if __name__ == "__main__":
    main()
