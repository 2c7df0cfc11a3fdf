"""What the alarm chain's watch costs (docs/alarms.md, "The alarm chain watched";
docs/benchmarks.md, "The alarm chain's watch").

    .venv/bin/python -m benchmarks.chain_overhead [--seconds 60] [--gateways 40]

Runs `hazmon alarms` on a real Mosquitto (embedded store) with a plant of `--gateways`
gateways of 25 sensors each, each sending one message a second, three times: without
the watch (`--chain-period-s 0`), with the default canary every 10 s, and with a canary
every 0.1 s (100 times as many, to measure what one costs above the noise). Prints the
CPU the process used (user + system) per run, as a share of one core, and the cost of
the default period derived from the fast one: (fast - none) / 100.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import threading
import time
from pathlib import Path

import paho.mqtt.client as paho
import psutil
from paho.mqtt.enums import CallbackAPIVersion

from hazmon.testing.processes import Child, hazmon, http_ok
from hazmon.testing.servers import Mosquitto, free_port


def plant_yaml(gateways: int) -> str:
    lines = ["sites:", "  - id: bench", "    name: Bench plant",
             "    industry: hazardous_chemicals", "    location: {lat: 29.1, lon: 119.6}",
             "    gateways:"]
    for g in range(gateways):
        lines += [f"      - id: gw{g}", "        period_s: 1", "        sensors:"]
        lines += [f"          - {{id: GT-{g}-{s}, kind: combustible_gas, range: [0, 100]}}"
                  for s in range(25)]
    lines += ["notifiers:", "  duty: {log: true}", "escalation:",
              "  critical: [{after_s: 0, notify: [duty]}]",
              "  high: [{after_s: 0, notify: [duty]}]", "  repeat_s: 3600"]
    return "\n".join(lines) + "\n"


def gateways_publish(broker: Mosquitto, gateways: int, stop: threading.Event) -> None:
    client = paho.Client(CallbackAPIVersion.VERSION2, protocol=paho.MQTTv311)
    client.connect(broker.host, broker.port)
    client.loop_start()
    seq = 0
    try:
        while not stop.is_set():
            ts = time.time_ns() // 1_000_000
            for g in range(gateways):
                readings = [{"sensor": f"GT-{g}-{s}", "ts_ms": ts, "value": 5.0}
                            for s in range(25)]
                client.publish(f"hazmon/v1/bench/gw{g}/telemetry",
                               json.dumps({"boot": 1, "seq": seq, "readings": readings}), qos=1)
            seq += 1
            stop.wait(1.0)
    finally:
        client.loop_stop()
        client.disconnect()


def one_run(broker: Mosquitto, config: Path, folder: Path, period_s: float, seconds: float,
            gateways: int) -> float:
    """The share of one core `hazmon alarms` used over `seconds`, once settled."""
    http = f"127.0.0.1:{free_port()}"
    child = Child(hazmon("alarms", "--config", str(config), "--broker", broker.url,
                         "--data", str(folder / f"data-{period_s}"), "--http", http,
                         "--chain-period-s", str(period_s), "--log-level", "WARNING"),
                  log=folder / f"alarms-{period_s}.log", name=f"alarms-{period_s}").start()
    stop = threading.Event()
    sender = threading.Thread(target=gateways_publish, args=(broker, gateways, stop))
    try:
        child.wait_ready(http_ok(f"http://{http}/health"), timeout_s=60)
        sender.start()
        time.sleep(10.0)  # settled: the first messages evaluated, the caches warm
        proc = psutil.Process(child.pid)
        before = proc.cpu_times()
        started = time.monotonic()
        time.sleep(seconds)
        after = proc.cpu_times()
        elapsed = time.monotonic() - started
        used = (after.user - before.user) + (after.system - before.system)
        return used / elapsed
    finally:
        stop.set()
        if sender.is_alive():
            sender.join(5)
        child.stop()


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--seconds", type=float, default=60.0)
    p.add_argument("--gateways", type=int, default=40)
    args = p.parse_args()
    with tempfile.TemporaryDirectory() as tmp, Mosquitto() as broker:
        folder = Path(tmp)
        config = folder / "plant.yaml"
        config.write_text(plant_yaml(args.gateways), encoding="utf-8")
        print(f"hazmon alarms, {args.gateways} gateways x 25 sensors, one message per gateway "
              f"and second ({args.gateways * 25} readings/s), {args.seconds:.0f} s per run")
        shares: dict[float, float] = {}
        for period_s in (0.0, 10.0, 0.1):
            shares[period_s] = one_run(broker, config, folder, period_s, args.seconds,
                                       args.gateways)
            label = "no watch" if period_s == 0 else f"a canary every {period_s:g} s"
            print(f"  {label:<24} CPU {100 * shares[period_s]:6.2f} % of a core")
        per_canary = (shares[0.1] - shares[0.0]) / (1 / 0.1)  # core-seconds per canary
        print(f"one canary costs {1000 * per_canary:.2f} ms of CPU; at the default period "
              f"(10 s) the watch costs {100 * per_canary / 10:.3f} % of a core "
              f"(measured directly: {100 * (shares[10.0] - shares[0.0]):+.2f} %, within noise)")


if __name__ == "__main__":
    main()
