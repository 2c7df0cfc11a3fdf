"""The platform watches itself, on the real stack (docs/alarms.md, "The alarm chain
watched"): a real Mosquitto (with a queue of 20 messages per client, so that it drops,
and $SYS every second), a real InfluxDB, `hazmon alarms` and `hazmon watch` as separate
processes, and a webhook notifier on loopback.

- SIGSTOP of the alarm service: `hazmon watch` sends `_system/chain/chain_dead` through
  the webhook within the deadline, its /health answers 503; SIGCONT: `cleared`, and the
  service journals what the watch said meanwhile.
- a consumer whose queue on the broker overflows: `broker_dropping` (critical) through
  the webhook, journalled by the service and shown by /api/v1/monitoring.
- a seq gap of 5 messages on one gateway: `feed_gap` with the count 5.
"""

from __future__ import annotations

import hashlib
import json
import os
import signal
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import paho.mqtt.client as paho
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from hazmon.testing.fixtures import started
from hazmon.testing.processes import Child, hazmon
from hazmon.testing.servers import InfluxDB, Mosquitto, free_port
from tests.alarms.test_correctness_live import wait_until
from tests.alarms.webhook_server import WebhookServer
from tests.api.running import Hazmon

pytestmark = pytest.mark.integration

TOKEN = "chain-watch-admin-token-61c2"
PERIOD_S, DEADLINE_S = 1.0, 5.0
SITE = "cw1"


def registry_yaml(hook: str) -> str:
    digest = hashlib.sha256(TOKEN.encode()).hexdigest()
    return f"""
sites:
  - id: {SITE}
    name: Chain watch plant
    industry: hazardous_chemicals
    location: {{lat: 29.1, lon: 119.7}}
    gateways:
      - id: gw1
        period_s: 60
        sensors:
          - {{id: GT-1, kind: combustible_gas, range: [0, 100]}}
escalation:
  critical:
    - {{after_s: 0, notify: [duty]}}
  high:
    - {{after_s: 0, notify: [duty]}}
  repeat_s: 3600
notifiers:
  duty: {{webhook: "{hook}"}}
auth:
  tokens:
    - {{name: duty.tester, role: admin, sha256: "{digest}"}}
"""


class Stack:
    def __init__(self, broker: Mosquitto, alarms: Hazmon, watch: Child, watch_http: str,
                 hook: WebhookServer) -> None:
        self.broker, self.alarms, self.watch, self.hook = broker, alarms, watch, hook
        self.watch_http = watch_http
        self.gateway = paho.Client(CallbackAPIVersion.VERSION2, protocol=paho.MQTTv311)
        self.gateway.connect(broker.host, broker.port)
        self.gateway.loop_start()

    def send(self, seq: int, value: float = 1.0) -> None:
        reading = {"sensor": "GT-1", "ts_ms": time.time_ns() // 1_000_000, "value": value}
        payload = json.dumps({"boot": 1, "seq": seq, "readings": [reading]})
        self.gateway.publish(f"hazmon/v1/{SITE}/gw1/telemetry", payload, qos=1)

    def hooks(self, key: str, event: str) -> list[dict[str, Any]]:
        return [b for b in self.hook.delivered() if b["key"] == key and b["event"] == event]

    def watch_health(self) -> int:
        """The status of the watch's /health; 0 while it does not listen yet."""
        try:
            return httpx.get(f"http://{self.watch_http}/health", timeout=5).status_code
        except httpx.ConnectError:
            return 0

    def get(self, path: str, **params: Any) -> Any:
        return self.alarms.get(path, TOKEN, **params)


@pytest.fixture
def stack(tmp_path: Path, influxdb: InfluxDB) -> Iterator[Stack]:
    broker = started(lambda: Mosquitto(max_queued_messages=20, sys_interval_s=1))  # type: ignore[arg-type, return-value]
    db = f"hazmon_cw_{int(time.time() * 1000)}"
    influxdb.create_database(db)
    try:
        with WebhookServer() as hook:
            config = tmp_path / "plant.yaml"
            config.write_text(registry_yaml(hook.url), encoding="utf-8")
            alarms = Hazmon("alarms", "--config", str(config), "--broker", broker.url,
                            "--influx", f"{influxdb.url}/{db}", "--data", str(tmp_path / "a"),
                            http=f"127.0.0.1:{free_port()}", log=tmp_path / "alarms.log")
            watch_http = f"127.0.0.1:{free_port()}"
            watch = Child(hazmon("watch", "--config", str(config), "--broker", broker.url,
                                 "--http", watch_http, "--period-s", str(PERIOD_S),
                                 "--deadline-s", str(DEADLINE_S), "--drops-quiet-s", "3"),
                          log=tmp_path / "watch.log", name="watch")
            try:
                alarms.wait_serving()
                watch.start()
                running = Stack(broker, alarms, watch, watch_http, hook)
                yield running
                running.gateway.loop_stop()
                running.gateway.disconnect()
            finally:
                with_alarms = alarms.proc.pid
                os.kill(with_alarms, signal.SIGCONT)  # a failed test may leave it frozen
                watch.stop()
                alarms.stop()
    finally:
        influxdb.drop_database(db)
        broker.close()


def test_a_frozen_alarm_service_raises_chain_dead_within_the_deadline(stack: Stack) -> None:
    wait_until(lambda: stack.watch_health() == 200, 20, "the chain watched and alive")
    # the service's own process runs a watch too: its round trip is in /health
    chain = wait_until(lambda: stack.get("/health").get("chain", {}).get("rtt_ms") is not None
                       and stack.get("/health")["chain"], 30, "the round trip in /health")
    assert chain["state"] == "ok" and 0 < chain["rtt_ms"] < 1000
    os.kill(stack.alarms.proc.pid, signal.SIGSTOP)
    frozen_at = time.monotonic()
    dead = wait_until(lambda: stack.hooks("_system/chain/chain_dead", "raised"),
                      DEADLINE_S + 2 * PERIOD_S + 5, "chain_dead through the webhook")
    took_s = time.monotonic() - frozen_at
    assert dead[0]["priority"] == "critical"
    assert stack.watch_health() == 503
    os.kill(stack.alarms.proc.pid, signal.SIGCONT)
    wait_until(lambda: stack.hooks("_system/chain/chain_dead", "cleared"), 20,
               "chain_dead cleared once the service answers again")
    wait_until(lambda: stack.watch_health() == 200, 10, "/health ok again")
    # what the watch said while the service was frozen is in the service's journal
    journalled = wait_until(lambda: [a for a in stack.get("/api/v1/alarms")
                                     if a["key"] == "_system/chain/chain_dead"], 20,
                            "chain_dead in the service's journal")
    assert journalled[0]["priority"] == "critical"
    # deadline 5 s, a canary every second, the watch judges every second
    assert DEADLINE_S <= took_s <= DEADLINE_S + 2 * PERIOD_S + 3, took_s


def test_a_broker_that_drops_raises_broker_dropping(stack: Stack) -> None:
    """A client with a session kept and no connection (a consumer that stopped) has a
    queue of 20 on this broker: the rest is dropped, and Mosquitto counts it."""
    slow = paho.Client(CallbackAPIVersion.VERSION2, client_id="cw-slow-consumer",
                       protocol=paho.MQTTv311, clean_session=False)
    slow.connect(stack.broker.host, stack.broker.port)
    slow.loop_start()
    slow.subscribe(f"hazmon/v1/{SITE}/+/telemetry", qos=1)[1]
    time.sleep(0.5)
    slow.disconnect()
    slow.loop_stop()
    wait_until(lambda: stack.watch_health() == 200, 20, "the chain watched and alive")
    for seq in range(60):
        stack.send(seq)
    dropping = wait_until(lambda: stack.hooks("_system/broker/broker_dropping", "raised"), 15,
                          "broker_dropping through the webhook")
    assert dropping[0]["priority"] == "critical"
    monitoring = wait_until(
        lambda: (m := stack.get("/api/v1/monitoring"))["degraded"] and m, 15,
        "monitoring degraded")
    assert "_system/broker/broker_dropping" in [r["key"] for r in monitoring["reasons"]]
    assert [a["priority"] for a in stack.get("/api/v1/alarms", active="true")
            if a["key"] == "_system/broker/broker_dropping"] == ["critical"]
    # nothing more dropped for --drops-quiet-s (3 s): cleared
    wait_until(lambda: stack.hooks("_system/broker/broker_dropping", "cleared"), 15,
               "broker_dropping cleared")


def test_a_seq_gap_of_five_raises_feed_gap_with_count_five(stack: Stack) -> None:
    for seq in range(10):
        stack.send(seq)
    stack.send(15)  # 10 to 14 never came
    gap = wait_until(lambda: [a for a in stack.get("/api/v1/alarms", active="true")
                              if a["key"] == f"{SITE}/gw1/feed_gap"], 45,
                     "feed_gap raised (a gap open for 30 s)")
    assert gap[0]["priority"] == "high"
    assert gap[0]["state"] == "rtn_unack"  # cleared at once, waiting for its acknowledgement
    hooks = wait_until(lambda: stack.hooks(f"{SITE}/gw1/feed_gap", "raised"), 10,
                       "feed_gap notified")
    assert hooks[0]["value"] == 5.0
    assert hooks[0]["note"] == "5 messages lost (seq 10 to 14)"
    monitoring = stack.get("/api/v1/monitoring")
    assert monitoring["degraded"] is True
    assert [r["key"] for r in monitoring["reasons"]] == [f"{SITE}/gw1/feed_gap"]
    assert monitoring["chain"]["state"] in ("ok", "unknown")  # `hazmon alarms` runs a watch
