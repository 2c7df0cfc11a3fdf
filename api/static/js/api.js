// Talking to the hazmon API: the token (kept in sessionStorage), JSON calls, and the
// live event stream read with fetch() (EventSource cannot send an Authorization
// header), reconnecting with backoff and treating 45 s of silence as a dead link.

const TOKEN_KEY = "hazmon.token";
const SILENCE_MS = 45_000;

export class Unauthorized extends Error {}

export class ApiError extends Error {
  constructor(status, body) {
    super(body?.detail || `HTTP ${status}`);
    this.status = status;
    this.code = body?.error;
  }
}

export const token = {
  get: () => sessionStorage.getItem(TOKEN_KEY),
  set: (value) => sessionStorage.setItem(TOKEN_KEY, value),
  clear: () => sessionStorage.removeItem(TOKEN_KEY),
};

function headers(extra = {}) {
  return { Authorization: `Bearer ${token.get() || ""}`, ...extra };
}

export async function call(path, { method = "GET", body } = {}) {
  const response = await fetch(path, {
    method,
    headers: headers(body ? { "Content-Type": "application/json" } : {}),
    body: body ? JSON.stringify(body) : undefined,
    cache: "no-store",
  });
  if (response.status === 401) throw new Unauthorized();
  const data = await response.json().catch(() => null);
  if (!response.ok) throw new ApiError(response.status, data);
  return data;
}

export function alarmPath(alarmId, action) {
  return `/api/v1/alarms/${encodeURIComponent(alarmId)}/${action}`;
}

export async function download(path, filename) {
  const response = await fetch(path, { headers: headers(), cache: "no-store" });
  if (response.status === 401) throw new Unauthorized();
  if (!response.ok) throw new ApiError(response.status, await response.json().catch(() => null));
  const url = URL.createObjectURL(await response.blob());
  const link = Object.assign(document.createElement("a"), { href: url, download: filename });
  document.body.append(link);
  link.click();
  link.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10_000);
}

/** Parse SSE blocks out of a text buffer; returns [events, rest]. */
function parseBlocks(buffer) {
  const events = [];
  const blocks = buffer.split("\n\n");
  const rest = blocks.pop();
  for (const block of blocks) {
    let type = "message";
    const data = [];
    for (const line of block.split("\n")) {
      if (line.startsWith("event:")) type = line.slice(6).trim();
      else if (line.startsWith("data:")) data.push(line.slice(5).trim());
    }
    if (data.length) events.push({ type, data: JSON.parse(data.join("\n")) });
  }
  return [events, rest];
}

/**
 * Keep a stream open for as long as `running()` says so. `onStatus` gets "connecting",
 * "live" or "lost"; `onEvent` gets {type, data}; `onUnauthorized` ends it.
 */
export async function followStream({ onEvent, onStatus, onUnauthorized, running }) {
  let delay = 1000;
  while (running()) {
    onStatus("connecting");
    const controller = new AbortController();
    let watchdog = setTimeout(() => controller.abort(), SILENCE_MS);
    try {
      const response = await fetch("/api/v1/stream", {
        headers: headers({ Accept: "text/event-stream" }),
        signal: controller.signal,
        cache: "no-store",
      });
      if (response.status === 401) {
        onUnauthorized();
        return;
      }
      if (!response.ok || !response.body) throw new Error(`HTTP ${response.status}`);
      const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
      let buffer = "";
      while (running()) {
        const { value, done } = await reader.read();
        if (done) break;
        clearTimeout(watchdog);
        watchdog = setTimeout(() => controller.abort(), SILENCE_MS);
        const [events, rest] = parseBlocks(buffer + value.replaceAll("\r\n", "\n"));
        buffer = rest;
        for (const event of events) {
          if (event.type === "ready") {
            delay = 1000;
            onStatus("live");
          }
          onEvent(event);
        }
      }
      controller.abort();
    } catch (error) {
      console.warn("event stream:", error);
    } finally {
      clearTimeout(watchdog);
    }
    if (!running()) return;
    onStatus("lost");
    await new Promise((resolve) => setTimeout(resolve, delay * (0.75 + Math.random() / 2)));
    delay = Math.min(delay * 2, 15_000);
  }
}
