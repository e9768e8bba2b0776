// runbrief web page: a router over the views in views.js. Each view has its own path
// (/incidents/inc_3, /traces/trc_…), the server answers every such path with this page,
// and links move between them with the History API (no reload, back/forward work).
"use strict";

import { el, errorBox, navigate, setNavigator, takeTokenFromFragment } from "./lib.js";
import { resetCharts } from "./charts.js";
import * as V from "./views.js";

const TABS = [
  ["brief", "Brief"], ["incidents", "Incidents"], ["changes", "What changed"], ["patterns", "Patterns"], ["traces", "Traces"],
  ["perf", "Perf"], ["services", "Services"], ["deploys", "Deploys"], ["agents", "Agents/LLM"], ["gate", "Gate/eval"], ["logs", "Logs"],
];
const VIEWS = {
  brief: V.brief, incidents: V.incidents, changes: V.changes, patterns: V.patterns, traces: V.traces, spans: V.spans,
  perf: V.perf, services: V.services, deploys: V.deploys, agents: V.agents, gate: V.gate, logs: V.logs, events: V.events,
};
const view = document.getElementById("view");
let seq = 0;

function parse() {
  const parts = location.pathname.split("/").filter(Boolean).map(decodeURIComponent);
  const legacy = new URLSearchParams(location.search).get("view"); // the old ?view=… links
  if (!parts.length && legacy && VIEWS[legacy]) {
    history.replaceState({}, "", `/${legacy}`);
    return [legacy, null];
  }
  return [parts[0] && VIEWS[parts[0]] ? parts[0] : "brief", parts[1] || null];
}

async function render() {
  const n = ++seq;
  const [name, key] = parse();
  const query = new URLSearchParams(location.search);
  document.querySelectorAll("#tabs a").forEach((a) => a.classList.toggle("active", a.dataset.view === name || (name === "spans" && a.dataset.view === "traces")));
  document.title = `runbrief · ${key || name}`;
  delete view.dataset.loaded;
  resetCharts();
  view.replaceChildren(el("p", { class: "empty" }, "loading…"));
  const t0 = performance.now();
  try {
    const node = await VIEWS[name](key, query);
    if (n !== seq) return;
    view.replaceChildren(node);
  } catch (e) {
    if (n !== seq) return;
    view.replaceChildren(e.status === 401 ? V.tokenForm(render) : errorBox(`${name}${key ? " " + key : ""}: ${e.message}`));
  }
  // Rendered: the view's DOM is built (charts draw on the next frame).
  await new Promise((r) => requestAnimationFrame(() => requestAnimationFrame(r)));
  if (n !== seq) return;
  view.dataset.renderMs = String(Math.round(performance.now() - t0));
  view.dataset.loaded = key ? `${name}/${key}` : name;
}

function nav() {
  const tabs = document.getElementById("tabs");
  tabs.replaceChildren(...TABS.map(([v, label]) => el("a", { href: `/${v}`, "data-nav": "", "data-view": v }, label)));
}

// Every in-page link (a[data-nav]) moves with the History API; modified clicks open normally.
document.addEventListener("click", (e) => {
  const a = e.target.closest("a[data-nav]");
  if (!a || e.defaultPrevented || e.button !== 0 || e.metaKey || e.ctrlKey || e.shiftKey || e.altKey) return;
  const url = new URL(a.href, location.href);
  if (url.origin !== location.origin) return;
  e.preventDefault();
  if (url.pathname + url.search !== location.pathname + location.search) navigate(url.pathname + url.search);
  window.scrollTo(0, 0);
});
window.addEventListener("popstate", render);
window.addEventListener("hashchange", () => { if (/token=/.test(location.hash)) { takeTokenFromFragment(); render(); } });
setNavigator(render);
takeTokenFromFragment();
nav();
render();
