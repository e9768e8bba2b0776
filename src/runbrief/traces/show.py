"""One trace as an indented span tree with the logs it wrote, bounded for large traces.

A trace of 20 spans is shown whole. A larger one is cut to ``budget`` spans chosen in
this order: failed spans, the spans on the critical path (biggest contribution first),
then the slowest by self time, then the rest in tree order, shallow first. A chosen span
brings its ancestors so the tree stays connected; each shown span says how many of its
children were left out, and the result says how many spans were left out in all.
"""

from __future__ import annotations

from typing import Any

from runbrief.queries import fmt_ts
from runbrief.traces import critical
from runbrief.traces.summary import exceptions, iso, key_attributes, trace_header
from runbrief.traces.tree import Node, Trace

__all__ = ["show_trace"]

_MS = 1e6


def _select(trace: Trace, budget: int, on_path: dict[int, int]) -> set[int]:
    spans = list(trace.nodes.values())
    if len(spans) <= budget:
        return {id(n) for n in spans}
    chosen: set[int] = set()

    def take(n: Node) -> None:
        chain = []
        p: Node | None = n
        while p is not None and not p.virtual and id(p) not in chosen:
            chain.append(p)
            p = p.parent
        if len(chosen) + len(chain) <= budget:
            chosen.update(id(x) for x in chain)

    by_id = {id(n): n for n in spans}
    for n in spans:
        if n.is_error:
            take(n)
    for key in sorted(on_path, key=lambda k: -on_path[k]):
        if key in by_id:
            take(by_id[key])
    for n in sorted(spans, key=lambda n: -n.self_ns)[: budget]:
        take(n)
    for n in sorted(spans, key=lambda n: (n.depth, n.start)):
        if len(chosen) >= budget:
            break
        take(n)
    return chosen


def _logs(store: Any, trace: Trace, limit: int) -> tuple[dict[str, list[dict[str, Any]]], int]:
    rows = store.query(
        """SELECT id, ts, severity_text, severity_inferred, body, span_id, service FROM logs
           WHERE trace_id = ? ORDER BY ts, id LIMIT ?""",
        [trace.trace_id, limit + 1],
    )
    total = len(rows) if len(rows) <= limit else int(
        store.scalar("SELECT count(*) FROM logs WHERE trace_id = ?", [trace.trace_id]))
    by_span: dict[str, list[dict[str, Any]]] = {}
    for r in rows[:limit]:
        key = r["span_id"] if r["span_id"] in trace.nodes else ""
        by_span.setdefault(key, []).append({
            "id": f"log_{r['id']}",
            "ts": fmt_ts(r["ts"]),
            "severity": r["severity_text"] or r["severity_inferred"] or "",
            "service": r["service"],
            "body": (r["body"] or "")[:500],
        })
    return by_span, total - min(total, limit)


def show_trace(store: Any, trace: Trace, budget: int = 100, logs_limit: int = 100) -> dict[str, Any]:
    budget = max(1, int(budget))
    path = critical.by_span(critical.critical_path(trace))
    on_path = {id(n): ns for n, _, ns in path}
    chosen = _select(trace, budget, on_path)
    logs, logs_left = _logs(store, trace, max(0, int(logs_limit)))
    rows: list[dict[str, Any]] = []
    for n in trace.walk():
        if n.virtual or id(n) not in chosen:
            continue
        hidden = sum(1 for c in n.children if id(c) not in chosen)
        row: dict[str, Any] = {
            "span_id": f"spn_{n.span_id}",
            "parent_span_id": f"spn_{n.parent_id}" if n.parent_id else None,
            "depth": n.depth - (1 if trace.root.virtual else 0),
            "name": n.name,
            "service": n.service,
            "span_kind": n.kind,
            "kind": n.desc.category,
            "offset_ms": round((n.start - trace.start) / _MS, 3),
            "duration_ms": round(n.duration_ns / _MS, 3),
            "self_ms": round(n.self_ns / _MS, 3),
            "status": n.status,
            "critical": id(n) in on_path,
            "attributes": key_attributes(n),
        }
        if n.status_message:
            row["status_message"] = n.status_message[:300]
        if exc := exceptions(n):
            row["exceptions"] = exc
        if n.span_id in logs:
            row["logs"] = logs[n.span_id]
        if hidden:
            row["hidden_children"] = hidden
        if n.shift:
            row["clock_shift_ms"] = round(n.shift / _MS, 3)
        rows.append(row)
    return {
        **trace_header(trace),
        "tree": rows,
        "trace_logs": logs.get("", []),
        "omitted": {"spans": len(trace.nodes) - len(rows), "logs": logs_left},
        "integrity": [{**i, "span_ids": [f"spn_{s}" for s in i["span_ids"][:20]]} for i in trace.issues],
        "start": iso(trace.start),
    }
