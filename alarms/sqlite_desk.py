"""`AlarmDesk`: the duty desk (hazmon.alarms.desk.Desk) over the engine and the alarm DB.

Every action runs the engine and commits its journal entries with the state they
changed in one transaction, under one lock (`lock`): readings are evaluated on paho's
network thread (the alarm service's), the clock in a worker thread, operator actions
on the API's event loop. What an action produced is then handed to the event loop
(`hand_over`), where the desk tells its live subscribers, or whoever attached it
tells the world (`attach(loop, tell=...)`: the alarm service publishes, stores and
notifies, then tells the subscribers).

With `anchoring` (hazmon.alarms.journal.anchoring) the journal's head goes outside
the data folder with every commit, `check_anchors()` compares the journal with the
anchors before the service takes a message, and `journal_verify()` checks every
anchor reachable; without, it verifies against the anchor file's and the store's.

Beyond the Desk protocol: `receive()`, `evaluate()` and `tick()` (messages and the
clock, for the service or an embedding process), `start()`, `write_anchor()`.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import asdict
from pathlib import Path
from typing import Any, Literal

from pydantic import ValidationError

from hazmon.alarms import state_db as db
from hazmon.alarms import system
from hazmon.alarms.core import Engine, NotifyRequest, Output
from hazmon.alarms.core.errors import IllegalTransition
from hazmon.alarms.core.inputs import (
    Ack,
    BypassPermit,
    OperatorInput,
    OutOfService,
    ReturnToService,
)
from hazmon.alarms.core.model import Event
from hazmon.alarms.dangers.book import DangerBook, SqliteBackend
from hazmon.alarms.desk import Desk
from hazmon.alarms.errors import UnknownAlarm
from hazmon.alarms.journal import anchors
from hazmon.alarms.journal import chain as journal
from hazmon.alarms.journal.anchoring import Anchoring
from hazmon.alarms.journal.anchors import Anchor
from hazmon.alarms.journal.chain import Head
from hazmon.alarms.journal.export import export
from hazmon.alarms.kpi import kpi
from hazmon.contract import topics
from hazmon.contract.registry import Registry
from hazmon.contract.wire import Decoder, GatewayState
from hazmon.stores.base import Store

BACKLOG = 10_000  # outputs kept while no event loop is attached
log = logging.getLogger(__name__)


class AlarmDesk:
    def __init__(
        self,
        *,
        registry: Registry,
        data_dir: Path,
        store: Store,
        clock: Callable[[], int],
        anchoring: Anchoring | None = None,
        database: db.AlarmDb | None = None,
    ) -> None:
        self.registry = registry
        self.data_dir = data_dir
        self.store = store
        self._clock = clock
        # whoever holds it sees and changes engine and database alone: evaluation, the
        # clock, operator actions (and the service's books of what waits for a commit)
        self.lock = threading.RLock()
        self.db = database or db.AlarmDb(data_dir)
        self.engine = self._engine_from_db()
        self.system = system.SystemAlarms()  # the service's own faults (alarms/system.py)
        for alarm_id, key, raised_ms, doc in self.db.open_of_site(system.SITE):
            self.system.restore(key, alarm_id, raised_ms, doc)
        self._decoder = Decoder(registry)
        self.anchoring = anchoring
        if anchoring is not None:
            self.db.on_head = anchoring.head_moved
        self.failed_messages = 0
        self._subscribers: list[asyncio.Queue[dict[str, Any]]] = []
        self._loop: asyncio.AbstractEventLoop | None = None
        self._tell: Callable[[Output], None] = self.tell_subscribers
        self._backlog: deque[Output] = deque(maxlen=BACKLOG)
        # hidden dangers (docs/hidden-dangers.md): records in this database, changes in
        # its journal, the grade floors they put under the sites in this engine
        self.dangers = DangerBook(
            backend=SqliteBackend(self.db, data_dir / "hidden-dangers"), lock=self.lock,
            clock=self._clock, engine=lambda: self.engine, registry=lambda: self.registry,
            tell=self.hand_over)
        self.dangers.refresh_floors()

    def close(self) -> None:
        with self.lock:
            self.db.close()

    # -- plumbing ------------------------------------------------------------------------

    def _now(self) -> int:
        return int(self._clock())

    def _engine_from_db(self) -> Engine:
        """An engine in the state the database holds: what was committed."""
        engine = Engine(self.registry)
        saved = self.db.load()
        engine.restore(
            sensors=saved.sensors, points=saved.points, gateways=saved.gateways,
            open_occurrences=saved.open_occurrences, last=saved.last,
        )
        engine.start(self._now())
        return engine

    def _commit(self, out: Output, now_ms: int, *, outbox_done: tuple[str, ...] = ()) -> None:
        """Journal and persist (the lock is held). A commit that fails (disk full, out of
        descriptors) leaves the engine as the database is: what it evaluated since the
        last commit is forgotten, so the messages, unacknowledged, are evaluated again
        when they come back instead of being dropped as repeats with their events never
        journalled."""
        dirty = self.engine.take_dirty()
        if out.events or out.notify or outbox_done or dirty:
            try:
                self.db.commit(
                    out.events, dirty, outbox_add=out.notify, outbox_done=outbox_done,
                    now_ms=now_ms,
                )
            except BaseException:
                self.engine = self._engine_from_db()
                raise

    def _act(self, action: Callable[[int], Output]) -> Output:
        with self.lock:
            now_ms = self._now()
            out = action(now_ms)  # an illegal or unknown one raises, having changed nothing
            self._commit(out, now_ms)
        self.hand_over(out)
        return out

    def _journal_alone(self, event: Event) -> Head:
        """Journal an entry of the shell's own (the lock is held); the new head."""
        return self.db.commit([event], self.engine.take_dirty())

    # -- handing outputs to the event loop -------------------------------------------------

    def attach(
        self, loop: asyncio.AbstractEventLoop, *, tell: Callable[[Output], None] | None = None
    ) -> None:
        """From now on outputs go to `loop`, where `tell(out)` takes each one (by default
        `tell_subscribers`); those kept while detached go first. The anchoring, if any,
        anchors every new head from this loop too."""
        self._tell = tell or self.tell_subscribers
        self._loop = loop
        if self.anchoring is not None:
            self.anchoring.attach(loop)
        while self._backlog:
            self._tell(self._backlog.popleft())

    def detach(self) -> None:
        """Keep outputs (up to BACKLOG) until attached again; stop anchoring per commit."""
        self._loop = None
        if self.anchoring is not None:
            self.anchoring.detach()

    def hand_over(self, out: Output) -> None:
        """Give an output to the event loop, from whatever thread we are on."""
        if not out:
            return
        loop = self._loop
        if loop is None or loop.is_closed():
            self._backlog.append(out)
            return
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if running is loop:
            self._tell(out)
        else:
            loop.call_soon_threadsafe(self._tell, out)

    def tell_subscribers(self, out: Output) -> None:
        """On the event loop: tell the live subscribers."""
        for event in out.events:
            if event.published:
                self._fan_out({"type": "alarm", "data": event.wire()})
        for change in out.risk:
            data = {"site": change.site, "grade": change.grade, "ts_ms": change.ts_ms}
            self._fan_out({"type": "risk", "data": data})

    def _fan_out(self, item: dict[str, Any]) -> None:
        for queue in list(self._subscribers):
            if queue.full():
                queue.get_nowait()  # a slow reader loses the oldest
            queue.put_nowait(item)

    def _alarm(self, alarm_id: str) -> dict[str, Any]:
        with self.lock:
            found = self.db.occurrence(alarm_id)
            if found is None:
                raise UnknownAlarm(alarm_id)
            return self._with_shelving(found)

    def _with_shelving(self, alarm: dict[str, Any]) -> dict[str, Any]:
        """The occurrence plus `shelved_until_ms`, None unless shelved (the lock is held)."""
        until = None
        if alarm.get("state") == "shelved":
            found = self.engine.plant.point_of_alarm(str(alarm.get("alarm_id")))
            point = found[0] if found else None
            if point and point.occ and point.occ.alarm_id == alarm.get("alarm_id"):
                until = point.shelved_until_ms
        return {**alarm, "shelved_until_ms": until}

    # -- inputs from the plant ------------------------------------------------------------

    def receive(self, messages: list[tuple[str, bytes]]) -> Output:
        """Evaluate MQTT messages (telemetry batches, gateway states), commit, tell."""
        out, _ = self.evaluate(messages)
        self.hand_over(out)
        return out

    def flush(self) -> None:
        """Commit what evaluations left uncommitted (`evaluate(..., defer=True)`)."""
        with self.lock:
            self._commit(Output(), self._now())

    def use_registry(self, registry: Registry) -> None:
        """Evaluate by a changed registry from now on (SIGHUP): what the engine holds is
        committed first, then an engine of the new registry is built from the database
        (sensors, points and occurrences it no longer has are left out; silence is
        measured from now)."""
        with self.lock:
            self.flush()
            self.registry = registry
            self._decoder = Decoder(registry)
            self.engine = self._engine_from_db()

    def start(self) -> None:
        """Measure silence and delays from now (the service, once it is connected)."""
        with self.lock:
            self.engine.start(self._now())

    def tick(self) -> Output:
        """The service clock: stale, offline, delays, expiries, escalation."""
        with self.lock:
            now_ms = self._now()
            out = self.engine.tick(now_ms)
            self._commit(out, now_ms)
        self.hand_over(out)
        return out

    def record_outcome(
        self, request: NotifyRequest, *, ok: bool, detail: str, final: bool
    ) -> Output:
        """Journal one delivery attempt; `final`: the request leaves the outbox."""
        with self.lock:
            now_ms = self._now()
            out = self.engine.notify_outcome(request, ok=ok, detail=detail, now_ms=now_ms)
            self._commit(out, now_ms, outbox_done=(request.id,) if final else ())
        return out

    def evaluate(
        self, messages: list[tuple[str, bytes]], *, defer: bool = False
    ) -> tuple[Output, bool]:
        """Evaluate, then commit, and say whether it did; the caller tells what came of
        it (`hand_over`, or its own way). With `defer`, messages that
        caused nothing to tell (no event, notification or grade change: most of them)
        leave their state changes for a later commit, so that a busy plant does not
        pay one transaction per handful of messages; the caller must not acknowledge
        them before that commit (`flush`, or the next commit of any kind)."""
        out = Output()
        with self.lock:
            now_ms = self._now()
            for topic, payload in messages:
                try:
                    out.extend(self._evaluate(topic, payload, now_ms))
                except Exception:  # one poison message must not stop every other one
                    self.failed_messages += 1
                    log.exception("could not evaluate a message on %s; skipped", topic)
            if defer and not out:
                return out, False
            self._commit(out, now_ms)
        return out, True

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

    # -- the Desk: alarms ------------------------------------------------------------------

    def alarms(
        self,
        *,
        active: bool | None = None,
        site: str | None = None,
        priority: str | None = None,
        limit: int = 500,
    ) -> list[dict[str, Any]]:
        with self.lock:
            found = self.db.occurrences(active=active, site=site, priority=priority, limit=limit)
            return [self._with_shelving(alarm) for alarm in found]

    def act(self, inp: OperatorInput) -> dict[str, Any]:
        """One operator input, journalled with its user; the answer is the occurrence as
        it is now (an input on an alarm) or what was granted (one on a sensor)."""
        if isinstance(inp, BypassPermit):
            return self._grant(inp)
        alarm_id = getattr(inp, "alarm_id", "")
        if alarm_id.startswith(f"{system.SITE}/"):
            return self._act_on_system(inp)
        if self.dangers.owns_alarm(alarm_id):  # an overdue major hidden danger's alarm
            if not isinstance(inp, Ack):
                raise IllegalTransition("unack", type(inp).__name__.lower(), alarm_id)
            return self.dangers.ack_alarm(alarm_id, user=inp.user, note=inp.note)
        self._act(lambda now_ms: self.engine.act(inp, now_ms=now_ms))
        return self.answer_to(inp)

    def _act_on_system(self, inp: OperatorInput) -> dict[str, Any]:
        """A system alarm takes an acknowledgement, nothing else (alarms/system.py)."""
        alarm_id = str(getattr(inp, "alarm_id", ""))
        if not isinstance(inp, Ack):
            found = self.db.occurrence(alarm_id)
            state = str(found.get("state")) if found else "normal"
            raise IllegalTransition(state, type(inp).__name__.lower(), alarm_id)
        with self.lock:
            now_ms = self._now()
            change = self.system.commit_ack(self.db, alarm_id, inp.user, inp.note, now_ms)
        self.hand_over(Output(events=change.events))
        return self._alarm(alarm_id)

    def answer_to(self, inp: OperatorInput) -> dict[str, Any]:
        """What `act(inp)` answers, as things are now: for an input committed earlier
        (a retry of a request that a previous owner of the partition committed), its
        answer again, without acting twice."""
        match inp:
            case BypassPermit():
                with self.lock:
                    permit = self.engine.plant.sensors[f"{inp.site}/{inp.sensor}"].permit
                return {"site": inp.site, "sensor": inp.sensor,
                        **(asdict(permit) if permit is not None else {})}
            case OutOfService():
                return {"site": inp.site, "sensor": inp.sensor, "until_ms": inp.until_ms,
                        "reason": inp.reason, "user": inp.user}
            case ReturnToService():
                return {"site": inp.site, "sensor": inp.sensor, "user": inp.user,
                        "note": inp.note}
            case _:
                return self._alarm(inp.alarm_id)

    def _grant(self, inp: BypassPermit) -> dict[str, Any]:
        granted: dict[str, Any] = {"site": inp.site, "sensor": inp.sensor}

        def action(now_ms: int) -> Output:
            out = self.engine.act(inp, now_ms=now_ms)
            permit = self.engine.plant.sensors[f"{inp.site}/{inp.sensor}"].permit
            assert permit is not None  # granted, or act raised
            granted.update(asdict(permit))
            return out

        self._act(action)
        return granted

    # -- the Desk: views ---------------------------------------------------------------------

    def last_readings(self, site: str) -> dict[str, dict[str, Any]]:
        with self.lock:
            return self.engine.last_readings(site)

    def risk_grades(self) -> dict[str, str]:
        with self.lock:
            return self.engine.risk_grades()

    def active_counts(self, site: str) -> dict[str, int]:
        with self.lock:
            return self.engine.active_counts(site)

    def subscribe(self) -> asyncio.Queue[dict[str, Any]]:
        queue: asyncio.Queue[dict[str, Any]] = asyncio.Queue(maxsize=1000)
        self._subscribers.append(queue)
        return queue

    def unsubscribe(self, queue: asyncio.Queue[dict[str, Any]]) -> None:
        if queue in self._subscribers:
            self._subscribers.remove(queue)

    # -- the Desk: audit ---------------------------------------------------------------------

    def journal_export(
        self,
        *,
        from_ms: int | None,
        to_ms: int | None,
        site: str | None,
        fmt: Literal["csv", "jsonl"],
    ) -> Iterator[str]:
        return export_journal(self.db.path, from_ms=from_ms, to_ms=to_ms, site=site, fmt=fmt)

    def anchor(self) -> Anchor | None:
        """The highest anchor reachable: the journal must reach it (and, with anchoring,
        all others)."""
        if self.anchoring is not None:
            return anchors.highest(self.anchoring.reachable())
        return anchors.highest([anchors.read_file(self.data_dir), anchors.read_store(self.store)])

    def journal_verify(self) -> dict[str, Any]:
        if self.anchoring is not None:
            return verify_journal(self.db.path, self.anchoring.reachable()).answer()
        return verify_journal(self.db.path, self.anchor()).answer()

    def kpi(self, *, from_ms: int, to_ms: int, site: str | None) -> dict[str, Any]:
        return journal_kpi(self.db.path, from_ms=from_ms, to_ms=to_ms, site=site)

    # -- the journal's anchors (with anchoring) ------------------------------------------

    def check_anchors(self) -> None:
        """Before the service takes a message: the journal against the anchors
        reachable (`Anchoring.check`: JournalBehind, unless accepting a shortened one)."""
        if self.anchoring is None:
            return
        found = self.anchoring.found_at_start()
        with self.lock:
            self.anchoring.check(self.db.head, self.db.hash_at, found, journal=self._journal_alone)

    def write_anchor(self) -> Anchor | None:
        """Take the journal's head as an anchor and keep it in the anchor file."""
        if self.anchoring is None:
            return None
        with self.lock:
            return self.anchoring.write_file(self.db.head)


# -- read-only access to a data folder's journal (the service, the API, the CLI) ------------


def export_journal(
    path: Path, *, from_ms: int | None, to_ms: int | None, site: str | None, fmt: str
) -> Iterator[str]:
    conn = db.connect(path, readonly=True)
    try:
        yield from export(journal.rows(conn, from_ms=from_ms, to_ms=to_ms, site=site), fmt)
    finally:
        conn.close()


def verify_journal(path: Path, anchor: journal.Anchors) -> journal.Verification:
    conn = db.connect(path, readonly=True)
    try:
        return journal.verify(journal.rows(conn), anchor)
    finally:
        conn.close()


def journal_kpi(path: Path, *, from_ms: int, to_ms: int, site: str | None) -> dict[str, Any]:
    conn = db.connect(path, readonly=True)
    try:
        priorities = dict(conn.execute("SELECT alarm_id, priority FROM occurrences").fetchall())
        rows = journal.rows(conn, to_ms=to_ms, site=site)
        return kpi(rows, priorities=priorities, from_ms=from_ms, to_ms=to_ms, site=site)
    finally:
        conn.close()


def as_desk(desk: AlarmDesk) -> Desk:
    """An AlarmDesk is a hazmon.alarms.desk.Desk (mypy checks this conversion)."""
    return desk
