"""InfluxDB line protocol (docs/contract.md §5), with InfluxDB's escaping rules.

- measurement: escape `,` and space;
- tag keys, tag values, field keys: escape `,`, `=` and space (field keys also `"`);
- string field values: in double quotes, escape `"` and `\\`; a newline (which no
  InfluxDB takes inside a line) is written as the two characters `\\n`, a carriage
  return as `\\r`.
Timestamps are integer milliseconds (`precision=ms`).

A backslash in a name is written as it is: InfluxDB has no escape for it. So some
names cannot be written at all, and are refused with ValueError (checked against
InfluxDB 1.6 in tests/contract/test_lineproto_influx.py):

- any name with a newline (it ends the line), or ending in a backslash (it would
  escape the separator after it);
- a measurement with a backslash before `,` or space (the server reads it back without
  that backslash), a field key with a backslash before `,`, `=`, space or `"` (the server
  takes `\\\\` there as an escaped pair and rejects the line). Tag keys and values keep
  such a backslash as it is.
hazmon's own names (site, gateway and sensor ids, kinds, event names) never hit these.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from typing import NoReturn

from hazmon.contract.wire import Reading

FieldValue = float | int | bool | str

_MEASUREMENT = str.maketrans({",": "\\,", " ": "\\ "})
_KEY = str.maketrans({",": "\\,", "=": "\\=", " ": "\\ "})
_FIELD_KEY = str.maketrans({",": "\\,", "=": "\\=", " ": "\\ ", '"': '\\"'})
_STRING = str.maketrans({'"': '\\"', "\\": "\\\\", "\n": "\\n", "\r": "\\r"})
_MEASUREMENT_UNWRITABLE = re.compile(r"\\[, ]|\\\Z|\n")
_TAG_UNWRITABLE = re.compile(r"\\\Z|\n")
_FIELD_KEY_UNWRITABLE = re.compile(r'\\[,= "]|\\\Z|\n')


def _refuse(text: str, what: str) -> NoReturn:
    raise ValueError(
        f"line protocol cannot write this {what} (a newline, a backslash at its end, or "
        f"a backslash before a character that needs escaping): {text!r}"
    )


def escape_measurement(name: str) -> str:
    if _MEASUREMENT_UNWRITABLE.search(name):
        _refuse(name, "measurement")
    return name.translate(_MEASUREMENT)


def escape_key(text: str) -> str:
    """Escape a tag key or tag value."""
    if _TAG_UNWRITABLE.search(text):
        _refuse(text, "tag key or value")
    return text.translate(_KEY)


def escape_field_key(text: str) -> str:
    """Escape a field key: also `"`, which would open a quoted string there."""
    if _FIELD_KEY_UNWRITABLE.search(text):
        _refuse(text, "field key")
    return text.translate(_FIELD_KEY)


def escape_string(text: str) -> str:
    return '"' + text.translate(_STRING) + '"'


def format_field(value: FieldValue) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return f"{value}i"
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ValueError("line protocol has no NaN or infinite floats")
        return repr(value)
    return escape_string(value)


def line(
    measurement: str,
    tags: Mapping[str, str],
    fields: Mapping[str, FieldValue | None],
    ts_ms: int,
) -> str:
    """One line; tags sorted by key (what InfluxDB prefers), empty tags and None fields left out."""
    head = escape_measurement(measurement)
    for key in sorted(tags):
        value = tags[key]
        if value != "":
            head += f",{escape_key(key)}={escape_key(value)}"
    body = ",".join(
        f"{escape_field_key(k)}={format_field(v)}" for k, v in fields.items() if v is not None
    )
    if not body:
        raise ValueError(f"a {measurement} line needs at least one field")
    return f"{head} {body} {ts_ms}"


class ReadingEncoder:
    """Encodes readings fast: the tag part of each (sensor, quality) is built once."""

    def __init__(self) -> None:
        self._heads: dict[tuple[str, str, str, str], str] = {}
        # the tag parts of `good` readings, by (site, gateway), then by sensor
        self._good: dict[tuple[str, str], dict[str, str]] = {}

    def encode_all(self, readings: Sequence[Reading]) -> list[str]:
        """`encode` of each, in one loop (a batch's readings are most of ingest's work):
        a `good` analog reading in range, most of them, is its gateway's table's head
        for the sensor and its value and time; readings come in runs of one message, so
        the table is looked up again only when the gateway changes."""
        encode, tables = self.encode, self.good_heads
        lines: list[str] = []
        add = lines.append
        site = gateway = ""
        good: dict[str, str] = {}
        for r in readings:
            value = r.value
            if value is None or r.over_range or r.quality != "good":
                add(encode(r))
                continue
            if r.gateway is not gateway or r.site is not site:
                site, gateway = r.site, r.gateway
                good = tables(site, gateway)
            head = good.get(r.sensor)
            if head is None:
                add(encode(r))
            else:
                add(f"{head} value={value!r} {r.ts_ms}")
        return lines

    def good_heads(self, site: str, gateway: str) -> dict[str, str]:
        """The gateway's table of tag parts of `good` readings, by sensor (filled by
        `encode`)."""
        table = self._good.get((site, gateway))
        if table is None:
            table = self._good[(site, gateway)] = {}
        return table

    def encode(self, r: Reading) -> str:
        key = (r.site, r.gateway, r.sensor, r.quality)
        head = self._heads.get(key)
        if head is None:
            head = self._heads[key] = (
                f"reading,gateway={escape_key(r.gateway)},kind={escape_key(r.kind)},"
                f"quality={escape_key(r.quality)},sensor={escape_key(r.sensor)},"
                f"site={escape_key(r.site)}"
            )
            if r.quality == "good" and r.value is not None:
                self.good_heads(r.site, r.gateway)[r.sensor] = head
        if r.value is not None:
            if r.over_range:
                return f"{head} value={r.value!r},over_range=true {r.ts_ms}"
            return f"{head} value={r.value!r} {r.ts_ms}"
        return f"{head} state={escape_string(r.state or '')} {r.ts_ms}"
