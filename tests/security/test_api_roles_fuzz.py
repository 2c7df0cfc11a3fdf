"""Schemathesis over the whole hardened API, as every role, with made-up tokens and with
none: no request gets a 5xx, and no endpoint answers a role that lacks its right
(docs/contract.md §7's role table, written out here independently of api/auth.py).

tests/api/test_openapi.py checks the answers against the document as admin; this file
checks who gets in. The event stream is left out (it never ends; tests/api covers it).
"""

from __future__ import annotations

from typing import Any

import pytest
import schemathesis
import schemathesis.transport.requests
from fastapi import FastAPI
from hypothesis import HealthCheck, settings

from hazmon.api.app import create_app
from hazmon.api.hardening import HardeningSettings, harden
from hazmon.api.testing import DrivenDesk
from hazmon.contract.config import load_registry
from hazmon.stores.memory import MemoryStore
from tests.security.test_hardening import DEMO_PLANT

ALL = frozenset({"viewer", "operator", "engineer", "auditor", "admin", "inspector"})
INSPECT = frozenset({"inspector", "admin"})  # hidden dangers: the bureau's side
RECTIFY = frozenset({"operator", "engineer", "admin"})  # hidden dangers: the enterprise's
OPERATE = frozenset({"operator", "admin"})
ENGINEER = frozenset({"engineer", "admin"})
AUDIT = frozenset({"auditor", "admin"})
FIGURES = frozenset({"auditor", "engineer", "admin"})

# (method, path) -> the roles that may call it (docs/contract.md §7)
WHO_MAY: dict[tuple[str, str], frozenset[str]] = {
    ("GET", "/api/v1/me"): ALL,
    ("GET", "/api/v1/sites"): ALL,
    ("GET", "/api/v1/sites/{site}/sensors"): ALL,
    ("GET", "/api/v1/sites/{site}/sensors/{sensor}/readings"): ALL,
    ("GET", "/api/v1/sites/{site}/sensors/{sensor}/events"): ALL,
    ("GET", "/api/v1/alarms"): ALL,
    ("GET", "/api/v1/stream"): ALL,
    ("POST", "/api/v1/alarms/{alarm_id}/ack"): OPERATE,
    ("POST", "/api/v1/alarms/ack"): OPERATE,
    ("POST", "/api/v1/alarms/{alarm_id}/reset"): OPERATE,
    ("POST", "/api/v1/alarms/{alarm_id}/shelve"): OPERATE,
    ("POST", "/api/v1/alarms/{alarm_id}/note"): OPERATE,
    ("POST", "/api/v1/alarms/{alarm_id}/unshelve"): OPERATE,
    ("POST", "/api/v1/sites/{site}/sensors/{sensor}/bypass-permits"): ENGINEER,
    ("POST", "/api/v1/sites/{site}/sensors/{sensor}/out-of-service"): ENGINEER,
    ("POST", "/api/v1/sites/{site}/sensors/{sensor}/return-to-service"): ENGINEER,
    ("GET", "/api/v1/registry"): ENGINEER,
    ("GET", "/api/v1/journal"): AUDIT,
    ("GET", "/api/v1/journal/verify"): AUDIT,
    ("GET", "/api/v1/kpi"): FIGURES,
    ("GET", "/api/v1/feeds"): ALL,
    ("GET", "/api/v1/sites/{site}/feed-report"): AUDIT,
    ("GET", "/api/v1/monitoring"): ALL,
    ("POST", "/api/v1/replay"): ENGINEER,
    ("GET", "/api/v1/sites/{site}/cause-effect"): ALL,
    ("GET", "/api/v1/sites/{site}/interlocks/{interlock}/cause-effect"): ALL,
    ("GET", "/api/v1/dangers"): ALL,
    ("POST", "/api/v1/sites/{site}/dangers"): INSPECT,
    ("POST", "/api/v1/sites/{site}/dangers/self-check"): RECTIFY,
    ("GET", "/api/v1/dangers/ledger"): ALL,
    ("GET", "/api/v1/dangers/stats"): ALL,
    ("GET", "/api/v1/dangers/{danger_id}"): ALL,
    ("POST", "/api/v1/dangers/{danger_id}/order"): INSPECT,
    ("POST", "/api/v1/dangers/{danger_id}/rectify"): RECTIFY,
    ("POST", "/api/v1/dangers/{danger_id}/evidence"): RECTIFY,
    ("PUT", "/api/v1/dangers/{danger_id}/evidence/files"): RECTIFY,
    ("GET", "/api/v1/dangers/{danger_id}/evidence/files/{sha256}"): ALL,
    ("POST", "/api/v1/dangers/{danger_id}/submit"): RECTIFY,
    ("POST", "/api/v1/dangers/{danger_id}/accept"): INSPECT,
    ("POST", "/api/v1/dangers/{danger_id}/reject"): INSPECT,
}
PUBLIC = {("GET", "/health"), ("GET", "/metrics")}
# Refused before the route runs: 413 over the size limit (hardening, before anything
# is read), else 401/403, checked before the body, the path or the query is (hazmon.api.auth's
# AuthFirstRoute): a caller without the right never gets 400 or 422.
REFUSED = {401, 403, 413}
NO_ROUTE = {"error": "not_found", "detail": "Not Found"}  # the path matched no route


def _app() -> FastAPI:
    registry = load_registry(DEMO_PLANT)
    desk = DrivenDesk(registry)
    desk.raise_alarm("jh-chem-01", "GT-101", "high", "high", 22.0)
    desk.raise_alarm("jh-chem-01", "GT-102", "high_high", "critical", 45.0, latched=True)
    app = create_app(registry=registry, desk=desk, store=MemoryStore(), metrics=[],
                     health=lambda: {"broker": True, "store": True})  # fmt: skip
    # Slowed guesses are tested in test_hardening.py; here no 401 may be held.
    harden(app, HardeningSettings(auth_free_failures=10**9))
    return app


schema = schemathesis.openapi.from_asgi("/openapi.json", _app()).exclude(path="/api/v1/stream")


@pytest.fixture(autouse=True)
def _count_connections_under_urllib3_future(monkeypatch: pytest.MonkeyPatch) -> None:
    """As in tests/api/test_openapi.py: urllib3-future's pool has no `keys()`."""

    def count(_session: Any) -> int:
        return 0

    monkeypatch.setattr(schemathesis.transport.requests, "_count_opened_connections", count)


def test_the_role_table_covers_every_operation() -> None:
    operations = {
        (method.upper(), path)
        for path, item in _app().openapi()["paths"].items()
        for method in item
    }
    assert operations == set(WHO_MAY) | PUBLIC, "a new endpoint needs its row in WHO_MAY"


CALLERS = [*sorted(ALL), "made-up", "none"]


@pytest.mark.fuzz
@pytest.mark.parametrize("caller", CALLERS)
@schema.parametrize()
@settings(
    max_examples=12,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
def test_only_its_roles_get_in_and_nothing_gets_a_5xx(
    case: schemathesis.Case[Any], caller: str
) -> None:
    if case.headers is not None:  # the caller's token, whatever was generated
        for name in [k for k in case.headers if k.lower() == "authorization"]:
            del case.headers[name]
    token = {"made-up": "demo-root", "none": None}.get(caller, f"demo-{caller}")
    response = case.call(headers={"Authorization": f"Bearer {token}"} if token else None)
    assert response.status_code < 500, response.text
    key = (case.method.upper(), case.path)
    if key in PUBLIC:
        return
    if key not in WHO_MAY:  # a method the path does not have (TRACE, ...)
        assert response.status_code == 405, (key, response.status_code)
        return
    sent = {k.lower(): v for k, v in response.request.headers.items()}
    if "authorization" not in sent:  # schemathesis' own "missing auth" cases drop it
        caller = "none"
    if caller not in WHO_MAY[key]:
        no_route = response.status_code == 404 and response.json() == NO_ROUTE
        assert response.status_code in REFUSED or no_route, (
            caller, key, response.text,
        )  # fmt: skip
        expected = 401 if caller in ("made-up", "none") else 403
        if response.status_code in (401, 403):
            assert response.status_code == expected, (caller, key, sent)
