"""Alarm occurrences and the operator's actions on them.

An `alarm_id` (`site/sensor/condition#n`) holds `/` and `#`: clients percent-encode it
(`%2F`, `%23`). The server decodes the path before routing, so the `{alarm_id:path}`
routes below receive it whole, encoded or not.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Path, Query

from api.auth import AuthFirstRoute, Principal, Right, require
from api.context import ApiContext, context
from api.errors import responses
from api.models import AlarmOut, NoteBody, OptionalNoteBody, Priority, ShelveBody

router = APIRouter(
    prefix="/api/v1", route_class=AuthFirstRoute, tags=["alarms"],
    responses=responses(401, 403, 422),
)

ACTION = responses(400, 404, 409)
ALARM_ID = Path(
    description="an occurrence, `site/sensor/condition#n`, percent-encoded",
    examples=["jh-chem-01/GT-101/high#1"],
)


@router.get("/alarms", response_model=list[AlarmOut])
async def alarms(
    active: bool | None = Query(None, description="true: only occurrences not yet ended"),
    site: str | None = Query(None, max_length=64),
    priority: Priority | None = None,
    limit: int = Query(500, ge=1, le=10_000),
    _: Principal = Depends(require(Right.read)),
    ctx: ApiContext = Depends(context),
) -> list[dict[str, Any]]:
    """Occurrences, newest first; without `active`, all of them (up to `limit`)."""
    return ctx.desk.alarms(active=active, site=site, priority=priority, limit=limit)


@router.post("/alarms/{alarm_id:path}/ack", response_model=AlarmOut, responses=ACTION)
async def ack(
    body: OptionalNoteBody,
    alarm_id: str = ALARM_ID,
    principal: Principal = Depends(require(Right.operate)),
    ctx: ApiContext = Depends(context),
) -> dict[str, Any]:
    """Acknowledge an occurrence (409 if its state does not allow it)."""
    return ctx.desk.ack(alarm_id, user=principal.name, note=body.note)


@router.post("/alarms/{alarm_id:path}/reset", response_model=AlarmOut, responses=ACTION)
async def reset(
    body: OptionalNoteBody,
    alarm_id: str = ALARM_ID,
    principal: Principal = Depends(require(Right.operate)),
    ctx: ApiContext = Depends(context),
) -> dict[str, Any]:
    """Reset a latched occurrence whose condition has returned (acknowledged first)."""
    return ctx.desk.reset(alarm_id, user=principal.name, note=body.note)


@router.post("/alarms/{alarm_id:path}/shelve", response_model=AlarmOut, responses=ACTION)
async def shelve(
    body: ShelveBody,
    alarm_id: str = ALARM_ID,
    principal: Principal = Depends(require(Right.operate)),
    ctx: ApiContext = Depends(context),
) -> dict[str, Any]:
    """Shelve an occurrence for some minutes, with a reason (within the maximum)."""
    return ctx.desk.shelve(
        alarm_id, user=principal.name, minutes=body.minutes, reason=body.reason
    )


@router.post("/alarms/{alarm_id:path}/unshelve", response_model=AlarmOut, responses=ACTION)
async def unshelve(
    body: NoteBody,
    alarm_id: str = ALARM_ID,
    principal: Principal = Depends(require(Right.operate)),
    ctx: ApiContext = Depends(context),
) -> dict[str, Any]:
    """Show a shelved occurrence again before its time is up, saying why: it is
    re-evaluated (`unack` and raised again if its condition is active, else `normal`);
    409 if it is not shelved."""
    return ctx.desk.unshelve(alarm_id, user=principal.name, note=body.note)


@router.post("/alarms/{alarm_id:path}/note", response_model=AlarmOut, responses=ACTION)
async def note(
    body: NoteBody,
    alarm_id: str = ALARM_ID,
    principal: Principal = Depends(require(Right.operate)),
    ctx: ApiContext = Depends(context),
) -> dict[str, Any]:
    """Add a note about an occurrence to the journal."""
    return ctx.desk.note(alarm_id, user=principal.name, note=body.note)
