"""The what-if report both the command line and the API give: replay the store for the
registry in force (`current`) and a proposed one, and compare them."""

from __future__ import annotations

from typing import Any

from hazmon.alarms.core.errors import AlarmError
from hazmon.alarms.replay.figures import compare
from hazmon.alarms.replay.run import Progress, StoreSpec, Tally, check_range, replay
from hazmon.contract.registry import Registry
from hazmon.stores.base import Store


class UnknownSite(AlarmError):
    """A site neither registry has."""

    def __init__(self, site: str) -> None:
        self.site = site
        super().__init__(f"no site {site!r} in either registry")


def what_if(
    store: Store,
    *,
    current: Registry,
    proposed: Registry,
    from_ms: int,
    to_ms: int,
    site: str | None = None,
    workers: int = 1,
    reopen: StoreSpec | None = None,
    progress: Progress | None = None,
) -> dict[str, Any]:
    """The report (hazmon.alarms.replay.figures.compare) plus `site`, `readings` (read
    from the store), `evaluated` (handed to the engines) and `seconds`."""
    check_range(from_ms, to_ms)
    sites = sorted({s.id for r in (current, proposed) for s in r.sites
                    if site is None or s.id == site})
    if not sites:
        raise UnknownSite(site or "")
    tally = Tally()
    runs = replay(store, {"current": current, "proposed": proposed}, from_ms=from_ms,
                  to_ms=to_ms, site=site, workers=workers, reopen=reopen, progress=progress,
                  tally=tally)
    report = compare(runs["current"].events, runs["proposed"].events, sites=sites,
                     from_ms=from_ms, to_ms=to_ms)
    return {"site": site, **report, "readings": tally.readings, "evaluated": tally.evaluated,
            "seconds": round(tally.seconds, 3)}
