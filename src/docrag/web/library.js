// The library: the collection's documents with search, status, version, replace and delete.
import { api, describe, enc, uploadWithProgress } from "./api.js";
import { current, currentExists } from "./collections.js";
import { $, el, setMsg, when } from "./dom.js";

let docs = [];
let replacing = null;

function visible() {
  const q = $("docfilter").value.trim().toLowerCase();
  return q ? docs.filter((d) => (d.title + " " + (d.filename || "")).toLowerCase().includes(q)) : docs;
}

function render() {
  const body = $("docs").tBodies[0];
  const shown = visible();
  $("doccount").textContent = "(" + shown.length + (shown.length !== docs.length ? " of " + docs.length : "") + ")";
  if (!shown.length) {
    body.replaceChildren(el("tr", null, [el("td", { colspan: "4", class: "hint", text: docs.length ? "No document matches." : "No documents yet." })]));
    return;
  }
  body.replaceChildren(...shown.map((d) => {
    const name = d.title || d.filename;
    const status = d.status === "failed" ? "failed: " + (d.error_message || d.error_code) : d.status;
    return el("tr", { "data-id": d.id }, [
      el("td", null, [el("div", { text: name }), el("div", { class: "meta", text: [d.filename, d.page_count ? d.page_count + " pages" : null, d.chunk_count + " chunks", when(d.updated_at || d.created_at)].filter(Boolean).join(" · ") })]),
      el("td", null, [el("span", { class: "status " + d.status, text: status })]),
      el("td", { text: "v" + d.version + (d.pending_version ? " (v" + d.pending_version + " pending)" : "") }),
      el("td", { class: "actions" }, [
        el("button", { type: "button", class: "secondary", text: "Replace", "aria-label": "Replace " + name, onclick: () => { replacing = d; $("replaceinput").click(); } }),
        el("button", { type: "button", class: "danger", text: "Delete", "aria-label": "Delete " + name, onclick: () => remove(d) }),
      ]),
    ]);
  }));
}

export async function loadDocs() {
  setMsg($("doc-msg"), "");
  if (!currentExists()) { docs = []; render(); return; }
  try {
    docs = await api("GET", "/v1/collections/" + enc(current()) + "/documents?limit=1000");
  } catch (e) {
    docs = [];
    if (e.status !== 404) setMsg($("doc-msg"), describe(e), "error");
  }
  render();
}

async function remove(d) {
  if (!confirm("Delete “" + (d.title || d.filename) + "”?")) return;
  try {
    await api("DELETE", "/v1/documents/" + enc(d.id));
    await loadDocs();
    setMsg($("doc-msg"), "Deleted “" + (d.title || d.filename) + "”.", "success");
  } catch (e) { setMsg($("doc-msg"), describe(e), "error"); }
}

async function replace(file) {
  const d = replacing;
  replacing = null;
  if (!d || !file) return;
  const form = new FormData();
  form.append("file", file, file.name);
  setMsg($("doc-msg"), "Uploading a new version of “" + (d.title || d.filename) + "”…");
  try {
    await uploadWithProgress("/v1/documents/" + enc(d.id), form, () => {}, "PUT");
    await loadDocs();
    setMsg($("doc-msg"), "New version queued; the current one is served until it is indexed.", "success");
  } catch (e) { setMsg($("doc-msg"), describe(e), "error"); }
}

export function initLibrary() {
  $("docfilter").addEventListener("input", render);
  $("replaceinput").addEventListener("change", (e) => { replace(e.target.files[0]); e.target.value = ""; });
}
