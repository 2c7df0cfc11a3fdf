// An alarm's rationalization record (docs/alarms.md, "The rationalization record"):
// why it exists and what to do — cause, consequence, corrective action, respond
// within, source — shown in the sensor drawer and in the acknowledge dialog. An alarm
// without one shows nothing.

import { call } from "./api.js";
import { clear, h } from "./dom.js";
import { fill, t } from "./i18n.js";

/** Respond-within in words: minutes when whole, else seconds. */
function within(s) {
  const n = Number(s);
  return n >= 60 && n % 60 === 0 ? fill("rat.min", n / 60) : fill("rat.s", n);
}

/** The record as a list of terms (cause, consequence, action, respond within, source),
 * or null. */
export function rationaleList(record) {
  if (!record) return null;
  const items = [["cause", record.cause], ["consequence", record.consequence],
    ["action", record.action],
    ["respond", record.respond_within_s == null ? "" : within(record.respond_within_s)],
    ["source", record.source]].filter(([, text]) => text);
  return h("dl", { class: "rationale" }, items.flatMap(([name, text]) => [
    h("dt", { dataset: { rat: name } }, t(`rat.${name}`)),
    h("dd", { dataset: { rat: name } }, String(text))]));
}

/** Draw `record` into `box` under its heading; hide the box when there is none. */
export function drawRationale(box, record) {
  clear(box);
  box.hidden = !record;
  if (record) box.append(h("h3", {}, t("rat.title")), rationaleList(record));
}

/** The alarm's record: as the list or an action's answer gave it; an alarm first seen
 * on the live stream (whose events do not carry it) is looked up in its site's list
 * once, and kept on the alarm. Null when it has none or it cannot be known now. */
export async function rationaleOf(alarm) {
  if (!alarm) return null;
  if (alarm.rationalization !== undefined) return alarm.rationalization;
  const found = await call(`/api/v1/alarms?active=true&site=${encodeURIComponent(alarm.site)}`)
    .catch(() => []);
  const same = found.find((a) => a.alarm_id === alarm.alarm_id);
  if (same) alarm.rationalization = same.rationalization ?? null;
  return same?.rationalization ?? null;
}

/** Show `alarm`'s record in `box` (a dialog's): at once when known, else once looked
 * up, if the box still shows the same alarm then. No alarm: nothing. */
export function explainIn(box, alarm) {
  box.dataset.alarm = alarm?.alarm_id ?? "";
  drawRationale(box, alarm?.rationalization ?? null);
  if (!alarm || alarm.rationalization !== undefined) return;
  rationaleOf(alarm).then((record) => {
    if (box.dataset.alarm === alarm.alarm_id) drawRationale(box, record);
  });
}
