"""The monthly feed report (hazmon.feeds.report) as printable HTML or as CSV: pure.

HTML: one self-contained page (no script, no external asset; its one style sheet is
inline and allowed by its hash in `CSP`), A4 print rules, Chinese by default
(`lang="en"`: English). CSV: the same sections one after another, each a title line,
a header and its rows, separated by an empty line; UTF-8 with a byte-order mark (so
a spreadsheet reads the Chinese right); numbers as numbers; a text cell beginning
with `=`, `+`, `-` or `@` gets a leading `'`.
"""

from __future__ import annotations

import base64
import csv
import hashlib
import io
from collections.abc import Callable, Iterable, Sequence
from html import escape
from typing import Any, Literal

from hazmon.feeds.accounting import Figures, GatewayFeed, OfflinePeriod
from hazmon.feeds.calendar import local_date, local_text
from hazmon.feeds.report import FeedReport, OpenBypass

Lang = Literal["zh", "en"]
LANGS: tuple[Lang, ...] = ("zh", "en")

WORDS: dict[str, dict[Lang, str]] = {
    "title": {"zh": "重大危险源监测数据接入月报", "en": "Monthly feed report"},
    "site": {"zh": "企业", "en": "Enterprise"},
    "month": {"zh": "月份", "en": "Month"},
    "period": {"zh": "统计时段", "en": "Period"},
    "generated": {"zh": "生成时间", "en": "Generated"},
    "tz": {"zh": "时间均为北京时间（UTC+8）", "en": "Times are China Standard Time (UTC+8)"},
    "partial": {"zh": "本月尚未结束：统计截至生成时间",
                "en": "Month in progress: figures up to the time generated"},
    "summary": {"zh": "一、数据接入概况", "en": "1. Feed summary"},
    "gateways": {"zh": "二、各网关", "en": "2. Gateways"},
    "offline": {"zh": "三、离线时段", "en": "3. Offline periods"},
    "daily": {"zh": "四、逐日统计", "en": "4. Day by day"},
    "alarms": {"zh": "五、报警", "en": "5. Alarms"},
    "bypasses": {"zh": "六、月末仍处于旁路的联锁",
                 "en": "6. Interlocks bypassed at the month's end"},
    "sign": {"zh": "审核人：＿＿＿＿＿＿　　日期：＿＿＿＿＿＿",
             "en": "Reviewed by: ____________    Date: ____________"},
    "item": {"zh": "项目", "en": "Item"},
    "value": {"zh": "数值", "en": "Value"},
    "online_rate": {"zh": "在线率", "en": "Online rate"},
    "online_rate_pct": {"zh": "在线率(%)", "en": "Online rate (%)"},
    "observed": {"zh": "有状态记录的时长", "en": "Time with a known state"},
    "online_time": {"zh": "在线时长", "en": "Online time"},
    "offline_time": {"zh": "离线时长", "en": "Offline time"},
    "unknown_time": {"zh": "状态未知时长", "en": "Time with no state known"},
    "offline_min": {"zh": "离线时长(分钟)", "en": "Offline (min)"},
    "offline_count": {"zh": "离线次数", "en": "Offline periods"},
    "messages": {"zh": "接收报文数", "en": "Messages received"},
    "readings": {"zh": "接收读数", "en": "Readings received"},
    "lost": {"zh": "丢失报文数", "en": "Messages lost"},
    "hist_messages": {"zh": "补传报文数", "en": "Back-filled messages"},
    "hist_readings": {"zh": "补传读数", "en": "Back-filled readings"},
    "not_good": {"zh": "非正常质量读数", "en": "Readings not of good quality"},
    "gateway": {"zh": "网关", "en": "Gateway"},
    "start": {"zh": "开始", "en": "Start"},
    "end": {"zh": "结束", "en": "End"},
    "duration": {"zh": "时长", "en": "Duration"},
    "duration_min": {"zh": "时长(分钟)", "en": "Duration (min)"},
    "remark": {"zh": "说明", "en": "Remark"},
    "began_before": {"zh": "本月开始前已离线", "en": "offline since before the month"},
    "ongoing": {"zh": "截至统计结束仍离线", "en": "still offline at the end"},
    "date": {"zh": "日期", "en": "Date"},
    "priority": {"zh": "优先级", "en": "Priority"},
    "raised": {"zh": "报警次数", "en": "Alarms raised"},
    "share": {"zh": "占比(%)", "en": "Share (%)"},
    "total": {"zh": "合计", "en": "Total"},
    "critical": {"zh": "紧急", "en": "Critical"},
    "high": {"zh": "高", "en": "High"},
    "medium": {"zh": "中", "en": "Medium"},
    "standing": {"zh": "长时报警（持续超过24小时）", "en": "Standing alarms (active over 24 h)"},
    "chattering": {"zh": "振荡报警（60秒内3次及以上）",
                   "en": "Chattering alarms (3 or more raises in 60 s)"},
    "alarm": {"zh": "报警", "en": "Alarm"},
    "raised_at": {"zh": "报警时间", "en": "Raised"},
    "active_h": {"zh": "持续(小时)", "en": "Active (h)"},
    "point": {"zh": "报警点", "en": "Alarm point"},
    "in_60s": {"zh": "60秒内最多次数", "en": "Most in 60 s"},
    "unpermitted": {"zh": "无有效许可的旁路", "en": "Bypassed without a valid permit"},
    "permits": {"zh": "有许可的旁路", "en": "Bypassed under a permit"},
    "sensor": {"zh": "联锁", "en": "Interlock"},
    "since": {"zh": "起始", "en": "Since"},
    "until": {"zh": "许可截止", "en": "Permit until"},
    "by": {"zh": "批准操作人", "en": "Granted by"},
    "note": {"zh": "记录", "en": "Journal note"},
    "none": {"zh": "无", "en": "None"},
    "section": {"zh": "部分", "en": "Section"},
}
PRIORITIES = ("critical", "high", "medium")

STYLE = """
body{font-family:"Noto Sans CJK SC","Source Han Sans SC","Microsoft YaHei","PingFang SC",sans-serif;
color:#111;margin:24px;font-size:13px;line-height:1.45}
h1{font-size:20px;margin:0 0 8px}h2{font-size:15px;margin:20px 0 6px;border-bottom:1px solid #999}
h3{font-size:13px;margin:12px 0 4px}
table{border-collapse:collapse;width:100%;margin:4px 0 8px}
th,td{border:1px solid #999;padding:3px 6px;text-align:left;vertical-align:top}
th{background:#eee}td.n{text-align:right;font-variant-numeric:tabular-nums}
.meta td{border:none;padding:1px 8px 1px 0}.warn{color:#a00;font-weight:bold}
.sign{margin-top:32px}
@media print{body{margin:0;font-size:11px}h2{break-after:avoid}tr{break-inside:avoid}
@page{size:A4;margin:15mm}}
""".strip()
CSP = ("default-src 'none'; style-src 'sha256-"
       + base64.b64encode(hashlib.sha256(STYLE.encode()).digest()).decode()
       + "'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'")


def _rate(value: float | None) -> str:
    return "—" if value is None else f"{value * 100:.2f}%"


def _pct(value: float | None) -> float | str:
    return "" if value is None else round(value * 100, 2)


def _minutes(ms: int) -> float:
    return round(ms / 60_000, 1)


def duration(ms: int, lang: Lang) -> str:
    """`2 d 3 h 05 min` / `2天3小时5分`."""
    minutes = round(ms / 60_000)
    d, rest = divmod(minutes, 1440)
    h, m = divmod(rest, 60)
    if lang == "zh":
        return (f"{d}天" if d else "") + (f"{h}小时" if d or h else "") + f"{m}分"
    return (f"{d} d " if d else "") + (f"{h} h " if d or h else "") + f"{m} min"


def _summary_rows(f: Figures, offline_count: int, lang: Lang) -> list[tuple[str, str]]:
    w = _words(lang)
    return [
        (w("online_rate"), _rate(f.online_rate)),
        (w("observed"), duration(f.observed_ms, lang)),
        (w("online_time"), duration(f.online_ms, lang)),
        (w("offline_time"), duration(f.offline_ms, lang)),
        (w("offline_count"), str(offline_count)),
        (w("unknown_time"), duration(f.unknown_ms, lang)),
        (w("messages"), str(f.messages)),
        (w("readings"), str(f.readings)),
        (w("lost"), str(f.lost_messages)),
        (w("hist_messages"), str(f.historical_messages)),
        (w("hist_readings"), str(f.historical_readings)),
        (w("not_good"), str(f.not_good_readings)),
    ]


def _words(lang: Lang) -> Callable[[str], str]:
    return lambda key: WORDS[key][lang]


# -- the tables, shared by HTML and CSV ----------------------------------------------------

Table = tuple[str | None, str | None, list[str], list[list[Any]]]
"""(section heading, subheading, header, rows); either heading may be absent."""


def tables(report: FeedReport, lang: Lang) -> list[Table]:
    w = _words(lang)
    feed = report.feed
    out: list[Table] = [
        (w("summary"), None, [w("item"), w("value")],
         [list(r) for r in _summary_rows(feed.total, len(feed.offline), lang)]),
        (w("gateways"), None, [w("gateway"), w("online_rate_pct"), w("offline_min"),
                               w("offline_count"), w("lost"), w("hist_messages"),
                               w("hist_readings"), w("not_good"), w("messages")],
         [_gateway_row(g) for g in feed.gateways]),
        (w("offline"), None, [w("gateway"), w("start"), w("end"), w("duration_min"), w("remark")],
         [_period_row(p, lang) for p in feed.offline]),
        (w("daily"), None, [w("date"), w("online_rate_pct"), w("offline_min"), w("lost"),
                      w("hist_messages"), w("hist_readings"), w("not_good"), w("messages")],
         [[local_date(d.from_ms), _pct(d.online_rate), _minutes(d.offline_ms), d.lost_messages,
           d.historical_messages, d.historical_readings, d.not_good_readings, d.messages]
          for d in feed.days]),
        *_alarm_tables(report, lang),
        *_bypass_tables(report, lang),
    ]
    return out


def _gateway_row(g: GatewayFeed) -> list[Any]:
    t = g.total
    return [g.gateway, _pct(t.online_rate), _minutes(t.offline_ms), len(g.offline),
            t.lost_messages, t.historical_messages, t.historical_readings,
            t.not_good_readings, t.messages]


def _period_row(p: OfflinePeriod, lang: Lang) -> list[Any]:
    w = _words(lang)
    remark = "; ".join(w(k) for k, on in (("began_before", p.began_before),
                                          ("ongoing", p.ongoing)) if on)
    return [p.gateway, local_text(p.start_ms, seconds=True), local_text(p.end_ms, seconds=True),
            _minutes(p.duration_ms), remark]


def _alarm_tables(report: FeedReport, lang: Lang) -> list[Table]:
    w = _words(lang)
    figures = report.alarms
    priorities = figures.get("priorities", {})
    names = [*PRIORITIES, *sorted(set(priorities) - set(PRIORITIES))]
    rows: list[list[Any]] = [
        [WORDS[p][lang] if p in WORDS else p, priorities.get(p, {}).get("raised", 0),
         round(priorities.get(p, {}).get("share", 0.0) * 100, 2)]
        for p in names
    ]
    rows.append([w("total"), figures.get("raised", 0), 100.0 if figures.get("raised") else 0.0])
    standing = [[s["alarm_id"], local_text(s["raised_ms"]), round(s["active_ms"] / 3_600_000, 1)]
                for s in figures.get("standing", [])]
    chattering = [[c["key"], c["raises_in_60s"], c["raised"]]
                  for c in figures.get("chattering", [])]
    return [
        (w("alarms"), None, [w("priority"), w("raised"), w("share")], rows),
        (None, w("standing"), [w("alarm"), w("raised_at"), w("active_h")], standing),
        (None, w("chattering"), [w("point"), w("in_60s"), w("raised")], chattering),
    ]


def _bypass_tables(report: FeedReport, lang: Lang) -> list[Table]:
    w = _words(lang)

    def until(b: OpenBypass) -> str:
        return local_text(b.until_ms) if b.until_ms is not None else ""

    return [
        (w("bypasses"), w("unpermitted"), [w("sensor"), w("since"), w("alarm")],
         [[b.sensor, local_text(b.since_ms), b.alarm_id or ""] for b in report.unpermitted]),
        (None, w("permits"), [w("sensor"), w("since"), w("until"), w("by"), w("note")],
         [[b.sensor, local_text(b.since_ms), until(b), b.user or "", b.note or ""]
          for b in report.permits]),
    ]


def _meta(report: FeedReport, lang: Lang) -> list[tuple[str, str]]:
    w = _words(lang)
    rows = [
        (w("site"), f"{report.site_name} ({report.site})"),
        (w("month"), report.month.name),
        (w("period"), f"{local_text(report.from_ms)} — {local_text(report.to_ms)}"),
        (w("generated"), local_text(report.generated_ms)),
    ]
    return rows


# -- HTML ------------------------------------------------------------------------------------


def html(report: FeedReport, lang: Lang = "zh") -> str:
    w = _words(lang)
    parts = [
        "<!DOCTYPE html>",
        f'<html lang="{"zh-CN" if lang == "zh" else "en"}"><head><meta charset="utf-8">',
        f"<title>{escape(w('title'))} · {escape(report.site_name)} · {report.month.name}</title>",
        f"<style>{STYLE}</style></head><body>",
        f"<h1>{escape(w('title'))}</h1>",
        '<table class="meta">',
        *(f"<tr><td>{escape(k)}</td><td>{escape(v)}</td></tr>" for k, v in _meta(report, lang)),
        "</table>",
        f"<p>{escape(w('tz'))}</p>",
    ]
    if not report.complete:
        parts.append(f'<p class="warn">{escape(w("partial"))}</p>')
    for section, subsection, header, rows in tables(report, lang):
        if section:
            parts.append(f"<h2>{escape(section)}</h2>")
        if subsection:
            parts.append(f"<h3>{escape(subsection)}</h3>")
        parts.append(_html_table(header, rows, w("none")))
    parts += [f'<p class="sign">{escape(w("sign"))}</p>', "</body></html>", ""]
    return "\n".join(parts)


def _html_table(header: Sequence[str], rows: Sequence[Sequence[Any]], none: str) -> str:
    if not rows:
        return f"<p>{escape(none)}</p>"
    head = "".join(f"<th>{escape(h)}</th>" for h in header)
    body = "".join(
        "<tr>" + "".join(_html_cell(c) for c in row) + "</tr>" for row in rows
    )
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _html_cell(value: Any) -> str:
    if isinstance(value, int | float) and not isinstance(value, bool):
        return f'<td class="n">{value}</td>'
    return f"<td>{escape(str(value))}</td>"


# -- CSV -------------------------------------------------------------------------------------


def csv_text(report: FeedReport, lang: Lang = "zh") -> str:
    out = io.StringIO()
    out.write("\ufeff")
    writer = csv.writer(out, lineterminator="\r\n")
    w = _words(lang)
    writer.writerow([w("title")])
    for key, value in _meta(report, lang):
        writer.writerow([_cell(key), _cell(value)])
    writer.writerow([w("tz")])
    if not report.complete:
        writer.writerow([w("partial")])
    for section, subsection, header, rows in tables(report, lang):
        writer.writerow([])
        writer.writerow([_cell(" · ".join(t for t in (section, subsection) if t))])
        writer.writerow([_cell(h) for h in header])
        writer.writerows(_cells(rows))
    return out.getvalue()


def _cells(rows: Iterable[Sequence[Any]]) -> Iterable[list[Any]]:
    for row in rows:
        yield [_cell(c) for c in row]


def _cell(value: Any) -> Any:
    if isinstance(value, str) and value[:1] in ("=", "+", "-", "@"):
        return "'" + value
    return value
