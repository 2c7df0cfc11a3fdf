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
        "| offered/s | stored/s | evaluated/s | HTTP writes | alarm events "
        "| alarm p50 / p99 / p99.9 ms (samples, missing) | machine busy "
        "| others' CPU (cores) |",
        "|---|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---|---:|---:|",
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
            f"| {_n(r.stored_per_s)} | {_n(r.evaluated_per_s) if r.latency else '—'} "
            f"| {_n(r.write_requests)} | {_n(r.alarm_events)} "
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
        alarms = _after(b.alarms_catch_up_s) if r.latency is not None else "—"
        rows.append(
            f"| {r.system} | {_n(b.target_per_s / 2)} | {_n(b.target_per_s)} "
            f"| {_n(b.reached_per_s)} | {_n(b.backlog_peak)} | {_n(b.broker_queued_peak)} "
            f"| {_n(r.published)} | {_n(r.stored)} | {_n(r.lost)} ({_n(r.broker_dropped)}) "
            f"| {catch_up} | {alarms} |"
        )
    return "\n".join(rows)


def _jetstream(results: Sequence[PhaseResult]) -> bool:
    return any(r.stream is not None for r in results)


def profiles_table(results: Sequence[PhaseResult]) -> str:
    """The alarm-evaluating systems side by side, per case: flat out, paced latency,
    loss over every phase."""
    rows = [
        "| per msg | system | stored/s flat out | evaluated/s flat out "
        "| alarm p50 / p99 ms, paced | readings lost (all phases) "
        "| crossings without alarm (all phases) | duplicate raised |",
        "|---:|---|---:|---:|---|---:|---:|---:|",
    ]
    cases = list(dict.fromkeys(r.case for r in results))
    systems = list(dict.fromkeys(r.system for r in results if r.latency is not None))
    for case in cases:
        for system in systems:
            phases = [r for r in results if (r.system, r.case) == (system, case)]
            if not phases:
                continue
            flat = _find(results, system, case, "flat out")
            paced = _find(results, system, case, "paced")
            lat = paced.latency if paced else None
            missing = sum(r.latency.missing for r in phases if r.latency)
            rows.append(
                f"| {case.split('/')[0]} | {system} "
                f"| {_n(flat.stored_per_s) if flat else '—'} "
                f"| {_n(flat.evaluated_per_s) if flat else '—'} "
                f"| {f'{_ms(lat.p50_ms)} / {_ms(lat.p99_ms)}' if lat else '—'} "
                f"| {_n(sum(r.lost for r in phases))} | {_n(missing)} "
                f"| {_n(sum(r.duplicate_raised for r in phases))} |"
            )
    return "\n".join(rows)


def cost_table(results: Sequence[PhaseResult]) -> str:
    """CPU seconds per 1,000 readings, flat out: each process of the alarm-evaluating
    systems (per 1,000 evaluated for the alarm workers, per 1,000 stored for the rest)."""
    names: list[str] = []
    flats = [r for r in results if r.phase == "flat out" and r.latency is not None]
    for r in flats:
        for name in r.usage:
            if not name.startswith(("publisher", "bench")) and name not in names:
                names.append(name)
    rows = [
        "| system | per msg | " + " | ".join(names) + " | all alarm processes |",
        "|---|---:|" + "---:|" * (len(names) + 1),
    ]
    for r in flats:
        evaluated = r.published  # each crossing's event arrived: all evaluated
        cells = []
        alarms = 0.0
        for name in names:
            usage = r.usage.get(name)
            if usage is None:
                cells.append("—")
                continue
            per = evaluated if "alarms" in name else r.stored
            cells.append(f"{1000 * usage.cpu_s / per:.3f}" if per else "—")
            if "alarms" in name:
                alarms += usage.cpu_s
        total = f"{1000 * alarms / evaluated:.3f}" if evaluated else "—"
        rows.append(f"| {r.system} | {r.per_message} | " + " | ".join(cells) + f" | {total} |")
    return "\n".join(rows)


def stream_table(results: Sequence[PhaseResult]) -> str:
    rows = [
        "| system | per msg | phase | held at the end (msgs / bytes) | peak held (msgs) "
        "| peak held (MiB) | bytes per message | bytes per reading | redelivered (ingest, alarms) "
        "| changelogs at the end (records / MiB) |",
        "|---|---:|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in results:
        st = r.stream
        if st is None:
            continue
        per_reading = st.bytes_per_msg / r.per_message if st.peak_msgs else 0.0
        rows.append(
            f"| {r.system} | {r.per_message} | {r.phase} | {_n(st.end_msgs)} / {_n(st.end_bytes)} "
            f"| {_n(st.peak_msgs)} | {st.peak_bytes / MIB:,.1f} | {_n(st.bytes_per_msg)} "
            f"| {per_reading:,.1f} "
            f"| {st.redelivered.get('ingest', 0):,} / {st.redelivered.get('alarms', 0):,} "
            f"| {st.changelog_msgs:,} / {st.changelog_bytes / MIB:,.1f} |"
        )
    return "\n".join(rows)


def owners_section(results: Sequence[PhaseResult]) -> str:
    last: dict[tuple[str, str], dict[str, list[int]]] = {}
    for r in results:
        if r.owners:
            last[r.system, r.case] = r.owners
    lines = []
    for (system, case), owners in last.items():
        held = "; ".join(f"{w}: {len(ps)} ({', '.join(map(str, ps))})"
                         for w, ps in owners.items())  # fmt: skip
        lines.append(f"- {system} {case}: {held}")
    return "\n".join(lines) if lines else "- none"


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
    jetstream = [
        "### Profiles side by side (every reading stored and evaluated)",
        profiles_table(results),
        "### CPU s per 1,000 readings, flat out",
        cost_table(results),
        "### JetStream: what HAZMON_IN held",
        stream_table(results),
        "### JetStream: partitions held by each alarm worker (at the end of the case)",
        owners_section(results),
    ] if _jetstream(results) else []
    return "\n\n".join([
        *head,
        "### Stored readings/s, flat out (the ratio)",
        throughput_table(results),
        *jetstream,
        "### Every phase",
        phases_table(results),
        "### CPU (% of one core) / peak RSS per process",
        resources_table(results),
        "### Burst at twice the sustainable rate",
        burst_table(results),
        "### Errors logged",
        errors_section(results),
    ]) + "\n"
