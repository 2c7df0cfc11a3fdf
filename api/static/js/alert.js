// Making a new critical alarm impossible to miss: a red banner, a beep repeated every
// 10 s (WebAudio, allowed once the user has clicked: signing in is that click) and
// the page title flashing, until the duty officer says "seen" or acknowledges it.

import { $, clear, h } from "./dom.js";
import { t } from "./i18n.js";

let audio = null;
let beepTimer = null;
let titleTimer = null;
let pending = new Set();
const silenced = new Set(); // ids the officer has already said "seen" to
let baseTitle = document.title;
let named = { describe: (id) => id, pick: () => {} };

/** How the banner names an alarm (`describe(id)`: a line) and leads to it (`pick(id)`). */
export function nameAlarmsWith(describe, pick) {
  named = { describe, pick };
}

export function unlockAudio() {
  const Context = window.AudioContext || window.webkitAudioContext;
  if (!audio && Context) audio = new Context();
  if (audio && audio.state === "suspended") audio.resume();
}

function beep() {
  if (!audio) return;
  const start = audio.currentTime;
  for (let i = 0; i < 3; i += 1) {
    const osc = audio.createOscillator();
    const gain = audio.createGain();
    osc.type = "square";
    osc.frequency.value = 880;
    gain.gain.value = 0.08;
    osc.connect(gain).connect(audio.destination);
    osc.start(start + i * 0.35);
    osc.stop(start + i * 0.35 + 0.2);
  }
}

function flashTitle() {
  let on = false;
  clearInterval(titleTimer);
  titleTimer = setInterval(() => {
    on = !on;
    document.title = on ? t("title.critical") : baseTitle;
  }, 1000);
}

function show() {
  const banner = $("#banner");
  $("#banner-text").textContent = `${t("banner.critical")} (${pending.size})`;
  const list = clear($("#banner-list"));
  for (const id of pending) { // each one named, a button that brings it into view
    list.append(h("button", { type: "button", class: "goto", dataset: { goto: id,
      focus: `${id}|banner` }, onclick: () => named.pick(id) },
    `${t("banner.goto")}: ${named.describe(id)}`));
  }
  banner.hidden = false;
  document.body.classList.add("critical-pending");
}

export function setBaseTitle(title) {
  baseTitle = title;
  if (!pending.size) document.title = title;
}

/** A critical alarm was raised (`fresh`: live, not found unacknowledged on a reload):
 * sound, banner, title. */
export function raiseCritical(alarmId, fresh = true) {
  if (!fresh && (silenced.has(alarmId) || pending.has(alarmId))) return;
  silenced.delete(alarmId);
  const first = pending.size === 0;
  pending.add(alarmId);
  show();
  beep();
  if (first) {
    clearInterval(beepTimer);
    beepTimer = setInterval(beep, 10_000);
    flashTitle();
  }
}

/** The alarm was acknowledged or ended: stop when none is left. */
export function settle(alarmId) {
  if (!pending.delete(alarmId)) return;
  if (pending.size) show();
  else silence();
}

/** Re-draw the banner (after a change of language). */
export function refreshBanner() {
  if (pending.size) show();
}

export function silence() {
  for (const id of pending) silenced.add(id);
  pending = new Set();
  clearInterval(beepTimer);
  clearInterval(titleTimer);
  document.title = baseTitle;
  $("#banner").hidden = true;
  document.body.classList.remove("critical-pending");
}
