"""Feed accounting (docs/feeds.md): how well each gateway and site delivered over a
window, and the monthly feed report of a site for auditors (HTML or CSV).

A token scoped to some sites sees only those, as on the other routes; another
site's id answers 404 like one that does not exist.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any, Literal

from fastapi import APIRouter, Path, Query
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool

from hazmon.api.auth import AuthFirstRoute
from hazmon.api.context import ApiContext
from hazmon.api.deps import Auditor, Context, FromMs, Reader, ToMs
from hazmon.api.errors import responses
from hazmon.api.routes_sites import HOUR_MS, window
from hazmon.contract.registry import Site
from hazmon.feeds import calendar, reading, render
from hazmon.feeds.accounting import GatewayFeed, SiteFeed, figures_doc, period_doc
from hazmon.feeds.report import FeedReport

router = APIRouter(
    prefix="/api/v1", route_class=AuthFirstRoute, tags=["feeds"],
    responses=responses(401, 403, 422),
)

MEDIA_TYPES = {"html": "text/html; charset=utf-8", "csv": "text/csv; charset=utf-8"}


def _now_ms() -> int:
    return time.time_ns() // 1_000_000


def _gateway_doc(g: GatewayFeed) -> dict[str, Any]:
    return {"gateway": g.gateway, **figures_doc(g.total), "online_at_end": g.online_at_end,
            "offline_periods": [period_doc(p) for p in g.offline]}


def _site_doc(site: Site, feed: SiteFeed) -> dict[str, Any]:
    return {"site": site.id, "name": site.name, **figures_doc(feed.total),
            "offline_periods": [period_doc(p) for p in feed.offline],
            "gateways": [_gateway_doc(g) for g in feed.gateways]}


@router.get("/feeds", responses=responses(400, 404))
async def feeds(
    *,
    from_ms: FromMs = None,
    to_ms: ToMs = None,
    site: str | None = Query(None, max_length=64),
    principal: Reader,
    ctx: Context,
) -> dict[str, Any]:
    """Feed accounting per site and per gateway over [from_ms, to_ms) (default: the
    last 24 h; a window reaching past now ends now): online, offline and unknown time,
    the online rate (online time over the time whose state is known), offline periods,
    messages lost, back-filled messages and readings, readings not of good quality."""
    start, end = window(from_ms, to_ms, 24 * HOUR_MS)
    end = min(end, _now_ms())
    start = min(start, end)
    chosen = [ctx.site(site, principal)] if site is not None else ctx.sites(principal)

    def account() -> list[dict[str, Any]]:
        return [_site_doc(s, reading.account_site(ctx.store, s, from_ms=start, to_ms=end))
                for s in chosen]

    return {"from_ms": start, "to_ms": end, "sites": await run_in_threadpool(account)}


@router.get(
    "/sites/{site}/feed-report",
    responses={
        **responses(400, 404),
        200: {"description": "the report", "content": {"text/html": {}, "text/csv": {}}},
    },
    response_class=Response,
)
async def feed_report(
    *,
    site: str = Path(description="a site id", examples=["jh-chem-01"]),
    month: str = Query(..., max_length=16, description="YYYY-MM (China Standard Time)",
                       examples=["2026-11"]),
    format: Literal["html", "csv"] = Query("html"),
    lang: Literal["zh", "en"] = Query("zh"),
    principal: Auditor,
    ctx: Context,
) -> Response:
    """The monthly feed report of a site that an auditor hands to the bureau: online
    rate, offline periods, losses, back-fill, alarms by priority, standing and
    chattering alarms, bypasses open at the month's end. Printable HTML (Chinese by
    default, `lang=en`: English) or CSV. A malformed month, or one not yet begun, is 400."""
    found = ctx.site(site, principal)
    now_ms = _now_ms()
    wanted = calendar.parse_month(month, now_ms=now_ms)
    report = await run_in_threadpool(_report, ctx, found, wanted, now_ms)
    name = f"hazmon-feed-report-{site}-{wanted.name}.{format}"
    if format == "csv":
        return Response(render.csv_text(report, lang), media_type=MEDIA_TYPES["csv"],
                        headers={"Content-Disposition": f'attachment; filename="{name}"'})
    return Response(render.html(report, lang), media_type=MEDIA_TYPES["html"],
                    headers={"Content-Security-Policy": render.CSP,
                             "Content-Disposition": f'inline; filename="{name}"'})


def _report(
    ctx: ApiContext, site: Site, month: calendar.Month, now_ms: int
) -> FeedReport:
    start, end = reading.report_window(month, now_ms)
    figures = ctx.desk.kpi(from_ms=start, to_ms=end - 1, site=site.id)["total"]
    chunks = ctx.desk.journal_export(from_ms=None, to_ms=end - 1, site=site.id, fmt="jsonl")
    return reading.monthly_report(ctx.store, site, month, now_ms=now_ms, alarm_figures=figures,
                                  journal=_entries(chunks))


def _entries(chunks: Iterator[str]) -> Iterator[dict[str, Any]]:
    for chunk in chunks:
        for line in chunk.splitlines():
            if line:
                yield json.loads(line)
