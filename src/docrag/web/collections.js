// Collections: the one in use (remembered in this browser), create and delete.
import { api, describe, enc } from "./api.js";
import { $, el, setMsg } from "./dom.js";

const KEY = "docrag.collection";
const listeners = [];
let known = new Set();

// Whether the current collection exists yet (an upload creates it): nothing to list before.
export const currentExists = () => known.has(current());

export const current = () => $("collection").value || localStorage.getItem(KEY) || "default";
export function onCollectionChange(fn) { listeners.push(fn); }
function changed() {
  localStorage.setItem(KEY, current());
  $("ask-coll").textContent = "“" + current() + "”";
  listeners.forEach((fn) => fn());
}

export async function loadCollections(select) {
  const sel = $("collection");
  const want = select || sel.value || localStorage.getItem(KEY) || "default";
  try {
    const data = await api("GET", "/v1/collections");
    const names = data.map((c) => c.name);
    known = new Set(names);
    if (!names.includes(want)) names.unshift(want);
    sel.replaceChildren(...names.map((n) => {
      const c = data.find((x) => x.name === n);
      return el("option", { value: n, text: c ? n + " (" + c.document_count + ")" : n + " (new)" });
    }));
    sel.value = want;
    changed();
  } catch (e) { setMsg($("coll-msg"), describe(e), "error"); }
}

export function initCollections() {
  $("collection").addEventListener("change", changed);
  $("newcoll-form").addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const name = $("newcoll").value.trim();
    if (!name) return;
    try {
      await api("POST", "/v1/collections", { name });
      $("newcoll").value = "";
      setMsg($("coll-msg"), "Created “" + name + "”.", "success");
      await loadCollections(name);
    } catch (e) { setMsg($("coll-msg"), describe(e), "error"); }
  });
  $("delcoll").addEventListener("click", async () => {
    const name = current();
    if (!confirm("Delete the collection “" + name + "” with all its documents?")) return;
    try {
      await api("DELETE", "/v1/collections/" + enc(name));
      setMsg($("coll-msg"), "Deleted “" + name + "”.", "success");
      $("collection").value = "";
      await loadCollections("default");
    } catch (e) { setMsg($("coll-msg"), describe(e), "error"); }
  });
}
