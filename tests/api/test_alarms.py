"""Operator actions over HTTP: percent-encoded alarm ids, 409 with nothing changed for
an illegal transition, 404/400/422 in the one error shape. The desk is the real engine
in memory: alarms are raised and cleared by readings (hazmon.api.testing)."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from hazmon.alarms.core.inputs import Ack
from hazmon.api.testing import HOUR_MS, DrivenDesk
from tests.api.conftest import bearer

OPERATOR = bearer("operator")


def url(alarm_id: str, action: str) -> str:
    encoded = alarm_id.replace("/", "%2F").replace("#", "%23")
    return f"/api/v1/alarms/{encoded}/{action}"


def snapshot(desk: DrivenDesk) -> tuple[list[dict[str, Any]], int]:
    return desk.alarms(), len(desk.journal)


async def test_ack_with_a_note_then_ack_again_is_409_and_changes_nothing(
    client: httpx.AsyncClient, desk: DrivenDesk
) -> None:
    alarm = desk.raise_alarm("jh-chem-01", "GT-101", "high_high", "critical", 45.0, latched=True)
    assert [a["alarm_id"] for a in desk.alarms()] == [  # 45 %LEL is over `high` too
        "jh-chem-01/GT-101/high_high#1", "jh-chem-01/GT-101/high#1"]
    first = await client.post(url(alarm["alarm_id"], "ack"), json={"note": "crew sent"},
                              headers=OPERATOR)
    assert first.status_code == 200
    body = first.json()
    assert (body["state"], body["event"], body["acked_by"], body["note"]) == (
        "acked", "acked", "zhang.wei", "crew sent")
    before = snapshot(desk)
    again = await client.post(url(alarm["alarm_id"], "ack"), json={"note": "twice"},
                              headers=OPERATOR)
    assert again.status_code == 409
    assert again.json() == {
        "error": "illegal_transition",
        "detail": "cannot ack jh-chem-01/GT-101/high_high#1 in state acked",
    }
    assert snapshot(desk) == before


@pytest.mark.parametrize(
    ("setup", "action", "body"),
    [
        ("active", "reset", {"note": "too early"}),  # reset an active alarm
        ("unlatched_rtn", "reset", {}),  # reset an unlatched alarm
        ("ended", "ack", {}),  # ack a normal (ended) occurrence
        ("ended", "shelve", {"minutes": 5, "reason": "noise"}),  # shelve normal
        ("active", "unshelve", {"note": "not shelved"}),  # unshelve unack
        ("ended", "unshelve", {"note": "ended"}),  # unshelve normal
    ],
)
async def test_illegal_transitions_answer_409_with_nothing_changed(
    client: httpx.AsyncClient, desk: DrivenDesk, setup: str, action: str, body: dict[str, Any]
) -> None:
    alarm = desk.raise_alarm("dy-cold-01", "AT-01", "high", "high", 25.0, latched=False)
    alarm_id = alarm["alarm_id"]
    if setup in ("unlatched_rtn", "ended"):
        desk.clear("dy-cold-01", "AT-01")
        assert desk.occurrence(alarm_id)["state"] == "rtn_unack"
    if setup == "ended":
        desk.act(Ack(alarm_id, user="x", note=None))
        assert desk.occurrence(alarm_id)["state"] == "normal"
    before = snapshot(desk)
    response = await client.post(url(alarm_id, action), json=body, headers=OPERATOR)
    assert response.status_code == 409
    assert response.json()["error"] == "illegal_transition"
    assert snapshot(desk) == before


async def test_latched_alarm_ack_then_reset(client: httpx.AsyncClient, desk: DrivenDesk) -> None:
    alarm_id = desk.raise_alarm("jh-chem-01", "GT-102", "high_high", "critical", 60.0,
                                latched=True)["alarm_id"]
    desk.clear("jh-chem-01", "GT-102")
    assert desk.occurrence(alarm_id)["state"] == "unack"  # latched: waits for ack and reset
    assert (await client.post(url(alarm_id, "ack"), json={}, headers=OPERATOR)).status_code == 200
    reset = await client.post(url(alarm_id, "reset"), json={"note": "gas gone"}, headers=OPERATOR)
    assert reset.status_code == 200
    assert reset.json()["state"] == "normal"
    listed = (await client.get("/api/v1/alarms?active=true", headers=OPERATOR)).json()
    assert [(a["alarm_id"], a["state"]) for a in listed] == [  # `high` does not latch
        ("jh-chem-01/GT-102/high#1", "rtn_unack")]


async def test_an_unencoded_alarm_id_works_too(client: httpx.AsyncClient, desk: DrivenDesk) -> None:
    alarm_id = desk.raise_alarm("jh-chem-01", "GT-103", "high", "high", 21.0)["alarm_id"]
    response = await client.post(f"/api/v1/alarms/{alarm_id.replace('#', '%23')}/note",
                                 json={"note": "checked"}, headers=OPERATOR)
    assert response.status_code == 200
    assert desk.journal[-1]["note"] == "checked"


async def test_unknown_alarm_is_404(client: httpx.AsyncClient) -> None:
    response = await client.post(url("jh-chem-01/NOPE/high#1", "ack"), json={}, headers=OPERATOR)
    assert response.status_code == 404
    assert response.json()["error"] == "unknown_alarm"


async def test_shelving_limits_are_400_and_a_bad_body_422(
    client: httpx.AsyncClient, desk: DrivenDesk
) -> None:
    critical = desk.raise_alarm("jh-chem-01", "GT-104", "high_high", "critical", 55.0)
    high = desk.raise_alarm("jh-chem-01", "GT-105", "high", "high", 23.0)
    before = snapshot(desk)
    cases = [
        (critical["alarm_id"], {"minutes": 10, "reason": "x"}, 400, "limit_exceeded"),
        (high["alarm_id"], {"minutes": 481, "reason": "x"}, 400, "limit_exceeded"),
        (high["alarm_id"], {"minutes": 10}, 422, "invalid_request"),
        (high["alarm_id"], {"minutes": 10, "reason": ""}, 422, "invalid_request"),
        (high["alarm_id"], {"minutes": "ten", "reason": "x"}, 422, "invalid_request"),
        (high["alarm_id"], {"minutes": 10, "reason": "x", "extra": 1}, 422, "invalid_request"),
    ]
    for alarm_id, body, status, code in cases:
        response = await client.post(url(alarm_id, "shelve"), json=body, headers=OPERATOR)
        assert (response.status_code, response.json()["error"]) == (status, code), body
        assert response.json()["detail"]
    assert snapshot(desk) == before
    ok = await client.post(url(high["alarm_id"], "shelve"),
                           json={"minutes": 30, "reason": "sensor wash"}, headers=OPERATOR)
    assert ok.json()["state"] == "shelved"


async def test_alarm_list_filters_and_order(client: httpx.AsyncClient, desk: DrivenDesk) -> None:
    first = desk.raise_alarm("jh-chem-01", "GT-103", "high", "high", 21.0)
    second = desk.raise_alarm("yw-paint-01", "GT-01", "high_high", "critical", 51.0)
    also = "yw-paint-01/GT-01/high#1"  # raised with it: 51 %LEL is over `high` too
    desk.clear("jh-chem-01", "GT-103")
    desk.act(Ack(first["alarm_id"], user="x", note=None))

    async def get(query: str) -> httpx.Response:
        return await client.get(f"/api/v1/alarms{query}", headers=OPERATOR)

    assert [a["alarm_id"] for a in (await get("")).json()] == [
        second["alarm_id"], also, first["alarm_id"]]
    assert [a["alarm_id"] for a in (await get("?active=true")).json()] == [
        second["alarm_id"], also]
    assert [a["alarm_id"] for a in (await get("?active=false")).json()] == [first["alarm_id"]]
    assert (await get("?site=jh-chem-01&priority=critical")).json() == []
    assert len((await get("?limit=1")).json()) == 1
    assert (await get("?priority=urgent")).status_code == 422


async def shelve(client: httpx.AsyncClient, alarm_id: str, minutes: int = 30) -> dict[str, Any]:
    response = await client.post(url(alarm_id, "shelve"),
                                 json={"minutes": minutes, "reason": "sensor wash"},
                                 headers=OPERATOR)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


async def test_a_shelved_alarm_is_listed_with_its_end_and_unshelved_raised_again(
    client: httpx.AsyncClient, desk: DrivenDesk
) -> None:
    alarm_id = desk.raise_alarm("jh-chem-01", "GT-105", "high", "high", 23.0)["alarm_id"]
    shelved = await shelve(client, alarm_id)
    assert shelved["state"] == "shelved"
    assert shelved["shelved_until_ms"] == shelved["ts_ms"] + 30 * 60_000
    listed = (await client.get("/api/v1/alarms?active=true", headers=OPERATOR)).json()
    assert [(a["state"], a["shelved_until_ms"]) for a in listed] == [
        ("shelved", shelved["shelved_until_ms"])]
    before = snapshot(desk)
    for body in ({}, {"note": ""}, {"note": None}, {"note": "x", "minutes": 1}):
        refused = await client.post(url(alarm_id, "unshelve"), json=body, headers=OPERATOR)
        assert (refused.status_code, refused.json()["error"]) == (422, "invalid_request"), body
    assert snapshot(desk) == before
    back = await client.post(url(alarm_id, "unshelve"), json={"note": "wash done"},
                             headers=OPERATOR)
    assert back.status_code == 200
    assert (back.json()["state"], back.json()["event"], back.json()["shelved_until_ms"]) == (
        "unack", "raised", None)
    assert [(e["event"], e["from_state"], e["to_state"], e["user"], e["note"])
            for e in desk.journal[-2:]] == [
        ("unshelved", "shelved", "unack", "zhang.wei", "wash done"),
        ("raised", "unack", "unack", "zhang.wei", "wash done"),
    ]
    again = await client.post(url(alarm_id, "unshelve"), json={"note": "twice"},
                              headers=OPERATOR)
    assert again.status_code == 409
    assert again.json() == {
        "error": "illegal_transition",
        "detail": f"cannot unshelve {alarm_id} in state unack",
    }


async def test_unshelving_an_unacknowledged_alarm_that_cleared_while_shelved_keeps_it(
    client: httpx.AsyncClient, desk: DrivenDesk
) -> None:
    """Hiding never discharges an obligation (docs/alarms.md, "States: choices made"):
    the alarm comes back unacknowledged, returned to normal, and an ack ends it."""
    alarm_id = desk.raise_alarm("jh-chem-01", "GT-105", "high", "high", 23.0)["alarm_id"]
    await shelve(client, alarm_id)
    desk.clear("jh-chem-01", "GT-105")
    assert desk.occurrence(alarm_id)["state"] == "shelved"  # hidden, still evaluated
    back = await client.post(url(alarm_id, "unshelve"), json={"note": "check"},
                             headers=OPERATOR)
    assert (back.json()["state"], back.json()["event"]) == ("rtn_unack", "unshelved")
    listed = (await client.get("/api/v1/alarms?active=true", headers=OPERATOR)).json()
    assert [a["alarm_id"] for a in listed] == [alarm_id]
    acked = await client.post(url(alarm_id, "ack"), json={}, headers=OPERATOR)
    assert (acked.json()["state"], acked.json()["event"]) == ("normal", "acked")
    assert (await client.get("/api/v1/alarms?active=true", headers=OPERATOR)).json() == []


async def test_unshelving_an_acknowledged_alarm_that_cleared_while_shelved_ends_it(
    client: httpx.AsyncClient, desk: DrivenDesk
) -> None:
    alarm_id = desk.raise_alarm("jh-chem-01", "GT-105", "high", "high", 23.0)["alarm_id"]
    assert (await client.post(url(alarm_id, "ack"), json={}, headers=OPERATOR)).status_code == 200
    await shelve(client, alarm_id)
    desk.clear("jh-chem-01", "GT-105")
    back = await client.post(url(alarm_id, "unshelve"), json={"note": "check"},
                             headers=OPERATOR)
    assert (back.json()["state"], back.json()["event"]) == ("normal", "unshelved")
    assert (await client.get("/api/v1/alarms?active=true", headers=OPERATOR)).json() == []


ENGINEER = bearer("engineer")
SENSOR = "/api/v1/sites/jh-chem-01/sensors/GT-105"


async def test_return_to_service_re_evaluates_and_is_409_when_in_service(
    client: httpx.AsyncClient, desk: DrivenDesk
) -> None:
    alarm_id = desk.raise_alarm("jh-chem-01", "GT-105", "high", "high", 23.0)["alarm_id"]
    before = snapshot(desk)
    early = await client.post(f"{SENSOR}/return-to-service", json={"note": "fine"},
                              headers=ENGINEER)
    assert early.status_code == 409
    assert early.json() == {
        "error": "illegal_transition",
        "detail": "cannot return to service jh-chem-01/GT-105 in state in service",
    }
    assert snapshot(desk) == before
    out = await client.post(f"{SENSOR}/out-of-service",
                            json={"until_ms": desk.clock() + HOUR_MS, "reason": "replaced"},
                            headers=ENGINEER)
    assert out.status_code == 200
    assert desk.occurrence(alarm_id)["state"] == "out_of_service"
    assert (await client.post(f"{SENSOR}/return-to-service", json={},
                              headers=ENGINEER)).status_code == 422
    back = await client.post(f"{SENSOR}/return-to-service", json={"note": "calibrated"},
                             headers=ENGINEER)
    assert back.status_code == 200
    assert back.json() == {"site": "jh-chem-01", "sensor": "GT-105", "user": "li.na",
                           "note": "calibrated"}
    assert desk.occurrence(alarm_id)["state"] == "unack"
    assert [e["event"] for e in desk.journal[-2:]] == ["unsuppressed", "raised"]
    unknown = await client.post("/api/v1/sites/jh-chem-01/sensors/NOPE/return-to-service",
                                json={"note": "x"}, headers=ENGINEER)
    assert (unknown.status_code, unknown.json()["error"]) == (404, "not_found")
