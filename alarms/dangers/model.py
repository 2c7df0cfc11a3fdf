"""Hidden dangers (隐患) and their rectification loop, as data: no I/O, no clock
(docs/hidden-dangers.md).

A record is a dict (`Doc`) built only by folding its journal entries (`fold`): each
change is one entry of the alarm journal whose `event` is `hd_<action>`, whose
`alarm_id` is the record's id, whose `value` is the JSON of the fields it set and whose
`user` and `note` say who and why. The same fold keeps the SQLite table
(alarms/dangers/table.py) and the in-memory one, and a partition's changelog on
JetStream rebuilds it with the journal.

The loop, one table (`ACTIONS`): the action, the states it is allowed in, the state it
leads to (None: unchanged) and who may take it:

    open ──order/rectify──► rectifying ──submit──► submitted ──accept──► closed
                              ▲                        │
                              └──rectify── rejected ◄──┘ reject

`overdue` is derived (`overdue`): a deadline passed while the enterprise holds the
record (open, rectifying, rejected); a submitted record waits for the bureau.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from hazmon.alarms.core.errors import IllegalTransition, LimitExceeded, UnknownAlarm

Doc = dict[str, Any]

GRADES = ("general", "major")  # 一般隐患, 重大隐患
SOURCES = ("inspection", "self_check", "hazmon")
STATES = ("open", "rectifying", "submitted", "rejected", "closed")
ENTERPRISE_HOLDS = frozenset({"open", "rectifying", "rejected"})  # may become overdue
EVENT_PREFIX = "hd_"
KEY_PART = "hidden_danger"  # journal key: `{site}/hidden_danger/{id}`


@dataclass(frozen=True, slots=True)
class Action:
    name: str
    allowed: frozenset[str]  # states it may be taken in
    to: str | None  # the state it leads to; None: unchanged
    by: str  # "bureau" (inspector), "enterprise" (operator, engineer) or "hazmon"


ACTIONS: dict[str, Action] = {
    a.name: a
    for a in (
        Action("order", frozenset({"open", "rectifying", "rejected"}), "rectifying", "bureau"),
        Action("rectify", frozenset({"open", "rejected"}), "rectifying", "enterprise"),
        Action("evidence", frozenset({"open", "rectifying", "rejected"}), None, "enterprise"),
        Action("submit", frozenset({"rectifying"}), "submitted", "enterprise"),
        Action("accept", frozenset({"submitted"}), "closed", "bureau"),
        Action("reject", frozenset({"submitted"}), "rejected", "bureau"),
        # hazmon's own: the cause of an automatic record ended (closing evidence, and
        # the record goes to the bureau for acceptance)
        Action("cause_ended", frozenset({"open", "rectifying", "rejected", "submitted"}),
               "submitted", "hazmon"),
        Action("overdue", frozenset({"open", "rectifying", "rejected"}), None, "hazmon"),
    )
}


class UnknownDanger(UnknownAlarm):
    """No hidden danger with this id (or not in the caller's scope)."""

    def __init__(self, danger_id: str) -> None:
        super().__init__(danger_id)
        self.args = (f"no such hidden danger: {danger_id}",)


class IllegalDangerAction(IllegalTransition):
    """An action the loop does not allow in the record's state."""


class BadEvidence(LimitExceeded):
    """Evidence refused: a name with a path in it, empty, too many files."""


class EvidenceTooLarge(BadEvidence):
    """A file over `hidden_dangers.evidence_max_bytes`."""


class EvidenceType(BadEvidence):
    """A file that is not a JPEG, PNG or PDF by its first bytes."""


def step(doc: Doc, action: str) -> str:
    """The state `action` leads to from the record's state; IllegalDangerAction if the
    table does not allow it there."""
    rule = ACTIONS[action]
    state = str(doc["state"])
    if state not in rule.allowed:
        raise IllegalDangerAction(state, action, str(doc["id"]))
    if action == "cause_ended" and state == "submitted":
        return state
    return rule.to or state


def fold(doc: Doc | None, entry: Doc) -> Doc:
    """The record after one of its journal entries (a new one for `hd_opened`)."""
    delta: Doc = json.loads(entry["value"]) if isinstance(entry.get("value"), str) else {}
    record: Doc = {} if doc is None else dict(doc)
    evidence = delta.pop("evidence", None)
    record.update(delta)
    if evidence is not None:
        record["evidence"] = [*record.get("evidence", []), evidence]
    record.setdefault("evidence", [])
    record["state"] = entry.get("to_state") or record.get("state")
    record["updated_ms"] = entry["ts_ms"]
    return record


def is_danger_entry(event: str, key: str) -> bool:
    return event.startswith(EVENT_PREFIX) and f"/{KEY_PART}/" in key


def overdue(doc: Doc, now_ms: int) -> bool:
    deadline = doc.get("deadline_ms")
    return (isinstance(deadline, int) and now_ms > deadline
            and doc.get("state") in ENTERPRISE_HOLDS)


def public(doc: Doc, now_ms: int) -> Doc:
    """What the API shows: the record plus the derived `overdue`."""
    return {**doc, "overdue": overdue(doc, now_ms)}


def site_floor(records: list[Doc], now_ms: int) -> dict[str, int]:
    """The grade floor hidden dangers put under each site (docs/hidden-dangers.md): an
    open 重大隐患 (not closed) makes the site at least orange (2), an overdue one red (3);
    general ones add nothing. Sites without a floor are left out."""
    floors: dict[str, int] = {}
    for doc in records:
        if doc.get("grade") != "major" or doc.get("state") == "closed":
            continue
        level = 3 if overdue(doc, now_ms) else 2
        site = str(doc["site"])
        floors[site] = max(floors.get(site, 0), level)
    return floors


def danger_id(site: str, number: int) -> str:
    return f"HD-{site}-{number:04d}"


def key_of(site: str, ident: str) -> str:
    return f"{site}/{KEY_PART}/{ident}"


def alarm_key(site: str, ident: str) -> str:
    """The critical alarm of an overdue major hidden danger, on its site."""
    return f"{site}/{ident}/overdue"
