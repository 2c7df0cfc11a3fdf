"""Operator actions sent to a partition's owner on a JetStream cluster (docs/scale-out.md):
the wire form of one request and of its answer.

An API instance owns no partition (hazmon.alarms.cluster_desk); each operator input goes
by NATS request/reply to the alarm worker that owns the partition of its site
(hazmon.alarms.workers), on `hz.act.{p}`:

    request  {"type": "Ack", "alarm_id": ..., "user": ..., "note": ...}
             one input of hazmon.alarms.core.inputs, its fields by name; the header
             Hazmon-Request-Id names the action (a retry carries the same id, and the
             owner answers it as it answered the first)
    answer   {"ok": <the desk's answer>, "seq": <changelog sequence>}   committed
             {"error": "IllegalTransition" | "LimitExceeded" | "UnknownAlarm" |
              "AlarmError", "message": "...", "args": {...}}   refused, nothing changed
             {"error": "NotOwner"}   the partition moved meanwhile: nothing changed
             {"error": "Failed", "message": "..."}   the owner could not commit

`seq` is the changelog sequence the partition had reached once the action was
committed: a reader of the changelog that got that far sees the action.
"""

from __future__ import annotations

import types
import typing
from dataclasses import asdict, dataclass, fields
from typing import Any

import orjson

from hazmon.alarms.core.inputs import (
    Ack,
    BypassPermit,
    Note,
    OperatorInput,
    OutOfService,
    Reset,
    ReturnToService,
    Shelve,
    Unshelve,
)
from hazmon.alarms.errors import AlarmError, IllegalTransition, LimitExceeded, UnknownAlarm

REQUEST_ID = "Hazmon-Request-Id"
NOT_OWNER = b'{"error":"NotOwner"}'

INPUTS: dict[str, type[OperatorInput]] = {
    cls.__name__: cls
    for cls in (Ack, Reset, Shelve, Unshelve, Note, BypassPermit, OutOfService, ReturnToService)
}


def act_subject(partition: int) -> str:
    """Where the owner of `partition` takes operator actions."""
    return f"hz.act.{partition}"


# -- the request -------------------------------------------------------------------------


def encode_input(inp: OperatorInput) -> bytes:
    name = type(inp).__name__
    if INPUTS.get(name) is not type(inp):
        raise AlarmError(f"not an operator input: {name}")
    return orjson.dumps({"type": name, **asdict(inp)})


def decode_input(data: bytes) -> OperatorInput:
    """The input a request carries; AlarmError (nothing is done) for anything else: not
    JSON, an unknown type, a field missing, unknown or of the wrong type."""
    try:
        doc = orjson.loads(data)
    except orjson.JSONDecodeError as exc:
        raise AlarmError(f"an operator input is a JSON object: {exc}") from None
    if not isinstance(doc, dict):
        raise AlarmError("an operator input is a JSON object")
    name = doc.pop("type", None)
    cls = INPUTS.get(name) if isinstance(name, str) else None
    if cls is None:
        known = ", ".join(INPUTS)
        raise AlarmError(f"unknown operator input type {name!r} (known: {known})")
    hints = typing.get_type_hints(cls)
    names = {f.name for f in fields(cls)}
    unknown = sorted(set(doc) - names)
    if unknown:
        raise AlarmError(f"{name}: unknown field(s) {', '.join(unknown)}")
    for f in fields(cls):
        if f.name in doc and not _fits(doc[f.name], hints[f.name]):
            raise AlarmError(f"{name}: {f.name} is not of type {hints[f.name]}")
    try:
        return cls(**doc)
    except TypeError as exc:  # a field without a default is missing
        raise AlarmError(f"{name}: {exc}") from None


def _fits(value: Any, hint: Any) -> bool:
    if isinstance(hint, types.UnionType):
        return any(_fits(value, h) for h in typing.get_args(hint))
    if hint is type(None):
        return value is None
    if isinstance(value, bool):
        return hint is bool
    if hint is float:
        return isinstance(value, int | float)
    return isinstance(value, hint)


# -- the answer --------------------------------------------------------------------------


def done(answer: dict[str, Any], seq: int) -> bytes:
    return orjson.dumps({"ok": answer, "seq": seq})


def refused(exc: AlarmError) -> bytes:
    """An alarm error as an answer, with what rebuilds it (`raise_refusal`)."""
    args: dict[str, Any] = {}
    match exc:
        case UnknownAlarm():
            args = {"what": exc.what}
        case IllegalTransition():
            args = {"state": exc.state, "action": exc.action, "alarm_id": exc.alarm_id}
        case LimitExceeded():
            args = {"detail": exc.detail}
    name = type(exc).__name__ if type(exc).__name__ in _REFUSALS else "AlarmError"
    return orjson.dumps({"error": name, "message": str(exc), "args": args})


def failed(message: str) -> bytes:
    return orjson.dumps({"error": "Failed", "message": message})


@dataclass(frozen=True, slots=True)
class Answer:
    """What the owner answered: `ok` and `seq` once committed; `not_owner`: it no
    longer owns the partition (ask again: its successor will answer); `failure`: it
    could not commit (why)."""

    ok: dict[str, Any] | None = None
    seq: int = 0
    not_owner: bool = False
    failure: str | None = None


def read_answer(data: bytes) -> Answer:
    """The owner's answer; a refusal raises the alarm error the owner's desk raised
    (IllegalTransition, LimitExceeded, UnknownAlarm, AlarmError), as a desk of one box
    would."""
    doc = orjson.loads(data)
    error = doc.get("error")
    if error is None:
        return Answer(ok=doc["ok"], seq=int(doc.get("seq") or 0))
    if error == "NotOwner":
        return Answer(not_owner=True)
    if error in _REFUSALS:
        raise _rebuilt(error, str(doc.get("message") or error), doc.get("args") or {})
    return Answer(failure=str(doc.get("message") or error))


_REFUSALS = ("UnknownAlarm", "IllegalTransition", "LimitExceeded", "AlarmError")


def _rebuilt(name: str, message: str, args: dict[str, Any]) -> AlarmError:
    try:
        match name:
            case "UnknownAlarm":
                return UnknownAlarm(str(args["what"]))
            case "IllegalTransition":
                return IllegalTransition(str(args["state"]), str(args["action"]),
                                         str(args.get("alarm_id") or ""))
            case "LimitExceeded":
                return LimitExceeded(str(args["detail"]))
    except KeyError:
        pass
    return AlarmError(message)
