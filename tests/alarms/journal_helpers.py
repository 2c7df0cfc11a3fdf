"""Build a journal on disk and tamper with it the way an attacker with SQLite would."""

from __future__ import annotations

import json
import sqlite3
from contextlib import closing
from pathlib import Path
from typing import Any

from hazmon.alarms.core.model import Dirty, Event
from hazmon.alarms.journal.chain import ALL_COLUMNS, FIELDS, GENESIS, entry_hash
from hazmon.alarms.state_db import DB_FILE, AlarmDb

T0 = 1_764_385_200_000


def sample_events(n: int, *, site: str = "s1") -> list[Event]:
    notes = [None, '=HYPERLINK("x")', "罐区A 泄漏, 已通知", "+1 call", "@ops", "-2",
             "line\nbreak"]
    values: list[float | str | None] = [55.0, -5.0, "tripped", None, 0.1, 12.0]
    return [
        Event(
            key=f"{site}/GT-{i % 3}/high", site=site, event="raised" if i % 2 else "acked",
            ts_ms=T0 + i * 1_000, alarm_id=f"{site}/GT-{i % 3}/high#{i}", gateway="gw1",
            sensor=f"GT-{i % 3}", condition="high", priority="high", from_state="normal",
            state="unack", value=values[i % len(values)], user="张伟" if i % 4 == 0 else None,
            note=notes[i % len(notes)],
        )
        for i in range(n)
    ]


def build(data_dir: Path, n: int) -> Path:
    db = AlarmDb(data_dir)
    events = sample_events(n)
    db.commit(events[: n // 2], Dirty())
    db.commit(events[n // 2 :], Dirty())
    db.close()
    return data_dir / DB_FILE


def rows(path: Path) -> list[dict[str, Any]]:
    with closing(sqlite3.connect(path)) as conn, conn:
        found = conn.execute(f"SELECT {', '.join(ALL_COLUMNS)} FROM journal ORDER BY seq")
        return [dict(zip(ALL_COLUMNS, r, strict=True)) for r in found]


def rewrite(path: Path, entries: list[dict[str, Any]]) -> None:
    with closing(sqlite3.connect(path)) as conn, conn:
        conn.execute("DELETE FROM journal")
        conn.executemany(
            f"INSERT INTO journal ({', '.join(ALL_COLUMNS)}) VALUES "
            f"({', '.join('?' * len(ALL_COLUMNS))})",
            [tuple(e[c] for c in ALL_COLUMNS) for e in entries],
        )


def rehash(entries: list[dict[str, Any]], start: int = 0) -> None:
    """Recompute prev and hash from position `start` on, as a careful forger would."""
    prev = entries[start - 1]["hash"] if start > 0 else GENESIS
    for entry in entries[start:]:
        entry["prev"] = prev
        entry["hash"] = prev = entry_hash(prev, {f: entry[f] for f in FIELDS})


def tamper(path: Path, kind: str, k: int) -> None:
    """Tamper with the entry at seq `k` (1-based): edit, delete, insert or reorder."""
    entries = rows(path)
    i = k - 1
    if kind == "edit":
        entries[i]["note"] = "nothing happened"
    elif kind == "edit_rehashed":
        entries[i]["note"] = "nothing happened"
        entries[i]["hash"] = entry_hash(entries[i]["prev"], {f: entries[i][f] for f in FIELDS})
    elif kind == "delete":
        del entries[i]
    elif kind == "delete_renumbered":
        del entries[i]
        for entry in entries[i:]:
            entry["seq"] -= 1
    elif kind == "insert":
        forged = dict(entries[i], note="forged", user="mallory")
        for entry in entries[i:]:
            entry["seq"] += 1
        entries.insert(i, forged)
        rehash(entries[: i + 1], i)  # the forged entry itself is well formed
    elif kind == "reorder":
        a, b = entries[i], entries[i + 1]
        entries[i], entries[i + 1] = dict(b, seq=a["seq"]), dict(a, seq=b["seq"])
    else:
        raise ValueError(kind)
    rewrite(path, entries)


# -- attacks on the anchors, by someone with the data folder ------------------------------


def cut_tail(path: Path, keep: int) -> None:
    """Delete every entry after seq `keep`: a shorter chain is still a chain."""
    rewrite(path, rows(path)[:keep])


def append_anchor_line(data_dir: Path, doc: dict[str, Any]) -> None:
    """Append one line to the anchor file, as a forger would."""
    from hazmon.alarms.journal.anchors import ANCHOR_FILE

    with (data_dir / ANCHOR_FILE).open("a", encoding="utf-8") as f:
        f.write(json.dumps(doc) + "\n")


def rewrite_everything(path: Path, note: str = "nothing happened") -> dict[str, Any]:
    """Edit every entry's note and re-hash the whole chain; the new head entry."""
    entries = rows(path)
    for entry in entries:
        entry["note"] = note
    rehash(entries)
    rewrite(path, entries)
    return entries[-1]
