// The views. Each takes (key, query) from the path /<view>/<key>?query and returns a node;
// each reads operations only (the same JSON as `runbrief … --json`).
"use strict";

import {
  ApiError, el, eidLink, empty, errorBox, fmtMs, fmtTime, isoToSec, kv, link, linked, navigate, op, pct, quote,
  section, table,
} from "./lib.js";
import { deployMarkers, timeChart } from "./charts.js";
import { PROBLEM_LABEL, Waterfall, problemList } from "./waterfall.js";

const enc = encodeURIComponent;

function field(label, input) { return el("label", { class: "field" }, label, " ", input); }
function input(name, value, placeholder = "") { return el("input", { name, value: value ?? "", placeholder }); }

// A filter form whose submit puts its fields in the query string (so the view is a link too).
function filterForm(fields, query) {
  const f = el("form", { class: "filters" });
  for (const [name, label, ph, opts] of fields) {
    let inp;
    if (opts) {
      inp = el("select", { name }, opts.map(([v, t]) => el("option", { value: v, selected: (query.get(name) || "") === v }, t)));
    } else inp = input(name, query.get(name), ph);
    f.append(field(label, inp));
  }
  f.append(el("button", { type: "submit" }, "apply"));
  f.addEventListener("submit", (e) => {
    e.preventDefault();
    const qs = new URLSearchParams();
    for (const [k, v] of new FormData(f)) if (String(v).trim()) qs.set(k, String(v).trim());
    navigate(`${location.pathname}${qs.toString() ? "?" + qs : ""}`);
  });
  return f;
}

function header(title, ...meta) {
  return el("div", { class: "page-head" }, el("h2", {}, title), meta.length ? el("p", { class: "meta" }, ...meta) : null);
}

// ---------- evidence resolved inline ----------

function evidenceSummary(id, o) {
  const k = o.kind;
  if (k === "span") {
    return el("div", { class: "ev" }, eidLink(id), ` ${o.service} · `, el("span", { class: "qt" }, o.name || ""),
      ` · ${fmtMs(o.duration_ms)} · ${o.status}`, o.status_message ? quote(o.status_message) : null,
      o.trace_id ? el("span", {}, " in ", eidLink(o.trace_id)) : null);
  }
  if (k === "log") return el("div", { class: "ev" }, eidLink(id), ` ${o.service} ${o.severity || ""} ${fmtTime(o.ts)}`, quote(o.body));
  if (k === "pattern") return el("div", { class: "ev" }, eidLink(id), ` ${o.count} line(s)`, quote(o.template));
  if (k === "deploy") return el("div", { class: "ev" }, eidLink(id), ` ${o.service} ${o.version || ""} at ${fmtTime(o.ts)}${o.commit ? " · commit " + o.commit : ""}`);
  if (k === "trace") return el("div", { class: "ev" }, eidLink(id), ` ${o.root?.name ?? o.root ?? ""} · ${fmtMs(o.duration_ms)} · ${o.spans ?? ""} spans`);
  if (k === "event") return el("div", { class: "ev" }, eidLink(id), ` ${o.reason || ""} ${o.object_kind || ""}/${o.object_name || ""}`, quote(o.message));
  if (k === "incident") return el("div", { class: "ev" }, eidLink(id), " ", el("span", { class: "qt" }, o.title || ""));
  return el("div", { class: "ev" }, eidLink(id));
}

const showCache = new Map();
function show(id) {
  if (!showCache.has(id)) showCache.set(id, op("show", { id }).catch((e) => ({ kind: "error", error: e.message })));
  return showCache.get(id);
}

function resolvedEvidence(ids, max = 4) {
  const box = el("div", { class: "evidence" });
  const list = ids.slice(0, max);
  for (const id of list) {
    const slot = el("div", { class: "ev", "data-eid-slot": id }, eidLink(id), " …");
    box.append(slot);
    show(id).then((o) => slot.replaceWith(o.kind === "error" ? el("div", { class: "ev" }, eidLink(id), " ", errorBox(o.error)) : evidenceSummary(id, o)));
  }
  if (ids.length > max) box.append(el("div", { class: "meta" }, "also: ", ids.slice(max).map((i) => eidLink(i))));
  return box;
}

// ---------- brief ----------

export async function brief(_, query) {
  const b = await op("brief", { service: query.get("service"), budget: 4000 });
  const out = el("div", {}, header(`Brief · ${b.service || "all services"}`,
    `${(b.incidents || []).length} open incident(s) · data until ${fmtTime(b.data_until)} · ${b.tokens} tokens for an agent`));
  const incs = section("Open incidents, by impact");
  if (!(b.incidents || []).length) incs.append(empty("No open incidents."));
  for (const inc of b.incidents || []) {
    const c = el("div", { class: "incident" },
      el("h4", {}, eidLink(inc.id), " ", link(`/incidents/${enc(inc.id)}`, el("span", { class: "qt" }, inc.title))),
      el("p", { class: "meta" }, `impact ${inc.impact} · ${inc.status} since ${fmtTime(inc.started_at)} · services: ${(inc.affected_services || []).join(", ")}`));
    const ul = el("ul", { class: "claims" });
    for (const cl of inc.claims || []) ul.append(el("li", {}, linked(cl.text), " ", (cl.evidence || []).map((e) => eidLink(e))));
    c.append(ul);
    for (const q of inc.quotes || []) c.append(quote(q.text, q.evidence));
    incs.append(c);
  }
  out.append(incs);
  const ch = b.changes;
  if (ch) {
    const d = ch.deploy;
    const s = section(d ? el("span", {}, "What changed since ", eidLink(d.evidence_id), ` ${d.service} ${d.version || ""}`) : "What changed");
    if (!(ch.items || []).length) s.append(empty("Nothing significant changed."));
    else s.append(changesTable(ch.items));
    out.append(s);
  }
  const omitted = Object.entries(b.omitted || {}).filter(([, v]) => v);
  if (omitted.length) out.append(el("p", { class: "meta" }, `cut to the budget: ${omitted.map(([k, v]) => `${v} ${k}`).join(", ")}`));
  return out;
}

// ---------- incidents ----------

export async function incidents(key, query) {
  if (key) return incident(key);
  const r = await op("incidents", { all: query.get("all") !== "0", service: query.get("service"), status: query.get("status") });
  const list = Array.isArray(r) ? r : (r.incidents ?? []);
  const out = el("div", {}, header("Incidents"), filterForm([["service", "service", "all"], ["status", "status", "", [["", "any"], ["open", "open"], ["resolved", "resolved"], ["closed", "closed"]]]], query));
  if (!list.length) return append(out, empty("No incidents."));
  out.append(table([
    ["id", (i) => eidLink(i.id)], ["title", (i) => link(`/incidents/${enc(i.id)}`, el("span", { class: "qt" }, i.title))],
    ["status", (i) => el("span", { class: `status ${i.status}` }, i.status)], ["impact", (i) => i.impact],
    ["service", (i) => i.service ? link(`/services/${enc(i.service)}`, i.service) : ""], ["started", (i) => fmtTime(i.started_at)],
    ["deploy", (i) => i.deploy ? eidLink(i.deploy.id) : ""],
  ], list, { class: "list" }));
  return out;
}

function append(n, ...c) { n.append(...c); return n; }

function timelineStrip(entries, from, to) {
  const lo = isoToSec(from), hi = Math.max(isoToSec(to), lo + 60);
  const strip = el("div", { class: "tl" });
  const axis = el("div", { class: "tl-axis" });
  for (const f of [0, 0.5, 1]) {
    const t = el("span", { class: "tick" }, fmtTime(new Date((lo + f * (hi - lo)) * 1000).toISOString()));
    t.style.left = `${f * 100}%`;
    axis.append(t);
  }
  const lane = el("div", { class: "tl-lane" });
  entries.forEach((e, n) => {
    const x = (isoToSec(e.ts) - lo) / (hi - lo);
    const m = el("div", { class: `tl-mark${/deploy/.test(e.text) ? " dep" : ""}`, title: `${fmtTime(e.ts)} ${e.text}` });
    m.style.left = `${Math.min(100, Math.max(0, 100 * x))}%`;
    m.style.top = `${(n % 4) * 18}px`;
    m.style.height = `${80 - (n % 4) * 18}px`;
    m.append(el("span", {}, e.text));
    lane.append(m);
  });
  strip.append(lane, axis);
  const list = el("ol", { class: "tl-list" }, entries.map((e) => el("li", {}, el("time", {}, fmtTime(e.ts)), " ", linked(e.text), " ", (e.evidence || []).map((x) => eidLink(x)))));
  return el("div", {}, strip, list);
}

async function incident(id) {
  const inc = await op("incident", { id });
  const out = el("div", { class: "incident-page" }, header(el("span", {}, eidLink(inc.id), " ", el("span", { class: "qt" }, inc.title)),
    el("span", { class: `status ${inc.status}` }, inc.status), ` · impact ${inc.impact} · started ${fmtTime(inc.started_at)} · last seen ${fmtTime(inc.last_seen)} · services: `,
    (inc.affected_services || []).map((s) => [link(`/services/${enc(s)}`, s), " "]),
    inc.deploy ? el("span", {}, "· after ", eidLink(inc.deploy.id), ` ${inc.deploy.service} ${inc.deploy.version || ""}`) : null));
  const start = new Date(Math.min(isoToSec(inc.started_at), isoToSec(inc.deploy?.ts) || Infinity) * 1000 - 10 * 60000).toISOString();
  const end = new Date(isoToSec(inc.last_seen) * 1000 + 5 * 60000).toISOString();
  out.append(section("Timeline", timelineStrip(inc.timeline || [], start, end)));
  if (inc.service) {
    const chartBox = section(`${inc.service}: requests and failures around the incident`);
    out.append(chartBox);
    op("web_service_series", { name: inc.service, since: start, until: end, points: 240 }).then((s) => {
      chartBox.append(timeChart({ title: "", t: s.t, height: 180, markers: deployMarkers(s.deploys), series: [
        { label: "requests", values: s.requests.count }, { label: "failed", values: s.requests.errors, color: "#b31d28" },
        { label: "error lines", values: s.logs.errors, color: "#e36209" }] }));
    }).catch((e) => chartBox.append(errorBox(e.message)));
  }
  // The frequency of the patterns it cites (as Sentry's event chart), an hour before it on, deploys marked.
  const pats = [...new Set((inc.claims || []).flatMap((c) => (c.evidence || []).filter((e) => e.startsWith("pat_"))))].slice(0, 3);
  if (pats.length) {
    const box = section("Cited patterns: lines per minute");
    out.append(box);
    const since = new Date(isoToSec(inc.started_at) * 1000 - 60 * 60000).toISOString();
    Promise.all(pats.map((id) => op("web_pattern_series", { id, since, until: end, points: 240 }).catch(() => null))).then((all) => {
      all.forEach((p, k) => {
        if (!p) return;
        const per = p.step_s / 60;
        box.append(timeChart({ title: el("span", {}, eidLink(pats[k])), t: p.t, height: 140, markers: deployMarkers(p.deploys),
          series: [{ label: "lines/min", values: p.total.map((x) => x / per), fill: true }] }));
      });
    });
  }
  const claims = section("Claims and their evidence");
  for (const c of inc.claims || []) {
    claims.append(el("div", { class: `claim ${c.kind || ""}` }, el("span", { class: "kind" }, c.kind || ""), " ", linked(c.text), resolvedEvidence(c.evidence || [])));
  }
  out.append(claims);
  if ((inc.quotes || []).length) {
    out.append(section("Quoted lines (from telemetry: data, not instructions)", inc.quotes.map((q) => quote(q.text, q.evidence))));
  }
  if (inc.narrative) out.append(section("Narrative", linked(typeof inc.narrative === "string" ? inc.narrative : JSON.stringify(inc.narrative), "p")));
  const ver = section("Did a deploy fix it?");
  out.append(ver);
  op("web_verdict", { id: inc.id }).then((v) => {
    if (v.verdict) {
      const j = v.verdict;
      ver.append(el("p", { class: `verdict ${j.verdict}` }, el("strong", {}, j.verdict.replace("_", " ")), " after ", eidLink(j.deploy), `: `, linked(j.text)),
        table([["symptom", (s) => el("span", { class: "qt" }, s.key || s.kind || "")], ["state", (s) => s.state],
          ["before", (s) => `${s.before.count} in ${s.before.minutes} min`], ["after", (s) => `${s.after.count} in ${s.after.minutes} min`],
          ["evidence", (s) => (s.evidence || []).map((e) => eidLink(e))]], j.symptoms || []));
    } else ver.append(empty(`No deploy of ${inc.service} after this incident started: nothing to judge yet.`));
    if ((v.recorded || []).length) {
      ver.append(el("h4", {}, "Recorded fixes"), table([["when", (f) => fmtTime(f.ts)], ["fix", (f) => linked(f.fix)], ["commit", (f) => f.commit || ""], ["outcome", (f) => f.outcome]], v.recorded));
    }
  }).catch((e) => ver.append(errorBox(e.message)));
  const sim = section("Similar past incidents and their fixes");
  if (!(inc.similar || []).length) sim.append(empty("None recorded: this looks new."));
  for (const s of inc.similar || []) {
    sim.append(el("div", { class: "similar" }, eidLink(s.id), " ", el("span", { class: "qt" }, s.title || ""), ` · similarity ${s.similarity ?? ""}`,
      el("div", { class: "meta" }, linked(s.why || "")),
      (s.fixes || []).length ? el("ul", {}, s.fixes.map((f) => el("li", {}, `${f.outcome}: `, linked(f.fix), f.commit ? ` (commit ${f.commit})` : ""))) : el("div", { class: "meta" }, "no fix recorded")));
  }
  out.append(sim);
  return out;
}

// ---------- what changed ----------

function changesTable(items) {
  return table([
    ["kind", (i) => el("span", { class: `kind ${i.kind}` }, i.kind)],
    ["what", (i) => el("div", {}, linked(i.summary || ""), i.template ? el("div", { class: "tpl qt" }, i.template) : null,
      i.example?.body ? quote(i.example.body, i.example.id) : null)],
    ["service", (i) => i.service ? link(`/services/${enc(i.service)}`, i.service) : ""],
    ["before → after", (i) => i.kind === "error_share"
      ? `${pct(i.before?.share)} → ${pct(i.after?.share)} errors`
      : `${i.before?.per_min ?? ""} → ${i.after?.per_min ?? ""} /min`],
    ["score", (i) => i.score ?? ""],
    ["evidence", (i) => (i.evidence_ids || [i.evidence_id]).filter(Boolean).map((e) => eidLink(e))],
  ], items, { class: "changes" });
}

// The parameters the CLI would take for the same question; shown, so the page can be checked.
export function changesParams(query, deploys) {
  const service = query.get("service") || "";
  const p = { service, since: query.get("since") || "", baseline: query.get("baseline") || "", deploy: query.get("deploy") || "" };
  if (!p.since && !p.deploy && !query.get("since_deploy")) {
    const own = deploys.find((d) => d.service === service);
    if (service && own) p.since_deploy = true;
    else if (deploys.length) {
      // No deploy of its own: what changed in it around the latest deploy of any service
      // (the one that could have hurt it), against the hour before.
      p.since = deploys[0].ts;
      p.baseline = p.baseline || "60m";
    }
  } else if (query.get("since_deploy")) p.since_deploy = true;
  return p;
}

function cliLine(p) {
  const parts = ["runbrief changes"];
  if (p.service) parts.push(`--service ${p.service}`);
  if (p.since_deploy) parts.push("--since-deploy");
  if (p.since) parts.push(`--since ${p.since}`);
  if (p.deploy) parts.push(`--deploy ${p.deploy}`);
  if (p.baseline) parts.push(`--baseline ${p.baseline}`);
  return parts.join(" ");
}

export async function changes(_, query) {
  const d = await op("deploys", { limit: 200 });
  const deploys = d.deploys ?? [];
  const out = el("div", {}, header("What changed"),
    filterForm([["service", "service", "all"], ["since", "since", "1h or ISO"], ["deploy", "deploy", "dep_…"], ["baseline", "baseline", "e.g. 60m"]], query));
  const one = query.get("service");
  let results;
  if (one || query.get("since") || query.get("deploy")) {
    const p = changesParams(query, deploys);
    out.append(el("p", { class: "meta cli" }, "same as ", el("code", {}, cliLine(p))));
    results = [await op("changes", p)];
  } else {
    // All services: each deployed service since its own latest deploy, every other one
    // around the latest deploy of any service.
    const services = (await op("services")).services.map((s) => s.service);
    results = await Promise.all(services.map((s) => op("changes", changesParams(new URLSearchParams({ service: s }), deploys)).catch(() => ({ items: [] }))));
  }
  const items = results.flatMap((r) => (r.items ?? []).map((i) => ({ service: r.service, ...i })));
  items.sort((a, b) => (b.score ?? 0) - (a.score ?? 0));
  const notes = results.flatMap((r) => r.notes || []);
  for (const r of results) {
    if (r.window) out.append(el("p", { class: "meta" }, `${r.service || "all"}: after ${fmtTime(r.window.start)} → ${fmtTime(r.window.end)}; baseline ${r.baseline?.minutes ?? "?"} min`, r.deploy ? el("span", {}, " · deploy ", eidLink(r.deploy.evidence_id)) : null));
  }
  for (const n of [...new Set(notes)]) out.append(el("p", { class: "meta" }, "note: ", linked(n)));
  out.append(items.length ? changesTable(items) : empty("Nothing changed significantly."));
  out.dataset.items = String(items.length);
  return out;
}

// ---------- patterns ----------

export async function patterns(key, query) {
  if (key) return pattern(key);
  const r = await op("patterns", { service: query.get("service"), severity: query.get("severity"), since: query.get("since"), limit: 100 });
  const rows = r.patterns ?? [];
  const out = el("div", {}, header("Patterns", `${fmtTime(r.window?.since)} → ${fmtTime(r.window?.until)}`),
    filterForm([["service", "service", "all"], ["severity", "min severity", "warn"], ["since", "since", "1h or ISO"]], query));
  if (!rows.length) return append(out, empty("No patterns yet."));
  out.append(table([
    ["count", (p) => p.count], ["errors", (p) => p.errors ?? ""], ["trend", (p) => p.trend ?? ""], ["severity", (p) => p.severity ?? ""],
    ["template", (p) => link(`/patterns/${enc(p.pattern_id)}`, el("span", { class: "tpl qt" }, p.template))],
    ["services", (p) => (p.services || []).map((s) => [link(`/services/${enc(s)}`, s), " "])], ["id", (p) => eidLink(p.pattern_id)],
  ], rows, { class: "list" }));
  return out;
}

async function pattern(id) {
  const [p, s] = await Promise.all([op("show", { id }), op("web_pattern_series", { id, points: 720 })]);
  const out = el("div", {}, header(el("span", {}, "Pattern ", eidLink(p.id)), `${p.count} line(s) · ${p.severity || ""} · first ${fmtTime(p.first_seen)} · last ${fmtTime(p.last_seen)}`),
    quote(p.template));
  // A rate per minute (as `changes` reports it), averaged over each bucket.
  const per = s.step_s / 60;
  const rate = (xs) => xs.map((x) => Math.round((1000 * x) / per) / 1000);
  const series = s.series.length > 1
    ? s.series.map((x) => ({ label: x.service, values: rate(x.count) }))
    : [{ label: "lines/min", values: rate(s.total), fill: true }, { label: "errors/min", values: rate((s.series[0] || { errors: [] }).errors), color: "#b31d28" }];
  out.append(section(`Lines per minute${per > 1 ? ` (averaged over ${per}-minute buckets)` : ""}`, timeChart({ t: s.t, series, markers: deployMarkers(s.deploys), height: 220 })));
  out.append(section("Services", table([["service", (x) => link(`/services/${enc(x.service)}`, x.service)], ["lines", (x) => x.count], ["errors", (x) => x.errors],
    ["first", (x) => fmtTime(x.first_seen)], ["last", (x) => fmtTime(x.last_seen)]], p.services || [])));
  out.append(section("Example lines", (p.examples || []).map((e) => quote(e.body, e.log_id)),
    el("p", {}, link(`/logs?pattern_id=${enc(p.id)}`, "all lines of this pattern →"))));
  if ((p.aliases || []).length) out.append(el("p", { class: "meta" }, "also known as ", p.aliases.map((a) => [el("code", {}, a), " "])));
  return out;
}

// ---------- traces ----------

export async function traces(key, query) {
  if (key) return trace(key, query);
  const r = await op("traces", { service: query.get("service"), route: query.get("route"), status: query.get("status"), min_duration_ms: query.get("min_ms"), limit: 100 });
  const rows = r.traces ?? [];
  const out = el("div", {}, header("Traces"), filterForm([["service", "service", "all"], ["route", "route", "/cart"], ["status", "status", "", [["", "any"], ["error", "error"], ["ok", "ok"]]], ["min_ms", "min ms", ""]], query));
  if (!rows.length) return append(out, empty("No traces yet."));
  out.append(table([
    ["start", (t) => fmtTime(t.start)], ["root", (t) => link(`/traces/${enc(t.trace_id)}`, el("span", { class: "qt" }, t.root ?? ""))],
    ["service", (t) => t.service ?? ""], ["ms", (t) => t.duration_ms], ["spans", (t) => t.spans ?? ""], ["errors", (t) => t.errors ?? 0],
    ["trace", (t) => eidLink(t.trace_id)],
  ], rows, { class: "list" }));
  return out;
}

async function spanDetail(row, traceId, panel) {
  panel.replaceChildren(el("p", { class: "meta" }, "loading…"));
  panel.hidden = false;
  try {
    const [s, logs] = await Promise.all([op("show", { id: row.span_id }), op("logs", { trace_id: traceId, limit: 500 })]);
    const mine = (logs.logs || []).filter((l) => `spn_${l.span_id}` === row.span_id);
    panel.replaceChildren(
      el("div", { class: "bar" }, el("strong", {}, eidLink(row.span_id)), el("button", { onclick: () => { panel.hidden = true; } }, "close")),
      el("p", {}, el("span", { class: "svc" }, s.service), " ", el("span", { class: "qt" }, s.name || ""), ` · ${s.span_kind} · ${fmtMs(s.duration_ms)} · ${s.status}`,
        row.critical ? el("span", { class: "badge crit" }, "critical path") : null),
      s.status_message ? quote(s.status_message) : null,
      el("h4", {}, "Attributes"), kv(s.attributes),
      (s.events || []).length ? [el("h4", {}, "Events"), s.events.map((e) => el("div", { class: "ev" }, el("strong", {}, e.name || ""), kv(e.attributes || {})))] : null,
      el("h4", {}, `Logs of this span (${mine.length})`),
      mine.length ? mine.map((l) => el("div", { class: "ev" }, eidLink(l.id), ` ${l.severity || ""} ${fmtTime(l.ts)} `, quote(l.body))) : empty("none"),
    );
  } catch (e) {
    panel.replaceChildren(errorBox(e.message));
  }
}

async function trace(id, query) {
  const first = await op("web_trace", { id, offset: 0, limit: 200 });
  const out = el("div", { class: "trace-page" }, header(el("span", {}, "Trace ", eidLink(first.trace_id)),
    `${first.root?.name ?? ""} · ${fmtMs(first.duration_ms)} · ${first.spans} spans · ${first.failed_spans} failed · services: `,
    (first.services || []).map((s) => [link(`/services/${enc(s)}`, s), " "]), ` · started ${fmtTime(first.start)}`));
  // The summary's headline comes after the waterfall is drawn (it walks the whole trace again).
  const headline = el("p", { class: "headline" });
  out.append(headline);
  op("trace_summary", { id, budget: 5 }).then((s) => {
    headline.append(linked(s.headline || ""));
    // Where the critical path's time went, by kind and by service: one stacked bar each.
    let anchor = headline;
    for (const [label, parts, key] of [["critical path by kind", s.time_by_kind, "kind"], ["by service", s.time_by_service, "service"]]) {
      if (!(parts || []).length) continue;
      const bar = el("div", { class: "stack" });
      for (const p of parts) {
        const seg = el("span", { class: `seg k-${p[key]}`, title: `${p[key]}: ${fmtMs(p.ms)} (${pct(p.share)})` }, `${p[key]} ${pct(p.share)}`);
        seg.style.width = `${Math.max(0.5, 100 * p.share)}%`;
        bar.append(seg);
      }
      const row = el("div", { class: "stack-row" }, el("span", { class: "meta" }, label), bar);
      anchor.after(row);
      anchor = row;
    }
  }).catch(() => {});
  if (first.problems.length) {
    out.append(section(`Problems${first.problems_total > first.problems.length ? ` (the costliest ${first.problems.length} of ${first.problems_total})` : ""}`, problemList(first.problems)));
  }
  for (const i of first.integrity || []) out.append(el("p", { class: "meta" }, `integrity: ${i.type}: ${i.detail}`));
  const legend = el("p", { class: "legend" }, el("span", { class: "lg crit" }, "critical path"), el("span", { class: "lg err" }, "failed"),
    el("span", { class: "lg prob" }, "problem (N+1, swallowed error…)"), " · click a span for its attributes and logs; ▾ folds a subtree");
  const panel = el("aside", { class: "detail", hidden: true });
  const wf = new Waterfall(first, { onSelect: (row) => {
    spanDetail(row, first.trace_id, panel);
    history.replaceState({}, "", `${location.pathname}?span=${enc(row.span_id)}`);
  } });
  out.append(section("Waterfall", legend, el("div", { class: "wf-wrap" }, wf.box, panel)));
  const want = query.get("span");
  if (want) requestAnimationFrame(() => wf.reveal(want));
  out.waterfall = wf;
  return out;
}

export async function spans(key) {
  if (!key) return empty("Spans are shown in their trace: open one from Traces.");
  const s = await op("show", { id: key });
  navigate(`/traces/${enc(s.trace_id)}?span=${enc(key)}`, { replace: true });
  return el("p", { class: "meta" }, "opening its trace…");
}

// ---------- perf ----------

export async function perf(_, query) {
  const r = await op("perf", { service: query.get("service"), route: query.get("route"), since: query.get("since") });
  const out = el("div", {}, header("Performance problems", `${r.traces_examined} trace(s) examined`),
    filterForm([["service", "service", "all"], ["route", "route", ""], ["since", "since", "1h or ISO"]], query));
  const rows = r.problems || [];
  if (!rows.length) return append(out, empty("No performance problems found."));
  out.append(table([
    ["route", (p) => p.route], ["problem", (p) => el("strong", {}, PROBLEM_LABEL[p.type] || p.type)],
    ["traces", (p) => `${p.traces_affected}/${p.traces_examined} (${pct(p.frequency)})`],
    ["time", (p) => `${fmtMs(p.total_time_ms)} total · ${fmtMs(p.avg_time_ms_per_trace)}/trace`],
    ["examples", (p) => (p.examples || []).map((e) => el("div", { class: "ev" }, el("span", { class: "qt" }, e.what || ""), ` ×${e.occurrences} · latest `,
      e.latest_trace_id ? eidLink(e.latest_trace_id) : "", " ", (e.span_ids || []).slice(0, 3).map((s) => eidLink(s))))],
  ], rows, { class: "list" }));
  return out;
}

// ---------- services ----------

export async function services(key, query) {
  if (key) return service(key, query);
  const r = await op("services");
  const out = el("div", {}, header("Services"));
  if (!r.services.length) return append(out, empty("No services yet: send OTLP to this server or run `runbrief ingest`."));
  out.append(table([
    ["service", (s) => link(`/services/${enc(s.service)}`, s.service)], ["logs", (s) => s.logs], ["spans", (s) => s.spans],
    ["deploys", (s) => s.deploys], ["versions", (s) => (s.versions ?? []).join(", ")], ["last seen", (s) => fmtTime(s.last_seen)],
  ], r.services, { class: "list" }));
  return out;
}

async function service(name, query) {
  const s = await op("web_service_series", { name, since: query.get("since"), until: query.get("until"), points: 360 });
  const t = s.totals;
  const out = el("div", {}, header(`Service ${s.service}`,
    `${t.requests} request(s), ${t.failed_requests} failed (${pct(t.error_share)}) · ${t.log_lines} log line(s), ${t.error_lines} at error · ${fmtTime(s.start)} → ${fmtTime(s.end)} · `,
    link(`/traces?service=${enc(name)}`, "traces"), " · ", link(`/logs?service=${enc(name)}`, "logs"), " · ", link(`/changes?service=${enc(name)}`, "what changed"), " · ",
    link(`/patterns?service=${enc(name)}`, "patterns")),
  filterForm([["since", "since", "ISO"], ["until", "until", "ISO"]], query));
  const marks = deployMarkers(s.deploys);
  const step = `${s.step_s / 60} min`;
  out.append(section(`Requests and failures per ${step}`, timeChart({ t: s.t, markers: marks, series: [
    { label: "requests", values: s.requests.count, fill: true }, { label: "failed", values: s.requests.errors, color: "#b31d28" }] })));
  out.append(section("Error share: failed requests and lines at error", timeChart({ t: s.t, markers: marks, yMin: 0.01, series: [
    { label: "failed requests", values: s.error_share, color: "#b31d28" }, { label: "error lines", values: s.logs.share, color: "#e36209" }] })));
  if (s.routes.length) {
    out.append(section(`p95 latency per route (ms, per ${step})`, timeChart({ t: s.t, markers: marks, height: 240,
      series: s.routes.map((r) => ({ label: r.route, values: r.p95_ms })) })));
    out.append(section("Routes", table([["route", (r) => link(`/traces?service=${enc(name)}&route=${enc(r.route)}`, r.route)],
      ["requests", (r) => r.requests.reduce((a, b) => a + b, 0)], ["failed", (r) => r.errors.reduce((a, b) => a + b, 0)],
      ["worst p95", (r) => fmtMs(Math.max(0, ...r.p95_ms.filter((x) => x != null)))]], s.routes)));
  }
  out.append(section(`Log lines per ${step}`, timeChart({ t: s.t, markers: marks, series: [
    { label: "lines", values: s.logs.count, fill: true }, { label: "error lines", values: s.logs.errors, color: "#b31d28" }] })));
  out.append(section("Deploys", s.deploys.length ? table([["deploy", (d) => eidLink(d.id)], ["version", (d) => d.version || ""], ["at", (d) => fmtTime(d.ts)]], s.deploys) : empty("No deploys recorded in this window.")));
  return out;
}

// ---------- deploys ----------

export async function deploys(key, query) {
  if (key) return deploy(key);
  const r = await op("deploys", { service: query.get("service"), limit: 200 });
  const out = el("div", {}, header("Deploys"), filterForm([["service", "service", "all"]], query));
  if (!(r.deploys || []).length) return append(out, empty("No deploys recorded: `runbrief deploy mark --service S --version V`."));
  out.append(table([["deploy", (d) => eidLink(d.id)], ["service", (d) => link(`/services/${enc(d.service)}`, d.service)], ["version", (d) => d.version || ""],
    ["commit", (d) => d.commit || ""], ["at", (d) => fmtTime(d.ts)], ["source", (d) => d.source || ""]], r.deploys, { class: "list" }));
  return out;
}

async function deploy(id) {
  const d = await op("show", { id });
  const out = el("div", {}, header(el("span", {}, "Deploy ", eidLink(d.id)), `${d.service} ${d.version || ""} at ${fmtTime(d.ts)}`), kv({ commit: d.commit, environment: d.environment, source: d.source, ...(d.attributes || {}) }));
  const own = section(el("span", {}, "What changed in ", link(`/services/${enc(d.service)}`, d.service), " after it"));
  out.append(own);
  try {
    const c = await op("changes", { deploy: d.id });
    own.append(el("p", { class: "meta cli" }, "same as ", el("code", {}, `runbrief changes --deploy ${d.id}`)), (c.items || []).length ? changesTable(c.items) : empty("Nothing changed significantly."));
  } catch (e) { own.append(errorBox(e.message)); }
  const others = (await op("services")).services.map((s) => s.service).filter((s) => s !== d.service);
  for (const s of others) {
    const box = section(el("span", {}, "Around it in ", link(`/services/${enc(s)}`, s)));
    out.append(box);
    const p = { service: s, since: d.ts, baseline: "60m" };
    op("changes", p).then((c) => box.append(el("p", { class: "meta cli" }, "same as ", el("code", {}, cliLine(p))), (c.items || []).length ? changesTable(c.items) : empty("Nothing changed significantly.")))
      .catch((e) => box.append(errorBox(e.message)));
  }
  const inc = await op("incidents", { all: true });
  const mine = (Array.isArray(inc) ? inc : inc.incidents || []).filter((i) => i.deploy?.id === d.id);
  out.append(section("Incidents after it", mine.length ? table([["id", (i) => eidLink(i.id)], ["title", (i) => el("span", { class: "qt" }, i.title)], ["status", (i) => i.status], ["impact", (i) => i.impact]], mine) : empty("None.")));
  return out;
}

// ---------- agents / LLM ----------

export async function agents(_, query) {
  const [r, s] = await Promise.all([op("agents", { service: query.get("service"), since: query.get("since") }), op("web_llm_series", { service: query.get("service"), since: query.get("since") })]);
  const tt = r.totals || {};
  const out = el("div", {}, header("Agents and LLM calls", `${tt.model_calls ?? 0} model call(s) · ${tt.tool_calls ?? 0} tool call(s) · ${(tt.input_tokens ?? 0) + (tt.output_tokens ?? 0)} tokens · cost ${tt.cost ?? "n/a"}`),
    filterForm([["service", "service", "all"], ["since", "since", "1h or ISO"]], query));
  if (!tt.model_calls && !tt.tool_calls) return append(out, empty("No LLM or agent spans yet (OpenTelemetry GenAI, OpenInference or OpenLLMetry)."));
  if (s.points) {
    out.append(section(`Tokens per model (per ${s.step_s / 60} min)`, timeChart({ t: s.t, markers: deployMarkers(s.deploys),
      series: s.models.flatMap((m) => [{ label: `${m.model} in`, values: m.input_tokens }, { label: `${m.model} out`, values: m.output_tokens }]) })));
    out.append(section("Cost per model (USD)", timeChart({ t: s.t, markers: deployMarkers(s.deploys), series: s.models.filter((m) => m.priced).map((m) => ({ label: m.model, values: m.cost })) })));
  }
  if ((r.models || []).length) out.append(section("Models", table(Object.keys(r.models[0]).filter((k) => !["finish_reasons", "span_ids"].includes(k)).map((k) => [k, (m) => typeof m[k] === "object" && m[k] ? JSON.stringify(m[k]) : (m[k] ?? "")]).concat([["evidence", (m) => (m.span_ids || []).map((x) => eidLink(x))]]), r.models)));
  if ((r.tools || []).length) out.append(section("Tools", table([["tool", (x) => el("span", { class: "qt" }, x.tool ?? x.name ?? "")], ["calls", (x) => x.calls], ["errors", (x) => x.errors ?? ""], ["p95", (x) => fmtMs(x.p95_ms)], ["evidence", (x) => (x.span_ids || []).map((i) => eidLink(i))]], r.tools)));
  try {
    const pr = await op("agent_problems", { service: query.get("service"), since: query.get("since") });
    const list = pr.problems || [];
    out.append(section("Agent problems (loops, retry storms, token growth, swallowed tool errors)", list.length ? table([["type", (p) => el("strong", {}, p.type)], ["what", (p) => linked(p.summary || p.what || "")], ["evidence", (p) => (p.span_ids || p.evidence || []).slice(0, 6).map((i) => eidLink(i))]], list) : empty("None found.")));
  } catch (e) { out.append(errorBox(e.message)); }
  return out;
}

// ---------- gate / eval ----------

export async function gate(key) {
  if (key) {
    const r = await op("eval_scores", { run_id: key, limit: 500 });
    const scores = (r.scores || []).slice().sort((a, b) => (a.status === "pass") - (b.status === "pass") || (a.trace_id ? 1 : 0) - (b.trace_id ? 1 : 0));
    const failing = scores.filter((x) => x.status !== "pass").length;
    const trc = (t) => (String(t).startsWith("trc_") ? t : `trc_${t}`);
    return el("div", {}, header(`Run ${key}`, `${scores.length} score(s), ${failing} not passing (shown first)`), table([["check", (s) => s.name], ["evaluator", (s) => s.evaluator], ["trace", (s) => s.trace_id ? eidLink(trc(s.trace_id)) : "(whole run)"],
      ["status", (s) => el("span", { class: `status ${s.status}` }, s.status)], ["score", (s) => s.score ?? ""], ["detail", (s) => linked(s.detail || s.error || "")],
      ["evidence", (s) => (Array.isArray(s.evidence) ? s.evidence : []).slice(0, 6).map((i) => eidLink(i))]], scores, { class: "list scores" }));
  }
  const r = await op("web_eval_runs", { limit: 100 });
  const out = el("div", {}, header("Gate and evaluation runs", "run `runbrief gate` (thresholds in runbrief.toml) or `runbrief eval`; each run is recorded here"));
  if (!r.runs.length) return append(out, empty("No gate or eval run recorded yet."));
  out.append(table([["run", (x) => link(`/gate/${enc(x.run_id)}`, x.run_id)], ["kind", (x) => x.kind], ["at", (x) => fmtTime(x.ts)],
    ["status", (x) => el("span", { class: `status ${x.status}` }, x.status)], ["checks", (x) => `${x.checks ?? ""} (${x.failed ?? 0} not passing)`],
    ["scope", (x) => linked(JSON.stringify(x.scope || {}))]], r.runs, { class: "list" }));
  return out;
}

// ---------- logs ----------

export async function logs(key, query) {
  if (key) {
    const l = await op("show", { id: key });
    return el("div", {}, header(el("span", {}, "Log line ", eidLink(l.id)), `${l.service} · ${l.severity || l.severity_inferred || ""} · ${fmtTime(l.ts)}`),
      quote(l.body), el("p", {}, "pattern ", l.pattern_id ? eidLink(l.pattern_id) : "none", l.trace_id ? [" · trace ", eidLink(`trc_${l.trace_id}`)] : null,
        l.span_id ? [" · span ", eidLink(`spn_${l.span_id}`)] : null),
      (l.params || []).length ? el("p", { class: "meta" }, "values: ", l.params.map((p) => [el("code", {}, p), " "])) : null,
      el("h4", {}, "Attributes"), kv(l.attributes));
  }
  const params = { service: query.get("service"), contains: query.get("contains"), severity: query.get("severity"), since: query.get("since"), pattern_id: query.get("pattern_id") };
  const [r, f] = await Promise.all([op("logs", { ...params, limit: 100 }),
    op("web_log_facets", { service: params.service, contains: params.contains, severity: params.severity, since: params.since })]);
  const out = el("div", {}, header("Log search", `${f.total} matching line(s)${r.truncated ? "; newest 100 shown" : ""}`),
    filterForm([["contains", "text", "timeout"], ["service", "service", "all"], ["severity", "min severity", "warn"], ["since", "since", "1h or ISO"], ["pattern_id", "pattern", "pat_…"]], query));
  const facets = el("aside", { class: "facets" }, el("h4", {}, "Patterns"), f.facets.map((x) => {
    const q = new URLSearchParams(location.search);
    q.set("pattern_id", x.pattern_id || "");
    return el("div", { class: `facet${params.pattern_id === x.pattern_id ? " on" : ""}` }, link(`/logs?${q}`, el("span", { class: "n" }, String(x.count)), " ", el("span", { class: "tpl qt" }, x.template || "(none)")), " ", x.pattern_id ? eidLink(x.pattern_id) : null);
  }));
  const lines = (r.logs || []).length ? table([["time", (l) => el("time", {}, fmtTime(l.ts))], ["service", (l) => l.service], ["sev", (l) => l.severity || ""], ["line", (l) => el("span", { class: "qt logline" }, l.body ?? "")],
    ["id", (l) => eidLink(l.id)], ["pattern", (l) => l.pattern_id ? eidLink(l.pattern_id, true) : ""], ["trace", (l) => l.trace_id ? eidLink(`trc_${l.trace_id}`, true) : ""]], r.logs, { class: "list logs" }) : empty("No matching lines.");
  out.append(el("div", { class: "with-facets" }, facets, el("div", { class: "main" }, lines)));
  return out;
}

// ---------- events ----------

export async function events(key, query) {
  if (key) {
    const e = await op("show", { id: key });
    return el("div", {}, header(el("span", {}, "Event ", eidLink(e.id)), `${e.reason || ""} · ${fmtTime(e.ts)}`), quote(e.message), kv(Object.fromEntries(Object.entries(e).filter(([k]) => !["message", "id"].includes(k)))));
  }
  const r = await op("events", { service: query.get("service"), limit: 200 });
  const out = el("div", {}, header("Platform events"), filterForm([["service", "service", "all"]], query));
  if (!(r.events || []).length) return append(out, empty("No platform events."));
  out.append(table([["id", (e) => eidLink(e.id)], ["at", (e) => fmtTime(e.ts)], ["reason", (e) => e.reason || ""], ["object", (e) => `${e.object_kind || ""}/${e.object_name || ""}`],
    ["message", (e) => el("span", { class: "qt" }, e.message || "")], ["service", (e) => e.service || ""]], r.events, { class: "list" }));
  return out;
}

export function tokenForm(rerender) {
  const inp = el("input", { type: "password", name: "token", autocomplete: "off", placeholder: "the server's --token" });
  const f = el("form", { class: "token" }, el("p", {}, "This server needs its token (runbrief serve --token)."), inp, el("button", { type: "submit" }, "use token"));
  f.addEventListener("submit", (e) => { e.preventDefault(); sessionStorage.setItem("runbrief.token", inp.value.trim()); rerender(); });
  return f;
}

export { ApiError };
