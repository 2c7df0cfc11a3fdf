"""Months and days of the feed report, in the plant's time zone: pure (the caller
gives `now_ms`).

hazmon's plants keep China Standard Time (UTC+8, no daylight saving time), so a
report's month and its days begin at 00:00 CST. A month is written `YYYY-MM`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone

from hazmon.contract.errors import HazmonError

PLANT_TZ = timezone(timedelta(hours=8), "CST")
DAY_MS = 86_400_000
_MONTH = re.compile(r"^(\d{4})-(\d{2})$")


class BadMonth(HazmonError):
    """A report month that is malformed, or not yet begun."""

    def __init__(self, month: str, expected: str) -> None:
        self.month = month
        self.expected = expected
        super().__init__(f"month {month!r}: {expected}")


@dataclass(frozen=True, slots=True)
class Month:
    year: int
    month: int
    from_ms: int  # its first instant (00:00 CST on the 1st)
    to_ms: int  # the next month's first instant

    @property
    def name(self) -> str:
        return f"{self.year:04d}-{self.month:02d}"


def _ms(moment: datetime) -> int:
    return int(moment.timestamp() * 1000)


def parse_month(text: str, *, now_ms: int) -> Month:
    """`YYYY-MM` as a Month; BadMonth when malformed or not yet begun at `now_ms`."""
    found = _MONTH.match(text)
    if found is None or not 1 <= int(found.group(2)) <= 12 or int(found.group(1)) < 1970:
        raise BadMonth(text, "expected YYYY-MM, e.g. 2026-11")
    year, month = int(found.group(1)), int(found.group(2))
    start = datetime(year, month, 1, tzinfo=PLANT_TZ)
    end = datetime(year + month // 12, month % 12 + 1, 1, tzinfo=PLANT_TZ)
    if _ms(start) > now_ms:
        raise BadMonth(text, "the month has not begun yet")
    return Month(year, month, _ms(start), _ms(end))


def days(from_ms: int, to_ms: int) -> list[tuple[int, int]]:
    """The plant-time days of [from_ms, to_ms), each cut to the window."""
    moment = datetime.fromtimestamp(from_ms / 1000, PLANT_TZ)
    start = _ms(moment.replace(hour=0, minute=0, second=0, microsecond=0))
    out = []
    while start < to_ms:
        end = start + DAY_MS  # no daylight saving time in CST
        out.append((max(start, from_ms), min(end, to_ms)))
        start = end
    return out


def local_text(ts_ms: int, *, seconds: bool = False) -> str:
    """`2026-11-30 23:05` in plant time."""
    moment = datetime.fromtimestamp(ts_ms / 1000, PLANT_TZ)
    return moment.strftime("%Y-%m-%d %H:%M:%S" if seconds else "%Y-%m-%d %H:%M")


def local_date(ts_ms: int) -> str:
    return datetime.fromtimestamp(ts_ms / 1000, PLANT_TZ).strftime("%Y-%m-%d")


def utc_text(ts_ms: int) -> str:
    return datetime.fromtimestamp(ts_ms / 1000, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
