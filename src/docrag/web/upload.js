// Uploads: many files by drag and drop (or the file chooser), one progress bar for all of them,
// and each file's live status: queued, parsing, embedding, indexed, or failed with its reason.
import { api, describe, enc, uploadWithProgress } from "./api.js";
import { current, loadCollections } from "./collections.js";
import { $, el } from "./dom.js";

const FINAL = new Set(["indexed", "failed"]);
let onIndexed = () => {};

function row(file) {
  const status = el("span", { class: "status", text: "waiting" });
  const bar = el("progress", { max: "1", value: "0", "aria-label": "Progress of " + file.name });
  const li = el("li", { class: "upload" }, [el("span", { class: "name", text: file.name }), status, bar]);
  $("uploads").append(li);
  return {
    li,
    set(state, text, progress) {
      li.dataset.status = state;
      status.textContent = text || state;
      status.className = "status " + state;
      if (progress != null) bar.value = progress;
    },
  };
}

function human(bytes) {
  if (bytes < 1024) return bytes + " bytes";
  if (bytes < 1024 * 1024) return Math.round(bytes / 1024) + " KB";
  return (bytes / 1024 / 1024).toFixed(1) + " MB";
}

function overall(rows) {
  const done = rows.reduce((n, r) => n + r.weight, 0);
  $("upload-bar").value = done / rows.length;
  const finished = rows.filter((r) => r.weight >= 1).length;
  $("upload-label").textContent = finished < rows.length
    ? "Uploading and indexing: " + finished + " of " + rows.length + " done"
    : "All " + rows.length + " files done";
}

async function poll(entry, rows) {
  while (true) {
    await new Promise((r) => setTimeout(r, 400));
    let d;
    try { d = await api("GET", "/v1/documents/" + enc(entry.id)); }
    catch (e) { entry.ui.set("failed", "failed: " + describe(e), 1); entry.weight = 1; overall(rows); return; }
    const stage = { queued: 0.5, parsing: 0.6, embedding: 0.7 + 0.25 * (d.progress || 0) }[d.status];
    if (d.status === "failed") entry.ui.set("failed", "failed: " + (d.error_message || d.error_code), 1);
    else if (d.status === "indexed") entry.ui.set("indexed", "indexed (" + d.chunk_count + " chunks)", 1);
    else entry.ui.set(d.status, d.status + (d.status === "embedding" ? " " + Math.round(100 * (d.progress || 0)) + "%" : ""), stage);
    entry.weight = FINAL.has(d.status) ? 1 : stage;
    overall(rows);
    if (FINAL.has(d.status)) { onIndexed(); return; }
  }
}

async function uploadAll(fileList) {
  const files = Array.from(fileList || []);
  if (!files.length) return;
  const coll = current();
  $("upload-progress").hidden = false;
  const rows = files.map((f) => ({ file: f, ui: row(f), weight: 0 }));
  overall(rows);
  const polls = [];
  for (const entry of rows) {
    entry.ui.set("uploading", "uploading", 0);
    const form = new FormData();
    form.append("file", entry.file, entry.file.name);
    try {
      const d = await uploadWithProgress("/v1/collections/" + enc(coll) + "/documents", form, (sent, total) => {
        entry.weight = 0.4 * sent / total; entry.ui.set("uploading", "uploading", entry.weight); overall(rows);
      });
      entry.id = d.id;
      if (d.duplicate) { entry.ui.set("indexed", "already in the collection (" + d.status + ")", 1); entry.weight = 1; overall(rows); continue; }
      entry.ui.set(d.status, d.status, 0.5);
      polls.push(poll(entry, rows));
    } catch (e) {
      const size = e.code === "file_too_large" ? " This file is " + human(entry.file.size) + "." : "";
      entry.ui.set("failed", "failed: " + describe(e) + size, 1);
      entry.weight = 1;
      overall(rows);
    }
  }
  await Promise.all(polls);
  await loadCollections(coll);  // counts, and a collection the first upload created
  onIndexed();
}

export function initUpload(afterIndexed) {
  onIndexed = afterIndexed;
  const drop = $("drop");
  drop.addEventListener("click", () => $("fileinput").click());
  drop.addEventListener("keydown", (e) => {
    if (e.key === "Enter" || e.key === " ") { e.preventDefault(); $("fileinput").click(); }
  });
  for (const t of ["dragenter", "dragover"]) drop.addEventListener(t, (e) => { e.preventDefault(); drop.classList.add("over"); });
  for (const t of ["dragleave", "drop"]) drop.addEventListener(t, (e) => { e.preventDefault(); drop.classList.remove("over"); });
  drop.addEventListener("drop", (e) => uploadAll(e.dataTransfer.files));
  $("fileinput").addEventListener("change", (e) => { uploadAll(e.target.files); e.target.value = ""; });
}
