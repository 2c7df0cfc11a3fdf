"""One phase of load against one running system, measured.

A phase publishes a schedule (`load.Segment`s), then waits until the system has
stored everything it is going to store, then takes the figures:

- stored = the count query (store.py) at the end minus the count at the start;
- stored readings/s = stored / (last growth of the count - first publish); during the
  drain the count runs every second, so the end is late by up to a second;
- lost = published - stored; of which the broker dropped (its `$SYS` counter) and the
  rest the system lost;
- latency: crossings matched with `raised` events (latency.match); evaluated readings/s
  = published / (arrival of the last `raised` event - first publish);
- on JetStream, the stream's backlog: messages and bytes HAZMON_IN held at the end of
  the phase and at most during it (its monitoring endpoint, jetstream.StreamWatch);
- CPU and peak RSS of each process of the system, the broker, the database and the
  publishers, and how busy the whole machine was (it is shared).

Flat-out segments are closed loop: every 0.2 s the publishers are allowed up to
`written + window` readings in all (load.Load.set_allowance), `written` being the
points InfluxDB reports written for the phase's database (plus what the system said it
dropped); held to alarms as well, they also stay within `window` readings of what the
alarm events show evaluated (load.Load.set_alarm_front): with several alarm workers, of
what the slowest worker's events show (`alarm_groups`: the sites each worker owns).
"""

from __future__ import annotations

import math
import os
import re
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

import psutil

from benchmarks.e2e.latency import AlarmListener, LatencyStats, match
from benchmarks.e2e.load import Load, PublisherResult, Segment
from benchmarks.e2e.procs import ResourceMonitor, Usage
from benchmarks.e2e.profile import Recorder
from benchmarks.e2e.progress import Progress, rate
from benchmarks.e2e.servers import BrokerWatch
from benchmarks.e2e.store import Store

if TYPE_CHECKING:
    from benchmarks.e2e.jetstream import StreamState, StreamWatch

STORAGE_ONLY = "flat out, storage only"
TICK_S = 0.2
COUNT_EVERY_S = 1.0
ALARM_SETTLE_S = 2.0
MAX_DRAIN_S = 600.0
CAUGHT_UP_HOLD_S = 5.0


class PhaseFailed(RuntimeError):
    """The system under test died, or a publisher failed."""


class BrokerFigures(Protocol):
    """What a phase reads of the broker: messages it dropped, messages it holds."""

    @property
    def dropped(self) -> int: ...

    @property
    def queued(self) -> int: ...


@dataclass(frozen=True, slots=True)
class Sample:
    t: float  # monotonic s
    wall_ms: int
    published: int
    written: int  # points InfluxDB wrote for the phase's database
    alarm_front_ms: int  # newest reading time the alarm events were about


@dataclass
class Burst:
    """The burst phase: the rate reached, the backlog, and how long catching up took."""

    warmup_s: float
    burst_s: float
    target_per_s: float
    reached_per_s: float = 0.0
    backlog_peak: int = 0  # published - written, readings
    broker_queued_peak: int = 0  # messages Mosquitto held for its subscribers
    catch_up_s: float | None = None  # storing
    alarms_catch_up_s: float | None = None  # alarm evaluation


@dataclass
class PhaseResult:
    system: str
    case: str
    phase: str
    per_message: int
    published: int = 0
    messages: int = 0
    stored: int = 0
    broker_dropped: int = 0  # messages
    publish_s: float = 0.0
    stored_s: float = 0.0  # first publish -> last growth of the count
    write_requests: int = 0
    crossings: int = 0
    alarm_events: int = 0
    duplicate_raised: int = 0  # `raised` events that came twice for one reading
    duplicate_keys: list[list[object]] = field(default_factory=list)  # site, sensor, ts, ms apart
    evaluated_s: float = 0.0  # first publish -> arrival of the last `raised` event
    latency: LatencyStats | None = None
    stream: StreamState | None = None  # JetStream: HAZMON_IN's backlog
    owners: dict[str, list[int]] = field(default_factory=dict)  # worker -> partitions
    usage: dict[str, Usage] = field(default_factory=dict)
    wall_s: float = 0.0
    machine_busy_pct: float = 0.0  # of all cores, everyone's processes
    others_cores: float = 0.0  # CPU used by processes that are not this benchmark's
    load_average: float = 0.0  # 1-minute, at the start
    burst: Burst | None = None
    errors: list[str] = field(default_factory=list)
    samples: list[Sample] = field(default_factory=list, repr=False)

    @property
    def lost(self) -> int:
        return self.published - self.stored

    @property
    def offered_per_s(self) -> float:
        return self.published / self.publish_s if self.publish_s else 0.0

    @property
    def stored_per_s(self) -> float:
        return self.stored / self.stored_s if self.stored_s else 0.0

    @property
    def evaluated_per_s(self) -> float:
        """Readings published over the time until the last alarm event arrived (every
        crossing's event arrived when `latency.missing` is 0)."""
        return self.published / self.evaluated_s if self.evaluated_s else 0.0


@dataclass
class PhaseContext:
    """What a phase needs from the runner."""

    store: Store
    listener: AlarmListener
    broker: BrokerWatch | BrokerFigures
    progress: Progress
    pids: dict[str, int]  # system, broker, database
    failure: Callable[[], str | None]
    errors: Callable[[], list[str]]
    dropped: Callable[[], int]  # readings the system reported dropping
    make_load: Callable[[Sequence[Segment], int], Load]  # (segments, alarm window)
    evaluates_alarms: bool
    settle_s: float = 5.0
    window_readings: int = 200_000
    profile_dir: Path | None = None  # py-spy the system's processes (profile.py)
    profile_pids: dict[str, int] = field(default_factory=dict)
    # the sites each alarm worker owns, those with crossings (None: one alarm process)
    alarm_groups: Callable[[], list[set[str]]] | None = None
    stream: StreamWatch | None = None  # JetStream: the stream's backlog
    owners: Callable[[], dict[str, list[int]]] | None = None

    def alarm_front(self) -> int:
        """How far alarm evaluation has got: the newest reading time of the alarm events
        (with several workers, of the slowest worker's)."""
        groups = self.alarm_groups() if self.alarm_groups is not None else None
        return self.listener.front_of(groups) if groups else self.listener.front_ts_ms


class _Sampler:
    """Published and written over time, and how far the alarm service has got."""

    def __init__(self, store: Store, front: Callable[[], int]) -> None:
        self.store = store
        self.front = front
        self.start = store.points_written()
        self.history: list[Sample] = []

    def tick(self, published: int) -> int:
        written = self.store.points_written() - self.start
        sample = Sample(time.monotonic(), time.time_ns() // 1_000_000, published, written,
                        self.front())
        self.history.append(sample)
        return written

    def rate_over(self, seconds: float) -> float:
        """Points written per second over the last `seconds`."""
        if len(self.history) < 2:
            return 0.0
        last = self.history[-1]
        for first in reversed(self.history):
            if last.t - first.t >= seconds:
                break
        return (last.written - first.written) / (last.t - first.t) if last.t > first.t else 0.0

    def alarm_lag_s(self) -> float:
        last = self.history[-1] if self.history else None
        if last is None or not last.alarm_front_ms:
            return math.inf
        return max(0.0, (last.wall_ms - last.alarm_front_ms) / 1000)


def run_phase(
    ctx: PhaseContext,
    result: PhaseResult,
    segments: Sequence[Segment],
    *,
    base_per_s: float = 0.0,
    alarms_bound: bool = False,
) -> tuple[PhaseResult, list[PublisherResult]]:
    """Run one phase. `alarms_bound`: flat out is held to the slower of storing and
    evaluating (the alarm service's progress, from its events), else to storing."""
    label = f"{result.system} {result.case} {result.phase}"
    flat_out = any(s.readings_per_s is None for s in segments)
    ctx.listener.reset()
    if ctx.stream is not None:
        ctx.stream.reset_peak()
    sampler = _Sampler(ctx.store, ctx.alarm_front)
    start_stored = ctx.store.stored_readings()
    start_requests = ctx.store.shard_stats()[1]
    start_dropped = ctx.broker.dropped
    start_errors = len(ctx.errors())
    start_system_dropped = ctx.dropped()
    load = ctx.make_load(segments, ctx.window_readings if alarms_bound else 0)
    load.prepare()
    result.load_average = os.getloadavg()[0]
    cpu_before = psutil.cpu_times()
    recorder = None
    if ctx.profile_dir is not None and ctx.profile_pids:
        recorder = Recorder(ctx.profile_dir, label, ctx.profile_pids)
        recorder.start()
    with ResourceMonitor(ctx.pids | load.pids | {"bench runner": os.getpid()}) as monitor:
        if flat_out:
            load.set_allowance(ctx.window_readings)
        t0 = time.monotonic()
        load.go()
        held_since: float | None = None
        while load.running():
            time.sleep(TICK_S)
            published = load.published_readings()
            written = sampler.tick(published)
            if flat_out:
                accounted = written + ctx.dropped() - start_system_dropped
                load.set_allowance(accounted + ctx.window_readings)
                load.set_alarm_front(sampler.history[-1].alarm_front_ms)
            if (why := ctx.failure()) is not None:
                load.stop()
                load.join()
                raise PhaseFailed(why)
            if result.burst is not None:
                held_since = _watch_burst(
                    result.burst, t0, sampler, ctx, base_per_s, held_since, load
                )
            elapsed = time.monotonic() - t0
            ctx.progress.show(
                f"[{label}] {elapsed:5.0f}s published {published:,} "
                f"({rate(published / max(elapsed, 1e-3))}/s) "
                f"written {written:,} ({rate(sampler.rate_over(2.0))}/s) "
                f"backlog {max(0, published - written):,} "
                f"broker queue {ctx.broker.queued:,} alarms {ctx.listener.events:,}"
                f"{_lag_text(sampler) if ctx.evaluates_alarms else ''} "
                + _cpu_text(monitor, elapsed)
            )
        publishers = load.join()
        result.published = sum(p.readings for p in publishers)
        crossings = [c for p in publishers for c in p.crossings]
        wait_alarms = ctx.evaluates_alarms and (alarms_bound or not flat_out)
        stored, last_growth_s = _drain(
            ctx, sampler, start_stored, result.published, label,
            alarms_of=[(c[0], c[1], c[2]) for c in crossings] if wait_alarms else None,
        )
    if recorder is not None:
        recorder.stop()
    result.machine_busy_pct = _busy_pct(cpu_before, psutil.cpu_times())
    result.usage = monitor.usage()
    result.wall_s = monitor.wall_s
    ours_cores = sum(u.cpu_s for u in result.usage.values()) / max(monitor.wall_s, 1e-9)
    cores = os.cpu_count() or 1
    result.others_cores = max(0.0, result.machine_busy_pct / 100 * cores - ours_cores)
    result.errors += [f"publisher {p.index}: {p.error}" for p in publishers if p.error]
    result.errors += summarize(ctx.errors()[start_errors:])
    result.messages = sum(p.messages for p in publishers)
    first_ns = min((p.first_ns for p in publishers if p.first_ns), default=0)
    last_ns = max((p.last_ns for p in publishers), default=0)
    result.publish_s = (last_ns - first_ns) / 1e9
    result.stored_s = last_growth_s - first_ns / 1e9
    result.stored = stored
    result.broker_dropped = ctx.broker.dropped - start_dropped
    result.write_requests = ctx.store.shard_stats()[1] - start_requests
    result.crossings = len(crossings)
    result.alarm_events = ctx.listener.events
    if ctx.evaluates_alarms:
        result.latency = match(ctx.listener.snapshot(), crossings)
        result.duplicate_raised = ctx.listener.duplicates
        result.duplicate_keys = [[*key, (again - first) // 1_000_000]
                                 for key, first, again in ctx.listener.duplicate_keys]
        if ctx.listener.last_raised_ns and first_ns:
            result.evaluated_s = (ctx.listener.last_raised_ns - first_ns) / 1e9
    if ctx.stream is not None:
        result.stream = ctx.stream.phase_state()
    if ctx.owners is not None:
        result.owners = ctx.owners()
    result.samples = sampler.history
    if result.burst is not None:
        _catch_up(result, sampler.history, t0, base_per_s, alarms=ctx.evaluates_alarms)
    ctx.progress.done(
        f"[{label}] published {result.published:,} stored {result.stored:,} "
        f"lost {result.lost:,} stored/s {result.stored_per_s:,.0f}"
        + (f" evaluated/s {result.evaluated_per_s:,.0f} alarm p99 "
           f"{result.latency.p99_ms:.1f} ms missing {result.latency.missing:,}"
           if result.latency else "")
        + (f" stream held {result.stream.end_msgs:,} msgs (peak {result.stream.peak_msgs:,}, "
           f"{result.stream.peak_bytes / 2**20:,.0f} MiB)" if result.stream else "")
    )
    return result, publishers


def summarize(lines: Sequence[str]) -> list[str]:
    """Error lines grouped by their text without times and numbers, with counts."""
    counts: Counter[str] = Counter()
    for line in lines:
        text = line.split("] ", 2)[-1] if "[error]" in line else line
        counts[re.sub(r"\d+", "N", text).strip()[:160]] += 1
    return [f"{n:,} x {text}" for text, n in counts.most_common(10)]


def _busy_pct(before: object, after: object) -> float:
    b = before._asdict()  # type: ignore[attr-defined]
    a = after._asdict()  # type: ignore[attr-defined]
    total = sum(a.values()) - sum(b.values())
    idle = (a["idle"] + a.get("iowait", 0.0)) - (b["idle"] + b.get("iowait", 0.0))
    return 100.0 * (total - idle) / total if total > 0 else 0.0


def _cpu_text(monitor: ResourceMonitor, elapsed_s: float) -> str:
    if elapsed_s <= 0:
        return ""
    parts = [
        f"{name} {100 * monitor.cpu_now_s(name) / elapsed_s:.0f}%"
        for name in monitor.usage()
        if not name.startswith("publisher")
    ]
    return "cpu " + " ".join(parts)


def _lag_text(sampler: _Sampler) -> str:
    lag_s = sampler.alarm_lag_s()
    return "" if math.isinf(lag_s) else f" (alarm lag {lag_s:.1f} s)"


def _watch_burst(
    burst: Burst,
    t0: float,
    sampler: _Sampler,
    ctx: PhaseContext,
    base_per_s: float,
    held_since: float | None,
    load: Load,
) -> float | None:
    """Track the burst; stop the load once the system has kept pace with the live rate
    (and its alarms are less than 2 s behind) for CAUGHT_UP_HOLD_S after the burst. The
    exact catch-up times are worked out afterwards from the samples."""
    now = time.monotonic()
    elapsed = now - t0
    last = sampler.history[-1]
    burst.backlog_peak = max(burst.backlog_peak, last.published - last.written)
    burst.broker_queued_peak = max(burst.broker_queued_peak, ctx.broker.queued)
    burst_end = burst.warmup_s + burst.burst_s
    if elapsed < burst_end + 2.0:
        return None
    keeping_pace = 0.5 * base_per_s <= sampler.rate_over(5.0) <= 1.3 * base_per_s
    alarms_ok = not ctx.evaluates_alarms or sampler.alarm_lag_s() < 2.0
    if not keeping_pace or not alarms_ok or ctx.broker.queued > base_per_s:
        return None
    if held_since is None:
        return now
    if now - held_since >= CAUGHT_UP_HOLD_S:
        load.stop()
    return held_since


def _catch_up(
    result: PhaseResult, history: list[Sample], t0: float, base_per_s: float, *, alarms: bool
) -> None:
    """Storing caught up at the first moment after the burst when the system wrote no
    faster than the live load arrives (over 5 s): it is no longer working off a backlog
    (what it dropped is in the loss, not waited for). Alarms caught up when their events
    were about readings less than 1 s old."""
    burst = result.burst
    assert burst is not None
    start, end = t0 + burst.warmup_s, t0 + burst.warmup_s + burst.burst_s
    during = [h for h in history if start <= h.t <= end]
    if len(during) >= 2 and during[-1].t > during[0].t:
        burst.reached_per_s = (during[-1].published - during[0].published) / (
            during[-1].t - during[0].t
        )
    after = [h for h in history if h.t >= end]
    for i, h in enumerate(after):
        earlier = [e for e in after[: i + 1] if h.t - e.t >= 5.0]
        if not earlier:
            continue
        e = earlier[-1]
        if (h.written - e.written) / (h.t - e.t) <= 1.2 * base_per_s:
            burst.catch_up_s = e.t - end
            break
    if alarms:
        for h in after:
            if h.alarm_front_ms and h.wall_ms - h.alarm_front_ms <= 1000:
                burst.alarms_catch_up_s = h.t - end
                break


def _drain(
    ctx: PhaseContext,
    sampler: _Sampler,
    start_stored: int,
    published: int,
    label: str,
    *,
    alarms_of: list[tuple[str, str, int]] | None,
) -> tuple[int, float]:
    """Wait until every reading is stored (or the count has not moved for `settle_s`)
    and, with `alarms_of` (the crossings published), until every one of them has had
    its `raised` event (or the events have not moved for `settle_s`). Returns the count
    and when it last grew (the count runs every second, so that is late by up to a
    second)."""
    deadline = time.monotonic() + MAX_DRAIN_S
    events = ctx.listener.events
    events_changed = time.monotonic()
    stored = -1
    stored_changed = time.monotonic()
    next_count = 0.0
    raised = 0
    while True:
        now = time.monotonic()
        if now >= next_count:
            next_count = now + COUNT_EVERY_S
            count = ctx.store.stored_readings() - start_stored
            if count != stored:
                stored, stored_changed = count, now
            if alarms_of is not None:
                raised = ctx.listener.count_raised(alarms_of)
        if ctx.listener.events != events:
            events, events_changed = ctx.listener.events, now
        storing_done = stored >= published or now - stored_changed >= ctx.settle_s
        if alarms_of is None:
            alarms_done = now - events_changed >= ALARM_SETTLE_S or (
                now - stored_changed >= 3 * ctx.settle_s
            )
        else:
            alarms_done = raised >= len(alarms_of) or now - events_changed >= ctx.settle_s
        if (storing_done and alarms_done) or now >= deadline:
            return stored, stored_changed
        if (why := ctx.failure()) is not None:
            raise PhaseFailed(why)
        written = sampler.tick(published)
        ctx.progress.show(
            f"[{label}] draining: stored {stored:,} of {published:,}, written {written:,} "
            f"({rate(sampler.rate_over(2.0))}/s), alarm events {events:,}"
            + (f" ({raised:,} of {len(alarms_of):,} crossings raised)"
               if alarms_of is not None else "")
        )
        time.sleep(TICK_S)
