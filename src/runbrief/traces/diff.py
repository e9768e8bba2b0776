"""Before and after: what a change did to a request, span by span.

Either two traces (``a`` before, ``b`` after) or a route's traces on both sides of a
deploy (up to ``sample`` per side, newest first, so one odd request does not decide).
Spans are compared by what they did — service, kind and normalized operation — not by
ID: "SELECT … FROM items WHERE id = ?" ran 0 times per request before and 23 after is a
new N+1 whatever the span IDs. Reported: operations new and gone, operations whose count
per request or duration changed, time per kind on the critical path (medians), and the
problems found after that were not found before.
"""

from __future__ import annotations

from collections import Counter
from statistics import median
from typing import Any

from runbrief.errors import NotFound, UsageError
from runbrief.queries import fmt_ts, parse_time
from runbrief.traces import critical
from runbrief.traces.detectors import detect
from runbrief.traces.find import span_filters, trace_ids_for
from runbrief.traces.tree import Node, Trace, load, load_many

__all__ = ["diff", "deploy_time"]

_MS = 1e6
Sig = tuple[str, str, str]


def deploy_time(store: Any, deploy: str) -> tuple[Any, dict[str, Any]]:
    """(naive UTC datetime, description) of a deploy ID (dep_…) or a time (ISO, or 2h for 2 hours ago)."""
    if deploy.startswith("dep_"):
        key = deploy[4:]
        rows = store.query("SELECT id, ts, service, version FROM deploys WHERE id = ?", [int(key)]) \
            if key.isdigit() else []
        if not rows:
            raise NotFound(f"no deploy {deploy} in {store.path}; list deploys with `runbrief changes` or pass a time")
        r = rows[0]
        return r["ts"], {"deploy_id": deploy, "ts": fmt_ts(r["ts"]), "service": r["service"], "version": r["version"]}
    ts = parse_time(deploy)
    return ts, {"ts": fmt_ts(ts)}


class _Side:
    """Per-operation counts and durations over one side's traces."""

    def __init__(self, traces: list[Trace]) -> None:
        self.traces = traces
        self.count: Counter[Sig] = Counter()
        self.ns: Counter[Sig] = Counter()
        self.example: dict[Sig, list[Node]] = {}
        self.kinds: dict[str, list[int]] = {}
        self.problems: dict[tuple[str, str], dict[str, Any]] = {}
        for t in traces:
            for n in t.spans():
                sig = (n.service, n.desc.category, n.desc.template)
                self.count[sig] += 1
                self.ns[sig] += n.duration_ns
                ex = self.example.setdefault(sig, [])
                if len(ex) < 3:
                    ex.append(n)
            by_kind = critical.time_by_kind(critical.critical_path(t))
            for k, v in by_kind.items():
                self.kinds.setdefault(k, []).append(v)
            for p in detect(t):
                self.problems.setdefault((p["type"], p["fingerprint"]), {**p, "trace_id": f"trc_{t.trace_id}"})

    def per_trace(self, sig: Sig) -> float:
        return self.count[sig] / max(1, len(self.traces))

    def kind_median(self, kind: str) -> float:
        vals = self.kinds.get(kind, [])
        vals = vals + [0] * (len(self.traces) - len(vals))  # a trace without that kind spent 0 on it
        return median(vals) / _MS if vals else 0.0

    def duration_median(self) -> float:
        return median(t.duration_ns for t in self.traces) / _MS


def _op(sig: Sig, side: _Side) -> dict[str, Any]:
    return {"service": sig[0], "kind": sig[1], "what": sig[2][:200],
            "per_trace": round(side.per_trace(sig), 2),
            "avg_ms": round(side.ns[sig] / side.count[sig] / _MS, 3),
            "span_ids": [f"spn_{n.span_id}" for n in side.example.get(sig, [])]}


def _sides(store: Any, a: str | None, b: str | None, route: str | None, deploy: str | None, service: str | None,
           sample: int) -> tuple[list[Trace], list[Trace], dict[str, Any]]:
    if a and b:
        return [load(store, a)], [load(store, b)], {"mode": "traces", "before": a, "after": b}
    if route and deploy:
        ts, dep = deploy_time(store, deploy)
        w1, a1 = span_filters(service=service, route=route, before=ts)
        w2, a2 = span_filters(service=service, route=route, after=ts)
        before_ids = trace_ids_for(store, w1, a1, sample)
        after_ids = trace_ids_for(store, w2, a2, sample)
        for side, ids_ in (("before", before_ids), ("after", after_ids)):
            if not ids_:
                raise NotFound(f"no trace of route {route!r} {side} {dep['ts']} in {store.path}; "
                               "check the route with `runbrief traces --route`")
        loaded = load_many(store, before_ids + after_ids)
        return ([loaded[i] for i in before_ids if i in loaded], [loaded[i] for i in after_ids if i in loaded],
                {"mode": "deploy", "route": route, "deploy": dep})
    raise UsageError("give two trace IDs (a and b), or a route and a deploy (dep_… or a time), "
                     "e.g. `runbrief trace diff --route /cart --deploy dep_3`")


def diff(store: Any, a: str | None = None, b: str | None = None, route: str | None = None,
         deploy: str | None = None, service: str | None = None, sample: int = 20, budget: int = 20) -> dict[str, Any]:
    sample = max(1, min(int(sample), 500))
    budget = max(1, int(budget))
    before_t, after_t, basis = _sides(store, a, b, route, deploy, service, sample)
    before, after = _Side(before_t), _Side(after_t)
    new = [_op(s, after) for s in after.count if s not in before.count]
    gone = [_op(s, before) for s in before.count if s not in after.count]
    changed = []
    for s in after.count:
        if s not in before.count:
            continue
        n0, n1 = before.per_trace(s), after.per_trace(s)
        d0 = before.ns[s] / before.count[s] / _MS
        d1 = after.ns[s] / after.count[s] / _MS
        count_shift = abs(n1 - n0) >= 1 and (n1 >= 1.5 * n0 or n1 <= n0 / 1.5)
        time_shift = abs(d1 - d0) >= 5 and (d1 >= 1.5 * d0 or d1 <= d0 / 1.5)
        if count_shift or time_shift:
            changed.append({"service": s[0], "kind": s[1], "what": s[2][:200],
                            "per_trace_before": round(n0, 2), "per_trace_after": round(n1, 2),
                            "avg_ms_before": round(d0, 3), "avg_ms_after": round(d1, 3),
                            "impact_ms": round(n1 * d1 - n0 * d0, 3),
                            "span_ids_before": _op(s, before)["span_ids"], "span_ids_after": _op(s, after)["span_ids"]})
    kinds = sorted(set(before.kinds) | set(after.kinds))
    shifts = [{"kind": k, "before_ms": round(before.kind_median(k), 3), "after_ms": round(after.kind_median(k), 3),
               "delta_ms": round(after.kind_median(k) - before.kind_median(k), 3)} for k in kinds]
    shifts.sort(key=lambda s: -abs(s["delta_ms"]))
    new_problems = [p for key, p in after.problems.items() if key not in before.problems]
    resolved = [p for key, p in before.problems.items() if key not in after.problems]
    new.sort(key=lambda o: -o["per_trace"] * o["avg_ms"])
    gone.sort(key=lambda o: -o["per_trace"] * o["avg_ms"])
    changed.sort(key=lambda c: -abs(c["impact_ms"]))
    d0, d1 = before.duration_median(), after.duration_median()
    return {
        **basis,
        "traces_before": [f"trc_{t.trace_id}" for t in before_t][:budget],
        "traces_after": [f"trc_{t.trace_id}" for t in after_t][:budget],
        "duration_ms": {"before": round(d0, 3), "after": round(d1, 3), "delta": round(d1 - d0, 3)},
        "headline": (f"median {d0:.0f} → {d1:.0f} ms; {len(new)} new and {len(gone)} gone operation(s), "
                     f"{len(changed)} changed; {len(new_problems)} new problem(s)"),
        "new_spans": new[:budget],
        "gone_spans": gone[:budget],
        "changed": changed[:budget],
        "kind_shifts": shifts,
        "new_problems": [_problem_brief(p) for p in new_problems[:budget]],
        "resolved_problems": [_problem_brief(p) for p in resolved[:budget]],
        "omitted": {"new_spans": max(0, len(new) - budget), "gone_spans": max(0, len(gone) - budget),
                    "changed": max(0, len(changed) - budget),
                    "new_problems": max(0, len(new_problems) - budget)},
    }


def _problem_brief(p: dict[str, Any]) -> dict[str, Any]:
    return {"type": p["type"], "what": p["what"], "count": p["count"], "time_ms": p["time_ms"],
            "trace_id": p["trace_id"], "span_ids": p["span_ids"][:10], "parent": p["parent"], "cause": p["cause"]}
