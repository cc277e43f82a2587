// The DocRAG page (docs/web.md): ES modules served from /assets, no inline script, no other origin.
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

const VIEWS = ["library", "chat", "admin"];

function show(view) {
  for (const v of VIEWS) {
    $(v + "-view").hidden = v !== view;
    document.querySelector('#tabs [data-view="' + v + '"]').setAttribute("aria-pressed", String(v === view));
  }
  if (view === "chat") loadConversations();
  if (view === "admin") loadAdmin();
}

function ready() {
  $("login-view").hidden = true;
  $("tabs").hidden = false;
  $("logout").hidden = false;
  $("admin-tab").hidden = !credential().admin;
  show("library");
  loadCollections();
}

function signedOut() {
  closeSource();
  for (const v of VIEWS) $(v + "-view").hidden = true;
  $("tabs").hidden = true;
  $("logout").hidden = true;
  $("login-view").hidden = false;
}

async function checkHealth() {
  const h = $("health");
  try {
    const res = await fetch("/health/ready");
    h.textContent = res.ok ? "server ready" : "server not ready";
    h.className = res.ok ? "ok" : "bad";
    notice(res.ok ? "" : "The server is up but not ready (database or model): requests may fail.");
  } catch {
    h.textContent = "server down";
    h.className = "bad";
    notice("The server can't be reached: it may be down. The page retries every 15 seconds.");
  }
}

initTheme();
initLogin(ready);
initCollections();
initUpload(() => { loadDocs(); });
initLibrary();
initChat();
initSource();
initAdmin();
onCollectionChange(loadDocs);
for (const b of document.querySelectorAll("#tabs [data-view]")) b.addEventListener("click", () => show(b.dataset.view));
$("logout").addEventListener("click", async () => { await logout(); signedOut(); });
checkHealth();
setInterval(checkHealth, 15000);
if (signedIn()) ready(); else signedOut();
