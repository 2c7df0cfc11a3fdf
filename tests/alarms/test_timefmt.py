"""iso_utc: known instants (epoch, leap day, a deadline), and a law over years
1-9999: the text reads back as the same instant, truncated to the second."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from hazmon.alarms.core.timefmt import iso_utc

pytestmark = pytest.mark.unit

YEAR_1_MS = -62_135_596_800_000
YEAR_9999_END_MS = 253_402_300_799_999


@given(st.integers(min_value=YEAR_1_MS, max_value=YEAR_9999_END_MS))
def test_iso_utc_reads_back_as_the_same_second(ms: int) -> None:
    text = iso_utc(ms)
    assert len(text) == 20 and text.endswith("Z")
    back = datetime.fromisoformat(text[:-1]).replace(tzinfo=UTC)
    assert int(back.timestamp()) * 1000 == ms - ms % 1000


def test_known_instants() -> None:
    assert iso_utc(0) == "1970-01-01T00:00:00Z"
    assert iso_utc(951_782_400_000) == "2000-02-29T00:00:00Z"
    assert iso_utc(1_795_948_200_999) == "2026-11-29T10:30:00Z"
    assert iso_utc(YEAR_1_MS) == "0001-01-01T00:00:00Z"


def test_beyond_the_calendar_it_says_the_number() -> None:
    assert iso_utc(2**62) == f"{2**62} ms since 1970-01-01T00:00:00Z"
