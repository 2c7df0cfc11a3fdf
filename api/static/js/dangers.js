// Hidden dangers (隐患, docs/hidden-dangers.md): the list with filters and deadlines, a
// record's detail with its history and evidence, the actions the caller's rights allow
// (inspector: record, order, accept, reject; operator/engineer: self-check, rectify,
// evidence, submit), and the map of the open ones by grade. Opened from the header
// button; it reads /api/v1/dangers when opened and after each action.

import { ApiError, call, token } from "./api.js";
import { $, clear, h } from "./dom.js";
import { fill, formatTime, t } from "./i18n.js";
import { drawMap } from "./map.js";

const DAY_MS = 86_400_000;
const view = { me: null, may: {}, sites: () => new Map(), list: [], picked: null, wired: false };

function siteName(id) {
  return view.sites().get(id)?.name ?? id;
}

function deadlineWords(doc, now = Date.now()) {
  if (doc.deadline_ms == null) return t("hd.noDeadline");
  if (doc.overdue) return fill("hd.overdueBy", Math.ceil((now - doc.deadline_ms) / DAY_MS));
  if (doc.state === "closed" || doc.state === "submitted") return formatTime(doc.deadline_ms);
  return fill("hd.daysLeft", Math.max(0, Math.ceil((doc.deadline_ms - now) / DAY_MS)));
}

function passes(doc) {
  const f = {
    site: $("#hd-site").value, state: $("#hd-state").value, grade: $("#hd-grade").value,
  };
  return (!f.site || doc.site === f.site) && (!f.state || doc.state === f.state
    || (f.state === "active" && doc.state !== "closed")) && (!f.grade || doc.grade === f.grade)
    && (!$("#hd-overdue").checked || doc.overdue);
}

function drawList() {
  const shown = view.list.filter(passes);
  $("#hd-count").textContent = fill("hd.count", shown.length);
  const list = clear($("#hd-list"));
  if (!shown.length) list.append(h("p", { class: "empty" }, t("hd.none")));
  for (const doc of shown) {
    list.append(h("button", {
      type: "button",
      class: `hd-item grade-${doc.grade} state-${doc.state}${doc.overdue ? " overdue" : ""}`,
      dataset: { id: doc.id },
      onclick: () => showDetail(doc.id),
    },
    h("span", { class: "hd-grade" }, t(`hd.grade.${doc.grade}`)),
    h("span", { class: "hd-desc" }, doc.description),
    h("span", { class: "hd-where" }, `${siteName(doc.site)} · ${doc.area || ""}`),
    h("span", { class: "hd-state" }, t(`hd.state.${doc.state}`)),
    h("span", { class: "hd-deadline" }, deadlineWords(doc)),
    h("span", { class: "hd-source" }, t(`hd.source.${doc.source}`))));
  }
  drawMapOfOpen();
}

/** The sites on the map, coloured by their open hidden dangers: red an overdue major,
 * orange an open major, yellow general ones only, blue none; labelled with the counts. */
function drawMapOfOpen() {
  const sites = [...view.sites().values()].map((site) => {
    const open = view.list.filter((d) => d.site === site.id && d.state !== "closed");
    const major = open.filter((d) => d.grade === "major");
    const grade = major.some((d) => d.overdue) ? "red" : major.length ? "orange"
      : open.length ? "yellow" : "blue";
    return { ...site, risk_grade: grade, feed: undefined, active_alarms: {},
      name: fill("hd.mapLabel", site.name, major.length, open.length - major.length) };
  });
  drawMap($("#hd-map"), sites, (id) => { $("#hd-site").value = id; drawList(); });
}

async function load() {
  view.list = await call("/api/v1/dangers");
  drawList();
  if (view.picked) await showDetail(view.picked);
}

function field(labelKey, input) {
  return h("label", {}, h("span", {}, t(labelKey)), input);
}

async function act(path, body) {
  try {
    await call(`/api/v1/dangers/${encodeURIComponent(view.picked)}/${path}`,
      { method: "POST", body });
    await load();
  } catch (error) {
    say(error);
  }
}

function say(error) {
  const where = $("#hd-message") || $("#hd-new-error");
  const why = error instanceof ApiError ? `${error.status} ${error.message}` : String(error);
  where.textContent = `${t("hd.refused")} ${why}`;
}

async function upload(file) {
  const response = await fetch(
    `/api/v1/dangers/${encodeURIComponent(view.picked)}/evidence/files?name=${
      encodeURIComponent(file.name)}`,
    { method: "PUT", body: file, headers: { Authorization: `Bearer ${token.get() || ""}`,
      "Content-Type": "application/octet-stream" } });
  if (!response.ok) {
    say(new ApiError(response.status, await response.json().catch(() => null)));
    return;
  }
  await load();
}

function actions(doc) {
  const box = h("div", { class: "hd-actions" });
  const note = h("input", { id: "hd-note", type: "text", maxlength: 2000 });
  box.append(field("hd.note", note));
  const button = (key, run, primary = false) => box.append(h("button", {
    type: "button", class: primary ? "primary" : null, dataset: { action: key },
    onclick: run }, t(`hd.do.${key}`)));
  const noteValue = () => note.value.trim() || undefined;
  if (view.may.inspect && ["open", "rectifying", "rejected"].includes(doc.state)) {
    const days = h("input", { id: "hd-days", type: "number", min: 1, max: 365, value: 7 });
    const owner = h("input", { id: "hd-owner", type: "text", maxlength: 200,
      value: doc.owner_enterprise || "" });
    const measures = h("input", { id: "hd-measures", type: "text", maxlength: 2000,
      value: doc.measures || "" });
    box.append(field("hd.days", days), field("hd.owner", owner), field("hd.measures", measures));
    button("order", () => act("order", {
      deadline_ms: Date.now() + Number(days.value || 7) * DAY_MS,
      owner_enterprise: owner.value.trim() || "—", owner_bureau: view.me.name,
      measures: measures.value.trim() || undefined, note: noteValue() }), true);
  }
  if (view.may.inspect && doc.state === "submitted") {
    button("accept", () => act("accept", { note: noteValue() }), true);
    button("reject", () => act("reject", { note: note.value.trim() || t("hd.rejectDefault") }));
  }
  if (view.may.rectify && ["open", "rejected"].includes(doc.state)) {
    button("rectify", () => act("rectify", { note: noteValue() }), true);
  }
  if (view.may.rectify && ["open", "rectifying", "rejected"].includes(doc.state)) {
    const text = h("input", { id: "hd-evidence", type: "text", maxlength: 2000 });
    box.append(field("hd.evidenceText", text));
    button("evidence", () => text.value.trim() && act("evidence", { text: text.value.trim() }));
    const file = h("input", { id: "hd-file", type: "file",
      accept: "image/jpeg,image/png,application/pdf" });
    file.addEventListener("change", () => file.files[0] && upload(file.files[0]));
    box.append(field("hd.file", file));
  }
  if (view.may.rectify && doc.state === "rectifying") {
    button("submit", () => act("submit", { note: noteValue() }), true);
  }
  return box;
}

async function showDetail(id) {
  view.picked = id;
  const doc = await call(`/api/v1/dangers/${encodeURIComponent(id)}`);
  const panel = clear($("#hd-detail"));
  panel.hidden = false;
  const row = (key, value) => h("tr", {}, h("th", {}, t(key)), h("td", {}, value ?? "—"));
  panel.append(
    h("h3", {}, `${doc.id} · ${t(`hd.grade.${doc.grade}`)} · ${t(`hd.state.${doc.state}`)}`),
    h("p", { class: "hd-desc" }, doc.description),
    h("table", { class: "hd-facts" },
      row("hd.site", siteName(doc.site)), row("hd.area", doc.area),
      row("hd.source", t(`hd.source.${doc.source}`)),
      row("hd.found", `${doc.found_by} · ${formatTime(doc.found_ms)}`),
      row("hd.deadline", deadlineWords(doc)),
      row("hd.owner", doc.owner_enterprise), row("hd.ownerBureau", doc.owner_bureau),
      row("hd.measures", doc.measures),
      row("hd.links", (doc.links || []).join(" ") || null)),
    h("h4", {}, t("hd.evidence")),
    h("ul", { class: "hd-evidence" }, (doc.evidence || []).map((e) => h("li", {},
      `${formatTime(e.ts_ms)} ${e.by}: `,
      e.kind === "file" ? h("button", { type: "button", class: "link",
        onclick: () => fetchFile(doc.id, e) }, `${e.name} (${Math.ceil(e.size / 1024)} KiB)`)
        : e.text))),
    h("h4", {}, t("hd.history")),
    h("ol", { class: "hd-history" }, doc.history.map((entry) => h("li", {},
      `${formatTime(entry.ts_ms)} ${entry.user || ""} ${t(`hd.event.${entry.event}`,
        entry.event)} ${entry.to_state ? t(`hd.state.${entry.to_state}`, entry.to_state) : ""}${
        entry.note ? ` — ${entry.note}` : ""}`))),
    h("p", { id: "hd-message", class: "error", role: "alert" }),
    actions(doc));
}

async function fetchFile(id, item) {
  const response = await fetch(
    `/api/v1/dangers/${encodeURIComponent(id)}/evidence/files/${item.sha256}`,
    { headers: { Authorization: `Bearer ${token.get() || ""}` } });
  if (!response.ok) return;
  const url = URL.createObjectURL(await response.blob());
  const link = Object.assign(document.createElement("a"), { href: url, download: item.name });
  document.body.append(link);
  link.click();
  link.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10_000);
}

async function record(event) {
  event.preventDefault();
  const site = $("#hd-new-site").value;
  const body = { area: $("#hd-new-area").value.trim(), grade: $("#hd-new-grade").value,
    description: $("#hd-new-desc").value.trim() };
  const path = view.may.inspect ? `/api/v1/sites/${encodeURIComponent(site)}/dangers`
    : `/api/v1/sites/${encodeURIComponent(site)}/dangers/self-check`;
  try {
    const doc = await call(path, { method: "POST", body });
    $("#hd-new").reset();
    view.picked = doc.id;
    await load();
  } catch (error) {
    $("#hd-new-error").textContent = `${t("hd.refused")} ${error.message}`;
  }
}

function fillSites() {
  for (const id of ["#hd-site", "#hd-new-site"]) {
    const select = $(id);
    const keep = select.value;
    for (const option of [...select.options].slice(id === "#hd-site" ? 1 : 0)) option.remove();
    for (const site of view.sites().values()) {
      select.append(h("option", { value: site.id }, site.name));
    }
    if (keep) select.value = keep;
  }
}

export function openDangers() {
  $("#main").hidden = true;
  $("#dangers").hidden = false;
  fillSites();
  $("#hd-new").hidden = !(view.may.inspect || view.may.rectify);
  load().catch(say);
}

export function closeDangers() {
  $("#dangers").hidden = true;
  $("#main").hidden = false;
}

/** After sign-in: `me` (name, rights), `sites()` the console's sites by id. */
export function initDangers({ me, sites }) {
  view.me = me;
  view.may = Object.fromEntries(me.rights.map((r) => [r, true]));
  view.sites = sites;
  $("#dangers-open").hidden = false;
  if (view.wired) return;
  view.wired = true;
  $("#dangers-open").addEventListener("click", openDangers);
  $("#hd-close").addEventListener("click", closeDangers);
  $("#hd-filters").addEventListener("change", drawList);
  $("#hd-filters").addEventListener("submit", (event) => event.preventDefault());
  $("#hd-new").addEventListener("submit", record);
  $("#lang").addEventListener("click", () => { if (!$("#dangers").hidden) load().catch(say); });
}
