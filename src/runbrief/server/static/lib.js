// Shared helpers: the API call (with the token), DOM building that only ever inserts text,
// evidence-ID links, and navigation by the History API.
//
// Safety rule of the whole page: telemetry text (log lines, span names and attributes,
// templates, service names) reaches the DOM through createTextNode / textContent only.
// No innerHTML, no markup strings, no eval; the server's CSP forbids them anyway.
"use strict";

export const EID = /\b(?:pat|log|dep|evt|trc|spn|inc)_[0-9a-zA-Z]+\b/g;
const TOKEN_KEY = "runbrief.token";

// A token given once in the fragment (#token=…, never sent to the server or kept in
// history) is kept for this tab and sent as a bearer header with every API call.
export function takeTokenFromFragment() {
  const m = /(?:^#|&)token=([^&]+)/.exec(location.hash);
  if (!m) return;
  sessionStorage.setItem(TOKEN_KEY, decodeURIComponent(m[1]));
  history.replaceState(history.state, "", location.pathname + location.search);
}
export const token = () => sessionStorage.getItem(TOKEN_KEY) || "";
export function setToken(t) { if (t) sessionStorage.setItem(TOKEN_KEY, t); else sessionStorage.removeItem(TOKEN_KEY); }

export class ApiError extends Error {
  constructor(message, status) { super(message); this.status = status; }
}

// GET /api/op/<name>?params; a failed call throws with the server's message.
export async function op(name, params = {}, { signal } = {}) {
  const qs = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) {
    if (v === "" || v == null || v === false) continue;
    qs.set(k, Array.isArray(v) ? v.join(",") : String(v));
  }
  const headers = { Accept: "application/json" };
  if (token()) headers.Authorization = `Bearer ${token()}`;
  const r = await fetch(`/api/op/${encodeURIComponent(name)}?${qs}`, { headers, signal });
  let data;
  try { data = await r.json(); } catch { data = {}; }
  if (!r.ok) throw new ApiError(data.error || `HTTP ${r.status}`, r.status);
  return data;
}

export function el(tag, attrs = {}, ...children) {
  const n = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v == null || v === false) continue;
    if (k === "class") n.className = v;
    else if (k === "text") n.textContent = String(v);
    else if (k.startsWith("on") && typeof v === "function") n.addEventListener(k.slice(2), v);
    else n.setAttribute(k, v === true ? "" : String(v));
  }
  append(n, children);
  return n;
}

export function append(n, children) {
  for (const c of children.flat(Infinity)) {
    if (c == null || c === false) continue;
    n.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return n;
}

// Where an evidence ID's view lives.
export function eidPath(id) {
  const kind = id.slice(0, 3);
  const base = { inc: "incidents", trc: "traces", pat: "patterns", dep: "deploys", spn: "spans", log: "logs", evt: "events" }[kind];
  return base ? `/${base}/${encodeURIComponent(id)}` : null;
}

export function link(path, ...children) {
  return el("a", { href: path, "data-nav": "" }, ...children);
}

// A link to an evidence ID's view; ``short`` shows a prefix (the full ID is its title and target).
export function eidLink(id, short = false) {
  const p = eidPath(id);
  const text = short && id.length > 16 ? `${id.slice(0, 12)}…` : id;
  return p ? el("a", { class: "eid", href: p, "data-nav": "", "data-eid": id, title: short ? id : null }, text) : el("code", {}, id);
}

// Text with every evidence ID turned into a link; the rest stays plain text.
export function linked(text, tag = "span", cls = "") {
  const out = el(tag, cls ? { class: cls } : {});
  const s = String(text ?? "");
  let last = 0;
  for (const m of s.matchAll(EID)) {
    out.append(document.createTextNode(s.slice(last, m.index)), eidLink(m[0]));
    last = m.index + m[0].length;
  }
  out.append(document.createTextNode(s.slice(last)));
  return out;
}

// Untrusted telemetry text: shown as a quoted block, never interpreted.
export function quote(text, evidence) {
  return el("blockquote", { class: "untrusted", title: "copied from telemetry: data, not instructions" },
    evidence ? [eidLink(evidence), " "] : null, el("span", { class: "qt", text: String(text ?? "") }));
}

export const empty = (msg) => el("p", { class: "empty" }, msg);
export const errorBox = (msg) => el("p", { class: "error" }, msg);
export const section = (title, ...body) => el("section", { class: "card" }, el("h3", {}, title), ...body);

export function table(cols, rows, attrs = {}) {
  const t = el("table", attrs);
  t.append(el("thead", {}, el("tr", {}, cols.map(([label]) => el("th", {}, label)))));
  const tb = el("tbody");
  for (const r of rows) tb.append(el("tr", {}, cols.map(([, f]) => el("td", {}, f(r)))));
  t.append(tb);
  return t;
}

// key: value pairs (span attributes, deploy fields) as a definition list of text.
export function kv(obj) {
  const dl = el("dl", { class: "kv" });
  for (const [k, v] of Object.entries(obj || {})) {
    dl.append(el("dt", {}, k), el("dd", {}, linked(typeof v === "string" ? v : JSON.stringify(v))));
  }
  return dl;
}

export const isoToSec = (s) => (s ? Date.parse(s) / 1000 : null);
export function fmtTime(s) {
  if (!s) return "";
  return String(s).replace("T", " ").replace(/\.\d+Z$/, "Z");
}
export function fmtMs(ms) {
  if (ms == null) return "";
  if (ms >= 1000) return `${(ms / 1000).toFixed(2)} s`;
  if (ms >= 10) return `${ms.toFixed(0)} ms`;
  return `${ms.toFixed(2)} ms`;
}
export const pct = (x) => (x == null ? "" : `${(100 * x).toFixed(1)}%`);

// Navigation without reloading; the server answers the same paths with this page.
let onNavigate = () => {};
export function setNavigator(fn) { onNavigate = fn; }
export function navigate(path, { replace = false } = {}) {
  if (replace) history.replaceState({}, "", path); else history.pushState({}, "", path);
  onNavigate();
}
