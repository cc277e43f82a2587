// The DocRAG page's script, served as /assets/app.js (no inline script: see the page's CSP).
const REASONS = {
  no_supporting_passage: "no passage close enough to the question",
  on_topic_not_answered: "passages on the topic, but none answers the question",
};
(function () {
  "use strict";
  const $ = (id) => document.getElementById(id);
  const KEY_STORE = "docrag.apiKey", COLL_STORE = "docrag.collection";

  function el(tag, props, children) {
    const e = document.createElement(tag);
    if (props) for (const k in props) {
      if (k === "text") e.textContent = props[k];
      else if (k === "class") e.className = props[k];
      else if (k.startsWith("on")) e.addEventListener(k.slice(2), props[k]);
      else e.setAttribute(k, props[k]);
    }
    (children || []).forEach((c) => c != null && e.append(typeof c === "string" ? document.createTextNode(c) : c));
    return e;
  }
  function setMsg(node, text, cls) { node.textContent = text || ""; node.className = "msg " + (cls || ""); }
  function errText(err) { return err.code ? err.code + ": " + err.message : String(err.message || err); }

  async function api(method, path, body) {
    const headers = { "Authorization": "Bearer " + ($("apikey").value.trim()) };
    const opts = { method, headers };
    if (body instanceof FormData) opts.body = body;
    else if (body !== undefined) { headers["Content-Type"] = "application/json"; opts.body = JSON.stringify(body); }
    let res;
    try { res = await fetch(path, opts); }
    catch (e) { throw { code: "network_error", message: String(e.message || e) }; }
    if (res.status === 204) return { status: 204, data: null };
    let data = null;
    try { data = await res.json(); } catch (e) { data = null; }
    if (!res.ok) {
      const er = data && data.error;
      throw { code: (er && er.code) || ("http_" + res.status), message: (er && er.message) || res.statusText || "request failed", status: res.status };
    }
    return { status: res.status, data };
  }

  // ---- health ----
  async function checkHealth() {
    const h = $("health");
    try {
      const res = await fetch("/health/ready");
      const d = await res.json().catch(() => ({}));
      const checks = d.checks ? Object.entries(d.checks).map(([k, v]) => k + ": " + (typeof v === "object" ? JSON.stringify(v) : v)).join(", ") : "";
      h.textContent = "server " + (d.status || res.status) + (checks ? " (" + checks + ")" : "");
      h.className = res.ok ? "ok" : "bad";
    } catch (e) { h.textContent = "server unreachable"; h.className = "bad"; }
  }

  // ---- api key ----
  $("apikey").value = localStorage.getItem(KEY_STORE) || "";
  $("savekey").addEventListener("click", () => {
    localStorage.setItem(KEY_STORE, $("apikey").value.trim());
    setMsg($("keymsg"), "Saved.", "success");
    loadCollections();
  });

  // ---- collections ----
  const current = () => $("collection").value || "default";
  async function loadCollections(select) {
    const sel = $("collection");
    const want = select || sel.value || localStorage.getItem(COLL_STORE) || "default";
    setMsg($("collmsg"), "");
    if (!$("apikey").value.trim()) { setMsg($("collmsg"), "Enter your API key first.", "warn"); return; }
    try {
      const { data } = await api("GET", "/v1/collections");
      sel.replaceChildren();
      const names = data.map((c) => c.name);
      if (names.indexOf(want) < 0) names.unshift(want);
      names.forEach((n) => {
        const c = data.find((x) => x.name === n);
        sel.append(el("option", { value: n, text: c ? n + " (" + c.document_count + " docs)" : n + " (empty)" }));
      });
      sel.value = want;
      loadDocs();
    } catch (e) { setMsg($("collmsg"), errText(e), "error"); }
  }
  $("collection").addEventListener("change", () => { localStorage.setItem(COLL_STORE, current()); loadDocs(); });
  $("refresh").addEventListener("click", () => loadCollections());
  $("createcoll").addEventListener("click", async () => {
    const name = $("newcoll").value.trim();
    if (!name) return;
    try {
      await api("POST", "/v1/collections", { name });
      $("newcoll").value = "";
      localStorage.setItem(COLL_STORE, name);
      setMsg($("collmsg"), "Created \u201c" + name + "\u201d.", "success");
      await loadCollections(name);
    } catch (e) { setMsg($("collmsg"), errText(e), "error"); }
  });
  $("delcoll").addEventListener("click", async () => {
    const name = current();
    if (!confirm("Delete collection \u201c" + name + "\u201d and all its documents?")) return;
    try {
      await api("DELETE", "/v1/collections/" + encodeURIComponent(name));
      localStorage.setItem(COLL_STORE, "default");
      $("collection").value = "";
      await loadCollections("default");
      setMsg($("collmsg"), "Deleted \u201c" + name + "\u201d.", "success");
    } catch (e) { setMsg($("collmsg"), errText(e), "error"); }
  });

  // ---- documents ----
  async function loadDocs() {
    const list = $("docs");
    setMsg($("docmsg"), "");
    try {
      const { data } = await api("GET", "/v1/collections/" + encodeURIComponent(current()) + "/documents?limit=200&offset=0");
      list.replaceChildren();
      $("doccount").textContent = "(" + data.length + ")";
      if (!data.length) list.append(el("li", { class: "hint", text: "No documents yet." }));
      data.forEach((d) => {
        const meta = [d.filename, d.page_count ? d.page_count + " pages" : null, d.chunk_count + " chunks", d.status]
          .filter((x) => x != null && x !== "").join(" · ");
        list.append(el("li", { class: "doc" }, [
          el("div", null, [el("div", { text: d.title || d.filename }), el("div", { class: "meta", text: meta })]),
          el("button", { class: "danger", text: "Delete", onclick: () => deleteDoc(d) }),
        ]));
      });
    } catch (e) {
      list.replaceChildren(); $("doccount").textContent = "";
      if (e.status === 404) list.append(el("li", { class: "hint", text: "Collection does not exist yet; uploading will create it." }));
      else setMsg($("docmsg"), errText(e), "error");
    }
  }
  async function deleteDoc(d) {
    if (!confirm("Delete \u201c" + (d.title || d.filename) + "\u201d?")) return;
    try { await api("DELETE", "/v1/documents/" + encodeURIComponent(d.id)); loadCollections(); }
    catch (e) { setMsg($("docmsg"), errText(e), "error"); }
  }

  // ---- upload ----
  const drop = $("drop");
  let uploading = false;
  drop.addEventListener("click", () => $("fileinput").click());
  drop.addEventListener("keydown", (e) => { if (e.key === "Enter" || e.key === " ") { e.preventDefault(); $("fileinput").click(); } });
  ["dragenter", "dragover"].forEach((t) => drop.addEventListener(t, (e) => { e.preventDefault(); drop.classList.add("over"); }));
  ["dragleave", "drop"].forEach((t) => drop.addEventListener(t, (e) => { e.preventDefault(); drop.classList.remove("over"); }));
  drop.addEventListener("drop", (e) => uploadFiles(e.dataTransfer.files));
  $("fileinput").addEventListener("change", (e) => { uploadFiles(e.target.files); e.target.value = ""; });

  async function uploadFiles(fileList) {
    const files = Array.from(fileList || []);
    if (!files.length || uploading) return;
    uploading = true;
    const coll = current(), title = $("title").value.trim(), list = $("uploads");
    list.replaceChildren();
    const rows = files.map((f) => { const li = el("li", { text: f.name + " — waiting…" }); list.append(li); return li; });
    for (let i = 0; i < files.length; i++) {
      const f = files[i], li = rows[i];
      li.textContent = f.name + " — uploading and indexing…"; li.className = "";
      const fd = new FormData();
      fd.append("file", f, f.name);
      if (title && files.length === 1) fd.append("title", title);
      try {
        const { status, data } = await api("POST", "/v1/collections/" + encodeURIComponent(coll) + "/documents?wait=true", fd);
        if (data && data.duplicate) { li.textContent = f.name + " — duplicate (already in collection)"; li.className = "warn"; }
        else {
          li.textContent = f.name + " — new" + (status === 201 ? "" : " (" + status + ")") + ": " +
            (data.page_count ? data.page_count + " pages, " : "") + data.chunk_count + " chunks";
          li.className = "success";
        }
      } catch (e) { li.textContent = f.name + " — error " + errText(e); li.className = "error"; }
    }
    if (files.length === 1) $("title").value = "";
    uploading = false;
    loadCollections(coll);
  }

  // ---- ask / search ----
  function pageLabel(a, b) { return a == null ? "" : (b != null && b !== a ? "pp. " + a + "–" + b : "p. " + a); }
  function pathLabel(p) { return p && p.length ? p.join(" › ") : ""; }

  function renderHit(h, i) {
    const meta = [pageLabel(h.page_start, h.page_end), pathLabel(h.heading_path)].filter(Boolean).join(" · ");
    const scores = "score " + fmt(h.score) + " (dense " + fmt(h.dense_score) + ", lexical " + fmt(h.lexical_score) + ")";
    return el("div", { class: "hit" }, [
      el("span", { class: "score", text: scores }),
      el("div", { class: "src-head", text: (i + 1) + ". " + (h.document_title || h.document_id) }),
      meta ? el("div", { class: "path", text: meta }) : null,
      el("div", { class: "text", text: h.text }),
    ]);
  }
  function fmt(x) { return typeof x === "number" ? x.toFixed(3) : "–"; }

  function renderAnswer(d) {
    const out = $("result");
    if (!d.answered) {
      out.append(el("div", { class: "idk" }, [
        el("div", { text: d.answer || "I don't know — the documents don't contain a confident answer." }),
        d.reason ? el("div", { class: "reason", text: "Reason: " + (REASONS[d.reason] || d.reason) }) : null,
      ]));
      out.append(el("h3", { text: "Closest passages" }));
      if (!d.passages || !d.passages.length) out.append(el("p", { class: "hint", text: "No passages found." }));
      (d.passages || []).forEach((h, i) => out.append(renderHit(h, i)));
      return;
    }
    const sources = [], index = new Map();
    const para = el("p", { class: "answer" });
    (d.sentences || []).forEach((s) => {
      para.append(document.createTextNode(s.text));
      (s.citations || []).forEach((c) => {
        const key = c.chunk_id + ":" + c.start + ":" + c.end;
        if (!index.has(key)) { sources.push(c); index.set(key, sources.length); }
        const n = index.get(key);
        para.append(el("sup", null, [el("a", { href: "#src-" + n, text: "[" + n + "]" })]));
      });
      para.append(document.createTextNode(" "));
    });
    if (!d.sentences || !d.sentences.length) para.textContent = d.answer || "";
    out.append(para);
    if (sources.length) {
      out.append(el("h3", { text: "Sources" }));
      const ol = el("ol", { class: "sources" });
      sources.forEach((c, i) => {
        const meta = [c.page != null ? "p. " + c.page : "", pathLabel(c.heading_path)].filter(Boolean).join(" · ");
        ol.append(el("li", { id: "src-" + (i + 1) }, [
          el("span", { class: "src-head", text: c.document_title || c.document_id }),
          meta ? el("div", { class: "path", text: meta }) : null,
          el("blockquote", { text: c.quote }),
        ]));
      });
      out.append(ol);
    }
  }

  $("askform").addEventListener("submit", async (e) => {
    e.preventDefault();
    const q = $("question").value.trim();
    if (!q) return;
    const mode = document.querySelector("input[name=mode]:checked").value;
    const out = $("result"), btn = $("askbtn");
    out.replaceChildren(); btn.disabled = true;
    setMsg($("askmsg"), mode === "ask" ? "Thinking…" : "Searching…");
    try {
      if (mode === "ask") {
        const { data } = await api("POST", "/v1/ask", { question: q, collections: [current()] });
        setMsg($("askmsg"), "");
        renderAnswer(data);
      } else {
        const { data } = await api("POST", "/v1/search", { query: q, collections: [current()], limit: 10 });
        setMsg($("askmsg"), data.hits.length + " hit(s)");
        data.hits.forEach((h, i) => out.append(renderHit(h, i)));
      }
    } catch (err) { setMsg($("askmsg"), errText(err), "error"); }
    btn.disabled = false;
  });
  $("question").addEventListener("keydown", (e) => {
    if (e.key === "Enter" && (e.ctrlKey || e.metaKey)) $("askform").requestSubmit();
  });

  checkHealth();
  setInterval(checkHealth, 30000);
  loadCollections();
})();
