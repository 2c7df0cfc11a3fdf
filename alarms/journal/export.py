"""Journal exports (docs/contract.md §7), streamed chunk by chunk.

- JSON lines keep every field exactly (`FIELDS`, `prev`, `hash`): what `verify` and
  auditors' own re-checks use. `verify_jsonl()` re-checks such a file.
- CSV is for people: header = the entry's field names, `prev`, `hash`; numbers as
  numbers; a text cell beginning with `=`, `+`, `-` or `@` gets a leading `'` so a
  spreadsheet does not run it.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterable, Iterator, Sequence
from typing import Any

from hazmon.alarms.journal.chain import ALL_COLUMNS, Anchors, Verification, verify

FORMULA_STARTS = ("=", "+", "-", "@")
CHUNK_ROWS = 500
CHAIN = "chain"  # a cluster's export: the partition chain of an entry ("p3")


def _chunks(rows: Iterable[dict[str, Any]]) -> Iterator[list[dict[str, Any]]]:
    chunk: list[dict[str, Any]] = []
    for row in rows:
        chunk.append(row)
        if len(chunk) >= CHUNK_ROWS:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def jsonl(rows: Iterable[dict[str, Any]], columns: Sequence[str] = ALL_COLUMNS
          ) -> Iterator[str]:
    for chunk in _chunks(rows):
        yield "".join(
            json.dumps({c: row[c] for c in columns}, ensure_ascii=False, default=_odd)
            + "\n"
            for row in chunk
        )


def _odd(value: Any) -> str:
    """A value no writer makes (a blob: the journal was tampered with), shown as hex."""
    return value.hex() if isinstance(value, bytes) else repr(value)


def csv_cell(value: Any) -> Any:
    """A CSV cell: numbers stay numbers, None is empty, formula-like text is defused."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return value
    text = _odd(value) if isinstance(value, bytes) else str(value)
    return "'" + text if text.startswith(FORMULA_STARTS) else text


def csv_text(rows: Iterable[dict[str, Any]], columns: Sequence[str] = ALL_COLUMNS
             ) -> Iterator[str]:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(columns)
    yield out.getvalue()
    for chunk in _chunks(rows):
        out.seek(0)
        out.truncate()
        writer.writerows([[csv_cell(row[c]) for c in columns] for row in chunk])
        yield out.getvalue()


def export(rows: Iterable[dict[str, Any]], fmt: str, columns: Sequence[str] = ALL_COLUMNS
           ) -> Iterator[str]:
    """`columns`: a cluster's export puts CHAIN first (the partition's chain of each
    entry)."""
    if fmt == "jsonl":
        return jsonl(rows, columns)
    if fmt == "csv":
        return csv_text(rows, columns)
    raise ValueError(f"format csv or jsonl, not {fmt!r}")


def verify_jsonl(lines: Iterable[str], anchors: Anchors = None) -> Verification:
    """Re-check a complete JSON lines export (from the first entry on) against the
    anchors given (each one must be reached). A cluster's export (entries naming their
    CHAIN) is checked chain by chain, each from its first entry (the anchors, if
    given, are of a single chain): the first chain that fails answers, its name in
    the reason; else every chain's entries are counted."""
    entries = [json.loads(line) for line in lines if line.strip()]
    chains: dict[str, list[dict[str, Any]]] = {}
    for entry in entries:
        chains.setdefault(str(entry.get(CHAIN, "")), []).append(entry)
    if len(chains) <= 1:
        return verify(entries, anchors)
    found: Verification | None = None
    for name, chain in chains.items():
        found = verify(chain, anchors)
        if not found.ok:
            found.reason = f"chain {name}: {found.reason}"
            return found
    assert found is not None
    found.entries = len(entries)
    return found
