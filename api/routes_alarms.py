"""Alarm occurrences and the operator's actions on them.

An `alarm_id` (`site/sensor/condition#n`) holds `/` and `#`: clients percent-encode it
(`%2F`, `%23`). The server decodes the path before routing, so the `{alarm_id:path}`
routes below receive it whole, encoded or not.

A token scoped to some sites sees only their occurrences; an action on another
site's occurrence answers the same 404 as an id that does not exist.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Path, Query

from hazmon.alarms.core.inputs import Ack, Note, Reset, Shelve, Unshelve
from hazmon.alarms.errors import AlarmError, UnknownAlarm
from hazmon.api.auth import AuthFirstRoute, Principal
from hazmon.api.context import act
from hazmon.api.deps import Context, Operator, Reader
from hazmon.api.errors import responses, status_and_code
from hazmon.api.models import (
    AckManyBody,
    AckOutcome,
    AlarmOut,
    NoteBody,
    OptionalNoteBody,
    Priority,
    ShelveBody,
)
from hazmon.api.rationalization import with_rationalization

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
    *,
    active: bool | None = Query(None, description="true: only occurrences not yet ended"),
    site: str | None = Query(None, max_length=64),
    priority: Priority | None = None,
    limit: int = Query(500, ge=1, le=10_000),
    principal: Reader,
    ctx: Context,
) -> list[dict[str, Any]]:
    """Occurrences, newest first; without `active`, all of them (up to `limit`)."""
    if site is not None or principal.sites is None:
        if not principal.sees(site):
            return []  # like a site without occurrences
        found = ctx.desk.alarms(active=active, site=site, priority=priority, limit=limit)
        return with_rationalization(ctx.registry, found)
    found = [
        alarm
        for each in sorted(principal.sites)
        for alarm in ctx.desk.alarms(active=active, site=each, priority=priority, limit=limit)
    ]
    found.sort(key=lambda a: (a.get("raised_ms") or 0, a.get("alarm_id", "")), reverse=True)
    return with_rationalization(ctx.registry, found[:limit])


def visible(alarm_id: str, principal: Principal) -> str:
    """The id, if its site is in the caller's scope; else UnknownAlarm, as for an id
    that does not exist. An id is `site/sensor/condition#n`; a site id holds no `/`."""
    if not principal.sees(alarm_id.split("/", 1)[0]):
        raise UnknownAlarm(alarm_id)
    return alarm_id


@router.post("/alarms/ack", response_model=list[AckOutcome], responses=responses(400))
async def ack_many(
    *,
    body: AckManyBody,
    principal: Operator,
    ctx: Context,
) -> list[dict[str, Any]]:
    """Acknowledge several occurrences with one note, each as `POST .../ack` would (one
    journal entry each, in the order given). Each answers for itself: one that cannot
    be acknowledged (gone, another site's, already acknowledged) says why and does not
    stop the others."""
    outcomes: list[dict[str, Any]] = []
    for alarm_id in dict.fromkeys(body.alarm_ids):  # each once, in order
        try:
            inp = Ack(visible(alarm_id, principal), principal.name, body.note)
            outcomes.append({"alarm_id": alarm_id, "ok": True, "alarm": await act(ctx.desk, inp)})
        except AlarmError as exc:
            _, code = status_and_code(exc)
            outcomes.append({"alarm_id": alarm_id, "ok": False, "error": code, "detail": str(exc)})
    return outcomes


@router.post("/alarms/{alarm_id:path}/ack", response_model=AlarmOut, responses=ACTION)
async def ack(
    *,
    body: OptionalNoteBody,
    alarm_id: str = ALARM_ID,
    principal: Operator,
    ctx: Context,
) -> dict[str, Any]:
    """Acknowledge an occurrence (409 if its state does not allow it)."""
    acked = await act(ctx.desk, Ack(visible(alarm_id, principal), principal.name, body.note))
    return with_rationalization(ctx.registry, [acked])[0]


@router.post("/alarms/{alarm_id:path}/reset", response_model=AlarmOut, responses=ACTION)
async def reset(
    *,
    body: OptionalNoteBody,
    alarm_id: str = ALARM_ID,
    principal: Operator,
    ctx: Context,
) -> dict[str, Any]:
    """Reset a latched occurrence whose condition has returned (acknowledged first)."""
    return await act(ctx.desk, Reset(visible(alarm_id, principal), principal.name, body.note))


@router.post("/alarms/{alarm_id:path}/shelve", response_model=AlarmOut, responses=ACTION)
async def shelve(
    *,
    body: ShelveBody,
    alarm_id: str = ALARM_ID,
    principal: Operator,
    ctx: Context,
) -> dict[str, Any]:
    """Shelve an occurrence for some minutes, with a reason (within the maximum)."""
    return await act(ctx.desk,
        Shelve(visible(alarm_id, principal), principal.name, body.minutes, body.reason)
    )


@router.post("/alarms/{alarm_id:path}/unshelve", response_model=AlarmOut, responses=ACTION)
async def unshelve(
    *,
    body: NoteBody,
    alarm_id: str = ALARM_ID,
    principal: Operator,
    ctx: Context,
) -> dict[str, Any]:
    """Show a shelved occurrence again before its time is up, saying why: it is
    re-evaluated (`unack` and raised again if its condition is active, else `normal`);
    409 if it is not shelved."""
    return await act(ctx.desk, Unshelve(visible(alarm_id, principal), principal.name, body.note))


@router.post("/alarms/{alarm_id:path}/note", response_model=AlarmOut, responses=ACTION)
async def note(
    *,
    body: NoteBody,
    alarm_id: str = ALARM_ID,
    principal: Operator,
    ctx: Context,
) -> dict[str, Any]:
    """Add a note about an occurrence to the journal."""
    return await act(ctx.desk, Note(visible(alarm_id, principal), principal.name, body.note))
