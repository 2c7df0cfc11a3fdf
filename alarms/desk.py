"""What the HTTP API and the console need from the alarm service: the duty desk.

Two desks implement it: `AlarmDesk` (hazmon.alarms.sqlite_desk: the engine over the
SQLite database, the alarm service's `desk`, which `hazmon up` gives the API) and
`MemoryDesk` (hazmon.alarms.memory_desk: the same engine in memory, for the API's tests
and an embedding process); tests/alarms/test_memory_desk.py holds both to one contract.
The API depends only on this protocol. Every operator action takes `user`,
the name of the token that made it, and is journalled. Errors are those of
hazmon.alarms.errors. Alarm dicts have the fields of the alarm event (docs/contract.md §6) for the
occurrence's latest event, plus `raised_ms`, `acked_ms`, `acked_by` and
`shelved_until_ms` (when a shelved occurrence comes back by itself; else None).
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any, Literal, Protocol

from hazmon.alarms.core.inputs import OperatorInput


class Desk(Protocol):
    def alarms(
        self,
        *,
        active: bool | None = None,
        site: str | None = None,
        priority: str | None = None,
        limit: int = 500,
    ) -> list[dict[str, Any]]:
        """Occurrences, newest first; active=True: those not yet ended."""

    def act(self, inp: OperatorInput) -> dict[str, Any]:
        """One operator input (hazmon.alarms.core.inputs: Ack, Reset, Shelve, Unshelve,
        Note on an occurrence; BypassPermit, OutOfService, ReturnToService on a
        sensor), journalled with its user. The answer: the occurrence as it is now, the
        permit granted, or the sensor's new situation. Illegal (IllegalTransition),
        over a limit (LimitExceeded) or unknown (UnknownAlarm): nothing changed."""

    def last_readings(self, site: str) -> dict[str, dict[str, Any]]:
        """The last live reading evaluated for each sensor of a site that has one, by
        sensor id: `{"ts_ms", "value", "quality"}` (`value` a number or an interlock
        state; `ts_ms` capped at its arrival, docs/alarms.md "Deduplication and
        order"). What the engine goes by, whatever a gateway's clock said."""

    def risk_grades(self) -> dict[str, str]:
        """Effective grade (blue/yellow/orange/red) of every site."""

    def active_counts(self, site: str) -> dict[str, int]:
        """Active occurrences of a site by priority (critical, high, medium)."""

    def subscribe(self) -> asyncio.Queue[dict[str, Any]]:
        """A bounded queue receiving every alarm event and risk change, live.

        Items are `{"type": "alarm", "data": <alarm event>}` or
        `{"type": "risk", "data": <risk message>}`. A slow reader loses the oldest items,
        never blocks evaluation.
        """

    def unsubscribe(self, queue: asyncio.Queue[dict[str, Any]]) -> None: ...

    def journal_export(
        self,
        *,
        from_ms: int | None,
        to_ms: int | None,
        site: str | None,
        fmt: Literal["csv", "jsonl"],
    ) -> Iterator[str]:
        """The journal as CSV or JSON lines, streamed chunk by chunk."""

    def journal_verify(self) -> dict[str, Any]:
        """`{"ok", "entries", "first_bad", "anchor"}` (docs/contract.md §7)."""

    def kpi(self, *, from_ms: int, to_ms: int, site: str | None) -> dict[str, Any]:
        """The alarm-system figures of docs/alarms.md, "Alarm-system figures"."""
