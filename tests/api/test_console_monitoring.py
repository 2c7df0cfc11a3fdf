"""The console's "monitoring degraded" parts (api/static/js/monitoring.js), run in Node
(the one Playwright ships, so nothing more is needed): the alarm chain's indicator for
each state of `chain`, a site's feed quality read defensively (a site without `feed`
is shown as before), a banner reason found as its alarm, and the poll of
/api/v1/monitoring never closer than 5 s, also when the live stream asks for it.

What the page shows is checked in real Chromium against a real server in
tests/api/test_browser.py."""

from __future__ import annotations

import json
import subprocess
from itertools import pairwise
from pathlib import Path
from typing import Any

import playwright
import pytest

MONITORING = Path(__file__).parents[2] / "api" / "static" / "js" / "monitoring.js"
NODE = Path(playwright.__file__).parent / "driver" / "node"

# i18n.js reads the language from localStorage when it loads; Node has none.
HARNESS = """
globalThis.localStorage = { getItem: () => null, setItem: () => {} };
const m = await import(process.argv[1]);
const out = {};

out.chain = {
  ok: m.chainView({ state: "ok", rtt_ms: 38.4, checked_ms: 1 }),
  dead: m.chainView({ state: "dead", rtt_ms: 12, checked_ms: 1 }),
  unknown: m.chainView({ state: "unknown", rtt_ms: null, checked_ms: null }),
  okWithoutRtt: m.chainView({ state: "ok", rtt_ms: null }),
  missing: m.chainView(null),
  strange: m.chainView({ state: "exploded", rtt_ms: 5 }),
};
out.words = [
  m.feedWords(m.feedOf({ feed: { online_rate_24h: 0.9, degraded: true, lost_messages_1h: 5,
    offline_gateways: ["gw-1", "gw-2"] } })),
  m.feedWords(m.feedOf({ feed: { online_rate_24h: null, degraded: false } })),
  m.feedWords(m.feedOf({ feed: { degraded: true, lost_messages_1h: "x",
    offline_gateways: "gw" } })),
];
out.rate = [0.95, 0.9995, 1, 0, 0.5, null, "0.9", 1.7].map(m.formatRate);
out.feed = {
  none: m.feedOf({ id: "a" }),
  nullFeed: m.feedOf({ id: "a", feed: null }),
  nullRate: m.feedOf({ id: "a", feed: { online_rate_24h: null, degraded: false,
    offline_gateways: [], lost_messages_1h: 0 } }),
  degraded: m.feedOf({ id: "a", feed: { online_rate_24h: 0.95, degraded: true } }),
  fine: m.feedOf({ id: "a", feed: { online_rate_24h: 1, degraded: false } }),
  noRate: m.feedOf({ id: "a", feed: { degraded: true } }),
};
const alarms = new Map([
  ["p/gw-1/feed_gap#1", { alarm_id: "p/gw-1/feed_gap#1", key: "p/gw-1/feed_gap", raised_ms: 1 }],
  ["p/gw-1/feed_gap#2", { alarm_id: "p/gw-1/feed_gap#2", key: "p/gw-1/feed_gap", raised_ms: 9 }],
  ["_system/chain/chain_dead#4", { alarm_id: "_system/chain/chain_dead#4", raised_ms: 3 }],
]);
out.alarmOf = [
  m.alarmOf({ key: "p/gw-1/feed_gap" }, alarms)?.alarm_id ?? null,
  m.alarmOf({ key: "_system/chain/chain_dead" }, alarms)?.alarm_id ?? null,
  m.alarmOf({ key: "q/gw-1/feed_gap" }, alarms)?.alarm_id ?? null,
  m.alarmOf({ alarm_id: "p/gw-1/feed_gap#1", key: "p/gw-1/feed_gap" }, alarms)?.alarm_id,
  m.alarmOf({ alarm_id: "p/gw-1/feed_gap#7", key: "p/gw-1/feed_gap" }, alarms)?.alarm_id,
];
const sites = new Map([["p", { id: "p", name: "Plant P" }]]);
out.reason = [
  m.reasonText({ site: "p", condition: "feed_gap", state: "unack",
    note: "5 messages lost (seq 10 to 14)" }, sites),
  m.reasonText({ site: "_system", condition: "chain_dead", state: "rtn_unack", note: null }, sites),
  m.reasonText({ site: "gone", condition: "new_kind" }, sites),
];
out.nextFetchAt = [
  m.nextFetchAt(null, 1000), m.nextFetchAt(1000, 2000), m.nextFetchAt(1000, 9000),
];

// watchMonitoring on a hand-turned clock: when does it call fetch()?
let now = 100_000;
let timers = [];
globalThis.Date.now = () => now;
globalThis.setTimeout = (fn, ms) => { const t = { at: now + ms, fn }; timers.push(t); return t; };
globalThis.clearTimeout = (t) => { timers = timers.filter((x) => x !== t); };
const flush = () => new Promise((resolve) => setImmediate(resolve));
async function advance(ms) {
  const end = now + ms;
  for (;;) {
    timers.sort((a, b) => a.at - b.at);
    const next = timers[0];
    if (!next || next.at > end) break;
    timers.shift();
    now = next.at;
    next.fn();
    await flush();
  }
  now = end;
}
const calls = [];
const answers = [];
let running = true;
let slowMs = 0;
const watch = m.watchMonitoring({
  fetch: async () => {
    calls.push(now);
    const n = calls.length;
    if (slowMs) await new Promise((resolve) => setTimeout(resolve, slowMs));
    return { degraded: false, n };
  },
  onData: (answer) => answers.push(answer.n),
  onError: () => {},
  running: () => running,
});
await advance(0);            // at once on sign in
await advance(12_000);       // then every 5 s
for (let i = 0; i < 20; i += 1) watch.soon(); // a burst of alarm events
await advance(1000);
await advance(10_000);
await advance(2000);         // 25 s
slowMs = 7000;               // the call at 30 s is answered at 37 s
await advance(7000);
watch.soon();                // while a call is out: nothing more
await advance(5000);         // 37 s: more than 5 s after it started, the next at once
slowMs = 0;
await advance(4000);         // 41 s
watch.stop();                // signed out (and maybe in again): this watch asks no more
await advance(30_000);       // 71 s
const again = [];
m.watchMonitoring({
  fetch: async () => { again.push(now); return { n: 0 }; },
  onData: () => {}, onError: () => {}, running: () => running,
});
await advance(5000);
running = false;             // signed out: no more
await advance(30_000);
out.calls = calls.map((t) => t - 100_000);
out.again = again.map((t) => t - 100_000);
out.answers = answers;
console.log(JSON.stringify(out));
"""


@pytest.fixture(scope="module")
def results() -> dict[str, Any]:
    done = subprocess.run(
        [str(NODE), "--input-type=module", "-e", HARNESS, MONITORING.as_uri()],
        capture_output=True, text=True, timeout=60, check=False,
    )
    assert done.returncode == 0, done.stderr
    out: dict[str, Any] = json.loads(done.stdout)
    return out


def test_the_alarm_chain_indicator_for_each_state(results: dict[str, Any]) -> None:
    chain = results["chain"]
    assert chain["ok"] == {"state": "ok", "key": "chain.label", "detail": "38 ms"}
    assert chain["dead"] == {"state": "dead", "key": "chain.dead", "detail": ""}
    unknown = {"state": "unknown", "key": "chain.label", "detail": "—"}
    for case in ("unknown", "okWithoutRtt", "missing", "strange"):
        assert chain[case] == unknown, case


def test_the_online_rate_is_never_rounded_up_to_100(results: dict[str, Any]) -> None:
    assert results["rate"] == ["95%", "99.9%", "100%", "0%", "50%", "", "", "100%"]


def test_a_site_without_feed_is_shown_as_before(results: dict[str, Any]) -> None:
    feed = results["feed"]
    assert feed["none"] is None and feed["nullFeed"] is None
    nothing: dict[str, Any] = {"lost": 0, "offline": []}
    assert feed["degraded"] == {"degraded": True, "rate": "95%", **nothing}
    assert feed["fine"] == {"degraded": False, "rate": "100%", **nothing}
    assert feed["noRate"] == {"degraded": True, "rate": "", **nothing}
    assert feed["nullRate"] == {"degraded": False, "rate": "", **nothing}


def test_a_feed_says_why_where_the_server_tells(results: dict[str, Any]) -> None:
    assert results["words"] == [
        [["rate", "在线率 90%"], ["lost", "近1小时丢失消息 5"], ["offline", "离线网关 gw-1, gw-2"]],
        [],
        [],  # fields of another shape are left out
    ]


def test_a_reason_leads_to_its_alarm_where_there_is_one(results: dict[str, Any]) -> None:
    assert results["alarmOf"] == [
        "p/gw-1/feed_gap#2", "_system/chain/chain_dead#4", None,  # by key: the newest
        "p/gw-1/feed_gap#1",  # the one the reason names
        "p/gw-1/feed_gap#2",  # one the console does not hold: by key
    ]


def test_a_reason_reads_where_what_note_and_state(results: dict[str, Any]) -> None:
    assert results["reason"] == [
        "Plant P · 数据丢失 — 丢失 5 条消息（序号 10–14） (未确认)",  # the service's note in words
        "平台自身 · 报警链路中断 (已恢复·未确认)",
        "gone · new_kind",
    ]


def test_the_poll_is_never_closer_than_5_s(results: dict[str, Any]) -> None:
    assert results["nextFetchAt"] == [1000, 6000, 9000]
    calls = results["calls"]
    assert calls == [0, 5000, 10_000, 15_000, 20_000, 25_000, 30_000, 37_000]
    assert all(b - a >= 5000 for a, b in pairwise(calls))
    assert results["answers"] == [1, 2, 3, 4, 5, 6, 7, 8]
    assert results["again"] == [71_000, 76_000]  # a new watch; the stopped one is quiet
