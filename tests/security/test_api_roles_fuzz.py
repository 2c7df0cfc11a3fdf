"""Schemathesis over the whole hardened API, as every role, with made-up tokens and with
none: no request gets a 5xx, and no endpoint answers a role that lacks its right
(docs/contract.md §7's role table, written out independently of api/auth.py in
tests/security/test_api_role_table.py, which checks that it covers every operation).

tests/api/test_openapi.py checks the answers against the document as admin; this file
checks who gets in. The event stream is left out (it never ends; tests/api covers it).
"""

from __future__ import annotations

from typing import Any

import pytest
import schemathesis
import schemathesis.transport.requests
from hypothesis import HealthCheck, settings

from tests.security.test_api_role_table import ALL, PUBLIC, WHO_MAY, hardened_app

pytestmark = pytest.mark.fuzz

# Refused before the route runs: 413 over the size limit (hardening, before anything
# is read), else 401/403, checked before the body, the path or the query is (hazmon.api.auth's
# AuthFirstRoute): a caller without the right never gets 400 or 422.
REFUSED = {401, 403, 413}
NO_ROUTE = {"error": "not_found", "detail": "Not Found"}  # the path matched no route

schema = schemathesis.openapi.from_asgi("/openapi.json", hardened_app()).exclude(
    path="/api/v1/stream"
)


@pytest.fixture(autouse=True)
def _count_connections_under_urllib3_future(monkeypatch: pytest.MonkeyPatch) -> None:
    """As in tests/api/test_openapi.py: urllib3-future's pool has no `keys()`."""

    def count(_session: Any) -> int:
        return 0

    monkeypatch.setattr(schemathesis.transport.requests, "_count_opened_connections", count)


CALLERS = [*sorted(ALL), "made-up", "none"]


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
