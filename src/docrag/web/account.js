// Account: a signed-in user's own page (not an API key's): who they are, a new password, and
// two-factor authentication set up with an authenticator app (QR code, key, recovery codes once).
import { ApiError, api, credential, describe } from "./api.js";
import { $, el, setMsg } from "./dom.js";

let qrUrl = null;

function dropQr() {
  if (qrUrl) { URL.revokeObjectURL(qrUrl); qrUrl = null; }
  $("mfa-qr").removeAttribute("src");
}

function showState(me) {
  $("me").textContent = me.email + " · " + me.role;
  $("mfa-state").textContent = me.mfa_enabled
    ? "On: signing in asks for the code your authenticator app shows, or a recovery code."
    : "Off: a password alone signs you in.";
  $("mfa-state").className = "status " + (me.mfa_enabled ? "ok" : "degraded");
  $("mfa-start").hidden = me.mfa_enabled;
}

export async function loadAccount() {
  if (credential().kind !== "user") return;
  try { showState(await api("GET", "/v1/users/me")); }
  catch (e) { setMsg($("mfa-msg"), describe(e), "error"); }
}

// Leaving the view forgets a pending enrollment's secret and codes (they were shown once).
export function leaveAccount() {
  dropQr();
  $("mfa-setup").hidden = true;
  $("mfa-codes").replaceChildren();
  $("mfa-secret").textContent = "";
}

async function changePassword(ev) {
  ev.preventDefault();
  const msg = $("pw-msg");
  if ($("pw-new").value !== $("pw-again").value) { setMsg(msg, "The two new passwords differ.", "error"); $("pw-again").focus(); return; }
  setMsg(msg, "Changing the password…");
  try {
    const out = await api("POST", "/v1/users/me/password", { current_password: $("pw-current").value, new_password: $("pw-new").value });
    for (const id of ["pw-current", "pw-new", "pw-again"]) $(id).value = "";
    const others = out.revoked_sessions;
    setMsg(msg, "Password changed." + (others ? " Your " + others + " other session" + (others === 1 ? " was" : "s were") + " signed out." : ""), "success");
  } catch (e) {
    const wrong = e instanceof ApiError && e.code === "invalid_credentials";
    setMsg(msg, wrong ? "The current password is wrong. (invalid_credentials)" : describe(e), "error");
  }
}

async function startMfa() {
  const msg = $("mfa-msg");
  setMsg(msg, "");
  try {
    const e = await api("POST", "/v1/auth/mfa/enroll");
    dropQr();
    // The SVG is shown as an image (a blob: URL): never parsed into the page, no script runs.
    qrUrl = URL.createObjectURL(new Blob([e.qr_svg], { type: "image/svg+xml" }));
    $("mfa-qr").src = qrUrl;
    $("mfa-secret").textContent = e.secret.replace(/(.{4})/g, "$1 ").trim();
    $("mfa-uri").href = e.otpauth_uri;
    $("mfa-codes").replaceChildren(...e.recovery_codes.map((c) => el("li", null, [el("code", { text: c })])));
    $("mfa-scan").hidden = false;
    $("mfa-verify-form").hidden = false;
    $("mfa-setup").hidden = false;
    $("mfa-start").hidden = true;
    $("mfa-code").focus();
  } catch (e) { setMsg(msg, describe(e), "error"); }
}

async function verifyMfa(ev) {
  ev.preventDefault();
  const msg = $("mfa-msg");
  try {
    const me = await api("POST", "/v1/auth/mfa/verify", { code: $("mfa-code").value.trim() });
    $("mfa-code").value = "";
    dropQr();
    $("mfa-scan").hidden = true;
    $("mfa-verify-form").hidden = true;
    showState(me);
    setMsg(msg, "Two-factor authentication is on. Keep the recovery codes above somewhere safe: they are not shown again.", "success");
  } catch (e) {
    setMsg(msg, describe(e), "error");
    $("mfa-code").select();
  }
}

export function initAccount() {
  $("pw-form").addEventListener("submit", changePassword);
  $("mfa-start").addEventListener("click", startMfa);
  $("mfa-verify-form").addEventListener("submit", verifyMfa);
}
