"""The replay itself: the real engine (hazmon.alarms.core) of each registry fed the
stored readings of one gateway at a time, with the readings' own timestamps as the
clock, in one pass over the store for every registry.

Per gateway and registry, an `Engine` over that registry cut down to the one site
and gateway: a process alarm (a threshold, `trip`, `bypass`, `fault`) depends on its
own sensor's readings alone, so the events are those of the whole plant's engine,
and the service clock of one gateway is cheap to run.

- Readings of the same millisecond form one message (`on_batch`, seq counting up);
  `now_ms` is their timestamp, so the cap at the receiving clock changes nothing.
- The service clock runs only where it decides a process alarm: an on-delay that no
  reading contradicted completes at `pending + on_delay_s` (the live service's tick
  completes it within the second after that).
- A reading that every engine would find quiet (`good`, inside the quiet band of the
  sensor in every registry, no point of the sensor active or pending, not in
  maintenance: `hazmon.alarms.core.readings._quiet`) changes nothing but the sensor's
  last reading, which no process alarm reads: it is not handed to the engines.
  tests/alarms/test_replay_run.py holds this against the plain replay.

Kept: the `raised`, `cleared`, `suppressed` and `unsuppressed` events of process
alarms. Not replayed: `stale`, `offline` and `feed_gap` (they are about the data
path, which the store does not keep), operator actions (nobody acknowledges or
shelves in a replay: every crossing is one `raised`, every return one `cleared`),
and maintenance over its maximum.
"""

from __future__ import annotations

import multiprocessing
import time
from collections.abc import Callable, Iterator, Mapping
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass, field
from pathlib import Path

from hazmon.alarms.core import Engine, Event
from hazmon.alarms.core.model import AlarmPoint
from hazmon.alarms.core.plant import QuietBand
from hazmon.alarms.errors import AlarmError
from hazmon.alarms.replay.source import PAGE_ROWS, gateway_readings
from hazmon.contract.kinds import THRESHOLD_CONDITIONS, Condition
from hazmon.contract.registry import Registry
from hazmon.contract.settings import Settings
from hazmon.contract.wire import Reading
from hazmon.stores import open_store
from hazmon.stores.base import Latest, Store

PROCESS_CONDITIONS = frozenset({*THRESHOLD_CONDITIONS, Condition.trip, Condition.bypass,
                                Condition.fault})
STATE_EVENTS = frozenset({"raised", "cleared", "suppressed", "unsuppressed"})
MAX_RANGE_MS = 366 * 86_400_000

Progress = Callable[[int, int, int], None]  # gateways done, gateways in all, readings read


class BadRange(AlarmError):
    """A replay range that cannot be replayed: empty, reversed or over a year."""

    def __init__(self, from_ms: int, to_ms: int, why: str) -> None:
        self.from_ms, self.to_ms, self.why = from_ms, to_ms, why
        super().__init__(f"cannot replay {from_ms} to {to_ms}: {why}")


@dataclass(slots=True)
class Run:
    """What one registry's engines gave over the range."""

    name: str
    registry: Registry
    events: list[Event] = field(default_factory=list)


@dataclass(slots=True)
class Tally:
    """How much the replay read, and how long it took."""

    readings: int = 0
    evaluated: int = 0  # readings handed to the engines (the others were quiet in all)
    gateways: int = 0
    seconds: float = 0.0


def check_range(from_ms: int, to_ms: int) -> None:
    if to_ms <= from_ms:
        raise BadRange(from_ms, to_ms, "the end must come after the start")
    if to_ms - from_ms > MAX_RANGE_MS:
        raise BadRange(from_ms, to_ms, "at most 366 days at once")


def gateways_of(registries: Mapping[str, Registry], site: str | None) -> list[tuple[str, str]]:
    """(site, gateway) of every registry, in order, each once; of `site` alone if given."""
    found: dict[tuple[str, str], None] = {}
    for registry in registries.values():
        for s in registry.sites:
            if site is None or s.id == site:
                for g in s.gateways:
                    found[(s.id, g.id)] = None
    return list(found)


@dataclass(frozen=True, slots=True)
class StoreSpec:
    """Where a worker process opens the store for itself (it cannot share a connection)."""

    influx: str | None
    data_dir: Path
    settings: Settings

    def __call__(self) -> Store:
        return open_store(influx=self.influx, data_dir=self.data_dir, settings=self.settings)


def replay(
    store: Store,
    registries: Mapping[str, Registry],
    *,
    from_ms: int,
    to_ms: int,
    site: str | None = None,
    page: int = PAGE_ROWS,
    skip_quiet: bool = True,
    workers: int = 1,
    reopen: StoreSpec | None = None,
    progress: Progress | None = None,
    tally: Tally | None = None,
) -> dict[str, Run]:
    """Replay [from_ms, to_ms] of the store through the engines of every registry; with
    `workers` > 1 and `reopen`, the gateways are shared among that many processes."""
    check_range(from_ms, to_ms)
    runs = {name: Run(name, registry) for name, registry in registries.items()}
    tally = tally if tally is not None else Tally()
    started = time.perf_counter()
    plan = gateways_of(registries, site)
    job = Job(dict(registries), from_ms, to_ms, page, skip_quiet)
    if workers > 1 and reopen is not None and len(plan) > 1:
        results = _in_processes(job, plan, reopen, workers)
    else:
        results = (job.gateway(store, site_id, gw) for site_id, gw in plan)
    for done, (events, count, evaluated) in enumerate(results):
        for name, found in events.items():
            runs[name].events += found
        tally.readings += count
        tally.evaluated += evaluated
        tally.gateways += 1
        if progress is not None:
            progress(done + 1, len(plan), tally.readings)
    tally.seconds = time.perf_counter() - started
    return runs


GatewayResult = tuple[dict[str, list[Event]], int, int]  # events by registry, read, evaluated


@dataclass(frozen=True, slots=True)
class Job:
    """What replaying one gateway needs (sent whole to a worker process)."""

    registries: dict[str, Registry]
    from_ms: int
    to_ms: int
    page: int
    skip_quiet: bool

    def gateway(self, store: Store, site: str, gateway: str) -> GatewayResult:
        feed = GatewayReplay(site, gateway, self.registries, from_ms=self.from_ms,
                             skip_quiet=self.skip_quiet)
        readings = gateway_readings(store, site, feed.sensors, from_ms=self.from_ms,
                                    to_ms=self.to_ms, page=self.page)
        tally = Tally()
        events = feed.run(readings, to_ms=self.to_ms, tally=tally)
        return events, tally.readings, tally.evaluated


_worker_store: Store | None = None


def _open_in_worker(reopen: StoreSpec) -> None:
    global _worker_store
    _worker_store = reopen()


def _gateway_in_worker(job: Job, site: str, gateway: str) -> GatewayResult:
    assert _worker_store is not None
    return job.gateway(_worker_store, site, gateway)


def _in_processes(job: Job, plan: list[tuple[str, str]], reopen: StoreSpec,
                  workers: int) -> Iterator[GatewayResult]:
    """Each gateway in one of `workers` processes (spawned: nothing of this process's
    threads or connections is inherited), results in the order they finish."""
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max_workers=workers, mp_context=context,
                             initializer=_open_in_worker, initargs=(reopen,)) as pool:
        futures = [pool.submit(_gateway_in_worker, job, s, g) for s, g in plan]
        for future in as_completed(futures):
            yield future.result()


def _cut(registry: Registry, site: str, gateway: str) -> Registry | None:
    """The registry reduced to one site with one gateway (None: it has no such gateway)."""
    found = registry.site(site)
    gw = next((g for g in found.gateways if g.id == gateway), None) if found else None
    if found is None or gw is None:
        return None
    return registry.model_copy(update={"sites": [found.model_copy(update={"gateways": [gw]})]})


class GatewayReplay:
    """One gateway's readings through one engine per registry."""

    def __init__(self, site: str, gateway: str, registries: Mapping[str, Registry], *,
                 from_ms: int, skip_quiet: bool = True) -> None:
        self.site, self.gateway, self.skip_quiet = site, gateway, skip_quiet
        self.engines: dict[str, Engine] = {}
        for name, registry in registries.items():
            cut = _cut(registry, site, gateway)
            if cut is not None:
                engine = Engine(cut)
                engine.start(from_ms)
                self.engines[name] = engine
        self.sensors = sorted({state.sensor for e in self.engines.values()
                               for state in e.plant.sensors.values()})
        self._bands = {s: self._band(s) for s in self.sensors}
        self._points = {s: self._points_of(s) for s in self.sensors}
        self._busy = dict.fromkeys(self.sensors, False)
        self._delayed = {
            name: [(p, clock.on_delay_ms) for sid, clock in e.plant.clocks.items()
                   if clock.on_delay_ms > 0 for p in e.plant.point_list[sid]
                   if p.condition in PROCESS_CONDITIONS]
            for name, e in self.engines.items()
        }
        self._seq = 0
        self.events: dict[str, list[Event]] = {name: [] for name in self.engines}

    def _band(self, sensor: str) -> QuietBand | bool | None:
        """The values quiet in every registry: a band for an analog sensor, True for an
        interlock (quiet when `normal`), None when nothing may be skipped."""
        bands = [e.plant.quiet.get(f"{self.site}/{sensor}") for e in self.engines.values()
                 if f"{self.site}/{sensor}" in e.plant.sensors]
        if all(b is None for b in bands):
            return True
        if any(b is None for b in bands):
            return None
        real = [b for b in bands if b is not None]
        return QuietBand(max(b.above for b in real), min(b.below for b in real),
                         max(b.floor for b in real))

    def _points_of(self, sensor: str) -> list[AlarmPoint]:
        sid = f"{self.site}/{sensor}"
        return [p for e in self.engines.values() for p in e.plant.point_list.get(sid, ())]

    def _refresh(self, sensor: str) -> None:
        sid = f"{self.site}/{sensor}"
        self._busy[sensor] = any(
            p.active or p.pending_ts_ms is not None for p in self._points[sensor]
        ) or any(
            e.plant.sensors[sid].maintenance_since_ms is not None
            for e in self.engines.values() if sid in e.plant.sensors
        )

    def _quiet(self, r: Latest) -> bool:
        if r.quality != "good" or self._busy.get(r.sensor, True):
            return False
        band = self._bands[r.sensor]
        if band is True:
            return r.value is None and r.state == "normal"
        if band is None or band is False or r.value is None:
            return False
        return band.above < r.value < band.below and r.value >= band.floor

    def run(
        self, readings: Iterator[Latest], *, to_ms: int, tally: Tally
    ) -> dict[str, list[Event]]:
        group: list[Reading] = []
        group_ms = -1
        count = evaluated = 0
        for r in readings:
            count += 1
            if self.skip_quiet and self._quiet(r):
                continue
            evaluated += 1
            if r.ts_ms != group_ms and group:
                self._send(group, group_ms)
                group = []
            group_ms = r.ts_ms
            group.append(Reading(self.site, self.gateway, r.sensor, r.kind, r.ts_ms, r.value,
                                 r.state, r.quality, r.over_range, False))
        if group:
            self._send(group, group_ms)
        self._clock(to_ms, inclusive=True)
        tally.readings += count
        tally.evaluated += evaluated
        return self.events

    def _send(self, group: list[Reading], ts_ms: int) -> None:
        self._clock(ts_ms, inclusive=False)
        self._seq += 1
        for name, engine in self.engines.items():
            out = engine.on_batch(self.site, self.gateway, boot=1, seq=self._seq,
                                  historical=False, readings=group, now_ms=ts_ms)
            if out.events:
                self._keep(name, out.events)
        for sensor in {r.sensor for r in group}:
            self._refresh(sensor)

    def _clock(self, before_ms: int, *, inclusive: bool) -> None:
        """Complete the on-delays due before `before_ms` (at it, when `inclusive`), each
        at its own time, as the service clock would."""
        for name, engine in self.engines.items():
            delayed = self._delayed[name]
            while delayed:
                due = min((p.pending_ts_ms + on_ms for p, on_ms in delayed
                           if p.pending_ts_ms is not None and not p.active), default=None)
                if due is None or due > before_ms or (due == before_ms and not inclusive):
                    break
                out = engine.tick(due)
                self._keep(name, out.events)
                for sensor in self.sensors:
                    self._refresh(sensor)

    def _keep(self, name: str, events: list[Event]) -> None:
        self.events[name] += [
            e for e in events
            if e.event in STATE_EVENTS and e.condition in PROCESS_CONDITIONS
        ]
