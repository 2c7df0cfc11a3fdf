"""Whether the platform can be trusted right now (docs/api.md, "Monitoring"): the alarm
chain's state from the chain watch (alarms/watch.py) and the active alarms that say
monitoring itself is degraded: the chain dead, the broker dropping messages, messages
of a gateway lost (`feed_gap`), and hazmon's other system alarms. A duty officer cannot
tell "no alarms" from "the alarm path is dead" without it; the console shows it as a
banner."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from hazmon.alarms import system
from hazmon.api.auth import AuthFirstRoute
from hazmon.api.deps import Context, Reader
from hazmon.api.errors import responses
from hazmon.api.models import Monitoring

router = APIRouter(prefix="/api/v1", route_class=AuthFirstRoute, responses=responses(401, 403))

DEGRADING = frozenset({"feed_gap", "chain_dead", "broker_dropping"})
UNKNOWN_CHAIN = {"state": "unknown", "rtt_ms": None, "checked_ms": None}


def degrading(alarm: dict[str, Any]) -> bool:
    """Whether an open occurrence says monitoring is degraded: messages lost
    (`feed_gap`) until someone acknowledged the loss; a system alarm while its source
    still fails (one that works again, waiting returned for an acknowledgement, is in
    the alarm list, not in the banner)."""
    if alarm["condition"] == "feed_gap":
        return True
    return (alarm["site"] == system.SITE or alarm["condition"] in DEGRADING) and (
        alarm.get("state") != "rtn_unack")


@router.get("/monitoring", response_model=Monitoring, tags=["monitoring"])
async def monitoring(*, principal: Reader, ctx: Context) -> dict[str, Any]:
    """`degraded` while any reason is active: a system alarm whose source still fails,
    or an occurrence not yet ended of a `feed_gap` in the caller's sites; `chain` as the
    chain watch last saw it (`unknown` where no watch runs beside this API)."""
    chain = dict(UNKNOWN_CHAIN)
    if ctx.chain is not None:
        chain.update({k: v for k, v in ctx.chain().items() if k in UNKNOWN_CHAIN})
    reasons = [
        {k: alarm.get(k) for k in ("alarm_id", "key", "site", "condition", "priority",
                                   "state", "note")}
        for alarm in ctx.desk.alarms(active=True, limit=10_000)
        if degrading(alarm)
        and (alarm["site"] == system.SITE or principal.sees(alarm["site"]))
    ]
    if chain["state"] == "dead" and not any(r["condition"] == "chain_dead" for r in reasons):
        reasons.insert(0, {"alarm_id": None, "key": "_system/chain/chain_dead",
                           "site": system.SITE, "condition": "chain_dead",
                           "priority": "critical", "state": "unack",
                           "note": "no echo of the alarm chain's canary"})
    return {"degraded": bool(reasons), "reasons": reasons, "chain": chain}
