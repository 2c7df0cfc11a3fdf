// One sensor: its last hour as a line (and dots) with its thresholds, and its alarm
// history; the rationalization of the alarm it was opened from; an interlock's
// cause-and-effect record.

import { ApiError, call } from "./api.js";
import { ceValue, drawCauseEffect } from "./causeeffect.js";
import { clear, h } from "./dom.js";
import { formatTime, t } from "./i18n.js";
import { noteWords } from "./notes.js";
import { drawRationale, rationaleOf } from "./rationale.js";

const H = 200;
const PAD = { left: 44, right: 10, top: 10, bottom: 22 };
const DOT_SPACING_PX = 6; // readings closer than this (on average) are drawn as a line only

function scale(lo, hi, from, to) {
  const span = hi - lo || 1;
  return (v) => from + ((v - lo) / span) * (to - from);
}

function drawTrend(svg, readings, sensor) {
  const W = Math.max(320, Math.round(svg.clientWidth || 600)); // drawn 1:1, not stretched
  clear(svg);
  svg.setAttribute("viewBox", `0 0 ${W} ${H}`);
  const numeric = readings.filter((r) => typeof r.value === "number");
  if (!numeric.length) {
    const states = readings.filter((r) => r.state).slice(-1)[0];
    svg.append(h("text", { class: "empty", x: W / 2, y: H / 2 },
      states ? `${t(`istate.${states.state}`, states.state)} · ${formatTime(states.ts_ms)}`
        : t("detail.none")));
    return;
  }
  const thresholds = Object.entries(sensor?.thresholds || {});
  const values = [...numeric.map((r) => r.value), ...thresholds.map(([, v]) => v)];
  const [t0, t1] = [numeric[0].ts_ms, numeric[numeric.length - 1].ts_ms];
  const single = t0 === t1; // one reading (or one instant): a dot in the middle
  const x = single ? () => (PAD.left + W - PAD.right) / 2
    : scale(t0, t1, PAD.left, W - PAD.right);
  const y = scale(Math.min(0, ...values), Math.max(...values) * 1.1, H - PAD.bottom, PAD.top);
  for (const [name, v] of thresholds) {
    svg.append(h("line", { class: `threshold ${name}`, x1: PAD.left, x2: W - PAD.right,
      y1: y(v).toFixed(1), y2: y(v).toFixed(1) }),
    h("text", { class: "axis", x: 2, y: (y(v) + 4).toFixed(1) }, `${v}`),
    h("text", { class: `axis end limit ${name}`, x: W - PAD.right, y: (y(v) - 3).toFixed(1) },
      `${t(`condition.${name}`, name)} ${v}${sensor?.unit ? ` ${sensor.unit}` : ""}`));
  }
  const points = numeric.map((r) => `${x(r.ts_ms).toFixed(1)},${y(r.value).toFixed(1)}`);
  // A line needs two readings: each reading is also a dot while they are far enough
  // apart to tell, and the latest one always is, so a single reading still shows.
  const sparse = numeric.length * DOT_SPACING_PX <= W - PAD.left - PAD.right;
  const dots = (sparse ? numeric : numeric.slice(-1)).map((r) => h("circle", {
    class: "reading", cx: x(r.ts_ms).toFixed(1), cy: y(r.value).toFixed(1), r: 3.5,
  }, h("title", {}, `${formatTime(r.ts_ms)}  ${r.value} ${sensor?.unit || ""}`)));
  svg.append(
    h("polyline", { class: "series", points: points.join(" ") }),
    ...dots,
    ...(single ? [h("text", { class: "axis mid", x: x(t0), y: H - 6 }, formatTime(t0))] : [
      h("text", { class: "axis", x: PAD.left, y: H - 6 }, formatTime(t0)),
      h("text", { class: "axis end", x: W - PAD.right, y: H - 6 }, formatTime(t1))]),
    h("text", { class: "axis", x: 2, y: PAD.top + 8 }, sensor?.unit || ""),
  );
}

function drawHistory(table, events) {
  clear(table);
  table.append(h("tr", {}, ["col.time", "col.event", "col.state", "col.value", "col.user",
    "col.note"].map((key) => h("th", {}, t(key)))));
  if (!events.length) table.append(h("tr", {}, h("td", { colspan: 6 }, t("detail.none"))));
  const cell = (key, ...text) => h("td", { dataset: { label: t(key) } }, ...text);
  for (const e of events) {
    const value = ceValue(e.event, e.condition, e.value)
      ?? (typeof e.value === "string" ? t(`istate.${e.value}`, e.value) : e.value ?? "");
    table.append(h("tr", {},
      cell("col.time", formatTime(e.ts_ms)),
      cell("col.event", `${t(`event.${e.event}`, e.event)} ${t(`condition.${e.condition}`, "")}`),
      cell("col.state", t(`state.${e.state}`, e.state ?? "")),
      cell("col.value", value),
      cell("col.user", e.user ?? ""),
      cell("col.note", noteWords(e.note))));
  }
}

/** Load and draw one sensor's trend and history into the detail panel, with the
 * rationalization of `alarm` (the alarm it was opened from) and, for an interlock,
 * its cause-and-effect record. */
export async function showSensor(panel, siteId, sensorId, siteName, alarm = null) {
  const base = `/api/v1/sites/${encodeURIComponent(siteId)}/sensors/${encodeURIComponent(sensorId)}`;
  // A gateway-level alarm (offline) names a gateway, which has no trend: show none.
  const orNone = (promise) => promise.catch((e) => {
    if (e instanceof ApiError) return [];
    throw e;
  });
  const [sensors, readings, events, explained] = await Promise.all([
    orNone(call(`/api/v1/sites/${encodeURIComponent(siteId)}/sensors`)),
    orNone(call(`${base}/readings`)),
    orNone(call(`${base}/events`)),
    alarm?.site === siteId && alarm?.sensor === sensorId ? rationaleOf(alarm) : null,
  ]);
  const sensor = sensors.find((s) => s.id === sensorId);
  const record = sensor?.kind === "interlock" ? await call(
    `/api/v1/sites/${encodeURIComponent(siteId)}/interlocks/${encodeURIComponent(sensorId)}/cause-effect`,
  ).catch((e) => {
    if (e instanceof ApiError) return null;
    throw e;
  }) : null;
  const kind = sensor ? t(`kind.${sensor.kind}`, sensor.kind) : t("kind.gateway");
  panel.querySelector("#detail-title").textContent = [siteName || siteId, sensorId, kind,
    sensor?.area, sensor?.name].filter(Boolean).join(" · ");
  panel.dataset.site = siteId;
  panel.dataset.sensor = sensorId;
  panel.hidden = false;
  drawTrend(panel.querySelector("#trend"), readings, sensor);
  drawRationale(panel.querySelector("#detail-rationale"), explained);
  drawCauseEffect(panel.querySelector("#ce"), record);
  drawHistory(panel.querySelector("#history"), events);
}
