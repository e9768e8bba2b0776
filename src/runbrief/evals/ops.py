"""Operations for agent telemetry and evaluations: ``agents``, ``agent_problems``, ``eval``,
``eval_scores``, ``gate``. Thin: parse parameters into a Scope and a Config, call the library.

``config`` is a path to a ``runbrief.toml``; the CLI passes it absolute, because the op may
run in the server process, whose working directory is not the caller's.
"""

from __future__ import annotations

import time
from typing import Any

import orjson

from runbrief import ids
from runbrief.errors import UsageError
from runbrief.evals import behaviour, gate, metrics
from runbrief.evals import config as cfgmod
from runbrief.evals.scope import Scope, parse_resource
from runbrief.ops import operation
from runbrief.queries import fmt_ts
from runbrief.store.duck import Store

__all__ = ["agents", "agent_problems", "eval_", "gate_", "eval_scores"]


def _scope(since: str | None = None, until: str | None = None, service: str | None = None,
           conversation: str | None = None, trace_ids: list[str] | str | None = None,
           resource: list[str] | dict[str, Any] | str | None = None, deploy: str | None = None) -> Scope:
    if isinstance(trace_ids, str):
        trace_ids = [t for t in trace_ids.split(",") if t]
    return Scope(since=since, until=until, service=service, conversation=conversation,
                 trace_ids=list(trace_ids or []), resource=parse_resource(resource), deploy=deploy)


@operation("agents")
def agents(
    store: Store,
    since: str | None = None,
    until: str | None = None,
    service: str | None = None,
    conversation: str | None = None,
    group_by: list[str] | None = None,
    trace_ids: list[str] | None = None,
    config: str | None = None,
    limit: int = 50,
) -> dict[str, Any]:
    """LLM and agent activity: calls, tokens, cost, latency p50/p95, errors and finish reasons per
    model, tool, agent, conversation and time bucket (OpenTelemetry GenAI, OpenInference, OpenLLMetry).

    ``group_by`` picks sections (model, tool, agent, conversation, time; default all); cost uses the
    price table, overridable in ``runbrief.toml`` ``[prices]``.
    """
    cfg = cfgmod.load(config)
    scope = _scope(since, until, service, conversation, trace_ids)
    return metrics.agents_report(store, scope, cfg.prices, group_by, limit=max(1, min(int(limit), 1000)))


@operation("agent_problems")
def agent_problems(
    store: Store,
    since: str | None = None,
    until: str | None = None,
    service: str | None = None,
    conversation: str | None = None,
    trace_ids: list[str] | None = None,
    config: str | None = None,
    limit: int = 100,
) -> dict[str, Any]:
    """Agent behaviour problems with span IDs: tool-call loops, retry storms, runaway token growth,
    tool errors the agent swallowed, steps over budget.

    Thresholds have documented defaults (docs/gate.md), overridable in ``runbrief.toml`` ``[agents]``.
    """
    cfg = cfgmod.load(config)
    scope = _scope(since, until, service, conversation, trace_ids)
    thresholds = behaviour.Thresholds.from_config(cfg)
    problems = behaviour.detect(store, scope, thresholds)
    limit = max(1, min(int(limit), 10_000))
    counts: dict[str, int] = {}
    for p in problems:
        counts[p["type"]] = counts.get(p["type"], 0) + 1
    return {"scope": scope.describe(store), "counts": counts, "problems": problems[:limit],
            "truncated": len(problems) > limit, "thresholds": thresholds.as_dict()}


@operation("eval", read_only=False)
def eval_(
    store: Store,
    trace_id: str | None = None,
    trace_ids: list[str] | None = None,
    since: str | None = None,
    until: str | None = None,
    service: str | None = None,
    deploy: str | None = None,
    resource: list[str] | None = None,
    conversation: str | None = None,
    evaluators: list[str] | None = None,
    assertions: list[str] | None = None,
    plan: str | None = None,
    config: str | None = None,
    per_trace: bool = True,
    save: bool = True,
) -> dict[str, Any]:
    """Score traces with evaluators and store the scores with the traces.

    Evaluators: built-ins (latency, assert, error_free, no_loops, token_budget, cost_budget,
    tool_success_rate, plan_adherence; parameters as ``name:key=value,…``), ``pkg.mod:fn``,
    ``path/file.py:fn`` or an entry point in ``runbrief.evaluators``; ``assertions`` are
    expressions (docs/gate.md). With none given, the config's ``[[gate.check]]`` tables run,
    else error_free and no_loops.
    """
    t0 = time.perf_counter()
    cfg = cfgmod.load(config)
    ids_ = list(trace_ids or []) + ([trace_id] if trace_id else [])
    scope = _scope(since, until, service, conversation, ids_, resource, deploy)
    if not (ids_ or since or until or service or deploy or resource or conversation):
        raise UsageError("say which traces to evaluate: a trace ID, --since, --deploy, --service or --resource")
    checks = gate.checks_from_cli(list(evaluators or []), list(assertions or []), plan)
    if not checks:
        checks = gate.checks_from_config(cfg) if cfg.section("gate").get("check") else \
            gate.checks_from_cli(["error_free", "no_loops"], [], None)
    results, per_trace_rows, n = gate.run_checks(store, cfg, checks, scope, per_trace=per_trace)
    status = gate.verdict(results)
    info = scope.describe(store)
    run_id = gate.save(store, "eval", info, str(cfg.path) if cfg.path else None, results, per_trace_rows,
                       status) if save else None
    return {"run_id": run_id, "status": status, "scope": info, "traces": n, "checks": results,
            "scores": per_trace_rows, "elapsed_ms": gate.elapsed_ms(t0)}


@operation("gate", read_only=False)
def gate_(
    store: Store,
    config: str | None = None,
    since: str | None = None,
    until: str | None = None,
    service: str | None = None,
    deploy: str | None = None,
    trace_ids: list[str] | None = None,
    resource: list[str] | None = None,
    save: bool = True,
) -> dict[str, Any]:
    """Evaluate the traces of a run against the thresholds in runbrief.toml; pass, fail or error.

    The run is the ``[gate]`` selection (since, deploy, trace_ids, resource such as a test-run
    ID) unless overridden here. ``exit_code``: 0 every check holds, 1 one fails, 2 a check
    could not be evaluated (config error).
    """
    t0 = time.perf_counter()
    cfg = cfgmod.load(config, required=True)
    checks = gate.checks_from_config(cfg)
    scope = gate.scope_from_config(cfg, since=since, until=until, service=service, deploy=deploy,
                                   trace_ids=trace_ids, resource=parse_resource(resource))
    results, _, n = gate.run_checks(store, cfg, checks, scope)
    status = gate.verdict(results)
    info = scope.describe(store)
    run_id = gate.save(store, "gate", info, str(cfg.path), results, [], status) if save else None
    return {"run_id": run_id, "status": status, "exit_code": gate.EXIT[status], "scope": info, "traces": n,
            "config": str(cfg.path), "junit": cfg.section("gate").get("junit"),
            "passed": sum(r["status"] == "pass" for r in results),
            "failed": sum(r["status"] == "fail" for r in results),
            "errors": sum(r["status"] == "error" for r in results),
            "checks": results, "elapsed_ms": gate.elapsed_ms(t0)}


@operation("eval_scores")
def eval_scores(store: Store, trace_id: str | None = None, run_id: str | None = None, limit: int = 200
                ) -> dict[str, Any]:
    """Stored evaluation scores: of one trace (every run that scored it) or of one run."""
    where, args = [], []
    if trace_id:
        where.append("(s.trace_id = ? OR s.trace_id IS NULL AND s.run_id IN "
                     "(SELECT run_id FROM eval_scores WHERE trace_id = ?))")
        t = trace_id.lower().removeprefix("trc_")
        args += [t, t]
    if run_id:
        where.append("s.run_id = ?")
        args.append(run_id)
    if not where:
        raise UsageError("give a trace ID or a run ID (see `runbrief eval --json` for run_id)")
    rows = store.query(
        f"""SELECT s.run_id, r.kind, s.ts, s.check_name name, s.evaluator, s.trace_id, s.status, s.score, s.detail,
                   s.evidence::VARCHAR evidence, s.error
            FROM eval_scores s JOIN eval_runs r USING (run_id) WHERE {' AND '.join(where)}
            ORDER BY s.ts DESC, s.check_name LIMIT ?""", [*args, max(1, min(int(limit), 10_000))])
    for r in rows:
        r["ts"] = fmt_ts(r["ts"])
        r["trace_id"] = ids.make("trc", r["trace_id"]) if r["trace_id"] else None
        r["evidence"] = orjson.loads(r["evidence"]) if r["evidence"] else []
    return {"scores": rows}
