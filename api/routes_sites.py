"""Sites, sensors, a sensor's trend and alarm history, permits and the registry."""

from __future__ import annotations

import logging
import time
from typing import Any

from fastapi import APIRouter, Path, Query
from starlette.concurrency import run_in_threadpool

from hazmon.alarms.core.inputs import BypassPermit, OutOfService, ReturnToService
from hazmon.api.auth import ROLE_RIGHTS, AuthFirstRoute
from hazmon.api.context import ApiContext, act
from hazmon.api.deps import Context, Engineer, FromMs, Reader, ToMs
from hazmon.api.errors import BadRequest, responses
from hazmon.api.models import (
    AlarmEventOut,
    BypassPermitBody,
    InService,
    Me,
    NoteBody,
    OutOfServiceBody,
    ReadingOut,
    SensorOut,
    SiteOut,
)
from hazmon.contract.registry import Sensor, Site
from hazmon.stores.base import Latest, Row, StoreError

log = logging.getLogger(__name__)

router = APIRouter(
    prefix="/api/v1", route_class=AuthFirstRoute, responses=responses(401, 403, 422)
)

HOUR_MS = 3_600_000

SITE = Path(description="a site id", examples=["jh-chem-01"])
SENSOR = Path(description="a sensor id of the site", examples=["GT-101"])
PERMIT = responses(400, 404, 409)


def _now_ms() -> int:
    return int(time.time() * 1000)


def window(from_ms: int | None, to_ms: int | None, default_span_ms: int) -> tuple[int, int]:
    """[from_ms, to_ms] with defaults: up to now, over `default_span_ms`."""
    end = _now_ms() if to_ms is None else to_ms
    start = max(0, end - default_span_ms) if from_ms is None else from_ms
    if start > end:
        raise BadRequest(f"from_ms ({start}) is after to_ms ({end})")
    return start, end


def _site_out(
    ctx: ApiContext, site: Site, grades: dict[str, str], feed: dict[str, Any] | None
) -> dict[str, Any]:
    return {
        "id": site.id,
        "name": site.name,
        "industry": site.industry,
        "location": site.location.model_dump(),
        "baseline_risk": site.baseline_risk,
        "risk_grade": grades.get(site.id, site.baseline_risk),
        "active_alarms": ctx.desk.active_counts(site.id),
        "feed": feed,
    }


@router.get("/me", response_model=Me, tags=["session"])
async def me(*, principal: Reader) -> dict[str, Any]:
    """The caller's name, role and rights (the console shows what the role may do)."""
    rights = sorted(r.value for r in ROLE_RIGHTS.get(principal.role, frozenset()))
    sites = None if principal.sites is None else sorted(principal.sites)
    return {"name": principal.name, "role": principal.role, "rights": rights, "sites": sites}


@router.get("/sites", response_model=list[SiteOut], tags=["sites"])
async def sites(
    *,
    principal: Reader, ctx: Context
) -> list[dict[str, Any]]:
    """Sites with their effective risk grade, active alarms by priority and feed
    quality (those of the token's scope)."""
    grades = ctx.desk.risk_grades()
    chosen = ctx.sites(principal)
    feeds = await run_in_threadpool(_feeds, ctx, chosen)
    return [_site_out(ctx, site, grades, feeds.get(site.id)) for site in chosen]


def _feeds(ctx: ApiContext, sites: list[Site]) -> dict[str, dict[str, Any]]:
    """Each site's compact feed quality (docs/feeds.md); a store that cannot answer
    leaves it out (None) rather than failing the site list."""
    now_ms = _now_ms()
    found = {}
    for site in sites:
        try:
            found[site.id] = ctx.feeds.get(ctx.store, site, now_ms=now_ms)
        except StoreError as exc:
            log.warning("feed quality of %s not read: %s", site.id, exc)
    return found


def _sensor_rows(
    ctx: ApiContext, site: Site, latest: list[Latest], now_ms: int
) -> list[dict[str, Any]]:
    """The store's newest reading of each sensor; where that is stamped ahead of the
    clock (a gateway clock running fast) or missing, the last reading the alarm
    engine evaluated, which is what hazmon goes by (docs/alarms.md)."""
    newest = {row.sensor: row for row in latest}
    live = ctx.desk.last_readings(site.id)
    out = []
    for gateway in site.gateways:
        for sensor in gateway.sensors:
            row = newest.get(sensor.id)
            seen = live.get(sensor.id)
            if seen is not None and (row is None or row.ts_ms > now_ms):
                row = _from_engine(sensor, gateway.id, site.id, seen)
            out.append(
                {
                    "id": sensor.id,
                    "gateway": gateway.id,
                    "kind": sensor.kind.value,
                    "name": sensor.name,
                    "unit": sensor.unit,
                    "area": sensor.area,
                    "value": row.value if row else None,
                    "state": row.state if row else None,
                    "quality": row.quality if row else None,
                    "ts_ms": row.ts_ms if row else None,
                    "over_range": row.over_range if row else False,
                    "thresholds": {c.value: v for c, v in sensor.thresholds.items()},
                }
            )
    return out


@router.get(
    "/sites/{site}/sensors",
    response_model=list[SensorOut],
    responses=responses(404),
    tags=["sites"],
)
async def sensors(
    *,
    site: str = SITE,
    principal: Reader,
    ctx: Context,
) -> list[dict[str, Any]]:
    """Every sensor of a site with its latest value or state, quality and timestamp."""
    found = ctx.site(site, principal)
    latest = await run_in_threadpool(ctx.store.latest, site)
    return _sensor_rows(ctx, found, latest, int(time.time() * 1000))


def _from_engine(sensor: Sensor, gateway: str, site: str, seen: dict[str, Any]) -> Latest:
    value = seen["value"]
    number = value if isinstance(value, float | int) else None
    high = sensor.range[1] if sensor.range else None
    return Latest(
        site, gateway, sensor.id, sensor.kind.value, int(seen["ts_ms"]),
        float(number) if number is not None else None,
        value if isinstance(value, str) else None, str(seen["quality"]),
        number is not None and high is not None and number > high,
    )


@router.get(
    "/sites/{site}/sensors/{sensor}/readings",
    response_model=list[ReadingOut],
    responses=responses(400, 404),
    tags=["sites"],
)
async def readings(
    *,
    site: str = SITE,
    sensor: str = SENSOR,
    from_ms: FromMs = None,
    to_ms: ToMs = None,
    limit: int = Query(2000, ge=1, le=10_000),
    principal: Reader,
    ctx: Context,
) -> list[dict[str, Any]]:
    """One sensor's readings, oldest first (default: the last hour): its trend."""
    ctx.sensor(site, sensor, principal)
    start, end = window(from_ms, to_ms, HOUR_MS)
    rows = await run_in_threadpool(
        lambda: ctx.store.readings(site, sensor, from_ms=start, to_ms=end, limit=limit)
    )
    return [
        {
            "ts_ms": r.ts_ms,
            "value": r.value,
            "state": r.state,
            "quality": r.quality,
            "over_range": r.over_range,
        }
        for r in rows
    ]


def _event_out(row: Row) -> dict[str, Any]:
    out: dict[str, Any] = {"ts_ms": row.ts_ms, **row.tags, **row.fields}
    return out


@router.get(
    "/sites/{site}/sensors/{sensor}/events",
    response_model=list[AlarmEventOut],
    responses=responses(400, 404),
    tags=["sites"],
)
async def events(
    *,
    site: str = SITE,
    sensor: str = SENSOR,
    from_ms: FromMs = None,
    to_ms: ToMs = None,
    limit: int = Query(200, ge=1, le=10_000),
    principal: Reader,
    ctx: Context,
) -> list[dict[str, Any]]:
    """One sensor's alarm history, newest first (default: the last 7 days)."""
    ctx.sensor(site, sensor, principal)
    start, end = window(from_ms, to_ms, 7 * 24 * HOUR_MS)
    tags = {"site": site, "sensor": sensor}
    rows = await run_in_threadpool(
        lambda: ctx.store.points("alarm_event", from_ms=start, to_ms=end, tags=tags, limit=limit)
    )
    return [_event_out(r) for r in rows]


@router.post(
    "/sites/{site}/sensors/{sensor}/bypass-permits",
    responses=PERMIT,
    tags=["permits"],
)
async def bypass_permit(
    *,
    body: BypassPermitBody,
    site: str = SITE,
    sensor: str = SENSOR,
    principal: Engineer,
    ctx: Context,
) -> dict[str, Any]:
    """Permit an interlock bypass until a deadline (reason, approver, measures)."""
    ctx.sensor(site, sensor, principal)
    return await act(ctx.desk, BypassPermit(
        site, sensor, principal.name, until_ms=body.until_ms, reason=body.reason,
        approved_by=body.approved_by,
        compensating_measures=body.compensating_measures,
    ))


@router.post(
    "/sites/{site}/sensors/{sensor}/out-of-service",
    responses=PERMIT,
    tags=["permits"],
)
async def out_of_service(
    *,
    body: OutOfServiceBody,
    site: str = SITE,
    sensor: str = SENSOR,
    principal: Engineer,
    ctx: Context,
) -> dict[str, Any]:
    """Take a sensor out of service until a deadline, with a reason."""
    ctx.sensor(site, sensor, principal)
    return await act(ctx.desk,
        OutOfService(site, sensor, principal.name, body.until_ms, body.reason)
    )


@router.post(
    "/sites/{site}/sensors/{sensor}/return-to-service",
    response_model=InService,
    responses=PERMIT,
    tags=["permits"],
)
async def return_to_service(
    *,
    body: NoteBody,
    site: str = SITE,
    sensor: str = SENSOR,
    principal: Engineer,
    ctx: Context,
) -> dict[str, Any]:
    """End a sensor's out-of-service before its deadline, saying why: its points are
    re-evaluated; 409 if it is in service."""
    ctx.sensor(site, sensor, principal)
    return await act(ctx.desk, ReturnToService(site, sensor, principal.name, body.note))


@router.get("/registry", tags=["registry"])
async def registry(
    *,
    principal: Engineer, ctx: Context
) -> dict[str, Any]:
    """The registry in force, defaults filled in; token hashes are left out. A scoped
    token sees its own sites, and only the tokens whose scope lies within its own."""
    doc = ctx.registry.model_dump(mode="json")
    doc["sites"] = [s.model_dump(mode="json") for s in ctx.sites(principal)]
    doc["auth"] = {"tokens": [
        {"name": t.name, "role": t.role, "sites": t.sites}
        for t in ctx.registry.auth.tokens
        if principal.sites is None or (t.sites is not None and principal.sites >= set(t.sites))
    ]}
    return doc
