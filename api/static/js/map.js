// Sites on a schematic map of Zhejiang, drawn from lat/lon without any tile server:
// an equirectangular projection of the whole province (its outline simplified) and a
// few towns for orientation. Each site is a dot in its risk colour with its grade's
// numeral (Ⅰ 重大 … Ⅳ 低), labelled by name; a site whose feed is degraded (数据异常)
// gets a dashed purple ring and a "!" beside it, and is never blue: its calm may only
// be missing data.

import { activateOnKeys, clear, h } from "./dom.js";
import { t } from "./i18n.js";
import { feedOf, feedWords } from "./monitoring.js";

// Simplified outline of Zhejiang province, [lon, lat], clockwise from the north-west.
const OUTLINE = [
  [119.63, 31.18], [120.15, 30.98], [120.5, 31.0], [120.9, 31.02], [121.1, 30.85],
  [121.25, 30.72], [120.95, 30.5], [120.7, 30.38], [120.55, 30.3], [120.9, 30.3],
  [121.25, 30.33], [121.6, 30.1], [121.9, 29.95], [122.05, 29.7], [121.95, 29.45],
  [121.75, 29.2], [121.95, 29.0], [121.6, 28.7], [121.55, 28.4], [121.2, 28.1],
  [120.9, 27.95], [120.7, 27.55], [120.55, 27.2], [120.3, 27.15], [119.8, 27.45],
  [119.45, 27.55], [119.1, 27.7], [118.85, 27.95], [118.6, 28.25], [118.35, 28.45],
  [118.1, 28.8], [118.15, 29.2], [118.45, 29.5], [118.85, 29.95], [119.2, 30.3],
  [119.4, 30.6], [119.3, 30.9],
];

const TOWNS = [ // names in the i18n table, `town.<id>`
  ["hangzhou", 120.16, 30.27], ["ningbo", 121.55, 29.87], ["wenzhou", 120.7, 28.0],
  ["jinhua", 119.65, 29.08], ["yiwu", 120.07, 29.31], ["dongyang", 120.24, 29.29],
  ["wuyi", 119.82, 28.89], ["yongkang", 120.02, 28.9], ["lanxi", 119.46, 29.21],
  ["pujiang", 119.89, 29.45], ["quzhou", 118.87, 28.94], ["lishui", 119.92, 28.45],
  ["shaoxing", 120.58, 30.0], ["taizhou", 121.42, 28.66], ["huzhou", 120.09, 30.89],
  ["jiaxing", 120.76, 30.75],
]

const WIDTH = 340; // user units; the text sizes in console.css are in these units
const FONT = 13; // the labels' size, in user units (CSS: .map .label, .map .town text)
export const GRADES = ["red", "orange", "yellow", "blue"]; // most severe first
export const GRADE_MARKS = { red: "Ⅰ", orange: "Ⅱ", yellow: "Ⅲ", blue: "Ⅳ" };

function frame(sites) {
  // the whole province, and any site outside it: the outline is never cropped
  const lons = [...OUTLINE.map((p) => p[0]), ...sites.map((s) => s.location.lon)];
  const lats = [...OUTLINE.map((p) => p[1]), ...sites.map((s) => s.location.lat)];
  const pad = 0.12;
  const [west, east] = [Math.min(...lons) - pad, Math.max(...lons) + pad];
  const [south, north] = [Math.min(...lats) - pad, Math.max(...lats) + pad];
  const kx = Math.cos(((south + north) / 2) * (Math.PI / 180));
  const scale = WIDTH / ((east - west) * kx);
  const height = (north - south) * scale;
  const project = ([lon, lat]) => [(lon - west) * kx * scale, (north - lat) * scale];
  return { project, height };
}

/** How wide a text is drawn, roughly (CJK one em, others about 0.6 em). */
function textWidth(text, size = FONT) {
  return [...text].reduce((w, ch) => w + (ch.codePointAt(0) > 0x2e80 ? 1 : 0.62), 0) * size;
}

const overlaps = (a, b) => a.x < b.x + b.w && b.x < a.x + a.w && a.y < b.y + b.h && b.y < a.y + a.h;

/** A place for a label of width `w` near (x, y) that overlaps none of `taken` and
 * stays on the map: beside, above, below, then further out (with a leader line). */
function place(x, y, w, taken, height) {
  const hgt = FONT + 2;
  const options = [];
  for (const far of [0, 16, 32, 48]) {
    options.push(
      { x: x + 12, y: y - hgt / 2 - far }, { x: x - 12 - w, y: y - hgt / 2 - far },
      { x: x + 12, y: y - hgt / 2 + far }, { x: x - 12 - w, y: y - hgt / 2 + far },
      { x: x - w / 2, y: y - 12 - hgt - far }, { x: x - w / 2, y: y + 12 + far },
    );
  }
  for (const option of options) {
    const box = { ...option, w, h: hgt };
    if (box.x < 2 || box.y < 2 || box.x + w > WIDTH - 2 || box.y + hgt > height - 18) continue;
    if (!taken.some((other) => overlaps(box, other))) return box;
  }
  return { x: Math.min(Math.max(2, x + 12), WIDTH - w - 2), y: y - hgt / 2, w, h: hgt };
}

function siteMark(site, x, y, onPick) {
  const active = Object.values(site.active_alarms || {}).reduce((a, b) => a + b, 0);
  const feed = feedOf(site);
  const feedText = feed && [feed.degraded ? t("feed.degraded") : "",
    ...feedWords(feed).map(([, words]) => words)].filter(Boolean).join(" · ");
  const said = `${site.name} — ${t(`grade.${site.risk_grade}`)}${
    active ? ` — ${active}` : ""}${feedText ? ` — ${feedText}` : ""}`;
  const [cx, cy] = [x.toFixed(1), y.toFixed(1)];
  const mark = h("g", {
    class: `site grade-${site.risk_grade}${feed?.degraded ? " feed-degraded" : ""}`,
    tabindex: 0,
    role: "button",
    "aria-label": said,
    dataset: { site: site.id, grade: site.risk_grade, focus: `map|${site.id}`,
      ...(feed && { feed: feed.degraded ? "degraded" : "ok" }) },
    onclick: () => onPick(site.id),
  },
  h("title", {}, said),
  h("circle", { class: "halo", cx, cy, r: active ? 15 : 12 }),
  feed?.degraded ? h("circle", { class: "feed-ring", cx, cy, r: 13 }) : null,
  h("circle", { class: "dot", cx, cy, r: 9 }),
  h("text", { class: "mark", x: cx, y: (y + 4.5).toFixed(1) }, GRADE_MARKS[site.risk_grade] ?? ""),
  feed?.degraded ? h("g", { class: "feed-mark" },
    h("circle", { cx: (x + 11).toFixed(1), cy: (y - 10).toFixed(1), r: 7 }),
    h("text", { x: (x + 11).toFixed(1), y: (y - 5.5).toFixed(1) }, "!")) : null);
  activateOnKeys(mark, () => onPick(site.id));
  return { mark, active };
}

/** Draw the map; `onPick(siteId)` is called when a site is clicked or activated by the
 * keyboard (Enter, Space). Sites are labelled by name, placed so that no label covers
 * another or a town's name (a town whose name would be covered is left out). */
export function drawMap(svg, sites, onPick) {
  const { project, height } = frame(sites);
  clear(svg);
  svg.setAttribute("viewBox", `0 0 ${WIDTH} ${height.toFixed(0)}`);
  const points = OUTLINE.map((p) => project(p).map((v) => v.toFixed(1)).join(",")).join(" ");
  svg.append(
    h("rect", { class: "sea", x: 0, y: 0, width: WIDTH, height: height.toFixed(0) }),
    h("polygon", { class: "province", points }),
  );
  const ordered = [...sites].sort((a, b) =>
    GRADES.indexOf(a.risk_grade) - GRADES.indexOf(b.risk_grade));
  const where = ordered.map((site) => project([site.location.lon, site.location.lat]));
  const taken = where.map(([x, y]) => ({ x: x - 12, y: y - 12, w: 24, h: 24 }));
  const marks = [];
  const labels = [];
  for (const [i, site] of ordered.entries()) {
    const [x, y] = where[i];
    const { mark, active } = siteMark(site, x, y, onPick);
    const text = active ? `${site.name} (${active})` : site.name;
    const box = place(x, y, textWidth(text), taken, height);
    taken.push(box);
    const far = Math.hypot(box.x + box.w / 2 - x, box.y + box.h / 2 - y) > 40;
    labels.push(h("g", { class: "site-label", dataset: { site: site.id } },
      far ? h("line", { class: "leader", x1: x.toFixed(1), y1: y.toFixed(1),
        x2: (box.x < x ? box.x + box.w : box.x).toFixed(1), y2: (box.y + box.h / 2).toFixed(1) })
        : null,
      h("rect", { class: "label-bg", x: box.x.toFixed(1), y: box.y.toFixed(1),
        width: box.w.toFixed(1), height: box.h.toFixed(1), rx: 3 }),
      h("text", { class: "label", x: box.x.toFixed(1), y: (box.y + FONT - 1).toFixed(1) }, text)));
    marks.push(mark);
  }
  for (const [town, lon, lat] of TOWNS) {
    const [x, y] = project([lon, lat]);
    const name = t(`town.${town}`);
    const box = { x: x + 3, y: y - FONT / 2 - 1, w: textWidth(name) + 3, h: FONT + 2 };
    if (x < 0 || y < 0 || x > WIDTH || y > height || box.x + box.w > WIDTH) continue;
    if (taken.some((other) => overlaps(box, other))) continue; // a site's name goes first
    taken.push(box);
    svg.append(h("g", { class: "town", dataset: { town } },
      h("circle", { cx: x.toFixed(1), cy: y.toFixed(1), r: 2 }),
      h("text", { x: (x + 4).toFixed(1), y: (y + 4.5).toFixed(1) }, name)));
  }
  svg.append(...labels, ...marks);
  svg.append(h("text", { class: "caption", x: 6, y: (height - 6).toFixed(0) }, t("sites.map")));
}
