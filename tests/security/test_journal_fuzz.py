"""The journal verifier against random tampering with a real journal database.

`verify_journal` (hazmon.alarms.sqlite_desk: what the API, the CLI and auditors run) must never
raise, and whenever the rows differ from what was written it must say `ok: false`
with the first bad entry and a reason. The anchor of the untouched head is given, so
that a cut-off tail counts as a change too.
"""

from __future__ import annotations

import contextlib
import shutil
import sqlite3
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hazmon.alarms.core.model import Event
from hazmon.alarms.journal import chain as journal
from hazmon.alarms.journal.anchors import Anchor
from hazmon.alarms.sqlite_desk import verify_journal

ENTRIES = 12
COLUMNS = journal.ALL_COLUMNS


def _events() -> list[Event]:
    events = []
    for i in range(ENTRIES):
        key = f"jh-chem-01/GT-{100 + i % 3}/high"
        event = Event(
            key=key,
            site="jh-chem-01",
            event=("raised", "acked", "cleared")[i % 3],
            ts_ms=1_764_385_200_000 + i * 1000,
            alarm_id=f"{key}#{i // 3 + 1}",
            from_state="normal",
            state="unack",
            value=[20.5, None, 42][i % 3],
            user=[None, "zhang.wei", "=cmd|' /C calc'!A0"][i % 3],
            note=["", "checked\non site", None][i % 3],
        )
        events.append(event)
    return events


@pytest.fixture(scope="module")
def pristine() -> Iterator[tuple[Path, journal.Head]]:
    folder = Path(tempfile.mkdtemp(prefix="hazmon-journal-"))
    path = folder / "journal.db"
    conn = sqlite3.connect(path, isolation_level=None)
    conn.executescript(journal.SCHEMA)
    head = journal.append(conn.cursor(), journal.Head(0, journal.GENESIS), _events())
    conn.close()
    yield path, head
    shutil.rmtree(folder, ignore_errors=True)


def raw_rows(path: Path) -> list[tuple[Any, ...]]:
    conn = sqlite3.connect(path)
    conn.text_factory = bytes  # read what is there, even text that is not UTF-8
    try:
        typed = ", ".join(f"{c}, typeof({c})" for c in COLUMNS)  # 42 and 42.0 differ
        return conn.execute(f"SELECT {typed} FROM journal ORDER BY seq").fetchall()
    finally:
        conn.close()


sql_value = st.one_of(
    st.none(),
    st.integers(min_value=-(2**63), max_value=2**63 - 1),
    st.floats(allow_nan=False),
    st.text(max_size=20),
    st.sampled_from(["0" * 64, "raised", "acked", "zhang.wei", ""]),
    st.binary(max_size=8),  # a blob where text or a number was
)
column = st.sampled_from([c for c in COLUMNS if c != "seq"])
row = st.integers(1, ENTRIES)

tamper = st.one_of(
    st.tuples(st.just("update"), column, row, sql_value),
    st.tuples(st.just("not_utf8"), column, row, st.binary(min_size=1, max_size=8)),
    st.tuples(st.just("delete"), row),
    st.tuples(st.just("renumber"), row, st.integers(-5, ENTRIES + 5)),
    st.tuples(st.just("swap"), row, row),
    st.tuples(st.just("truncate"), row),
    st.tuples(st.just("insert_rehashed"), row, st.text(max_size=10)),
    st.tuples(st.just("edit_rehashed"), row, st.text(max_size=10)),
)


def apply(conn: sqlite3.Connection, op: tuple[Any, ...]) -> None:
    kind = op[0]
    if kind == "update":
        _, col, seq, value = op
        conn.execute(f"UPDATE journal SET {col} = ? WHERE seq = ?", (value, seq))
    elif kind == "not_utf8":  # bytes stored as TEXT: SQLite does not check the encoding
        _, col, seq, value = op
        conn.execute(f"UPDATE journal SET {col} = CAST(? AS TEXT) WHERE seq = ?", (value, seq))
    elif kind == "delete":
        conn.execute("DELETE FROM journal WHERE seq = ?", (op[1],))
    elif kind == "renumber":
        conn.execute("UPDATE journal SET seq = ? WHERE seq = ?", (op[2], op[1]))
    elif kind == "swap":
        conn.execute("UPDATE journal SET seq = -1000 WHERE seq = ?", (op[1],))
        conn.execute("UPDATE journal SET seq = ? WHERE seq = ?", (op[1], op[2]))
        conn.execute("UPDATE journal SET seq = ? WHERE seq = -1000", (op[2],))
    elif kind == "truncate":
        conn.execute("DELETE FROM journal WHERE seq >= ?", (op[1],))
    else:  # a forger who knows the hash rule: rewrite one entry, hash it right
        seq, note = op[1], op[2]
        found = conn.execute(f"SELECT {', '.join(COLUMNS)} FROM journal WHERE seq = ?", (seq,))
        try:
            fetched = found.fetchone()
        except sqlite3.OperationalError:
            return  # an earlier tampering left text that is not UTF-8: nothing to forge from
        if fetched is None or any(isinstance(v, bytes) for v in fetched):
            return
        entry = dict(zip(COLUMNS, fetched, strict=True))
        fields = {f: entry[f] for f in journal.FIELDS} | {"note": note}
        if kind == "insert_rehashed":
            conn.execute("UPDATE journal SET seq = seq + 1000 WHERE seq >= ?", (seq,))
            conn.execute("UPDATE journal SET seq = seq - 999 WHERE seq >= 1000")
        digest = journal.entry_hash(entry["prev"], fields)
        values = [*(fields[f] for f in journal.FIELDS), entry["prev"], digest]
        conn.execute(
            f"INSERT OR REPLACE INTO journal ({', '.join(COLUMNS)}) "
            f"VALUES ({', '.join('?' * len(COLUMNS))})",
            values,
        )


@pytest.mark.fuzz
@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow,
          HealthCheck.function_scoped_fixture])  # fmt: skip
@given(st.lists(tamper, min_size=1, max_size=4))
def test_verify_never_raises_and_finds_every_change(
    pristine: tuple[Path, journal.Head], ops: list[tuple[Any, ...]]
) -> None:
    source, head = pristine
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "journal.db"
        shutil.copy(source, path)
        conn = sqlite3.connect(path, isolation_level=None)
        for op in ops:
            with contextlib.suppress(sqlite3.IntegrityError):  # NOT NULL, a taken seq
                apply(conn, op)
        conn.close()
        anchor = Anchor(head.seq, head.hash, 0, "test")
        result = verify_journal(path, anchor)
        changed = raw_rows(path) != raw_rows(source)
    if changed:
        assert not result.ok, ops
        assert result.first_bad is not None and 1 <= result.first_bad <= ENTRIES + 1
        assert result.reason
    else:
        assert result.ok and result.first_bad is None


def test_the_untouched_journal_verifies(pristine: tuple[Path, journal.Head]) -> None:
    path, head = pristine
    result = verify_journal(path, Anchor(head.seq, head.hash, 0, "test"))
    assert result.ok and result.entries == ENTRIES


@pytest.mark.parametrize(
    ("sql", "args"),
    [
        ("UPDATE journal SET value = ? WHERE seq = 3", (b"\x00\x01",)),  # a blob
        ("UPDATE journal SET note = CAST(? AS TEXT) WHERE seq = 2", (b"\xff\xfe",)),
    ],
    ids=["blob", "not-utf8"],
)
def test_verify_reports_bytes_where_text_was(
    pristine: tuple[Path, journal.Head], tmp_path: Path, sql: str, args: tuple[Any, ...]
) -> None:
    path = tmp_path / "journal.db"
    shutil.copy(pristine[0], path)
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute(sql, args)
    conn.close()
    result = verify_journal(path, None)
    assert not result.ok and result.first_bad in (2, 3)
