"""A trace in a few hundred tokens: where the time went, what failed, what is wrong.

Everything is cited with span IDs and every list is cut to ``budget`` items with the rest
counted, so an agent gets the same bounded answer for a 10-span trace and a 50,000-span
one.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from runbrief.traces import critical
from runbrief.traces.detectors import DEFAULT, Thresholds, detect
from runbrief.traces.tree import Node, Trace

__all__ = ["summarize", "span_brief", "iso", "exceptions", "trace_header", "key_attributes"]

_MS = 1e6
_KEY_ATTRS = (
    "http.route", "http.request.method", "http.method", "http.response.status_code", "http.status_code",
    "url.full", "http.url", "url.path", "server.address", "db.system.name", "db.system", "db.query.text",
    "db.statement", "db.operation.name", "db.collection.name", "db.response.returned_rows", "rpc.method",
    "messaging.destination.name", "gen_ai.request.model", "code.function", "code.function.name",
    "code.namespace", "code.filepath", "code.file.path", "code.lineno", "code.line.number", "error.type",
)


def iso(ns: int) -> str:
    return datetime.fromtimestamp(ns / 1e9, UTC).replace(tzinfo=None).isoformat(timespec="milliseconds") + "Z"


def key_attributes(node: Node, limit: int = 400) -> dict[str, Any]:
    """The attributes that say what a span did; long values cut (they are data, not instructions)."""
    out: dict[str, Any] = {}
    for k in _KEY_ATTRS:
        v = node.attrs.get(k)
        if v is not None and v != "":
            out[k] = v[:limit] + "…" if isinstance(v, str) and len(v) > limit else v
    return out


def exceptions(node: Node, limit: int = 3) -> list[dict[str, Any]]:
    out = []
    for e in node.events:
        if e.get("name") == "exception":
            a = e.get("attributes") or {}
            out.append({"type": a.get("exception.type", ""), "message": str(a.get("exception.message", ""))[:300]})
            if len(out) >= limit:
                break
    return out


def span_brief(node: Node) -> dict[str, Any]:
    out = {
        "span_id": f"spn_{node.span_id}",
        "name": node.name,
        "service": node.service,
        "kind": node.desc.category,
        "duration_ms": round(node.duration_ns / _MS, 3),
        "self_ms": round(node.self_ns / _MS, 3),
    }
    if node.desc.template != node.name:  # "SELECT" says little; the statement says what
        out["what"] = node.desc.template[:160]
    return out


def trace_header(trace: Trace) -> dict[str, Any]:
    root = trace.root
    real_root = root if not root.virtual else None
    services = sorted({n.service for n in trace.nodes.values()})
    return {
        "trace_id": f"trc_{trace.trace_id}",
        "root": {"span_id": f"spn_{root.span_id}", "name": root.name, "service": root.service,
                 "route": root.route or None, "status": root.status} if real_root else None,
        "start": iso(trace.start),
        "duration_ms": round(trace.duration_ns / _MS, 3),
        "spans": len(trace.nodes),
        "services": services,
        "failed_spans": sum(1 for n in trace.nodes.values() if n.is_error),
    }


def _cut(items: list[Any], budget: int) -> tuple[list[Any], int]:
    return items[:budget], max(0, len(items) - budget)


def summarize(trace: Trace, budget: int = 10, thresholds: Thresholds = DEFAULT) -> dict[str, Any]:
    budget = max(1, int(budget))
    total = trace.duration_ns or 1
    segments = critical.critical_path(trace)
    path = critical.by_span(segments)
    kinds = critical.time_by_kind(segments)
    kind_spans: dict[str, set[int]] = {}
    for node, _, _ in path:
        kind_spans.setdefault(node.desc.category, set()).add(id(node))
    time_by_kind = [
        {"kind": k, "ms": round(ns / _MS, 3), "share": round(ns / total, 3), "spans": len(kind_spans.get(k, ()))}
        for k, ns in sorted(kinds.items(), key=lambda kv: -kv[1])
    ]
    time_by_service = [{"service": k, "ms": round(ns / _MS, 3), "share": round(ns / total, 3)}
                       for k, ns in critical.time_by_service(segments).items()]
    # Critical path: the biggest contributors, shown in path order.
    ranked = sorted(path, key=lambda e: -e[2])
    shown_ids = {id(e[0]) for e in ranked[:budget]}
    crit = [
        {**(span_brief(n) if not n.virtual else {"span_id": None, "name": n.name, "kind": "uninstrumented"}),
         "on_path_ms": round(ns / _MS, 3), "offset_ms": round((start - trace.start) / _MS, 3)}
        for n, start, ns in path if id(n) in shown_ids
    ]
    left = ranked[budget:]
    spans = list(trace.nodes.values())
    slowest = sorted((n for n in spans if n is not trace.root), key=lambda n: -n.self_ns)[:budget]
    errors_all = [n for n in sorted(spans, key=lambda n: n.start) if n.is_error]
    errors, errors_left = _cut(errors_all, budget)
    problems_all = detect(trace, thresholds)
    problems, problems_left = _cut(problems_all, budget)
    id_cap = max(budget, 10)
    problems = [_cap_ids(p, id_cap) for p in problems]
    issues, issues_left = _cut(trace.issues, budget)
    out: dict[str, Any] = {
        **trace_header(trace),
        "headline": _headline(trace, time_by_kind, problems_all, len(errors_all)),
        "time_by_kind": time_by_kind,
        "time_by_service": time_by_service,
        "critical_path": crit,
        "slowest_spans": [span_brief(n) for n in slowest],
        "errors": [{**span_brief(n), "status_message": n.status_message or None, "exceptions": exceptions(n)}
                   for n in errors],
        "problems": problems,
        "integrity": [_cap_ids({**i, "span_ids": [f"spn_{s}" for s in i["span_ids"]]}, id_cap) for i in issues],
        "omitted": {
            "critical_path_spans": len(left),
            "critical_path_ms": round(sum(e[2] for e in left) / _MS, 3),
            "errors": errors_left,
            "problems": problems_left,
            "integrity": issues_left,
        },
        "budget": budget,
    }
    return out


def _cap_ids(item: dict[str, Any], cap: int) -> dict[str, Any]:
    ids = item.get("span_ids") or []
    if len(ids) > cap:
        item = {**item, "span_ids": ids[:cap], "span_ids_omitted": len(ids) - cap}
    return item


def _headline(trace: Trace, kinds: list[dict[str, Any]], problems: list[dict[str, Any]], errors: int) -> str:
    parts = [f"{trace.duration_ns / _MS:.0f} ms"]
    if kinds:
        top = kinds[0]
        parts.append(f"{top['ms']:.0f} ms ({top['share']:.0%}) of the critical path in {top['kind']}")
    if problems:
        p = problems[0]
        more = f" and {len(problems) - 1} more problem(s)" if len(problems) > 1 else ""
        parts.append(f"{p['type']}: {p['count']}× {p['what'][:80]!r} ({p['time_ms']:.0f} ms){more}")
    if errors:
        parts.append(f"{errors} failed span(s)")
    if trace.issues:
        parts.append("broken trace: " + ", ".join(i["type"] for i in trace.issues))
    return "; ".join(parts)
