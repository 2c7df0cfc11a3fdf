"""The alarm chain watched on NATS JetStream (docs/alarms.md, "The alarm chain watched"):
one real nats-server, `hazmon alarms --broker nats://...` (an alarm worker owning
every partition) and `hazmon watch --broker nats://...` as processes, a webhook
notifier on loopback.

- the canary goes through every partition: the watch's /health has a round trip for
  each lane;
- SIGSTOP of the worker: `chain_dead` through the webhook within the deadline, every
  lane dead, /health 503; SIGCONT: `cleared`, and each partition journals its lane's
  `chain_dead` as a system alarm of its own (`_system/alarms-p{p}/chain_dead`);
- the stream overflowing its retention budget while the worker is frozen (messages
  pushed out before anyone took them): `broker_dropping` through the webhook, journalled
  by partition 0 once it runs again.
"""

from __future__ import annotations

import asyncio
import os
import signal
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from hazmon.bus import jetstream as js
from hazmon.contract.config import parse_registry
from hazmon.testing.nats import NatsCluster
from hazmon.testing.processes import Child, hazmon
from hazmon.testing.servers import free_port
from tests.alarms.cluster_plant import PARTITIONS, journal, registry_yaml, worker
from tests.alarms.test_correctness_live import wait_until
from tests.alarms.webhook_server import WebhookServer

pytestmark = pytest.mark.integration

PERIOD_S, DEADLINE_S = 1.0, 6.0
BUDGET = 64 * 1024**2  # the smallest retention budget cluster-config accepts


class Stack:
    def __init__(self, cluster: NatsCluster, alarms: Child, watch: Child, http: str,
                 hook: WebhookServer) -> None:
        self.cluster, self.alarms, self.watch, self.http, self.hook = (
            cluster, alarms, watch, http, hook)

    def hooks(self, key: str, event: str) -> list[dict[str, Any]]:
        return [b for b in self.hook.delivered() if b["key"] == key and b["event"] == event]

    def health(self) -> tuple[int, dict[str, Any]]:
        try:
            reply = httpx.get(f"http://{self.http}/health", timeout=5)
        except httpx.ConnectError:
            return 0, {}
        return reply.status_code, reply.json()

    def system_events(self) -> list[dict[str, Any]]:
        try:
            records = journal(self.cluster)
        except js.JetStreamError:
            return []
        return [e for r in records for e in r.get("events", ())
                if e["key"].startswith("_system/alarms-p")]


@pytest.fixture
def stack(tmp_path: Path) -> Iterator[Stack]:
    with NatsCluster(parse_registry(registry_yaml()), size=1, partitions=PARTITIONS,
                     retention_bytes=BUDGET) as cluster, WebhookServer() as hook:
        alarms = worker(cluster, tmp_path, "w1")
        config = tmp_path / "watch.yaml"  # the plant, its notifier a webhook
        config.write_text(registry_yaml().replace(
            "duty: {log: true}", f'duty: {{webhook: "{hook.url}"}}'), encoding="utf-8")
        http = f"127.0.0.1:{free_port()}"
        env = {"HAZMON_MQTT_USERNAME": "hazmon-alarms",
               "HAZMON_MQTT_PASSWORD": cluster.password("hazmon-alarms")}
        watch = Child(hazmon("watch", "--config", str(config), "--broker",
                             "nats://" + ",".join(u.removeprefix("nats://") for u in cluster.urls),
                             "--http", http, "--period-s", str(PERIOD_S),
                             "--deadline-s", str(DEADLINE_S), "--drops-quiet-s", "3"),
                      log=tmp_path / "watch.log", env=env, name="watch").start()
        try:
            yield Stack(cluster, alarms, watch, http, hook)
        finally:
            os.kill(alarms.pid, signal.SIGCONT)  # a failed test may leave it frozen
            watch.stop()
            alarms.stop()


def test_a_frozen_worker_raises_chain_dead_and_each_partition_journals_its_lane(
    stack: Stack,
) -> None:
    status = wait_until(lambda: (h := stack.health())[0] == 200 and h[1]["state"] == "ok"
                        and h[1], 60, "every partition's lane echoed")
    assert status["lanes"] == PARTITIONS and status["dead_lanes"] == []
    assert 0 < status["rtt_ms"] < 2000
    os.kill(stack.alarms.pid, signal.SIGSTOP)
    frozen_at = time.monotonic()
    dead = wait_until(lambda: stack.hooks("_system/chain/chain_dead", "raised"),
                      DEADLINE_S + 2 * PERIOD_S + 5, "chain_dead through the webhook")
    took_s = time.monotonic() - frozen_at
    assert dead[0]["priority"] == "critical"
    code, status = stack.health()
    assert code == 503 and status["dead_lanes"] == list(range(PARTITIONS))
    os.kill(stack.alarms.pid, signal.SIGCONT)
    wait_until(lambda: stack.hooks("_system/chain/chain_dead", "cleared"), 60,
               "chain_dead cleared once every partition answers again")
    # each partition journals what the canary told it: its own lane was dead
    keys = {f"_system/alarms-p{p}/chain_dead" for p in range(PARTITIONS)}
    events = wait_until(lambda: (e := stack.system_events())
                        and {x["key"] for x in e if x["event"] == "raised"} >= keys and e,
                        60, "every partition's chain_dead journalled")
    assert {x["priority"] for x in events if x["key"] in keys} == {"critical"}
    assert DEADLINE_S <= took_s <= DEADLINE_S + 2 * PERIOD_S + 4, took_s


def test_a_stream_over_its_budget_raises_broker_dropping(stack: Stack) -> None:
    wait_until(lambda: stack.health()[0] == 200 and stack.health()[1]["state"] == "ok", 60,
               "the chain watched and alive")
    padding = b"x" * (64 * 1024)

    async def overflow() -> None:
        async with stack.cluster.connected("hazmon-alarms", "overflow") as nc:
            # this plant runs no ingest: without its consumer, what the worker takes
            # leaves the stream, and the stream falls below its budget again
            await js.api(nc, f"CONSUMER.DELETE.{js.IN_STREAM}.{js.INGEST_CONSUMER}", {})
            os.kill(stack.alarms.pid, signal.SIGSTOP)  # nothing is taken now
            for _ in range(BUDGET // len(padding) + 320):  # 20 MiB past the budget
                await nc.publish(js.tick_subject(1), padding)
            await nc.flush()

    asyncio.run(overflow())
    dropping = wait_until(lambda: stack.hooks("_system/broker/broker_dropping", "raised"), 20,
                          "broker_dropping through the webhook")
    assert dropping[0]["priority"] == "critical"
    assert "retention limit" in dropping[0]["note"]
    assert stack.health()[1]["broker_dropped"] > 0
    os.kill(stack.alarms.pid, signal.SIGCONT)
    wait_until(lambda: stack.hooks("_system/broker/broker_dropping", "cleared"), 30,
               "broker_dropping cleared once nothing more is pushed out")
    journalled = wait_until(
        lambda: [x for x in stack.system_events()
                 if x["key"] == "_system/alarms-p0/broker_dropping"], 60,
        "partition 0 journals broker_dropping")
    assert journalled[0]["priority"] == "critical"
