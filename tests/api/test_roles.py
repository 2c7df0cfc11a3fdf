"""The role matrix of docs/contract.md §7: 401 without or with an unknown token, 403 for a role
without the right, and neither for a role with it, on every /api/v1 endpoint; both
before the body or the query is looked at."""

from __future__ import annotations

import hashlib
import time
from typing import Any

import httpx
import pytest
from fastapi import APIRouter, FastAPI

from hazmon.alarms.dangers.book import NewDanger
from hazmon.api.auth import ROLE_RIGHTS, Authenticator, AuthFirstRoute, Right, right_of
from hazmon.api.errors import Unauthorized
from hazmon.api.testing import HOUR_MS, DrivenDesk
from hazmon.contract.registry import Token
from tests.api.conftest import DEMO_PLANT, ROLES, bearer

# every endpoint times every role (and scope) on the whole app: the integration tier,
# so that the unit tier stays a quick answer
pytestmark = pytest.mark.integration

ALARM = "jh-chem-01/GT-101/high#1"
ENCODED = "jh-chem-01%2FGT-101%2Fhigh%231"
SENSOR = "/api/v1/sites/jh-chem-01/sensors/GT-101"
# in an hour: ahead of the desk's clock, within the longest permit and out-of-service
UNTIL_MS = int(time.time() * 1000) + HOUR_MS

DANGER = "HD-jh-chem-01-0001"
NEW_DANGER = {"area": "罐区A", "description": "防火堤破损", "grade": "general"}
PNG = b"\x89PNG\r\n\x1a\n" + bytes(64)  # an evidence file: a PNG by its first bytes
PNG_SHA = hashlib.sha256(PNG).hexdigest()

# (method, path in the OpenAPI document, concrete path, body, right needed)
ENDPOINTS: list[tuple[str, str, str, Any, Right]] = [
    ("GET", "/api/v1/me", "/api/v1/me", None, Right.read),
    ("GET", "/api/v1/sites", "/api/v1/sites", None, Right.read),
    ("GET", "/api/v1/sites/{site}/sensors", "/api/v1/sites/jh-chem-01/sensors", None, Right.read),
    ("GET", "/api/v1/sites/{site}/sensors/{sensor}/readings", f"{SENSOR}/readings", None,
     Right.read),
    ("GET", "/api/v1/sites/{site}/sensors/{sensor}/events", f"{SENSOR}/events", None,
     Right.read),
    ("GET", "/api/v1/alarms", "/api/v1/alarms?active=true", None, Right.read),
    ("GET", "/api/v1/stream", "/api/v1/stream", None, Right.read),
    ("POST", "/api/v1/alarms/ack", "/api/v1/alarms/ack", {"alarm_ids": ["x/y/high#1"]},
     Right.operate),
    ("POST", "/api/v1/alarms/{alarm_id}/ack", f"/api/v1/alarms/{ENCODED}/ack",
     {"note": "seen"}, Right.operate),
    ("POST", "/api/v1/alarms/{alarm_id}/reset", f"/api/v1/alarms/{ENCODED}/reset",
     {"note": "reset"}, Right.operate),
    ("POST", "/api/v1/alarms/{alarm_id}/shelve", f"/api/v1/alarms/{ENCODED}/shelve",
     {"minutes": 10, "reason": "nuisance"}, Right.operate),
    ("POST", "/api/v1/alarms/{alarm_id}/note", f"/api/v1/alarms/{ENCODED}/note",
     {"note": "a note"}, Right.operate),
    ("POST", "/api/v1/alarms/{alarm_id}/unshelve", f"/api/v1/alarms/{ENCODED}/unshelve",
     {"note": "needed again"}, Right.operate),
    ("POST", "/api/v1/sites/{site}/sensors/{sensor}/bypass-permits",
     "/api/v1/sites/jh-chem-01/sensors/ESD-01/bypass-permits",
     {"until_ms": UNTIL_MS, "reason": "proof test", "approved_by": "li.na",
      "compensating_measures": "fire watch"}, Right.engineer),
    ("POST", "/api/v1/sites/{site}/sensors/{sensor}/out-of-service",
     f"{SENSOR}/out-of-service", {"until_ms": UNTIL_MS, "reason": "replaced"}, Right.engineer),
    ("POST", "/api/v1/sites/{site}/sensors/{sensor}/return-to-service",
     f"{SENSOR}/return-to-service", {"note": "calibrated"}, Right.engineer),
    ("GET", "/api/v1/registry", "/api/v1/registry", None, Right.engineer),
    ("GET", "/api/v1/journal", "/api/v1/journal?format=csv", None, Right.audit),
    ("GET", "/api/v1/journal/verify", "/api/v1/journal/verify", None, Right.audit),
    ("GET", "/api/v1/kpi", "/api/v1/kpi", None, Right.figures),
    ("GET", "/api/v1/monitoring", "/api/v1/monitoring", None, Right.read),
    ("GET", "/api/v1/sites/{site}/cause-effect", "/api/v1/sites/jh-chem-01/cause-effect",
     None, Right.read),
    ("GET", "/api/v1/sites/{site}/interlocks/{interlock}/cause-effect",
     "/api/v1/sites/jh-chem-01/interlocks/ESD-01/cause-effect", None, Right.read),
    ("GET", "/api/v1/feeds", "/api/v1/feeds", None, Right.read),
    ("GET", "/api/v1/sites/{site}/feed-report",
     "/api/v1/sites/jh-chem-01/feed-report?month=2025-01", None, Right.audit),
    ("POST", "/api/v1/replay", "/api/v1/replay",
     {"proposed": DEMO_PLANT.read_text(encoding="utf-8"), "from_ms": 0, "to_ms": 60_000},
     Right.engineer),
    # hidden dangers (docs/hidden-dangers.md): `ready` records DANGER with a PNG
    ("GET", "/api/v1/dangers", "/api/v1/dangers?state=open", None, Right.read),
    ("POST", "/api/v1/sites/{site}/dangers", "/api/v1/sites/jh-chem-01/dangers", NEW_DANGER,
     Right.inspect),
    ("POST", "/api/v1/sites/{site}/dangers/self-check",
     "/api/v1/sites/jh-chem-01/dangers/self-check", NEW_DANGER, Right.rectify),
    ("GET", "/api/v1/dangers/ledger", "/api/v1/dangers/ledger?site=jh-chem-01&quarter=2026Q4",
     None, Right.read),
    ("GET", "/api/v1/dangers/stats", "/api/v1/dangers/stats?quarter=2026Q4", None, Right.read),
    ("GET", "/api/v1/dangers/{danger_id}", f"/api/v1/dangers/{DANGER}", None, Right.read),
    ("POST", "/api/v1/dangers/{danger_id}/order", f"/api/v1/dangers/{DANGER}/order",
     {"deadline_ms": UNTIL_MS, "owner_enterprise": "zhang.wei", "owner_bureau": "liu.jun"},
     Right.inspect),
    ("POST", "/api/v1/dangers/{danger_id}/rectify", f"/api/v1/dangers/{DANGER}/rectify",
     {"note": "开始整改"}, Right.rectify),
    ("POST", "/api/v1/dangers/{danger_id}/evidence", f"/api/v1/dangers/{DANGER}/evidence",
     {"text": "已更换"}, Right.rectify),
    ("PUT", "/api/v1/dangers/{danger_id}/evidence/files",
     f"/api/v1/dangers/{DANGER}/evidence/files?name=site.png", PNG, Right.rectify),
    ("GET", "/api/v1/dangers/{danger_id}/evidence/files/{sha256}",
     f"/api/v1/dangers/{DANGER}/evidence/files/{PNG_SHA}", None, Right.read),
    ("POST", "/api/v1/dangers/{danger_id}/submit", f"/api/v1/dangers/{DANGER}/submit",
     {"note": "完成"}, Right.rectify),
    ("POST", "/api/v1/dangers/{danger_id}/accept", f"/api/v1/dangers/{DANGER}/accept",
     {"note": "合格"}, Right.inspect),
    ("POST", "/api/v1/dangers/{danger_id}/reject", f"/api/v1/dangers/{DANGER}/reject",
     {"note": "照片不清"}, Right.inspect),
]
IDS = [f"{m} {route}" for m, route, *_ in ENDPOINTS]


def test_the_table_covers_every_api_route(app: FastAPI) -> None:
    declared = {
        (method.upper(), path)
        for path, operations in app.openapi()["paths"].items()
        if path.startswith("/api/")
        for method in operations
    }
    assert declared == {(m, route) for m, route, *_ in ENDPOINTS}


def test_the_matrix_is_the_contracts() -> None:
    may = {role: {r.value for r in rights} for role, rights in ROLE_RIGHTS.items()}
    assert may == {
        "viewer": {"read"},
        "operator": {"read", "operate", "rectify"},
        "engineer": {"read", "engineer", "figures", "rectify"},
        "auditor": {"read", "audit", "figures"},
        "admin": {"read", "operate", "engineer", "audit", "figures", "inspect", "rectify"},
        "inspector": {"read", "inspect"},
    }


def payload(body: Any) -> dict[str, Any]:
    """The request's body: raw bytes (an evidence file), else JSON."""
    return {"content": body} if isinstance(body, bytes) else {"json": body}


async def _call(
    client: httpx.AsyncClient, method: str, path: str, body: Any, headers: dict[str, str],
) -> int:
    return (await client.request(method, path, **payload(body), headers=headers)).status_code


READY_ENTRIES = 3  # the alarm raised; DANGER recorded, its evidence file


def with_danger(desk: DrivenDesk) -> None:
    """DANGER recorded at jh-chem-01 with PNG as evidence."""
    desk.dangers.create(NewDanger(site="jh-chem-01", area="罐区A", description="防火堤破损",
                                  grade="general", source="inspection", found_by="liu.jun"),
                        user="liu.jun", note=None)
    desk.dangers.add_file(DANGER, name="site.png", data=PNG, user="zhang.wei")


@pytest.fixture
def ready(app: FastAPI, desk: DrivenDesk) -> DrivenDesk:
    desk.raise_alarm("jh-chem-01", "GT-101", "high", "high", 22.0)
    with_danger(desk)
    app.state.ctx.stopping.set()  # the event stream answers `ready` and ends
    return desk


@pytest.mark.parametrize(("method", "route", "path", "body", "right"), ENDPOINTS, ids=IDS)
async def test_no_token_or_an_unknown_one_is_401(
    client: httpx.AsyncClient, ready: DrivenDesk, method: str, route: str, path: str,
    body: dict[str, Any] | None, right: Right,
) -> None:
    for headers in ({}, {"Authorization": "Bearer not-a-token"},
                    {"Authorization": "Basic ZGVtbzpkZW1v"}, {"Authorization": "Bearer "}):
        response = await client.request(method, path, **payload(body), headers=headers)
        assert response.status_code == 401, headers
        assert response.json()["error"] == "unauthorized"
        assert response.headers["www-authenticate"] == "Bearer"
    assert len(ready.journal) == READY_ENTRIES  # nothing happened


@pytest.mark.parametrize(("method", "route", "path", "body", "right"), ENDPOINTS, ids=IDS)
async def test_each_role_gets_403_exactly_without_the_right(
    client: httpx.AsyncClient, ready: DrivenDesk, method: str, route: str, path: str,
    body: dict[str, Any] | None, right: Right,
) -> None:
    for role in ROLES:
        status = await _call(client, method, path, body, bearer(role))
        if right in ROLE_RIGHTS[role]:
            assert status in (200, 409), (role, status)
        else:
            assert status == 403, (role, status)


BAD_BODIES: list[bytes] = [b"{not json", b'{"note": 5, "minutes": "ten"}', b"[]", b"\xff\xfe"]


@pytest.mark.parametrize(("method", "route", "path", "body", "right"), ENDPOINTS, ids=IDS)
async def test_the_token_is_checked_before_the_body_and_the_query(
    client: httpx.AsyncClient, ready: DrivenDesk, method: str, route: str, path: str,
    body: dict[str, Any] | None, right: Right,
) -> None:
    """docs/contract.md §7: no token is 401 and a role without the right 403, whatever the
    body or the query (FastAPI would parse a body before any dependency runs)."""
    garbled = f"{path}{'&' if '?' in path else '?'}limit=lots&from_ms=soon"
    json = {"Content-Type": "application/json"}
    lacking = [role for role in ROLES if right not in ROLE_RIGHTS[role]]
    for content in BAD_BODIES:
        for target in (path, garbled):
            response = await client.request(method, target, content=content, headers=json)
            assert (response.status_code, response.json()["error"]) == (401, "unauthorized")
            for role in lacking:
                response = await client.request(method, target, content=content,
                                                headers={**json, **bearer(role)})
                assert (response.status_code, response.json()["error"]) == (403, "forbidden")
    assert len(ready.journal) == READY_ENTRIES  # nothing happened


async def test_no_token_and_a_bad_body_is_401_and_a_viewer_with_one_403(
    client: httpx.AsyncClient, ready: DrivenDesk
) -> None:
    json = {"Content-Type": "application/json"}
    path = f"/api/v1/alarms/{ENCODED}/ack"
    response = await client.post(path, content=b'{"note": ', headers=json)
    assert response.status_code == 401
    assert response.headers["www-authenticate"] == "Bearer"
    response = await client.post(path, content=b'{"note": ', headers={**json, **bearer("viewer")})
    assert response.json() == {"error": "forbidden", "detail": "the role 'viewer' may not operate"}
    response = await client.post(path, content=b'{"note": ', headers={**json, **bearer("operator")})
    assert (response.status_code, response.json()["error"]) == (422, "invalid_request")


def test_every_api_route_authenticates_first() -> None:
    from hazmon.api import routes_alarms, routes_audit, routes_sites, stream

    for module in (routes_alarms, routes_audit, routes_sites, stream):
        for route in module.router.routes:
            assert isinstance(route, AuthFirstRoute), route
            assert right_of(route.dependant) is not None, route.path
    router = APIRouter(route_class=AuthFirstRoute)
    with pytest.raises(TypeError, match="needs a right"):
        router.add_api_route("/open", lambda: {})


async def test_a_forbidden_action_changes_nothing(
    client: httpx.AsyncClient, ready: DrivenDesk
) -> None:
    response = await client.post(f"/api/v1/alarms/{ENCODED}/ack", json={"note": "x"},
                           headers=bearer("viewer"))
    assert response.json() == {"error": "forbidden", "detail": "the role 'viewer' may not operate"}
    assert ready.occurrence(ALARM)["state"] == "unack"
    assert len(ready.journal) == READY_ENTRIES


async def test_actions_are_made_in_the_token_names_name(
    client: httpx.AsyncClient, ready: DrivenDesk
) -> None:
    await client.post(f"/api/v1/alarms/{ENCODED}/ack", json={"note": "on it"},
                headers=bearer("operator"))
    assert ready.journal[-1]["user"] == "zhang.wei"
    assert (await client.get("/api/v1/me", headers=bearer("auditor"))).json() == {
        "name": "wang.fang", "role": "auditor", "rights": ["audit", "figures", "read"],
        "sites": None,
    }


def test_tokens_are_compared_by_hash() -> None:
    import hashlib

    digest = hashlib.sha256(b"s3cret").hexdigest()
    auth = Authenticator([Token(name="a", role="viewer", sha256=digest.upper())])
    assert auth.authenticate("s3cret").name == "a"
    for wrong in ("s3cre", "s3cret ", digest, ""):
        with pytest.raises(Unauthorized):
            auth.authenticate(wrong)
