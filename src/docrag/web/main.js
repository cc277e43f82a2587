// The DocRAG page (docs/web.md): ES modules served from /assets, no inline script, no other origin.
import { initAccount, leaveAccount, loadAccount } from "./account.js";
import { credential, signedIn } from "./api.js";
import { initAdmin, loadAdmin } from "./admin.js";
import { initLogin, logout } from "./auth.js";
import { initChat, loadConversations } from "./chat.js";
import { closeSource, initSource } from "./citations.js";
import { initCollections, loadCollections, onCollectionChange } from "./collections.js";
import { $, notice } from "./dom.js";
import { initLibrary, loadDocs } from "./library.js";
import { initTheme } from "./theme.js";
import { initUpload } from "./upload.js";

const VIEWS = ["library", "chat", "admin", "account"];

function show(view) {
  if (view !== "account") leaveAccount();
  for (const v of VIEWS) {
    $(v + "-view").hidden = v !== view;
    document.querySelector('#tabs [data-view="' + v + '"]').setAttribute("aria-pressed", String(v === view));
  }
  if (view === "chat") loadConversations();
  if (view === "admin") loadAdmin();
  if (view === "account") loadAccount();
}

function ready() {
  $("login-view").hidden = true;
  $("tabs").hidden = false;
  $("logout").hidden = false;
  $("admin-tab").hidden = !credential().admin;
  $("account-tab").hidden = credential().kind !== "user";
  show("library");
  loadCollections();
}

function signedOut() {
  closeSource();
  leaveAccount();
  for (const v of VIEWS) $(v + "-view").hidden = true;
  $("tabs").hidden = true;
  $("logout").hidden = true;
  $("login-view").hidden = false;
}

let healthTimer = null;
let checking = false;

// The server's readiness, every 15 s (every 5 s while it can't be reached).
async function checkHealth() {
  if (checking) return;
  checking = true;
  clearTimeout(healthTimer);
  const h = $("health");
  let down = false;
  try {
    const res = await fetch("/health/ready");
    h.textContent = res.ok ? "server ready" : "server not ready";
    h.className = res.ok ? "ok" : "bad";
    notice(res.ok ? "" : "The server is up but not ready (database or model): requests may fail.");
  } catch {
    down = true;
    h.textContent = "server down";
    h.className = "bad";
    notice("The server can't be reached: it may be down, or this computer is offline. The page checks again every 5 seconds; what you typed stays here.");
  }
  checking = false;
  healthTimer = setTimeout(checkHealth, down ? 5000 : 15000);
}

// A request that failed for want of a connection checks the server now rather than at the next
// tick; an admin who must enroll in MFA first is taken where that is done.
window.addEventListener("docrag:error", (ev) => {
  const err = ev.detail;
  if (err.code === "network_error") checkHealth();
  else if (err.code === "mfa_enrollment_required" && signedIn() && credential().kind === "user") show("account");
});

initTheme();
initLogin(ready);
initCollections();
initUpload(() => { loadDocs(); });
initLibrary();
initChat();
initSource();
initAdmin();
initAccount();
onCollectionChange(loadDocs);
for (const b of document.querySelectorAll("#tabs [data-view]")) b.addEventListener("click", () => show(b.dataset.view));
$("logout").addEventListener("click", async () => { await logout(); signedOut(); });
checkHealth();
if (signedIn()) ready(); else signedOut();
