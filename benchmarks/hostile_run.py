"""Hostile payloads against a live `hazmon up`: does it keep serving, with bounded memory?

    .venv/bin/python benchmarks/hostile_run.py              # the full run (~1 min)
    .venv/bin/python benchmarks/hostile_run.py --scale 0.3 --flood-s 5  # shorter

A real Mosquitto runs the configuration `hazmon broker-config` writes for the demo
plant (ACLs, no anonymous access, 2 MiB packet limit); `hazmon up` connects to its
service listener, the alarm service as `hazmon-alarms` and ingest as `hazmon-ingest`,
their passwords in 0600 files named by HAZMON_MQTT_PASSWORD_FILE and
HAZMON_INGEST_MQTT_PASSWORD_FILE (no secret on its command line). One gateway's own
credentials are then used for:

1. oversize: messages of 1.5 MiB (past the broker, refused by hazmon: over 1 MiB)
   and of 3 MiB (refused by the broker, which closes the sender's connection);
2. nesting: readings with a sensor name or value nested 1000 deep, arrays nested
   100,000 deep, objects nested 2000 deep;
3. unknown sensors: 100,000 readings of sensors not in the registry (20 x 5000);
4. flood: as many QoS 1 telemetry messages as the gateway can push in a while, twice
   (the second shows whether memory has levelled off);
5. the API: bad tokens until the lock-out, a 10 MiB body, a 40 KB deeply nested body,
   from an address of their own (127.0.0.2) so the checks below are not locked out.

After each phase: `/health` must answer 200 and RSS is sampled. At the end a plain
reading from the gateway must show up in the API (still processing, not only
answering). Figures are printed, with --json as JSON too (which tests/security reads),
and returned by `run()`.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import re
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import orjson
import paho.mqtt.client as mqtt
import psutil
from paho.mqtt.enums import CallbackAPIVersion

ROOT = Path(__file__).parents[1]
sys.path.insert(0, str(ROOT))

from hazmon.broker.acl import ALARMS_USER, INGEST_USER  # noqa: E402
from hazmon.broker.passwd import write_secrets  # noqa: E402
from hazmon.contract.config import load_registry  # noqa: E402
from hazmon.testing.brokers import GeneratedBroker  # noqa: E402
from hazmon.testing.servers import free_port  # noqa: E402

DEMO = ROOT / "hazmon" / "demo" / "plant.yaml"
SITE, GATEWAY = "jh-chem-01", "gw-tankfarm"
TOPIC = f"hazmon/v1/{SITE}/{GATEWAY}/telemetry"
STATE = f"hazmon/v1/{SITE}/{GATEWAY}/state"
SENSOR = "GT-101"
VIEWER = {"Authorization": "Bearer demo-viewer"}
OPERATOR = {"Authorization": "Bearer demo-operator"}
MIB = 1024 * 1024
_METRIC = re.compile(r"^(hazmon_[a-z_]+?)(?:_total)?(?:\{[^}]*\})? (\S+)$", re.M)


@dataclass(slots=True)
class Phase:
    name: str
    messages: int = 0
    bytes: int = 0
    seconds: float = 0.0
    health_ms: float = 0.0
    rss_mb: float = 0.0
    notes: list[str] = field(default_factory=list)


@dataclass(slots=True)
class Figures:
    rss_start_mb: float = 0.0
    rss_peak_mb: float = 0.0
    rss_end_mb: float = 0.0
    phases: list[Phase] = field(default_factory=list)
    metrics: dict[str, float] = field(default_factory=dict)
    flood_rate_per_s: float = 0.0
    drain_s: float = 0.0
    last_reading_seen: bool = False
    alive: bool = False
    log_errors: list[str] = field(default_factory=list)  # ERROR lines and exceptions logged

    def lines(self) -> list[str]:
        out = [
            f"hazmon up RSS: {self.rss_start_mb:.0f} MB at start, peak {self.rss_peak_mb:.0f} MB,"
            f" {self.rss_end_mb:.0f} MB at the end; alive: {self.alive}; a plain reading after"
            f" the attack reached the API: {self.last_reading_seen}",
        ]
        for p in self.phases:
            notes = f"; {'; '.join(p.notes)}" if p.notes else ""
            out.append(
                f"  {p.name:<16} {p.messages:>7,} msgs {p.bytes / MIB:>6.1f} MiB"
                f" in {p.seconds:4.1f} s; /health {p.health_ms:4.0f} ms after;"
                f" RSS {p.rss_mb:.0f} MB{notes}"
            )
        out.append(
            f"  last flood: {self.flood_rate_per_s:,.0f} msgs/s sent;"
            f" ingest done {self.drain_s:.1f} s after the last one"
        )
        counters = ", ".join(
            f"{k} {self.metrics.get(f'hazmon_ingest_{k}', 0):,.0f}" for k in COUNTERS
        )
        out.append(f"  ingest: {counters}")
        out.append(f"  errors logged by hazmon up: {len(self.log_errors)}")
        out += [f"    {line[:150]}" for line in dict.fromkeys(self.log_errors)][:6]
        return out


COUNTERS = ("messages", "readings", "rejected", "dead_letters", "dead_letters_evicted",
            "internal_errors", "lost_messages")  # fmt: skip


class Sampler:
    """RSS of a process every 0.2 s, on a thread: the peak between phases counts too."""

    def __init__(self, pid: int) -> None:
        self.proc = psutil.Process(pid)
        self.peak = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def rss(self) -> int:
        value: int = self.proc.memory_info().rss
        self.peak = max(self.peak, value)
        return value

    def _run(self) -> None:
        while not self._stop.wait(0.2):
            with contextlib.suppress(psutil.Error):
                self.rss()

    def __enter__(self) -> Sampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


class Gateway:
    """The hostile gateway: a paho MQTT 5 client with the gateway's own credentials."""

    def __init__(self, port: int, user: str, password: str) -> None:
        self.port, self.user, self.password = port, user, password
        self.seq = -1  # the first message of a boot is seq 0 (docs/contract.md §3)
        self.client = self._connect()

    def _connect(self) -> mqtt.Client:
        client = mqtt.Client(callback_api_version=CallbackAPIVersion.VERSION2,
                             protocol=mqtt.MQTTv5)  # fmt: skip
        client.username_pw_set(self.user, self.password)
        client.max_inflight_messages_set(200)
        connected = threading.Event()
        client.on_connect = lambda *_a: connected.set()
        client.connect("127.0.0.1", self.port)
        client.loop_start()
        if not connected.wait(10):
            raise RuntimeError("the hostile gateway could not connect")
        return client

    def reconnect(self) -> None:
        self.close()
        self.client = self._connect()

    def send(self, payload: bytes, *, wait: bool = True, timeout_s: float = 10.0) -> bool:
        info = self.client.publish(TOPIC, payload, qos=1)
        if wait:
            info.wait_for_publish(timeout_s)
            return info.is_published()
        return True

    def batch(self, readings: list[dict[str, Any]] | str) -> bytes:
        self.seq += 1
        body = readings if isinstance(readings, str) else orjson.dumps(readings).decode()
        return f'{{"boot":1,"seq":{self.seq},"readings":{body}}}'.encode()

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()
        self.client._reset_sockets()


def now_ms() -> int:
    return int(time.time() * 1000)


@contextlib.contextmanager
def hazmon_up(
    broker: GeneratedBroker, data: Path, http_port: int
) -> Iterator[subprocess.Popen[bytes]]:
    secrets = data / "secrets"
    write_secrets(secrets, {u: broker.password(u) for u in (ALARMS_USER, INGEST_USER)})
    env = {**os.environ, "PYTHONPATH": str(ROOT), "HAZMON_MQTT_USERNAME": ALARMS_USER,
           "HAZMON_MQTT_PASSWORD_FILE": str(secrets / ALARMS_USER),
           "HAZMON_INGEST_MQTT_USERNAME": INGEST_USER,
           "HAZMON_INGEST_MQTT_PASSWORD_FILE": str(secrets / INGEST_USER)}  # fmt: skip
    argv = [sys.executable, "-m", "hazmon.cli", "up", "--config", str(DEMO),
            "--broker", broker.service_url, "--data", str(data / "hazmon"),
            "--http", f"127.0.0.1:{http_port}", "--log-level", "WARNING"]  # fmt: skip
    with open(data / "hazmon-up.log", "wb") as log:
        proc = subprocess.Popen(argv, env=env, stdout=log, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL)  # fmt: skip
    try:
        yield proc
    finally:
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def health_ms(api: httpx.Client) -> float:
    started = time.perf_counter()
    response = api.get("/health", timeout=10)
    response.raise_for_status()
    return (time.perf_counter() - started) * 1000


def metrics(api: httpx.Client) -> dict[str, float]:
    text = api.get("/metrics", timeout=10).text
    found: dict[str, float] = {}
    for name, value in _METRIC.findall(text):
        with contextlib.suppress(ValueError):
            found[name] = found.get(name, 0.0) + float(value)
    return found


def wait_until_serving(api: httpx.Client, proc: subprocess.Popen[bytes], timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"hazmon up exited with {proc.returncode}")
        with contextlib.suppress(httpx.HTTPError):
            if api.get("/health", timeout=2).status_code == 200:
                return
        time.sleep(0.2)
    raise RuntimeError("hazmon up did not serve in time")


def _reading(sensor: str, value: Any, **extra: Any) -> dict[str, Any]:
    return {"sensor": sensor, "ts_ms": now_ms(), "value": value, **extra}


def phase_oversize(gw: Gateway, scale: float) -> Phase:
    phase = Phase("oversize")
    filler = "x" * int(1.5 * MIB)
    for _ in range(max(1, int(5 * scale))):
        payload = gw.batch([_reading(SENSOR, 1.0, quality=filler)])
        gw.send(payload)
        phase.messages += 1
        phase.bytes += len(payload)
    for _ in range(2):  # over the broker's 2 MiB: it closes the connection
        payload = gw.batch([_reading("X" * (3 * MIB), 1.0)])
        gw.send(payload, timeout_s=1)
        phase.messages += 1
        phase.bytes += len(payload)
        gw.reconnect()
    phase.notes.append("3 MiB ones cut by the broker (sender reconnected)")
    return phase


def phase_nesting(gw: Gateway, scale: float) -> Phase:
    phase = Phase("deep nesting")
    shapes = [
        '[{"sensor":' + "[" * 1000 + "]" * 1000 + ',"ts_ms":1,"value":1}]',
        f'[{{"sensor":"{SENSOR}","ts_ms":1,"value":' + "[" * 1000 + "]" * 1000 + "}]",
        "[" * 100_000 + "]" * 100_000,
        '[{"sensor":"' + SENSOR + '","ts_ms":1,"value":1,"x":' + '{"a":' * 2000 + "1"
        + "}" * 2000 + "}]",
    ]  # fmt: skip
    for _ in range(max(1, int(25 * scale))):
        for shape in shapes:
            payload = gw.batch(shape)
            gw.send(payload)
            phase.messages += 1
            phase.bytes += len(payload)
    return phase


def phase_unknown(gw: Gateway, scale: float) -> Phase:
    phase = Phase("unknown sensors")
    ts = now_ms()
    for m in range(max(1, int(20 * scale))):
        readings = [{"sensor": f"ghost-{m * 5000 + i}", "ts_ms": ts, "value": 1.0}
                    for i in range(5000)]  # fmt: skip
        payload = gw.batch(readings)
        gw.send(payload)
        phase.messages += 1
        phase.bytes += len(payload)
    phase.notes.append(f"{phase.messages * 5000:,} distinct unknown sensors")
    return phase


def phase_flood(gw: Gateway, seconds: float, name: str) -> Phase:
    phase = Phase(name)
    deadline = time.monotonic() + seconds
    window: list[mqtt.MQTTMessageInfo] = []
    while time.monotonic() < deadline:
        ts = now_ms()
        payload = gw.batch([{"sensor": SENSOR, "ts_ms": ts, "value": 5.0 + (phase.messages % 7)}])
        window.append(gw.client.publish(TOPIC, payload, qos=1))
        phase.messages += 1
        phase.bytes += len(payload)
        if len(window) >= 1000:  # keep the client's own queue bounded
            window[0].wait_for_publish(10)
            window = [info for info in window if not info.is_published()]
    for info in window:
        info.wait_for_publish(10)
    return phase


def phase_api(base_url: str) -> Phase:
    phase = Phase("API abuse")
    transport = httpx.HTTPTransport(local_address="127.0.0.2")
    with httpx.Client(base_url=base_url, transport=transport, timeout=10) as c:
        big = c.post("/api/v1/alarms/x/note", content=b"{" + b" " * (10 * MIB) + b"}",
                     headers={**OPERATOR, "content-type": "application/json"})  # fmt: skip
        phase.notes.append(f"10 MiB body: {big.status_code}")
        deep = c.post("/api/v1/alarms/x/note", content=b"[" * 20_000 + b"]" * 20_000,
                      headers={**OPERATOR, "content-type": "application/json"})  # fmt: skip
        phase.notes.append(f"40 KB nested body: {deep.status_code}")
        timed = []
        for i in range(11):
            began = time.monotonic()
            status = c.get("/api/v1/sites", headers={"Authorization": f"Bearer guess-{i}"})
            timed.append((status.status_code, time.monotonic() - began))
        fast = sum(1 for code, took_s in timed if code == 401 and took_s < 1.0)
        held = [took_s for code, took_s in timed if code == 401 and took_s >= 1.0]
        phase.notes.append(f"11 bad tokens: {fast}x401 at once, {len(held)}x401 held "
                           f"{max(held, default=0):.0f} s")
        began = time.monotonic()
        valid = c.get("/api/v1/me", headers=OPERATOR).status_code
        phase.notes.append(f"then a valid token: {valid} in {time.monotonic() - began:.1f} s")
        phase.messages = 14
        phase.bytes = 10 * MIB + 40_000
    return phase


def last_reading_arrives(api: httpx.Client, gw: Gateway, timeout_s: float) -> bool:
    """A plain, valid reading after the attack shows up as the sensor's latest value."""
    value = 7.125
    gw.send(gw.batch([_reading(SENSOR, value)]))
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        sensors = api.get(f"/api/v1/sites/{SITE}/sensors", headers=VIEWER, timeout=10).json()
        if any(s.get("id") == SENSOR and s.get("value") == value for s in sensors):
            return True
        time.sleep(0.5)
    return False


def wait_drained(api: httpx.Client, sent: int, timeout_s: float) -> float:
    """Seconds until ingest has taken every message sent (or the timeout)."""
    started = time.monotonic()
    while time.monotonic() - started < timeout_s:
        if metrics(api).get("hazmon_ingest_messages", 0) >= sent:
            break
        time.sleep(0.5)
    return time.monotonic() - started


def run(scale: float = 1.0, flood_s: float = 15.0, *, log: Any = print) -> Figures:
    figures = Figures()
    with tempfile.TemporaryDirectory(prefix="hazmon-hostile-") as folder:
        data = Path(folder)
        broker = GeneratedBroker(load_registry(DEMO), observer=False)
        broker.start()
        http_port = free_port()
        try:
            with (
                hazmon_up(broker, data, http_port) as proc,
                httpx.Client(base_url=f"http://127.0.0.1:{http_port}") as api,
            ):
                wait_until_serving(api, proc, 60)
                _attack(figures, broker, api, proc.pid, scale, flood_s, log)
                figures.alive = proc.poll() is None and health_ms(api) > 0
        finally:
            broker.close()
            figures.log_errors = _errors((data / "hazmon-up.log").read_text(errors="replace"))
    return figures


def _attack(
    figures: Figures, broker: GeneratedBroker, api: httpx.Client, pid: int,
    scale: float, flood_s: float, log: Any,
) -> None:  # fmt: skip
    user = f"{SITE}.{GATEWAY}"
    gw = Gateway(broker.port, user, broker.password(user))
    gw.client.publish(STATE, b'{"online":true,"boot":1}', qos=1, retain=True)
    steps: list[Callable[[], Phase]] = [
        lambda: phase_oversize(gw, scale),
        lambda: phase_nesting(gw, scale),
        lambda: phase_unknown(gw, scale),
        lambda: phase_flood(gw, flood_s, "flood"),
        lambda: phase_flood(gw, flood_s, "flood again"),  # has memory levelled off?
        lambda: phase_api(str(api.base_url)),
    ]
    try:
        with Sampler(pid) as sampler:
            time.sleep(1.0)
            figures.rss_start_mb = sampler.rss() / MIB
            sent = 0  # telemetry messages that reach hazmon (the broker cuts the 3 MiB ones)
            for step in steps:
                started = time.monotonic()
                phase = step()
                phase.seconds = time.monotonic() - started
                if phase.name != "API abuse":
                    sent += phase.messages - (2 if phase.name == "oversize" else 0)
                if phase.name.startswith("flood"):
                    figures.flood_rate_per_s = phase.messages / phase.seconds
                    figures.drain_s = wait_drained(api, sent, 60)
                phase.health_ms = health_ms(api)
                phase.rss_mb = sampler.rss() / MIB
                figures.phases.append(phase)
                log(f"{phase.name}: {phase.messages} msgs in {phase.seconds:.1f} s, "
                    f"RSS {phase.rss_mb:.0f} MB")  # fmt: skip
            figures.last_reading_seen = last_reading_arrives(api, gw, 30)
            figures.metrics = metrics(api)
            figures.rss_end_mb = sampler.rss() / MIB
            figures.rss_peak_mb = sampler.peak / MIB
    finally:
        gw.close()


def _errors(log_text: str) -> list[str]:
    """ERROR/CRITICAL lines and the exception lines of tracebacks."""
    pattern = re.compile(r" (ERROR|CRITICAL) |^\w*(Error|Exception)\b")
    return [line for line in log_text.splitlines() if pattern.search(line)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--scale", type=float, default=1.0, help="fewer (<1) or more messages")
    parser.add_argument("--flood-s", type=float, default=15.0, help="seconds of flood")
    parser.add_argument("--json", action="store_true", help="print the figures as JSON too")
    args = parser.parse_args()
    figures = run(args.scale, args.flood_s)
    print("\n".join(figures.lines()))
    if args.json:
        doc = {k: getattr(figures, k) for k in Figures.__slots__ if k != "phases"}
        doc["phases"] = [{k: getattr(p, k) for k in Phase.__slots__} for p in figures.phases]
        print(json.dumps(doc, indent=2))


if __name__ == "__main__":
    main()
