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
from collections.abc import Iterable, Iterator
from typing import Any

from hazmon.alarms.journal.chain import ALL_COLUMNS, Anchors, Verification, verify

FORMULA_STARTS = ("=", "+", "-", "@")
CHUNK_ROWS = 500


def _chunks(rows: Iterable[dict[str, Any]]) -> Iterator[list[dict[str, Any]]]:
    chunk: list[dict[str, Any]] = []
    for row in rows:
        chunk.append(row)
        if len(chunk) >= CHUNK_ROWS:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def jsonl(rows: Iterable[dict[str, Any]]) -> Iterator[str]:
    for chunk in _chunks(rows):
        yield "".join(
            json.dumps({c: row[c] for c in ALL_COLUMNS}, ensure_ascii=False, default=_odd)
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


def csv_text(rows: Iterable[dict[str, Any]]) -> Iterator[str]:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(ALL_COLUMNS)
    yield out.getvalue()
    for chunk in _chunks(rows):
        out.seek(0)
        out.truncate()
        writer.writerows([[csv_cell(row[c]) for c in ALL_COLUMNS] for row in chunk])
        yield out.getvalue()


def export(rows: Iterable[dict[str, Any]], fmt: str) -> Iterator[str]:
    if fmt == "jsonl":
        return jsonl(rows)
    if fmt == "csv":
        return csv_text(rows)
    raise ValueError(f"format csv or jsonl, not {fmt!r}")


def verify_jsonl(lines: Iterable[str], anchors: Anchors = None) -> Verification:
    """Re-check a complete JSON lines export (from the first entry on) against the
    anchors given (each one must be reached)."""
    return verify((json.loads(line) for line in lines if line.strip()), anchors)
