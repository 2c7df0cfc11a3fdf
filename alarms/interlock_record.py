"""An interlock's cause-and-effect record, read from the journal (docs/alarms.md,
"Cause-and-effect verification"): its demands, how fast it answered them, its
failures and its spurious trips.

The core journals every demand and answer as an entry on the interlock's sensor key
(`site/interlock`), its note starting with the matrix row (`CE-01: ...`); the journal
is the record, so it survives restarts, takeovers and exports like any alarm's.

    record = interlock_record(entries, matrix_rows, from_ms=, to_ms=)
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from hazmon.alarms.core.cause_effect import RECORDS
from hazmon.contract.registry import CauseEffectRow

RECENT = 100  # records listed, newest first


def interlock_record(
    entries: Iterable[dict[str, Any]],
    rows: list[CauseEffectRow],
    *,
    site: str,
    interlock: str,
    from_ms: int,
    to_ms: int,
) -> dict[str, Any]:
    """The figures of one interlock over `from_ms <= ts_ms <= to_ms` from journal
    entries (any order, any keys: the interlock's C&E records are picked out)."""
    key = f"{site}/{interlock}"
    found = [
        e for e in entries
        if e.get("key") == key and e.get("event") in RECORDS
        and from_ms <= int(e.get("ts_ms") or 0) <= to_ms
    ]
    found.sort(key=lambda e: (int(e["ts_ms"]), int(e.get("seq") or 0)))
    per_row = {row.id: _empty() for row in rows}
    total = _empty()
    for entry in found:
        row = _row_of(entry)
        for figures in (total, per_row.get(row) if row else None):
            if figures is not None:
                _count(figures, entry)
    return {
        "site": site,
        "interlock": interlock,
        "from_ms": from_ms,
        "to_ms": to_ms,
        "rows": [_row_doc(row) for row in rows],
        **_summary(total),
        "by_row": {row: _summary(figures) for row, figures in per_row.items()},
        "records": [_record_doc(e) for e in reversed(found[-RECENT:])],
    }


def _empty() -> dict[str, Any]:
    return {"demands": 0, "in_time": 0, "late": 0, "missing": 0, "spurious": 0, "times": []}


def _count(figures: dict[str, Any], entry: dict[str, Any]) -> None:
    event = entry["event"]
    if event == "ce_demand":
        figures["demands"] += 1
    elif event == "ce_response":
        figures["in_time"] += 1
        figures["times"].append(int(entry["value"] or 0))
    elif event == "ce_late":
        figures["late"] += 1
        figures["times"].append(int(entry["value"] or 0))
    elif event == "ce_missing":
        figures["missing"] += 1
    elif event == "ce_spurious":
        figures["spurious"] += 1


def _summary(figures: dict[str, Any]) -> dict[str, Any]:
    times = sorted(figures["times"])
    return {
        "demands": figures["demands"],
        "in_time": figures["in_time"],
        "late": figures["late"],
        "missing": figures["missing"],
        "failures": figures["late"] + figures["missing"],
        "spurious": figures["spurious"],
        "response_ms": {
            "count": len(times),
            "p50": _median(times),
            "max": times[-1] if times else None,
        },
    }


def _median(values: list[int]) -> float | None:
    if not values:
        return None
    mid = len(values) // 2
    return float(values[mid]) if len(values) % 2 else (values[mid - 1] + values[mid]) / 2


def _row_of(entry: dict[str, Any]) -> str | None:
    """The matrix row a record names (`CE-01: ...`); a spurious trip names none."""
    if entry["event"] == "ce_spurious":
        return None
    head, sep, _ = str(entry.get("note") or "").partition(": ")
    return head if sep else None


def _row_doc(row: CauseEffectRow) -> dict[str, Any]:
    return {
        "id": row.id,
        "description": row.description,
        "cause": {"sensors": list(row.cause.sensors), "condition": row.cause.condition.value,
                  "vote": f"{row.cause.needed}oo{len(row.cause.sensors)}"},
        "effect": {"interlock": row.effect.interlock, "state": row.effect.state},
        "within_s": row.within_s,
    }


def _record_doc(entry: dict[str, Any]) -> dict[str, Any]:
    event = str(entry["event"])
    timed = event in ("ce_response", "ce_late")
    return {
        "ts_ms": int(entry["ts_ms"]),
        "event": event,
        "row": _row_of(entry),
        "response_ms": int(entry["value"]) if timed and entry.get("value") is not None else None,
        "note": entry.get("note"),
    }
