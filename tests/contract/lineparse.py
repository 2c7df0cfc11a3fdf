"""A reference parser of InfluxDB line protocol, reading a line as InfluxDB 1.6 does.

Used by the property tests of hazmon.contract.lineproto; tests/contract/test_lineproto_influx.py
checks the same rules against the real server.

- measurement and tags: a `,`, `=` or space preceded by a backslash is not a separator
  (InfluxDB looks at the previous character only, so `\\\\,` is an escaped comma after a
  backslash); tags are unescaped by replacing `\\\\,`, `\\\\ ` and `\\\\=`, the measurement
  by replacing `\\\\,` and `\\\\ ` twice (what the server hands back);
- fields: a backslash and the character after it go together (`\\\\\\\\` is a pair); a
  field key is unescaped once (`\\\\,`, `\\\\"`, `\\\\ `, `\\\\=`); in string values `\\\\"` and
  `\\\\\\\\` are escapes and any other backslash is kept (so `\\\\n` reads back as two
  characters).
"""

from __future__ import annotations

from typing import Any


def _split_head(text: str, seps: str) -> list[str]:
    """Split where a separator's previous character is not a backslash."""
    parts, start = [], 0
    for i, ch in enumerate(text):
        if ch in seps and (i == 0 or text[i - 1] != "\\"):
            parts.append(text[start:i])
            start = i + 1
    parts.append(text[start:])
    return parts


def _split_fields(text: str, seps: str) -> list[str]:
    """Split outside quotes, a backslash taking the next character with it."""
    parts, cur, i, in_quote = [], "", 0, False
    while i < len(text):
        ch = text[i]
        if ch == "\\" and i + 1 < len(text):
            cur += text[i : i + 2]
            i += 2
            continue
        if ch == '"':
            in_quote = not in_quote
        if ch in seps and not in_quote:
            parts.append(cur)
            cur = ""
        else:
            cur += ch
        i += 1
    parts.append(cur)
    return parts


def _replace(text: str, chars: str) -> str:
    for ch in chars:
        text = text.replace("\\" + ch, ch)
    return text


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
    head = _split_head(line, " ")[0]
    fields_text, ts_text = _split_fields(line[len(head) + 1 :], " ")
    head_parts = _split_head(head, ",")
    measurement = _replace(_replace(head_parts[0], ", "), ", ")
    tags = {}
    for part in head_parts[1:]:
        key, value = _split_head(part, "=")
        tags[_replace(key, ", =")] = _replace(value, ", =")
    fields = {}
    for part in _split_fields(fields_text, ","):
        key = _split_fields(part, "=")[0]
        fields[_unescape(key, '," =')] = _field_value(part[len(key) + 1 :])
    return measurement, tags, fields, int(ts_text)
