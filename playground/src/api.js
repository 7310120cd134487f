// The engine's public API, used exactly as any Judge0 client would: JSON over fetch, every text
// field base64-encoded both ways so that any byte survives, the auth headers on every call.

const STORE = "judge-playground-auth";

export function loadAuth() {
  try {
    return JSON.parse(localStorage.getItem(STORE)) || {};
  } catch {
    return {};
  }
}

export function saveAuth(auth) {
  localStorage.setItem(STORE, JSON.stringify(auth));
}

function headers(auth, extra = {}) {
  const h = { Accept: "application/json", ...extra };
  if (auth.token) h["X-Auth-Token"] = auth.token;
  if (auth.user) h["X-Auth-User"] = auth.user;
  return h;
}

/** An error a person can act on: the HTTP status and what the engine said. */
export class ApiError extends Error {
  constructor(status, body) {
    super(describe(status, body));
    this.status = status;
  }
}

function describe(status, body) {
  if (status === 401) return "401 Unauthorized: enter a valid X-Auth-Token under Authentication.";
  if (status === 403) return "403 Forbidden: this client is not allowed (IP filter or X-Auth-User).";
  if (body && typeof body === "object") {
    const parts = Object.entries(body).map(([key, value]) =>
      key === "error" ? String(value) : `${key}: ${[].concat(value).join(", ")}`);
    if (parts.length) return `${status}: ${parts.join("; ")}`;
  }
  return `HTTP ${status}`;
}

async function call(auth, method, path, body) {
  const init = { method, headers: headers(auth), cache: "no-store" };
  if (body !== undefined) {
    init.headers = headers(auth, { "Content-Type": "application/json" });
    init.body = JSON.stringify(body);
  }
  const resp = await fetch(path, init);
  const text = await resp.text();
  let data = null;
  try {
    data = text ? JSON.parse(text) : null;
  } catch {
    data = { error: text.slice(0, 200) };
  }
  if (!resp.ok) throw new ApiError(resp.status, data);
  return data;
}

export const getLanguages = (auth) => call(auth, "GET", "/languages");
export const getConfig = (auth) => call(auth, "GET", "/config_info");
export const getProblems = (auth) => call(auth, "GET", "/problems?per_page=100");

export function encode(text) {
  let binary = "";
  for (const byte of new TextEncoder().encode(text)) binary += String.fromCharCode(byte);
  return btoa(binary);
}

/** Judge0's base64 (60-column lines) to text; bytes that are not UTF-8 become U+FFFD. */
export function decode(b64) {
  if (b64 == null) return null;
  const binary = atob(b64.replace(/\s/g, ""));
  const bytes = Uint8Array.from(binary, (c) => c.charCodeAt(0));
  return new TextDecoder("utf-8").decode(bytes);
}

const TEXT_FIELDS = ["source_code", "stdin", "expected_output", "stdout", "stderr",
                     "compile_output", "message"];

export async function submit(auth, submission) {
  const body = { ...submission };
  for (const key of ["source_code", "stdin", "expected_output"]) {
    if (body[key] != null) body[key] = encode(body[key]);
  }
  const created = await call(auth, "POST", "/submissions?base64_encoded=true&wait=false", body);
  return created.token;
}

export async function fetchSubmission(auth, token) {
  const path = `/submissions/${encodeURIComponent(token)}?base64_encoded=true&fields=*`;
  return decoded(await call(auth, "GET", path));
}

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

function decoded(data) {
  for (const key of TEXT_FIELDS) if (key in data) data[key] = decode(data[key]);
  return data;
}

/**
 * The submission's live events (GET /submissions/:token/events, Server-Sent Events) read
 * through fetch, which can send the auth headers an EventSource cannot. `onUpdate` sees the
 * status as it changes, then the whole submission; `onCase` each test case of a problem as
 * it is judged; returns the submission once final. Reconnects after the last event id it
 * saw if the stream breaks; polls if events cannot be had at all.
 */
export async function waitFor(auth, token, onUpdate, isCurrent, onCase = () => {}) {
  let lastId = null;
  for (let attempt = 0; attempt < 5; attempt++) {
    const path = `/submissions/${encodeURIComponent(token)}/events?base64_encoded=true&fields=*`;
    const extra = lastId ? { "Last-Event-ID": lastId } : {};
    let resp;
    try {
      resp = await fetch(path, { headers: headers(auth, { ...extra, Accept: "text/event-stream" }),
                                 cache: "no-store" });
    } catch {
      await sleep(500);
      continue;
    }
    if (resp.status === 204) break; // the final event was seen: read the submission
    if (!resp.ok || !resp.body) {
      if (resp.status === 401 || resp.status === 403) throw new ApiError(resp.status, null);
      return poll(auth, token, onUpdate, isCurrent);
    }
    const reader = resp.body.pipeThrough(new TextDecoderStream()).getReader();
    let buffer = "";
    for (;;) {
      const { value, done } = await reader.read();
      if (!isCurrent()) {
        reader.cancel();
        return null;
      }
      if (done) break;
      buffer += value;
      let end;
      while ((end = buffer.indexOf("\n\n")) >= 0) {
        const event = parseEvent(buffer.slice(0, end));
        buffer = buffer.slice(end + 2);
        if (!event.data) continue; // a keep-alive comment
        if (event.id) lastId = event.id;
        const data = JSON.parse(event.data);
        if (event.event === "final") {
          if (data.error) return poll(auth, token, onUpdate, isCurrent);
          onUpdate(decoded(data));
          return data;
        }
        if (event.event === "test_case") onCase(data);
        else if (data.status) onUpdate({ token, status: data.status });
      }
    }
  }
  return poll(auth, token, onUpdate, isCurrent);
}

function parseEvent(block) {
  const event = {};
  for (const line of block.split("\n")) {
    const colon = line.indexOf(":");
    if (colon <= 0) continue; // a comment, or nothing
    const value = line.slice(colon + 1).replace(/^ /, "");
    const name = line.slice(0, colon);
    event[name] = name === "data" && event.data ? `${event.data}\n${value}` : value;
  }
  return event;
}

/** Polling, for a server without live events: until the status is final (id > 2). */
async function poll(auth, token, onUpdate, isCurrent) {
  let delay = 100;
  for (;;) {
    const data = await fetchSubmission(auth, token);
    if (!isCurrent()) return null;
    onUpdate(data);
    if (data.status && data.status.id > 2) return data;
    await sleep(delay);
    delay = Math.min(delay * 1.5, 1000);
  }
}
