"""The tamper-evident journal: chain, verify (edit, delete, insert, reorder: each found
at the right entry), anchors for a cut-off tail, and the exports."""

from __future__ import annotations

import csv
import io
import itertools
import json
import sqlite3
import tempfile
from contextlib import closing
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hazmon.alarms import state_db as db
from hazmon.alarms.journal import anchors
from hazmon.alarms.journal import chain as journal
from hazmon.alarms.journal.anchors import Anchor
from hazmon.alarms.journal.chain import (
    ALL_COLUMNS,
    FIELDS,
    GENESIS,
    Verification,
    canonical_json,
    entry_hash,
)
from hazmon.alarms.journal.export import csv_cell, verify_jsonl
from hazmon.alarms.sqlite_desk import export_journal, verify_journal
from tests.alarms.journal_helpers import T0, build, rehash, rewrite, rows, tamper


def test_the_chain_links_every_entry_to_the_one_before(tmp_path: Path) -> None:
    path = build(tmp_path, 10)
    entries = rows(path)
    assert [e["seq"] for e in entries] == list(range(1, 11))
    assert entries[0]["prev"] == GENESIS
    for before, entry in itertools.pairwise(entries):
        assert entry["prev"] == before["hash"]
    body = {f: entries[3][f] for f in FIELDS}
    assert entries[3]["hash"] == entry_hash(entries[3]["prev"], body)
    result = verify_journal(path, None)
    assert (result.ok, result.entries, result.first_bad) == (True, 10, None)


def test_canonical_json_is_sorted_compact_utf8() -> None:
    text = canonical_json({"b": 1, "a": "罐区", "c": None, "d": 55.0})
    assert text == '{"a":"罐区","b":1,"c":null,"d":55.0}'


@pytest.mark.parametrize(
    ("kind", "k"),
    [("edit", 5), ("edit_rehashed", 5), ("delete", 5), ("delete_renumbered", 5),
     ("insert", 5), ("reorder", 5), ("edit", 1), ("insert", 1), ("reorder", 9),
     ("delete_renumbered", 1)],
)
def test_tampering_is_found_at_the_right_entry(tmp_path: Path, kind: str, k: int) -> None:
    path = build(tmp_path, 10)
    tamper(path, kind, k)
    result = verify_journal(path, None)
    assert (result.ok, result.first_bad) == (False, k), result.reason
    assert result.reason


@settings(max_examples=40, deadline=None)
@given(
    st.integers(3, 25).flatmap(lambda n: st.tuples(st.just(n), st.integers(1, n - 1))),
    st.sampled_from(["edit", "edit_rehashed", "delete", "delete_renumbered", "insert",
                     "reorder"]),
)
def test_any_single_tampering_is_found_at_its_entry(nk: tuple[int, int], kind: str) -> None:
    n, k = nk
    with tempfile.TemporaryDirectory() as tmp:
        path = build(Path(tmp), n)
        tamper(path, kind, k)
        assert verify_journal(path, None).first_bad == k


def test_a_cut_off_tail_is_found_with_the_anchor_and_named(tmp_path: Path) -> None:
    path = build(tmp_path, 10)
    head = rows(path)[-1]
    anchor = Anchor(10, head["hash"], T0, "store journal_head")
    rewrite(path, rows(path)[:7])
    assert verify_journal(path, None).ok  # a shorter chain is still a chain
    result = verify_journal(path, anchor)
    assert (result.ok, result.first_bad) == (False, 8)
    assert "store journal_head" in (result.reason or "")
    assert result.answer()["anchor"]["source"] == "store journal_head"


def test_a_chain_rewritten_from_scratch_does_not_match_the_anchor(tmp_path: Path) -> None:
    path = build(tmp_path, 10)
    entries = rows(path)
    anchor = Anchor(8, entries[7]["hash"], T0, "file")
    entries[4]["note"] = "rewritten"
    rehash(entries, 4)
    rewrite(path, entries)
    assert verify_journal(path, None).ok
    result = verify_journal(path, anchor)
    assert (result.ok, result.first_bad) == (False, 8)


def test_an_anchor_behind_the_head_is_fine(tmp_path: Path) -> None:
    path = build(tmp_path, 10)
    anchor = Anchor(6, rows(path)[5]["hash"], T0, "file")
    result = verify_journal(path, anchor).answer()
    assert (result["ok"], result["entries"], result["anchor"]["seq"]) == (True, 10, 6)


def test_no_anchor_outranks_another_the_highest_seq_is_the_bar() -> None:
    older, newer = Anchor(5, "b" * 64, T0, "x"), Anchor(3, "a" * 64, T0 + 60_000, "y")
    assert anchors.highest([None, newer, older]) == older  # seq, not time
    blind = Anchor(0, "", 9007199254740991, "file")
    assert anchors.highest([blind]) is None
    assert anchors.split([blind, older]) == ([older], [blind])


def test_the_file_anchor_is_its_highest_seq_since_the_last_rebase(tmp_path: Path) -> None:
    anchors.write_file(tmp_path, Anchor(3, "a" * 64, T0, "x"))
    anchors.write_file(tmp_path, Anchor(5, "b" * 64, T0 + 1, "x"))
    with (tmp_path / anchors.ANCHOR_FILE).open("a") as f:
        f.write('{"seq": 4, "hash": "' + "c" * 64 + '", "ts_ms": 9007199254740991}\n')
        f.write('{"seq": 0, "hash": "", "ts_ms": 9007199254740991}\n')
        f.write('{"seq": 9, "ha')  # a torn last line
    found, ignored = anchors.read_file_all(tmp_path)
    assert found is not None and (found.seq, found.hash) == (5, "b" * 64)
    assert [(a.seq, a.hash) for a in ignored] == [(0, "")]
    anchors.write_rebase(tmp_path, Anchor(2, "d" * 64, T0 + 2), was_seq=5)
    found = anchors.read_file(tmp_path)
    assert found is not None and (found.seq, found.hash) == (2, "d" * 64)
    assert (tmp_path / anchors.ANCHOR_FILE).stat().st_mode & 0o777 == 0o600


def verify_journal_against(path: Path, found: list[Anchor]) -> Verification:
    conn = db.connect(path, readonly=True)
    try:
        return journal.verify(journal.rows(conn), found)
    finally:
        conn.close()


def test_verify_requires_every_anchor_not_only_the_highest(tmp_path: Path) -> None:
    path = build(tmp_path, 10)
    entries = rows(path)
    good = Anchor(10, entries[9]["hash"], T0, "mqtt")
    assert verify_journal_against(path, [good]).ok
    wrong_lower = Anchor(6, "0" * 64, T0 + 10**9, "file")
    result = verify_journal_against(path, [good, wrong_lower])
    assert (result.ok, result.first_bad) == (False, 6)
    assert "file" in (result.reason or "")
    ahead = Anchor(12, "e" * 64, 1, "file")
    result = verify_journal_against(path, [good, ahead])
    assert (result.ok, result.first_bad) == (False, 11)
    answer = verify_journal_against(path, [good, Anchor(0, "", 2**53, "file")]).answer()
    assert answer["ok"] and answer["ignored_anchors"][0]["seq"] == 0
    assert [a["source"] for a in answer["anchors"]] == ["mqtt"]


def test_behind_names_both_seqs_or_the_rewritten_entry(tmp_path: Path) -> None:
    path = build(tmp_path, 10)
    entries = {e["seq"]: e["hash"] for e in rows(path)}
    anchor = Anchor(10, entries[10], T0, "mqtt hazmon/v1/journal/head (retained)")
    assert anchors.behind(10, entries.get, [anchor, None]) == []
    (problem,) = anchors.behind(7, entries.get, [anchor])
    assert "ends at entry 7" in problem and "has entry 10" in problem and "mqtt" in problem
    (problem,) = anchors.behind(10, lambda _seq: "f" * 64, [anchor])
    assert "entry 10" in problem and "does not match" in problem


def test_jsonl_export_keeps_every_field_exactly_and_re_verifies(tmp_path: Path) -> None:
    path = build(tmp_path, 14)
    lines = "".join(export_journal(path, from_ms=None, to_ms=None, site=None,
                                   fmt="jsonl")).splitlines()
    assert [json.loads(line) for line in lines] == rows(path)
    assert list(json.loads(lines[0])) == list(ALL_COLUMNS)
    assert "罐区A" in "".join(lines)  # UTF-8, not \\u escapes
    assert verify_jsonl(lines).ok
    forged = json.loads(lines[6])
    forged["value"] = 1.0
    lines[6] = json.dumps(forged)
    assert verify_jsonl(lines).first_bad == 7


def test_csv_export_is_for_people_and_safe_in_a_spreadsheet(tmp_path: Path) -> None:
    path = build(tmp_path, 14)
    text = "".join(export_journal(path, from_ms=None, to_ms=None, site=None, fmt="csv"))
    table = list(csv.reader(io.StringIO(text)))
    assert table[0] == list(ALL_COLUMNS)
    cells = {c: [row[i] for row in table[1:]] for i, c in enumerate(table[0])}
    assert cells["seq"][:3] == ["1", "2", "3"]
    assert "-5.0" in cells["value"]  # a negative number stays a number
    assert "'=HYPERLINK(\"x\")" in cells["note"]
    assert {"'+1 call", "'@ops", "'-2"} <= set(cells["note"])
    assert "line\nbreak" in cells["note"]
    assert all(not cell.startswith(("=", "+", "-", "@")) for cell in cells["note"])
    assert csv_cell(None) == "" and csv_cell(3) == 3 and csv_cell("tripped") == "tripped"


def test_exports_filter_by_time_and_site(tmp_path: Path) -> None:
    path = build(tmp_path, 10)
    lines = "".join(export_journal(path, from_ms=T0 + 2_000, to_ms=T0 + 4_000, site="s1",
                                  fmt="jsonl")).splitlines()
    assert [json.loads(line)["seq"] for line in lines] == [3, 4, 5]
    none = "".join(export_journal(path, from_ms=None, to_ms=None, site="other", fmt="jsonl"))
    assert none == ""


@pytest.mark.parametrize(
    ("sql", "args", "bad"),
    [
        ("UPDATE journal SET value = ? WHERE seq = 3", (b"\x00\x01",), 3),  # a blob
        ("UPDATE journal SET note = CAST(? AS TEXT) WHERE seq = 2", (b"\xff\xfe",), 2),
    ],
    ids=["blob", "not-utf8"],
)
def test_values_no_writer_makes_are_reported_and_exported(
    tmp_path: Path, sql: str, args: tuple[bytes, ...], bad: int
) -> None:
    path = build(tmp_path, 6)
    with closing(sqlite3.connect(path)) as conn, conn:
        conn.execute(sql, args)
    result = verify_journal(path, None)
    assert (result.ok, result.first_bad) == (False, bad)
    for fmt in ("jsonl", "csv"):  # exports still work, showing what is there
        assert "".join(export_journal(path, from_ms=None, to_ms=None, site=None, fmt=fmt))


def test_a_jsonl_export_with_a_broken_seq_is_reported() -> None:
    good = {"seq": 1, "ts_ms": 1, "alarm_id": None, "key": "k", "event": "note",
            "from_state": None, "to_state": None, "value": None, "user": None, "note": None,
            "site": "s1", "prev": GENESIS}
    good["hash"] = entry_hash(GENESIS, {f: good[f] for f in FIELDS})
    assert verify_jsonl([json.dumps(good)]).ok
    assert verify_jsonl([json.dumps({**good, "seq": "1"})]).first_bad == 1
    assert verify_jsonl([json.dumps(good), json.dumps(good)]).first_bad == 2


def test_a_cluster_export_is_verified_chain_by_chain(tmp_path: Path) -> None:
    """A cluster's export interleaves the partitions' chains by time, each entry naming
    its chain: each chain verifies from its own first entry, and a forged entry is
    reported with its chain's name."""
    from hazmon.alarms.journal.export import CHAIN, export

    a, b = rows(build(tmp_path / "a", 6)), rows(build(tmp_path / "b", 4))
    merged = sorted([{**r, CHAIN: "p0"} for r in a] + [{**r, CHAIN: "p1"} for r in b],
                    key=lambda r: (r["ts_ms"], r[CHAIN]))
    lines = "".join(export(merged, "jsonl", (CHAIN, *ALL_COLUMNS))).splitlines()
    assert list(json.loads(lines[0])) == [CHAIN, *ALL_COLUMNS]
    assert {json.loads(line)[CHAIN] for line in lines} == {"p0", "p1"}
    found = verify_jsonl(lines)
    assert found.ok and found.entries == 10
    at = next(i for i, line in enumerate(lines) if json.loads(line)[CHAIN] == "p1"
              and json.loads(line)["seq"] == 3)
    forged = json.loads(lines[at])
    forged["note"] = "rewritten"
    lines[at] = json.dumps(forged)
    found = verify_jsonl(lines)
    assert (found.ok, found.first_bad) == (False, 3)
    assert found.reason is not None and found.reason.startswith("chain p1: ")
    header = next(csv.reader(io.StringIO("".join(export(merged, "csv",
                                                         (CHAIN, *ALL_COLUMNS))))))
    assert header == [CHAIN, *ALL_COLUMNS]
