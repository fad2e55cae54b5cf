// The colour theme. "auto" follows the system; the choice is kept under the key Django's admin
// uses ("theme"), so the chat and the admin follow one switch. Loaded in <head>, before the page
// is drawn, so no page flashes the other theme.
(() => {
  const root = document.documentElement;
  const next = { auto: "light", light: "dark", dark: "auto" };
  const names = { auto: "Auto", light: "Light", dark: "Dark" };
  let stored = null;
  try { stored = localStorage.getItem("theme"); } catch { /* storage off: auto */ }
  root.dataset.theme = stored in next ? stored : "auto";

  document.addEventListener("DOMContentLoaded", () => {
    const button = document.getElementById("theme-toggle");
    if (!button) return;
    const show = () => {
      button.textContent = names[root.dataset.theme]; // "Theme:" before it, on wide screens (CSS)
      button.setAttribute("aria-label", `Colour theme: ${names[root.dataset.theme]} (change)`);
    };
    show();
    button.addEventListener("click", () => {
      root.dataset.theme = next[root.dataset.theme] || "auto";
      try { localStorage.setItem("theme", root.dataset.theme); } catch { /* kept for this page */ }
      show();
    });
  });
})();
