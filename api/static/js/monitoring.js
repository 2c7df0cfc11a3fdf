// The platform watching itself, as the duty officer sees it: the "monitoring degraded"
// banner (监测降级) while any monitoring alarm is active, with its reasons, each leading
// to its alarm; the alarm chain's round trip in the header; and a site's feed quality
// (数据异常 and its 24 h online rate), so that a site whose data is not arriving is never
// shown as calm. Source: GET /api/v1/monitoring, polled every 5 s and never more often.

import { clear, h } from "./dom.js";
import { t } from "./i18n.js";
import { noteWords } from "./notes.js";

export const POLL_MS = 5000;

/** When the next request may go: 5 s after the last one started, not before. */
export function nextFetchAt(lastStartMs, nowMs) {
  return lastStartMs == null ? nowMs : Math.max(lastStartMs + POLL_MS, nowMs);
}

/** The header's alarm-chain indicator: its state ("ok", "dead", "unknown"), its i18n
 * key and the round trip to show after it ("38 ms", or "" when there is none). */
export function chainView(chain) {
  const state = ["ok", "dead"].includes(chain?.state) ? chain.state : "unknown";
  if (state === "dead") return { state, key: "chain.dead", detail: "" };
  const rtt = chain?.rtt_ms;
  if (state === "unknown" || typeof rtt !== "number" || !Number.isFinite(rtt)) {
    return { state: "unknown", key: "chain.label", detail: "—" };
  }
  return { state, key: "chain.label", detail: `${Math.round(rtt)} ms` };
}

/** 0.95 -> "95%", 0.9995 -> "99.9%" (rounded down: never 100% while anything is missing). */
export function formatRate(rate) {
  if (typeof rate !== "number" || !Number.isFinite(rate)) return "";
  const tenths = Math.floor(Math.min(1, Math.max(0, rate)) * 1000 + 1e-9);
  return `${tenths % 10 ? (tenths / 10).toFixed(1) : tenths / 10}%`;
}

/** A site's feed quality, or null for a site the server tells none of (shown as before):
 * degraded or not, the 24 h online rate ("" if unknown), and why, where the server says:
 * messages lost in the last hour, gateways offline now. */
export function feedOf(site) {
  const feed = site?.feed;
  if (!feed || typeof feed !== "object") return null;
  const lost = Number.isInteger(feed.lost_messages_1h) ? feed.lost_messages_1h : 0;
  const offline = Array.isArray(feed.offline_gateways) ? feed.offline_gateways.map(String) : [];
  return { degraded: feed.degraded === true, rate: formatRate(feed.online_rate_24h), lost, offline };
}

/** The words of a feed's quality (its badge aside), as [what, words]: online rate,
 * messages lost, gateways offline; each only where known. */
export function feedWords(feed) {
  return [
    ["rate", feed.rate ? `${t("feed.online")} ${feed.rate}` : ""],
    ["lost", feed.lost > 0 ? `${t("feed.lost")} ${feed.lost}` : ""],
    ["offline", feed.offline.length ? `${t("feed.offline")} ${feed.offline.join(", ")}` : ""],
  ].filter(([, words]) => words);
}

/** The alarm a reason is about, among the console's alarms (a Map by alarm_id), if any:
 * the one it names, else the newest occurrence of its key. */
export function alarmOf(reason, alarms) {
  if (reason.alarm_id && alarms.has(reason.alarm_id)) return alarms.get(reason.alarm_id);
  let found = null;
  for (const alarm of alarms.values()) {
    const key = alarm.key ?? alarm.alarm_id.split("#")[0];
    if (key === reason.key && (!found || (alarm.raised_ms ?? 0) > (found.raised_ms ?? 0))) {
      found = alarm;
    }
  }
  return found;
}

/** The words of a reason: where, what, and the service's note. */
export function reasonText(reason, sites) {
  const where = reason.site === "_system" ? t("site._system")
    : sites.get(reason.site)?.name ?? reason.site;
  const what = t(`condition.${reason.condition}`, reason.condition);
  const state = reason.state ? ` (${t(`state.${reason.state}`, reason.state)})` : "";
  return `${where} · ${what}${reason.note ? ` — ${noteWords(reason.note)}` : ""}${state}`;
}

/** Show the header's indicator for `chain` (null: nothing known). */
export function drawChain(el, chain) {
  const view = chainView(chain);
  el.dataset.state = view.state;
  el.textContent = view.detail ? `${t(view.key)} ${view.detail}` : t(view.key);
}

/** The banner: shown while `monitoring.degraded`, one line per reason; a reason with an
 * alarm in the console is a button that calls `onPick(alarm)`. */
export function drawDegraded(box, list, monitoring, alarms, sites, onPick) {
  const reasons = Array.isArray(monitoring?.reasons) ? monitoring.reasons : [];
  box.hidden = !monitoring?.degraded;
  clear(list);
  for (const reason of reasons) {
    const alarm = alarmOf(reason, alarms);
    const text = [
      h("span", { class: `badge priority-${reason.priority}` },
        t(`priority.${reason.priority}`, reason.priority ?? "")),
      h("span", { class: "text" }, reasonText(reason, sites)),
    ];
    list.append(h("li", { dataset: { key: reason.key, condition: reason.condition } },
      alarm ? h("button", {
        type: "button", class: "reason", dataset: { alarmId: alarm.alarm_id },
        onclick: () => onPick(alarm),
      }, text) : h("span", { class: "reason" }, text)));
  }
}

/**
 * Keep GET /api/v1/monitoring coming while `running()`: every 5 s, and `soon()` (an
 * alarm changed on the stream, a reconnect) as early as the 5 s allow. `fetch()` does
 * the call; `onData(answer)` or `onError(error)` follow each.
 */
export function watchMonitoring({ fetch, onData, onError, running }) {
  let lastStart = null;
  let timer = null;
  let busy = false;
  let stopped = false; // this watch, even if another session is running by now
  const going = () => !stopped && running();

  function schedule() {
    clearTimeout(timer);
    if (!going()) return;
    timer = setTimeout(tick, Math.max(0, nextFetchAt(lastStart, Date.now()) - Date.now()));
  }

  async function tick() {
    if (!going()) return;
    if (busy) return;
    busy = true;
    lastStart = Date.now();
    try {
      onData(await fetch());
    } catch (error) {
      onError(error);
    } finally {
      busy = false;
    }
    schedule();
  }

  schedule();
  return {
    soon() {
      if (!busy) schedule(); // else the next is scheduled when this answer is in
    },
    stop() {
      stopped = true;
      clearTimeout(timer);
    },
  };
}
