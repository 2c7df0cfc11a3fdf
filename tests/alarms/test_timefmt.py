"""iso_utc against the standard library (years 1000-9999: strftime pads no further),
over leap years, century rules and the epoch."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from alarms.core.timefmt import iso_utc

pytestmark = pytest.mark.unit


@given(st.integers(min_value=-30_610_224_000_000, max_value=253_402_300_799_999))
def test_iso_utc_is_what_datetime_says(ms: int) -> None:
    expected = datetime.fromtimestamp(ms // 1000, tz=UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    assert iso_utc(ms) == expected


def test_known_instants() -> None:
    assert iso_utc(0) == "1970-01-01T00:00:00Z"
    assert iso_utc(951_782_400_000) == "2000-02-29T00:00:00Z"
    assert iso_utc(1_795_948_200_999) == "2026-11-29T10:30:00Z"
