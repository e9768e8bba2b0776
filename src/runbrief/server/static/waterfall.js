// A trace waterfall (Jaeger-style): one row per span in depth-first order, a bar on the
// trace's time axis, nesting by indent, the critical path and problem spans marked.
//
// Bounded for big traces: rows come from `web_trace` in windows of PAGE rows, and only the
// rows in (or near) the viewport exist in the DOM. A folded subtree is a contiguous range
// of the depth-first order (each row knows its subtree size), so folding skips a range and
// never needs the rows inside it.
"use strict";

import { el, eidLink, fmtMs, op } from "./lib.js";

const ROW_H = 22;
const PAGE = 200;
const OVERSCAN = 20;
export const PROBLEM_LABEL = {
  n_plus_one_db: "N+1", n_plus_one_http: "N+1 http", swallowed_error: "swallowed error", slow_db: "slow db",
  consecutive_db: "sequential db", consecutive_http: "sequential http", repeated_call: "repeated",
  repeated_sequence: "repeated sequence", large_payload: "large payload", gap: "gap",
};

export class Waterfall {
  constructor(first, { onSelect, height } = {}) {
    this.id = first.trace_id;
    this.total = first.total;
    this.duration = Math.max(first.duration_ms || 0, 1e-6);
    this.rows = new Array(this.total);
    this.pending = new Map();
    this.folded = new Map(); // row index -> subtree size
    this.onSelect = onSelect;
    this.selected = null;
    this.put(first);
    this.box = el("div", { class: "waterfall", "data-total": this.total });
    this.box.append(this.axis());
    this.scroller = el("div", { class: "wf-scroll", tabindex: "0" });
    this.scroller.style.height = `${height || Math.min(640, Math.max(5, this.total) * ROW_H + 4)}px`;
    this.spacer = el("div", { class: "wf-spacer" });
    this.layer = el("div", { class: "wf-rows" });
    this.spacer.append(this.layer);
    this.scroller.append(this.spacer);
    this.box.append(this.scroller);
    this.scroller.addEventListener("scroll", () => this.schedule());
    this.layer.addEventListener("click", (e) => this.click(e));
    this.resize();
  }

  put(page) { for (const r of page.rows) this.rows[r.i] = r; }

  axis() {
    const a = el("div", { class: "wf-axis" }, el("div", { class: "wf-name" }, `${this.total} spans`));
    const ticks = el("div", { class: "wf-time" });
    for (const f of [0, 0.25, 0.5, 0.75, 1]) {
      const t = el("span", { class: "tick" }, fmtMs(f * this.duration));
      t.style.left = `${f * 100}%`;
      ticks.append(t);
    }
    a.append(ticks);
    return a;
  }

  // Hidden ranges (start, size) of folded rows, outermost only, in order.
  hidden() {
    const out = [];
    for (const [i, s] of [...this.folded].sort((a, b) => a[0] - b[0])) {
      const last = out[out.length - 1];
      if (last && i <= last[0] + last[1]) continue; // inside a folded range already
      out.push([i, s]);
    }
    return out;
  }

  visibleCount() { return this.total - this.hidden().reduce((n, [, s]) => n + s, 0); }

  // The depth-first index shown at visible position p.
  indexAt(p, hidden) {
    let idx = p;
    for (const [i, s] of hidden) { if (idx > i) idx += s; else break; }
    return idx;
  }

  resize() {
    this.spacer.style.height = `${this.visibleCount() * ROW_H}px`;
    this.schedule();
  }

  schedule() {
    if (this.raf) return;
    this.raf = requestAnimationFrame(() => { this.raf = 0; this.draw(); });
  }

  async ensure(indices) {
    const pages = new Set(indices.filter((i) => !this.rows[i]).map((i) => Math.floor(i / PAGE)));
    await Promise.all([...pages].map((p) => {
      if (!this.pending.has(p)) {
        this.pending.set(p, op("web_trace", { id: this.id, offset: p * PAGE, limit: PAGE })
          .then((page) => { this.put(page); this.schedule(); })
          .finally(() => this.pending.delete(p)));
      }
      return this.pending.get(p);
    }));
  }

  draw() {
    const hidden = this.hidden();
    const n = this.visibleCount();
    const top = this.scroller.scrollTop;
    const h = this.scroller.clientHeight || 600;
    const from = Math.max(0, Math.floor(top / ROW_H) - OVERSCAN);
    const to = Math.min(n, Math.ceil((top + h) / ROW_H) + OVERSCAN);
    const want = [];
    for (let p = from; p < to; p++) want.push([p, this.indexAt(p, hidden)]);
    const missing = want.filter(([, i]) => !this.rows[i]).map(([, i]) => i);
    if (missing.length) this.ensure(missing);
    const frag = document.createDocumentFragment();
    for (const [p, i] of want) frag.append(this.row(p, i));
    this.layer.replaceChildren(frag);
    this.box.dataset.drawn = String(want.length);
  }

  row(p, i) {
    const r = this.rows[i];
    const d = el("div", { class: "wf-row", "data-i": i });
    d.style.top = `${p * ROW_H}px`;
    if (!r) { d.append(el("div", { class: "wf-name dim" }, "…")); return d; }
    d.dataset.span = r.span_id;
    const cls = ["wf-row"];
    if (r.critical) cls.push("crit");
    if (r.error) cls.push("err");
    if (r.problems) cls.push("prob");
    if (this.selected === i) cls.push("sel");
    d.className = cls.join(" ");
    const name = el("div", { class: "wf-name" });
    name.style.paddingLeft = `${4 + 14 * Math.min(r.depth, 40)}px`;
    if (r.subtree) {
      name.append(el("button", { class: "fold", "data-fold": i, title: `${r.subtree} span(s) below`, "aria-expanded": String(!this.folded.has(i)) },
        this.folded.has(i) ? `▸ ${r.subtree}` : "▾"));
    } else name.append(el("span", { class: "fold-pad" }));
    name.append(el("span", { class: "svc" }, r.service), " ", el("span", { class: "nm" }, r.name));
    for (const type of r.problems || []) {
      d.dataset.problem = d.dataset.problem ? `${d.dataset.problem} ${type}` : type;
      name.append(el("span", { class: `badge ${type}` }, PROBLEM_LABEL[type] || type));
    }
    const lane = el("div", { class: "wf-time" });
    const bar = el("div", { class: `bar k-${r.kind}` });
    bar.style.left = `${(100 * r.offset_ms) / this.duration}%`;
    bar.style.width = `${Math.max(0.15, (100 * r.duration_ms) / this.duration)}%`;
    lane.append(bar, el("span", { class: "dur" }, fmtMs(r.duration_ms)));
    d.append(name, lane);
    return d;
  }

  click(e) {
    const f = e.target.closest("[data-fold]");
    if (f) {
      const i = Number(f.dataset.fold);
      if (this.folded.has(i)) this.folded.delete(i); else this.folded.set(i, this.rows[i].subtree);
      this.resize();
      return;
    }
    const rowEl = e.target.closest(".wf-row");
    if (!rowEl || e.target.closest("a")) return;
    const i = Number(rowEl.dataset.i);
    if (!this.rows[i]) return;
    this.selected = i;
    this.schedule();
    this.onSelect?.(this.rows[i]);
  }

  // Show (unfold the ancestors of, scroll to and select) the row of a span ID.
  async reveal(spanId) {
    let i = this.rows.findIndex((r) => r && r.span_id === spanId);
    for (let p = 0; i < 0 && p * PAGE < this.total; p++) {
      await this.ensure([p * PAGE]);
      i = this.rows.findIndex((r) => r && r.span_id === spanId);
    }
    if (i < 0) return false;
    for (let a = this.rows[i].parent; a != null; a = this.rows[a]?.parent) this.folded.delete(a);
    this.resize();
    const hidden = this.hidden();
    let p = i;
    for (const [h, s] of hidden) if (h < i) p -= s;
    this.scroller.scrollTop = Math.max(0, p * ROW_H - 3 * ROW_H);
    this.selected = i;
    this.schedule();
    this.onSelect?.(this.rows[i]);
    return true;
  }
}

// The trace's problems, costliest first: five in view, the rest behind a disclosure.
export function problemList(problems, shown = 5) {
  const item = (p) => el("li", { "data-type": p.type },
    el("strong", {}, PROBLEM_LABEL[p.type] || p.type), ` ×${p.count} · ${fmtMs(p.time_ms)} · `,
    el("span", { class: "qt" }, p.what || ""), el("div", { class: "meta" }, p.cause || ""),
    el("div", {}, (p.span_ids || []).slice(0, 8).map((s) => eidLink(s))));
  const list = el("ul", { class: "problems" }, problems.slice(0, shown).map(item));
  if (problems.length <= shown) return list;
  return el("div", {}, list, el("details", {}, el("summary", {}, `${problems.length - shown} more`),
    el("ul", { class: "problems" }, problems.slice(shown).map(item))));
}
