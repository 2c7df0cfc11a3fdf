"""The cause-and-effect record in the API (`/sites/{site}/cause-effect`,
`/sites/{site}/interlocks/{interlock}/cause-effect`), the rationalization with the
alarms, and the KPI's list of alarms without one; on the demo plant's registry."""

from __future__ import annotations

import httpx
import pytest

from hazmon.api.testing import DrivenDesk
from tests.api.conftest import bearer

pytestmark = pytest.mark.unit

SITE = "jh-chem-01"
ESD = f"/api/v1/sites/{SITE}/interlocks/ESD-01/cause-effect"


def demand_and_trip(desk: DrivenDesk, trip_after_ms: int) -> int:
    """GT-101 past level 2 (its 2 s on-delay held), ESD-01 tripped `trip_after_ms` after
    the demand; the demand's time."""
    desk.send(SITE, "GT-101", 45.0)
    desk.clock.advance_ms(2000)
    desk.send(SITE, "GT-101", 45.0)
    demand_ms = desk.clock()
    desk.clock.advance_ms(trip_after_ms)
    desk.send(SITE, "ESD-01", "tripped")
    return demand_ms


async def test_an_interlocks_record_has_its_demand_and_response_time(
    client: httpx.AsyncClient, desk: DrivenDesk
) -> None:
    demand_ms = demand_and_trip(desk, 2000)
    window = f"?from_ms={demand_ms - 60_000}&to_ms={demand_ms + 60_000}"
    answer = await client.get(ESD + window, headers=bearer("viewer"))
    assert answer.status_code == 200, answer.text
    record = answer.json()
    assert record["rows"][0]["id"] == "CE-01" and record["rows"][0]["cause"]["vote"] == "1oo4"
    assert (record["demands"], record["in_time"], record["failures"], record["spurious"]) == (
        1, 1, 0, 0)
    assert record["response_ms"] == {"count": 1, "p50": 2000.0, "max": 2000}
    assert [(r["event"], r["row"], r["response_ms"]) for r in record["records"]] == [
        ("ce_response", "CE-01", 2000), ("ce_demand", "CE-01", None)]
    listed = await client.get(f"/api/v1/sites/{SITE}/cause-effect{window}",
                              headers=bearer("viewer"))
    assert [r["interlock"] for r in listed.json()] == ["ESD-01", "ESD-03"]
    before = await client.get(f"{ESD}?from_ms=0&to_ms={demand_ms - 1}", headers=bearer("viewer"))
    assert before.json()["demands"] == 0  # the window bounds it


async def test_a_sensor_that_is_no_interlock_is_404(client: httpx.AsyncClient) -> None:
    path = f"/api/v1/sites/{SITE}/interlocks/GT-101/cause-effect"
    answer = await client.get(path, headers=bearer("viewer"))
    assert answer.status_code == 404
    assert "not an interlock" in answer.json()["detail"]


async def test_alarms_carry_their_rationalization(
    client: httpx.AsyncClient, desk: DrivenDesk
) -> None:
    desk.raise_alarm(SITE, "GT-101", "high_high", "critical", 45.0)
    desk.raise_alarm(SITE, "GT-105", "high", "high")
    alarms = {a["alarm_id"]: a for a in
              (await client.get(f"/api/v1/alarms?site={SITE}", headers=bearer("viewer"))).json()}
    explained = alarms[f"{SITE}/GT-101/high_high#1"]["rationalization"]
    assert explained["action"].startswith("确认 ESD-01 已动作")
    assert set(explained) == {"cause", "consequence", "action", "respond_within_s", "source"}
    assert alarms[f"{SITE}/GT-105/high#1"]["rationalization"] is None
    acked = await client.post(f"/api/v1/alarms/{SITE}%2FGT-101%2Fhigh_high%231/ack",
                              json={"note": "seen"}, headers=bearer("operator"))
    assert acked.json()["rationalization"]["cause"] == explained["cause"]


async def test_the_kpi_lists_the_alarms_without_a_rationalization(
    client: httpx.AsyncClient,
) -> None:
    figures = (await client.get(f"/api/v1/kpi?site={SITE}", headers=bearer("auditor"))).json()
    keys = {a["key"] for a in figures["unrationalized"]}
    assert f"{SITE}/GT-102/high_high" in keys and f"{SITE}/ESD-01/bypass" in keys
    assert f"{SITE}/GT-101/high" not in keys and f"{SITE}/ESD-01/trip" not in keys
    assert {a["priority"] for a in figures["unrationalized"]} == {"high", "critical"}
