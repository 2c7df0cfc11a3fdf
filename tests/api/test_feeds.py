"""GET /api/v1/feeds, the `feed` of each site in GET /api/v1/sites and
GET /api/v1/sites/{site}/feed-report, over the MemoryStore and the DrivenDesk.

The store holds `gateway_status` and `gateway_feed` points as ingest writes them
(tests/ingest's integration tests and tests/feeds/test_feeds_live.py check that ingest
does); the desk's alarms and journal are the real engine's, on its hand-turned clock.
"""

from __future__ import annotations

import csv
import hashlib
import io

import httpx
import pytest
from fastapi import FastAPI

from hazmon.api import routes_feeds
from hazmon.api.app import create_app
from hazmon.api.testing import DrivenDesk
from hazmon.contract.registry import Registry, Token
from hazmon.feeds import calendar
from hazmon.stores.base import Point
from hazmon.stores.memory import MemoryStore
from tests.api.conftest import bearer

SITE = "jh-chem-01"
MIN = 60_000
HOUR = 3_600_000


def status(gateway: str, ts_ms: int, online: bool, lost: int = 0, since: int | None = None,
           site: str = SITE) -> Point:
    fields: dict[str, bool | int | None] = {"online": online, "lost_messages": lost,
                                            "silent_since_ms": since}
    return Point("gateway_status", {"site": site, "gateway": gateway}, fields, ts_ms)


def silent_3_of_60(store: MemoryStore, t0: int) -> None:
    """gw-tankfarm online from t0, silent from t0+20 min (judged 10 s later), back at
    t0+23 min having lost 4 messages."""
    store.write_points([
        status("gw-tankfarm", t0, True),
        status("gw-tankfarm", t0 + 20 * MIN + 10_000, False, since=t0 + 20 * MIN),
        status("gw-tankfarm", t0 + 23 * MIN, True, lost=4),
        Point("gateway_feed", {"site": SITE, "gateway": "gw-tankfarm", "instance": "i"},
              {"messages": 3420, "readings": 34_200, "historical_messages": 3,
               "historical_readings": 30, "not_good_readings": 12}, t0 - t0 % HOUR),
    ])


async def test_feeds_per_site_and_gateway(
    client: httpx.AsyncClient, store: MemoryStore, desk: DrivenDesk
) -> None:
    t0 = desk.clock() - 2 * HOUR
    t0 -= t0 % HOUR
    silent_3_of_60(store, t0)
    answer = await client.get(f"/api/v1/feeds?from_ms={t0}&to_ms={t0 + HOUR}",
                              headers=bearer("viewer"))
    assert answer.status_code == 200, answer.text
    doc = answer.json()
    assert (doc["from_ms"], doc["to_ms"]) == (t0, t0 + HOUR)
    assert [s["site"] for s in doc["sites"]] == ["jh-chem-01", "yw-paint-01", "dy-cold-01",
                                                 "wy-mine-01"]
    site = doc["sites"][0]
    tank = site["gateways"][0]
    assert tank["gateway"] == "gw-tankfarm"
    assert tank["online_rate"] == pytest.approx(0.95)
    assert (tank["online_ms"], tank["offline_ms"], tank["unknown_ms"]) == (57 * MIN, 3 * MIN, 0)
    assert tank["lost_messages"] == 4 and tank["historical_messages"] == 3
    assert tank["not_good_readings"] == 12 and tank["online_at_end"] is True
    assert tank["offline_periods"] == [{"gateway": "gw-tankfarm", "start_ms": t0 + 20 * MIN,
                                        "end_ms": t0 + 23 * MIN, "duration_ms": 3 * MIN,
                                        "began_before": False, "ongoing": False}]
    assert site["online_rate"] == pytest.approx(0.95)  # the others: no state known
    assert site["unknown_ms"] == 3 * HOUR and len(site["gateways"]) == 4
    one = await client.get(f"/api/v1/feeds?from_ms={t0}&to_ms={t0 + HOUR}&site={SITE}",
                           headers=bearer("viewer"))
    assert [s["site"] for s in one.json()["sites"]] == [SITE]


async def test_feeds_refuse_what_cannot_be_answered(client: httpx.AsyncClient) -> None:
    unknown = await client.get("/api/v1/feeds?site=nowhere", headers=bearer("viewer"))
    assert unknown.status_code == 404 and unknown.json()["error"] == "not_found"
    reversed_ = await client.get("/api/v1/feeds?from_ms=10&to_ms=5", headers=bearer("viewer"))
    assert reversed_.status_code == 400
    assert (await client.get("/api/v1/feeds")).status_code == 401


async def test_a_window_reaching_past_now_ends_now(client: httpx.AsyncClient) -> None:
    answer = await client.get("/api/v1/feeds?from_ms=0&to_ms=9007199254740992",
                              headers=bearer("viewer"))
    assert answer.status_code == 200
    assert answer.json()["to_ms"] < 9007199254740992


async def test_each_site_carries_its_feed_quality(
    client: httpx.AsyncClient, store: MemoryStore, desk: DrivenDesk
) -> None:
    now = desk.clock() + HOUR  # the desk's clock runs an hour behind the wall clock
    store.write_points([status("gw-tankfarm", now - 3 * HOUR, True),
                        status("gw-chlorine", now - 3 * HOUR, True),
                        status("gw-chlorine", now - 30 * MIN, False)])
    sites = {s["id"]: s for s in (await client.get("/api/v1/sites",
                                                    headers=bearer("viewer"))).json()}
    feed = sites[SITE]["feed"]
    assert feed["degraded"] is True and feed["offline_gateways"] == ["gw-chlorine"]
    assert 0.9 < feed["online_rate_24h"] < 1.0
    quiet = sites["wy-mine-01"]["feed"]
    assert quiet == {"online_rate_24h": None, "degraded": False, "offline_gateways": [],
                     "lost_messages_1h": 0}


async def test_a_scoped_token_sees_only_its_sites(registry: Registry) -> None:
    digest = hashlib.sha256(b"scoped-viewer").hexdigest()
    tokens = [*registry.auth.tokens,
              Token(name="wu.min", role="viewer", sha256=digest, sites=["yw-paint-01"])]
    scoped = registry.model_copy(
        update={"auth": registry.auth.model_copy(update={"tokens": tokens})})
    app = create_app(registry=scoped, desk=DrivenDesk(scoped), store=MemoryStore(), metrics=[],
                     health=lambda: {"broker": True, "store": True})
    transport = httpx.ASGITransport(app=app)
    headers = {"Authorization": "Bearer scoped-viewer"}
    async with httpx.AsyncClient(transport=transport, base_url="http://hazmon.test") as c:
        mine = (await c.get("/api/v1/feeds", headers=headers)).json()
        assert [s["site"] for s in mine["sites"]] == ["yw-paint-01"]
        other = await c.get(f"/api/v1/feeds?site={SITE}", headers=headers)
        assert other.status_code == 404  # like a site that does not exist


# -- the monthly report -----------------------------------------------------------------------


def month_of(ts_ms: int) -> str:
    return calendar.local_date(ts_ms)[:7]


REPORT_MS = 1_795_230_000_000  # 2026-11-22T11:40:00Z, inside November 2026 (CST)


@pytest.fixture
def reported(
    app: FastAPI, store: MemoryStore, desk: DrivenDesk, monkeypatch: pytest.MonkeyPatch
) -> str:
    """November 2026, the report made at REPORT_MS (the route's clock set there, the
    desk's half an hour before): jh-chem-01's tankfarm known for the last hour only,
    silent 3 minutes of it; a critical alarm: ESD-01 bypassed without a permit, still
    so at the report's time."""
    monkeypatch.setattr(routes_feeds, "_now_ms", lambda: REPORT_MS)
    desk.clock.now_ms = REPORT_MS - 30 * MIN  # nothing happened on the desk before
    silent_3_of_60(store, REPORT_MS - 60 * MIN)
    desk.raise_alarm(SITE, "ESD-01", "bypass", "critical")
    return month_of(REPORT_MS)


async def test_the_monthly_report_as_html(client: httpx.AsyncClient, reported: str) -> None:
    answer = await client.get(f"/api/v1/sites/{SITE}/feed-report?month={reported}",
                              headers=bearer("auditor"))
    assert answer.status_code == 200, answer.text
    assert answer.headers["content-type"].startswith("text/html")
    assert "style-src 'sha256-" in answer.headers["content-security-policy"]
    page = answer.text
    assert reported == "2026-11" and "重大危险源监测数据接入月报" in page and reported in page
    assert "95.00%" in page  # gw-tankfarm, the only gateway with a known state
    assert "jh-chem-01/ESD-01/bypass#1" in page  # bypassed at the report's time
    english = await client.get(f"/api/v1/sites/{SITE}/feed-report?month={reported}&lang=en",
                               headers=bearer("admin"))
    assert "Monthly feed report" in english.text


async def test_the_monthly_report_as_csv(client: httpx.AsyncClient, reported: str) -> None:
    answer = await client.get(
        f"/api/v1/sites/{SITE}/feed-report?month={reported}&format=csv&lang=en",
        headers=bearer("auditor"))
    assert answer.status_code == 200 and answer.headers["content-type"].startswith("text/csv")
    assert "attachment" in answer.headers["content-disposition"]
    rows = list(csv.reader(io.StringIO(answer.text.lstrip("\ufeff"))))
    gateways = rows[rows.index(["2. Gateways"]) + 2]
    assert gateways[0] == "gw-tankfarm" and float(gateways[1]) == pytest.approx(95.0)
    priorities = rows[rows.index(["5. Alarms"]) + 2]
    assert priorities[:2] == ["Critical", "1"]


@pytest.mark.parametrize(("month", "status", "error"), [
    ("2026-13", 400, "bad_month"), ("last-month", 400, "bad_month"),
    ("2999-01", 400, "bad_month"),  # not begun
])
async def test_a_bad_month_is_400(
    client: httpx.AsyncClient, month: str, status: int, error: str
) -> None:
    answer = await client.get(f"/api/v1/sites/{SITE}/feed-report?month={month}",
                              headers=bearer("auditor"))
    assert (answer.status_code, answer.json()["error"]) == (status, error)
    assert month in answer.json()["detail"]


async def test_the_report_needs_an_auditor_and_a_known_site(client: httpx.AsyncClient) -> None:
    path = f"/api/v1/sites/{SITE}/feed-report?month=2025-01"
    assert (await client.get(path, headers=bearer("viewer"))).status_code == 403
    assert (await client.get(path, headers=bearer("engineer"))).status_code == 403
    unknown = await client.get("/api/v1/sites/nowhere/feed-report?month=2025-01",
                               headers=bearer("auditor"))
    assert unknown.status_code == 404
    bad_format = await client.get(f"{path}&format=pdf", headers=bearer("auditor"))
    assert bad_format.status_code == 422
