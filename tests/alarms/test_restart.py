"""Kill the alarm service (SIGKILL) in the middle of an escalation and start it again:
active alarms are restored, no tier is notified twice, the tier that fell due while
it was down is notified at start, and readings sent meanwhile are not lost."""

from __future__ import annotations

import signal
import sqlite3
import sys
import time
from contextlib import closing
from pathlib import Path
from typing import Any

import pytest

from hazmon.alarms.sqlite_desk import verify_journal
from hazmon.alarms.state_db import DB_FILE
from hazmon.testing.processes import Child
from hazmon.testing.servers import Mosquitto
from tests.alarms.mqtt_helpers import publish, publisher
from tests.alarms.plant import small_registry_text
from tests.alarms.webhook_server import WebhookServer

pytestmark = pytest.mark.integration
ROOT = Path(__file__).resolve().parents[2]
TIER2_S = 2.0


def start(registry: Path, broker: str, data: Path) -> Child:
    """The alarm service (tests/alarms/service_main.py) in a process of its own, once
    it has subscribed."""
    child = Child([sys.executable, "-m", "tests.alarms.service_main", str(registry), broker,
                   str(data)], log=data.parent / "service.log", cwd=ROOT,
                  env={"PYTHONPATH": str(ROOT)}, name="alarm service")  # fmt: skip
    child.start().wait_output("READY", timeout_s=60)
    return child


def rows(data: Path, sql: str) -> list[Any]:
    with closing(sqlite3.connect(f"file:{data / DB_FILE}?mode=ro", uri=True)) as conn, conn:
        return conn.execute(sql).fetchall()


def until(test: Any, timeout_s: float = 10.0) -> Any:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        found = test()
        if found:
            return found
        time.sleep(0.05)
    raise AssertionError("condition not met in time")


def posts_to(server: WebhookServer, who: str) -> list[str]:
    return [h["Idempotency-Key"] for s, h, _ in server.posts if s == 200 and h[
        "Idempotency-Key"].endswith(f"|{who}")]


def test_sigkill_mid_escalation_resumes_exactly(
    mosquitto: Mosquitto, unique_id: str, tmp_path: Path
) -> None:
    site = unique_id
    data = tmp_path / "data"
    with WebhookServer() as server:
        registry = tmp_path / "registry.yaml"
        registry.write_text(small_registry_text(
            site, duty=f"{{webhook: '{server.url}'}}", lead=f"{{webhook: '{server.url}'}}",
            tier2_s=TIER2_S))
        pub = publisher(mosquitto.port)
        first = start(registry, mosquitto.url, data)
        telemetry = f"hazmon/v1/{site}/gw1/telemetry"
        raised_at = time.monotonic()
        publish(pub, telemetry, {"boot": 1, "seq": 0, "readings": [
            {"sensor": "GT-1", "ts_ms": time.time_ns() // 1_000_000, "value": 60.0}]})
        until(lambda: rows(data, "SELECT 1 FROM journal WHERE event = 'notified' "
                                 "AND key LIKE '%high_high'"))
        assert first.stop(signal.SIGKILL) == -signal.SIGKILL  # before tier 2 (2 s)
        assert time.monotonic() - raised_at < TIER2_S, "too slow to kill before tier 2"
        assert posts_to(server, "lead") == []
        # while it is down: a reading (kept by the broker for its session), and time
        # passes beyond tier 2
        publish(pub, telemetry, {"boot": 1, "seq": 1, "readings": [
            {"sensor": "RC-1", "ts_ms": time.time_ns() // 1_000_000, "value": 450.0}]})
        time.sleep(max(0.0, TIER2_S + 0.3 - (time.monotonic() - raised_at)))
        second = start(registry, mosquitto.url, data)
        try:
            until(lambda: posts_to(server, "lead"))
            until(lambda: rows(data, "SELECT 1 FROM occurrences WHERE key LIKE '%RC-1/high'"))
            time.sleep(0.5)  # anything duplicated would arrive now
        finally:
            assert second.stop(signal.SIGTERM, timeout_s=15) == 0, second.log_tail()
        pub.disconnect()
    hh = f"{site}/GT-1/high_high#1"
    assert posts_to(server, "duty").count(f"{hh}|r1|s0|duty") == 1  # not notified twice
    assert posts_to(server, "lead") == [f"{hh}|r1|s1|lead"]  # fell due while down
    escalated = rows(data, "SELECT note FROM journal WHERE event = 'escalated'")
    assert escalated == [("tier 2: lead",)]
    open_alarms = rows(data, "SELECT alarm_id FROM occurrences WHERE ended_ms IS NULL "
                             "ORDER BY alarm_id")
    assert (hh,) in open_alarms and (f"{site}/RC-1/high#1",) in open_alarms
    raised = rows(data, "SELECT alarm_id FROM journal WHERE event = 'raised'")
    assert raised.count((hh,)) == 1
    assert rows(data, "SELECT COUNT(*) FROM outbox") == [(0,)]
    result = verify_journal(data / DB_FILE, None)
    assert result.ok and result.entries > 5
