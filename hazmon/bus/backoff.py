"""Jittered exponential backoff: the one rule every retry of hazmon follows (reconnecting
to the broker and to field devices, the store, webhook notifiers).

After a plant-wide power dip every gateway and every device link retries at once;
the jitter spreads them out so the broker and the serial-to-TCP converters are not
hit by a synchronized storm. The ceiling doubles from `min_s` up to `max_s`; the wait
is "equal jitter": half the ceiling fixed, half random.
"""

from __future__ import annotations

import random
from collections.abc import Callable


def delay_s(
    attempt: int, *, min_s: float, max_s: float, rng: Callable[[], float] = random.random
) -> float:
    """The wait before retry number `attempt` (1 for the first retry)."""
    ceiling_s = min(max(max_s, min_s), min_s * 2.0 ** min(max(attempt - 1, 0), 30))
    return ceiling_s / 2 + rng() * ceiling_s / 2


class Backoff:
    """The same rule, counting the attempts itself."""

    def __init__(self, *, min_s: float, max_s: float, rng: random.Random | None = None) -> None:
        self.min_s = min_s
        self.max_s = max(max_s, min_s)
        self.attempts = 0
        self._rng = rng or random.Random()

    def next_delay_s(self) -> float:
        """The wait before the next attempt; each call doubles the ceiling."""
        self.attempts += 1
        return delay_s(self.attempts, min_s=self.min_s, max_s=self.max_s, rng=self._rng.random)

    def reset(self) -> None:
        self.attempts = 0
