"""Site-scoped tokens: the role x scope matrix on every /api/v1 endpoint.

Besides the demo plant's unscoped tokens ("demo-<role>"), every role gets a token
scoped to jh-chem-01 ("a-<role>", the site the endpoints of tests/api/test_roles.py
name) and one scoped to wy-mine-01 and dy-cold-01 ("b-<role>", two other sites).
For each endpoint and role: without the right 403 (whatever the scope); with it, an
endpoint about a site or an alarm outside the scope answers 404 exactly as for one
that does not exist, and lists, the journal, the figures and the stream hold only the
scope's sites.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from hazmon.api.app import create_app
from hazmon.api.auth import ROLE_RIGHTS, Right
from hazmon.api.stream import events
from hazmon.api.testing import DrivenDesk
from hazmon.contract.registry import Registry, Token
from hazmon.stores.memory import MemoryStore
from tests.api.conftest import ROLES
from tests.api.test_roles import ENDPOINTS, IDS, payload, with_danger

# every endpoint times every role (and scope) on the whole app: the integration tier,
# so that the unit tier stays a quick answer
pytestmark = pytest.mark.integration

A = "jh-chem-01"
B_SITES = ("dy-cold-01", "wy-mine-01")
A_ALARM = "jh-chem-01/GT-101/high#1"
B_ALARM = "wy-mine-01/GT-01/high#1"
SCOPES: dict[str, list[str] | None] = {"demo": None, "a": [A], "b": list(B_SITES)}


def token(scope: str, role: str) -> str:
    return f"{scope}-{role}"


def bearer(scope: str, role: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token(scope, role)}"}


def scoped_registry(registry: Registry) -> Registry:
    tokens = list(registry.auth.tokens)
    for scope, sites in SCOPES.items():
        if sites is None:
            continue
        for role in ROLES:
            digest = hashlib.sha256(token(scope, role).encode()).hexdigest()
            tokens.append(Token(name=f"{scope}.{role}", role=role, sha256=digest, sites=sites))
    auth = registry.auth.model_copy(update={"tokens": tokens})
    return registry.model_copy(update={"auth": auth})


@pytest.fixture
def desk(registry: Registry) -> DrivenDesk:
    desk = DrivenDesk(scoped_registry(registry))
    desk.raise_alarm(A, "GT-101", "high", "high", 22.0)
    desk.raise_alarm("wy-mine-01", "GT-01", "high", "high")
    with_danger(desk)
    return desk


@pytest.fixture
def app(desk: DrivenDesk) -> FastAPI:
    app = create_app(registry=desk.registry, desk=desk, store=MemoryStore(), metrics=[],
                     health=lambda: {"broker": True, "store": True}, keepalive_s=0.5)
    app.state.ctx.stopping.set()  # the event stream answers `ready` and ends
    return app


def about_site_a(path: str) -> bool:
    """Whether the endpoint is about one site or one alarm (of jh-chem-01)."""
    return "jh-chem-01" in path


@pytest.mark.parametrize(("method", "route", "path", "body", "right"), ENDPOINTS, ids=IDS)
async def test_role_and_scope_matrix(
    client: httpx.AsyncClient, desk: DrivenDesk, method: str, route: str, path: str,
    body: dict[str, Any] | None, right: Right,
) -> None:
    for scope in SCOPES:
        for role in ROLES:
            answer = await client.request(method, path, **payload(body),
                                          headers=bearer(scope, role))
            if right not in ROLE_RIGHTS[role]:
                expected = {403}  # the right first: it tells nothing about the site
            elif about_site_a(path) and scope == "b":
                expected = {404}
            elif route in ("/api/v1/kpi", "/api/v1/replay") and scope == "b":
                expected = {400}  # figures are per site: a two-site token names one
            else:
                expected = {200, 409}
            assert answer.status_code in expected, (scope, role, answer.text)


ABOUT_SITE_A = [e for e in ENDPOINTS if about_site_a(e[2])]


@pytest.mark.parametrize(("method", "route", "path", "body", "right"), ABOUT_SITE_A,
                         ids=[f"{m} {r}" for m, r, *_ in ABOUT_SITE_A])
async def test_another_scopes_site_or_alarm_is_404_like_one_that_does_not_exist(
    client: httpx.AsyncClient, desk: DrivenDesk, method: str, route: str, path: str,
    body: dict[str, Any] | None, right: Right,
) -> None:
    """Not 403: a scoped token cannot tell another scope's ids from made-up ones."""
    journal = len(desk.journal)
    real = await client.request(method, path, **payload(body), headers=bearer("b", "admin"))
    made_up_path = path.replace("jh-chem-01", "jh-chem-99")
    made_up = await client.request(method, made_up_path, **payload(body),
                                   headers=bearer("demo", "admin"))
    assert real.status_code == made_up.status_code == 404
    assert real.json()["error"] == made_up.json()["error"]
    assert real.json()["detail"] == made_up.json()["detail"].replace("jh-chem-99", "jh-chem-01")
    assert len(desk.journal) == journal  # nothing happened


async def test_an_operator_of_site_a_cannot_ack_site_bs_alarm(
    client: httpx.AsyncClient, desk: DrivenDesk
) -> None:
    encoded = B_ALARM.replace("/", "%2F").replace("#", "%23")
    answer = await client.post(f"/api/v1/alarms/{encoded}/ack", json={"note": "not mine"},
                               headers=bearer("a", "operator"))
    assert (answer.status_code, answer.json()["error"]) == (404, "unknown_alarm")
    assert desk.occurrence(B_ALARM)["state"] == "unack"
    assert [e["user"] for e in desk.journal if not e["event"].startswith("hd_")] == [None, None]
    answer = await client.post(f"/api/v1/alarms/{encoded}/ack", json={"note": "mine"},
                               headers=bearer("b", "operator"))
    assert answer.status_code == 200
    assert desk.occurrence(B_ALARM)["acked_by"] == "b.operator"


async def test_lists_hold_only_the_scopes_sites(client: httpx.AsyncClient) -> None:
    async def get(scope: str, role: str, path: str) -> Any:
        answer = await client.get(path, headers=bearer(scope, role))
        assert answer.status_code == 200, answer.text
        return answer.json()

    assert [s["id"] for s in await get("a", "viewer", "/api/v1/sites")] == [A]
    assert sorted(s["id"] for s in await get("b", "viewer", "/api/v1/sites")) == list(B_SITES)
    assert len(await get("demo", "viewer", "/api/v1/sites")) == 4
    assert [a["alarm_id"] for a in await get("a", "viewer", "/api/v1/alarms")] == [A_ALARM]
    assert [a["alarm_id"] for a in await get("b", "viewer", "/api/v1/alarms")] == [B_ALARM]
    assert await get("b", "viewer", f"/api/v1/alarms?site={A}") == []
    assert len(await get("demo", "viewer", "/api/v1/alarms")) == 2
    assert (await get("b", "viewer", "/api/v1/me"))["sites"] == list(B_SITES)
    assert (await get("demo", "viewer", "/api/v1/me"))["sites"] is None

    registry = await get("b", "engineer", "/api/v1/registry")
    assert sorted(s["id"] for s in registry["sites"]) == list(B_SITES)
    assert {t["name"] for t in registry["auth"]["tokens"]} == {f"b.{r}" for r in ROLES}
    assert len((await get("demo", "engineer", "/api/v1/registry"))["sites"]) == 4


async def test_the_journal_and_the_figures_hold_only_the_scopes_sites(
    client: httpx.AsyncClient,
) -> None:
    async def journal(scope: str, query: str = "") -> httpx.Response:
        return await client.get(f"/api/v1/journal?format=jsonl{query}",
                                headers=bearer(scope, "auditor"))

    def sites_in(answer: httpx.Response) -> set[str]:
        assert answer.status_code == 200, answer.text
        return {json.loads(line)["site"] for line in answer.text.splitlines() if line}

    assert sites_in(await journal("demo")) == {A, "wy-mine-01"}
    assert sites_in(await journal("a")) == {A}
    assert sites_in(await journal("b")) == {"wy-mine-01"}  # several sites: filtered
    csv = await client.get("/api/v1/journal?format=csv", headers=bearer("b", "auditor"))
    assert csv.status_code == 200 and "wy-mine-01" in csv.text and A not in csv.text
    assert (await journal("b", f"&site={A}")).status_code == 404
    assert sites_in(await journal("b", "&site=wy-mine-01")) == {"wy-mine-01"}
    verify = await client.get("/api/v1/journal/verify", headers=bearer("b", "auditor"))
    assert verify.json()["ok"] is True

    async def kpi(scope: str, query: str = "") -> httpx.Response:
        return await client.get(f"/api/v1/kpi?from_ms=0{query}", headers=bearer(scope, "auditor"))

    assert (await kpi("a")).json()["site"] == A  # a one-site token: its site
    several = await kpi("b")
    assert (several.status_code, several.json()["error"]) == (400, "bad_request")
    assert "dy-cold-01, wy-mine-01" in several.json()["detail"]
    assert (await kpi("b", "&site=wy-mine-01")).json()["total"]["raised"] == 1
    assert (await kpi("b", f"&site={A}")).status_code == 404
    assert (await kpi("demo")).json()["site"] is None


async def test_the_stream_holds_only_the_scopes_events(app: FastAPI, desk: DrivenDesk) -> None:
    app.state.ctx.stopping.clear()
    ctx = app.state.ctx
    principal = app.state.authenticator.authenticate("b-viewer")
    stream = events(ctx, principal)
    assert (await anext(stream)).startswith("retry:")
    desk.raise_alarm(A, "GT-101", "high_high", "critical", 99.0)  # alarm and risk of A
    desk.raise_alarm("dy-cold-01", "AT-01", "high", "high", 30.0)
    seen: list[dict[str, Any]] = []
    while len(seen) < 2:
        seen.append(json.loads((await anext(stream)).split("data: ", 1)[1]))
    assert {item["site"] for item in seen} == {"dy-cold-01"}
    assert seen[0]["alarm_id"] == "dy-cold-01/AT-01/high#1"
    assert "grade" in seen[1]  # dy-cold-01's risk change
    await stream.aclose()


def test_a_tokens_sites_must_be_the_registrys() -> None:
    from hazmon.contract.config import parse_registry
    from hazmon.contract.errors import ConfigError
    from tests.api.conftest import DEMO_PLANT

    text = DEMO_PLANT.read_text(encoding="utf-8").replace(
        "role: viewer,", "role: viewer, sites: [jh-chem-01, jh-chem-1O],", 1)
    with pytest.raises(ConfigError) as caught:
        parse_registry(text, file="plant.yaml")
    [problem] = caught.value.problems
    assert "auth.tokens[0].sites[1]" in str(problem) and "'jh-chem-1O'" in str(problem)
    good = DEMO_PLANT.read_text(encoding="utf-8").replace(
        "role: viewer,", "role: viewer, sites: [jh-chem-01],", 1)
    assert parse_registry(good).auth.tokens[0].sites == ["jh-chem-01"]
