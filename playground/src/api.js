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
  const data = await call(auth, "GET", path);
  for (const key of TEXT_FIELDS) data[key] = decode(data[key]);
  return data;
}

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * Poll until the submission's status is final (id > 2). `onUpdate` sees every answer;
 * `isCurrent()` going false (a newer run started) stops the loop.
 */
export async function waitFor(auth, token, onUpdate, isCurrent) {
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
