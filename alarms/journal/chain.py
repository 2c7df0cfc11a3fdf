"""The tamper-evident alarm journal (docs/alarms.md, "Journal"): an append-only hash chain
in SQLite.

Each entry has the fields of `FIELDS` (docs/alarms.md's ten plus `site`), `prev` (the
previous entry's hash, 64 zeros for the first) and
`hash = sha256(prev + canonical_json(entry))`, where canonical JSON has sorted keys,
no whitespace, UTF-8 and non-ASCII characters as themselves (Python's
`json.dumps(entry, sort_keys=True, separators=(",", ":"), ensure_ascii=False)`).

`verify()` walks the chain and names the first entry that does not fit:
- an entry whose hash does not match its content: edited;
- a gap in `seq`: the first missing entry was deleted;
- an entry whose `prev` is not its predecessor's hash: if it equals the predecessor's
  own `prev`, the predecessor was inserted; if the entry itself is intact, the
  predecessor was edited (and re-hashed); otherwise this entry is out of place
  (reordered, or renumbered after a deletion).
A cut-off tail, or a chain rewritten from scratch, is still a chain: the anchors
(`anchors.py`) catch it. `verify()` requires the journal to reach every anchor given
(its seq, with the same hash there) and names the highest one it falls short of.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from hazmon.alarms.core.model import Event
from hazmon.alarms.journal import anchors as anchoring
from hazmon.alarms.journal.anchors import Anchor

FIELDS: tuple[str, ...] = (
    "seq", "ts_ms", "alarm_id", "key", "event", "from_state", "to_state", "value", "user",
    "note", "site",
)
ALL_COLUMNS: tuple[str, ...] = (*FIELDS, "prev", "hash")
GENESIS = "0" * 64

SCHEMA = """
CREATE TABLE IF NOT EXISTS journal (
    seq INTEGER PRIMARY KEY,
    ts_ms INTEGER NOT NULL,
    alarm_id TEXT,
    key TEXT NOT NULL,
    event TEXT NOT NULL,
    from_state TEXT,
    to_state TEXT,
    value,  -- no type: a number stays a number, a text a text
    user TEXT,
    note TEXT,
    site TEXT,
    prev TEXT NOT NULL,
    hash TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS journal_ts ON journal (ts_ms);
"""


def canonical_json(entry: Mapping[str, Any]) -> str:
    return json.dumps(entry, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def entry_hash(prev: str, entry: Mapping[str, Any]) -> str:
    return hashlib.sha256((prev + canonical_json(entry)).encode("utf-8")).hexdigest()


@dataclass(frozen=True, slots=True)
class Head:
    seq: int
    hash: str


def read_head(conn: sqlite3.Connection) -> Head:
    row = conn.execute("SELECT seq, hash FROM journal ORDER BY seq DESC LIMIT 1").fetchone()
    return Head(0, GENESIS) if row is None else Head(int(row[0]), str(row[1]))


def entry_of(event: Event, seq: int) -> dict[str, Any]:
    return {
        "seq": seq,
        "ts_ms": event.ts_ms,
        "alarm_id": event.alarm_id,
        "key": event.key,
        "event": event.event,
        "from_state": event.from_state,
        "to_state": event.state,
        "value": event.value,
        "user": event.user,
        "note": event.note,
        "site": event.site,
    }


def append(cur: sqlite3.Cursor, head: Head, events: Sequence[Event]) -> Head:
    """Append entries inside the caller's transaction; the new head."""
    rows = []
    seq, prev = head.seq, head.hash
    for event in events:
        seq += 1
        entry = entry_of(event, seq)
        digest = entry_hash(prev, entry)
        rows.append((*(entry[f] for f in FIELDS), prev, digest))
        prev = digest
    cur.executemany(
        f"INSERT INTO journal ({', '.join(ALL_COLUMNS)}) "
        f"VALUES ({', '.join('?' * len(ALL_COLUMNS))})",
        rows,
    )
    return Head(seq, prev)


def rows(
    conn: sqlite3.Connection,
    *,
    from_ms: int | None = None,
    to_ms: int | None = None,
    site: str | None = None,
    batch: int = 1000,
) -> Iterator[dict[str, Any]]:
    """Entries (with `prev` and `hash`) in `seq` order, fetched in batches."""
    where: list[str] = ["seq > ?"]
    args: list[Any] = []
    if from_ms is not None:
        where.append("ts_ms >= ?")
        args.append(from_ms)
    if to_ms is not None:
        where.append("ts_ms <= ?")
        args.append(to_ms)
    if site is not None:
        where.append("site = ?")
        args.append(site)
    sql = (
        f"SELECT {', '.join(ALL_COLUMNS)} FROM journal WHERE {' AND '.join(where)} "
        "ORDER BY seq LIMIT ?"
    )
    after = 0
    while True:
        found = conn.execute(sql, (after, *args, batch)).fetchall()
        for row in found:
            yield dict(zip(ALL_COLUMNS, row, strict=True))
        if len(found) < batch:
            return
        after = int(found[-1][0])


@dataclass(slots=True)
class Verification:
    ok: bool
    entries: int
    first_bad: int | None
    reason: str | None
    head: Head
    anchor: Anchor | None = None  # the highest anchor checked (or the one failed)
    checked: list[Anchor] = field(default_factory=list)
    ignored: list[Anchor] = field(default_factory=list)  # naming no entry

    def answer(self) -> dict[str, Any]:
        """The shape of docs/contract.md §7 `GET /api/v1/journal/verify`, plus reason, head,
        every anchor checked and those ignored."""
        return {
            "ok": self.ok,
            "entries": self.entries,
            "first_bad": self.first_bad,
            "reason": self.reason,
            "head": {"seq": self.head.seq, "hash": self.head.hash},
            "anchor": self.anchor.answer() if self.anchor else None,
            "anchors": [a.answer() for a in self.checked],
            "ignored_anchors": [a.answer() for a in self.ignored],
        }


class _Walk:
    """The chain check, one entry at a time."""

    def __init__(self, anchored: Iterable[int]) -> None:
        self.anchored = set(anchored)
        self.expected = 1
        self.prev_hash = GENESIS
        self.prev_row: dict[str, Any] | None = None
        self.entries = 0
        self.hash_at: dict[int, str] = {}

    def step(self, row: dict[str, Any]) -> tuple[int, str] | None:
        self.entries += 1
        seq = row.get("seq")
        if type(seq) is not int:
            return self.expected, f"entry {self.expected} has no valid seq ({seq!r})"
        if seq > self.expected:
            return self.expected, f"entry {self.expected} is missing (the next one is {seq})"
        if seq < self.expected:
            return self.expected, f"entry {seq} appears again after entry {self.expected - 1}"
        intact = _intact(row)
        problem = None
        if row["prev"] != self.prev_hash:
            problem = self._broken_link(seq, row["prev"], intact)
        elif not intact:
            problem = seq, f"entry {seq} does not match its hash: it was changed"
        if problem:
            return problem
        if seq in self.anchored:
            self.hash_at[seq] = row["hash"]
        self.prev_hash, self.prev_row = row["hash"], row
        self.expected += 1
        return None

    def _broken_link(self, seq: int, prev: str, intact: bool) -> tuple[int, str]:
        before = self.prev_row
        if before is not None and prev == before["prev"]:
            return seq - 1, f"entry {seq - 1} was inserted (entry {seq} links past it)"
        if before is not None and intact:
            return seq - 1, f"entry {seq - 1} was changed (entry {seq} links to another hash)"
        return seq, f"entry {seq} is out of place (it links to another predecessor)"


_PLAIN = (str, int, float, type(None))


def _intact(row: dict[str, Any]) -> bool:
    """Whether the row's hash matches its content; False for content no writer makes
    (a blob, text that is not UTF-8: see `text_or_bytes`)."""
    entry = {f: row.get(f) for f in FIELDS}
    prev, digest = row.get("prev"), row.get("hash")
    if not isinstance(prev, str) or not isinstance(digest, str):
        return False
    if not all(isinstance(v, _PLAIN) and not isinstance(v, bool) for v in entry.values()):
        return False
    try:
        return digest == entry_hash(prev, entry)
    except (TypeError, ValueError):  # e.g. lone surrogates that UTF-8 cannot encode
        return False


def text_or_bytes(raw: bytes) -> str | bytes:
    """SQLite text as str; bytes when it is not UTF-8 (only tampering makes that), so
    that verify reports the entry instead of failing to read it."""
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return raw


Anchors = Anchor | Iterable[Anchor | None] | None


def verify(entries: Iterable[dict[str, Any]], anchors: Anchors = None) -> Verification:
    """Recompute the chain and check that it reaches every anchor given (its seq, with
    the same hash there); a shortfall names the highest anchor it falls short of."""
    given = [anchors] if anchors is None or isinstance(anchors, Anchor) else list(anchors)
    usable, ignored = anchoring.split(given)
    top = usable[0] if usable else None
    walk = _Walk(a.seq for a in usable)
    for row in entries:
        problem = walk.step(row)
        if problem is not None:
            head = Head(walk.expected - 1, walk.prev_hash)
            return Verification(False, walk.entries, problem[0], problem[1], head, top,
                                usable, ignored)
    head = Head(walk.expected - 1, walk.prev_hash)
    found = Verification(True, walk.entries, None, None, head, top, usable, ignored)
    if top is not None and top.seq > head.seq:
        found.ok, found.first_bad = False, head.seq + 1
        found.reason = (f"the journal ends at entry {head.seq} but the anchor ({top.source}) "
                        f"has entry {top.seq}: entries were cut off")
        return found
    for anchor in reversed(usable):  # the lowest first: the earliest entry rewritten
        if walk.hash_at.get(anchor.seq) != anchor.hash:
            found.ok, found.first_bad, found.anchor = False, anchor.seq, anchor
            found.reason = (f"entry {anchor.seq} does not match the anchor ({anchor.source}): "
                            "the journal was rewritten up to there")
            return found
    return found
