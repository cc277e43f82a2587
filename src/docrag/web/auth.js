// Sign-in: an API key, or email and password (with the authenticator code when the user has MFA).
import { api, ApiError, describe, raw, setAuth } from "./api.js";
import { $, setMsg } from "./dom.js";

async function isAdmin() {
  try { await raw("GET", "/v1/keys"); return true; }
  catch (e) { if (e instanceof ApiError && e.status === 403) return false; throw e; }
}

export function initLogin(onReady) {
  $("key-form").addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const key = $("apikey").value.trim();
    setMsg($("login-msg"), "Checking the key…");
    setAuth({ kind: "key", token: key });
    try {
      await api("GET", "/v1/collections");
      const admin = await isAdmin();
      setAuth({ kind: "key", token: key, admin });
      $("apikey").value = "";
      setMsg($("login-msg"), "");
      onReady();
    } catch (e) {
      setAuth(null);
      setMsg($("login-msg"), describe(e), "error");
    }
  });
  $("user-form").addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const body = { email: $("email").value.trim(), password: $("password").value, tenant: $("tenant").value.trim() || "default" };
    const totp = $("totp").value.trim();
    if (totp) body.totp = totp;
    setMsg($("login-msg"), "Signing in…");
    try {
      const t = await api("POST", "/v1/auth/login", body);
      setAuth({ kind: "user", token: t.access_token, refresh: t.refresh_token });
      const me = await api("GET", "/v1/users/me");
      setAuth({ kind: "user", token: t.access_token, refresh: t.refresh_token, admin: me.role === "admin", email: me.email });
      $("password").value = ""; $("totp").value = ""; $("totp-row").hidden = true;
      setMsg($("login-msg"), "");
      onReady();
    } catch (e) {
      setAuth(null);
      if (e instanceof ApiError && e.code === "mfa_required") {
        $("totp-row").hidden = false;
        $("totp").focus();
      }
      setMsg($("login-msg"), describe(e), "error");
    }
  });
}

export async function logout() {
  try { await raw("POST", "/v1/auth/logout"); } catch { /* a key has no session; an ended one is fine */ }
  setAuth(null);
}
