// The duty-officer console: sign in with a token, then sites and active alarms kept
// live from the event stream, with acknowledge / shelve / reset and a sensor's trend.

import { drawAlarms } from "./alarms.js";
import {
  raiseCritical, refreshBanner, setBaseTitle, settle, silence, unlockAudio,
} from "./alert.js";
import {
  ApiError, Unauthorized, alarmPath, call, download, followStream, token,
} from "./api.js";
import { showSensor } from "./detail.js";
import { $, clear, h } from "./dom.js";
import { applyLanguage, setText, t, toggleLanguage } from "./i18n.js";
import { drawMap } from "./map.js";
import { drawChain, drawDegraded, feedOf, feedWords, watchMonitoring } from "./monitoring.js";

const state = {
  me: null,
  may: {},
  sites: new Map(),
  alarms: new Map(),
  siteFilter: null,
  running: false,
  monitoring: null, // the last answer of /api/v1/monitoring
  watch: null,
  picked: null, // the alarm_id a monitoring reason led to, highlighted for a moment
  during: new Set(), // for each read of the lists on its way: the events arriving meanwhile
};

// -- drawing ------------------------------------------------------------------------

function countActive() {
  for (const site of state.sites.values()) {
    site.active_alarms = { critical: 0, high: 0, medium: 0 };
  }
  for (const alarm of state.alarms.values()) {
    const site = state.sites.get(alarm.site);
    if (site && alarm.priority in site.active_alarms) site.active_alarms[alarm.priority] += 1;
  }
}

function drawSites() {
  const sites = [...state.sites.values()];
  drawMap($("#map"), sites, pickSite);
  const list = clear($("#site-list"));
  for (const site of sites) {
    const counts = site.active_alarms;
    const feed = feedOf(site); // null: the server tells no feed quality, shown as before
    const picked = state.siteFilter === site.id ? " picked" : "";
    list.append(h("li", {
      class: `site-item grade-${site.risk_grade}${feed?.degraded ? " feed-degraded" : ""}${picked}`,
      dataset: { site: site.id, grade: site.risk_grade,
        ...(feed && { feed: feed.degraded ? "degraded" : "ok" }) },
      tabindex: 0,
      onclick: () => pickSite(site.id),
    },
    h("span", { class: "grade" }, t(`grade.${site.risk_grade}`)),
    h("span", { class: "name" }, site.name),
    feed ? h("span", { class: "feed" },
      feed.degraded ? h("span", { class: "feed-badge" }, t("feed.degraded")) : null,
      feedWords(feed).map(([what, words]) => h("span", { class: `feed-${what}` }, words)))
      : null,
    h("span", { class: "counts" },
      ["critical", "high", "medium"].filter((p) => counts[p]).map((p) =>
        h("span", { class: `count priority-${p}` }, `${t(`priority.${p}`)} ${counts[p]}`)))));
  }
}

function drawAlarmList() {
  const alarms = [...state.alarms.values()]
    .filter((a) => !state.siteFilter || a.site === state.siteFilter);
  drawAlarms({
    list: $("#alarm-list"), counter: $("#alarm-count"), hiddenBox: $("#hidden-alarms"),
    hidden: $("#hidden-list"), hiddenCounter: $("#hidden-count"),
  }, alarms, state.sites, state.may, act, state.picked);
  const chip = $("#filter");
  chip.hidden = !state.siteFilter;
  chip.textContent = state.siteFilter ? `${state.sites.get(state.siteFilter)?.name} ✕` : "";
}

function drawWho() {
  if (!state.me) return;
  $("#who").textContent = `${state.me.name} · ${t(`role.${state.me.role}`, state.me.role)}`;
}

function drawMonitoring() {
  drawChain($("#chain"), state.monitoring?.chain);
  drawDegraded($("#degraded"), $("#degraded-list"), state.monitoring, state.alarms, state.sites,
    pickAlarm);
}

function drawAll() {
  countActive();
  drawSites();
  drawAlarmList();
  drawMonitoring();
}

/** Bring an alarm's card into view (from a reason of the "monitoring degraded" banner). */
function pickAlarm(alarm) {
  if (state.siteFilter && state.siteFilter !== alarm.site) {
    state.siteFilter = null;
    drawAll();
  }
  state.picked = alarm.alarm_id;
  drawAlarmList();
  const card = document.querySelector(`article[data-alarm-id="${CSS.escape(alarm.alarm_id)}"]`);
  if (card) {
    card.scrollIntoView({ block: "center" });
    card.focus({ preventScroll: true });
  }
  clearTimeout(pickAlarm.timer);
  pickAlarm.timer = setTimeout(() => {
    state.picked = null;
    if (state.running) drawAlarmList();
  }, 4000);
}

function pickSite(siteId) {
  state.siteFilter = state.siteFilter === siteId ? null : siteId;
  drawAll();
}

// -- live state ---------------------------------------------------------------------

/** Read the lists with `read()`, then apply again the live events that arrived while
 * the answer was on its way (it may have been made before them). */
async function readLists(read) {
  const during = [];
  state.during.add(during);
  try {
    await read();
  } finally {
    state.during.delete(during);
  }
  for (const { type, data } of during) {
    if (type === "alarm") applyAlarm(data, false);
    else if (type === "risk" && state.sites.has(data.site)) state.sites.get(data.site).risk_grade = data.grade;
  }
}

async function reload() {
  sitesRead = Date.now();
  await readLists(async () => {
    const [sites, alarms] = await Promise.all([
      call("/api/v1/sites"), call("/api/v1/alarms?active=true"),
    ]);
    state.sites = new Map(sites.map((s) => [s.id, s]));
    state.alarms = new Map(alarms.filter((a) => a.state !== "normal").map((a) => [a.alarm_id, a]));
  });
  for (const alarm of state.alarms.values()) {
    if (alarm.priority === "critical" && alarm.state === "unack") raiseCritical(alarm.alarm_id, false);
  }
  drawAll();
}

// A site's feed quality comes with the sites only: they are read again when what the
// monitoring says changes (a gateway's messages lost, a gateway offline) and every 15 s
// (the server keeps a site's feed figures that long; a feed stays degraded for an hour
// after a loss, with no event to say when it is not).
const SITES_EVERY_MS = 15_000;
let sitesRead = 0;

async function refreshSites() {
  sitesRead = Date.now();
  await readLists(async () => {
    const sites = await call("/api/v1/sites");
    state.sites = new Map(sites.map((s) => [s.id, s]));
  });
  drawAll();
}

function monitoringSaid(answer) {
  const said = (m) => JSON.stringify([m?.degraded, (m?.reasons ?? []).map((r) => [r.key, r.state])]);
  const changed = state.monitoring !== null && said(answer) !== said(state.monitoring);
  state.monitoring = answer;
  drawMonitoring();
  if (changed || Date.now() - sitesRead >= SITES_EVERY_MS) refreshSites().catch(fail);
}

// Live events do not say until when an alarm is shelved (action answers and the list
// do): a shelving seen on the stream is completed by loading the list again.
let completing = null;

function completeLater() {
  clearTimeout(completing);
  completing = setTimeout(() => reload().catch(fail), 500);
}

/** An alarm's change (live, or an action's answer); `alert`: sound a new critical one. */
function applyAlarm(event, alert = true) {
  const before = state.alarms.get(event.alarm_id);
  const alarm = { ...before, ...event };
  alarm.raised_ms = event.raised_ms ?? before?.raised_ms ?? event.ts_ms;
  if (!("shelved_until_ms" in event)) {
    const still = alarm.state === "shelved" && before?.state === "shelved";
    alarm.shelved_until_ms = still ? before.shelved_until_ms : null;
    if (alarm.state === "shelved" && !still) completeLater();
  }
  if (event.event === "acked") {
    alarm.acked_by = event.acked_by ?? event.user;
    alarm.acked_ms = event.acked_ms ?? event.ts_ms;
  }
  if (alarm.state === "normal") state.alarms.delete(alarm.alarm_id);
  else state.alarms.set(alarm.alarm_id, alarm);
  if (!alert) return;
  if (alarm.priority === "critical" && event.event === "raised" && alarm.state === "unack") {
    raiseCritical(alarm.alarm_id);
  } else if (alarm.state !== "unack") {
    settle(alarm.alarm_id);
  }
  drawAll();
  const panel = $("#detail");
  if (!panel.hidden && panel.dataset.site === alarm.site && panel.dataset.sensor === alarm.sensor) {
    openDetail(alarm.site, alarm.sensor);
  }
}

function onEvent({ type, data }) {
  if (type === "ready" || type === "alarm") state.watch?.soon(); // monitoring may have changed
  if (type === "ready") reload().catch(fail);
  for (const during of state.during) during.push({ type, data });
  if (type === "alarm") applyAlarm(data);
  else if (type === "risk" && state.sites.has(data.site)) {
    state.sites.get(data.site).risk_grade = data.grade;
    drawSites();
  }
}

function onStatus(status) {
  const conn = $("#conn");
  conn.dataset.state = status;
  setText(conn, `conn.${status}`);
  document.body.classList.toggle("offline", status === "lost");
}

// -- actions ------------------------------------------------------------------------

function ask(dialogId, titleKey) {
  const dialog = $(dialogId);
  dialog.querySelector("form").reset();
  setText(dialog.querySelector("h3"), titleKey);
  dialog.showModal();
  return new Promise((resolve) => {
    dialog.addEventListener("close", () => resolve(dialog.returnValue === "ok"), { once: true });
  });
}

async function act(kind, alarm) {
  if (kind === "trend") {
    openDetail(alarm.site, alarm.sensor);
    return;
  }
  let body;
  if (kind === "shelve") {
    if (!(await ask("#shelve-dialog", "shelve.title"))) return;
    const reason = $("#shelve-reason");
    body = { reason: reason.options[reason.selectedIndex].text,
      minutes: Number($("#shelve-minutes").value) };
  } else {
    setText($("#note-ok"), `action.${kind}`);
    $("#note-text").required = kind === "unshelve"; // say why it is shown again
    if (!(await ask("#note-dialog", `${kind}.title`))) return;
    body = { note: $("#note-text").value.trim() || null };
  }
  try {
    applyAlarm(await call(alarmPath(alarm.alarm_id, kind), { method: "POST", body }));
  } catch (error) {
    fail(error);
  }
}

function openDetail(siteId, sensorId) {
  showSensor($("#detail"), siteId, sensorId, state.sites.get(siteId)?.name).catch(fail);
}

/** A message of the i18n table (`key`), with an untranslated `detail` after it. */
function toast(key, detail = "") {
  const el = $("#toast");
  setText(el, key, detail);
  el.hidden = false;
  clearTimeout(toast.timer);
  toast.timer = setTimeout(() => { el.hidden = true; }, 6000);
}

function fail(error) {
  if (error instanceof Unauthorized) {
    signOut("login.lost");
  } else {
    console.error(error);
    const known = error instanceof ApiError && t(`error.${error.code}`, "");
    toast(known ? `error.${error.code}` : "error.action",
      error instanceof ApiError ? error.message : String(error));
  }
}

// -- session ------------------------------------------------------------------------

function showLogin(messageKey) {
  $("#login").hidden = false;
  $("#main").hidden = true;
  for (const id of ["#logout", "#export"]) $(id).hidden = true;
  const message = $("#login-error");
  if (messageKey) setText(message, messageKey);
  else {
    delete message.dataset.i18n;
    message.textContent = "";
  }
  $("#token").focus();
}

function signOut(messageKey) {
  state.running = false;
  state.watch?.stop();
  state.monitoring = null;
  $("#chain").hidden = true;
  $("#degraded").hidden = true;
  token.clear();
  silence();
  showLogin(messageKey);
}

async function start() {
  try {
    state.me = await call("/api/v1/me");
  } catch (error) {
    if (error instanceof Unauthorized) showLogin("login.bad");
    else fail(error);
    return;
  }
  state.may = Object.fromEntries(state.me.rights.map((r) => [r, true]));
  $("#login").hidden = true;
  $("#main").hidden = false;
  $("#logout").hidden = false;
  $("#export").hidden = !state.may.audit;
  drawWho();
  state.running = true;
  $("#chain").hidden = false;
  drawMonitoring();
  state.watch = watchMonitoring({
    fetch: () => call("/api/v1/monitoring"),
    onData: monitoringSaid,
    onError: (error) => {
      if (error instanceof Unauthorized) signOut("login.lost");
      else { // not known now: the chain is unknown, the banner stays as last known
        console.warn("monitoring:", error);
        state.monitoring = state.monitoring && { ...state.monitoring, chain: null };
        drawMonitoring();
      }
    },
    running: () => state.running,
  });
  followStream({
    onEvent, onStatus, onUnauthorized: () => signOut("login.lost"), running: () => state.running,
  });
}

function wire() {
  $("#login-form").addEventListener("submit", (event) => {
    event.preventDefault();
    unlockAudio();
    token.set($("#token").value.trim());
    $("#token").value = "";
    start();
  });
  $("#logout").addEventListener("click", () => signOut());
  $("#lang").addEventListener("click", () => {
    toggleLanguage();
    setBaseTitle(t("title"));
    refreshBanner();
    drawWho();
    if (state.running) drawAll();
    const panel = $("#detail");
    if (!panel.hidden) openDetail(panel.dataset.site, panel.dataset.sensor);
  });
  $("#silence").addEventListener("click", silence);
  $("#filter").addEventListener("click", () => pickSite(state.siteFilter));
  $("#detail-close").addEventListener("click", () => { $("#detail").hidden = true; });
  $("#export").addEventListener("click", () => {
    download("/api/v1/journal?format=csv", "hazmon-journal.csv")
      .then(() => toast("export.done")).catch(fail);
  });
  document.addEventListener("click", unlockAudio, { once: true });
  let resizing = null;
  window.addEventListener("resize", () => { // the trend is drawn 1:1: draw it again
    clearTimeout(resizing);
    resizing = setTimeout(() => {
      const panel = $("#detail");
      if (state.running && !panel.hidden) openDetail(panel.dataset.site, panel.dataset.sensor);
    }, 300);
  });
  setInterval(() => {
    if (!state.running) return;
    drawAlarmList();
    const panel = $("#detail");
    if (!panel.hidden) openDetail(panel.dataset.site, panel.dataset.sensor);
  }, 15_000);
}

applyLanguage();
setBaseTitle(t("title"));
wire();
if (token.get()) start();
else showLogin();
