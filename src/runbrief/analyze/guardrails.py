"""Guardrails from baselines: gate checks a service already meets, with room stated, as TOML.

``gate_suggest(store, service)`` reads the service's own recent traces exactly as the gate
will (``evals.evaluators.load_data``: the same spans, GenAI calls and per-trace totals) and
proposes, for each:

- every route with at least ``MIN_SAMPLES`` spans: a ``latency`` check at its p95 × margin;
- the service's error budget: an assertion ``error_rate(service("S")) <= share × margin``
  (at least one point above the baseline share, so a service that rarely fails gets room);
- services that call models: ``token_budget`` and ``cost_budget`` per trace at the p95 of
  its traces' totals × margin.

Budgets are rounded up to two significant figures, so the numbers read as chosen. Each
check carries its baseline and the margin in a TOML comment; the text is ready to paste
into runbrief.toml, and the gate parses it (tested).
"""

from __future__ import annotations

import math
from typing import Any

from runbrief.errors import UsageError
from runbrief.ops import operation
from runbrief.store.duck import Store

__all__ = ["gate_suggest", "MIN_SAMPLES", "DEFAULT_MARGIN"]

MIN_SAMPLES = 20
DEFAULT_MARGIN = 1.5
MAX_ROUTES = 20
ERROR_FLOOR = 0.01  # an error budget at least a point above the baseline share


def _up(x: float) -> float:
    """Round up to two significant figures (312.4 -> 320, 0.01234 -> 0.013)."""
    if x <= 0:
        return 0.0
    e = math.floor(math.log10(x)) - 1
    v = math.ceil(x / 10 ** e - 1e-9) * 10 ** e
    return float(f"{v:.{max(0, -e)}f}")


def _num(v: float) -> str:
    return str(int(v)) if float(v).is_integer() else repr(v)


def _q(s: str) -> str:
    """A TOML basic string (escapes backslashes, quotes and control characters)."""
    import json

    return json.dumps(s, ensure_ascii=False)


def _toml(service: str, margin: float, since: str, checks: list[dict[str, Any]]) -> str:
    # Checks only: a runbrief.toml usually has its own [gate] table (which traces), and a
    # second one pasted in would be a TOML error.
    lines = [f"# gate checks suggested by `runbrief gate suggest --service {_q(service)}` from its traces of the last "
             f"{since};", f"# each budget is the baseline x {margin:g} (the margin), rounded up to two figures"]
    for c in checks:
        # Route and service names are telemetry: quoted (json escapes control characters), so a
        # name holding a newline or an escape sequence cannot add a line or reach the terminal raw.
        lines += ["", "# " + c["comment"].replace("\n", " ").replace("\r", " "), "[[gate.check]]",
                  f"name = {_q(c['name'])}"]
        for k, v in c["params"].items():
            lines.append(f"{k} = {_q(v) if isinstance(v, str) else _num(v)}")
    return "\n".join(lines) + "\n"


@operation("gate_suggest")
def gate_suggest(store: Store, service: str, since: str = "7d", margin: float = DEFAULT_MARGIN) -> dict[str, Any]:
    """Gate checks from a service's own baselines (latency per route, error budget, token and cost budgets).

    Each budget is the baseline times ``margin``; ``toml`` is the [[gate.check]] text to paste.
    """
    from runbrief.evals import behaviour
    from runbrief.evals.config import load
    from runbrief.evals.evaluators import load_data
    from runbrief.evals.expr import _pct
    from runbrief.evals.scope import Scope

    margin = float(margin)
    if not 1.0 <= margin <= 10.0:
        raise UsageError(f"--margin must be between 1 and 10 (a budget below the baseline fails at once), got {margin}")
    known = [r["service"] for r in store.query("SELECT DISTINCT service FROM spans ORDER BY 1")]
    if service not in known:
        raise UsageError(f"no traces of {service!r}; services with traces: {', '.join(known) or 'none'}")
    cfg = load(None)  # the project's price table, as the gate will use it
    data = load_data(store, Scope(since=since, service=service), cfg.prices, behaviour.Thresholds())
    spans = [s for s in data.spans if s["service"] == service]
    p95 = _pct(0.95)
    checks: list[dict[str, Any]] = []
    by_route: dict[str, list[float]] = {}
    for s in spans:
        if s["route"]:
            by_route.setdefault(s["route"], []).append(float(s["duration_ms"]))
    routes = sorted(((r, d) for r, d in by_route.items() if len(d) >= MIN_SAMPLES), key=lambda rd: -len(rd[1]))
    for route, durs in routes[:MAX_ROUTES]:
        base = p95(durs)
        budget = _up(max(base * margin, 1.0))
        checks.append({"name": f"{route} p95 within budget", "kind": "latency",  # quoted by _toml
                       "params": {"evaluator": "latency", "route": route, "p95_ms": budget},
                       "baseline": {"p95_ms": round(base, 3), "samples": len(durs)},
                       "comment": f"{_q(route)}: p95 {base:.1f} ms over {len(durs)} spans; x {margin:g}"})
    if len(spans) >= MIN_SAMPLES:
        errs = sum(1 for s in spans if s["error"])
        share = errs / len(spans)
        budget = _up(min(1.0, max(share * margin, share + ERROR_FLOOR)))
        checks.append({"name": f"{service} error budget", "kind": "error_budget",
                       "params": {"assert": f"error_rate(service({_q(service)})) <= {_num(budget)}"},
                       "baseline": {"error_rate": round(share, 5), "spans": len(spans), "errors": errs},
                       "comment": f"error share {share:.2%} of {len(spans)} spans; x {margin:g}, at least "
                              f"{ERROR_FLOOR:.0%} above it"})
    traces = {c["trace_id"] for c in data.calls if c["kind"] == "model"}
    llm = [t for t in data.traces if t["trace_id"] in traces]
    if llm:
        tok = p95([float(t["total_tokens"]) for t in llm])
        checks.append({"name": f"{service} tokens per trace", "kind": "token_budget",
                       "params": {"evaluator": "token_budget", "max_per_trace": int(_up(max(tok * margin, 1.0)))},
                       "baseline": {"p95_tokens_per_trace": tok, "traces": len(llm)},
                       "comment": f"p95 {tok:.0f} tokens per trace over {len(llm)} traces with model calls; x {margin:g}"})
        costs = [float(t["cost"]) for t in llm]
        if any(costs):
            cost = p95(costs)
            checks.append({"name": f"{service} cost per trace", "kind": "cost_budget",
                           "params": {"evaluator": "cost_budget", "max_per_trace": _up(cost * margin)},
                           "baseline": {"p95_usd_per_trace": round(cost, 6), "traces": len(llm)},
                           "comment": f"p95 ${cost:.4f} per trace (price table) over {len(llm)} traces; x {margin:g}"})
    notes = []
    if not checks:
        notes.append(f"fewer than {MIN_SAMPLES} spans of the service per route in the window: "
                     "widen --since or send more traffic")
    return {"service": service, "since": since, "margin": margin, "checks": checks, "notes": notes,
            "toml": _toml(service, margin, since, checks) if checks else ""}
