"""What routes declare, as `Annotated` aliases: the caller with a right, the context,
a time window's bounds. A route says `principal: Operator, ctx: Context` instead of
repeating `Depends(require(Right.operate))` and `Depends(context)`.

    Reader      read: sites, sensors, trends, alarms, stream, /me
    Operator    operate: ack, reset, shelve, unshelve, note
    Engineer    engineer: permits, out-of-service, return to service, registry
    Auditor     audit: journal export and verify
    Analyst     figures: the alarm-system figures (KPI)
    Inspector   inspect: hidden dangers recorded, ordered, accepted or rejected (bureau)
    Rectifier   rectify: hidden dangers self-checked, rectified, evidenced, submitted
    Context     the API's context (registry, desk, store)
    FromMs, ToMs  the bounds of a time window, epoch milliseconds (optional)
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Query

from hazmon.api.auth import Principal, Right, require
from hazmon.api.context import ApiContext, context

MAX_MS = 2**53  # beyond this a millisecond count is not a time

Reader = Annotated[Principal, Depends(require(Right.read))]
Operator = Annotated[Principal, Depends(require(Right.operate))]
Engineer = Annotated[Principal, Depends(require(Right.engineer))]
Auditor = Annotated[Principal, Depends(require(Right.audit))]
Analyst = Annotated[Principal, Depends(require(Right.figures))]
Inspector = Annotated[Principal, Depends(require(Right.inspect))]
Rectifier = Annotated[Principal, Depends(require(Right.rectify))]
Context = Annotated[ApiContext, Depends(context)]
FromMs = Annotated[int | None, Query(ge=0, le=MAX_MS)]
ToMs = Annotated[int | None, Query(ge=0, le=MAX_MS)]
