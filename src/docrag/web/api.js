// The HTTP API as the page uses it: one credential (an API key, or a signed-in user's tokens),
// typed errors with a message a person can act on, and the token refreshed when it expires.
const STORE = "docrag.auth";

let auth = JSON.parse(sessionStorage.getItem(STORE) || "null");

export function signedIn() { return auth !== null; }
export function credential() { return auth; }
export function setAuth(value) {
  auth = value;
  if (value) sessionStorage.setItem(STORE, JSON.stringify(value));
  else sessionStorage.removeItem(STORE);
}

export class ApiError extends Error {
  constructor(code, message, status, retryAfter) {
    super(message);
    this.code = code;
    this.status = status;
    this.retryAfter = retryAfter;
  }
}

// What to tell the person, by error code; the server's own message is added after it.
const EXPLAIN = {
  unauthenticated: "The key or sign-in was not accepted (wrong, revoked or expired).",
  invalid_credentials: "Wrong email, password or tenant.",
  invalid_mfa_code: "That code is wrong or was used already.",
  mfa_required: "Enter the code from your authenticator app.",
  forbidden: "Your role may not do this.",
  unsupported_file_type: "This kind of file is not supported.",
  file_too_large: "The file is larger than this server accepts.",
  rate_limited: "Too many requests: this server limits how often each key or user may do this.",
  account_locked: "Too many failed sign-ins.",
  overloaded: "The server is busy.",
  network_error: "The server can't be reached: it may be down, or this computer is offline. Try again once it is back.",
  unavailable: "The server is not ready.",
  page_unavailable: "No page image for this document.",
  mfa_enrollment_required: "Your tenant requires two-factor authentication: set it up under Account first.",
  mfa_already_enabled: "Two-factor authentication is already on for this account.",
};

// A wait in words: "42 seconds", "2 minutes".
function wait(seconds) {
  const s = Number(seconds);
  if (!Number.isFinite(s)) return seconds + " s";
  if (s < 90) return s + (s === 1 ? " second" : " seconds");
  return Math.ceil(s / 60) + " minutes";
}

export function describe(err) {
  if (!(err instanceof ApiError)) return String((err && err.message) || err);
  let text = EXPLAIN[err.code] ? EXPLAIN[err.code] + " " : "";
  // The browser's own words for a failed connection ("Failed to fetch") tell a person nothing more.
  if (err.code !== "network_error") text += err.message && err.message !== EXPLAIN[err.code] ? err.message : "";
  if (err.retryAfter) text += " Try again in " + wait(err.retryAfter) + ".";
  return text.trim() + " (" + err.code + ")";
}

// Every refused or failed request is also announced to the page (main.js): a server that is down
// turns the banner on at once, an admin who must enroll in MFA is taken to Account.
function announce(err) {
  window.dispatchEvent(new CustomEvent("docrag:error", { detail: err }));
  return err;
}

async function failure(res) {
  let body = null;
  try { body = await res.json(); } catch { body = null; }
  const e = body && body.error;
  return new ApiError(
    (e && e.code) || "http_" + res.status,
    (e && e.message) || res.statusText || "request failed",
    res.status,
    res.headers.get("Retry-After"),
  );
}

async function refresh() {
  const res = await fetch("/v1/auth/refresh", {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify({ refresh_token: auth.refresh }),
  });
  if (!res.ok) throw await failure(res);
  const t = await res.json();
  setAuth({ ...auth, token: t.access_token, refresh: t.refresh_token });
}

// fetch() with the credential; resolves to the Response (2xx) or throws an ApiError.
export async function raw(method, path, body, headers = {}) {
  const send = async () => {
    const h = { ...headers };
    if (auth) h.Authorization = "Bearer " + auth.token;
    const opts = { method, headers: h };
    if (body instanceof FormData) opts.body = body;
    else if (body !== undefined) { h["Content-Type"] = "application/json"; opts.body = JSON.stringify(body); }
    try { return await fetch(path, opts); }
    catch (e) { throw announce(new ApiError("network_error", String(e.message || e), 0)); }
  };
  let res = await send();
  if (res.status === 401 && auth && auth.refresh) {
    const err = await failure(res.clone());
    if (err.code === "token_expired") { await refresh(); res = await send(); }
  }
  if (!res.ok) throw announce(await failure(res));
  return res;
}

export async function api(method, path, body) {
  const res = await raw(method, path, body);
  return res.status === 204 ? null : res.json();
}

export const enc = encodeURIComponent;

// An upload with progress events (fetch has none for request bodies): XMLHttpRequest.
export function uploadWithProgress(path, form, onProgress, method = "POST") {
  return new Promise((resolve, reject) => {
    const xhr = new XMLHttpRequest();
    xhr.open(method, path);
    if (auth) xhr.setRequestHeader("Authorization", "Bearer " + auth.token);
    xhr.upload.addEventListener("progress", (e) => { if (e.lengthComputable) onProgress(e.loaded, e.total); });
    xhr.addEventListener("error", () => reject(announce(new ApiError("network_error", "the upload did not reach the server", 0))));
    xhr.addEventListener("load", () => {
      let body = null;
      try { body = JSON.parse(xhr.responseText); } catch { body = null; }
      if (xhr.status >= 200 && xhr.status < 300) { resolve(body); return; }
      const e = body && body.error;
      reject(announce(new ApiError((e && e.code) || "http_" + xhr.status, (e && e.message) || xhr.statusText,
        xhr.status, xhr.getResponseHeader("Retry-After"))));
    });
    xhr.send(form);
  });
}
