"""Epoch milliseconds as an ISO 8601 UTC time for notes people read (the journal, the
console). Pure: the time is given, never read from a clock (the core calls none,
tests/alarms/test_core_purity.py)."""

from __future__ import annotations

from datetime import UTC, datetime


def iso_utc(ms: int) -> str:
    """`2026-11-29T10:30:00Z` (whole seconds, truncated); outside the years 1-9999,
    which no deadline reaches, the plain number of milliseconds."""
    try:
        moment = datetime.fromtimestamp(ms // 1000, tz=UTC)
    except (OverflowError, OSError, ValueError):
        return f"{ms} ms since 1970-01-01T00:00:00Z"
    return moment.replace(tzinfo=None).isoformat(timespec="seconds") + "Z"
