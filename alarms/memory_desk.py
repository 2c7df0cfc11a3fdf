"""`MemoryDesk`: the duty desk (hazmon.alarms.desk.Desk) over the real engine, in memory.

The same engine as `AlarmDesk` (hazmon.alarms.sqlite_desk) decides everything: readings
and gateway states are evaluated by it (`receive`, `tick`), every operator input goes
through `Engine.act`, so the ISA-18.2 states, limits and errors are the core's. What
`AlarmDesk` writes to SQLite is kept here in plain containers instead:

- the occurrences, as the engine hands them over (`Engine.take_dirty`);
- the journal, a list of entries with the real fields and hash chain
  (hazmon.alarms.journal.chain), so exports and verification are the real ones; no
  anchors are kept (`journal_verify` checks the chain alone);
- notification requests, in `notifications`: nothing sends them.

Nothing touches a file, a socket or the clock: `clock` is a `() -> int` of epoch
milliseconds, called once per action. Nothing survives the object either, so it is
for tests, demonstrations and embedding, not for a plant.

Beyond the Desk protocol: `receive(messages)` and `tick()` (MQTT payloads and the
service clock, as `AlarmDesk` takes them), `occurrence(alarm_id)` and `journal` (the
entries, oldest first; read them, do not change them).

Live subscribers are told from the thread that acted; a queue subscribed on an event
loop is filled on that loop (`call_soon_threadsafe` from any other thread).
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable, Iterator
from dataclasses import asdict
from typing import Any, Literal

from pydantic import ValidationError

from hazmon.alarms.core import Engine, NotifyRequest, OccurrenceRecord, Output
from hazmon.alarms.core.inputs import BypassPermit, OperatorInput, OutOfService, ReturnToService
from hazmon.alarms.dangers.book import DangerBook, MemoryBackend
from hazmon.alarms.desk import Desk
from hazmon.alarms.errors import UnknownAlarm
from hazmon.alarms.journal.chain import GENESIS, entry_hash, entry_of, verify
from hazmon.alarms.journal.export import export
from hazmon.alarms.kpi import kpi
from hazmon.contract import topics
from hazmon.contract.registry import Registry
from hazmon.contract.wire import Decoder, GatewayState

SUBSCRIBER_ITEMS = 1000  # items a live subscriber's queue holds before losing the oldest

Queue = asyncio.Queue[dict[str, Any]]


class MemoryDesk:
    def __init__(self, *, registry: Registry, clock: Callable[[], int]) -> None:
        self.registry = registry
        self._clock = clock
        self._lock = threading.RLock()
        self.engine = Engine(registry)
        self.engine.start(self._now())
        self._decoder = Decoder(registry)
        self._occurrences: dict[str, OccurrenceRecord] = {}
        self.journal: list[dict[str, Any]] = []
        self.notifications: list[NotifyRequest] = []
        self._subscribers: dict[Queue, asyncio.AbstractEventLoop | None] = {}
        # hidden dangers (docs/hidden-dangers.md) in this journal; their rules run when
        # `dangers.tick()` is called, not with `tick()`
        self.dangers = DangerBook(
            backend=MemoryBackend(self), lock=self._lock, clock=self._clock,
            engine=lambda: self.engine, registry=lambda: self.registry, tell=self._tell)

    def _now(self) -> int:
        return int(self._clock())

    # -- inputs from the plant -------------------------------------------------------------

    def receive(self, messages: list[tuple[str, bytes]]) -> Output:
        """Evaluate MQTT messages (telemetry batches, gateway states) in order; tell."""
        out = Output()
        try:
            with self._lock:
                now_ms = self._now()
                for topic, payload in messages:
                    out.extend(self._keep(self._evaluate(topic, payload, now_ms)))
        finally:  # a message that fails to evaluate raises; those before it stand
            self._tell(out)
        return out

    def tick(self) -> Output:
        """The service clock: stale, offline, delays, expiries, escalation."""
        with self._lock:
            out = self._keep(self.engine.tick(self._now()))
        self._tell(out)
        return out

    def _evaluate(self, topic: str, payload: bytes, now_ms: int) -> Output:
        parsed = topics.parse_gateway_topic(topic)
        if parsed is None:
            return Output()
        site, gateway, leaf = parsed
        if leaf == "telemetry":
            decoded = self._decoder.decode(site, gateway, payload, now_ms=now_ms)
            if decoded.boot is None or decoded.seq is None or not decoded.readings:
                return Output()
            return self.engine.on_batch(
                site, gateway, boot=decoded.boot, seq=decoded.seq,
                historical=decoded.historical, readings=decoded.readings, now_ms=now_ms,
            )
        if leaf == "state" and payload:
            try:
                state = GatewayState.model_validate_json(payload)
            except ValidationError:
                return Output()
            return self.engine.on_gateway_state(
                site, gateway, online=state.online, boot=state.boot, now_ms=now_ms
            )
        return Output()

    # -- what the engine answered ------------------------------------------------------------

    def _keep(self, out: Output) -> Output:
        """Journal the events, keep the occurrences that changed (the lock is held)."""
        prev = self.journal[-1]["hash"] if self.journal else GENESIS
        for event in out.events:
            entry = entry_of(event, len(self.journal) + 1)
            digest = entry_hash(prev, entry)
            self.journal.append({**entry, "prev": prev, "hash": digest})
            prev = digest
        self._occurrences.update(self.engine.take_dirty().occurrences)
        self.notifications += out.notify
        return out

    def keep(self, out: Output, occurrences: dict[str, OccurrenceRecord]) -> None:
        """Journal what the shell made itself (hidden dangers) with the occurrences it
        opened or ended (the lock is held)."""
        self._keep(out)
        self._occurrences.update(occurrences)

    def _tell(self, out: Output) -> None:
        for event in out.events:
            if event.published:
                self._fan_out({"type": "alarm", "data": event.wire()})
        for change in out.risk:
            data = {"site": change.site, "grade": change.grade, "ts_ms": change.ts_ms}
            self._fan_out({"type": "risk", "data": data})

    def _fan_out(self, item: dict[str, Any]) -> None:
        try:
            running: asyncio.AbstractEventLoop | None = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        for queue, loop in list(self._subscribers.items()):
            if loop is None or loop is running or loop.is_closed():
                _put(queue, item)
            else:
                loop.call_soon_threadsafe(_put, queue, item)

    # -- the Desk: alarms ----------------------------------------------------------------------

    def alarms(
        self,
        *,
        active: bool | None = None,
        site: str | None = None,
        priority: str | None = None,
        limit: int = 500,
    ) -> list[dict[str, Any]]:
        with self._lock:
            found = [
                record for record in self._occurrences.values()
                if (active is None or (record.ended_ms is None) == active)
                and (site is None or record.site == site)
                and (priority is None or record.priority == priority)
            ]
            found.sort(key=lambda r: (r.raised_ms, r.alarm_id), reverse=True)
            return [self._public(record) for record in found[:max(limit, 0)]]

    def occurrence(self, alarm_id: str) -> dict[str, Any]:
        """One occurrence as `alarms()` lists it; UnknownAlarm if there is none."""
        with self._lock:
            record = self._occurrences.get(alarm_id)
            if record is None:
                raise UnknownAlarm(alarm_id)
            return self._public(record)

    def act(self, inp: OperatorInput) -> dict[str, Any]:
        """One operator input, journalled with its user; the answer is the occurrence as
        it is now (an input on an alarm) or what was granted (one on a sensor)."""
        with self._lock:
            out = self._keep(self.engine.act(inp, now_ms=self._now()))  # or raises: unchanged
            answer = self._answer(inp)
        self._tell(out)
        return answer

    def _answer(self, inp: OperatorInput) -> dict[str, Any]:
        match inp:
            case BypassPermit():
                permit = self.engine.plant.sensors[f"{inp.site}/{inp.sensor}"].permit
                assert permit is not None  # granted, or act raised
                return {"site": inp.site, "sensor": inp.sensor, **asdict(permit)}
            case OutOfService():
                return {"site": inp.site, "sensor": inp.sensor, "until_ms": inp.until_ms,
                        "reason": inp.reason, "user": inp.user}
            case ReturnToService():
                return {"site": inp.site, "sensor": inp.sensor, "user": inp.user,
                        "note": inp.note}
            case _:
                return self.occurrence(inp.alarm_id)

    def _public(self, record: OccurrenceRecord) -> dict[str, Any]:
        """The occurrence's latest event, raised and acked, and `shelved_until_ms` (None
        unless shelved), as `AlarmDesk` answers it (the lock is held)."""
        doc = record.doc
        alarm: dict[str, Any] = {
            **doc.get("latest", {}),
            "raised_ms": doc.get("raised_ms"),
            "acked_ms": doc.get("acked_ms"),
            "acked_by": doc.get("acked_by"),
            "shelved_until_ms": None,
        }
        if alarm.get("state") == "shelved":
            point = self.engine.plant.points.get(record.key)
            current = point.occ if point is not None else None
            if point is not None and current is not None and current.alarm_id == record.alarm_id:
                alarm["shelved_until_ms"] = point.shelved_until_ms
        return alarm

    # -- the Desk: views -----------------------------------------------------------------------

    def last_readings(self, site: str) -> dict[str, dict[str, Any]]:
        with self._lock:
            return self.engine.last_readings(site)

    def risk_grades(self) -> dict[str, str]:
        with self._lock:
            return self.engine.risk_grades()

    def active_counts(self, site: str) -> dict[str, int]:
        with self._lock:
            return self.engine.active_counts(site)

    def subscribe(self) -> Queue:
        queue: Queue = asyncio.Queue(maxsize=SUBSCRIBER_ITEMS)
        try:
            loop: asyncio.AbstractEventLoop | None = asyncio.get_running_loop()
        except RuntimeError:
            loop = None
        self._subscribers[queue] = loop
        return queue

    def unsubscribe(self, queue: Queue) -> None:
        self._subscribers.pop(queue, None)

    # -- the Desk: audit -----------------------------------------------------------------------

    def _entries(
        self, *, from_ms: int | None = None, to_ms: int | None = None, site: str | None = None
    ) -> list[dict[str, Any]]:
        with self._lock:
            entries = list(self.journal)
        return [
            e for e in entries
            if (from_ms is None or e["ts_ms"] >= from_ms)
            and (to_ms is None or e["ts_ms"] <= to_ms)
            and (site is None or e["site"] == site)
        ]

    def journal_export(
        self,
        *,
        from_ms: int | None,
        to_ms: int | None,
        site: str | None,
        fmt: Literal["csv", "jsonl"],
    ) -> Iterator[str]:
        return export(self._entries(from_ms=from_ms, to_ms=to_ms, site=site), fmt)

    def journal_verify(self) -> dict[str, Any]:
        return verify(self._entries()).answer()

    def kpi(self, *, from_ms: int, to_ms: int, site: str | None) -> dict[str, Any]:
        with self._lock:
            priorities = {a: r.priority for a, r in self._occurrences.items()}
        rows = self._entries(to_ms=to_ms, site=site)
        return kpi(rows, priorities=priorities, from_ms=from_ms, to_ms=to_ms, site=site)


def _put(queue: Queue, item: dict[str, Any]) -> None:
    if queue.full():
        queue.get_nowait()  # a slow reader loses the oldest
    queue.put_nowait(item)


def as_desk(desk: MemoryDesk) -> Desk:
    """A MemoryDesk is a hazmon.alarms.desk.Desk (mypy checks this conversion)."""
    return desk
