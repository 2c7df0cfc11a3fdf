"""`DangerBook`: hidden dangers kept by a desk (docs/hidden-dangers.md).

Every change is one or more entries of the desk's alarm journal, committed under the
desk's lock through a `Backend`: `SqliteBackend` commits them with `AlarmDb.commit`
(whose projection keeps the `hidden_dangers` table, and whose changelog on JetStream
replicates them), `MemoryBackend` appends them to a `MemoryDesk`'s journal. What the
commit caused (the overdue alarm's events, notifications, grade changes) goes to the
desk's `tell`, as its own outputs do.

`tick()` is the shell's periodic job: the rules (alarms/dangers/rules.py) over the
engine's plant and the journal's recent level-2 raises open records and close their
causes; an overdue record is notified once per deadline (the first tier of `high`, of
`critical` for a major one, which also becomes a critical alarm on its site until it
is no longer overdue); the sites' grade floors go to the engine (`Engine.set_floors`).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from hazmon.alarms.core import Engine, NotifyRequest, OccurrenceRecord, Output
from hazmon.alarms.core import escalation as core_escalation
from hazmon.alarms.core.model import Dirty, Event
from hazmon.alarms.dangers import ledger, model, rules, table
from hazmon.alarms.dangers.model import (
    ACTIONS,
    BadEvidence,
    Doc,
    EvidenceTooLarge,
    EvidenceType,
    IllegalDangerAction,
    UnknownDanger,
)
from hazmon.alarms.state_db import AlarmDb
from hazmon.contract.kinds import Priority
from hazmon.contract.registry import Registry
from hazmon.runtime.private import FILE_MODE, private_dir

DAY_MS = 86_400_000
HAZMON = "hazmon"  # the user of what the rules do
MAGIC: tuple[tuple[bytes, str], ...] = (
    (b"\xff\xd8\xff", "image/jpeg"),
    (b"\x89PNG\r\n\x1a\n", "image/png"),
    (b"%PDF-", "application/pdf"),
)
NAME = re.compile(r"^[^/\\\x00-\x1f\x7f]{1,120}$")


def sniff(data: bytes) -> str | None:
    """The type of a file by its first bytes: JPEG, PNG or PDF; else None."""
    return next((mime for magic, mime in MAGIC if data.startswith(magic)), None)


def safe_name(name: str) -> str:
    """A file name to show (never a path: the file is kept under its sha256)."""
    if not NAME.match(name) or name in (".", "..") or ".." in name:
        raise BadEvidence(f"a file name without a path, `..` or control characters; got {name!r}")
    return name


class Backend(Protocol):
    def commit(self, out: Output, occurrences: dict[str, OccurrenceRecord], now_ms: int) -> None:
        """Journal `out.events` (and keep `out.notify` for the notifiers) atomically."""

    def record(self, ident: str) -> Doc | None: ...

    def records(self, site: str | None = None) -> list[Doc]: ...

    def count(self, site: str) -> int: ...

    def history(self, ident: str, since_ms: int) -> list[dict[str, Any]]: ...

    def high_high_raises(self, since_ms: int) -> list[tuple[str, int, str]]: ...

    def out_of_service_since(self, sid: str, since_ms: int) -> int | None: ...

    def put_file(self, sha256: str, data: bytes) -> None: ...

    def get_file(self, sha256: str) -> bytes | None: ...


class SqliteBackend:
    """In the alarm database (the `hidden_dangers` table) and the data folder's
    `hidden-dangers/` folder (evidence files, named by their sha256)."""

    def __init__(self, db: AlarmDb, files: Path) -> None:
        self.db = db
        self.files = files

    def commit(self, out: Output, occurrences: dict[str, OccurrenceRecord], now_ms: int) -> None:
        self.db.commit(out.events, Dirty(occurrences=occurrences), outbox_add=out.notify,
                       now_ms=now_ms)

    def record(self, ident: str) -> Doc | None:
        return table.record(self.db.reader, ident)

    def records(self, site: str | None = None) -> list[Doc]:
        return table.records(self.db.reader, site)

    def count(self, site: str) -> int:
        return table.count(self.db.reader, site)

    def history(self, ident: str, since_ms: int) -> list[dict[str, Any]]:
        return table.history(self.db.reader, ident, since_ms)

    def high_high_raises(self, since_ms: int) -> list[tuple[str, int, str]]:
        return table.high_high_raises(self.db.reader, since_ms)

    def out_of_service_since(self, sid: str, since_ms: int) -> int | None:
        return table.out_of_service_since(self.db.reader, sid, since_ms)

    def put_file(self, sha256: str, data: bytes) -> None:
        folder = private_dir(self.files)
        path = folder / sha256
        if path.exists():
            return
        tmp = folder / f".{sha256}.part"
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, FILE_MODE)
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)

    def get_file(self, sha256: str) -> bytes | None:
        if not re.fullmatch(r"[0-9a-f]{64}", sha256):
            return None
        with contextlib.suppress(FileNotFoundError):
            return (self.files / sha256).read_bytes()
        return None


class MemoryJournal(Protocol):
    journal: list[dict[str, Any]]

    def keep(self, out: Output, occurrences: dict[str, OccurrenceRecord]) -> None: ...


class MemoryBackend:
    """Beside a `MemoryDesk`: the entries go to its journal (same chain), the records
    and files stay in dicts."""

    def __init__(self, desk: MemoryJournal) -> None:
        self.desk = desk
        self._records: dict[str, Doc] = {}
        self._files: dict[str, bytes] = {}

    def commit(self, out: Output, occurrences: dict[str, OccurrenceRecord], now_ms: int) -> None:
        self.desk.keep(out, occurrences)
        for event in out.events:
            if model.is_danger_entry(event.event, event.key) and event.alarm_id:
                self._records[event.alarm_id] = model.fold(
                    self._records.get(event.alarm_id),
                    {"value": event.value, "to_state": event.state, "ts_ms": event.ts_ms})

    def record(self, ident: str) -> Doc | None:
        found = self._records.get(ident)
        return None if found is None else dict(found)

    def records(self, site: str | None = None) -> list[Doc]:
        found = [dict(d) for d in self._records.values() if site is None or d["site"] == site]
        return sorted(found, key=lambda d: (d["found_ms"], d["id"]), reverse=True)

    def count(self, site: str) -> int:
        return sum(1 for d in self._records.values() if d["site"] == site)

    def history(self, ident: str, since_ms: int) -> list[dict[str, Any]]:
        marker = f"/{ident}/overdue#"
        return [{k: e[k] for k in ("seq", "ts_ms", "event", "from_state", "to_state", "user",
                                   "note", "hash")}
                for e in self.desk.journal
                if e["alarm_id"] == ident or marker in str(e["alarm_id"] or "")]

    def high_high_raises(self, since_ms: int) -> list[tuple[str, int, str]]:
        return [(e["key"], e["ts_ms"], e["alarm_id"]) for e in self.desk.journal
                if e["event"] == "raised" and e["ts_ms"] >= since_ms
                and str(e["key"]).endswith("/high_high")]

    def out_of_service_since(self, sid: str, since_ms: int) -> int | None:
        found = [e["ts_ms"] for e in self.desk.journal
                 if e["key"] == sid and e["event"] == "out_of_service" and e["ts_ms"] >= since_ms]
        return max(found) if found else None

    def put_file(self, sha256: str, data: bytes) -> None:
        self._files[sha256] = data

    def get_file(self, sha256: str) -> bytes | None:
        return self._files.get(sha256)


@dataclass(frozen=True, slots=True)
class NewDanger:
    """What a new record says (the API checks lengths and enums)."""

    site: str
    area: str
    description: str
    grade: str
    source: str
    found_by: str
    found_ms: int | None = None
    lat: float | None = None
    lon: float | None = None
    links: tuple[str, ...] = ()
    owner_enterprise: str | None = None
    owner_bureau: str | None = None
    deadline_ms: int | None = None
    measures: str | None = None
    cause: str | None = None


@dataclass(slots=True)
class _Pending:
    out: Output = field(default_factory=Output)
    occurrences: dict[str, OccurrenceRecord] = field(default_factory=dict)
    counts: dict[str, int] = field(default_factory=dict)  # new numbers per site


class DangerBook:
    def __init__(
        self,
        *,
        backend: Backend,
        lock: threading.RLock,
        clock: Callable[[], int],
        engine: Callable[[], Engine],
        registry: Callable[[], Registry],
        tell: Callable[[Output], None],
    ) -> None:
        self.backend = backend
        self.lock = lock
        self._clock = clock
        self._engine = engine
        self._registry = registry
        self._tell = tell
        self._oos: dict[tuple[str, int], int] = {}  # (sensor, until_ms): out of service since

    # -- reads ---------------------------------------------------------------------------

    def now_ms(self) -> int:
        return int(self._clock())

    def records(self, *, site: str | None = None) -> list[Doc]:
        with self.lock:
            now_ms = int(self._clock())
            return [model.public(d, now_ms) for d in self.backend.records(site)]

    def get(self, ident: str) -> Doc:
        """The record, its derived `overdue` and its history (journal entries)."""
        with self.lock:
            doc = self._record(ident)
            history = self.backend.history(ident, int(doc.get("found_ms") or 0) - DAY_MS)
            return {**model.public(doc, int(self._clock())), "history": history}

    def site_of(self, ident: str) -> str | None:
        with self.lock:
            doc = self.backend.record(ident)
        return None if doc is None else str(doc["site"])

    def file(self, ident: str, sha256: str) -> tuple[bytes, str, str]:
        """(content, type, name) of a file of the record's evidence."""
        with self.lock:
            doc = self._record(ident)
            found = [e for e in doc["evidence"] if e.get("sha256") == sha256]
            data = self.backend.get_file(sha256) if found else None
        if not found or data is None:
            raise UnknownDanger(f"{ident} evidence {sha256}")
        return data, str(found[0]["mime"]), str(found[0]["name"])

    # -- changes -------------------------------------------------------------------------

    def create(self, new: NewDanger, *, user: str, note: str | None) -> Doc:
        with self.lock:
            now_ms = int(self._clock())
            pending = _Pending()
            ident = self._open(pending, new, user=user, note=note, now_ms=now_ms)
            self._commit(pending, now_ms)
            return self.get(ident)

    def act(self, ident: str, action: str, *, user: str, note: str | None,
            **fields: Any) -> Doc:
        """One action of the loop (model.ACTIONS) by `user`, with its fields (`order`:
        deadline_ms, owner_enterprise, owner_bureau, measures; `evidence`: text)."""
        if action not in ACTIONS or ACTIONS[action].by == HAZMON:
            raise IllegalDangerAction("any", action, ident)
        with self.lock:
            now_ms = int(self._clock())
            doc = self._record(ident)
            delta: Doc = {k: v for k, v in fields.items() if v is not None and k != "text"}
            if action == "evidence":
                text = str(fields.get("text") or "").strip()
                if not text:
                    raise BadEvidence("evidence needs a text")
                self._room_for_evidence(doc)
                delta = {"evidence": {"kind": "text", "text": text, "by": user, "ts_ms": now_ms}}
            deadline = delta.get("deadline_ms")
            if action == "order" and deadline is not None and int(deadline) <= now_ms:
                raise BadEvidence("a deadline in the future")
            if action == "submit":
                delta["submitted_ms"] = now_ms
            if action == "accept":
                delta |= {"closed_ms": now_ms, "closed_by": user}
            pending = _Pending()
            self._entry(pending, doc, action, model.step(doc, action), delta, user, note, now_ms)
            self._commit(pending, now_ms)
            return self.get(ident)

    def add_file(self, ident: str, *, name: str, data: bytes, user: str) -> Doc:
        """A photo or document of the rectification: JPEG, PNG or PDF by its first bytes,
        at most `hidden_dangers.evidence_max_bytes`, kept under its sha256."""
        limits = self._registry().hidden_dangers
        shown = safe_name(name)
        if len(data) > limits.evidence_max_bytes:
            raise EvidenceTooLarge(f"a file of at most {limits.evidence_max_bytes} bytes; "
                                   f"got {len(data)}")
        mime = sniff(data)
        if mime is None:
            raise EvidenceType("a JPEG, PNG or PDF file (by its content)")
        sha = hashlib.sha256(data).hexdigest()
        with self.lock:
            now_ms = int(self._clock())
            doc = self._record(ident)
            self._room_for_evidence(doc)
            model.step(doc, "evidence")
            self.backend.put_file(sha, data)
            item = {"kind": "file", "name": shown, "sha256": sha, "size": len(data),
                    "mime": mime, "by": user, "ts_ms": now_ms}
            pending = _Pending()
            self._entry(pending, doc, "evidence", str(doc["state"]), {"evidence": item}, user,
                        f"证据文件 {shown}", now_ms)
            self._commit(pending, now_ms)
            return self.get(ident)

    def owns_alarm(self, alarm_id: str) -> bool:
        parts = alarm_id.split("/")
        return len(parts) == 3 and parts[1].startswith("HD-") and parts[2].startswith("overdue#")

    def ack_alarm(self, alarm_id: str, *, user: str, note: str | None) -> Doc:
        """Acknowledge the critical alarm of an overdue major danger (unack -> acked); it
        ends when the danger is no longer overdue."""
        with self.lock:
            now_ms = int(self._clock())
            ident = alarm_id.split("/")[1]
            doc = self.backend.record(ident)
            alarm = (doc or {}).get("alarm") or {}
            if doc is None or alarm.get("alarm_id") != alarm_id:
                raise UnknownDanger(alarm_id)
            if alarm.get("state") != "unack":
                raise IllegalDangerAction(str(alarm.get("state")), "ack", alarm_id)
            pending = _Pending()
            alarm = {**alarm, "state": "acked", "acked_ms": now_ms, "acked_by": user}
            self._alarm_event(pending, doc, alarm, "acked", "unack", "acked", now_ms, note, user)
            self._entry(pending, doc, "alarm_acked", str(doc["state"]), {"alarm": alarm}, user,
                        note, now_ms)
            self._commit(pending, now_ms)
            return self._alarm_public(alarm, pending)

    # -- the periodic job --------------------------------------------------------------------

    def tick(self) -> Output:
        """Rules, overdue escalation, grade floors; what it caused is told."""
        with self.lock:
            now_ms = int(self._clock())
            pending = _Pending()
            records = self.backend.records()
            self._rules(pending, records, now_ms)
            records = self.backend.records() if pending.out.events else records
            self._overdue(pending, records, now_ms)
            self._commit(pending, now_ms)
            return pending.out

    def refresh_floors(self) -> Output:
        """The sites' grade floors to the engine (after the desk rebuilt it)."""
        with self.lock:
            now_ms = int(self._clock())
            out = self._engine().set_floors(
                model.site_floor(self.backend.records(), now_ms), now_ms)
        self._tell(out)
        return out

    # -- inside (the lock is held) -------------------------------------------------------------

    def _record(self, ident: str) -> Doc:
        doc = self.backend.record(ident)
        if doc is None:
            raise UnknownDanger(ident)
        return doc

    def _room_for_evidence(self, doc: Doc) -> None:
        most = self._registry().hidden_dangers.evidence_per_danger
        if len(doc.get("evidence", [])) >= most:
            raise BadEvidence(f"at most {most} pieces of evidence per hidden danger")

    def _open(self, pending: _Pending, new: NewDanger, *, user: str, note: str | None,
              now_ms: int) -> str:
        number = pending.counts.get(new.site, self.backend.count(new.site)) + 1
        pending.counts[new.site] = number
        ident = model.danger_id(new.site, number)
        doc: Doc = {
            "id": ident, "site": new.site, "area": new.area, "lat": new.lat, "lon": new.lon,
            "description": new.description, "grade": new.grade, "source": new.source,
            "links": list(new.links), "cause": new.cause, "cause_ended_ms": None,
            "found_by": new.found_by, "found_ms": new.found_ms or now_ms,
            "owner_enterprise": new.owner_enterprise, "owner_bureau": new.owner_bureau,
            "deadline_ms": new.deadline_ms, "measures": new.measures, "opened_by": user,
            "opened_ms": now_ms, "state": "open",
        }
        self._entry(pending, {"id": ident, "site": new.site, "state": None}, "opened", "open",
                    doc, user, note or new.description, now_ms)
        return ident

    def _entry(self, pending: _Pending, doc: Doc, action: str, to: str, delta: Doc,
               user: str, note: str | None, now_ms: int) -> None:
        site, ident = str(doc["site"]), str(doc["id"])
        pending.out.events.append(Event(
            key=model.key_of(site, ident), site=site, event=f"{model.EVENT_PREFIX}{action}",
            ts_ms=now_ms, alarm_id=ident, sensor=ident, condition="hidden_danger",
            from_state=doc.get("state"), state=to,
            value=json.dumps(delta, ensure_ascii=False, sort_keys=True), user=user, note=note,
            published=False))

    def _commit(self, pending: _Pending, now_ms: int) -> None:
        if pending.out.events:
            self.backend.commit(pending.out, pending.occurrences, now_ms)
        floors = model.site_floor(self.backend.records(), now_ms)
        engine = self._engine()
        if floors != engine.floors:
            pending.out.extend(engine.set_floors(floors, now_ms))
        self._tell(pending.out)

    def _rules(self, pending: _Pending, records: list[Doc], now_ms: int) -> None:
        registry = self._registry()
        config = registry.hidden_dangers.rules
        window_ms = int(config.repeat_high_high.window_s * 1000)
        plant = self._engine().plant
        found = rules.findings(plant, config, self.backend.high_high_raises(now_ms - window_ms),
                               now_ms, oos_since=self._oos_since(registry, now_ms))
        open_causes = {str(d["cause"]): d for d in records
                       if d.get("cause") and d.get("cause_ended_ms") is None}
        for cause in sorted(set(found) - set(open_causes)):
            f = found[cause]
            self._open(pending, NewDanger(
                site=f.site, area=f.area or "", description=f.description, grade=f.grade,
                source="hazmon", found_by=HAZMON, found_ms=now_ms, links=f.links,
                deadline_ms=now_ms + int(f.deadline_days * DAY_MS), cause=cause,
            ), user=HAZMON, note=f"规则 {f.rule}：{cause}", now_ms=now_ms)
        for cause in sorted(set(open_causes) - set(found)):
            doc = open_causes[cause]
            ended = "条件已结束（hazmon 自动记录）：" + cause
            delta = {"cause_ended_ms": now_ms,
                     "evidence": {"kind": "text", "text": ended, "by": HAZMON, "ts_ms": now_ms}}
            to = str(doc["state"])
            if to in ACTIONS["cause_ended"].allowed:
                to = model.step(doc, "cause_ended")
                if to == "submitted" and doc["state"] != "submitted":
                    delta["submitted_ms"] = now_ms
            self._entry(pending, doc, "cause_ended", to, delta, HAZMON, ended, now_ms)

    def _oos_since(self, registry: Registry, now_ms: int) -> dict[str, int]:
        since: dict[str, int] = {}
        span_ms = int(registry.out_of_service.max_hours * 3_600_000) + DAY_MS
        for sid, state in self._engine().plant.sensors.items():
            if state.oos_until_ms is None:
                continue
            key = (sid, state.oos_until_ms)
            if key not in self._oos:
                found = self.backend.out_of_service_since(sid, now_ms - span_ms)
                self._oos[key] = found if found is not None else now_ms
            since[sid] = self._oos[key]
        return since

    def _overdue(self, pending: _Pending, records: list[Doc], now_ms: int) -> None:
        escalation = self._registry().escalation
        for doc in records:
            alarm = doc.get("alarm") or {}
            late = model.overdue(doc, now_ms)
            if alarm.get("alarm_id") and alarm.get("state") != "normal" and not late:
                self._end_alarm(pending, doc, alarm, now_ms)
                continue
            if late and alarm.get("state") == "unack" and (
                    doc.get("overdue_deadline_ms") == doc.get("deadline_ms")):
                self._escalate(pending, doc, alarm, escalation, now_ms)
                continue
            if not late or doc.get("overdue_deadline_ms") == doc.get("deadline_ms"):
                continue
            major = doc.get("grade") == "major"
            note = (f"{'重大' if major else '一般'}隐患逾期未整改（期限 "
                    f"{ledger.when(doc.get('deadline_ms'))}）：{doc.get('description')}")
            delta: Doc = {"overdue_deadline_ms": doc["deadline_ms"], "overdue_ms": now_ms}
            number = int(doc.get("overdue_count") or 0) + 1
            if major:
                alarm_id = f"{model.alarm_key(doc['site'], doc['id'])}#{number}"
                alarm = {"alarm_id": alarm_id, "state": "unack", "raised_ms": now_ms,
                         "acked_ms": None, "acked_by": None}
                delta |= {"alarm": alarm, "overdue_count": number}
                wire = self._alarm_event(pending, doc, alarm, "raised", "normal", "unack",
                                         now_ms, note, None)
            self._entry(pending, doc, "overdue", str(doc["state"]), delta, HAZMON, note, now_ms)
            if not major:
                wire = pending.out.events[-1].wire()
            tiers = escalation.tiers(Priority.critical if major else Priority.high)
            for recipient in tiers[0].notify if tiers else []:
                pending.out.notify.append(NotifyRequest(
                    f"{doc['id']}|overdue@{doc['deadline_ms']}|{recipient}", recipient,
                    str(wire["alarm_id"]), str(wire["key"]), str(doc["site"]), 1, wire))

    def _escalate(self, pending: _Pending, doc: Doc, alarm: Doc, escalation: Any,
                  now_ms: int) -> None:
        """The overdue alarm of a major danger, unacknowledged, goes up the tiers of
        `critical` as a process alarm does (hazmon.alarms.core.escalation): tier k once it
        has waited its `after_s` since it was raised, then the last tier every
        `repeat_s`; one step per tick, its progress kept with the alarm."""
        tiers = escalation.tiers(Priority.critical)
        step = int(alarm.get("esc_done") or 1)  # tier 1 was told when it was raised
        if not tiers:
            return
        last = alarm.get("esc_last_ms")
        due_ms, tier = core_escalation.due(
            tiers, step, since_ms=int(alarm["raised_ms"]),
            last_ms=int(last) if last is not None else None,
            repeat_ms=int(escalation.repeat_s * 1000))
        if now_ms < due_ms:
            return
        note = core_escalation.step_note(step, len(tiers), tier)
        alarm = {**alarm, "esc_done": step + 1, "esc_last_ms": now_ms}
        wire = self._alarm_event(pending, doc, alarm, "escalated", "unack", "unack", now_ms,
                                 note, None)
        self._entry(pending, doc, "alarm_escalated", str(doc["state"]), {"alarm": alarm},
                    HAZMON, note, now_ms)
        for recipient in tier.notify:
            pending.out.notify.append(NotifyRequest(
                f"{alarm['alarm_id']}|s{step}|{recipient}", recipient, str(alarm["alarm_id"]),
                str(wire["key"]), str(doc["site"]), min(step, len(tiers) - 1) + 1, wire))

    def _end_alarm(self, pending: _Pending, doc: Doc, alarm: Doc, now_ms: int) -> None:
        before = str(alarm["state"])
        ended = {**alarm, "state": "normal", "ended_ms": now_ms}
        note = "隐患不再逾期（已提交、已销号或期限已更新）"
        self._alarm_event(pending, doc, ended, "cleared", before, "normal", now_ms, note, None)
        self._entry(pending, doc, "alarm_ended", str(doc["state"]), {"alarm": ended}, HAZMON,
                    note, now_ms)

    def _alarm_event(self, pending: _Pending, doc: Doc, alarm: Doc, name: str, before: str,
                     to: str, now_ms: int, note: str | None, user: str | None) -> Doc:
        site, ident = str(doc["site"]), str(doc["id"])
        key = model.alarm_key(site, ident)
        event = Event(key=key, site=site, event=name, ts_ms=now_ms, alarm_id=alarm["alarm_id"],
                      sensor=ident, condition="overdue", priority="critical",
                      from_state=before, state=to, note=note, user=user,
                      value=str(doc.get("description") or "")[:200])
        pending.out.events.append(event)
        wire = event.wire()
        ended = now_ms if to == "normal" else None
        pending.occurrences[str(alarm["alarm_id"])] = OccurrenceRecord(
            str(alarm["alarm_id"]), key, site, "critical", int(alarm["raised_ms"]), ended,
            {"alarm_id": alarm["alarm_id"], "raised_ms": alarm["raised_ms"], "latest": wire,
             "acked_ms": alarm.get("acked_ms"), "acked_by": alarm.get("acked_by"),
             "ended_ms": ended})
        return wire

    @staticmethod
    def _alarm_public(alarm: Doc, pending: _Pending) -> Doc:
        record = pending.occurrences[str(alarm["alarm_id"])]
        return {**record.doc["latest"], "raised_ms": record.raised_ms,
                "acked_ms": alarm.get("acked_ms"), "acked_by": alarm.get("acked_by"),
                "shelved_until_ms": None}
