"""docs/contract.md §7's role table, written out here independently of api/auth.py: the
roles that may call each operation of the hardened API. Checked here to cover every
operation; tests/security/test_api_roles_fuzz.py (the fuzz tier) has schemathesis call
each operation as every role and holds the answers to this table.
"""

from __future__ import annotations

from fastapi import FastAPI

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


def hardened_app() -> FastAPI:
    """The API on the demo plant with two alarms raised, hardened."""
    registry = load_registry(DEMO_PLANT)
    desk = DrivenDesk(registry)
    desk.raise_alarm("jh-chem-01", "GT-101", "high", "high", 22.0)
    desk.raise_alarm("jh-chem-01", "GT-102", "high_high", "critical", 45.0, latched=True)
    app = create_app(registry=registry, desk=desk, store=MemoryStore(), metrics=[],
                     health=lambda: {"broker": True, "store": True})  # fmt: skip
    # Slowed guesses are tested in test_hardening.py; here no 401 may be held.
    harden(app, HardeningSettings(auth_free_failures=10**9))
    return app


def test_the_role_table_covers_every_operation() -> None:
    operations = {
        (method.upper(), path)
        for path, item in hardened_app().openapi()["paths"].items()
        for method in item
    }
    assert operations == set(WHO_MAY) | PUBLIC, "a new endpoint needs its row in WHO_MAY"
