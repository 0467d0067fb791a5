// copyloom dashboard: live figures for a running experiment, and copy buttons. No inline script (CSP).
"use strict";

function startLiveRefresh(container) {
  const url = container.dataset.liveUrl;
  const everyMs = Math.max(2, Number(container.dataset.refreshS) || 5) * 1000;
  let timer = null;

  async function refresh() {
    try {
      const response = await fetch(url, { credentials: "same-origin", headers: { Accept: "application/json" } });
      if (!response.ok) return;
      const body = await response.json();
      const open = new Set(
        Array.from(container.querySelectorAll("details[open]")).map((d) => d.closest("figure")?.querySelector("svg")?.id)
      );
      container.innerHTML = body.html;
      container.querySelectorAll("figure").forEach((figure) => {
        const details = figure.querySelector("details");
        if (details && open.has(figure.querySelector("svg")?.id)) details.open = true;
      });
      applyAdjustedView();
      container.dataset.updatedAt = String(Date.now());
      const status = document.getElementById("status");
      if (status && status.textContent !== body.status) {
        window.location.reload(); // the actions on offer depend on the status
        return;
      }
      if (body.status !== "live") window.clearInterval(timer);
    } catch (error) {
      // A dropped connection is retried on the next tick.
    }
  }

  timer = window.setInterval(refresh, everyMs);
}

function setUpCopyButtons() {
  document.querySelectorAll("[data-copy]").forEach((button) => {
    button.addEventListener("click", async () => {
      const source = document.getElementById(button.dataset.copy);
      if (!source) return;
      const label = button.textContent;
      try {
        await navigator.clipboard.writeText(source.textContent);
        button.textContent = "Copied";
      } catch (error) {
        const range = document.createRange();
        range.selectNodeContents(source);
        window.getSelection().removeAllRanges();
        window.getSelection().addRange(range);
        button.textContent = "Selected: press Ctrl+C";
      }
      window.setTimeout(() => { button.textContent = label; }, 2000);
    });
  });
}

let adjustedView = "mature"; // kept across live refreshes, which redraw the figures

function applyAdjustedView() {
  const section = document.getElementById("adjusted");
  if (!section) return;
  section.dataset.view = adjustedView;
  section.querySelectorAll("[data-adjusted-view]").forEach((button) => {
    button.setAttribute("aria-pressed", String(button.dataset.adjustedView === adjustedView));
  });
}

document.addEventListener("click", (event) => {
  const button = event.target.closest ? event.target.closest("[data-adjusted-view]") : null;
  if (!button) return;
  adjustedView = button.dataset.adjustedView;
  applyAdjustedView();
});

document.addEventListener("DOMContentLoaded", () => {
  document.documentElement.classList.add("js");
  applyAdjustedView();
  const figures = document.getElementById("figures");
  if (figures && figures.dataset.live === "true") startLiveRefresh(figures);
  setUpCopyButtons();
});
