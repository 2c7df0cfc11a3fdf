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
  "istate.normal": "正常", "istate.tripped": "联锁动作", "istate.bypassed": "旁路",
  "istate.fault": "故障",
  lang: "English",
  "grade.red": "红色", "grade.orange": "橙色", "grade.yellow": "黄色", "grade.blue": "蓝色",
  "priority.critical": "紧急", "priority.high": "高", "priority.medium": "中",
  "state.normal": "正常", "state.unack": "未确认", "state.acked": "已确认",
  "state.rtn_unack": "已恢复未确认", "state.shelved": "已搁置", "state.suppressed": "已抑制",
  "state.out_of_service": "停用",
  "condition.high": "高报", "condition.high_high": "高高报", "condition.low": "低报",
  "condition.low_low": "低低报", "condition.trip": "联锁动作", "condition.bypass": "联锁旁路",
  "condition.fault": "故障", "condition.stale": "数据中断", "condition.offline": "网关离线",
  "condition.feed_gap": "数据丢失", "condition.chain_dead": "报警链路中断",
  "event.raised": "报警", "event.cleared": "恢复", "event.acked": "确认", "event.reset": "复位",
  "event.shelved": "搁置", "event.unshelved": "解除搁置", "event.suppressed": "抑制",
  "event.unsuppressed": "解除抑制", "event.escalated": "升级", "event.notified": "已通知",
  "event.notify_failed": "通知失败", "event.historical": "历史数据越限", "event.note": "备注",
  "event.out_of_service": "停用", "event.in_service": "恢复投用",
  "event.permit_expired": "旁路许可到期", "event.bypass_permit": "旁路许可",
  "event.maintenance_start": "开始维护", "event.maintenance_end": "结束维护",
  "returned": "（已恢复，待复位）",
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
  "grade.red": "Red", "grade.orange": "Orange", "grade.yellow": "Yellow", "grade.blue": "Blue",
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
  "returned": " (returned, reset needed)",
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

export function formatAge(ts, now = Date.now()) {
  if (ts == null) return "";
  const s = Math.max(0, Math.round((now - ts) / 1000));
  if (s < 60) return `${s} ${t("age.s")}`;
  if (s < 3600) return `${Math.floor(s / 60)} ${t("age.m")}`;
  return `${Math.floor(s / 3600)} ${t("age.h")}`;
}
