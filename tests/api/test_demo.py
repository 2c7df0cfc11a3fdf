"""`hazmon demo` with nothing else: within a minute or two, through its own API,
readings arrive from every site, alarms are raised, a site's risk grade changes, an
unacknowledged critical alarm escalates; SIGTERM stops it cleanly (exit 0)."""

from __future__ import annotations

import json
import time
from pathlib import Path

import httpx
import pytest

from hazmon.testing.servers import free_port
from tests.api.running import Hazmon

pytestmark = [pytest.mark.integration, pytest.mark.slow]

TOKEN = "demo-test-token"  # HAZMON_DEMO_TOKEN replaces the printed admin token
DEADLINE_S = 150.0


def test_demo_shows_readings_alarms_risk_and_escalation(tmp_path: Path) -> None:
    demo = Hazmon("demo", "--data", str(tmp_path / "data"), http=f"127.0.0.1:{free_port()}",
                  log=tmp_path / "demo.log", env={"HAZMON_DEMO_TOKEN": TOKEN})
    try:
        demo.wait_serving()
        assert f"admin token:     {TOKEN}" in demo.output()
        assert "demo-admin" not in demo.output()
        seen = watch(demo)
    finally:
        code = demo.stop()
    assert seen == {"readings", "alarms", "risk", "escalated"}, demo.output()[-3000:]
    assert code == 0, demo.output()[-3000:]
    assert "stopped" in demo.output()


def watch(demo: Hazmon) -> set[str]:
    """Poll the API until everything was seen or the deadline passed."""
    baseline = {s["id"]: s["baseline_risk"] for s in demo.get("/api/v1/sites", TOKEN)}
    seen: set[str] = set()
    deadline = time.monotonic() + DEADLINE_S
    while time.monotonic() < deadline and len(seen) < 4:
        time.sleep(2)
        sites = demo.get("/api/v1/sites", TOKEN)
        if all(has_readings(demo, site) for site in baseline):
            seen.add("readings")
        alarms = demo.get("/api/v1/alarms", TOKEN)
        if any(a["priority"] == "critical" for a in alarms):
            seen.add("alarms")
        if any(s["risk_grade"] != baseline[s["id"]] for s in sites):
            seen.add("risk")
        if "escalated" in journal_events(demo):
            seen.add("escalated")
    return seen


def has_readings(demo: Hazmon, site: str) -> bool:
    sensors = demo.get(f"/api/v1/sites/{site}/sensors", TOKEN)
    fresh = [s for s in sensors if s["ts_ms"] and s["ts_ms"] > time.time() * 1000 - 30_000]
    if not fresh:
        return False
    trend = demo.get(f"/api/v1/sites/{site}/sensors/{fresh[0]['id']}/readings", TOKEN)
    return len(trend) >= 2


def journal_events(demo: Hazmon) -> set[str]:
    response = httpx.get(f"{demo.base_url}/api/v1/journal", params={"format": "jsonl"},
                         headers={"Authorization": f"Bearer {TOKEN}"}, timeout=10)
    response.raise_for_status()
    return {json.loads(line)["event"] for line in response.text.splitlines() if line}
