"""Operations for agent telemetry and evaluations: ``agents``, ``agent_problems``, ``eval``,
``eval_scores``, ``gate``. Thin: parse parameters into a Scope and a Config, call the library.

``config`` is a path to a ``runbrief.toml``; the CLI passes it absolute, because the op may
run in the server process, whose working directory is not the caller's.
"""

from __future__ import annotations

from typing import Any

from runbrief.evals import behaviour, config as cfgmod, metrics
from runbrief.evals.scope import Scope, parse_resource
from runbrief.ops import operation
from runbrief.store.duck import Store

__all__ = ["agents", "agent_problems"]


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
