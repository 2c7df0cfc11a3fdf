"""The cause-and-effect record of a site's interlocks (docs/alarms.md, "Cause-and-effect
verification"): demands, response times, failures and spurious trips, from the
journal the alarm service keeps."""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from typing import Any

from fastapi import APIRouter, Path
from starlette.concurrency import run_in_threadpool

from hazmon.alarms.interlock_record import interlock_record
from hazmon.api.auth import AuthFirstRoute
from hazmon.api.context import ApiContext
from hazmon.api.deps import Context, FromMs, Reader, ToMs
from hazmon.api.errors import NotFound, responses
from hazmon.api.routes_sites import HOUR_MS, window
from hazmon.contract.kinds import Kind
from hazmon.contract.registry import Site

router = APIRouter(
    prefix="/api/v1", route_class=AuthFirstRoute, tags=["cause-effect"],
    responses=responses(401, 403, 422),
)

SITE = Path(description="a site id", examples=["jh-chem-01"])
INTERLOCK = Path(description="an interlock of the site", examples=["ESD-01"])
DEFAULT_SPAN_MS = 30 * 24 * HOUR_MS


@router.get("/sites/{site}/cause-effect", responses=responses(400, 404))
async def site_cause_effect(
    *,
    site: str = SITE,
    from_ms: FromMs = None,
    to_ms: ToMs = None,
    principal: Reader,
    ctx: Context,
) -> list[dict[str, Any]]:
    """Every interlock of the site's cause-and-effect matrix with its record over a
    window (default: the last 30 days)."""
    found = ctx.site(site, principal)
    start, end = window(from_ms, to_ms, DEFAULT_SPAN_MS)
    locks = list(dict.fromkeys(row.effect.interlock for row in found.cause_effect))
    return await run_in_threadpool(_records, ctx, found, locks, start, end)


@router.get("/sites/{site}/interlocks/{interlock}/cause-effect", responses=responses(400, 404))
async def interlock_cause_effect(
    *,
    site: str = SITE,
    interlock: str = INTERLOCK,
    from_ms: FromMs = None,
    to_ms: ToMs = None,
    principal: Reader,
    ctx: Context,
) -> dict[str, Any]:
    """One interlock's record over a window (default: the last 30 days): its matrix
    rows, demands, response times (p50, max, in ms), failures (late, missing),
    spurious trips, and the latest records, newest first."""
    _, sensor = ctx.sensor(site, interlock, principal)
    if sensor.kind is not Kind.interlock:
        raise NotFound(f"{interlock!r} at site {site!r} is not an interlock")
    start, end = window(from_ms, to_ms, DEFAULT_SPAN_MS)
    found = ctx.site(site, principal)
    records = await run_in_threadpool(_records, ctx, found, [interlock], start, end)
    return records[0]


def _records(
    ctx: ApiContext, site: Site, locks: list[str], from_ms: int, to_ms: int
) -> list[dict[str, Any]]:
    """In a worker thread: the site's journal over the window, read once."""
    chunks = ctx.desk.journal_export(from_ms=from_ms, to_ms=to_ms, site=site.id, fmt="jsonl")
    entries = list(_ce_entries(chunks))
    return [
        interlock_record(
            entries, [r for r in site.cause_effect if r.effect.interlock == lock],
            site=site.id, interlock=lock, from_ms=from_ms, to_ms=to_ms,
        )
        for lock in locks
    ]


def _ce_entries(chunks: Iterable[str]) -> Iterator[dict[str, Any]]:
    for chunk in chunks:
        for line in chunk.splitlines():
            if '"ce_' in line:  # cheap: most of a journal is other events
                yield json.loads(line)
