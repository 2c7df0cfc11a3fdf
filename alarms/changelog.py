"""A partition's alarm state kept on the cluster (docs/scale-out.md, "Alarm state").

On JetStream the alarm database of a partition is a local copy: the truth is the
partition's changelog in the replicated stream (hazmon.bus.jetstream). Every commit of
the desk (`AlarmDb.commit`: journal entries, the state they changed, the outbox) is
first appended to the changelog as one record, with the changelog's expected last
sequence, and only then written to the local SQLite file. A worker that takes a
partition over builds a fresh local file by committing every record again in order
(`rebuild`), so journal, hash chain and state are those the previous owner committed;
it never reads the previous owner's disk.

A record is the arguments of one `AlarmDb.commit`, as JSON:
`{"v": 1, "by": "<worker>", "head": [seq, hash], "events": [...], "dirty": {...},
"outbox_add": [...], "outbox_done": [...], "now_ms": N}`, and `"request": "<id>"` when
it commits an operator request from an API instance (`REQUEST`); the record a new owner writes
to fence its predecessor out carries `"takeover": "<worker>"` and nothing to apply.
`head` is the partition's journal head (hash chain, alarms/journal/chain.py) once the
record is committed: the replicated stream holds the chain's anchor after every
commit, and `apply` refuses a record whose rebuilt chain does not reach it (a
changelog altered after the fact stops every replay: takeover and API copies alike).
"""

from __future__ import annotations

import contextlib
import tempfile
from collections.abc import Callable, Sequence
from contextvars import ContextVar
from dataclasses import asdict
from pathlib import Path
from typing import Any

import orjson

from hazmon.alarms.core.model import Dirty, Event, LastReading, NotifyRequest, OccurrenceRecord
from hazmon.alarms.journal import chain
from hazmon.alarms.journal.chain import Head
from hazmon.alarms.state_db import DB_FILE, SITE_DOC_FROM, SITE_DOC_SHARE, AlarmDb, connect
from hazmon.contract.errors import HazmonError

VERSION = 2  # 2: last readings split into documents and rows (`last_docs`, `last_rows`)
READABLE = frozenset({1, 2})

Writer = Callable[[bytes], None]  # appends one record or raises (Fenced: not the owner)

# The operator request (hazmon.alarms.remote's request id) whose commit is being
# written: its record names it, so that a new owner answers a retry of a request its
# predecessor committed without acting twice.
REQUEST: ContextVar[str | None] = ContextVar("hazmon_changelog_request", default=None)


def encode(
    events: Sequence[Event],
    dirty: Dirty,
    *,
    outbox_add: Sequence[NotifyRequest] = (),
    outbox_done: Sequence[str] = (),
    now_ms: int = 0,
    by: str = "",
    head: Head | None = None,
    request: str | None = None,
) -> bytes:
    return orjson.dumps(
        {
            "v": VERSION,
            "by": by,
            **({"request": request} if request is not None else {}),
            "head": [head.seq, head.hash] if head is not None else None,
            "events": [asdict(e) for e in events],
            "dirty": {
                "sensors": dirty.sensors,
                "points": dirty.points,
                "gateways": dirty.gateways,
                "occurrences": {k: asdict(o) for k, o in dirty.occurrences.items()},
                **_last(dirty),
            },
            "outbox_add": [r.doc() for r in outbox_add],
            "outbox_done": list(outbox_done),
            "now_ms": now_ms,
        },
        option=orjson.OPT_NON_STR_KEYS,
    )


def next_head(head: Head, events: Sequence[Event]) -> Head:
    """The journal's head once `events` are appended to a chain ending at `head`."""
    seq, prev = head.seq, head.hash
    for event in events:
        seq += 1
        prev = chain.entry_hash(prev, chain.entry_of(event, seq))
    return Head(seq, prev)


def request_of(data: bytes) -> str | None:
    """The operator request a record committed, if it names one."""
    if b'"request"' not in data:
        return None
    request = orjson.loads(data).get("request")
    return str(request) if request is not None else None


def snapshot_journal(data: bytes) -> list[dict[str, Any]]:
    """The journal entries a partition's snapshot (its database, as saved by the
    owner: hazmon.alarms.workers) holds, in order: what the trimmed changelog no longer
    has."""
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / DB_FILE
        path.write_bytes(data)
        with contextlib.closing(connect(path, readonly=True)) as conn:
            return list(chain.rows(conn))


def takeover(worker: str, now_ms: int) -> bytes:
    return orjson.dumps({"v": VERSION, "takeover": worker, "now_ms": now_ms})


class BadRecord(HazmonError, ValueError):
    """A changelog record this version cannot apply."""


def _last(dirty: Dirty) -> dict[str, Any]:
    """The record's last readings, split as the owner's database writes them
    (`AlarmDb._last_rows`), so that replaying the records rebuilds it exactly."""
    dirty.split_last(SITE_DOC_FROM, SITE_DOC_SHARE)
    return {"last_docs": dirty.last_docs, "last_rows": dirty.last_rows}


def record_last(dirty: dict[str, Any]) -> dict[str, LastReading]:
    """A record's last readings by sensor id, whichever version wrote it."""
    out = {sid: (r[0], r[1], r[2], r[3]) for sid, r in dirty.get("last", {}).items()}
    for gid, table in dirty.get("last_docs", {}).items():
        site = gid.partition("/")[0]
        out.update((f"{site}/{sensor}", (r[0], r[1], r[2], r[3]))
                   for sensor, r in table.items())
    out.update((sid, (r[0], r[1], r[2], r[3])) for sid, r in dirty.get("last_rows", {}).items())
    return out


def last_by_site(last: dict[str, list[Any]]) -> dict[str, dict[str, list[Any]]]:
    """A record's last readings (by sensor id) as `Dirty.last` holds them (by site)."""
    out: dict[str, dict[str, list[Any]]] = {}
    for sid, row in last.items():
        site, _, sensor = sid.partition("/")
        out.setdefault(site, {})[sensor] = list(row[:4])
    return out


def apply(db: AlarmDb, data: bytes) -> None:
    """Commit one record to a local database (no writer: it is already replicated)."""
    doc: dict[str, Any] = orjson.loads(data)
    if doc.get("v") not in READABLE:
        raise BadRecord(f"changelog record of version {doc.get('v')!r}, expected {VERSION}")
    if "takeover" in doc:
        return
    d = doc["dirty"]
    dirty = Dirty(
        sensors=d["sensors"],
        points=d["points"],
        gateways=d["gateways"],
        occurrences={k: OccurrenceRecord(**o) for k, o in d["occurrences"].items()},
        last=last_by_site(d.get("last", {})),
        last_docs=d.get("last_docs", {}),
        last_rows=d.get("last_rows", {}),
    )
    head = AlarmDb.commit(
        db,
        [Event(**e) for e in doc["events"]],
        dirty,
        outbox_add=[NotifyRequest.load(r) for r in doc["outbox_add"]],
        outbox_done=doc["outbox_done"],
        now_ms=doc["now_ms"],
    )
    named = doc.get("head")
    if named is not None and [head.seq, head.hash] != named:
        raise BadRecord(f"the journal rebuilt from the changelog reaches seq {head.seq} "
                        f"hash {head.hash[:12]}..., the record names seq {named[0]} hash "
                        f"{str(named[1])[:12]}...: the changelog was altered")


class ReplicatedDb(AlarmDb):
    """An AlarmDb whose every commit is appended to the changelog first: when the
    append is refused (`Fenced`) or fails, nothing is written locally and the error
    goes to the desk, which forgets what it evaluated (the messages stay unacknowledged)."""

    def __init__(self, data_dir: Path, writer: Writer, *, by: str = "") -> None:
        super().__init__(data_dir)
        self.writer = writer
        self.by = by

    def commit(
        self,
        events: Sequence[Event],
        dirty: Dirty,
        *,
        outbox_add: Sequence[NotifyRequest] = (),
        outbox_done: Sequence[str] = (),
        now_ms: int = 0,
    ) -> Head:
        self.writer(
            encode(events, dirty, outbox_add=outbox_add, outbox_done=outbox_done,
                   now_ms=now_ms, by=self.by, head=next_head(self.head, events),
                   request=REQUEST.get())
        )
        return super().commit(
            events, dirty, outbox_add=outbox_add, outbox_done=outbox_done, now_ms=now_ms
        )
