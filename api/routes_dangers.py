"""Hidden dangers (隐患) and their rectification loop (docs/hidden-dangers.md).

The bureau's inspector records a hidden danger, orders its rectification with a
deadline, and accepts (closes) or rejects what the enterprise submitted; the
enterprise's operators and engineers record their own self-check findings, rectify,
add evidence (text, or a JPEG, PNG or PDF checked by its first bytes) and submit.
hazmon's own rules open records too (alarms/dangers/rules.py). Every change is an entry
of the alarm journal. A token scoped to some sites sees and acts on their records
only; another site's record answers 404 like one that does not exist.

Evidence files are sent as the raw request body (`PUT .../evidence/files?name=...`),
at most `hidden_dangers.evidence_max_bytes` (4 MiB by default).
"""

from __future__ import annotations

from typing import Any, Literal

from fastapi import APIRouter, Path, Query, Request, Response
from pydantic import BaseModel, ConfigDict, Field
from starlette.concurrency import run_in_threadpool

from hazmon.alarms.dangers import ledger
from hazmon.alarms.dangers.book import DangerBook, NewDanger
from hazmon.alarms.dangers.model import EvidenceTooLarge, UnknownDanger
from hazmon.api.auth import AuthFirstRoute, Principal
from hazmon.api.deps import MAX_MS, Context, FromMs, Inspector, Reader, Rectifier, ToMs
from hazmon.api.errors import ApiError, BadRequest, responses

router = APIRouter(
    prefix="/api/v1", route_class=AuthFirstRoute, tags=["hidden dangers"],
    responses=responses(401, 403, 422),
)

ACTION = responses(400, 404, 409)
DANGER_ID = Path(pattern=r"^HD-[A-Za-z0-9_.-]{1,80}$", description="a hidden danger's id",
                 examples=["HD-jh-chem-01-0001"])
Short = Field(min_length=1, max_length=200)
Long = Field(min_length=1, max_length=2000)


class DangersUnavailable(ApiError):
    """The desk behind this API keeps no hidden dangers (a JetStream API instance)."""

    status = 503
    code = "dangers_unavailable"


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class SelfCheckBody(_Body):
    """A hidden danger the enterprise's self-check found (the site is in the path)."""

    area: str = Short
    description: str = Long
    grade: Literal["general", "major"]
    lat: float | None = Field(default=None, ge=-90, le=90)
    lon: float | None = Field(default=None, ge=-180, le=180)
    found_ms: int | None = Field(default=None, ge=0, le=MAX_MS)
    links: list[str] = Field(default_factory=list, max_length=50)
    owner_enterprise: str | None = Field(default=None, max_length=200)
    owner_bureau: str | None = Field(default=None, max_length=200)
    deadline_ms: int | None = Field(default=None, ge=0, le=MAX_MS)
    measures: str | None = Field(default=None, max_length=2000)
    note: str | None = Field(default=None, max_length=2000)


class NewDangerBody(SelfCheckBody):
    source: Literal["inspection", "self_check"] = "inspection"


class OrderBody(_Body):
    """A rectification order (限期整改): the deadline and who is responsible."""

    deadline_ms: int = Field(ge=0, le=MAX_MS)
    owner_enterprise: str = Short
    owner_bureau: str = Short
    measures: str | None = Field(default=None, max_length=2000)
    note: str | None = Field(default=None, max_length=2000)


class NoteBody(_Body):
    note: str | None = Field(default=None, max_length=2000)


class ReasonBody(_Body):
    note: str = Long  # why it was rejected


class EvidenceBody(_Body):
    text: str = Long


def book_of(ctx: Any) -> DangerBook:
    found = getattr(ctx.desk, "dangers", None)
    if not isinstance(found, DangerBook):
        raise DangersUnavailable("hidden dangers are kept by the alarm service's desk "
                                 "(hazmon up, hazmon alarms), not by this API instance")
    return found


def _visible(book: DangerBook, danger_id: str, principal: Principal) -> str:
    site = book.site_of(danger_id)
    if site is None or not principal.sees(site):
        raise UnknownDanger(danger_id)
    return danger_id


@router.get("/dangers", response_model=list[dict[str, Any]])
async def dangers(
    *,
    site: str | None = Query(None, max_length=64),
    state: Literal["open", "rectifying", "submitted", "rejected", "closed"] | None = None,
    grade: Literal["general", "major"] | None = None,
    source: Literal["inspection", "self_check", "hazmon"] | None = None,
    overdue: bool | None = None,
    principal: Reader,
    ctx: Context,
) -> list[dict[str, Any]]:
    """Hidden dangers, newest found first, with `overdue` derived, filtered."""
    book = book_of(ctx)
    found = await run_in_threadpool(book.records, site=site)
    return [d for d in found if principal.sees(str(d["site"]))
            and (state is None or d["state"] == state)
            and (grade is None or d["grade"] == grade)
            and (source is None or d["source"] == source)
            and (overdue is None or d["overdue"] == overdue)]


async def _create(body: SelfCheckBody, site: str, source: str, principal: Principal,
                  ctx: Any) -> dict[str, Any]:
    ctx.site(site, principal)  # 404 outside the scope, as an unknown site
    new = NewDanger(
        site=site, area=body.area, description=body.description, grade=body.grade,
        source=source, found_by=principal.name, found_ms=body.found_ms, lat=body.lat,
        lon=body.lon, links=tuple(body.links), owner_enterprise=body.owner_enterprise,
        owner_bureau=body.owner_bureau, deadline_ms=body.deadline_ms, measures=body.measures,
    )
    book = book_of(ctx)
    return await run_in_threadpool(lambda: book.create(new, user=principal.name, note=body.note))


@router.post("/sites/{site}/dangers", responses=responses(400, 404))
async def record_danger(
    *, site: str = Path(max_length=64), body: NewDangerBody, principal: Inspector,
    ctx: Context,
) -> dict[str, Any]:
    """The bureau records a hidden danger found by inspection (or reported to it)."""
    return await _create(body, site, body.source, principal, ctx)


@router.post("/sites/{site}/dangers/self-check", responses=responses(400, 404))
async def record_self_check(
    *, site: str = Path(max_length=64), body: SelfCheckBody, principal: Rectifier,
    ctx: Context,
) -> dict[str, Any]:
    """The enterprise records a hidden danger its own self-check found."""
    return await _create(body, site, "self_check", principal, ctx)


def _period(quarter: str | None, from_ms: int | None, to_ms: int | None) -> tuple[int, int]:
    if quarter is not None:
        return ledger.quarter(quarter)
    if from_ms is None or to_ms is None:
        raise BadRequest("give `quarter` (e.g. 2026Q4) or both `from_ms` and `to_ms`")
    return from_ms, to_ms


@router.get(
    "/dangers/ledger",
    responses={**responses(400, 404),
               200: {"description": "the ledger", "content": {"text/csv": {}, "text/html": {}}}},
    response_class=Response,
)
async def danger_ledger(
    *,
    site: str = Query(max_length=64),
    quarter: str | None = Query(None, max_length=8, description="e.g. 2026Q4"),
    from_ms: FromMs = None,
    to_ms: ToMs = None,
    format: Literal["csv", "html"] = "csv",
    bom: bool = Query(False, description="csv: a UTF-8 byte-order mark first (Excel)"),
    principal: Reader,
    ctx: Context,
) -> Response:
    """The site's ledger (隐患排查治理台账) of the records found in the period: CSV with
    Chinese headers, or a printable HTML page."""
    found_site = ctx.site(site, principal)
    start, end = _period(quarter, from_ms, to_ms)
    book = book_of(ctx)
    records = ledger.in_period(await run_in_threadpool(book.records, site=site), start, end)
    name = f"hidden-dangers-{site}-{quarter or start}"
    if format == "html":
        figures = ledger.stats(records, start, end, book.now_ms())
        page = ledger.to_html(records, site=site, site_name=found_site.name, from_ms=start,
                              to_ms=end, figures=figures)
        return Response(page, media_type="text/html; charset=utf-8")
    return Response(ledger.to_csv(records, bom=bom), media_type="text/csv; charset=utf-8",
                    headers={"Content-Disposition": f'attachment; filename="{name}.csv"'})


@router.get("/dangers/stats", responses=responses(400, 404))
async def danger_stats(
    *,
    quarter: str = Query(max_length=8, description="e.g. 2026Q4"),
    site: str | None = Query(None, max_length=64),
    principal: Reader,
    ctx: Context,
) -> dict[str, Any]:
    """The quarter's figures per site and in total: found, closed, overdue, open at its
    end; found by grade and by source."""
    start, end = ledger.quarter(quarter)
    sites = [ctx.site(site, principal)] if site is not None else ctx.sites(principal)
    book = book_of(ctx)
    records = await run_in_threadpool(book.records)
    now_ms = book.now_ms()
    mine = [d for d in records if any(d["site"] == s.id for s in sites)]
    return {
        "quarter": quarter.upper(),
        "total": ledger.stats(mine, start, end, now_ms),
        "sites": {s.id: ledger.stats([d for d in mine if d["site"] == s.id], start, end,
                                     now_ms) for s in sites},
    }


@router.get("/dangers/{danger_id}", responses=responses(404))
async def danger(
    *, danger_id: str = DANGER_ID, principal: Reader, ctx: Context
) -> dict[str, Any]:
    """One record with `overdue` and its history (its journal entries, with hashes)."""
    book = book_of(ctx)
    _visible(book, danger_id, principal)
    return await run_in_threadpool(book.get, danger_id)


async def _act(ctx: Any, danger_id: str, action: str, principal: Principal,
               note: str | None, **fields: Any) -> dict[str, Any]:
    book = book_of(ctx)
    _visible(book, danger_id, principal)
    return await run_in_threadpool(
        lambda: book.act(danger_id, action, user=principal.name, note=note, **fields))


@router.post("/dangers/{danger_id}/order", responses=ACTION)
async def order(
    *, danger_id: str = DANGER_ID, body: OrderBody, principal: Inspector, ctx: Context
) -> dict[str, Any]:
    """A rectification order (限期整改通知书): deadline, owners, measures; open, rejected
    or already rectifying (a new deadline) -> rectifying."""
    return await _act(ctx, danger_id, "order", principal, body.note or "下达限期整改",
                      deadline_ms=body.deadline_ms, owner_enterprise=body.owner_enterprise,
                      owner_bureau=body.owner_bureau, measures=body.measures)


@router.post("/dangers/{danger_id}/rectify", responses=ACTION)
async def rectify(
    *, danger_id: str = DANGER_ID, body: NoteBody, principal: Rectifier, ctx: Context
) -> dict[str, Any]:
    """The enterprise starts (or, after a rejection, resumes) the rectification."""
    return await _act(ctx, danger_id, "rectify", principal, body.note or "开始整改")


@router.post("/dangers/{danger_id}/evidence", responses=ACTION)
async def evidence(
    *, danger_id: str = DANGER_ID, body: EvidenceBody, principal: Rectifier, ctx: Context
) -> dict[str, Any]:
    """A text of evidence (what was done, by whom)."""
    return await _act(ctx, danger_id, "evidence", principal, "整改证据", text=body.text)


@router.put(
    "/dangers/{danger_id}/evidence/files",
    responses={**ACTION, **responses(413, 415)},
    openapi_extra={"requestBody": {"required": True, "description": "a JPEG, PNG or PDF",
                                   "content": {"application/octet-stream": {
                                       "schema": {"type": "string", "format": "binary"}}}}},
)
async def evidence_file(
    *,
    request: Request,
    danger_id: str = DANGER_ID,
    name: str = Query(min_length=1, max_length=120, description="the file's name, shown"),
    principal: Rectifier,
    ctx: Context,
) -> dict[str, Any]:
    """A photo or document (JPEG, PNG or PDF, by its first bytes), the raw body."""
    book = book_of(ctx)
    _visible(book, danger_id, principal)
    limit = ctx.registry.hidden_dangers.evidence_max_bytes
    data = bytearray()
    async for chunk in request.stream():
        data += chunk
        if len(data) > limit:
            raise EvidenceTooLarge(f"a file of at most {limit} bytes")
    return await run_in_threadpool(
        lambda: book.add_file(danger_id, name=name, data=bytes(data), user=principal.name))


@router.get(
    "/dangers/{danger_id}/evidence/files/{sha256}",
    responses={**responses(404), 200: {"description": "the file", "content": {
        "image/jpeg": {}, "image/png": {}, "application/pdf": {}}}},
    response_class=Response,
)
async def evidence_file_content(
    *,
    danger_id: str = DANGER_ID,
    sha256: str = Path(pattern=r"^[0-9a-f]{64}$"),
    principal: Reader,
    ctx: Context,
) -> Response:
    book = book_of(ctx)
    _visible(book, danger_id, principal)
    data, mime, _ = await run_in_threadpool(book.file, danger_id, sha256)
    return Response(data, media_type=mime, headers={
        "Content-Disposition": "attachment", "X-Content-Type-Options": "nosniff"})


@router.post("/dangers/{danger_id}/submit", responses=ACTION)
async def submit(
    *, danger_id: str = DANGER_ID, body: NoteBody, principal: Rectifier, ctx: Context
) -> dict[str, Any]:
    """The enterprise reports the rectification done (rectifying -> submitted)."""
    return await _act(ctx, danger_id, "submit", principal, body.note or "整改完成，申请验收")


@router.post("/dangers/{danger_id}/accept", responses=ACTION)
async def accept(
    *, danger_id: str = DANGER_ID, body: NoteBody, principal: Inspector, ctx: Context
) -> dict[str, Any]:
    """The bureau verifies and closes it (验收销号): submitted -> closed."""
    return await _act(ctx, danger_id, "accept", principal, body.note or "验收合格，销号")


@router.post("/dangers/{danger_id}/reject", responses=ACTION)
async def reject(
    *, danger_id: str = DANGER_ID, body: ReasonBody, principal: Inspector, ctx: Context
) -> dict[str, Any]:
    """The bureau refuses what was submitted, saying why: submitted -> rejected."""
    return await _act(ctx, danger_id, "reject", principal, body.note)
