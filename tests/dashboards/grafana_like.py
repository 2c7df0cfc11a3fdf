"""What Grafana does to a dashboard's InfluxQL before InfluxDB sees it, for the tests.

Walks the dashboard JSON for panel targets, annotation queries and variables, and
substitutes the variables the way Grafana's InfluxDB data source does: a single value
as it is, several values (or "All") as a regex alternation `(a|b)`, `$timeFilter` as
a relative time condition and `$__interval` as a GROUP BY interval.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

_REGEX_SPECIAL = re.compile(r"[\\^$*+?.()|\[\]{}/]")
_LEFTOVER = re.compile(r"\$\{?[A-Za-z_]")


@dataclass(frozen=True)
class Target:
    dashboard: str
    panel: str
    ref_id: str
    query: str
    result_format: str


def panels(dashboard: Mapping[str, Any]) -> Iterator[Mapping[str, Any]]:
    for panel in dashboard.get("panels", []):
        yield panel
        yield from panel.get("panels", [])


def targets(dashboard: Mapping[str, Any]) -> Iterator[Target]:
    for panel in panels(dashboard):
        for target in panel.get("targets", []):
            yield Target(
                dashboard["uid"],
                panel["title"],
                target["refId"],
                target["query"],
                target["resultFormat"],
            )


def annotation_targets(dashboard: Mapping[str, Any]) -> Iterator[Target]:
    for annotation in dashboard.get("annotations", {}).get("list", []):
        target = annotation["target"]
        yield Target(dashboard["uid"], annotation["name"], "Anno", target["query"], "table")


def variables(dashboard: Mapping[str, Any]) -> dict[str, Mapping[str, Any]]:
    return {v["name"]: v for v in dashboard.get("templating", {}).get("list", [])}


def _regex_escape(value: str) -> str:
    return _REGEX_SPECIAL.sub(lambda m: "\\" + m.group(0), value)


def format_value(values: Sequence[str]) -> str:
    if len(values) == 1:
        return values[0]
    return "(" + "|".join(_regex_escape(v) for v in values) + ")"


def interpolate(
    query: str,
    values: Mapping[str, Sequence[str]],
    *,
    time_filter: str = "time >= now() - 1h",
    interval: str = "1m",
) -> str:
    text = query.replace("$timeFilter", time_filter).replace("$__interval", interval)
    for name in sorted(values, key=len, reverse=True):
        formatted = format_value(values[name])
        text = text.replace("${" + name + "}", formatted).replace("$" + name, formatted)
    leftover = _LEFTOVER.search(text)
    if leftover:
        raise ValueError(f"unsubstituted variable at {text[leftover.start() :]!r}")
    return text


def has_data(response: Mapping[str, Any]) -> bool:
    """Whether an InfluxDB answer holds at least one non-null value besides time."""
    for result in response.get("results", []):
        for series in result.get("series", []):
            for row in series.get("values", []):
                if any(cell is not None for cell in row[1:]):
                    return True
    return False


def tag_values(response: Mapping[str, Any]) -> list[str]:
    """The values of a `SHOW TAG VALUES` answer."""
    return sorted(
        row[1]
        for result in response.get("results", [])
        for series in result.get("series", [])
        for row in series.get("values", [])
    )
