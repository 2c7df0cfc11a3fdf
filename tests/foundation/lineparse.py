"""A reference parser of InfluxDB line protocol, following InfluxDB's own unescaping.

Used by the property tests of hazmon.lineproto: in keys, tag values and measurements
a backslash escapes `,`, `=` and space; in string field values it escapes `"` and `\\`;
any other backslash is kept as it is (so `\\n` reads back as the two characters).
"""

from __future__ import annotations

from typing import Any


def _split(text: str, seps: str, *, quotes: bool = False) -> list[str]:
    parts, cur, i, in_quote = [], "", 0, False
    while i < len(text):
        ch = text[i]
        if ch == "\\" and i + 1 < len(text):
            cur += text[i : i + 2]
            i += 2
            continue
        if quotes and ch == '"':
            in_quote = not in_quote
        if ch in seps and not in_quote:
            parts.append(cur)
            cur = ""
        else:
            cur += ch
        i += 1
    parts.append(cur)
    return parts


def _unescape(text: str, chars: str) -> str:
    out, i = "", 0
    while i < len(text):
        if text[i] == "\\" and i + 1 < len(text) and text[i + 1] in chars:
            out += text[i + 1]
            i += 2
        else:
            out += text[i]
            i += 1
    return out


def _field_value(text: str) -> Any:
    if text.startswith('"'):
        return _unescape(text[1:-1], '"\\')
    if text in ("true", "false"):
        return text == "true"
    if text.endswith("i"):
        return int(text[:-1])
    return float(text)


def parse_line(line: str) -> tuple[str, dict[str, str], dict[str, Any], int]:
    head, rest = _split(line, " ")[0], ""
    rest = line[len(head) + 1 :]  # quotes mean nothing in the measurement and tags
    fields_text, ts_text = _split(rest, " ", quotes=True)
    head_parts = _split(head, ",")
    measurement = _unescape(head_parts[0], ", ")
    tags = {}
    for part in head_parts[1:]:
        key, value = _split(part, "=")
        tags[_unescape(key, ",= ")] = _unescape(value, ",= ")
    fields = {}
    for part in _split(fields_text, ",", quotes=True):
        key, value = _split(part, "=", quotes=True)[0], part[len(_split(part, "=")[0]) + 1 :]
        fields[_unescape(key, ",= ")] = _field_value(value)
    return measurement, tags, fields, int(ts_text)
