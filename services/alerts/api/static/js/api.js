// The alerts API as the page uses it: JSON reads with the dashboard token, and the SSE stream
// read with fetch() — EventSource cannot send an Authorization header.

export class Unauthorized extends Error {}

export class ApiError extends Error {
  constructor(status, body) {
    super(body?.detail || `HTTP ${status}`);
    this.status = status;
    this.error = body?.error;
  }
}

const sleep = (ms, signal) => new Promise((resolve) => {
  const timer = setTimeout(resolve, ms);
  signal?.addEventListener("abort", () => { clearTimeout(timer); resolve(); }, { once: true });
});

export class Api {
  constructor(token) {
    this.token = token;
  }

  headers(extra = {}) {
    return { Authorization: `Bearer ${this.token}`, ...extra };
  }

  /** GET a JSON resource; a 503 (store busy, alerts being rewritten) is retried a few times. */
  async get(path, params = undefined) {
    const url = params ? `${path}?${new URLSearchParams(params)}` : path;
    for (let attempt = 1; ; attempt += 1) {
      const response = await fetch(url, {
        headers: this.headers({ Accept: "application/json" }), cache: "no-store",
      });
      if (response.status === 401) {
        throw new Unauthorized((await response.json().catch(() => ({}))).detail || "refused");
      }
      // A 403 is this read refused (a venue-day the case does not touch), not a bad token.
      if (response.ok) return response.json();
      const body = await response.json().catch(() => ({}));
      if (response.status === 503 && attempt < 4) {
        const wait = Number(response.headers.get("Retry-After")) || 1;
        await sleep(Math.min(wait, 5) * 1000);
        continue;
      }
      throw new ApiError(response.status, body);
    }
  }
}

/**
 * Splits a text stream into Server-Sent Events (the WHATWG parsing rules, minus a few
 * legacy corners the server never produces) and calls `onEvent({type, data, id})`.
 */
export class SseParser {
  constructor(onEvent) {
    this.onEvent = onEvent;
    this.buffer = "";
    this.reset();
    this.lastEventId = null;
    this.retryMs = null;
  }

  reset() {
    this.type = "";
    this.data = [];
    this.pendingId = null;
  }

  push(text) {
    this.buffer += text;
    let newline;
    while ((newline = this.buffer.indexOf("\n")) >= 0) {
      let line = this.buffer.slice(0, newline);
      this.buffer = this.buffer.slice(newline + 1);
      if (line.endsWith("\r")) line = line.slice(0, -1);
      this.line(line);
    }
  }

  line(line) {
    if (line === "") {
      // The id counts once its event is complete: a connection lost half-way through an
      // event resumes before it, not after it.
      if (this.pendingId !== null) this.lastEventId = this.pendingId;
      if (this.data.length) {
        this.onEvent({ type: this.type || "message", data: this.data.join("\n"),
                       id: this.lastEventId });
      }
      this.reset();
      return;
    }
    if (line.startsWith(":")) return; // a comment: the server's heartbeat
    const colon = line.indexOf(":");
    const field = colon < 0 ? line : line.slice(0, colon);
    let value = colon < 0 ? "" : line.slice(colon + 1);
    if (value.startsWith(" ")) value = value.slice(1);
    if (field === "event") this.type = value;
    else if (field === "data") this.data.push(value);
    else if (field === "id" && !value.includes("\0")) this.pendingId = value;
    else if (field === "retry" && /^\d+$/.test(value)) this.retryMs = Number(value);
  }
}

/**
 * The live alert stream, reconnecting with Last-Event-ID so nothing is skipped or repeated.
 * Calls onEvent(event), onStatus("connecting" | "live" | "reconnecting" | "stopped", detail)
 * and onUnauthorized() (then stops).
 */
export class AlertStream {
  constructor(api, { onEvent, onStatus, onUnauthorized }) {
    this.api = api;
    this.onEvent = onEvent;
    this.onStatus = onStatus;
    this.onUnauthorized = onUnauthorized;
    this.lastEventId = null;
    this.retryMs = 3000;
    this.stopped = false;
    // The server sends a heartbeat every 15 s: this long without a byte means a dead link.
    this.silenceMs = 45000;
  }

  start() {
    this.stopped = false;
    this.stopping = new AbortController();
    this.run();
  }

  stop() {
    this.stopped = true;
    this.stopping?.abort();
    this.connection?.abort();
    this.onStatus("stopped");
  }

  async run() {
    let failures = 0;
    while (!this.stopped) {
      this.connection = new AbortController();
      this.onStatus(failures ? "reconnecting" : "connecting");
      try {
        const headers = this.api.headers({ Accept: "text/event-stream" });
        if (this.lastEventId) headers["Last-Event-ID"] = this.lastEventId;
        const response = await fetch("/v1/alerts/stream", {
          headers, cache: "no-store", signal: this.connection.signal,
        });
        if (response.status === 401 || response.status === 403) {
          this.stopped = true;
          this.onUnauthorized();
          return;
        }
        if (response.status === 422) {
          // A resume position the server no longer accepts: start again from now.
          this.lastEventId = null;
          throw new Error("resume position refused");
        }
        if (!response.ok || !response.body) throw new Error(`HTTP ${response.status}`);
        failures = 0;
        await this.read(response.body);
        if (!this.stopped) throw new Error("the stream ended");
      } catch (error) {
        if (this.stopped) return;
        failures += 1;
        this.onStatus("reconnecting", error.message);
      }
      // Back off a little more after each failure in a row, up to 30 s, with jitter.
      const wait = Math.min(30000, this.retryMs * Math.min(failures, 10));
      await sleep(wait * (0.8 + Math.random() * 0.4), this.stopping.signal);
    }
  }

  async read(body) {
    const parser = new SseParser((event) => {
      this.lastEventId = event.id;
      if (event.type === "ready") this.onStatus("live");
      this.onEvent(event);
    });
    parser.lastEventId = this.lastEventId;
    const reader = body.pipeThrough(new TextDecoderStream()).getReader();
    let watchdog;
    const arm = () => {
      clearTimeout(watchdog);
      watchdog = setTimeout(() => this.connection.abort(), this.silenceMs);
    };
    arm();
    try {
      for (;;) {
        const { value, done } = await reader.read();
        if (done) return;
        arm();
        parser.push(value);
        if (parser.retryMs !== null) this.retryMs = parser.retryMs;
      }
    } finally {
      clearTimeout(watchdog);
    }
  }
}
