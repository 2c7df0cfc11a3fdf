// The active alarm list: by priority (critical first), then newest first. Shelved,
// suppressed and out-of-service alarms leave it (ISA-18.2) for a section of their own
// below it, with when a shelving ends, so the duty officer still sees what is hidden.

import { clear, h } from "./dom.js";
import { formatAge, formatTime, t } from "./i18n.js";

const RANK = { critical: 0, high: 1, medium: 2 };
export const HIDDEN_STATES = new Set(["shelved", "suppressed", "out_of_service"]);

export function sortAlarms(alarms) {
  return [...alarms].sort((a, b) => (RANK[a.priority] ?? 9) - (RANK[b.priority] ?? 9)
    || (b.raised_ms ?? b.ts_ms) - (a.raised_ms ?? a.ts_ms));
}

function value(alarm) {
  if (alarm.value === null || alarm.value === undefined) return "";
  return typeof alarm.value === "number" ? alarm.value.toFixed(2).replace(/\.?0+$/, "") : alarm.value;
}

function actions(alarm, may, act) {
  const out = [];
  if (may.operate) {
    if (alarm.state === "unack" || alarm.state === "rtn_unack") {
      out.push(h("button", { class: "ack", onclick: () => act("ack", alarm) }, t("action.ack")));
    }
    if (alarm.state === "acked" && alarm.returned) {
      out.push(h("button", { class: "reset", onclick: () => act("reset", alarm) },
        t("action.reset")));
    }
    if (["unack", "acked", "rtn_unack"].includes(alarm.state) && alarm.priority !== "critical") {
      out.push(h("button", { class: "shelve", onclick: () => act("shelve", alarm) },
        t("action.shelve")));
    }
    if (alarm.state === "shelved") {
      out.push(h("button", { class: "unshelve", onclick: () => act("unshelve", alarm) },
        t("action.unshelve")));
    }
  }
  out.push(h("button", { class: "trend", onclick: () => act("trend", alarm) }, t("action.trend")));
  return out;
}

function row(alarm, sites, may, act, picked) {
  const site = sites.get(alarm.site);
  const raised = alarm.raised_ms ?? alarm.ts_ms;
  return h("article", {
    class: `alarm priority-${alarm.priority} state-${alarm.state}${
      alarm.alarm_id === picked ? " picked" : ""}`,
    dataset: { alarmId: alarm.alarm_id, state: alarm.state, priority: alarm.priority },
    tabindex: -1, // focusable when led to (a reason of the "monitoring degraded" banner)
  },
  h("div", { class: "alarm-head" },
    h("span", { class: "badge" }, t(`priority.${alarm.priority}`)),
    h("strong", {}, `${alarm.sensor} ${t(`condition.${alarm.condition}`, alarm.condition)}`),
    h("span", { class: "value" }, value(alarm))),
  h("div", { class: "alarm-where" }, site ? site.name : alarm.site),
  h("div", { class: "alarm-meta" },
    h("span", { class: "state" },
      t(`state.${alarm.state}`, alarm.state) + (alarm.returned ? t("returned") : "")),
    h("time", { datetime: new Date(raised).toISOString(), title: formatTime(raised) },
      formatAge(raised)),
    alarm.acked_by ? h("span", { class: "who" }, `✓ ${alarm.acked_by}`) : null,
    alarm.state === "shelved" && alarm.shelved_until_ms
      ? h("time", { class: "until", datetime: new Date(alarm.shelved_until_ms).toISOString() },
        `${t("shelved.until")} ${formatTime(alarm.shelved_until_ms)}`) : null),
  alarm.note ? h("div", { class: `note${alarm.user ? "" : " system"}` },
    alarm.user ? alarm.note : `${t(`event.${alarm.event}`, alarm.event)}: ${alarm.note}`) : null,
  h("div", { class: "alarm-actions" }, actions(alarm, may, act)));
}

/** Render the active list and the hidden one; `act(kind, alarm)` handles the buttons;
 * the `picked` alarm (an alarm_id) is highlighted, and a card that had the focus keeps it. */
export function drawAlarms(
  { list, counter, hiddenBox, hidden, hiddenCounter }, alarms, sites, may, act, picked = null,
) {
  const focused = document.activeElement?.matches?.("article.alarm")
    ? document.activeElement.dataset.alarmId : null;
  const shown = sortAlarms(alarms.filter((a) => !HIDDEN_STATES.has(a.state)));
  const hiding = sortAlarms(alarms.filter((a) => HIDDEN_STATES.has(a.state)));
  clear(list);
  counter.textContent = `${shown.length}`;
  if (!shown.length) list.append(h("p", { class: "empty" }, t("alarms.none")));
  for (const alarm of shown) list.append(row(alarm, sites, may, act, picked));
  clear(hidden);
  hiddenCounter.textContent = `${hiding.length}`;
  hiddenBox.hidden = !hiding.length;
  for (const alarm of hiding) hidden.append(row(alarm, sites, may, act, picked));
  if (focused) {
    for (const card of [...list.children, ...hidden.children]) {
      if (card.dataset.alarmId === focused) card.focus({ preventScroll: true });
    }
  }
}
