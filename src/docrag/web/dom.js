// Small DOM helpers: elements built from text nodes (no markup from the server is ever parsed).
export const $ = (id) => document.getElementById(id);

export function el(tag, props, children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(props || {})) {
    if (v == null || v === false) continue;
    if (k === "text") e.textContent = v;
    else if (k === "class") e.className = v;
    else if (k.startsWith("on")) e.addEventListener(k.slice(2), v);
    else e.setAttribute(k, v === true ? "" : v);
  }
  for (const c of children || []) if (c != null) e.append(c);
  return e;
}

export function setMsg(node, text, kind) {
  node.textContent = text || "";
  node.className = "msg" + (kind ? " " + kind : "");
}

export function when(iso) {
  if (!iso) return "";
  const d = new Date(iso);
  return isNaN(d) ? iso : d.toLocaleString();
}

// A banner for what concerns the whole page (server down, signed out).
export function notice(text) {
  const n = $("notice");
  n.textContent = text || "";
  n.hidden = !text;
}
