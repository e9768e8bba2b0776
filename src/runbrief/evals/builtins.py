"""The built-in evaluators. Each documents its parameters in ``SCHEMAS`` (checked against
the config before anything runs, so a typo is reported with its line) and returns a
``Result`` citing the spans or traces it rests on. Budgets and latencies are written as
expressions of ``expr`` where they can be, so a check and a hand-written assertion agree.
"""

from __future__ import annotations

import fnmatch
from pathlib import Path
from typing import Any

from runbrief import ops
from runbrief.errors import RunbriefError
from runbrief.evals import expr
from runbrief.evals.evaluators import EvalContext, Result, builtin

__all__ = ["SCHEMAS", "REQUIRED"]

NUM = (int, float)
# name -> {param: accepted types}; "one of" requirements in REQUIRED.
SCHEMAS: dict[str, dict[str, tuple[type, ...]]] = {
    "assert": {"expr": (str,)},
    "latency": {"span": (str,), "route": (str,), "service": (str,), "max_ms": NUM, "p50_ms": NUM, "p90_ms": NUM,
                "p95_ms": NUM, "p99_ms": NUM},
    "error_free": {"service": (str,), "ignore": (list,)},
    "no_loops": {"types": (list,)},
    "token_budget": {"max_per_trace": NUM, "max_total": NUM, "max_per_call": NUM},
    "cost_budget": {"max_per_trace": NUM, "max_total": NUM},
    "tool_success_rate": {"min": NUM, "tool": (str,)},
    "plan_adherence": {"plan": (str,), "route": (str,), "max_missing": NUM, "max_order_violations": NUM,
                       "max_budget_violations": NUM},
}
REQUIRED: dict[str, list[tuple[str, ...]]] = {
    "assert": [("expr",)],
    "latency": [("span", "route", "service"), ("max_ms", "p50_ms", "p90_ms", "p95_ms", "p99_ms")],
    "token_budget": [("max_per_trace", "max_total", "max_per_call")],
    "cost_budget": [("max_per_trace", "max_total")],
    "plan_adherence": [("plan",)],
}


def _q(s: str) -> str:
    return '"' + s.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _combine(ctx: EvalContext, checks: list[str], score_of: int = 0) -> Result:
    outcomes = [expr.evaluate(c, ctx.data) for c in checks]
    failed = [(c, o) for c, o in zip(checks, outcomes, strict=True) if not o.ok]
    shown = failed or list(zip(checks, outcomes, strict=True))
    detail = "; ".join(f"{c} → {o.detail}" for c, o in shown)
    evidence = [e for _, o in shown for e in o.evidence]
    return Result(not failed, outcomes[score_of].value if outcomes else None, detail, list(dict.fromkeys(evidence)),
                  applicable=any(o.applicable for o in outcomes))


@builtin("assert")
def assert_(ctx: EvalContext) -> Result:
    """An assertion in the expression language (``expr``)."""
    return _combine(ctx, [ctx.params["expr"]])


@builtin("latency")
def latency(ctx: EvalContext) -> Result:
    """Latency budget for spans by name, route or service: max_ms (every span), pNN_ms."""
    p = ctx.params
    sel = next(f"{k}({_q(p[k])})" for k in ("span", "route", "service") if p.get(k))
    checks = []
    if p.get("max_ms") is not None:
        checks.append(f"{sel}.duration <= {p['max_ms']}")
    for q in ("p50", "p90", "p95", "p99"):
        if p.get(f"{q}_ms") is not None:
            checks.append(f"{q}({sel}.duration) <= {p[f'{q}_ms']}")
    return _combine(ctx, checks)


@builtin("error_free")
def error_free(ctx: EvalContext) -> Result:
    """No span ended with an error (optionally one service's; ``ignore`` takes name globs)."""
    ignore = [str(g) for g in ctx.params.get("ignore", [])]
    service = ctx.params.get("service")
    errs = [s for s in ctx.spans if s["error"] and (not service or s["service"] == service)
            and not any(fnmatch.fnmatchcase(s["name"], g) for g in ignore)]
    if not errs:
        return Result(True, 0.0, f"no error spans in {len(ctx.traces)} trace(s)")
    names = sorted({s["name"] for s in errs})
    return Result(False, float(len(errs)), f"{len(errs)} error span(s): {', '.join(names[:5])}",
                  [s["id"] for s in errs[:10]])


@builtin("no_loops")
def no_loops(ctx: EvalContext) -> Result:
    """No tool-call loops or retry storms (``types`` picks other agent problems)."""
    types = [str(t) for t in ctx.params.get("types", ["tool_loop", "retry_storm"])]
    found = [p for p in ctx.problems() if p["type"] in types]
    if not found:
        return Result(True, 0.0, f"no {' or '.join(types)} found")
    return Result(False, float(len(found)), "; ".join(p["summary"] for p in found[:3]),
                  list(dict.fromkeys(e for p in found for e in p["span_ids"][:5]))[:20])


def _budget(ctx: EvalContext, field: str, unit: str) -> Result:
    p = ctx.params
    fn = "tokens" if field == "total_tokens" else "cost"
    checks = []
    if p.get("max_total") is not None:
        checks.append(f"{fn}() <= {p['max_total']}")
    if p.get("max_per_trace") is not None:
        checks.append(f"traces().{'tokens' if fn == 'tokens' else 'cost'} <= {p['max_per_trace']}")
    if p.get("max_per_call") is not None:
        checks.append(f"models().tokens <= {p['max_per_call']}")
    res = _combine(ctx, checks)
    total = sum((c[field] or 0) for c in ctx.calls if c["kind"] == "model")
    res.score = float(total)
    res.detail = f"total {total:.6g} {unit}; " + res.detail
    return res


@builtin("token_budget")
def token_budget(ctx: EvalContext) -> Result:
    """Tokens within budget: max_total (run), max_per_trace, max_per_call."""
    return _budget(ctx, "total_tokens", "tokens")


@builtin("cost_budget")
def cost_budget(ctx: EvalContext) -> Result:
    """Cost (USD, from the price table) within budget: max_total, max_per_trace."""
    return _budget(ctx, "cost", "USD")


@builtin("tool_success_rate")
def tool_success_rate(ctx: EvalContext) -> Result:
    """Share of tool calls that succeeded, at least ``min`` (default 0.9)."""
    lo = float(ctx.params.get("min", 0.9))
    pattern = ctx.params.get("tool", "*")
    tools = [c for c in ctx.calls if c["kind"] == "tool" and fnmatch.fnmatchcase(c["tool_name"] or "", pattern)]
    if not tools:
        return Result(True, None, "no tool calls", applicable=False)
    failed = [c for c in tools if c["error"]]
    rate = 1 - len(failed) / len(tools)
    return Result(rate >= lo, rate, f"{len(tools) - len(failed)} of {len(tools)} tool calls succeeded "
                  f"({rate:.1%}, want >= {lo:.1%})", [c["id"] for c in failed[:10]])


@builtin("plan_adherence")
def plan_adherence(ctx: EvalContext) -> Result:
    """Traces follow a plan document (via the ``trace_compare`` operation): no missing steps,
    order or budget violations beyond the allowed counts."""
    p = ctx.params
    plan = Path(p["plan"])
    plan = plan if plan.is_absolute() else ctx.base_dir / plan
    try:
        ops.get("trace_compare")
    except RunbriefError:
        return Result(None, error="plan comparison (operation trace_compare) is not available in this build")
    traces = [t for t in ctx.traces if not p.get("route") or fnmatch.fnmatchcase(t["route"] or "", p["route"])]
    if not traces:
        return Result(False, None, "no trace to compare with the plan")
    limits = {"missing": p.get("max_missing", 0), "order_violations": p.get("max_order_violations", 0),
              "budget_violations": p.get("max_budget_violations", 0)}
    bad, evidence, scores = [], [], []
    for t in traces:
        report = ops.run(ctx.store, "trace_compare", {"id": t["id"], "plan": str(plan), "budget": 1000})
        counts = {k: len(_items(report, k)) for k in limits}
        steps = max(1, len(_items(report, "steps")) + counts["missing"])
        scores.append(1 - min(1.0, counts["missing"] / steps))
        over = {k: v for k, v in counts.items() if v > limits[k]}
        if over:
            lines = [f"line {i.get('line')}: {i.get('step', '')[:60]}" for k in over for i in _items(report, k)[:2]]
            bad.append(f"{t['id']}: " + ", ".join(f"{v} {k.replace('_', ' ')}" for k, v in over.items())
                       + (f" ({'; '.join(lines)})" if lines else ""))
            for k in over:
                evidence += [e for item in _items(report, k) for e in _ids(item)]
            evidence.append(t["id"])
    score = sum(scores) / len(scores)
    if bad:
        return Result(False, score, "; ".join(bad[:5]), list(dict.fromkeys(evidence))[:20])
    return Result(True, score, f"{len(traces)} trace(s) follow {plan.name}", [t["id"] for t in traces[:5]])


def _items(report: dict[str, Any], key: str) -> list[Any]:
    v = report.get(key)
    if v is None and key == "order_violations":
        v = report.get("order")
    if v is None and key == "budget_violations":
        v = report.get("over_budget")
    return v if isinstance(v, list) else []


def _ids(item: Any) -> list[str]:
    if not isinstance(item, dict):
        return []
    out = [str(s) for s in item.get("span_ids", []) or []]
    if item.get("span_id"):
        out.append(str(item["span_id"]))
    return out
