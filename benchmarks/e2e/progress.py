"""The live progress line on stderr: one line rewritten in place on a terminal, a new
line every 5 s otherwise (a log file)."""

from __future__ import annotations

import sys
import time


class Progress:
    def __init__(self) -> None:
        self.tty = sys.stderr.isatty()
        self._last_print = 0.0
        self._width = 0

    def show(self, text: str) -> None:
        now = time.monotonic()
        if self.tty:
            pad = max(0, self._width - len(text))
            sys.stderr.write("\r" + text + " " * pad)
            sys.stderr.flush()
            self._width = len(text)
        elif now - self._last_print >= 5.0:
            sys.stderr.write(text + "\n")
            sys.stderr.flush()
            self._last_print = now

    def done(self, text: str) -> None:
        if self.tty and self._width:
            sys.stderr.write("\r" + " " * self._width + "\r")
        self._width = 0
        self._last_print = 0.0
        sys.stderr.write(text + "\n")
        sys.stderr.flush()


def rate(value: float) -> str:
    if value >= 10_000:
        return f"{value / 1000:,.0f}k"
    return f"{value:,.0f}"
