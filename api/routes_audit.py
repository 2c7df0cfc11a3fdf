"""The auditor's side: the journal (streamed export, verification) and the figures.

A token scoped to some sites exports only their entries and gets only their figures;
verification covers the whole chain (a chain cannot be checked in part) and answers
only counts, a sequence number and hashes, nothing of another site's entries.
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Iterable, Iterator
from typing import Any, Literal

from fastapi import APIRouter, Query
from fastapi.responses import StreamingResponse
from starlette.concurrency import run_in_threadpool

from hazmon.alarms.journal.export import export
from hazmon.api.auth import AuthFirstRoute
from hazmon.api.deps import Analyst, Auditor, Context, FromMs, ToMs
from hazmon.api.errors import BadRequest, responses
from hazmon.api.models import Verification
from hazmon.api.routes_sites import HOUR_MS, window

router = APIRouter(
    prefix="/api/v1", route_class=AuthFirstRoute, tags=["audit"], responses=responses(401, 403, 422)
)

MEDIA_TYPES = {"csv": "text/csv; charset=utf-8", "jsonl": "application/x-ndjson"}


def _first_and_rest(chunks: Iterator[str]) -> Iterator[str]:
    """Read the first chunk now (so a failing export answers an error, not a cut body)."""
    first = next(chunks, None)
    return iter(()) if first is None else itertools.chain((first,), chunks)


@router.get(
    "/journal",
    responses={
        **responses(400, 404),
        200: {
            "description": "the journal, streamed",
            "content": {"text/csv": {}, "application/x-ndjson": {}},
        },
    },
    response_class=StreamingResponse,
)
async def journal(
    *,
    from_ms: FromMs = None,
    to_ms: ToMs = None,
    site: str | None = Query(None, max_length=64),
    format: Literal["csv", "jsonl"] = Query("jsonl"),
    principal: Auditor,
    ctx: Context,
) -> StreamingResponse:
    """The alarm journal as JSON lines (exact, for re-checks) or CSV (for people).

    Every parameter is optional: without bounds, all of it (of the token's sites, for
    a scoped token). JSON lines keep every field and the `prev`/`hash` chain; CSV
    guards cells against spreadsheet formulas.
    """
    if site is not None:
        ctx.site(site, principal)
    scope = principal.sites
    if site is not None or scope is None or len(scope) == 1:
        only = site if site is not None or scope is None else next(iter(scope))
        chunks = ctx.desk.journal_export(from_ms=from_ms, to_ms=to_ms, site=only, fmt=format)
    else:
        every = ctx.desk.journal_export(from_ms=from_ms, to_ms=to_ms, site=None, fmt="jsonl")
        chunks = export(_entries_of(every, scope), format)
    body = await run_in_threadpool(_first_and_rest, chunks)
    filename = f"hazmon-journal.{format}"
    return StreamingResponse(
        body,
        media_type=MEDIA_TYPES[format],
        headers={"Content-Disposition": f'attachment; filename="{filename}"'},
    )


def _entries_of(chunks: Iterable[str], sites: frozenset[str]) -> Iterator[dict[str, Any]]:
    """The entries of a JSON-lines export whose site is one of `sites`."""
    for chunk in chunks:
        for line in chunk.splitlines():
            if line:
                entry = json.loads(line)
                if entry.get("site") in sites:
                    yield entry


@router.get("/journal/verify", response_model=Verification)
async def journal_verify(
    *,
    _: Auditor, ctx: Context
) -> dict[str, Any]:
    """Recompute the hash chain and compare it with the newest anchor it can reach."""
    return await run_in_threadpool(ctx.desk.journal_verify)


@router.get("/kpi", responses=responses(400, 404))
async def kpi(
    *,
    from_ms: FromMs = None,
    to_ms: ToMs = None,
    site: str | None = Query(None, max_length=64),
    principal: Analyst,
    ctx: Context,
) -> dict[str, Any]:
    """The alarm-system figures (EEMUA 191 / ISA-18.2) over a window (default 24 h):
    raises per 10 minutes (mean, peak), floods, chattering and standing alarms, the
    ten bad actors with their share, and the share of each priority. A token scoped
    to one site gets that site's; one scoped to several names one with `site`."""
    start, end = window(from_ms, to_ms, 24 * HOUR_MS)
    if site is not None:
        ctx.site(site, principal)
    elif principal.sites is not None:
        if len(principal.sites) > 1:
            names = ", ".join(sorted(principal.sites))
            raise BadRequest(f"this token covers several sites ({names}): name one with ?site=")
        site = next(iter(principal.sites))
    return ctx.desk.kpi(from_ms=start, to_ms=end, site=site)
