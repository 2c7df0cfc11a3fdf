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
from zoneinfo import available_timezones

from fastapi import APIRouter, Query
from fastapi.responses import StreamingResponse
from starlette.concurrency import run_in_threadpool

from hazmon.alarms.journal.export import export
from hazmon.alarms.kpi import unrationalized
from hazmon.api.auth import AuthFirstRoute
from hazmon.api.context import ApiContext
from hazmon.api.deps import Analyst, Auditor, Context, FromMs, ToMs
from hazmon.api.errors import BadRequest, responses
from hazmon.api.models import Verification
from hazmon.api.routes_sites import HOUR_MS, window
from hazmon.api.sheet import Plant, excel_csv

router = APIRouter(
    prefix="/api/v1", route_class=AuthFirstRoute, tags=["audit"], responses=responses(401, 403, 422)
)

MEDIA_TYPES = {
    "csv": "text/csv; charset=utf-8",
    "excel": "text/csv; charset=utf-8",
    "jsonl": "application/x-ndjson",
}
FILENAMES = {"csv": "hazmon-journal.csv", "excel": "hazmon-journal-excel.csv",
             "jsonl": "hazmon-journal.jsonl"}
ZONES = frozenset(available_timezones())


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
    format: Literal["csv", "jsonl", "excel"] = Query("jsonl"),
    lang: Literal["zh", "en"] = Query("zh", description="excel: the language of its words"),
    tz: str = Query("Asia/Shanghai", max_length=64,
                    description="excel: the IANA time zone of its times"),
    bom: bool = Query(True, description="excel: a UTF-8 byte-order mark first"),
    principal: Auditor,
    ctx: Context,
) -> StreamingResponse:
    """The alarm journal as JSON lines (exact, for re-checks), CSV (the same fields,
    epoch milliseconds) or `excel` (CSV for people: local ISO times with their offset,
    priority, site and sensor names, words in `lang`, a byte-order mark unless
    `bom=false`).

    Every parameter is optional: without bounds, all of it (of the token's sites, for
    a scoped token). JSON lines keep every field and the `prev`/`hash` chain; CSV
    guards cells against spreadsheet formulas.
    """
    if site is not None:
        ctx.site(site, principal)
    if format == "excel" and tz not in ZONES:
        raise BadRequest(f"no time zone {tz!r} (an IANA name such as Asia/Shanghai)")
    scope = principal.sites
    machine = "jsonl" if format == "excel" else format
    if site is not None or scope is None or len(scope) == 1:
        only = site if site is not None or scope is None else next(iter(scope))
        chunks = ctx.desk.journal_export(from_ms=from_ms, to_ms=to_ms, site=only, fmt=machine)
    else:
        every = ctx.desk.journal_export(from_ms=from_ms, to_ms=to_ms, site=None, fmt="jsonl")
        chunks = export(_entries_of(every, scope), machine)
    if format == "excel":
        chunks = _excel(ctx, chunks, lang=lang, tz=tz, bom=bom)
    body = await run_in_threadpool(_first_and_rest, chunks)
    return StreamingResponse(
        body,
        media_type=MEDIA_TYPES[format],
        headers={"Content-Disposition": f'attachment; filename="{FILENAMES[format]}"'},
    )


def _excel(
    ctx: ApiContext, jsonl: Iterable[str], *, lang: Literal["zh", "en"], tz: str, bom: bool
) -> Iterator[str]:
    """A JSON-lines export as the spreadsheet's CSV, each entry's alarm priority taken
    from the occurrences (else the registry); read when the first chunk is asked for
    (in the worker thread)."""
    occurrences = ctx.desk.alarms(limit=10_000)
    priorities = {str(a["alarm_id"]): str(a["priority"]) for a in occurrences
                  if a.get("alarm_id") and a.get("priority")}
    plant = Plant(ctx.registry, priorities)
    yield from excel_csv(_entries_of(jsonl, None), plant, lang=lang, tz=tz, bom=bom)


def _entries_of(
    chunks: Iterable[str], sites: frozenset[str] | None
) -> Iterator[dict[str, Any]]:
    """The entries of a JSON-lines export whose site is one of `sites` (None: all)."""
    for chunk in chunks:
        for line in chunk.splitlines():
            if line:
                entry = json.loads(line)
                if sites is None or entry.get("site") in sites:
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
    figures = ctx.desk.kpi(from_ms=start, to_ms=end, site=site)
    return {**figures, "unrationalized": unrationalized(ctx.registry, site=site)}
