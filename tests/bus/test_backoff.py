"""Jittered exponential backoff."""

from __future__ import annotations

import random

from hazmon.bus.backoff import Backoff


def test_doubles_up_to_the_cap_with_jitter_and_resets() -> None:
    backoff = Backoff(min_s=1.0, max_s=8.0, rng=random.Random(4))
    delays = [backoff.next_delay_s() for _ in range(8)]
    for delay, ceiling in zip(delays, [1, 2, 4, 8, 8, 8, 8, 8], strict=True):
        assert ceiling / 2 <= delay <= ceiling
    assert len({round(d, 6) for d in delays[3:]}) > 1  # jittered, not a fixed sequence
    backoff.reset()
    assert backoff.next_delay_s() <= 1.0


def test_two_gateways_do_not_retry_in_step() -> None:
    a = [Backoff(min_s=1, max_s=30, rng=random.Random(1)).next_delay_s() for _ in range(1)]
    b = [Backoff(min_s=1, max_s=30, rng=random.Random(2)).next_delay_s() for _ in range(1)]
    assert a != b
