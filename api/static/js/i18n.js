// Chinese by default, English on request; the choice is kept in localStorage. Every
// text the console shows is in these two tables (tests/api/test_console_static.py);
// an element that shows one keeps its key (data-i18n), so a change of language redraws
// it wherever it is.

const zh = {
  title: "重大危险源监测预警值班台",
  "login.prompt": "请粘贴您的访问令牌",
  "login.token": "令牌",
  "login.submit": "登录",
  "login.bad": "令牌无效，请重新输入",
  "login.lost": "会话已失效，请重新登录",
  logout: "退出",
  export: "导出报警日志",
  "conn.live": "实时连接",
  "conn.connecting": "正在连接…",
  "conn.lost": "连接中断，正在重连…",
  "chain.label": "报警链路",
  "chain.dead": "报警链路中断",
  "degraded.title": "监测降级",
  "degraded.hint": "部分监测或报警链路工作不正常：本页显示的情况可能不完整",
  "feed.degraded": "数据异常",
  "feed.online": "在线率",
  "feed.lost": "近1小时丢失消息",
  "feed.offline": "离线网关",
  "site._system": "平台自身",
  "sites.title": "企业风险分布",
  "sites.map": "浙江省（示意图）",
  "alarms.title": "活动报警",
  "alarms.none": "当前没有活动报警",
  "alarms.hiddenTitle": "已搁置 / 抑制 / 停用",
  "alarms.hiddenHint": "不在上方列表中，但仍计入企业风险等级",
  "shelved.until": "搁置至",
  "banner.critical": "新的紧急报警！",
  "title.critical": "【新的紧急报警！】",
  "banner.silence": "知道了",
  "action.ack": "确认",
  "action.shelve": "搁置",
  "action.reset": "复位",
  "action.unshelve": "解除搁置",
  "action.trend": "趋势",
  "action.cancel": "取消",
  "action.close": "关闭",
  "ack.title": "确认报警",
  "ack.note": "处置说明",
  "shelve.title": "搁置报警",
  "shelve.reason": "搁置原因",
  "shelve.minutes": "时长（分钟）",
  "reset.title": "复位报警",
  "unshelve.title": "解除搁置（请说明原因）",
  "detail.trend": "近一小时趋势",
  "detail.history": "报警记录",
  "detail.none": "暂无数据",
  "col.time": "时间",
  "col.event": "事件",
  "col.state": "状态",
  "col.value": "数值",
  "col.user": "操作人",
  "col.note": "说明",
  "age.s": "秒前",
  "age.m": "分钟前",
  "age.h": "小时前",
  "error.action": "操作失败",
  "error.illegal_transition": "操作失败：报警当前状态不允许此操作",
  "error.limit_exceeded": "操作失败：超出允许范围",
  "error.forbidden": "操作失败：当前角色无此权限",
  "error.unknown_alarm": "操作失败：报警或探测器不存在",
  "error.not_found": "操作失败：对象不存在",
  "error.invalid_request": "操作失败：输入不符合要求",
  "error.store_unavailable": "数据库暂时无法访问",
  "error.store_error": "数据库出错",
  "error.too_many_requests": "认证失败次数过多，请稍后再试",
  "export.done": "日志已导出",
  "role.viewer": "查看", "role.operator": "操作员", "role.engineer": "工程师",
  "role.auditor": "审计", "role.admin": "管理员",
  "istate.normal": "正常", "istate.tripped": "跳车", "istate.bypassed": "旁路",
  "istate.fault": "故障",
  lang: "English",
  "grade.red": "重大风险", "grade.orange": "较大风险", "grade.yellow": "一般风险",
  "grade.blue": "低风险",
  "legend.title": "风险等级",
  "summary.unack": "未确认",
  "summary.active": "活动",
  "tab.alarms": "报警",
  "tab.sites": "风险分布",
  "kind.combustible_gas": "可燃气体", "kind.toxic_gas": "有毒气体", "kind.oxygen": "氧气",
  "kind.interlock": "联锁", "kind.residual_current": "剩余电流", "kind.cable_temperature": "线缆温度",
  "kind.current": "电流", "kind.voltage": "电压", "kind.level": "液位", "kind.pressure": "压力",
  "kind.temperature": "温度", "kind.gateway": "网关",
  "value.now": "当前", "value.at": "报警时", "limit": "限值", "past.over": "超限",
  "past.under": "低于限值", "raised.at": "报警于",
  "alarms.unackOf": "未确认",
  "alarms.shown": "显示",
  "filter.priority": "优先级", "filter.state": "状态", "filter.site": "企业",
  "filter.all": "全部", "filter.unack": "未确认", "filter.acked": "已确认",
  "filter.search": "搜索位号、企业、区域", "filter.clear": "清除筛选",
  "sort.label": "排序", "sort.priority": "优先级（未确认在前）", "sort.time": "最新在前",
  "sort.site": "按企业",
  "select.all": "全选显示的报警", "select.one": "选择",
  "bulk.ack": "确认所选", "group.ack": "全部确认", "group.expand": "展开",
  "group.collapse": "收起", "group.of": "条",
  "ackMany.title": "批量确认报警", "ackMany.count": "条报警",
  "ackMany.partial": "部分报警未能确认",
  "offline.title": "连接中断", "offline.asOf": "数据截至", "offline.hint":
    "以下为断线前的情况，时长已停止计时；正在自动重连…",
  "age.stale": "（截至断线）",
  "error.network": "未能发送：与服务器的连接中断。已填写的内容已保留，恢复连接后请再次提交。",
  "banner.goto": "查看",
  "reason.otherText": "请说明原因",
  "dialog.subject": "报警",
  "state.returned": "已恢复·待复位",
  "note.telemetry_again": "网关恢复上报数据", "note.readings_again": "读数恢复",
  "note.gateway_online": "网关上线", "note.gateway_offline": "网关离线（启动号 {1}）",
  "note.no_telemetry": "{1} 秒未收到网关数据", "note.no_reading": "{1} 秒无读数",
  "note.lost": "丢失 {1} 条消息（{2}）", "note.seq": "序号 {1}–{2}", "note.boot": "启动号 {1}",
  "note.on_delay": "延时期内无相反读数，报警成立", "note.maintenance_ended": "维护结束",
  "note.maintenance": "维护（标定、测试）", "note.maintenance_over": "维护超过 {1} 分钟",
  "note.shelving_expired": "搁置到期", "note.no_permit": "无有效许可的旁路",
  "note.historical": "补传（历史）数据越限",
  "note.notified": "{1}（第 {2} 级）：{3}", "note.sent.log": "已写入日志",
  "note.sent.mqtt": "已通过 MQTT 发布", "note.sent.webhook": "Webhook 应答 {1}",
  "note.sent.memory": "已接收",
  "note.shelved": "{1}（{2} 分钟，至 {3}）", "note.until": "至 {1}",
  "note.until_reason": "至 {1}；原因：{2}", "note.sep": "；",
  "priority.critical": "紧急", "priority.high": "高", "priority.medium": "中",
  "state.normal": "正常", "state.unack": "未确认", "state.acked": "已确认",
  "state.rtn_unack": "已恢复·未确认", "state.shelved": "已搁置", "state.suppressed": "已抑制",
  "state.out_of_service": "停用",
  "condition.high": "高报", "condition.high_high": "高高报", "condition.low": "低报",
  "condition.low_low": "低低报", "condition.trip": "联锁跳车", "condition.bypass": "联锁旁路",
  "condition.fault": "故障", "condition.stale": "数据中断", "condition.offline": "网关离线",
  "condition.feed_gap": "数据丢失", "condition.chain_dead": "报警链路中断",
  "event.raised": "报警", "event.cleared": "恢复", "event.acked": "确认", "event.reset": "复位",
  "event.shelved": "搁置", "event.unshelved": "解除搁置", "event.suppressed": "抑制",
  "event.unsuppressed": "解除抑制", "event.escalated": "升级", "event.notified": "已通知",
  "event.notify_failed": "通知失败", "event.historical": "历史数据越限", "event.note": "备注",
  "event.out_of_service": "停用", "event.in_service": "恢复投用",
  "event.permit_expired": "旁路许可到期", "event.bypass_permit": "旁路许可",
  "event.maintenance_start": "开始维护", "event.maintenance_end": "结束维护",
  "reason.maintenance": "探头维护/标定",
  "reason.nuisance": "误报/干扰",
  "reason.known": "已知问题，正在处理",
  "reason.operation": "工艺操作需要",
  "reason.other": "其他",
  "town.hangzhou": "杭州", "town.ningbo": "宁波", "town.wenzhou": "温州", "town.jinhua": "金华",
  "town.yiwu": "义乌", "town.dongyang": "东阳", "town.wuyi": "武义", "town.yongkang": "永康",
  "town.lanxi": "兰溪", "town.pujiang": "浦江", "town.quzhou": "衢州", "town.lishui": "丽水",
  "town.shaoxing": "绍兴", "town.taizhou": "台州", "town.huzhou": "湖州", "town.jiaxing": "嘉兴",
};

const en = {
  title: "Major Hazard Monitoring — Duty Console",
  "login.prompt": "Paste your access token",
  "login.token": "Token",
  "login.submit": "Sign in",
  "login.bad": "The token is not valid; try again",
  "login.lost": "Your session ended; please sign in again",
  logout: "Sign out",
  export: "Export alarm journal",
  "conn.live": "Live",
  "conn.connecting": "Connecting…",
  "conn.lost": "Connection lost, reconnecting…",
  "chain.label": "Alarm chain",
  "chain.dead": "Alarm chain DEAD",
  "degraded.title": "Monitoring degraded",
  "degraded.hint": "Part of the monitoring or the alarm chain is not working: what this page shows may be incomplete",
  "feed.degraded": "Feed degraded",
  "feed.online": "Online",
  "feed.lost": "Messages lost in the last hour:",
  "feed.offline": "Gateways offline:",
  "site._system": "Platform",
  "sites.title": "Sites by risk grade",
  "sites.map": "Zhejiang (schematic)",
  "alarms.title": "Active alarms",
  "alarms.none": "No active alarms",
  "alarms.hiddenTitle": "Shelved / suppressed / out of service",
  "alarms.hiddenHint": "Not in the list above, but still counted in the site's risk grade",
  "shelved.until": "shelved until",
  "banner.critical": "New critical alarm!",
  "title.critical": "[NEW CRITICAL ALARM]",
  "banner.silence": "Seen",
  "action.ack": "Ack",
  "action.shelve": "Shelve",
  "action.reset": "Reset",
  "action.unshelve": "Unshelve",
  "action.trend": "Trend",
  "action.cancel": "Cancel",
  "action.close": "Close",
  "ack.title": "Acknowledge alarm",
  "ack.note": "Note",
  "shelve.title": "Shelve alarm",
  "shelve.reason": "Reason",
  "shelve.minutes": "Minutes",
  "reset.title": "Reset alarm",
  "unshelve.title": "Unshelve alarm (say why)",
  "detail.trend": "Last hour",
  "detail.history": "Alarm history",
  "detail.none": "No data",
  "col.time": "Time",
  "col.event": "Event",
  "col.state": "State",
  "col.value": "Value",
  "col.user": "User",
  "col.note": "Note",
  "age.s": "s ago",
  "age.m": "min ago",
  "age.h": "h ago",
  "error.action": "Action failed",
  "error.illegal_transition": "Action failed: not allowed in the alarm's state",
  "error.limit_exceeded": "Action failed: over the allowed limit",
  "error.forbidden": "Action failed: your role may not do this",
  "error.unknown_alarm": "Action failed: no such alarm or sensor",
  "error.not_found": "Action failed: not found",
  "error.invalid_request": "Action failed: the input does not fit",
  "error.store_unavailable": "The database cannot be reached now",
  "error.store_error": "Database error",
  "error.too_many_requests": "Too many failed sign-ins; try again later",
  "export.done": "Journal exported",
  "role.viewer": "Viewer", "role.operator": "Operator", "role.engineer": "Engineer",
  "role.auditor": "Auditor", "role.admin": "Administrator",
  "istate.normal": "Normal", "istate.tripped": "Tripped", "istate.bypassed": "Bypassed",
  "istate.fault": "Fault",
  lang: "中文",
  "grade.red": "Major risk", "grade.orange": "Large risk", "grade.yellow": "General risk",
  "grade.blue": "Low risk",
  "legend.title": "Risk grades",
  "summary.unack": "unacknowledged",
  "summary.active": "active",
  "tab.alarms": "Alarms",
  "tab.sites": "Risk map",
  "kind.combustible_gas": "Combustible gas", "kind.toxic_gas": "Toxic gas", "kind.oxygen": "Oxygen",
  "kind.interlock": "Interlock", "kind.residual_current": "Residual current",
  "kind.cable_temperature": "Cable temperature", "kind.current": "Current",
  "kind.voltage": "Voltage", "kind.level": "Level", "kind.pressure": "Pressure",
  "kind.temperature": "Temperature", "kind.gateway": "Gateway",
  "value.now": "now", "value.at": "at alarm", "limit": "limit", "past.over": "over by",
  "past.under": "under by", "raised.at": "raised",
  "alarms.unackOf": "unacknowledged",
  "alarms.shown": "shown",
  "filter.priority": "Priority", "filter.state": "State", "filter.site": "Site",
  "filter.all": "All", "filter.unack": "Unacknowledged", "filter.acked": "Acknowledged",
  "filter.search": "Search tag, site, area", "filter.clear": "Clear filters",
  "sort.label": "Sort", "sort.priority": "Priority (unacknowledged first)",
  "sort.time": "Newest first", "sort.site": "By site",
  "select.all": "Select all shown alarms", "select.one": "Select",
  "bulk.ack": "Ack selected", "group.ack": "Ack all", "group.expand": "Expand",
  "group.collapse": "Collapse", "group.of": "alarms",
  "ackMany.title": "Acknowledge alarms", "ackMany.count": "alarms",
  "ackMany.partial": "Some alarms could not be acknowledged",
  "offline.title": "Connection lost", "offline.asOf": "data as of", "offline.hint":
    "What follows is as it was before the loss; ages are frozen. Reconnecting…",
  "age.stale": "(as of the loss)",
  "error.network": "Not sent: the connection to the server is lost. What you wrote is kept; send it again once the connection is back.",
  "banner.goto": "Show",
  "reason.otherText": "Say why",
  "dialog.subject": "Alarm",
  "state.returned": "Returned, reset needed",
  "note.telemetry_again": "Gateway delivering again", "note.readings_again": "Readings again",
  "note.gateway_online": "Gateway online", "note.gateway_offline": "Gateway offline (boot {1})",
  "note.no_telemetry": "No telemetry for {1} s", "note.no_reading": "No reading for {1} s",
  "note.lost": "{1} messages lost ({2})", "note.seq": "seq {1} to {2}", "note.boot": "boot {1}",
  "note.on_delay": "On-delay elapsed without a contradicting reading",
  "note.maintenance_ended": "Maintenance ended",
  "note.maintenance": "Maintenance (calibration, test)",
  "note.maintenance_over": "Maintenance over {1} min",
  "note.shelving_expired": "Shelving expired", "note.no_permit": "Bypassed without a valid permit",
  "note.historical": "Threshold crossed in replayed (historical) data",
  "note.notified": "{1} (tier {2}): {3}", "note.sent.log": "written to the log",
  "note.sent.mqtt": "published over MQTT", "note.sent.webhook": "webhook answered {1}",
  "note.sent.memory": "received",
  "note.shelved": "{1} (for {2} min, until {3})", "note.until": "until {1}",
  "note.until_reason": "until {1}; reason: {2}", "note.sep": "; ",
  "priority.critical": "Critical", "priority.high": "High", "priority.medium": "Medium",
  "state.normal": "Normal", "state.unack": "Unacknowledged", "state.acked": "Acknowledged",
  "state.rtn_unack": "Returned, unacknowledged", "state.shelved": "Shelved",
  "state.suppressed": "Suppressed", "state.out_of_service": "Out of service",
  "condition.high": "High", "condition.high_high": "High-high", "condition.low": "Low",
  "condition.low_low": "Low-low", "condition.trip": "Trip", "condition.bypass": "Bypass",
  "condition.fault": "Fault", "condition.stale": "Stale", "condition.offline": "Offline",
  "condition.feed_gap": "Feed gap", "condition.chain_dead": "Alarm chain dead",
  "event.raised": "Raised", "event.cleared": "Cleared", "event.acked": "Acked",
  "event.reset": "Reset", "event.shelved": "Shelved", "event.unshelved": "Unshelved",
  "event.suppressed": "Suppressed", "event.unsuppressed": "Unsuppressed",
  "event.escalated": "Escalated", "event.notified": "Notified",
  "event.notify_failed": "Notify failed", "event.historical": "Historical", "event.note": "Note",
  "event.out_of_service": "Out of service", "event.in_service": "Back in service",
  "event.permit_expired": "Bypass permit expired", "event.bypass_permit": "Bypass permit",
  "event.maintenance_start": "Maintenance started", "event.maintenance_end": "Maintenance ended",
  "reason.maintenance": "Detector maintenance / calibration",
  "reason.nuisance": "Nuisance / interference",
  "reason.known": "Known problem being worked on",
  "reason.operation": "Needed for operation",
  "reason.other": "Other",
  "town.hangzhou": "Hangzhou", "town.ningbo": "Ningbo", "town.wenzhou": "Wenzhou",
  "town.jinhua": "Jinhua", "town.yiwu": "Yiwu", "town.dongyang": "Dongyang", "town.wuyi": "Wuyi",
  "town.yongkang": "Yongkang", "town.lanxi": "Lanxi", "town.pujiang": "Pujiang",
  "town.quzhou": "Quzhou", "town.lishui": "Lishui", "town.shaoxing": "Shaoxing",
  "town.taizhou": "Taizhou", "town.huzhou": "Huzhou", "town.jiaxing": "Jiaxing",
};

const dictionaries = { zh, en };
let lang = localStorage.getItem("hazmon.lang") === "en" ? "en" : "zh";

export function language() {
  return lang;
}

export function locale() {
  return lang === "zh" ? "zh-CN" : "en-GB";
}

export function t(key, fallback) {
  return dictionaries[lang][key] ?? fallback ?? key;
}

function translated(el) {
  const detail = el.dataset.i18nDetail;
  return detail ? `${t(el.dataset.i18n)} — ${detail}` : t(el.dataset.i18n);
}

/** Show `key`'s text in `el` (and an untranslated `detail` after it, such as the
 * server's sentence), and keep showing it in the language chosen later. */
export function setText(el, key, detail = "") {
  el.dataset.i18n = key;
  if (detail) el.dataset.i18nDetail = detail;
  else delete el.dataset.i18nDetail;
  el.textContent = translated(el);
}

/** Apply the language to every element with data-i18n (its text) or data-i18n-label. */
export function applyLanguage(root = document) {
  document.documentElement.lang = lang === "zh" ? "zh-CN" : "en";
  for (const el of root.querySelectorAll("[data-i18n]")) el.textContent = translated(el);
  for (const el of root.querySelectorAll("[data-i18n-label]")) {
    el.setAttribute("aria-label", t(el.dataset.i18nLabel));
  }
}

export function toggleLanguage() {
  lang = lang === "zh" ? "en" : "zh";
  localStorage.setItem("hazmon.lang", lang);
  applyLanguage();
  return lang;
}

export function formatTime(ts) {
  return ts == null ? "—" : new Date(ts).toLocaleString(locale(), { hour12: false });
}

/** `key`'s text with {1}, {2}, ... filled in from `args`. */
export function fill(key, ...args) {
  return t(key).replace(/\{(\d)\}/g, (_, i) => String(args[Number(i) - 1] ?? ""));
}

/** The clock time of `ts` (local, 24 h), with the date when it is not today. */
export function formatClock(ts, now = Date.now()) {
  if (ts == null) return "—";
  const when = new Date(ts);
  const sameDay = when.toDateString() === new Date(now).toDateString();
  return sameDay ? when.toLocaleTimeString(locale(), { hour12: false })
    : when.toLocaleString(locale(), { hour12: false, month: "2-digit", day: "2-digit",
      hour: "2-digit", minute: "2-digit" });
}

export function formatAge(ts, now = Date.now()) {
  if (ts == null) return "";
  const s = Math.max(0, Math.round((now - ts) / 1000));
  if (s < 60) return `${s} ${t("age.s")}`;
  if (s < 3600) return `${Math.floor(s / 60)} ${t("age.m")}`;
  return `${Math.floor(s / 3600)} ${t("age.h")}`;
}
