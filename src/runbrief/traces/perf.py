"""Performance problems across many traces, by route and type: how often, how costly.

One trace says "this request did 23 queries"; the aggregate says "every /cart request
does, costing 9.4 s in the last hour". Runs the single-trace detectors over the latest
``limit`` traces that match (loaded in one query) and rolls the results up by the
route the trace served and the problem type, keeping the statements behind each and an
example trace with its span IDs so every figure can be checked.
"""

from __future__ import annotations

from typing import Any

from runbrief.traces.detectors import detect
from runbrief.traces.find import span_filters, trace_ids_for
from runbrief.traces.tree import Trace, load_many

__all__ = ["perf", "trace_route"]


def trace_route(trace: Trace) -> str:
    """The route a trace served: its root's route or name, else the first span that has a route."""
    root = trace.root
    if not root.virtual:
        return root.route or root.name
    for n in trace.walk():
        if n.route:
            return n.route
    return root.children[0].name if root.children else "(unknown)"


def perf(store: Any, service: str | None = None, route: str | None = None, since: str | None = None,
         limit: int = 200, budget: int = 20) -> dict[str, Any]:
    limit = max(1, min(int(limit), 5000))
    where, args = span_filters(service=service, route=route, since=since)
    ids = trace_ids_for(store, where, args, limit)
    traces = load_many(store, ids)
    examined: dict[str, int] = {}
    groups: dict[tuple[str, str], dict[str, Any]] = {}
    for tid in ids:  # newest first: the first example kept is the latest
        trace = traces.get(tid)
        if trace is None:
            continue
        r = trace_route(trace)
        examined[r] = examined.get(r, 0) + 1
        for p in detect(trace):
            g = groups.setdefault((r, p["type"]), {"route": r, "type": p["type"], "traces": set(), "occurrences": 0,
                                                   "total_ms": 0.0, "examples": {}})
            g["traces"].add(tid)
            g["occurrences"] += 1
            g["total_ms"] += p["time_ms"]
            ex = g["examples"].setdefault(p["fingerprint"], {
                "what": p["what"], "occurrences": 0, "time_ms": 0.0, "latest_trace_id": f"trc_{tid}",
                "span_ids": p["span_ids"][:5], "parent_name": p["parent_name"]})
            ex["occurrences"] += 1
            ex["time_ms"] += p["time_ms"]
    rows = []
    for g in groups.values():
        n = len(g["traces"])
        examples = sorted(g["examples"].values(), key=lambda e: -e["time_ms"])
        for e in examples:
            e["time_ms"] = round(e["time_ms"], 3)
        rows.append({
            "route": g["route"],
            "type": g["type"],
            "traces_affected": n,
            "traces_examined": examined[g["route"]],
            "frequency": round(n / examined[g["route"]], 3),
            "occurrences": g["occurrences"],
            "total_time_ms": round(g["total_ms"], 3),
            "avg_time_ms_per_trace": round(g["total_ms"] / n, 3),
            "examples": examples[:3],
            "examples_omitted": max(0, len(examples) - 3),
        })
    rows.sort(key=lambda r: -r["total_time_ms"])
    budget = max(1, int(budget))
    return {
        "traces_examined": len(traces),
        "routes": [{"route": r, "traces": n} for r, n in sorted(examined.items(), key=lambda kv: -kv[1])],
        "problems": rows[:budget],
        "omitted": {"problems": max(0, len(rows) - budget)},
        "filters": {"service": service, "route": route, "since": since, "limit": limit},
    }
