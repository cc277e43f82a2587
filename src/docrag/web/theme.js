// Dark mode: the system's choice (prefers-color-scheme) until the toggle overrides it.
import { $ } from "./dom.js";

const KEY = "docrag.theme";

function dark() {
  const chosen = localStorage.getItem(KEY);
  return chosen ? chosen === "dark" : matchMedia("(prefers-color-scheme: dark)").matches;
}

function apply() {
  const isDark = dark();
  document.documentElement.dataset.theme = isDark ? "dark" : "light";
  $("theme").setAttribute("aria-pressed", String(isDark));
}

export function initTheme() {
  apply();
  $("theme").addEventListener("click", () => {
    localStorage.setItem(KEY, dark() ? "light" : "dark");
    apply();
  });
  matchMedia("(prefers-color-scheme: dark)").addEventListener("change", apply);
}
