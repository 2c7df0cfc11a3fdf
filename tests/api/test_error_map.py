"""hazmon's own errors as HTTP statuses (api/errors.py): the ones a desk may raise."""

from __future__ import annotations

import pytest

from hazmon.alarms.errors import IllegalTransition, LimitExceeded, UnknownAlarm
from hazmon.api.errors import status_and_code
from hazmon.bus.jetstream import Fenced, JetStreamError
from hazmon.stores.base import StoreUnavailable

pytestmark = pytest.mark.unit


@pytest.mark.parametrize(
    ("error", "expected"),
    [
        (UnknownAlarm("s1/GT-1/high#9"), (404, "unknown_alarm")),
        (IllegalTransition("acked", "ack", "s1/GT-1/high#1"), (409, "illegal_transition")),
        (LimitExceeded("shelving lasts at most 480 min"), (400, "limit_exceeded")),
        (StoreUnavailable("InfluxDB is away"), (503, "store_unavailable")),
        (JetStreamError("partition 3 has no owner"), (503, "cluster_unavailable")),
        (Fenced("partition 3 was written by another worker"), (503, "cluster_unavailable")),
    ],
)
def test_each_error_has_its_status(error: Exception, expected: tuple[int, str]) -> None:
    assert status_and_code(error) == expected
