// What the platform writes in an alarm's note (the alarm service's own English, the
// shelving reason codes the console sends), said in the console's language and with
// times in its local time. A note a person wrote is shown as written.

import { fill, formatTime, t } from "./i18n.js";

export const REASONS = ["maintenance", "nuisance", "known", "operation", "other"];

/** A shelving reason as the console stores it (a code; "other: why" for another) in
 * words; a reason written elsewhere stays as it is. */
export function reasonWords(reason) {
  const text = String(reason ?? "").trim();
  if (REASONS.includes(text)) return t(`reason.${text}`);
  const other = /^other:\s*(.*)$/s.exec(text);
  return other ? `${t("reason.other")}: ${other[1]}` : text;
}

/** The code the console sends for a reason picked (and the words for "other"). */
export function reasonCode(code, words = "") {
  return code === "other" ? `other: ${words.trim()}` : code;
}

const iso = (text) => {
  const ms = Date.parse(text);
  return Number.isNaN(ms) ? text : formatTime(ms);
};

function sent(detail) {
  let m = /^log: written$/.exec(detail);
  if (m) return t("note.sent.log");
  m = /^mqtt \S+: published$/.exec(detail);
  if (m) return t("note.sent.mqtt");
  m = /^webhook \S+: (HTTP \d+)$/.exec(detail);
  if (m) return fill("note.sent.webhook", m[1]);
  m = /^memory: received$/.exec(detail);
  if (m) return t("note.sent.memory");
  return detail;
}

function where(text) { // "seq 10 to 14; seq 20 to 21 of boot 3"
  return text.split("; ").map((part) => {
    const m = /^seq (\d+) to (\d+)(?: of boot (\d+))?$/.exec(part);
    if (!m) return part;
    const seq = fill("note.seq", m[1], m[2]);
    return m[3] ? `${seq} ${fill("note.boot", m[3])}` : seq;
  }).join(t("note.sep"));
}

const FIXED = {
  "telemetry again": "note.telemetry_again",
  "readings again": "note.readings_again",
  "gateway online": "note.gateway_online",
  "on-delay elapsed without a contradicting reading": "note.on_delay",
  "maintenance ended": "note.maintenance_ended",
  "maintenance (calibration, test)": "note.maintenance",
  "shelving expired": "note.shelving_expired",
  "bypassed without a valid permit": "note.no_permit",
  "threshold crossed in replayed (historical) data": "note.historical",
};

// A vote `2oo3` in the console's language (三取二 is said 3取2).
export function voteWords(vote) {
  const m = /^(\d+)oo(\d+)$/.exec(String(vote ?? ""));
  return m ? fill("ce.vote", m[1], m[2]) : String(vote ?? "");
}

/** The cause readings of a C&E note, `GT-101 44.94, GT-102 19.34 %LEL; high_high 1oo4`
 * (several rows' joined by "; "): the condition and the vote in words, a sensor not
 * read yet ("GT-102 None") said so. */
function readings(text) {
  return text.split("; ").map((part) => {
    const m = /^([a-z_]+) (\d+oo\d+)$/.exec(part);
    if (m) return `${t(`condition.${m[1]}`, m[1])} ${voteWords(m[2])}`;
    return part.replace(/(\S+) None\b/g, (_, id) => `${id} ${t("note.ce.no_reading")}`);
  }).join(t("note.sep"));
}

// The cause-and-effect records' notes (alarms/core/cause_effect.py), each starting
// with its row of the matrix; times in seconds ("12.0 s"), stamps in UTC.
const S = "([\\d.]+) s";
const CAUSE_EFFECT = [
  [new RegExp(`^(\\S+): (.+); (\\S+) to trip within ${S}$`, "s"),
    (m) => fill("note.ce.demand", m[1], readings(m[2]), m[3], m[4])],
  [new RegExp(`^(\\S+): (\\S+) tripped ${S} after the demand \\(within ${S}\\)(; its reading arrived after the deadline was judged)?$`),
    (m) => fill("note.ce.response", m[1], m[2], m[3], m[4]) + (m[5] ? t("note.ce.after_deadline") : "")],
  [new RegExp(`^(\\S+): (\\S+) had tripped ${S} before the demand was confirmed \\(within ${S}\\)$`),
    (m) => fill("note.ce.before", m[1], m[2], m[3], m[4])],
  [new RegExp(`^(\\S+): (\\S+) tripped ${S} after the demand, late by ${S} \\(within ${S}; (.+)\\)$`, "s"),
    (m) => fill("note.ce.late", m[1], m[2], m[3], m[4], m[5], readings(m[6]))],
  [new RegExp(`^(\\S+): (\\S+) not tripped within ${S} of the demand at (\\S+) \\((.+)\\)$`, "s"),
    (m) => fill("note.ce.failed", m[1], m[2], m[3], iso(m[4]), readings(m[5]))],
  [/^(\S+): the cause is gone and (\S+) never tripped on the demand at (\S+) \((.+)\)$/s,
    (m) => fill("note.ce.missing", m[1], m[2], iso(m[3]), readings(m[4]))],
  [/^(\S+) tripped without a demand of (.+?) \((.+)\)$/s,
    (m) => fill("note.ce.spurious", m[1], m[2], readings(m[3]))],
];

const PATTERNS = [
  ...CAUSE_EFFECT,
  [/^gateway offline \(boot (\d+)\)$/, (m) => fill("note.gateway_offline", m[1])],
  [/^no telemetry for (\d+) s$/, (m) => fill("note.no_telemetry", m[1])],
  [/^no reading for (\d+) s$/, (m) => fill("note.no_reading", m[1])],
  [/^(\d+) messages? lost \((.*)\)$/, (m) => fill("note.lost", m[1], where(m[2]))],
  [/^maintenance over ([\d.]+) min$/, (m) => fill("note.maintenance_over", m[1])],
  [/^(.+) \(tier (\d+)\): (.+)$/s, (m) => fill("note.notified", m[1], m[2], sent(m[3]))],
  [/^(.*) \(for ([\d.]+) min, until (\S+)\)$/s,
    (m) => fill("note.shelved", reasonWords(m[1]), m[2], iso(m[3]))],
  [/^until (\S+); reason: (.*)$/s, (m) => fill("note.until_reason", iso(m[1]), reasonWords(m[2]))],
];

/** A note in the console's language: the platform's own sentences translated, a
 * shelving's reason code in words, times local; anything else as written. */
export function noteWords(note) {
  if (note == null) return "";
  const text = String(note);
  if (FIXED[text]) return t(FIXED[text]);
  for (const [pattern, say] of PATTERNS) {
    const m = pattern.exec(text);
    if (m) return say(m);
  }
  return reasonWords(text);
}
