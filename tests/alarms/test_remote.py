"""The wire form of operator actions sent to a partition's owner (hazmon.alarms.remote):
every operator input goes and comes back equal; anything else is refused with an
AlarmError; the owner's refusals come back as the error its desk raised."""

from __future__ import annotations

import typing

import orjson
import pytest

from hazmon.alarms import remote
from hazmon.alarms.core import inputs
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

ALARM = "plant-1/GT-1/high_high#3"
EVERY_INPUT: list[OperatorInput] = [
    Ack(ALARM, "zhang.wei"),
    Ack(ALARM, "zhang.wei", note="on my way"),
    Reset(ALARM, "zhang.wei", note=None),
    Reset(ALARM, "zhang.wei", note="cleared on site"),
    Shelve(ALARM, "li.na", minutes=30, reason="sensor being replaced"),
    Shelve(ALARM, "li.na", minutes=2.5, reason="卸车作业"),
    Unshelve(ALARM, "li.na"),
    Unshelve(ALARM, "li.na", note="back"),
    Note(ALARM, "wang.fang", note="checked the \"valve\"\nand the pump"),
    BypassPermit("plant-1", "ESD-A", "li.na", until_ms=1_764_385_260_000, reason="proof test",
                 approved_by="chief", compensating_measures="fire watch"),
    OutOfService("plant.2", "GT-9", "li.na", until_ms=2**53, reason="replaced"),
    ReturnToService("plant-1", "GT-9", "li.na"),
    ReturnToService("plant-1", "GT-9", "li.na", note="calibrated"),
]


@pytest.mark.parametrize("inp", EVERY_INPUT, ids=lambda i: type(i).__name__)
def test_every_input_goes_and_comes_back_equal(inp: OperatorInput) -> None:
    data = remote.encode_input(inp)
    back = remote.decode_input(data)
    assert back == inp
    assert type(back) is type(inp)
    assert orjson.loads(data)["type"] == type(inp).__name__


def test_the_codec_knows_every_input_of_the_core() -> None:
    every = set(typing.get_args(inputs.OperatorInput))
    assert set(remote.INPUTS.values()) == every
    assert {type(i) for i in EVERY_INPUT} == every


def test_an_unknown_type_is_refused() -> None:
    with pytest.raises(AlarmError, match="unknown operator input type 'Silence'"):
        remote.decode_input(b'{"type": "Silence", "alarm_id": "x", "user": "u"}')
    with pytest.raises(AlarmError, match="unknown operator input type None"):
        remote.decode_input(b'{"alarm_id": "x", "user": "u"}')
    with pytest.raises(AlarmError, match="not an operator input: str"):
        remote.encode_input("Ack")  # type: ignore[arg-type]


@pytest.mark.parametrize(("doc", "why"), [
    (b"not json", "a JSON object"),
    (b"[1, 2]", "a JSON object"),
    (b'{"type": "Ack", "alarm_id": "x"}', "user"),
    (b'{"type": "Ack", "alarm_id": "x", "user": "u", "by": "me"}', "unknown field"),
    (b'{"type": "Ack", "alarm_id": 7, "user": "u"}', "alarm_id is not of type"),
    (b'{"type": "Shelve", "alarm_id": "x", "user": "u", "minutes": "5", "reason": "r"}',
     "minutes is not of type"),
    (b'{"type": "Shelve", "alarm_id": "x", "user": "u", "minutes": true, "reason": "r"}',
     "minutes is not of type"),
    (b'{"type": "OutOfService", "site": "s", "sensor": "x", "user": "u", "until_ms": 1.5, '
     b'"reason": "r"}', "until_ms is not of type"),
    (b'{"type": "Note", "alarm_id": "x", "user": "u", "note": null}', "note is not of type"),
])
def test_a_malformed_input_is_refused(doc: bytes, why: str) -> None:
    with pytest.raises(AlarmError, match=why):
        remote.decode_input(doc)


@pytest.mark.parametrize("exc", [
    UnknownAlarm(ALARM),
    IllegalTransition("normal", "ack", ALARM),
    IllegalTransition("acked", "ack"),
    LimitExceeded("a shelve of at most 720 minutes"),
    AlarmError("unknown operator input type 'Silence'"),
], ids=lambda e: type(e).__name__)
def test_a_refusal_comes_back_as_the_error_the_owner_raised(exc: AlarmError) -> None:
    with pytest.raises(type(exc)) as raised:
        remote.read_answer(remote.refused(exc))
    assert type(raised.value) is type(exc)
    assert str(raised.value) == str(exc)
    for f in ("what", "state", "action", "alarm_id", "detail"):
        assert getattr(raised.value, f, None) == getattr(exc, f, None)


def test_answers_once_committed_or_not_owner_or_failed() -> None:
    answer = remote.read_answer(remote.done({"alarm_id": ALARM, "state": "acked"}, 41))
    assert answer == remote.Answer(ok={"alarm_id": ALARM, "state": "acked"}, seq=41)
    assert remote.read_answer(remote.NOT_OWNER) == remote.Answer(not_owner=True)
    assert remote.read_answer(remote.failed("no answer")) == remote.Answer(failure="no answer")
    assert remote.act_subject(3) == "hz.act.3"

