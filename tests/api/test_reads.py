"""Sites, sensors, trends, history, registry, journal, figures, health and metrics."""

from __future__ import annotations

import csv
import io
import json

import httpx
from fastapi import FastAPI
from prometheus_client import CollectorRegistry, Counter

from hazmon.alarms.core.inputs import Ack
from hazmon.api.app import create_app
from hazmon.api.testing import DrivenDesk
from hazmon.contract.registry import Registry
from hazmon.contract.wire import Reading
from hazmon.stores.base import Latest, Point, StoreUnavailable
from hazmon.stores.memory import MemoryStore
from tests.api.conftest import bearer

VIEWER = bearer("viewer")


def reading(sensor: str, ts_ms: int, value: float, quality: str = "good") -> Reading:
    return Reading("jh-chem-01", "gw-tankfarm", sensor, "combustible_gas", ts_ms, value, None,
                   quality, False, False)


async def test_sites_carry_grade_and_active_counts(
    client: httpx.AsyncClient, desk: DrivenDesk
) -> None:
    desk.raise_alarm("yw-paint-01", "GT-01", "high_high", "critical", 52.0)  # and its high
    desk.raise_alarm("yw-paint-01", "GT-02", "high", "high", 26.0)
    sites = {s["id"]: s for s in (await client.get("/api/v1/sites", headers=VIEWER)).json()}
    paint = sites["yw-paint-01"]
    assert paint["risk_grade"] == "red"
    assert paint["active_alarms"] == {"critical": 1, "high": 2, "medium": 0}
    assert paint["location"] == {"lat": 29.306, "lon": 120.075}
    chem = sites["jh-chem-01"]
    assert (chem["baseline_risk"], chem["risk_grade"]) == ("orange", "orange")
    assert chem["name"] == "金华某化工有限公司"


async def test_sensors_with_their_latest_reading(
    client: httpx.AsyncClient, store: MemoryStore
) -> None:
    store.write_readings([reading("GT-101", 1000, 3.0), reading("GT-101", 2000, 4.5, "uncertain")])
    rows = (await client.get("/api/v1/sites/jh-chem-01/sensors", headers=VIEWER)).json()
    by_id = {r["id"]: r for r in rows}
    gt = by_id["GT-101"]
    assert (gt["value"], gt["quality"], gt["ts_ms"], gt["unit"]) == (4.5, "uncertain", 2000, "%LEL")
    assert gt["thresholds"] == {"high": 20.0, "high_high": 40.0}
    assert gt["gateway"] == "gw-tankfarm"
    silent = by_id["GT-102"]
    assert (silent["value"], silent["ts_ms"], silent["quality"]) == (None, None, None)
    esd = next(r for r in rows if r["kind"] == "interlock")
    assert esd["unit"] is None and esd["thresholds"] == {}


async def test_trend_and_history_of_a_sensor(
    client: httpx.AsyncClient, store: MemoryStore
) -> None:
    store.write_readings([reading("GT-101", t, float(t) / 1000) for t in (1000, 2000, 3000)])
    store.write_points([
        Point("alarm_event", {"site": "jh-chem-01", "sensor": "GT-101", "condition": "high",
                              "priority": "high", "event": "raised"},
              {"alarm_id": "jh-chem-01/GT-101/high#1", "state": "unack", "value": 21.0,
               "user": None, "note": None}, 2500),
        Point("alarm_event", {"site": "jh-chem-01", "sensor": "GT-102", "condition": "high",
                              "priority": "high", "event": "raised"}, {}, 2600),
    ])
    base = "/api/v1/sites/jh-chem-01/sensors/GT-101"
    trend = (await client.get(f"{base}/readings?from_ms=1500&to_ms=9000",
                              headers=VIEWER)).json()
    assert [(r["ts_ms"], r["value"]) for r in trend] == [(2000, 2.0), (3000, 3.0)]
    history = (await client.get(f"{base}/events?from_ms=0&to_ms=9000", headers=VIEWER)).json()
    assert [(h["event"], h["alarm_id"], h["value"]) for h in history] == [
        ("raised", "jh-chem-01/GT-101/high#1", 21.0)]
    bad = await client.get(f"{base}/readings?from_ms=9&to_ms=1", headers=VIEWER)
    assert (bad.status_code, bad.json()["error"]) == (400, "bad_request")
    missing = await client.get("/api/v1/sites/jh-chem-01/sensors/NOPE/readings", headers=VIEWER)
    assert (missing.status_code, missing.json()["error"]) == (404, "not_found")
    nosite = await client.get("/api/v1/sites/nowhere/sensors", headers=VIEWER)
    assert nosite.status_code == 404


async def test_registry_in_force_without_token_hashes(client: httpx.AsyncClient) -> None:
    doc = (await client.get("/api/v1/registry", headers=bearer("engineer"))).json()
    assert {"name": "li.na", "role": "engineer", "sites": None} in doc["auth"]["tokens"]
    assert "sha256" not in json.dumps(doc["auth"])
    first = doc["sites"][0]["gateways"][0]["sensors"][0]
    assert first["stale_after_s"] == 30 and first["thresholds"]["high"] == 20


async def test_journal_export_streams_csv_and_jsonl(
    client: httpx.AsyncClient, desk: DrivenDesk
) -> None:
    alarm = desk.raise_alarm("jh-chem-01", "GT-101", "high", "high", 21.0)
    desk.act(Ack(alarm["alarm_id"], user="zhang.wei", note="=HYPERLINK(\"x\")\nsecond line"))
    auditor = bearer("auditor")
    response = await client.get("/api/v1/journal?format=csv", headers=auditor)
    assert response.headers["content-type"].startswith("text/csv")
    assert "attachment" in response.headers["content-disposition"]
    rows = list(csv.DictReader(io.StringIO(response.text)))
    assert [r["event"] for r in rows] == ["raised", "acked"]
    assert rows[1]["note"] == "'=HYPERLINK(\"x\")\nsecond line"
    lines = (await client.get("/api/v1/journal", headers=auditor)).text.splitlines()
    assert json.loads(lines[1])["note"] == "=HYPERLINK(\"x\")\nsecond line"
    empty = await client.get("/api/v1/journal?from_ms=0&to_ms=1", headers=auditor)
    assert (empty.status_code, empty.text) == (200, "")
    verify = (await client.get("/api/v1/journal/verify", headers=auditor)).json()
    assert {k: verify[k] for k in ("ok", "entries", "first_bad", "anchor", "reason")} == {
        "ok": True, "entries": 2, "first_bad": None, "anchor": None, "reason": None}
    assert verify["head"]["seq"] == 2


async def test_kpi_defaults_to_the_last_day(client: httpx.AsyncClient, desk: DrivenDesk) -> None:
    desk.raise_alarm("jh-chem-01", "GT-101", "high", "high", 21.0)
    figures = (await client.get("/api/v1/kpi", headers=bearer("engineer"))).json()
    assert figures["to_ms"] - figures["from_ms"] == 24 * 3600 * 1000
    assert figures["total"]["raised"] == 1
    assert figures["sites"]["jh-chem-01"]["bad_actors"] == [
        {"key": "jh-chem-01/GT-101/high", "raised": 1, "share": 1.0}]
    unknown = await client.get("/api/v1/kpi?site=nowhere", headers=bearer("auditor"))
    assert unknown.status_code == 404


async def test_health_metrics_and_plain_errors(
    registry: Registry, desk: DrivenDesk, store: MemoryStore
) -> None:
    metrics = CollectorRegistry()
    Counter("hazmon_test_readings", "readings in", registry=metrics).inc(3)
    app: FastAPI = create_app(registry=registry, desk=desk, store=store, metrics=[metrics],
                              health=lambda: {"broker": False, "store": True})
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
        health = (await client.get("/health")).json()
        assert health == {"status": "degraded", "broker": False, "store": True}
        text = (await client.get("/metrics")).text
        assert "hazmon_test_readings_total 3.0" in text
        nothing = await client.get("/api/v1/nothing", headers=VIEWER)
        assert nothing.status_code == 404
        assert nothing.json() == {"error": "not_found", "detail": "Not Found"}
        wrong = await client.delete("/api/v1/sites", headers=VIEWER)
        assert (wrong.status_code, wrong.json()["error"]) == (405, "method_not_allowed")


async def test_console_docs_and_openapi_are_served(client: httpx.AsyncClient) -> None:
    page = await client.get("/")
    assert page.status_code == 200 and "text/html" in page.headers["content-type"]
    assert page.headers["cache-control"] == "no-cache"
    script = await client.get("/static/js/main.js")
    assert script.status_code == 200 and script.headers["cache-control"] == "no-cache"
    assert (await client.get("/docs")).status_code == 200
    assert (await client.get("/openapi.json")).json()["info"]["title"] == "hazmon"


class DownStore(MemoryStore):
    def latest(self, site: str) -> list[Latest]:
        raise StoreUnavailable("connection refused")


async def test_a_store_outage_is_503_in_the_error_shape(
    registry: Registry, desk: DrivenDesk
) -> None:
    app = create_app(registry=registry, desk=desk, store=DownStore(), metrics=[],
                     health=lambda: {"broker": True, "store": False})
    transport = httpx.ASGITransport(app=app)
    client = httpx.AsyncClient(transport=transport, base_url="http://t")
    response = await client.get("/api/v1/sites/jh-chem-01/sensors", headers=VIEWER)
    assert response.status_code == 503
    assert response.json()["error"] == "store_unavailable"
    sites = await client.get("/api/v1/sites", headers=VIEWER)  # the desk still answers
    assert sites.status_code == 200
    await client.aclose()
