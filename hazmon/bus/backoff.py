"""Jittered exponential backoff, for reconnecting to the broker and to field devices.

After a plant-wide power dip every gateway and every device link retries at once;
the jitter spreads them out so the broker and the serial-to-TCP converters are not
hit by a synchronized storm ("equal jitter": half fixed, half random).
"""

from __future__ import annotations

import random


class Backoff:
    def __init__(self, *, min_s: float, max_s: float, rng: random.Random | None = None) -> None:
        self.min_s = min_s
        self.max_s = max(max_s, min_s)
        self.attempts = 0
        self._rng = rng or random.Random()

    def next_delay_s(self) -> float:
        """The wait before the next attempt; each call doubles the ceiling."""
        ceiling_s = min(self.max_s, self.min_s * 2.0 ** min(self.attempts, 30))
        self.attempts += 1
        return ceiling_s / 2 + self._rng.uniform(0, ceiling_s / 2)

    def reset(self) -> None:
        self.attempts = 0
