"""Operator inputs as data: what a duty officer or an engineer asks of the alarm
engine, one frozen value each. `Engine.act(input, now_ms=)` takes any of them, the
desk's `act(input)` too, and the HTTP routes build them: an action is written once.

    Ack, Reset, Shelve, Unshelve, Note            on an occurrence (alarm_id)
    BypassPermit, OutOfService, ReturnToService   on a sensor (site, sensor)

`user` is who asked (the token's name), journalled with the input.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Ack:
    alarm_id: str
    user: str
    note: str | None = None


@dataclass(frozen=True, slots=True)
class Reset:
    alarm_id: str
    user: str
    note: str | None = None


@dataclass(frozen=True, slots=True)
class Shelve:
    alarm_id: str
    user: str
    minutes: float
    reason: str


@dataclass(frozen=True, slots=True)
class Unshelve:
    alarm_id: str
    user: str
    note: str | None = None


@dataclass(frozen=True, slots=True)
class Note:
    alarm_id: str
    user: str
    note: str


@dataclass(frozen=True, slots=True)
class BypassPermit:
    site: str
    sensor: str
    user: str
    until_ms: int
    reason: str
    approved_by: str
    compensating_measures: str


@dataclass(frozen=True, slots=True)
class OutOfService:
    site: str
    sensor: str
    user: str
    until_ms: int
    reason: str


@dataclass(frozen=True, slots=True)
class ReturnToService:
    site: str
    sensor: str
    user: str
    note: str | None = None


AlarmInput = Ack | Reset | Shelve | Unshelve | Note
SensorInput = BypassPermit | OutOfService | ReturnToService
OperatorInput = AlarmInput | SensorInput

__all__ = [
    "Ack", "AlarmInput", "BypassPermit", "Note", "OperatorInput", "OutOfService", "Reset",
    "ReturnToService", "SensorInput", "Shelve", "Unshelve",
]
