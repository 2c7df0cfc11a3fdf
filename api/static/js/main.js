// The duty-officer console: sign in with a token, then sites and active alarms kept
// live from the event stream, with acknowledge / shelve / reset and a sensor's trend.

import { alarmTitle, drawAlarms, HIDDEN_STATES, isUnack, passes } from "./alarms.js";
import {
  nameAlarmsWith, raiseCritical, refreshBanner, setBaseTitle, settle, silence, unlockAudio,
} from "./alert.js";
import {
  ApiError, Unauthorized, alarmPath, call, download, followStream, token,
} from "./api.js";
import { showSensor } from "./detail.js";
import { $, activateOnKeys, clear, h, keepFocus } from "./dom.js";
import { applyLanguage, formatTime, language, setText, t, toggleLanguage } from "./i18n.js";
import { drawMap, GRADE_MARKS, GRADES } from "./map.js";
import { reasonCode } from "./notes.js";
import { explainIn } from "./rationale.js";
import { drawChain, drawDegraded, feedOf, feedWords, watchMonitoring } from "./monitoring.js";
import { closeDangers, initDangers } from "./dangers.js";

const state = {
  me: null,
  may: {},
  sites: new Map(),
  sensors: new Map(), // "site/sensor" -> the sensor as /sites/{site}/sensors tells it
  gateways: new Set(), // "site/gateway"
  alarms: new Map(),
  filter: { priority: "", state: "", site: "", text: "" }, // kept in the URL
  sort: "priority",
  selected: new Set(), // alarm ids ticked for a bulk acknowledgement
  expanded: new Set(), // group keys opened
  offlineSince: null, // when the live stream was lost (ages are frozen there)
  shown: [], // the active alarms the summary shows now (filtered, sorted)
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

const plant = () => ({ sites: state.sites, sensors: state.sensors, gateways: state.gateways });

const byGrade = (a, b) => GRADES.indexOf(a.risk_grade) - GRADES.indexOf(b.risk_grade)
  || a.name.localeCompare(b.name, "zh-CN");

function drawSites() {
  const sites = [...state.sites.values()].sort(byGrade); // red to blue
  drawMap($("#map"), sites, pickSite);
  const list = clear($("#site-list"));
  for (const site of sites) {
    const counts = site.active_alarms;
    const feed = feedOf(site); // null: the server tells no feed quality, shown as before
    const picked = state.filter.site === site.id;
    list.append(activateOnKeys(h("div", { // a button, so no list item: one semantics each
      class: `site-item grade-${site.risk_grade}${feed?.degraded ? " feed-degraded" : ""}${
        picked ? " picked" : ""}`,
      dataset: { site: site.id, grade: site.risk_grade, focus: `site|${site.id}`,
        ...(feed && { feed: feed.degraded ? "degraded" : "ok" }) },
      tabindex: 0,
      role: "button",
      "aria-pressed": String(picked),
      onclick: () => pickSite(site.id),
    },
    h("span", { class: "grade" }, h("span", { class: "mark", "aria-hidden": "true" },
      GRADE_MARKS[site.risk_grade]), ` ${t(`grade.${site.risk_grade}`)}`),
    h("span", { class: "name" }, site.name),
    feed ? h("span", { class: "feed" },
      feed.degraded ? h("span", { class: "feed-badge" }, t("feed.degraded")) : null,
      feedWords(feed).map(([what, words]) => h("span", { class: `feed-${what}` }, words)))
      : null,
    h("span", { class: "counts" },
      ["critical", "high", "medium"].filter((p) => counts[p]).map((p) =>
        h("span", { class: `count priority-${p}` }, `${t(`priority.${p}`)} ${counts[p]}`)))),
    () => pickSite(site.id)));
  }
  drawLegend();
  drawSiteChoice();
}

/** The legend of the four grades with how many sites are in each, and the count of
 * unacknowledged alarms: the summary that stays on top. */
function drawLegend() {
  const legend = clear($("#legend"));
  const sites = [...state.sites.values()];
  for (const grade of GRADES) {
    const n = sites.filter((s) => s.risk_grade === grade).length;
    legend.append(h("li", { class: `grade-${grade}`, dataset: { grade, count: n } },
      h("span", { class: "mark", "aria-hidden": "true" }, GRADE_MARKS[grade]),
      h("span", { class: "name" }, t(`grade.${grade}`)), h("b", {}, `${n}`)));
  }
  const unack = [...state.alarms.values()].filter((a) => isUnack(a) && !HIDDEN_STATES.has(a.state));
  const summary = $("#summary-unack");
  summary.textContent = `${t("summary.unack")} ${unack.length}`;
  summary.dataset.unack = String(unack.length);
}

function drawSiteChoice() {
  const select = $("#f-site");
  const chosen = state.filter.site;
  for (const option of [...select.options].slice(1)) option.remove();
  for (const site of [...state.sites.values()].sort(byGrade)) {
    select.append(h("option", { value: site.id }, site.name));
  }
  select.value = state.sites.has(chosen) ? chosen : "";
}

function drawAlarmList() {
  keepFocus(() => {
    const now = state.offlineSince ?? Date.now();
    state.shown = drawAlarms({
      list: $("#alarm-list"), counter: $("#alarm-count"), unackCounter: $("#unack-count"),
      shownCounter: $("#shown-count"), hiddenBox: $("#hidden-alarms"), hidden: $("#hidden-list"),
      hiddenCounter: $("#hidden-count"),
    }, [...state.alarms.values()], {
      plant: plant(), may: state.may, act, picked: state.picked, selected: state.selected,
      expanded: state.expanded, filter: state.filter, sort: state.sort, now,
      frozen: state.offlineSince !== null,
      onSelect: (ids, on) => {
        for (const id of ids) {
          if (on) state.selected.add(id);
          else state.selected.delete(id);
        }
        drawAlarmList();
      },
      onExpand: (key) => {
        if (!state.expanded.delete(key)) state.expanded.add(key);
        drawAlarmList();
      },
    });
    drawBulk();
  });
  const chip = $("#filter");
  const site = state.filter.site;
  chip.hidden = !site;
  chip.textContent = site ? `${state.sites.get(site)?.name ?? site} ✕` : "";
}

/** The bulk bar: "select all shown" and "acknowledge the selected (n)". */
function drawBulk() {
  const ackable = state.shown.filter(isUnack).map((a) => a.alarm_id);
  for (const id of state.selected) {
    if (!state.alarms.has(id) || !isUnack(state.alarms.get(id))) state.selected.delete(id);
  }
  $("#bulk").hidden = !state.may.operate || !ackable.length;
  const all = $("#select-all");
  const chosen = ackable.filter((id) => state.selected.has(id)).length;
  all.checked = chosen > 0 && chosen === ackable.length;
  all.indeterminate = chosen > 0 && chosen < ackable.length;
  const button = $("#bulk-ack");
  button.disabled = !state.selected.size;
  button.textContent = `${t("bulk.ack")} (${state.selected.size})`;
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
  keepFocus(() => {
    refreshBanner(); // names the alarms with what is known now
    countActive();
    drawSites();
    drawAlarmList();
    drawMonitoring();
  });
}

/** Bring an alarm's card into view (from a reason of the "monitoring degraded" banner). */
function pickAlarm(alarm) {
  showTab("alarms");
  if (!passes(alarm, state.filter, plant())) { // a filter hides it: show everything
    state.filter = { priority: "", state: "", site: "", text: "" };
    writeFilters();
    drawAll();
  }
  for (const [key] of state.expanded) state.expanded.delete(key);
  state.expanded.add(`${alarm.site}|${alarm.condition}|${alarm.priority}|${alarm.state}`);
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
  state.filter.site = state.filter.site === siteId ? "" : siteId;
  writeFilters();
  drawAll();
  if (state.filter.site && window.matchMedia("(max-width: 760px)").matches) showTab("alarms");
}

// -- filters, kept in the URL (?priority=&state=&site=&q=&sort=) ----------------------

function readFilters() {
  const q = new URLSearchParams(window.location.search);
  state.filter = { priority: q.get("priority") ?? "", state: q.get("state") ?? "",
    site: q.get("site") ?? "", text: q.get("q") ?? "" };
  state.sort = q.get("sort") ?? "priority";
  $("#f-priority").value = state.filter.priority;
  $("#f-state").value = state.filter.state;
  $("#f-search").value = state.filter.text;
  $("#f-sort").value = state.sort;
}

function writeFilters() {
  const q = new URLSearchParams();
  for (const [name, value] of [["priority", state.filter.priority], ["state", state.filter.state],
    ["site", state.filter.site], ["q", state.filter.text.trim()],
    ["sort", state.sort === "priority" ? "" : state.sort]]) {
    if (value) q.set(name, value);
  }
  const search = q.toString();
  window.history.replaceState(null, "", `${window.location.pathname}${search ? `?${search}` : ""}`);
  $("#f-priority").value = state.filter.priority;
  $("#f-state").value = state.filter.state;
  $("#f-site").value = state.filter.site;
  if ($("#f-search").value !== state.filter.text) $("#f-search").value = state.filter.text;
  $("#f-sort").value = state.sort;
}

/** The phone's tabs (alarms, risk map); on a wide screen both are shown. */
function showTab(tab) {
  $("#main").dataset.tab = tab;
  for (const button of document.querySelectorAll(".tabs [data-tab]")) {
    button.setAttribute("aria-selected", String(button.dataset.tab === tab));
  }
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
    await readSensors(sites);
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
    await readSensors(sites);
  });
  drawAll();
}

/** Every site's sensors (kind, area, unit, limits, the value now), for the summary. */
async function readSensors(sites) {
  const each = await Promise.all(sites.map((site) =>
    call(`/api/v1/sites/${encodeURIComponent(site.id)}/sensors`).catch((error) => {
      if (error instanceof Unauthorized) throw error;
      return []; // not known now: the summary shows less, not nothing
    })));
  state.sensors = new Map();
  state.gateways = new Set();
  for (const [i, site] of sites.entries()) {
    for (const sensor of each[i]) {
      state.sensors.set(`${site.id}/${sensor.id}`, sensor);
      state.gateways.add(`${site.id}/${sensor.gateway}`);
    }
  }
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

/** An alarm's change (live, or an action's answer); `alert`: sound a new critical one;
 * `draw`: draw it now (a bulk answer draws once, after all of them). */
function applyAlarm(event, alert = true, draw = true) {
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
  if (!draw) return;
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
    keepFocus(drawSites);
  }
}

let liveSince = null; // the last moment the stream was known live

function onStatus(status) {
  const conn = $("#conn");
  conn.dataset.state = status;
  setText(conn, `conn.${status}`);
  if (status === "live") {
    liveSince = Date.now();
    state.offlineSince = null;
  } else if (status === "lost" && state.offlineSince === null && liveSince !== null) {
    state.offlineSince = Date.now(); // what is shown is as of now: ages stop here
  }
  const lost = state.offlineSince !== null;
  document.body.classList.toggle("offline", lost);
  const banner = $("#offline");
  banner.hidden = !lost;
  if (lost) {
    const since = $("#offline-since");
    since.textContent = formatTime(state.offlineSince);
    since.setAttribute("datetime", new Date(state.offlineSince).toISOString());
  }
  if (state.running) drawAlarmList();
}

// -- actions ------------------------------------------------------------------------

/** Words for an error, in the console's language: the server's code translated (its
 * sentence after it), a lost connection said as such; never a raw exception. */
function errorWords(error) {
  if (error instanceof ApiError) {
    const known = t(`error.${error.code}`, "");
    return `${known || t("error.action")} — ${error.message}`;
  }
  return t(error instanceof TypeError || !navigator.onLine ? "error.network" : "error.action");
}

/** Open a dialog naming what it acts on (`subject`: lines); "OK" runs `send()` with the
 * dialog still open: it closes on success, and on failure it stays, with what was
 * written, and says why. Answers what `send` answered, or null (cancelled). */
function ask(dialogId, { titleKey, subject, okKey, prepare, send }) {
  const dialog = $(dialogId);
  const form = dialog.querySelector("form");
  const error = dialog.querySelector(".dialog-error");
  const ok = form.querySelector("button[value=ok]");
  form.reset();
  error.hidden = true;
  setText(dialog.querySelector("h3"), titleKey);
  if (okKey) setText(ok, okKey);
  const list = clear(dialog.querySelector(".subject"));
  for (const line of subject) list.append(h("li", {}, line));
  prepare?.();
  dialog.showModal();
  return new Promise((resolve) => {
    async function onSubmit(event) {
      if (event.submitter?.value !== "ok") return; // cancel: the dialog closes
      event.preventDefault();
      ok.disabled = true;
      try {
        const answer = await send();
        dialog.close("ok");
        resolve(answer);
      } catch (failure) {
        if (failure instanceof Unauthorized) {
          dialog.close("cancel");
          fail(failure);
          return;
        }
        console.warn("action:", failure);
        error.textContent = errorWords(failure);
        error.hidden = false;
      } finally {
        ok.disabled = false;
      }
    }
    form.addEventListener("submit", onSubmit);
    dialog.addEventListener("close", () => {
      form.removeEventListener("submit", onSubmit);
      resolve(null);
    }, { once: true });
  });
}

const MANY_SHOWN = 6; // the alarms a bulk dialog names one by one

function subjectOf(alarms) {
  const lines = alarms.slice(0, MANY_SHOWN).map((a) => alarmTitle(a, plant()));
  if (alarms.length > MANY_SHOWN) lines.push(`… ${alarms.length} ${t("ackMany.count")}`);
  return lines;
}

async function ackMany(alarms) {
  const outcomes = await ask("#note-dialog", {
    titleKey: "ackMany.title", okKey: "action.ack",
    subject: [`${alarms.length} ${t("ackMany.count")}`, ...subjectOf(alarms)],
    prepare: () => {
      $("#note-text").required = false;
      explainIn($("#note-rationale"), null);
    },
    send: () => call("/api/v1/alarms/ack", { method: "POST", body: {
      alarm_ids: alarms.map((a) => a.alarm_id), note: $("#note-text").value.trim() || null } }),
  });
  if (!outcomes) return;
  for (const outcome of outcomes) {
    state.selected.delete(outcome.alarm_id);
    if (outcome.ok) applyAlarm(outcome.alarm, true, false);
  }
  drawAll();
  const failed = outcomes.filter((o) => !o.ok);
  if (failed.length) toast("ackMany.partial", failed.map((o) => o.alarm_id).join(", "));
}

async function act(kind, alarm, event) {
  if (kind === "trend") {
    openDetail(alarm.site, alarm.sensor, event?.currentTarget?.dataset?.focus ?? null, alarm);
    return;
  }
  if (kind === "ackMany") {
    await ackMany(alarm);
    return;
  }
  const subject = [alarmTitle(alarm, plant())];
  const path = alarmPath(alarm.alarm_id, kind);
  let answer;
  if (kind === "shelve") {
    answer = await ask("#shelve-dialog", {
      titleKey: "shelve.title", subject,
      prepare: () => showOther(),
      send: () => call(path, { method: "POST", body: {
        reason: reasonCode($("#shelve-reason").value, $("#shelve-other").value),
        minutes: Number($("#shelve-minutes").value) } }),
    });
  } else {
    answer = await ask("#note-dialog", {
      titleKey: `${kind}.title`, okKey: `action.${kind}`, subject,
      prepare: () => {
        $("#note-text").required = kind === "unshelve"; // say why
        explainIn($("#note-rationale"), kind === "ack" ? alarm : null); // why it exists, what to do
      },
      send: () => call(path, { method: "POST",
        body: { note: $("#note-text").value.trim() || null } }),
    });
  }
  if (answer) applyAlarm(answer);
}

/** "Other" as a reason asks for the words (required). */
function showOther() {
  const other = $("#shelve-reason").value === "other";
  $("#shelve-other-box").hidden = !other;
  $("#shelve-other").required = other;
}

let detailOpener = null; // the focus key of the button that opened the detail
let detailAlarm = null; // the alarm it was opened from (its rationalization is shown)

/** The sensor's trend and history in a drawer beside the list (a full-screen sheet on
 * a phone), in view at once; `opener`: a button's focus key, to open it with the focus
 * on its title (and give it back on closing); without one, a refresh. */
function openDetail(siteId, sensorId, opener = undefined, alarm = undefined) {
  const panel = $("#detail");
  const opening = opener !== undefined;
  if (opening) detailOpener = opener;
  if (alarm !== undefined) detailAlarm = alarm;
  detailAlarm = (detailAlarm && state.alarms.get(detailAlarm.alarm_id)) ?? detailAlarm;
  // on a wide screen the drawer starts under the header (its tools stay usable)
  document.documentElement.style.setProperty("--top-h", `${$(".top").offsetHeight}px`);
  showSensor(panel, siteId, sensorId, state.sites.get(siteId)?.name, detailAlarm)
    .then(() => {
      if (opening) $("#detail-title").focus({ preventScroll: true });
    })
    .catch(fail);
}

function closeDetail() {
  $("#detail").hidden = true;
  const back = detailOpener && document.querySelector(`[data-focus="${CSS.escape(detailOpener)}"]`);
  if (back) back.focus({ preventScroll: false });
  detailOpener = null;
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
  } else if (error instanceof ApiError) {
    console.error(error);
    const known = t(`error.${error.code}`, "");
    toast(known ? `error.${error.code}` : "error.action", error.message);
  } else { // the network, or a fault of the console: said, never shown raw
    console.warn(error);
    toast(error instanceof TypeError ? "error.network" : "error.action");
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
  $("#summary").hidden = true;
  $("#offline").hidden = true;
  $("#detail").hidden = true;
  state.watch?.stop();
  state.monitoring = null;
  $("#chain").hidden = true;
  $("#degraded").hidden = true;
  closeDangers();
  $("#dangers-open").hidden = true;
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
  $("#summary").hidden = false;
  readFilters();
  $("#logout").hidden = false;
  $("#export").hidden = !state.may.audit;
  initDangers({ me: state.me, sites: () => state.sites }); // hidden dangers (dangers.js)
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
  $("#filter").addEventListener("click", () => pickSite(state.filter.site));
  $("#detail-close").addEventListener("click", closeDetail);
  $("#detail").addEventListener("keydown", (event) => {
    if (event.key === "Escape") closeDetail();
  });
  $("#export").addEventListener("click", () => { // for a spreadsheet, in the console's language
    download(`/api/v1/journal?format=excel&lang=${language()}`, "hazmon-journal.csv")
      .then(() => toast("export.done")).catch(fail);
  });
  $("#filters").addEventListener("submit", (event) => event.preventDefault());
  for (const [id, name] of [["#f-priority", "priority"], ["#f-state", "state"],
    ["#f-site", "site"]]) {
    $(id).addEventListener("change", (event) => {
      state.filter[name] = event.target.value;
      writeFilters();
      drawAll();
    });
  }
  $("#f-sort").addEventListener("change", (event) => {
    state.sort = event.target.value;
    writeFilters();
    drawAlarmList();
  });
  $("#f-search").addEventListener("input", (event) => {
    state.filter.text = event.target.value;
    writeFilters();
    drawAlarmList();
  });
  $("#select-all").addEventListener("change", (event) => {
    for (const alarm of state.shown.filter(isUnack)) {
      if (event.target.checked) state.selected.add(alarm.alarm_id);
      else state.selected.delete(alarm.alarm_id);
    }
    drawAlarmList();
  });
  $("#bulk-ack").addEventListener("click", () => {
    const chosen = [...state.selected].map((id) => state.alarms.get(id)).filter(Boolean);
    if (chosen.length) act("ackMany", chosen);
  });
  $("#shelve-reason").addEventListener("change", showOther);
  for (const tab of document.querySelectorAll(".tabs [data-tab]")) {
    tab.addEventListener("click", () => showTab(tab.dataset.tab));
  }
  nameAlarmsWith(
    (id) => (state.alarms.has(id) ? alarmTitle(state.alarms.get(id), plant()) : id),
    (id) => { if (state.alarms.has(id)) pickAlarm(state.alarms.get(id)); },
  );
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
