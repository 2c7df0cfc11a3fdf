"""`hazmon demo --embedded-broker nats`: the JetStream profile on one box
(docs/scale-out.md, "One box"). The simulator's readings go through the embedded
nats-server's MQTT listener into the streams; ingest stores them, the alarm worker
raises alarms, the API reads them from the partitions' changelogs and an operator's
acknowledgement goes to the worker and comes back committed; SIGTERM stops it all
(exit 0)."""

from __future__ import annotations

import time
from pathlib import Path
from urllib.parse import quote

import httpx
import pytest

from hazmon.testing.servers import free_port
from tests.api.running import Hazmon

pytestmark = [pytest.mark.integration, pytest.mark.slow]

TOKEN = "demo-test-token"
DEADLINE_S = 90.0


def test_the_demo_on_jetstream_raises_and_takes_an_acknowledgement(tmp_path: Path) -> None:
    demo = Hazmon("demo", "--embedded-broker", "nats", "--data", str(tmp_path / "data"),
                  http=f"127.0.0.1:{free_port()}", log=tmp_path / "demo.log",
                  env={"HAZMON_DEMO_TOKEN": TOKEN})
    try:
        demo.wait_serving(timeout_s=90)
        assert "embedded nats-server" in demo.output()
        deadline = time.monotonic() + DEADLINE_S
        alarms: list[dict[str, object]] = []
        while time.monotonic() < deadline and not alarms:
            time.sleep(2)
            alarms = [a for a in demo.get("/api/v1/alarms", TOKEN, active="true")
                      if a["state"] == "unack"]
        assert alarms, "no unacknowledged alarm within the deadline"
        target = alarms[0]["alarm_id"]
        answer = httpx.post(f"{demo.base_url}/api/v1/alarms/{quote(str(target), safe='/')}/ack",
                            json={"note": "crew sent"},
                            headers={"Authorization": f"Bearer {TOKEN}"}, timeout=30)
        assert answer.status_code == 200, answer.text
        assert answer.json()["state"] in ("acked", "normal"), answer.json()
        listed = {a["alarm_id"]: a for a in demo.get("/api/v1/alarms", TOKEN)}
        assert listed[target]["acked_by"] is not None
        readings_seen = any(s["ts_ms"] for site in demo.get("/api/v1/sites", TOKEN)
                            for s in demo.get(f"/api/v1/sites/{site['id']}/sensors", TOKEN))
        assert readings_seen, "ingest stored no reading"
    finally:
        code = demo.stop()
    assert code == 0, demo.output()[-3000:]
