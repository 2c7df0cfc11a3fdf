"""A replay's report as plain text: per site, each registry's figures side by side,
then the safety cost (crossings missed or delayed) and the sensors that change most."""

from __future__ import annotations

from typing import Any

from hazmon.alarms.core.timefmt import iso_utc

SENSORS_SHOWN = 15
COLUMNS = ("raised", "/10min", "peak", "floods", "chatter", "fleeting", "standing",
           "in alarm")


def duration(ms: int) -> str:
    """`45 s`, `12 min`, `3 h 05 min`, `2 d 4 h`."""
    s = ms // 1000
    if s < 60:
        return f"{s} s"
    if s < 3600:
        return f"{s // 60} min {s % 60:02d} s" if s < 600 and s % 60 else f"{s // 60} min"
    if s < 86_400:
        return f"{s // 3600} h {s % 3600 // 60:02d} min"
    return f"{s // 86_400} d {s % 86_400 // 3600} h"


def _row(label: str, name: str, f: dict[str, Any]) -> str:
    cells = (f"{f['raised']:,}", f"{f['per_10min']['mean']:.2f}", str(f["per_10min"]["peak"]),
             str(f["floods"]["count"]), str(f["chattering"]["points"]), str(f["fleeting"]),
             str(f["standing"]), duration(f["time_in_alarm_ms"]))
    return f"{label:<12} {name:<9}" + "".join(f" {c:>10}" for c in cells)


def table(report: dict[str, Any]) -> str:
    cur, pro, cost = report["current"], report["proposed"], report["safety"]
    lines = [
        f"What-if replay {iso_utc(report['from_ms'])} .. {iso_utc(report['to_ms'])}"
        + (f", site {report['site']}" if report.get("site") else ""),
    ]
    if "readings" in report:
        lines.append(f"{report['readings']:,} stored readings replayed in "
                     f"{report['seconds']:.1f} s "
                     f"(proposed: {report['proposed_source']}, current: "
                     f"{report['current_source']})")
    lines += ["", f"{'site':<12} {'registry':<9}" + "".join(f" {c:>10}" for c in COLUMNS)]
    for site in sorted(cur["sites"]):
        lines.append(_row(site, "current", cur["sites"][site]))
        lines.append(_row("", "proposed", pro["sites"][site]))
    lines.append(_row("all sites", "current", cur["total"]))
    lines.append(_row("", "proposed", pro["total"]))
    lines += ["", "/10min: alarms per operator (one console per site) per 10 minutes, mean; "
              "EEMUA 191 asks for at most 1", ""]
    lines += _safety(cost)
    lines += _sensors(report)
    return "\n".join(lines) + "\n"


def _safety(cost: dict[str, Any]) -> list[str]:
    delay = cost["delay_ms"]
    lines = [
        f"Safety cost: of {cost['crossings']:,} alarms of the current registry, the proposal "
        f"misses {cost['missed']:,} ({cost['missed_critical']:,} critical) and raises "
        f"{cost['delayed']:,} late"
        + (f" (median {duration(delay['median'])}, at most {duration(delay['max'])})"
           if cost["delayed"] else "")
    ]
    for c in cost["listed"]:
        late = "missed" if c["delay_ms"] is None else f"late by {duration(c['delay_ms'])}"
        lines.append(f"  {iso_utc(c['raised_ms'])}  {c['key']:<40} {c['priority']:<9}"
                     f" value {c['value']}  {late}")
    if cost["missed"] + cost["delayed"] > len(cost["listed"]):
        lines.append(f"  ... {cost['missed'] + cost['delayed'] - len(cost['listed']):,} more "
                     "(--json lists the first 100, counts all)")
    return [*lines, ""]


def _sensors(report: dict[str, Any]) -> list[str]:
    cur, pro = report["current"]["sensors"], report["proposed"]["sensors"]
    cost = report["safety"]["sensors"]
    empty = {"raised": 0, "time_in_alarm_ms": 0, "chattering": False, "fleeting": 0,
             "standing": 0}
    changes = sorted(
        set(cur) | set(pro),
        key=lambda s: (-abs(cur.get(s, empty)["raised"] - pro.get(s, empty)["raised"]), s),
    )
    shown = [s for s in changes if cur.get(s, empty) != pro.get(s, empty)][:SENSORS_SHOWN]
    if not shown:
        return ["No sensor alarms differently."]
    lines = [f"Sensors that change most ({len(shown)} shown; --json has every sensor):",
             f"  {'sensor':<32}{'raised':>16}{'time in alarm':>30}{'missed':>8}{'late':>6}"]
    for s in shown:
        a, b = cur.get(s, empty), pro.get(s, empty)
        c = cost.get(s, {"missed": 0, "delayed": 0})
        raised = f"{a['raised']} -> {b['raised']}"
        alarm = f"{duration(a['time_in_alarm_ms'])} -> {duration(b['time_in_alarm_ms'])}"
        lines.append(f"  {s:<32}{raised:>16}{alarm:>30}{c['missed']:>8}{c['delayed']:>6}")
    return lines
