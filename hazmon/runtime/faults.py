"""Faults of hazmon's own background work: a writer that fails (an I/O error: out of
file descriptors, disk full, a store that refuses) is reported here instead of ending
its task, logged at a bounded rate, and retried by its owner.

    faults = Faults()
    try:
        write()
    except OSError as exc:
        faults.failed("alarms/anchor-file", exc)   # logs the first, then once a minute
    else:
        faults.ok("alarms/anchor-file")

The alarm service raises a system alarm for every source that is failing and clears it
once the source works again (`hazmon.alarms.system`). `hazmon up` gives every component of
the process the same `Faults` (`PROCESS`); standalone services their own.
"""

from __future__ import annotations

import errno
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

log = logging.getLogger(__name__)

LOG_EVERY_S = 60.0


@dataclass(slots=True)
class Fault:
    source: str
    detail: str  # the last error, e.g. "OSError EMFILE: Too many open files"
    since_s: float
    count: int = 1
    logged_s: float = 0.0
    unlogged: int = 0


def describe(exc: BaseException) -> str:
    """`OSError EMFILE: [Errno 24] Too many open files`: the kind, the errno's name."""
    code = getattr(exc, "errno", None)
    name = errno.errorcode.get(code, "") if isinstance(code, int) else ""
    kind = type(exc).__name__ + (f" {name}" if name else "")
    return f"{kind}: {exc}"


class Faults:
    def __init__(
        self, *, log_every_s: float = LOG_EVERY_S, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.log_every_s = log_every_s
        self._clock = clock
        self._lock = threading.Lock()
        self._active: dict[str, Fault] = {}

    def failed(self, source: str, exc: BaseException) -> None:
        """`source` failed with `exc` (it retries by itself): log the first failure,
        then at most once every `log_every_s` while it goes on failing."""
        now = self._clock()
        detail = describe(exc)
        with self._lock:
            fault = self._active.get(source)
            if fault is None:
                fault = self._active[source] = Fault(source, detail, now, logged_s=now)
                first = True
            else:
                fault.count += 1
                fault.detail = detail
                first = False
                if now - fault.logged_s < self.log_every_s:
                    fault.unlogged += 1
                    return
                fault.logged_s, skipped, fault.unlogged = now, fault.unlogged, 0
        if first:
            log.error("%s failed (retrying): %s", source, detail, exc_info=exc)
        else:
            log.error("%s still failing (%d failures in %.0f s, %d not logged): %s",
                      source, fault.count, now - fault.since_s, skipped, detail)

    def ok(self, source: str) -> None:
        """`source` worked: its fault, if any, is over."""
        with self._lock:
            fault = self._active.pop(source, None)
        if fault is not None:
            log.warning("%s works again (after %d failures in %.0f s)", source, fault.count,
                        self._clock() - fault.since_s)

    def active(self) -> dict[str, str]:
        """Every source failing now, with its last error."""
        with self._lock:
            return {source: f.detail for source, f in self._active.items()}


PROCESS = Faults()  # shared by the components of one `hazmon up` process
