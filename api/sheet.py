"""The alarm journal as a spreadsheet reads it (`GET /api/v1/journal?format=excel`): CSV
for people, beside the exact machine export (JSON lines, or `format=csv`, with epoch
milliseconds and the hash chain).

- times in ISO 8601 local time with their offset (`2026-12-06T09:58:28+08:00`), in the
  zone asked for (default Asia/Shanghai, the plant's);
- a byte-order mark first (on by default), so that Excel on a Chinese Windows reads the
  file as UTF-8 instead of GBK;
- the priority of each entry's alarm, the site's name beside its id, the sensor's kind,
  name, area and unit;
- headers, priorities, events and states in Chinese (`lang="zh"`, default) or English;
- cells guarded against spreadsheet formulas as in the machine CSV.

Pure: entries in, text out.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Iterator
from datetime import UTC, datetime
from typing import Any, Literal
from zoneinfo import ZoneInfo

from hazmon.alarms.journal.export import csv_cell
from hazmon.contract.kinds import Condition
from hazmon.contract.registry import Registry, Sensor

Lang = Literal["zh", "en"]
BOM = "\ufeff"
CHUNK_ROWS = 500

COLUMNS: tuple[tuple[str, str, str], ...] = (  # (field, zh, en)
    ("time", "时间", "Time"),
    ("priority", "优先级", "Priority"),
    ("site_name", "企业", "Site"),
    ("site", "企业编号", "Site id"),
    ("sensor", "探测器/网关", "Sensor / gateway"),
    ("sensor_name", "名称", "Name"),
    ("kind", "类型", "Kind"),
    ("area", "区域", "Area"),
    ("condition", "报警类型", "Condition"),
    ("event", "事件", "Event"),
    ("from_state", "原状态", "From state"),
    ("to_state", "新状态", "To state"),
    ("value", "数值", "Value"),
    ("unit", "单位", "Unit"),
    ("user", "操作人", "User"),
    ("note", "说明", "Note"),
    ("alarm_id", "报警编号", "Alarm id"),
    ("seq", "日志序号", "Journal seq"),
    ("hash", "哈希", "Hash"),
)

WORDS: dict[str, dict[str, tuple[str, str]]] = {  # what -> code -> (zh, en)
    "priority": {
        "critical": ("紧急", "Critical"), "high": ("高", "High"), "medium": ("中", "Medium"),
    },
    "state": {
        "normal": ("正常", "Normal"), "unack": ("未确认", "Unacknowledged"),
        "acked": ("已确认", "Acknowledged"),
        "rtn_unack": ("已恢复未确认", "Returned, unacknowledged"),
        "shelved": ("已搁置", "Shelved"), "suppressed": ("已抑制", "Suppressed"),
        "out_of_service": ("停用", "Out of service"),
    },
    "event": {
        "raised": ("报警", "Raised"), "cleared": ("恢复", "Cleared"),
        "acked": ("确认", "Acknowledged"), "reset": ("复位", "Reset"),
        "shelved": ("搁置", "Shelved"), "unshelved": ("解除搁置", "Unshelved"),
        "suppressed": ("抑制", "Suppressed"), "unsuppressed": ("解除抑制", "Unsuppressed"),
        "escalated": ("升级", "Escalated"), "notified": ("已通知", "Notified"),
        "notify_failed": ("通知失败", "Notification failed"), "note": ("备注", "Note"),
        "out_of_service": ("停用", "Out of service"), "in_service": ("恢复投用", "In service"),
        # cause-and-effect records of an interlock (journal only, docs/alarms.md)
        "ce_demand": ("联锁动作需求", "Demand on interlock"),
        "ce_response": ("按时动作", "Tripped in time"),
        "ce_late": ("迟动", "Tripped late"), "ce_missing": ("拒动", "Never tripped"),
        "ce_spurious": ("误动", "Spurious trip"),
    },
    "condition": {
        "high": ("高报", "High"), "high_high": ("高高报", "High-high"),
        "low": ("低报", "Low"), "low_low": ("低低报", "Low-low"),
        "trip": ("联锁跳车", "Trip"), "bypass": ("联锁旁路", "Bypass"),
        "fault": ("故障", "Fault"), "stale": ("数据中断", "Stale"),
        "offline": ("网关离线", "Gateway offline"), "feed_gap": ("数据丢失", "Feed gap"),
        "chain_dead": ("报警链路中断", "Alarm chain dead"),
        "ce_failed": ("联锁未按因果动作", "Interlock failed to act on demand"),
    },
    "kind": {
        "combustible_gas": ("可燃气体", "Combustible gas"),
        "toxic_gas": ("有毒气体", "Toxic gas"), "oxygen": ("氧气", "Oxygen"),
        "interlock": ("联锁", "Interlock"), "residual_current": ("剩余电流", "Residual current"),
        "cable_temperature": ("线缆温度", "Cable temperature"), "current": ("电流", "Current"),
        "voltage": ("电压", "Voltage"), "level": ("液位", "Level"),
        "pressure": ("压力", "Pressure"), "temperature": ("温度", "Temperature"),
        "gateway": ("网关", "Gateway"),
    },
}


def word(what: str, code: Any, lang: Lang) -> str:
    """A code's word in `lang`; an unknown code stays as it is."""
    if code is None:
        return ""
    pair = WORDS[what].get(str(code))
    return str(code) if pair is None else pair[0 if lang == "zh" else 1]


def local_iso(ts_ms: int, zone: ZoneInfo) -> str:
    """`2026-12-06T09:58:28.123+08:00` (milliseconds only when there are any)."""
    moment = datetime.fromtimestamp(ts_ms / 1000, tz=UTC).astimezone(zone)
    return moment.isoformat(timespec="milliseconds" if ts_ms % 1000 else "seconds")


class Plant:
    """What the registry and the occurrences tell about an entry's alarm: site name,
    sensor, priority."""

    def __init__(self, registry: Registry, priorities: dict[str, str]) -> None:
        self.site_names = {s.id: s.name for s in registry.sites}
        self.sensors: dict[tuple[str, str], Sensor] = {
            (s.id, x.id): x for s, _, x in registry.sensors()
        }
        self.gateways = {(s.id, g.id) for s in registry.sites for g in s.gateways}
        self.priorities = priorities  # alarm_id -> priority, of the occurrences known

    def describe(self, entry: dict[str, Any]) -> dict[str, Any]:
        site = str(entry.get("site") or "")
        key = str(entry.get("key") or "")
        parts = key.split("/")  # site/sensor/condition, or site/sensor (a C&E record)
        thing = parts[1] if len(parts) in (2, 3) else ""
        condition = parts[2] if len(parts) == 3 else ""
        sensor = self.sensors.get((site, thing))
        priority = self.priorities.get(str(entry.get("alarm_id") or ""))
        if priority is None and sensor is not None and condition in Condition.__members__:
            priority = sensor.priority(Condition(condition)).value
        kind = sensor.kind.value if sensor is not None else (
            "gateway" if (site, thing) in self.gateways else "")
        return {
            "site_name": self.site_names.get(site, ""),
            "sensor": thing,
            "sensor_name": sensor.name if sensor is not None else "",
            "kind": kind,
            "area": sensor.area if sensor is not None else "",
            "unit": sensor.unit if sensor is not None else "",
            "condition": condition,
            "priority": priority,
        }


def rows_of(entries: Iterable[dict[str, Any]], plant: Plant, lang: Lang, zone: ZoneInfo
            ) -> Iterator[list[Any]]:
    for entry in entries:
        found = {**entry, **plant.describe(entry), "time": local_iso(int(entry["ts_ms"]), zone)}
        for what in ("priority", "kind", "condition", "event"):
            found[what] = word(what, found.get(what), lang)
        found["from_state"] = word("state", entry.get("from_state"), lang)
        found["to_state"] = word("state", entry.get("to_state"), lang)
        yield [csv_cell(found.get(field)) for field, _, _ in COLUMNS]


def excel_csv(
    entries: Iterable[dict[str, Any]], plant: Plant, *, lang: Lang = "zh",
    tz: str = "Asia/Shanghai", bom: bool = True,
) -> Iterator[str]:
    """The journal entries as CSV for a spreadsheet, chunk by chunk (header first)."""
    zone = ZoneInfo(tz)
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow([zh if lang == "zh" else en for _, zh, en in COLUMNS])
    yield (BOM if bom else "") + out.getvalue()
    chunk: list[list[Any]] = []
    for row in rows_of(entries, plant, lang, zone):
        chunk.append(row)
        if len(chunk) >= CHUNK_ROWS:
            yield _written(out, writer, chunk)
            chunk = []
    if chunk:
        yield _written(out, writer, chunk)


def _written(out: io.StringIO, writer: Any, rows: list[list[Any]]) -> str:
    out.seek(0)
    out.truncate()
    writer.writerows(rows)
    return out.getvalue()
