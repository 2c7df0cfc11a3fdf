// The alarm summary (ISA-101 / EEMUA 191): one compact row per alarm, unacknowledged
// first within a priority, filtered, sorted, searched; identical alarms (same site,
// condition, priority and state: 14 gateways offline) as one group that expands and is
// acknowledged at once. Shelved, suppressed and out-of-service alarms leave the list
// (ISA-18.2) for a section of their own below it, with when a shelving ends.
// Priority is told by shape, colour and text: ◆ critical, ▲ high, ■ medium.

import { failedWords } from "./causeeffect.js";
import { clear, h } from "./dom.js";
import { formatAge, formatClock, formatTime, t } from "./i18n.js";
import { noteWords } from "./notes.js";

export const PRIORITIES = ["critical", "high", "medium"];
export const SHAPES = { critical: "◆", high: "▲", medium: "■" };
const RANK = { critical: 0, high: 1, medium: 2 };
export const HIDDEN_STATES = new Set(["shelved", "suppressed", "out_of_service"]);
const GROUP_AT = 3; // this many identical alarms or more are shown as one group

export const isUnack = (alarm) => alarm.state === "unack" || alarm.state === "rtn_unack";
const raisedOf = (alarm) => alarm.raised_ms ?? alarm.ts_ms;

/** Sorted for the officer: `priority` (critical first, unacknowledged before
 * acknowledged, newest first), `time` (newest first) or `site` (by site name). */
export function sortAlarms(alarms, by = "priority", sites = new Map()) {
  const byPriority = (a, b) => (RANK[a.priority] ?? 9) - (RANK[b.priority] ?? 9)
    || Number(isUnack(b)) - Number(isUnack(a)) || raisedOf(b) - raisedOf(a);
  const name = (a) => sites.get(a.site)?.name ?? a.site;
  const order = {
    priority: byPriority,
    time: (a, b) => raisedOf(b) - raisedOf(a),
    site: (a, b) => name(a).localeCompare(name(b), "zh-CN") || byPriority(a, b),
  }[by] ?? byPriority;
  return [...alarms].sort(order);
}

const number = (v) => (typeof v === "number" ? v.toFixed(2).replace(/\.?0+$/, "") : v);

/** What the officer needs to know of an alarm's point: the sensor (kind, area, name,
 * unit), the limit crossed and how far past it, the value at the event and now. */
export function describe(alarm, plant) {
  const site = plant.sites.get(alarm.site);
  const sensor = plant.sensors.get(`${alarm.site}/${alarm.sensor}`);
  const gateway = !sensor && plant.gateways.has(`${alarm.site}/${alarm.sensor}`);
  const kind = sensor ? t(`kind.${sensor.kind}`, sensor.kind) : gateway ? t("kind.gateway") : "";
  const unit = sensor?.unit ?? "";
  const limit = sensor?.thresholds?.[alarm.condition];
  const withUnit = (v) => (v === null || v === undefined || v === "" ? ""
    : typeof v === "number" ? `${number(v)}${unit ? ` ${unit}` : ""}`
      : t(`istate.${v}`, String(v)));
  let past = "";
  if (typeof limit === "number" && typeof alarm.value === "number") {
    const over = alarm.condition.startsWith("high");
    const by = over ? alarm.value - limit : limit - alarm.value;
    past = `${t(over ? "past.over" : "past.under")} ${number(Math.abs(by))}${unit ? ` ${unit}` : ""}`;
  }
  const current = sensor ? (typeof sensor.value === "number" ? sensor.value : sensor.state) : null;
  return {
    siteName: site?.name ?? alarm.site,
    tag: alarm.sensor,
    kind,
    area: sensor?.area ?? "",
    name: sensor?.name ?? "",
    condition: t(`condition.${alarm.condition}`, alarm.condition),
    // an interlock that failed to act on demand: how late it tripped, or that it did not
    valueAt: alarm.condition === "ce_failed" ? failedWords(alarm.value) : withUnit(alarm.value),
    valueNow: current === null || current === undefined ? "" : withUnit(current),
    limit: typeof limit === "number" ? withUnit(limit) : "",
    past,
  };
}

/** One line naming an alarm (dialogs, the banner). */
export function alarmTitle(alarm, plant) {
  const d = describe(alarm, plant);
  return [`${SHAPES[alarm.priority] ?? ""} ${t(`priority.${alarm.priority}`, alarm.priority)}`,
    `${d.tag} ${d.condition}`, [d.kind, d.area].filter(Boolean).join(" "),
    d.valueAt && `${d.valueAt}${d.limit ? ` (${t("limit")} ${d.limit})` : ""}`, d.siteName,
  ].filter(Boolean).join(" · ");
}

/** The state in one wording for each case (returned and unacknowledged, returned and
 * waiting for a reset). */
export function stateWords(alarm) {
  if (alarm.state === "acked" && alarm.returned) return t("state.returned");
  return t(`state.${alarm.state}`, alarm.state);
}

/** Does `alarm` pass the filter {priority, state, site, text}? */
export function passes(alarm, filter, plant) {
  if (filter.priority && alarm.priority !== filter.priority) return false;
  if (filter.site && alarm.site !== filter.site) return false;
  if (filter.state === "unack" && !isUnack(alarm)) return false;
  if (filter.state === "acked" && isUnack(alarm)) return false;
  const text = (filter.text ?? "").trim().toLowerCase();
  if (!text) return true;
  const d = describe(alarm, plant);
  return [alarm.alarm_id, d.siteName, d.tag, d.kind, d.area, d.name, d.condition,
    t(`priority.${alarm.priority}`, "")].join(" ").toLowerCase().includes(text);
}

const groupKey = (a) => `${a.site}|${a.condition}|${a.priority}|${a.state}`;

/** The rows: an alarm, or a group of identical ones (at its first member's place). */
export function rowsOf(sorted) {
  const members = new Map();
  for (const alarm of sorted) {
    if (alarm.priority === "critical") continue; // a critical alarm always has its own row
    const key = groupKey(alarm);
    members.set(key, [...(members.get(key) ?? []), alarm]);
  }
  const rows = [];
  const placed = new Set();
  for (const alarm of sorted) {
    const key = groupKey(alarm);
    const group = members.get(key);
    if (group && group.length >= GROUP_AT) {
      if (!placed.has(key)) rows.push({ key, alarms: group });
      placed.add(key);
    } else {
      rows.push({ alarm });
    }
  }
  return rows;
}

function button(kind, label, focus, onclick, extra = {}) {
  return h("button", { type: "button", class: kind, dataset: { focus }, onclick, ...extra }, label);
}

function actions(alarm, view) {
  const { may, act } = view;
  const id = alarm.alarm_id;
  const out = [];
  if (may.operate) {
    if (isUnack(alarm)) out.push(button("ack primary", t("action.ack"), `${id}|ack`,
      () => act("ack", alarm)));
    if (alarm.state === "acked" && alarm.returned) {
      out.push(button("reset", t("action.reset"), `${id}|reset`, () => act("reset", alarm)));
    }
    if (["unack", "acked", "rtn_unack"].includes(alarm.state) && alarm.priority !== "critical") {
      out.push(button("shelve", t("action.shelve"), `${id}|shelve`, () => act("shelve", alarm)));
    }
    if (alarm.state === "shelved") {
      out.push(button("unshelve", t("action.unshelve"), `${id}|unshelve`,
        () => act("unshelve", alarm)));
    }
  }
  out.push(button("trend", t("action.trend"), `${id}|trend`, (event) => act("trend", alarm, event)));
  return out;
}

function badge(priority) {
  return h("span", { class: "badge", title: t(`priority.${priority}`, priority) },
    h("span", { class: "shape", "aria-hidden": "true" }, SHAPES[priority] ?? "●"),
    ` ${t(`priority.${priority}`, priority)}`);
}

function picker(ids, label, view, focus) {
  if (!view.may.operate) return null;
  const chosen = ids.filter((id) => view.selected.has(id)).length;
  return h("input", {
    type: "checkbox", class: "pick", "aria-label": label, dataset: { focus },
    checked: chosen === ids.length, onchange: (e) => view.onSelect(ids, e.target.checked),
  });
}

function ageOf(ts, view) {
  return h("span", { class: `age${view.frozen ? " frozen" : ""}` },
    formatAge(ts, view.now) + (view.frozen ? t("age.stale") : ""));
}

export function row(alarm, view) {
  const d = describe(alarm, view.plant);
  const raised = raisedOf(alarm);
  const ackable = isUnack(alarm);
  const note = noteWords(alarm.note); // a person's words stay as written
  return h("article", {
    class: `alarm priority-${alarm.priority} state-${alarm.state}${
      alarm.alarm_id === view.picked ? " picked" : ""}`,
    dataset: { alarmId: alarm.alarm_id, state: alarm.state, priority: alarm.priority,
      focus: `${alarm.alarm_id}|card` },
    tabindex: -1, // focusable when led to (the banner, a monitoring reason)
  },
  ackable && !HIDDEN_STATES.has(alarm.state)
    ? picker([alarm.alarm_id], `${t("select.one")} ${d.tag} ${d.condition}`, view,
      `${alarm.alarm_id}|pick`) : h("span", { class: "pick-none" }),
  badge(alarm.priority),
  h("div", { class: "what" },
    h("strong", { class: "tag" }, d.tag),
    h("span", { class: "cond" }, d.condition),
    h("span", { class: "kind" }, [d.kind, d.area, d.name].filter(Boolean).join(" · ")),
    h("span", { class: "site" }, d.siteName)),
  h("div", { class: "values" },
    d.valueAt ? h("span", { class: "value-at" }, `${t("value.at")} `, h("b", {}, d.valueAt)) : null,
    d.limit ? h("span", { class: "limit" }, `${t("limit")} ${d.limit}${d.past ? ` · ${d.past}` : ""}`)
      : null,
    d.valueNow ? h("span", { class: "value-now" }, `${t("value.now")} `, h("b", {}, d.valueNow))
      : null),
  h("div", { class: "meta" },
    h("span", { class: "state", dataset: { state: alarm.state } }, stateWords(alarm)),
    h("time", { class: "raised", datetime: new Date(raised).toISOString(), title: formatTime(raised) },
      `${t("raised.at")} ${formatClock(raised, view.now)}`),
    ageOf(raised, view),
    alarm.acked_by ? h("span", { class: "who" }, `✓ ${alarm.acked_by}`) : null,
    alarm.state === "shelved" && alarm.shelved_until_ms
      ? h("time", { class: "until", datetime: new Date(alarm.shelved_until_ms).toISOString() },
        `${t("shelved.until")} ${formatTime(alarm.shelved_until_ms)}`) : null),
  note ? h("div", { class: `note${alarm.user ? "" : " system"}` },
    alarm.user ? note : `${t(`event.${alarm.event}`, alarm.event)}: ${note}`) : null,
  h("div", { class: "alarm-actions" }, actions(alarm, view)));
}

function groupRow({ key, alarms }, view) {
  const first = alarms[0];
  const d = describe(first, view.plant);
  const open = view.expanded.has(key);
  const ids = alarms.map((a) => a.alarm_id);
  const newest = Math.max(...alarms.map(raisedOf));
  const oldest = Math.min(...alarms.map(raisedOf));
  const head = h("article", {
    class: `alarm group priority-${first.priority} state-${first.state}`,
    dataset: { group: key, state: first.state, priority: first.priority, count: alarms.length,
      focus: `${key}|card` },
    tabindex: -1,
  },
  isUnack(first) ? picker(ids, `${t("select.one")} ${d.condition} ×${alarms.length}`, view,
    `${key}|pick`) : h("span", { class: "pick-none" }),
  badge(first.priority),
  h("div", { class: "what" },
    h("strong", { class: "tag" }, `${d.condition} ×${alarms.length}`),
    h("span", { class: "kind" }, alarms.map((a) => a.sensor).slice(0, 6).join(", ")
      + (alarms.length > 6 ? " …" : "")),
    h("span", { class: "site" }, d.siteName)),
  h("div", { class: "meta" },
    h("span", { class: "state", dataset: { state: first.state } }, stateWords(first)),
    h("time", { class: "raised", datetime: new Date(oldest).toISOString() },
      `${t("raised.at")} ${formatClock(oldest, view.now)}${newest !== oldest
        ? `–${formatClock(newest, view.now)}` : ""}`),
    ageOf(oldest, view)),
  h("div", { class: "alarm-actions" },
    view.may.operate && isUnack(first)
      ? button("ack-group primary", `${t("group.ack")} (${alarms.length})`, `${key}|ack`,
        () => view.act("ackMany", alarms)) : null,
    button("expand", t(open ? "group.collapse" : "group.expand"), `${key}|expand`,
      () => view.onExpand(key), { "aria-expanded": String(open) })));
  if (!open) return [head];
  return [head, h("div", { class: "group-members", dataset: { group: key } },
    alarms.map((a) => row(a, view)))];
}

/** Render the summary and the hidden section. `view`: {plant, may, act, picked,
 * selected (a Set of ids), expanded (a Set of group keys), onSelect(ids, on),
 * onExpand(key), now, frozen, filter, sort}. Answers what is shown. */
export function drawAlarms(els, alarms, view) {
  const active = alarms.filter((a) => !HIDDEN_STATES.has(a.state));
  const hiding = sortAlarms(alarms.filter((a) => HIDDEN_STATES.has(a.state)), "priority");
  const shown = sortAlarms(active.filter((a) => passes(a, view.filter, view.plant)), view.sort,
    view.plant.sites);
  const unack = active.filter(isUnack).length;
  els.counter.textContent = `${active.length}`;
  els.unackCounter.textContent = `${t("alarms.unackOf")} ${unack}`;
  els.unackCounter.dataset.unack = String(unack);
  els.shownCounter.textContent = shown.length === active.length ? ""
    : `${t("alarms.shown")} ${shown.length}`;
  clear(els.list);
  if (!shown.length) els.list.append(h("p", { class: "empty" }, t("alarms.none")));
  for (const item of rowsOf(shown)) {
    if (item.alarm) els.list.append(row(item.alarm, view));
    else els.list.append(...groupRow(item, view));
  }
  clear(els.hidden);
  els.hiddenCounter.textContent = `${hiding.length}`;
  els.hiddenBox.hidden = !hiding.length;
  for (const alarm of hiding) els.hidden.append(row(alarm, view));
  return shown;
}
