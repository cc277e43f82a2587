// The source panel: a citation's passage with the quote highlighted and, for a PDF, its page
// rendered by the server with the quote's boxes drawn over it.
import { ApiError, api, describe, enc, raw } from "./api.js";
import { $, el, setMsg } from "./dom.js";

let lastFocus = null;
let pageUrl = null;

export function closeSource() {
  $("source").hidden = true;
  document.body.classList.remove("with-source");
  if (pageUrl) { URL.revokeObjectURL(pageUrl); pageUrl = null; }
  if (lastFocus) lastFocus.focus();
}

function passageWithMark(passage, quote, offset) {
  const box = $("source-passage");
  let at = passage ? passage.indexOf(quote) : -1;
  if (at < 0 && passage && offset != null && passage.slice(offset, offset + quote.length) === quote) at = offset;
  if (at < 0) { box.replaceChildren(el("mark", { text: quote })); return; }
  box.replaceChildren(passage.slice(0, at), el("mark", { text: quote }), passage.slice(at + quote.length));
}

async function showPage(c) {
  const frame = $("page-frame");
  frame.querySelectorAll(".hl").forEach((n) => n.remove());
  $("source-page").hidden = true;
  if (c.page == null) return;
  try {
    const where = await api("GET", "/v1/documents/" + enc(c.document_id) + "/pages/" + c.page + "/boxes?quote=" + enc(c.quote));
    const res = await raw("GET", "/v1/documents/" + enc(c.document_id) + "/pages/" + c.page);
    pageUrl = URL.createObjectURL(await res.blob());
    const img = $("page-img");
    img.src = pageUrl;
    img.alt = "Page " + c.page + " of " + c.document_title + (where.boxes.length ? ", the quote highlighted" : "");
    $("source-page-h").textContent = "Page " + c.page + " of " + where.page_count;
    for (const [l, t, r, b] of where.boxes) {
      const hl = el("div", { class: "hl", "aria-hidden": "true" });
      hl.style.left = (100 * l / where.width) + "%";
      hl.style.top = (100 * t / where.height) + "%";
      hl.style.width = (100 * (r - l) / where.width) + "%";
      hl.style.height = (100 * (b - t) / where.height) + "%";
      frame.append(hl);
    }
    frame.dataset.matched = where.matched;
    $("source-page").hidden = false;
  } catch (e) {
    // Not a PDF, or no original kept: the passage alone is the source.
    if (!(e instanceof ApiError && e.code === "page_unavailable")) setMsg($("source-msg"), describe(e), "error");
  }
}

// c: a citation (document_id, document_title, page, quote, start, heading_path); passage: the
// retrieved passage it came from, when the answer still has it ({text, start}).
export function openSource(c, passage, opener) {
  lastFocus = opener || document.activeElement;
  setMsg($("source-msg"), "");
  $("source-h").textContent = c.document_title || "Source";
  $("source-meta").textContent = [c.page != null ? "page " + c.page : null, (c.heading_path || []).join(" › "), c.document_version ? "version " + c.document_version : null].filter(Boolean).join(" · ");
  passageWithMark(passage && passage.text, c.quote, passage && c.start != null ? c.start - passage.start : null);
  $("source").hidden = false;
  document.body.classList.add("with-source");
  $("source-close").focus();
  showPage(c);
}

export function initSource() {
  $("source-close").addEventListener("click", closeSource);
  document.addEventListener("keydown", (e) => { if (e.key === "Escape" && !$("source").hidden) closeSource(); });
}
