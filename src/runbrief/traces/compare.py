"""Did the code do what the plan said? A trace checked against a plan's steps.

Each step is matched to the spans its references name (see ``plan``); then:

- **missing**: a step with references that no span matches;
- **unexpected**: spans no step accounts for, grouped by what they did. A span above a
  matched span (the request around it) is accounted for, and so is one inside a matched
  span (its implementation) unless that span is an entry point (the root, a SERVER or
  CONSUMER span): "handle `GET /cart`" does not say what the handler does. An
  unexpected span's own subtree is reported with it, as one unit;
- **order**: numbered steps whose first matching span starts before the previous
  numbered step's first span;
- **budget**: a step whose matched spans took longer (wall time, overlaps counted once)
  than its budget, or a trace longer than the plan's overall budget;
- **count**: a step that promises a count ("in one query", "once", "at most 3 calls",
  "never") against the spans it matched: queries count the DB spans among them (or inside
  them, for a step that names a function or route), calls the matched spans not nested in
  another one. A "never" step that matches nothing is kept, not missing;
- **unverifiable**: steps with nothing to match on, said so rather than guessed.
"""

from __future__ import annotations

import re
from typing import Any

from runbrief.traces.plan import Plan, Ref, Step
from runbrief.traces.sqlnorm import normalize_sql, sql_tables, sql_verb
from runbrief.traces.tree import Node, Trace

__all__ = ["compare", "matches"]

_MS = 1e6
_ENTRY_KINDS = ("SERVER", "CONSUMER")
_PARAM_SEG = re.compile(r"^(?:\{[^}]*\}|:\w+|<[^>]*>|\*|\d+|[0-9a-fA-F-]{16,})$")


def _route_eq(plan_route: str, got: str) -> bool:
    a = [s for s in plan_route.split("?")[0].strip("/").split("/")]
    b = [s for s in got.split("?")[0].strip("/").split("/")]
    if len(a) != len(b):
        return False
    return all(x == y or _PARAM_SEG.match(x) or (_PARAM_SEG.match(y) and _PARAM_SEG.match(x)) or
               (_PARAM_SEG.match(y) and y.startswith(("{", ":", "<"))) for x, y in zip(a, b, strict=True))


def _fn_names(n: Node) -> list[str]:
    a = n.attrs
    out = [str(a[k]) for k in ("code.function", "code.function.name") if a.get(k)]
    if a.get("code.namespace") and a.get("code.function"):
        out.append(f"{a['code.namespace']}.{a['code.function']}")
    out.append(n.name)
    return out


def _word_in(needle: str, hay: str) -> bool:
    return re.search(r"(?<![\w])" + re.escape(needle) + r"(?![\w])", hay, re.I) is not None


def matches(ref: Ref, n: Node) -> bool:
    a = n.attrs
    k, v = ref.kind, ref.value
    if k == "route":
        method = str(a.get("http.request.method") or a.get("http.method") or "").upper()
        if ref.method and method and method != ref.method:
            return n.name.upper() == f"{ref.method} {v}".upper()
        cands = [n.route, str(a.get("url.path") or ""), n.name.split(" ", 1)[-1] if " /" in n.name else n.name]
        return any(c and _route_eq(v, c) for c in cands)
    if k == "url":
        url = str(a.get("url.full") or a.get("http.url") or "")
        return bool(url) and (url.startswith(v) or _route_eq(v.split("://", 1)[-1], url.split("://", 1)[-1]))
    if k == "function":
        short = v.rsplit(".", 1)[-1]
        return any(f in (v, short) or f.endswith("." + v) or f.endswith("." + short) or _word_in(v, f)
                   for f in _fn_names(n))
    if k == "file":
        path = str(a.get("code.filepath") or a.get("code.file.path") or "")
        return bool(path) and (path.endswith(v) or path.endswith("/" + v.lstrip("./")))
    if k == "sql":
        if n.desc.category != "db":
            return False
        if normalize_sql(v).lower() == n.desc.template.lower():
            return True
        want = set(sql_tables(v))
        return bool(want) and want <= set(n.desc.tables) and sql_verb(v) == sql_verb(n.desc.raw)
    if k == "table":
        return v.lower() in n.desc.tables or str(a.get("db.collection.name") or "").lower() == v.lower()
    if k == "service":
        return n.service == v
    if k == "queue":
        return str(a.get("messaging.destination.name") or "") == v
    # A bare name: whatever it can be.
    low = v.lower()
    return (low in n.desc.tables or n.service == v or n.name.lower() == low or _word_in(v, n.name)
            or any(f == v or f.endswith("." + v) for f in _fn_names(n))
            or str(a.get("messaging.destination.name") or "") == v
            or str(a.get("db.collection.name") or "").lower() == low)


def _step_spans(step: Step, spans: list[Node]) -> list[Node]:
    if step.refs:
        return [n for n in spans if any(matches(r, n) for r in step.refs)]
    if step.kinds:
        return [n for n in spans if n.desc.category in step.kinds]
    return []


def _wall(spans: list[Node]) -> int:
    total, cur_s, cur_e = 0, -1, -1
    for s in sorted(spans, key=lambda x: x.start):
        if s.start >= cur_e:
            total += max(0, cur_e - cur_s)
            cur_s, cur_e = s.start, s.end
        else:
            cur_e = max(cur_e, s.end)
    return total + max(0, cur_e - cur_s)


def _ids(spans: list[Node], cap: int) -> list[str]:
    return [f"spn_{s.span_id}" for s in spans[:cap]]


def compare(trace: Trace, plan: Plan, budget: int = 20) -> dict[str, Any]:
    budget = max(1, int(budget))
    spans = sorted(trace.nodes.values(), key=lambda n: n.start)
    matched: list[tuple[Step, list[Node]]] = []
    missing, unverifiable, budget_viol, order_viol, count_viol = [], [], [], [], []
    counted: list[dict[str, Any]] = []
    covered: set[int] = set()
    for step in plan.steps:
        found = _step_spans(step, spans)
        if not step.refs and not step.kinds:
            unverifiable.append({**step.cite(), "why": "no backticked reference, budget target or kind word to match"})
            continue
        if step.max_count is not None:
            units = _counted(step, found)
            entry = {**step.cite(), "promised": step.count_phrase, "limit": step.max_count,
                     "unit": step.count_unit, "actual": len(units), "span_ids": _ids(units, 10)}
            counted.append(entry)
            if len(units) > step.max_count:
                count_viol.append(entry)
            if not found:
                continue  # a "never" step that nothing matched: kept, not missing
        if not found:
            missing.append({**step.cite(), "looked_for": [f"{r.kind} {r.method + ' ' if r.method else ''}{r.value}"
                                                          for r in step.refs] or step.kinds,
                            "weak": not step.refs})
            continue
        matched.append((step, found))
        covered.update(id(n) for n in found)
        if step.budget_ms is not None and (wall := _wall(found)) / _MS > step.budget_ms:
            budget_viol.append({**step.cite(), "budget_ms": step.budget_ms, "actual_ms": round(wall / _MS, 3),
                                "span_ids": _ids(found, 10), "spans_matched": len(found)})
    if plan.total_budget_ms is not None and trace.duration_ns / _MS > plan.total_budget_ms:
        budget_viol.append({"line": plan.total_budget_line, "step": "(whole trace)", "budget_ms": plan.total_budget_ms,
                            "actual_ms": round(trace.duration_ns / _MS, 3),
                            "span_ids": [f"spn_{trace.root.span_id}"] if not trace.root.virtual else []})
    prev: tuple[Step, Node] | None = None
    for step, found in matched:
        if not step.ordered:
            continue
        first = found[0]
        if prev is not None and prev[0].list_id == step.list_id and first.start < prev[1].start:
            order_viol.append({**step.cite(), "expected_after": prev[0].cite(),
                               "span_ids": [f"spn_{first.span_id}", f"spn_{prev[1].span_id}"],
                               "detail": f"starts {(prev[1].start - first.start) / _MS:.1f} ms before the previous step"})
        if prev is None or prev[0].list_id != step.list_id or first.start >= prev[1].start:
            prev = (step, first)
    unexpected = _unexpected(trace, covered)
    n_steps = len(plan.steps)
    return {
        "trace_id": f"trc_{trace.trace_id}",
        "duration_ms": round(trace.duration_ns / _MS, 3),
        "headline": (f"{len(matched)} of {n_steps} steps found in the trace; {len(missing)} missing, "
                     f"{len(unexpected)} group(s) of unexpected spans, {len(order_viol)} out of order, "
                     f"{len(budget_viol)} over budget"
                     + (f", {len(count_viol)} over their promised count" if count_viol else "")
                     + (f", {len(unverifiable)} unverifiable" if unverifiable else "")),
        "steps": [{**s.cite(), "span_ids": _ids(f, 5), "spans_matched": len(f),
                   "offset_ms": round((f[0].start - trace.start) / _MS, 3), "wall_ms": round(_wall(f) / _MS, 3)}
                  for s, f in matched][:budget],
        "missing": missing[:budget],
        "unexpected": unexpected[:budget],
        "order_violations": order_viol[:budget],
        "budget_violations": budget_viol[:budget],
        "count_violations": count_viol[:budget],
        "counts": counted[:budget],
        "unverifiable": unverifiable[:budget],
        "integrity": [{"type": i["type"], "detail": i["detail"]} for i in trace.issues],
        "omitted": {k: max(0, len(v) - budget) for k, v in (("steps", matched), ("missing", missing),
                                                             ("unexpected", unexpected), ("order_violations", order_viol),
                                                             ("budget_violations", budget_viol),
                                                             ("count_violations", count_viol))},
    }


def _counted(step: Step, found: list[Node]) -> list[Node]:
    """What a step's promised count is measured on, in start order."""
    ids = {id(n) for n in found}
    if step.count_unit == "query":
        db = [n for n in found if n.desc.category == "db"]
        if not db:  # "load the cart (`load_cart()`) in one query": the queries inside it
            stack = [c for n in found for c in n.children]
            while stack:
                n = stack.pop()
                if n.desc.category == "db":
                    db.append(n)
                stack.extend(n.children)
        return sorted({id(n): n for n in db}.values(), key=lambda n: n.start)

    def nested(n: Node) -> bool:
        p = n.parent
        while p is not None:
            if id(p) in ids:
                return True
            p = p.parent
        return False

    return [n for n in found if not nested(n)]


def _unexpected(trace: Trace, covered: set[int]) -> list[dict[str, Any]]:
    """Top-most spans outside every matched subtree and not above one, grouped by what they did."""
    above: set[int] = set()
    for n in trace.nodes.values():
        if id(n) in covered:
            p = n.parent
            while p is not None and id(p) not in above:
                above.add(id(p))
                p = p.parent
    groups: dict[tuple[str, str, str], list[Node]] = {}
    stack = [trace.root]
    while stack:
        n = stack.pop()
        if id(n) in covered:
            if n.kind not in _ENTRY_KINDS and n.parent is not None:
                continue  # its subtree is the step's implementation
            stack.extend(n.children)  # "handle GET /cart" does not say what the handler does
            continue
        if not n.virtual and id(n) not in above:
            groups.setdefault((n.service, n.desc.category, n.desc.template), []).append(n)
            continue  # its subtree belongs to it: one unexpected unit
        stack.extend(n.children)
    out = [{"what": k[2][:200], "service": k[0], "kind": k[1], "count": len(g),
            "total_ms": round(sum(x.duration_ns for x in g) / _MS, 3),
            "span_ids": _ids(sorted(g, key=lambda x: x.start), 5)} for k, g in groups.items()]
    out.sort(key=lambda g: -g["total_ms"])
    return out
