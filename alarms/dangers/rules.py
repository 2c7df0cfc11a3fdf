"""The rules that open a hidden danger from hazmon's own findings (docs/hidden-dangers.md):
one pure function over the plant's state and the journal's recent level-2 raises.

    findings(plant, rules, raises, now_ms) -> {cause: Finding}

A cause names what was found where (`gateway_offline:jh-chem-01/gw-tankfarm`); the
shell opens a record for a cause that has none open, and records the end of a cause
that is no longer found as closing evidence. Thresholds are the registry's
`hidden_dangers.rules` (hazmon.contract.dangers), with defaults.

- `bypass_past_permit`: an interlock reporting `bypassed` with no permit in force
  (none granted, or expired), for `after_s` (default 0);
- `interlock_out_of_service`: an interlock (ESD) out of service, or in fault, for
  `after_s` (default 24 h), measured from the out-of-service entry or the fault's raise;
- `detector_bad`: a detector (any analog sensor) in fault or stale for `after_s`
  (default 24 h), from the raise of its `fault` or `stale` alarm;
- `gateway_offline`: a gateway offline for `after_s` (default 8 h);
- `repeat_high_high`: the same sensor raised at level 2 (`high_high`) `count` times
  (default 3) within `window_s` (default 7 days).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field

from hazmon.alarms.core.plant import Plant
from hazmon.contract.dangers import DangerRule, DangerRules
from hazmon.contract.kinds import Condition

Raise = tuple[str, int, str]  # key (site/sensor/condition), ts_ms, alarm_id


@dataclass(frozen=True, slots=True)
class Finding:
    cause: str
    rule: str
    site: str
    area: str | None
    grade: str
    deadline_days: float
    description: str
    since_ms: int
    links: tuple[str, ...] = field(default=())  # alarm ids behind it


def _held(rule: DangerRule, since_ms: int | None, now_ms: int) -> bool:
    return rule.enabled and since_ms is not None and now_ms - since_ms >= rule.after_s * 1000


def findings(
    plant: Plant, rules: DangerRules, raises: Iterable[Raise], now_ms: int,
    *, oos_since: dict[str, int] | None = None,
) -> dict[str, Finding]:
    """Every cause found now. `raises`: the journal's `raised` entries of `high_high`
    points within the repeat window; `oos_since`: when each sensor (`site/sensor`)
    went out of service, from the journal."""
    found: dict[str, Finding] = {}
    for point in plant.points.values():
        occ = point.occ
        if occ is None or not point.active:
            continue
        config = plant.configs.get(f"{point.site}/{point.sensor}")
        area = config.area if config is not None else None
        name = f"{point.site}/{point.sensor}"
        if point.condition is Condition.offline:
            rule, tag, text = rules.gateway_offline, "gateway_offline", "网关离线"
        elif point.condition is Condition.bypass:
            state = plant.sensors.get(name)
            permit = state.permit if state is not None else None
            if permit is not None and permit.valid(now_ms):
                continue
            since = occ.raised_ms if permit is None else max(occ.raised_ms, permit.until_ms)
            _add(found, rules.bypass_past_permit, "bypass_past_permit", point.site, name,
                 area, since, now_ms, "联锁旁路超出许可（无有效旁路许可）", (occ.alarm_id,))
            continue
        elif point.condition in (Condition.fault, Condition.stale):
            if config is not None and not config.analog:
                rule, tag, text = (rules.interlock_out_of_service, "interlock_out_of_service",
                                   "联锁（ESD）故障、失效")
            else:
                rule, tag = rules.detector_bad, "detector_bad"
                text = "探测器故障" if point.condition is Condition.fault else "探测器数据中断"
        else:
            continue
        _add(found, rule, tag, point.site, name, area, occ.raised_ms, now_ms, text,
             (occ.alarm_id,))
    for sid, since_ms in (oos_since or {}).items():
        state = plant.sensors.get(sid)
        config = plant.configs.get(sid)
        if state is None or config is None or config.analog or state.oos_until_ms is None:
            continue
        _add(found, rules.interlock_out_of_service, "interlock_out_of_service", state.site,
             sid, config.area, since_ms, now_ms, "联锁（ESD）停用（退出服务）", ())
    _repeats(found, plant, rules, raises, now_ms)
    return found


def _add(found: dict[str, Finding], rule: DangerRule, tag: str, site: str, name: str,
         area: str | None, since_ms: int, now_ms: int, text: str,
         links: tuple[str, ...]) -> None:
    if not _held(rule, since_ms, now_ms):
        return
    cause = f"{tag}:{name}"
    hours = (now_ms - since_ms) / 3_600_000
    found[cause] = Finding(
        cause, tag, site, area, rule.grade, rule.deadline_days,
        f"{name.split('/', 1)[1]}：{text}，已持续 {hours:.1f} 小时（hazmon 自动发现）",
        since_ms, links)


def _repeats(found: dict[str, Finding], plant: Plant, rules: DangerRules,
             raises: Iterable[Raise], now_ms: int) -> None:
    rule = rules.repeat_high_high
    if not rule.enabled:
        return
    start = now_ms - int(rule.window_s * 1000)
    by_key: dict[str, list[tuple[int, str]]] = defaultdict(list)
    for key, ts_ms, alarm_id in raises:
        if ts_ms >= start and key.endswith(f"/{Condition.high_high.value}"):
            by_key[key].append((ts_ms, alarm_id))
    for key, seen in sorted(by_key.items()):
        if len(seen) < rule.count:
            continue
        site, sensor, _ = key.split("/", 2)
        config = plant.configs.get(f"{site}/{sensor}")
        days = rule.window_s / 86_400
        found[f"repeat_high_high:{site}/{sensor}"] = Finding(
            f"repeat_high_high:{site}/{sensor}", "repeat_high_high", site,
            config.area if config is not None else None, rule.grade, rule.deadline_days,
            f"{sensor}：{days:g} 天内 {len(seen)} 次二级（high_high）报警（hazmon 自动发现）",
            min(t for t, _ in seen), tuple(a for _, a in sorted(seen)))
