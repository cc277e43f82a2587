// One answer as shown: each sentence with its citation marks and support verdict, an abstention
// with the closest passages, and thumbs up or down with a comment.
import { api, describe, enc } from "./api.js";
import { openSource } from "./citations.js";
import { el, setMsg } from "./dom.js";

const REASONS = {
  no_supporting_passage: "no passage is close enough to the question",
  on_topic_not_answered: "passages are on the topic, but none answers the question",
};

function verdict(s) {
  if (!s.verdict) return null;
  const pct = s.support != null ? " " + Math.round(100 * s.support) + "%" : "";
  return el("span", {
    class: "verdict " + s.verdict,
    text: s.verdict === "supported" ? "✓ supported" + pct : "⚠ unsupported" + pct,
    title: "Groundedness: how well the cited passages support this sentence",
  });
}

function passageFor(passages, c) {
  return (passages || []).find((p) => p.chunk_id === c.chunk_id) || null;
}

function feedback(a) {
  const msg = el("span", { class: "msg", role: "status" });
  const comment = el("input", { type: "text", placeholder: "comment (optional)", "aria-label": "Comment on this answer", maxlength: "4000" });
  const rate = (rating) => async () => {
    try {
      await api("POST", "/v1/answers/" + enc(a.answer_id) + "/feedback", { rating, comment: comment.value.trim() || null });
      setMsg(msg, "Thanks: rated " + rating + ".", "success");
    } catch (e) { setMsg(msg, describe(e), "error"); }
  };
  return el("div", { class: "feedback" }, [
    el("button", { type: "button", class: "secondary", text: "▲ Good answer", onclick: rate("up") }),
    el("button", { type: "button", class: "secondary", text: "▼ Bad answer", onclick: rate("down") }),
    comment, msg,
  ]);
}

function passageList(passages) {
  return el("ol", { class: "passages" }, passages.map((p) => {
    const c = { document_id: p.document_id, document_title: p.document_title, document_version: p.document_version,
      chunk_id: p.chunk_id, page: p.page_start, quote: p.text, start: p.start, heading_path: p.heading_path };
    return el("li", null, [
      el("button", { type: "button", class: "link", text: p.document_title + (p.page_start != null ? ", p. " + p.page_start : ""),
        onclick: (e) => openSource(c, p, e.currentTarget) }),
      el("p", { class: "meta", text: p.text.length > 240 ? p.text.slice(0, 240) + "…" : p.text }),
    ]);
  }));
}

// a: AskOut (live, with passages) or a stored turn (StoredAnswerOut, without).
export function renderAnswer(a) {
  const box = el("div", { class: "answer", "data-answer-id": a.answer_id });
  if (a.source_deleted) {
    box.append(el("p", { class: "idk", text: "This answer cited a document that has since been deleted: it is no longer shown." }));
    return box;
  }
  if (!a.answered) {
    box.classList.add("abstained");
    box.append(el("p", { class: "idk" }, [el("strong", { text: "No answer. " }), a.answer || "The documents don't contain a confident answer."]));
    if (a.reason) box.append(el("p", { class: "meta", text: "Why: " + (REASONS[a.reason] || a.reason) }));
    if (a.passages && a.passages.length) {
      box.append(el("h4", { text: "Closest passages" }), passageList(a.passages));
    }
  } else {
    const marks = new Map();
    const text = el("p", { class: "sentences" });
    for (const s of a.sentences || []) {
      const span = el("span", { class: "sentence" + (s.verdict === "unsupported" ? " weak" : "") }, [s.text]);
      for (const c of s.citations || []) {
        const key = c.chunk_id + ":" + c.start + ":" + c.end;
        if (!marks.has(key)) marks.set(key, marks.size + 1);
        const n = marks.get(key);
        span.append(el("button", { type: "button", class: "cite", "data-quote": c.quote, text: "[" + n + "]",
          "aria-label": "Source " + n + ": " + c.document_title + (c.page != null ? ", page " + c.page : ""),
          onclick: (e) => openSource(c, passageFor(a.passages, c), e.currentTarget) }));
      }
      const v = verdict(s);
      if (v) span.append(" ", v);
      text.append(span, " ");
    }
    if (!(a.sentences || []).length) text.textContent = a.answer;
    box.append(text);
  }
  box.append(feedback(a));
  return box;
}
