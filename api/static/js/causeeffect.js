// Cause-and-effect verification in the console (docs/alarms.md, "Cause-and-effect
// verification"): an interlock's `ce_failed` timing in words, its record (demands, in
// time, late, never tripped, spurious, response times) and latest records in the
// sensor drawer, from GET /api/v1/sites/{site}/interlocks/{interlock}/cause-effect.

import { clear, h } from "./dom.js";
import { fill, formatTime, t } from "./i18n.js";
import { noteWords, voteWords } from "./notes.js";

export const CE_EVENTS = ["ce_demand", "ce_response", "ce_late", "ce_missing", "ce_spurious"];
const RECENT = 10; // records shown in the drawer, newest first

/** Milliseconds as seconds with one decimal ("12.0 s"). */
export function seconds(ms) {
  return `${(Number(ms) / 1000).toFixed(1)} s`;
}

/** `ce_failed`'s value: the response time of a late trip, or none (never tripped). */
export function failedWords(value) {
  return typeof value === "number" ? fill("ce.late", (value / 1000).toFixed(1)) : t("ce.never");
}

/** The value cell of a journal record or alarm event of the C&E (null: nothing to say). */
export function ceValue(event, condition, value) {
  if (condition === "ce_failed" && (typeof value === "number"
    || event === "raised" || event === "cleared")) return failedWords(value);
  if (CE_EVENTS.includes(event) && typeof value === "number") return seconds(value);
  return null;
}

function rule(row) {
  const cause = row.cause ?? {};
  return h("li", { dataset: { row: row.id } },
    h("b", {}, row.id), ` ${row.description ?? ""}`, h("br"),
    fill("ce.rule", (cause.sensors ?? []).join(t("ce.list")),
      t(`condition.${cause.condition}`, cause.condition), voteWords(cause.vote), row.within_s));
}

function figure(name, count, key) {
  return h("li", { dataset: { ce: name, count } }, fill(key, count));
}

function records(items) {
  const cell = (key, ...text) => h("td", { dataset: { label: t(key) } }, ...text);
  return h("table", { class: "history ce-records" },
    h("tr", {}, ["col.time", "col.event", "col.row", "col.response", "col.note"]
      .map((key) => h("th", {}, t(key)))),
    items.map((r) => h("tr", { dataset: { event: r.event } },
      cell("col.time", formatTime(r.ts_ms)),
      cell("col.event", t(`event.${r.event}`, r.event)),
      cell("col.row", r.row ?? ""),
      cell("col.response", typeof r.response_ms === "number" ? seconds(r.response_ms) : ""),
      cell("col.note", noteWords(r.note)))));
}

/** Draw an interlock's C&E record into `box` (hidden when the interlock is in no row
 * of the matrix and has no record). */
export function drawCauseEffect(box, record) {
  clear(box);
  const rows = record?.rows ?? [];
  const recent = (record?.records ?? []).slice(0, RECENT);
  box.hidden = !record || (!rows.length && !recent.length);
  if (box.hidden) return;
  const response = record.response_ms ?? {};
  box.append(
    h("h3", { id: "ce-title" }, t("ce.title")),
    rows.length ? h("ul", { class: "ce-rows", "aria-label": t("ce.rows") }, rows.map(rule)) : null,
    h("ul", { class: "ce-summary", "aria-labelledby": "ce-title" },
      figure("demands", record.demands ?? 0, "ce.demands"),
      figure("in_time", record.in_time ?? 0, "ce.in_time"),
      figure("late", record.late ?? 0, "ce.late_n"),
      figure("missing", record.missing ?? 0, "ce.missing_n"),
      figure("spurious", record.spurious ?? 0, "ce.spurious_n"),
      h("li", { dataset: { ce: "response" } }, response.count
        ? fill("ce.response", seconds(response.p50), seconds(response.max))
        : t("ce.response_none"))),
    h("h4", {}, t("ce.recent")),
    recent.length ? h("div", { class: "scroll" }, records(recent))
      : h("p", { class: "empty" }, t("ce.none")),
  );
}
