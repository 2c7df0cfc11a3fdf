"""How long the embedded store keeps readings (`HAZMON_RETENTION_DAYS`).

SQLite holds every reading of the plant (the demo plant: about 15 million rows a day,
docs/storage.md); with a retention set, `hazmon up` deletes readings older than that
at start and then every hour. Alarm events, grades, journal anchors and the other
series are kept: they are the history auditors ask for. 0 (the default) keeps
everything. InfluxDB has its own retention policies for this.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Coroutine
from typing import Any

from hazmon.runtime.faults import Faults
from hazmon.stores.base import Store
from hazmon.stores.sqlite import SqliteStore

log = logging.getLogger(__name__)

DAY_MS = 86_400_000
EVERY_S = 3600.0


def retention_job(
    store: Store, days: float, *, every_s: float = EVERY_S,
    clock: Callable[[], float] = time.time, faults: Faults | None = None,
) -> Callable[[], Coroutine[Any, Any, None]] | None:  # fmt: skip
    """The coroutine function that keeps readings for `days`, or None when nothing is
    to be pruned (no retention set, or a store that keeps its own). A failure (store
    error, disk full, out of file descriptors) is a fault of `store/retention`, tried
    again at the next hour; it never ends the job."""
    reported = faults or Faults()
    if days <= 0 or not isinstance(store, SqliteStore):
        return None
    sqlite = store

    async def keep() -> None:
        while True:
            before_ms = int(clock() * 1000) - int(days * DAY_MS)
            try:
                deleted = await asyncio.to_thread(sqlite.prune, before_ms=before_ms)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # reported, tried again in an hour
                reported.failed("store/retention", exc)
            else:
                reported.ok("store/retention")
                if deleted:
                    log.info("deleted %d readings older than %g days", deleted, days)
            await asyncio.sleep(every_s)

    return keep
