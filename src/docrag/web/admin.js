// The admin area: health, users, API keys and the audit log.
import { api, credential, describe, enc } from "./api.js";
import { $, el, setMsg, when } from "./dom.js";

let auditBefore = null;
const fail = (e) => setMsg($("admin-msg"), describe(e), "error");

async function health() {
  const res = await fetch("/health/components", credential().kind === "key" ? { headers: { Authorization: "Bearer " + credential().token } } : {});
  const h = await res.json();
  const rows = [["overall", h.status + " (score " + h.score + ")"]];
  for (const [name, c] of Object.entries(h.components || {})) rows.push([name, c.status + (c.latency_ms != null ? ", " + c.latency_ms + " ms" : "")]);
  $("health-detail").replaceChildren(...rows.flatMap(([k, v]) => [el("dt", { text: k }), el("dd", { class: "status " + v.split(/[ ,]/)[0], text: v })]));
}

async function users() {
  const list = await api("GET", "/v1/users");
  $("users").replaceChildren(...list.map((u) => el("li", { class: "item" }, [
    el("span", { text: u.email + " · " + u.role + (u.mfa_enabled ? " · MFA" : "") + (u.disabled ? " · disabled" : "") }),
    el("span", { class: "actions" }, [
      el("button", { type: "button", class: "secondary", text: u.disabled ? "Enable" : "Disable", "aria-label": (u.disabled ? "Enable " : "Disable ") + u.email,
        onclick: () => api("PATCH", "/v1/users/" + enc(u.id), { disabled: !u.disabled }).then(users, fail) }),
      el("button", { type: "button", class: "danger", text: "Delete", "aria-label": "Delete " + u.email,
        onclick: () => confirm("Delete " + u.email + "?") && api("DELETE", "/v1/users/" + enc(u.id)).then(users, fail) }),
    ]),
  ])));
}

async function keys() {
  const list = await api("GET", "/v1/keys");
  $("keys").replaceChildren(...list.filter((k) => !k.revoked_at).map((k) => el("li", { class: "item" }, [
    el("span", { text: k.name + " · " + k.role + (k.collections ? " · " + k.collections.join(", ") : "") + (k.last_used_at ? " · used " + when(k.last_used_at) : "") }),
    el("button", { type: "button", class: "danger", text: "Revoke", "aria-label": "Revoke key " + k.name,
      onclick: () => confirm("Revoke the key “" + k.name + "”?") && api("DELETE", "/v1/keys/" + enc(k.id)).then(keys, fail) }),
  ])));
}

async function audit(more) {
  const page = await api("GET", "/v1/audit?limit=50" + (more && auditBefore ? "&before=" + auditBefore : ""));
  const rows = page.events.map((e) => el("tr", null, [
    el("td", { text: when(e.at) }), el("td", { text: e.actor }), el("td", { text: e.action }), el("td", { text: e.target || "" }),
  ]));
  const body = $("audit").tBodies[0];
  if (more) body.append(...rows); else body.replaceChildren(...rows);
  auditBefore = page.next_before;
  $("audit-more").hidden = !auditBefore;
}

export async function loadAdmin() {
  setMsg($("admin-msg"), "");
  await Promise.all([health(), users(), keys(), audit(false)].map((p) => p.catch(fail)));
}

export function initAdmin() {
  $("audit-more").addEventListener("click", () => audit(true).catch(fail));
  $("user-new").addEventListener("submit", async (ev) => {
    ev.preventDefault();
    try {
      await api("POST", "/v1/users", { email: $("nu-email").value.trim(), password: $("nu-password").value, role: $("nu-role").value });
      $("nu-email").value = ""; $("nu-password").value = "";
      await users();
    } catch (e) { fail(e); }
  });
  $("key-new").addEventListener("submit", async (ev) => {
    ev.preventDefault();
    try {
      const k = await api("POST", "/v1/keys", { name: $("nk-name").value.trim(), role: $("nk-role").value });
      $("nk-name").value = "";
      setMsg($("newkey"), "New key (shown this once): " + k.key, "success");
      await keys();
    } catch (e) { fail(e); }
  });
}
