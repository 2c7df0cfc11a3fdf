"""The tables of docs/benchmarks.md, from the phase results of one run."""

from __future__ import annotations

import math
from collections.abc import Sequence

from benchmarks.e2e.phases import STORAGE_ONLY, PhaseResult
from benchmarks.e2e.procs import Usage

MIB = 1024 * 1024


def _find(results: Sequence[PhaseResult], system: str, case: str, phase: str) -> PhaseResult | None:
    for r in results:
        if (r.system, r.case, r.phase) == (system, case, phase):
            return r
    return None


def _n(value: float) -> str:
    return f"{value:,.0f}"


def _ms(value: float) -> str:
    return "—" if math.isnan(value) else f"{value:.1f}"


def throughput_table(results: Sequence[PhaseResult]) -> str:
    cases = list(dict.fromkeys(r.case for r in results))
    storage_only = any(r.phase == STORAGE_ONLY for r in results)  # --storage-only
    rows = [
        "| readings per message | hazmon stored/s (every reading also evaluated) "
        "| hazmon loss | Node-RED stored/s | Node-RED loss | hazmon / Node-RED |"
        + (" hazmon ingest alone (alarms may lag) | its ratio |" if storage_only else ""),
        "|---|---:|---:|---:|---:|---:|" + ("---:|---:|" if storage_only else ""),
    ]
    for case in cases:
        h = _find(results, "hazmon", case, "flat out")
        n = _find(results, "node-red", case, "flat out")
        s = _find(results, "hazmon", case, STORAGE_ONLY)

        def ratio(a: PhaseResult | None, b: PhaseResult | None, bold: bool) -> str:
            if not (a and b and b.stored_per_s):
                return "—"
            text = f"{a.stored_per_s / b.stored_per_s:.1f}x"
            return f"**{text}**" if bold else text

        row = (
            f"| {case.split('/')[0]} "
            f"| {_n(h.stored_per_s) if h else '—'} | {_n(h.lost) if h else '—'} "
            f"| {_n(n.stored_per_s) if n else '—'} | {_n(n.lost) if n else '—'} "
            f"| {ratio(h, n, True)} |"
        )
        if storage_only:
            row += f" {_n(s.stored_per_s) if s else '—'} | {ratio(s, n, False)} |"
        rows.append(row)
    return "\n".join(rows)


def phases_table(results: Sequence[PhaseResult]) -> str:
    rows = [
        "| system | per msg | phase | published | stored | lost (broker dropped msgs) "
        "| offered/s | stored/s | HTTP writes | alarm events "
        "| alarm p50 / p99 / p99.9 ms (samples, missing) | machine busy "
        "| others' CPU (cores) |",
        "|---|---:|---|---:|---:|---:|---:|---:|---:|---:|---|---:|---:|",
    ]
    for r in results:
        lat = r.latency
        latency = (
            f"{_ms(lat.p50_ms)} / {_ms(lat.p99_ms)} / {_ms(lat.p999_ms)} "
            f"({lat.samples:,}, {lat.missing:,})"
            if lat else "no alarms"
        )
        rows.append(
            f"| {r.system} | {r.per_message} | {r.phase} | {_n(r.published)} | {_n(r.stored)} "
            f"| {_n(r.lost)} ({_n(r.broker_dropped)}) | {_n(r.offered_per_s)} "
            f"| {_n(r.stored_per_s)} | {_n(r.write_requests)} | {_n(r.alarm_events)} "
            f"| {latency} | {r.machine_busy_pct:.0f} % | {r.others_cores:.2f} |"
        )
    return "\n".join(rows)


def _usage_cell(usage: Usage | None, wall_s: float) -> str:
    if usage is None or wall_s <= 0:
        return "—"
    return f"{100 * usage.cpu_s / wall_s:.0f} % / {usage.peak_rss_bytes / MIB:,.0f} MiB"


def resources_table(results: Sequence[PhaseResult]) -> str:
    names: list[str] = []
    for r in results:
        for name in r.usage:
            key = "publishers" if name.startswith("publisher") else name
            if key not in names:
                names.append(key)
    rows = [
        "| system | per msg | phase | " + " | ".join(names) + " |",
        "|---|---:|---|" + "---:|" * len(names),
    ]
    for r in results:
        cells = []
        for name in names:
            if name == "publishers":
                pubs = [u for k, u in r.usage.items() if k.startswith("publisher")]
                merged = Usage(sum(u.cpu_s for u in pubs), sum(u.peak_rss_bytes for u in pubs))
                cells.append(_usage_cell(merged if pubs else None, r.wall_s))
            else:
                cells.append(_usage_cell(r.usage.get(name), r.wall_s))
        rows.append(f"| {r.system} | {r.per_message} | {r.phase} | " + " | ".join(cells) + " |")
    return "\n".join(rows)


def burst_table(results: Sequence[PhaseResult]) -> str:
    rows = [
        "| system | sustainable (flat out) /s | burst target /s | burst reached /s "
        "| peak backlog (readings) | peak broker queue (msgs) | published | stored "
        "| lost (broker dropped msgs) | storing caught up | alarms caught up |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in results:
        b = r.burst
        if b is None:
            continue
        catch_up = _after(b.catch_up_s)
        alarms = _after(b.alarms_catch_up_s) if r.system == "hazmon" else "—"
        rows.append(
            f"| {r.system} | {_n(b.target_per_s / 2)} | {_n(b.target_per_s)} "
            f"| {_n(b.reached_per_s)} | {_n(b.backlog_peak)} | {_n(b.broker_queued_peak)} "
            f"| {_n(r.published)} | {_n(r.stored)} | {_n(r.lost)} ({_n(r.broker_dropped)}) "
            f"| {catch_up} | {alarms} |"
        )
    return "\n".join(rows)


def _after(seconds: float | None) -> str:
    return f"{seconds:.0f} s after" if seconds is not None else "not within the run"


def errors_section(results: Sequence[PhaseResult]) -> str:
    lines = []
    for r in results:
        for error in r.errors[:10]:
            lines.append(f"- {r.system} {r.case} {r.phase}: `{error.strip()[:200]}`")
    return "\n".join(lines) if lines else "- none"


def machine_section(machine: dict[str, object], command: str) -> str:
    lines = [f"- command: `{command}`"]
    lines += [f"- {key}: {value}" for key, value in machine.items()]
    return "\n".join(lines)


def markdown(
    results: Sequence[PhaseResult], machine: dict[str, object] | None = None, command: str = ""
) -> str:
    head = ["### Machine", machine_section(machine, command)] if machine else []
    return "\n\n".join([
        *head,
        "### Stored readings/s, flat out (the ratio)",
        throughput_table(results),
        "### Every phase",
        phases_table(results),
        "### CPU (% of one core) / peak RSS per process",
        resources_table(results),
        "### Burst at twice the sustainable rate",
        burst_table(results),
        "### Errors logged",
        errors_section(results),
    ]) + "\n"
