"""The sites' cause-and-effect matrices as the core looks them up: each row with the
keys of its cause points, its interlock's `trip` and `ce_failed` points, and its time.

Pure data built once from the registry; what the rows do with readings and the clock
is hazmon.alarms.core.cause_effect.
"""

from __future__ import annotations

from dataclasses import dataclass

from hazmon.contract.kinds import Condition
from hazmon.contract.registry import Registry


@dataclass(frozen=True, slots=True)
class MatrixRow:
    site: str
    id: str
    description: str | None
    sensors: tuple[str, ...]  # the cause sensors
    condition: Condition
    needed: int  # M of MooN
    interlock: str
    within_ms: int
    grace_ms: int  # the interlock's gateway period: a trip needs its next report

    @property
    def vote(self) -> str:
        return f"{self.needed}oo{len(self.sensors)}"

    @property
    def cause_keys(self) -> tuple[str, ...]:
        return tuple(f"{self.site}/{s}/{self.condition.value}" for s in self.sensors)

    @property
    def lock_id(self) -> str:
        """The interlock's sensor id (`site/interlock`): its state keeps the demands."""
        return f"{self.site}/{self.interlock}"

    @property
    def trip_key(self) -> str:
        return f"{self.lock_id}/{Condition.trip.value}"

    @property
    def failed_key(self) -> str:
        return f"{self.lock_id}/{Condition.ce_failed.value}"


class Matrix:
    """Every site's rows, indexed by the points whose edges concern them."""

    def __init__(self, registry: Registry) -> None:
        self.rows: list[MatrixRow] = []
        for site in registry.sites:
            periods = {x.id: g.period_s for g in site.gateways for x in g.sensors}
            for given in site.cause_effect:
                lock = given.effect.interlock
                if not {lock, *given.cause.sensors} <= periods.keys():
                    continue  # a registry cut to some gateways (a replay's) lacks a part
                self.rows.append(MatrixRow(
                    site.id, given.id, given.description, tuple(given.cause.sensors),
                    given.cause.condition, given.cause.needed, lock,
                    int(given.within_s * 1000), int(periods.get(lock, 1.0) * 1000),
                ))
        self.by_cause: dict[str, list[MatrixRow]] = {}
        self.by_effect: dict[str, list[MatrixRow]] = {}  # by the interlock's trip key
        self.by_lock: dict[str, list[MatrixRow]] = {}  # by the interlock's sensor id
        for row in self.rows:
            for key in row.cause_keys:
                self.by_cause.setdefault(key, []).append(row)
            self.by_effect.setdefault(row.trip_key, []).append(row)
            self.by_lock.setdefault(row.lock_id, []).append(row)
        self.watched = frozenset(self.by_cause) | frozenset(self.by_effect)

    def effects(self, site: str) -> frozenset[str]:
        """The interlocks of a site that are the effect of some row."""
        return frozenset(r.interlock for r in self.rows if r.site == site)
