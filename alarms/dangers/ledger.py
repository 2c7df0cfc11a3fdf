"""The hidden-danger ledger (隐患排查治理台账) of a site and a period: CSV with Chinese
headers (UTF-8, optionally with a BOM for Excel), a printable HTML page, and the
quarter's figures (found, closed, overdue; by grade and source). Pure: records in,
text out; times in China Standard Time.
"""

from __future__ import annotations

import csv
import html
import io
import re
from collections import Counter
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

from hazmon.alarms.dangers.model import Doc
from hazmon.contract.errors import HazmonError

CST = timezone(timedelta(hours=8), "CST")
GRADE_ZH = {"general": "一般隐患", "major": "重大隐患"}
SOURCE_ZH = {"inspection": "监督检查", "self_check": "企业自查", "hazmon": "在线监测发现"}
STATE_ZH = {"open": "待整改", "rectifying": "整改中", "submitted": "已提交待验收",
            "rejected": "验收未通过", "closed": "已验收销号"}
COLUMNS: tuple[tuple[str, str], ...] = (
    ("id", "编号"), ("site", "企业（场所）"), ("area", "区域"), ("coordinates", "坐标"),
    ("description", "隐患描述"), ("grade", "隐患等级"), ("source", "来源"),
    ("found_by", "发现人"), ("found_ms", "发现时间"), ("owner_enterprise", "企业整改责任人"),
    ("owner_bureau", "监管责任人"), ("deadline_ms", "整改期限"), ("measures", "整改措施"),
    ("state", "状态"), ("overdue", "是否逾期"), ("submitted_ms", "提交时间"),
    ("closed_ms", "销号时间"), ("closed_by", "验收人"), ("links", "关联报警/记录"),
    ("evidence", "整改证据（条）"),
)
HEADERS = tuple(zh for _, zh in COLUMNS)


class BadPeriod(HazmonError, ValueError):
    """A quarter that is not `YYYYQn`, or a period whose end is not after its start."""


def quarter(text: str) -> tuple[int, int]:
    """`2026Q4` -> [start, end) in epoch ms, China Standard Time."""
    match = re.fullmatch(r"(\d{4})Q([1-4])", text.strip().upper())
    if match is None:
        raise BadPeriod(f"a quarter as YYYYQn, e.g. 2026Q4; got {text!r}")
    year, number = int(match[1]), int(match[2])
    start = datetime(year, 3 * number - 2, 1, tzinfo=CST)
    end = datetime(year + (number == 4), 1 if number == 4 else 3 * number + 1, 1, tzinfo=CST)
    return int(start.timestamp() * 1000), int(end.timestamp() * 1000)


def when(ts_ms: Any) -> str:
    if not isinstance(ts_ms, int):
        return ""
    return datetime.fromtimestamp(ts_ms / 1000, UTC).astimezone(CST).strftime("%Y-%m-%d %H:%M")


def in_period(records: list[Doc], from_ms: int, to_ms: int) -> list[Doc]:
    """The records found in [from_ms, to_ms), oldest first."""
    if to_ms <= from_ms:
        raise BadPeriod("a period whose end is after its start")
    found = [d for d in records if from_ms <= int(d.get("found_ms") or 0) < to_ms]
    return sorted(found, key=lambda d: (int(d.get("found_ms") or 0), str(d["id"])))


def row(doc: Doc) -> list[str]:
    cells: list[str] = []
    for name, _ in COLUMNS:
        value = doc.get(name)
        if name.endswith("_ms"):
            text = when(value)
        elif name == "grade":
            text = GRADE_ZH.get(str(value), str(value))
        elif name == "source":
            text = SOURCE_ZH.get(str(value), str(value))
        elif name == "state":
            text = STATE_ZH.get(str(value), str(value))
        elif name == "overdue":
            text = "是" if value else "否"
        elif name == "coordinates":
            lat, lon = doc.get("lat"), doc.get("lon")
            text = f"{lat},{lon}" if lat is not None and lon is not None else ""
        elif name == "links":
            text = " ".join(str(x) for x in value or [])
        elif name == "evidence":
            text = str(len(value or []))
        else:
            text = "" if value is None else str(value)
        cells.append(_safe(text))
    return cells


def _safe(text: str) -> str:
    """A cell a spreadsheet will not run as a formula."""
    return "'" + text if text[:1] in ("=", "+", "-", "@") else text


def to_csv(records: list[Doc], *, bom: bool = False) -> str:
    out = io.StringIO()
    if bom:
        out.write("\ufeff")
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(HEADERS)
    for doc in records:
        writer.writerow(row(doc))
    return out.getvalue()


def stats(records: list[Doc], from_ms: int, to_ms: int, now_ms: int) -> dict[str, Any]:
    """The period's figures: found in it (by grade, by source), closed in it, overdue
    in it (a deadline within the period passed before the record was submitted or
    closed), and open at its end."""
    found = in_period(records, from_ms, to_ms)
    end = min(to_ms, now_ms)
    closed = [d for d in records if from_ms <= int(d.get("closed_ms") or -1) < to_ms]
    overdue = [d for d in records if _late_in(d, from_ms, end)]
    open_at_end = [d for d in records if int(d.get("found_ms") or 0) < end
                   and not (d.get("closed_ms") and int(d["closed_ms"]) <= end)]
    return {
        "from_ms": from_ms, "to_ms": to_ms,
        "found": len(found), "closed": len(closed), "overdue": len(overdue),
        "open_at_end": len(open_at_end),
        "found_by_grade": _count(found, "grade", ("general", "major")),
        "found_by_source": _count(found, "source", ("inspection", "self_check", "hazmon")),
        "closed_by_grade": _count(closed, "grade", ("general", "major")),
        "overdue_by_grade": _count(overdue, "grade", ("general", "major")),
    }


def _late_in(doc: Doc, from_ms: int, end_ms: int) -> bool:
    deadline = doc.get("deadline_ms")
    if not isinstance(deadline, int) or not from_ms <= deadline < end_ms:
        return False
    done = [t for t in (doc.get("submitted_ms"), doc.get("closed_ms")) if isinstance(t, int)]
    return not done or min(done) > deadline


def _count(records: list[Doc], field: str, names: tuple[str, ...]) -> dict[str, int]:
    counted = Counter(str(d.get(field)) for d in records)
    return {name: counted.get(name, 0) for name in names}


def to_html(records: list[Doc], *, site: str, site_name: str, from_ms: int, to_ms: int,
            figures: dict[str, Any]) -> str:
    """A printable page: title, period, figures, then the table."""
    esc = html.escape
    head = "".join(f"<th>{esc(h)}</th>" for h in HEADERS)
    body = "".join("<tr>" + "".join(f"<td>{esc(c)}</td>" for c in row(d)) + "</tr>"
                   for d in records)
    period = f"{when(from_ms)} 至 {when(to_ms)}"
    grade = figures["found_by_grade"]
    source = figures["found_by_source"]
    summary = (f"本期发现 {figures['found']} 项（一般 {grade['general']}，重大 {grade['major']}；"
               f"监督检查 {source['inspection']}，企业自查 {source['self_check']}，"
               f"在线监测 {source['hazmon']}），验收销号 {figures['closed']} 项，"
               f"逾期 {figures['overdue']} 项，期末未销号 {figures['open_at_end']} 项。")
    return (
        "<!doctype html><html lang=\"zh-CN\"><head><meta charset=\"utf-8\">"
        f"<title>隐患排查治理台账 {esc(site)}</title></head><body>"
        f"<h1>隐患排查治理台账</h1><p>企业（场所）：{esc(site_name)}（{esc(site)}）<br>"
        f"期间：{esc(period)}</p><p>{esc(summary)}</p>"
        '<table border="1" cellpadding="3" cellspacing="0">'
        f"<thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"
        "</body></html>"
    )
