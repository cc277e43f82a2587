// Chat: streamed answers (SSE), the caller's conversations listed and resumable.
import { describe, enc, api, raw } from "./api.js";
import { renderAnswer } from "./answer.js";
import { current } from "./collections.js";
import { $, el, setMsg, when } from "./dom.js";
import { events } from "./sse.js";

let conversation = null;

function turn(question, answerNode) {
  return el("article", { class: "turn" }, [el("p", { class: "question" }, [el("strong", { text: "Q: " }), question]), answerNode]);
}

export async function loadConversations() {
  const list = $("conversations");
  try {
    const found = await api("GET", "/v1/conversations?limit=50");
    if (!found.length) { list.replaceChildren(el("li", { class: "hint", text: "None yet." })); return; }
    list.replaceChildren(...found.map((c) => el("li", null, [
      el("button", { type: "button", class: "link" + (conversation === c.id ? " current" : ""), "aria-current": conversation === c.id ? "true" : null,
        text: c.title || c.first_question || "(empty)", onclick: () => resume(c.id) }),
      el("span", { class: "meta", text: c.turn_count + " turns · " + when(c.updated_at) }),
    ])));
  } catch (e) { setMsg($("ask-msg"), describe(e), "error"); }
}

async function resume(id) {
  try {
    const c = await api("GET", "/v1/conversations/" + enc(id));
    conversation = id;
    $("thread").replaceChildren(...c.turns.map((t) => turn(t.question, renderAnswer(t))));
    setMsg($("ask-msg"), "Resumed “" + (c.title || "conversation") + "”: a follow-up question continues it.");
    loadConversations();
    $("question").focus();
  } catch (e) { setMsg($("ask-msg"), describe(e), "error"); }
}

function newConversation() {
  conversation = null;
  $("thread").replaceChildren();
  setMsg($("ask-msg"), "");
  loadConversations();
  $("question").focus();
}

async function ask(question) {
  if (!conversation) {
    const c = await api("POST", "/v1/conversations", { title: question.slice(0, 200) });
    conversation = c.id;
  }
  const live = el("p", { class: "streaming", "aria-busy": "true" });
  const slot = el("div", null, [live]);
  const node = turn(question, slot);
  $("thread").append(node);
  let res;
  try {
    res = await raw("POST", "/v1/ask",
      { question, collections: [current()], conversation_id: conversation, stream: true },
      { Accept: "text/event-stream" });
  } catch (e) { node.remove(); throw e; }  // refused (a rate limit, the server down): no empty turn
  for await (const ev of events(res)) {
    if (ev.name === "token") live.append(ev.data.text);
    else if (ev.name === "answer") slot.replaceChildren(renderAnswer(ev.data));
    else if (ev.name === "error") { slot.replaceChildren(el("p", { class: "msg error", text: describe({ message: ev.data.message }) + " (" + ev.data.code + ")" })); }
  }
}

export function initChat() {
  $("newconv").addEventListener("click", newConversation);
  $("ask-form").addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const q = $("question").value.trim();
    if (!q) return;
    $("askbtn").disabled = true;
    setMsg($("ask-msg"), "Answering…");
    try {
      await ask(q);
      $("question").value = "";
      setMsg($("ask-msg"), "");
      loadConversations();
    } catch (e) { setMsg($("ask-msg"), describe(e), "error"); }
    $("askbtn").disabled = false;
  });
  $("question").addEventListener("keydown", (e) => {
    if (e.key === "Enter" && (e.ctrlKey || e.metaKey)) $("ask-form").requestSubmit();
  });
}
