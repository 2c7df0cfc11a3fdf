"""What-if replay of thresholds (docs/alarms.md, "What-if replay"), for engineers: the
stored readings of a range replayed through the alarm engine for the registry in force
and a proposed one, compared (`hazmon replay` gives the same report)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from pydantic import BaseModel, ConfigDict, Field
from starlette.concurrency import run_in_threadpool

from hazmon.alarms.replay.whatif import what_if
from hazmon.api.auth import AuthFirstRoute
from hazmon.api.deps import MAX_MS, Context, Engineer
from hazmon.api.errors import BadRequest, responses
from hazmon.contract.config import parse_registry

router = APIRouter(
    prefix="/api/v1", route_class=AuthFirstRoute, tags=["replay"],
    responses=responses(400, 401, 403, 404, 422, 503),
)

MAX_API_RANGE_MS = 31 * 86_400_000  # longer ones: `hazmon replay` on the command line
MAX_REGISTRY_CHARS = 2_000_000


class ReplayRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    proposed: str = Field(min_length=1, max_length=MAX_REGISTRY_CHARS,
                          description="the proposed registry, as YAML text")
    from_ms: int = Field(ge=0, le=MAX_MS, description="start, epoch ms")
    to_ms: int = Field(ge=0, le=MAX_MS, description="end (included), epoch ms")
    site: str | None = Field(None, max_length=64, description="replay this site only")


@router.post("/replay")
async def replay(body: ReplayRequest, principal: Engineer, ctx: Context) -> dict[str, Any]:
    """Replay [from_ms, to_ms] of the store through the alarm engine for the registry
    in force (`current`) and `proposed`, and compare them per site and per sensor:
    alarms raised, alarms per operator per 10 minutes, floods, chattering, fleeting
    and standing alarms, time in alarm, and the current registry's alarms the
    proposal misses or raises late (`safety`). At most 31 days; a token scoped to
    one site replays that site's, one scoped to several names one in `site`."""
    if body.to_ms <= body.from_ms:
        raise BadRequest("to_ms must come after from_ms")
    if body.to_ms - body.from_ms > MAX_API_RANGE_MS:
        raise BadRequest("at most 31 days per request; longer ranges with `hazmon replay`")
    site = body.site
    if site is not None:
        ctx.site(site, principal)  # 404 unless in the registry and the scope
    elif principal.sites is not None:
        if len(principal.sites) > 1:
            names = ", ".join(sorted(principal.sites))
            raise BadRequest(f"this token covers several sites ({names}): name one in `site`")
        site = next(iter(principal.sites))
    proposed = parse_registry(body.proposed, file="proposed")  # ConfigError: 400
    current = ctx.registry

    def run() -> dict[str, Any]:
        return what_if(ctx.store, current=current, proposed=proposed, from_ms=body.from_ms,
                       to_ms=body.to_ms, site=site)

    return await run_in_threadpool(run)
