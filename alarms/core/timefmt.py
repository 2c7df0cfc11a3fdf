"""Epoch milliseconds as an ISO 8601 UTC time for notes people read (the journal, the
console), computed here: the core reads no clock, so it does not import `datetime`
(tests/alarms/test_core_purity.py). The calendar arithmetic is the proleptic
Gregorian civil-from-days conversion (H. Hinnant, "chrono-Compatible Low-Level Date
Algorithms")."""

from __future__ import annotations

DAY_MS = 86_400_000


def iso_utc(ms: int) -> str:
    """`2026-11-29T10:30:00Z` (whole seconds, truncated)."""
    days, rest_ms = divmod(ms, DAY_MS)
    seconds = rest_ms // 1000
    z = days + 719_468
    era = z // 146_097
    doe = z - era * 146_097
    yoe = (doe - doe // 1460 + doe // 36_524 - doe // 146_096) // 365
    doy = doe - (365 * yoe + yoe // 4 - yoe // 100)
    mp = (5 * doy + 2) // 153
    day = doy - (153 * mp + 2) // 5 + 1
    month = mp + 3 if mp < 10 else mp - 9
    year = yoe + era * 400 + (1 if month <= 2 else 0)
    hh, rem = divmod(seconds, 3600)
    mm, ss = divmod(rem, 60)
    return f"{year:04d}-{month:02d}-{day:02d}T{hh:02d}:{mm:02d}:{ss:02d}Z"
