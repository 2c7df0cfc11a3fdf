// Sites on a schematic map of Zhejiang, drawn from lat/lon without any tile server:
// an equirectangular projection around the sites, the province outline (simplified)
// and a few towns for orientation. Each site is a dot in its risk colour; a site whose
// feed is degraded (数据异常) gets a dashed purple ring and a "!" beside it, and is never
// blue: its calm may only be missing data.

import { clear, h } from "./dom.js";
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

const WIDTH = 400;

function frame(sites) {
  const lons = sites.map((s) => s.location.lon);
  const lats = sites.map((s) => s.location.lat);
  const pad = 0.35;
  let [west, east] = [Math.min(...lons) - pad, Math.max(...lons) + pad];
  let [south, north] = [Math.min(...lats) - pad, Math.max(...lats) + pad];
  if (!sites.length) [west, east, south, north] = [118.0, 122.3, 27.0, 31.3];
  const kx = Math.cos(((south + north) / 2) * (Math.PI / 180));
  const scale = WIDTH / ((east - west) * kx);
  const height = Math.max(160, Math.min(420, (north - south) * scale));
  const project = ([lon, lat]) => [(lon - west) * kx * scale, (north - lat) * scale];
  return { project, height };
}

/** Draw the map; `onPick(siteId)` is called when a site dot is clicked. */
export function drawMap(svg, sites, onPick) {
  const { project, height } = frame(sites);
  clear(svg);
  svg.setAttribute("viewBox", `0 0 ${WIDTH} ${height.toFixed(0)}`);
  const points = OUTLINE.map((p) => project(p).map((v) => v.toFixed(1)).join(",")).join(" ");
  svg.append(
    h("rect", { class: "sea", x: 0, y: 0, width: WIDTH, height: height.toFixed(0) }),
    h("polygon", { class: "province", points }),
  );
  for (const [town, lon, lat] of TOWNS) {
    const [x, y] = project([lon, lat]);
    if (x < 0 || y < 0 || x > WIDTH || y > height) continue;
    svg.append(h("g", { class: "town" },
      h("circle", { cx: x.toFixed(1), cy: y.toFixed(1), r: 2 }),
      h("text", { x: (x + 4).toFixed(1), y: (y + 3).toFixed(1) }, t(`town.${town}`))));
  }
  for (const [index, site] of sites.entries()) {
    const [x, y] = project([site.location.lon, site.location.lat]);
    const labelY = index % 2 ? y + 22 : y - 12; // neighbours' labels apart
    const active = Object.values(site.active_alarms || {}).reduce((a, b) => a + b, 0);
    const feed = feedOf(site);
    const feedText = feed && [feed.degraded ? t("feed.degraded") : "",
      ...feedWords(feed).map(([, words]) => words)].filter(Boolean).join(" · ");
    const dot = h("g", {
      class: `site grade-${site.risk_grade}${feed?.degraded ? " feed-degraded" : ""}`,
      tabindex: 0,
      role: "button",
      dataset: { site: site.id, grade: site.risk_grade,
        ...(feed && { feed: feed.degraded ? "degraded" : "ok" }) },
      onclick: () => onPick(site.id),
    },
    h("title", {}, `${site.name} — ${t(`grade.${site.risk_grade}`)}${
      feedText ? ` — ${feedText}` : ""}`),
    h("circle", { class: "halo", cx: x.toFixed(1), cy: y.toFixed(1), r: active ? 16 : 11 }),
    feed?.degraded ? h("circle", { class: "feed-ring", cx: x.toFixed(1), cy: y.toFixed(1), r: 12 })
      : null,
    h("circle", { class: "dot", cx: x.toFixed(1), cy: y.toFixed(1), r: 8 }),
    h("text", { class: "count", x: x.toFixed(1), y: (y + 3.5).toFixed(1) }, active || ""),
    feed?.degraded ? h("g", { class: "feed-mark" },
      h("circle", { cx: (x + 10).toFixed(1), cy: (y - 9).toFixed(1), r: 6 }),
      h("text", { x: (x + 10).toFixed(1), y: (y - 6).toFixed(1) }, "!")) : null,
    h("text", { class: "label", x: (x + 10).toFixed(1), y: labelY.toFixed(1) }, site.id));
    svg.append(dot);
  }
  svg.append(h("text", { class: "caption", x: 6, y: (height - 6).toFixed(0) }, t("sites.map")));
}
