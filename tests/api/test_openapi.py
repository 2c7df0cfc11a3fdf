"""Schemathesis against the OpenAPI document: generated requests, valid and not, with
the admin token, without one and with made-up ones, never get a 5xx, and every answer
matches the document (status codes, content types, bodies, headers, auth).

Left out: `positive_data_acceptance`, because a well-formed request may still be
refused by the plant's rules (409 for an illegal transition, 400 over a limit, 404
for an alarm that does not exist), which a schema cannot express; and the event
stream, which never ends (tests/api/test_stream.py covers it).
"""

from __future__ import annotations

from typing import Any

import pytest
import schemathesis
import schemathesis.transport.requests
from fastapi import FastAPI
from hypothesis import HealthCheck, settings
from schemathesis.specs.openapi.checks import positive_data_acceptance

from hazmon.api.app import create_app
from hazmon.api.testing import DrivenDesk
from hazmon.contract.config import load_registry
from hazmon.stores.memory import MemoryStore
from tests.api.conftest import DEMO_PLANT, bearer

pytestmark = pytest.mark.fuzz


def _app_with_alarms() -> FastAPI:
    registry = load_registry(DEMO_PLANT)
    desk = DrivenDesk(registry)
    desk.raise_alarm("jh-chem-01", "GT-101", "high", "high", 22.0)
    desk.raise_alarm("jh-chem-01", "GT-102", "high_high", "critical", 45.0, latched=True)
    return create_app(registry=registry, desk=desk, store=MemoryStore(), metrics=[],
                      health=lambda: {"broker": True, "store": True})


# Built at import: schemathesis' lazy `from_fixture` fails under pytest 9.
schema = schemathesis.openapi.from_asgi("/openapi.json", _app_with_alarms()).exclude(
    path="/api/v1/stream"
)


@schema.auth()
class AdminToken:
    """The admin token on every request, except where schemathesis tries one without
    a valid token (it then expects 401)."""

    def get(self, case: schemathesis.Case, ctx: schemathesis.AuthContext) -> str:
        return bearer("admin")["Authorization"]

    def set(self, case: schemathesis.Case, data: str, ctx: schemathesis.AuthContext) -> None:
        case.headers = {**(case.headers or {}), "Authorization": data}


@pytest.fixture(autouse=True)
def _count_connections_under_urllib3_future(monkeypatch: pytest.MonkeyPatch) -> None:
    """niquests (pulled in by grafana-client) installs `urllib3-future` over urllib3,
    whose pool container has no `keys()`; schemathesis counts pooled connections with
    it only to decide whether to resend a request on a dropped keep-alive connection,
    which an in-process ASGI app never drops."""

    def count(_session: Any) -> int:
        return 0

    monkeypatch.setattr(schemathesis.transport.requests, "_count_opened_connections", count)


@schema.parametrize()
@settings(
    max_examples=50,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
def test_no_5xx_and_answers_match_the_document(case: schemathesis.Case) -> None:
    response = case.call_and_validate(excluded_checks=[positive_data_acceptance])
    assert response.status_code < 500
