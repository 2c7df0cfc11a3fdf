"""What the HTTP API and the console need from the alarm service: the duty desk.

`AlarmService` (hazmon.alarms.service) implements this; the API depends only on it, so the
API can be tested against any implementation. Every operator action takes `user`,
the name of the token that made it, and is journalled. Errors are those of
hazmon.alarms.errors. Alarm dicts have the fields of the alarm event (docs/contract.md §6) for the
occurrence's latest event, plus `raised_ms`, `acked_ms`, `acked_by` and
`shelved_until_ms` (when a shelved occurrence comes back by itself; else None).
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any, Literal, Protocol


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

    def ack(self, alarm_id: str, *, user: str, note: str | None) -> dict[str, Any]: ...

    def reset(self, alarm_id: str, *, user: str, note: str | None) -> dict[str, Any]: ...

    def shelve(
        self, alarm_id: str, *, user: str, minutes: int, reason: str
    ) -> dict[str, Any]: ...

    def unshelve(self, alarm_id: str, *, user: str, note: str | None) -> dict[str, Any]:
        """Shelved -> re-evaluated (`unack` if its condition is active, else `normal`)."""

    def note(self, alarm_id: str, *, user: str, note: str) -> dict[str, Any]: ...

    def bypass_permit(
        self,
        site: str,
        sensor: str,
        *,
        user: str,
        until_ms: int,
        reason: str,
        approved_by: str,
        compensating_measures: str,
    ) -> dict[str, Any]: ...

    def out_of_service(
        self, site: str, sensor: str, *, user: str, until_ms: int, reason: str
    ) -> dict[str, Any]: ...

    def return_to_service(
        self, site: str, sensor: str, *, user: str, note: str | None
    ) -> dict[str, Any]:
        """Out of service -> re-evaluated, for every point of the sensor; illegal
        (IllegalTransition) when the sensor is in service."""

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
