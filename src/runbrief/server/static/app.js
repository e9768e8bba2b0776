// runbrief web page: a view over /api/op/<name>. Untrusted text (log lines, attributes)
// only ever goes through textContent; evidence IDs become links that resolve via `show`.
"use strict";

const EID = /\b(?:pat|log|dep|evt|trc|spn|inc)_[0-9a-zA-Z]+\b/g;
const view = document.getElementById("view");

async function op(name, params = {}) {
  const qs = new URLSearchParams(Object.entries(params).filter(([, v]) => v !== "" && v != null));
  const r = await fetch(`/api/op/${name}?${qs}`);
  const data = await r.json();
  if (!r.ok) throw new Error(data.error || `HTTP ${r.status}`);
  return data;
}

function el(tag, attrs = {}, ...children) {
  const n = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (k === "class") n.className = v; else n.setAttribute(k, v);
  }
  for (const c of children) if (c != null) n.append(c instanceof Node ? c : document.createTextNode(String(c)));
  return n;
}

// Text with evidence IDs turned into links; everything else stays plain text.
function linked(text, tag = "span", cls = "") {
  const out = el(tag, cls ? { class: cls } : {});
  const s = String(text ?? "");
  let last = 0;
  for (const m of s.matchAll(EID)) {
    out.append(document.createTextNode(s.slice(last, m.index)));
    out.append(eidLink(m[0]));
    last = m.index + m[0].length;
  }
  out.append(document.createTextNode(s.slice(last)));
  return out;
}

function eidLink(id) {
  const a = el("a", { class: "eid", href: "#", "data-eid": id }, id);
  a.addEventListener("click", (e) => { e.preventDefault(); showEvidence(id); });
  return a;
}

async function showEvidence(id) {
  const aside = document.getElementById("evidence");
  document.getElementById("evidence-title").textContent = id;
  const body = document.getElementById("evidence-body");
  body.replaceChildren(document.createTextNode("loading…"));
  aside.hidden = false;
  try {
    body.replaceChildren(linked(JSON.stringify(await op("show", { id }), null, 2)));
  } catch (e) {
    body.replaceChildren(el("span", { class: "error" }, e.message));
  }
}

function table(cols, rows) {
  const t = el("table");
  t.append(el("tr", {}, ...cols.map(([label]) => el("th", {}, label))));
  for (const r of rows) t.append(el("tr", {}, ...cols.map(([, f]) => el("td", {}, f(r)))));
  return t;
}

function empty(msg) { return el("p", { class: "empty" }, msg); }
const service = () => document.getElementById("service").value.trim();

const VIEWS = {
  async brief() {
    const b = await op("brief", { service: service(), budget: 4000 });
    const box = el("div", { class: "card" }, el("h3", {}, "Brief"),
      el("p", { class: "meta" }, `${b.tokens ?? "?"} tokens`));
    box.append(linked(b.text ?? b.markdown ?? JSON.stringify(b, null, 2), "pre"));
    return box;
  },
  async incidents() {
    const r = await op("incidents", { all: true, service: service() });
    const list = Array.isArray(r) ? r : (r.incidents ?? []);
    if (!list.length) return empty("No incidents.");
    return el("div", {}, ...list.map((inc) => {
      const card = el("div", { class: "card" },
        el("h3", {}, linked(`${inc.title}`), eidLink(inc.id)),
        el("p", { class: "meta" }, `${inc.status ?? ""} · started by ${inc.service} · impact ${inc.impact?.score ?? inc.impact ?? ""} · ${inc.started_at ?? ""}`));
      for (const c of inc.claims ?? []) {
        const p = el("div", { class: "claim" }, linked(c.text));
        for (const e of c.evidence ?? []) p.append(eidLink(e));
        card.append(p);
      }
      return card;
    }));
  },
  async changes() {
    // One service: since its latest deploy (else the last hour). All services: each
    // deployed service since its own latest deploy, so a newcomer sees what shipped broke.
    const one = service();
    let results = [];
    if (one) {
      results = [await op("changes", { service: one, since_deploy: true }).catch(() => op("changes", { service: one, since: "1h" }))];
    } else {
      const d = await op("deploys", { limit: 200 });
      const services = [...new Set((d.deploys ?? []).map((x) => x.service))];
      results = services.length
        ? await Promise.all(services.map((s) => op("changes", { service: s, since_deploy: true }).catch(() => ({ items: [] }))))
        : [await op("changes", { since: "1h" })];
    }
    const items = results.flatMap((r) => (r.items ?? []).map((i) => ({ service: r.service, ...i })));
    items.sort((a, b) => (b.score ?? 0) - (a.score ?? 0));
    if (!items.length) return empty("Nothing changed.");
    return table([
      ["kind", (i) => el("span", { class: "kind" }, i.kind)],
      ["what", (i) => el("div", {}, linked(i.template ?? i.summary ?? i.reason ?? i.title ?? ""), i.example ? linked(typeof i.example === "string" ? i.example : (i.example.body ?? ""), "div", "fence") : null)],
      ["service", (i) => i.service ?? ""],
      ["before → after", (i) => i.kind === "error_share"
        ? `${(100 * (i.before?.share ?? 0)).toFixed(1)}% → ${(100 * (i.after?.share ?? 0)).toFixed(1)}% errors`
        : `${i.before?.per_min ?? ""} → ${i.after?.per_min ?? ""} /min`],
      ["evidence", (i) => eidLink(i.evidence_id)],
    ], items);
  },
  async patterns() {
    const r = await op("patterns", { service: service(), limit: 50 });
    const rows = r.patterns ?? [];
    if (!rows.length) return empty("No patterns yet.");
    return table([
      ["count", (p) => p.count], ["severity", (p) => p.severity ?? ""],
      ["template", (p) => linked(p.template, "div", "fence")], ["id", (p) => eidLink(p.pattern_id)],
    ], rows);
  },
  async traces() {
    const r = await op("traces", { service: service(), limit: 50 });
    const rows = r.traces ?? [];
    if (!rows.length) return empty("No traces yet.");
    return table([
      ["start", (t) => t.start ?? ""], ["root", (t) => t.root ?? t.name ?? ""], ["route", (t) => t.route ?? ""],
      ["ms", (t) => t.duration_ms], ["errors", (t) => t.errors ?? 0], ["trace", (t) => eidLink(t.trace_id)],
    ], rows);
  },
  async services() {
    const r = await op("services");
    if (!r.services.length) return empty("No services yet: send OTLP to this server or run `runbrief ingest`.");
    return table([
      ["service", (s) => s.service], ["logs", (s) => s.logs], ["spans", (s) => s.spans],
      ["deploys", (s) => s.deploys], ["versions", (s) => (s.versions ?? []).join(", ")], ["last seen", (s) => s.last_seen ?? ""],
    ], r.services);
  },
};

let current = "brief";
async function render() {
  view.replaceChildren(empty("loading…"));
  try {
    view.replaceChildren(await VIEWS[current]());
  } catch (e) {
    view.replaceChildren(el("p", { class: "error" }, `${current}: ${e.message}`));
  }
  view.dataset.loaded = current;
}

document.getElementById("tabs").addEventListener("click", (e) => {
  const b = e.target.closest("button");
  if (!b) return;
  document.querySelectorAll("#tabs button").forEach((x) => x.classList.toggle("active", x === b));
  current = b.dataset.view;
  render();
});
document.getElementById("service").addEventListener("change", render);
document.getElementById("evidence-close").addEventListener("click", () => { document.getElementById("evidence").hidden = true; });
const initial = new URLSearchParams(location.search).get("view");
if (initial && VIEWS[initial]) {
  current = initial;
  document.querySelectorAll("#tabs button").forEach((x) => x.classList.toggle("active", x.dataset.view === initial));
}
render();
