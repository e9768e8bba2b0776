"""The MCP tools: one typed, agent-oriented layer over each runbrief operation.

Each tool is declared as a plain function whose signature *is* its input schema (typed,
with a description per argument) and whose docstring is what the agent reads to decide
when to call it. The function only turns its arguments into the operation's parameters;
``server.py`` runs the operation where the store is, bounds and fences the answer.

Few, composable tools: ``brief`` first, then drill down by evidence ID with ``show``,
``get_incident``, ``search_logs`` and the trace tools. Every answer cites evidence IDs
(``pat_``, ``log_``, ``dep_``, ``evt_``, ``trc_``, ``spn_``, ``inc_``) that ``show`` resolves.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated, Any, Literal

from pydantic import Field

from runbrief.errors import UsageError

__all__ = ["ToolSpec", "TOOLS", "tool"]


@dataclass(frozen=True)
class ToolSpec:
    name: str
    op: str
    title: str
    fn: Callable[..., dict[str, Any]]
    write: bool = False
    default_budget: int = 2000

    @property
    def description(self) -> str:
        import inspect

        return inspect.getdoc(self.fn) or ""


TOOLS: list[ToolSpec] = []


def tool(name: str, *, op: str, title: str, write: bool = False, budget: int = 2000) -> Callable[[Callable[..., dict[str, Any]]], Callable[..., dict[str, Any]]]:
    def register(fn: Callable[..., dict[str, Any]]) -> Callable[..., dict[str, Any]]:
        TOOLS.append(ToolSpec(name, op, title, fn, write, budget))
        return fn

    return register


# ------------------------------------------------------------------ argument types
Service = Annotated[str | None, Field(description="Only this service (its service.name); list_services names them.")]
Since = Annotated[
    str | None,
    Field(description="Start of the window: a duration back from now (15m, 2h, 7d) or an ISO-8601 time."),
]
Until = Annotated[str | None, Field(description="End of the window: a duration ago (5m) or an ISO-8601 time.")]
IncidentId = Annotated[str, Field(min_length=1, max_length=64, description="An incident ID such as inc_3.")]
TraceId = Annotated[
    str,
    Field(min_length=1, max_length=80, description="A trace ID: trc_<32 hex> as cited by other tools, or the bare hex."),
]
Limit = Annotated[int, Field(ge=1, le=500, description="At most this many items, most relevant first.")]
Budget = Annotated[
    int,
    Field(
        ge=200,
        le=20000,
        description="Max tokens for this answer (about 4 characters each). What does not fit is left out "
        "and the answer says what and how to get it.",
    ),
]


# ------------------------------------------------------------------ orientation
@tool("brief", op="brief", title="Brief: what is wrong and what changed")
def brief(service: Service = None, budget: Budget = 2000) -> dict[str, Any]:
    """Start here. The one answer to read first about the running system: open incidents
    ranked by impact (what happened, which service started it, the evidence, the first
    thing to try) and what changed since the last deploy, within a token budget.
    Every claim cites evidence IDs you can open with `show`. Use it at the start of a
    task, after a deploy, and before claiming something is fixed."""
    return {"service": service, "budget": budget}


@tool("list_services", op="services", title="List services")
def list_services() -> dict[str, Any]:
    """The services runbrief has seen, with record counts, versions and last activity.
    Use it to learn the exact service names the other tools filter on."""
    return {}


@tool("what_changed", op="changes", title="What changed since a deploy")
def what_changed(
    service: Service = None,
    since_deploy: Annotated[
        bool, Field(description="Compare against the service's last deploy (the usual question after shipping).")
    ] = True,
    since: Since = None,
    deploy: Annotated[str | None, Field(description="Compare against this deploy (dep_…) instead of the last one.")] = None,
    baseline: Annotated[
        str | None, Field(description="Length of the 'before' window to compare with, e.g. 1h, 24h.")
    ] = None,
    budget: Budget = 2000,
) -> dict[str, Any]:
    """What is new or different in a service since a deploy (or a time): log patterns that
    did not exist before, patterns whose rate jumped or fell, heartbeats that stopped, the
    error-share change, and Kubernetes events — each with before/after counts, an example
    line and its evidence ID, most important first. Ask this right after a deploy, and
    again after a fix to see whether the new patterns are gone."""
    if since and deploy:
        raise UsageError("give either `since` or `deploy`, not both")
    return {
        "service": service,
        "since_deploy": since_deploy if not (since or deploy) else None,
        "since": since,
        "deploy": deploy,
        "baseline": baseline,
    }


# ------------------------------------------------------------------ incidents
@tool("list_incidents", op="incidents", title="List incidents")
def list_incidents(
    service: Service = None,
    status: Annotated[
        Literal["open", "resolved"] | None, Field(description="Only incidents in this state.")
    ] = None,
    all: Annotated[bool, Field(description="Include resolved and past incidents (the history), not only open ones.")] = False,  # noqa: A002
    budget: Budget = 2000,
) -> dict[str, Any]:
    """Incidents ranked by impact: ID, title, the service that started it, status, impact
    and the claims with their evidence IDs. Use `get_incident` for one incident's full
    timeline, and `all=true` to see history with the fixes that were recorded."""
    return {"service": service, "status": status, "all": all or None}


@tool("get_incident", op="incident", title="Get one incident")
def get_incident(id: IncidentId, budget: Budget = 3000) -> dict[str, Any]:  # noqa: A002
    """One incident in full: its claims with evidence IDs, timeline, affected services,
    impact parts, the first thing to try, and similar past incidents with their fixes."""
    return {"id": id}


@tool("similar_incidents", op="similar_incidents", title="Similar past incidents")
def similar_incidents(id: IncidentId, budget: Budget = 2000) -> dict[str, Any]:  # noqa: A002
    """Past incidents most like this one (same pattern fingerprints, services, event
    kinds), with the similarity explained and the fix recorded for each. Check it before
    designing a fix: the answer may already be known."""
    return {"id": id}


@tool("record_fix", op="resolve", title="Record the fix for an incident", write=True, budget=800)
def record_fix(
    id: IncidentId,  # noqa: A002
    fix: Annotated[str, Field(min_length=3, max_length=2000, description="What was changed, in one or two sentences.")],
    commit: Annotated[str | None, Field(max_length=80, description="The commit SHA of the fix.")] = None,
    outcome: Annotated[
        Literal["worked", "failed"] | None,
        Field(description="Whether the fix worked; record it only after checking with what_changed / the gate."),
    ] = None,
    budget: Budget = 800,
) -> dict[str, Any]:
    """Record how an incident was fixed (and whether it worked) so the next similar
    incident comes with this fix attached. Writes to the store."""
    return {"id": id, "fix": fix, "commit": commit, "outcome": outcome}


# ------------------------------------------------------------------ logs and patterns
@tool("search_logs", op="logs", title="Search log records")
def search_logs(
    service: Service = None,
    severity: Annotated[
        Literal["trace", "debug", "info", "warn", "error", "fatal"] | None,
        Field(description="Minimum severity: warn includes error and fatal."),
    ] = None,
    since: Since = None,
    until: Until = None,
    contains: Annotated[str | None, Field(max_length=500, description="Case-insensitive text the line must contain.")] = None,
    trace_id: Annotated[str | None, Field(description="Only lines of this trace (trc_… or hex).")] = None,
    pattern_id: Annotated[str | None, Field(description="Only lines of this pattern (pat_… as cited elsewhere).")] = None,
    limit: Limit = 30,
    budget: Budget = 3000,
) -> dict[str, Any]:
    """Raw log records, newest first, each with its log_ ID, pattern ID and trace ID.
    Use it to drill into a pattern or trace cited elsewhere; prefer `top_patterns` or
    `what_changed` for an overview, since raw lines are many and repetitive."""
    return {
        "service": service, "severity": severity, "since": since, "until": until, "contains": contains,
        "trace_id": trace_id, "pattern_id": pattern_id.removeprefix("pat_") if pattern_id else None, "limit": limit,
    }


@tool("top_patterns", op="patterns", title="Top log patterns")
def top_patterns(
    service: Service = None, since: Since = None, until: Until = None, limit: Limit = 20, budget: Budget = 2000
) -> dict[str, Any]:
    """The most frequent log patterns (templates with variables masked as <*>) in a
    window: count, trend, first seen, severity, an example line and the pat_ ID. Thousands
    of lines become a few rows; drill into one with `search_logs(pattern_id=…)`."""
    return {"service": service, "since": since, "until": until, "limit": limit}


# ------------------------------------------------------------------ traces
@tool("find_traces", op="traces", title="Find traces")
def find_traces(
    service: Service = None,
    route: Annotated[str | None, Field(description="HTTP route, URL path or span name, e.g. /cart.")] = None,
    status: Annotated[Literal["ok", "error", "unset"] | None, Field(description="Only traces with this status.")] = None,
    min_duration_ms: Annotated[float | None, Field(ge=0, description="Only traces at least this long.")] = None,
    since: Since = None,
    limit: Limit = 20,
    budget: Budget = 2000,
) -> dict[str, Any]:
    """Traces, latest first, with their trc_ ID, root span, duration, services and error
    count. Then call `summarize_trace` on one."""
    return {
        "service": service, "route": route, "status": status, "min_duration_ms": min_duration_ms,
        "since": since, "limit": limit,
    }


@tool("summarize_trace", op="trace_summary", title="Summarize a trace", budget=1500)
def summarize_trace(
    id: Annotated[str | None, Field(description="The trace (trc_…). Leave empty with latest=true.")] = None,  # noqa: A002
    latest: Annotated[bool, Field(description="Summarize the latest trace (of `route`, when given).")] = False,
    route: Annotated[str | None, Field(description="With latest=true: the route, e.g. /cart.")] = None,
    budget: Budget = 1500,
) -> dict[str, Any]:
    """What one request did: total duration, time by kind (DB, HTTP, cache, internal) on
    the critical path, the slowest spans, errors and exceptions, and performance problems
    found (N+1 queries, slow queries, sequential calls that could be parallel, swallowed
    errors…), every item with span IDs. E.g. "summarize the latest trace for /cart"."""
    if id and latest:
        raise UsageError("give either a trace `id` or latest=true, not both")
    if not id and not latest:
        raise UsageError("give a trace `id` (trc_…), or latest=true with an optional `route`")
    if route and not latest:
        raise UsageError("`route` selects the latest trace of that route; set latest=true with it")
    return {"id": id, "latest": latest or None, "route": route, "budget": budget}


@tool("compare_trace_to_plan", op="trace_compare", title="Compare a trace with a plan")
def compare_trace_to_plan(
    id: TraceId,  # noqa: A002
    plan: Annotated[
        str,
        Field(min_length=1, description="Path of the plan markdown file (e.g. docs/plan.md), relative to the "
              "directory the runbrief server runs in."),
    ],
    budget: Budget = 2000,
) -> dict[str, Any]:
    """Did the code do what the plan said? Matches the plan's steps to the trace's spans
    and reports steps missing from the trace, spans the plan never mentions, steps out
    of order and steps over their budget, each with the plan line and span IDs."""
    return {"id": id, "plan": plan}


# ------------------------------------------------------------------ evaluation and agents
@tool("evaluate", op="eval", title="Run evaluations", write=True)
def evaluate(
    config: Annotated[str | None, Field(description="Evaluation config file (runbrief.toml by default).")] = None,
    trace_id: Annotated[str | None, Field(description="Evaluate only this trace (trc_…).")] = None,
    service: Service = None,
    since: Since = None,
    budget: Budget = 2000,
) -> dict[str, Any]:
    """Score traces with the configured evaluators (latency budgets, error-free, no
    tool-call loops, token and cost budgets, plan adherence, custom ones) and store the
    scores with the traces. Each failing score cites span IDs."""
    return {"config": config, "trace_id": trace_id, "service": service, "since": since}


@tool("gate", op="gate", title="Ship gate")
def gate(
    config: Annotated[str | None, Field(description="Gate config file with thresholds (runbrief.toml by default).")] = None,
    since: Since = None,
    budget: Budget = 2000,
) -> dict[str, Any]:
    """Is it good enough to ship? Evaluates the traces of a run against the configured
    thresholds: passed or failed, and for each failure the evidence. Iterate on the code
    until it passes; do not claim a fix while it fails."""
    return {"config": config, "since": since}


@tool("agent_metrics", op="agents", title="LLM and agent metrics")
def agent_metrics(service: Service = None, since: Since = None, budget: Budget = 2000) -> dict[str, Any]:
    """For code that calls models and tools: calls, input/output tokens, cost, latency
    p50/p95, error rate and finish reasons per model, tool and agent, plus tool-call
    loops and retry storms found, with span IDs."""
    return {"service": service, "since": since}


# ------------------------------------------------------------------ evidence and deploys
@tool("show", op="show", title="Open an evidence ID")
def show(
    id: Annotated[  # noqa: A002
        str,
        Field(min_length=3, max_length=80, description="Any evidence ID: pat_…, log_…, dep_…, evt_…, trc_…, spn_…, inc_…"),
    ],
    budget: Budget = 2000,
) -> dict[str, Any]:
    """Resolve any evidence ID cited by another tool to the object it names (a pattern,
    log line, deploy, event, trace, span or incident). Use it to check a claim before
    relying on it."""
    return {"id": id}


@tool("mark_deploy", op="deploy_mark", title="Mark a deploy", write=True, budget=800)
def mark_deploy(
    service: Annotated[str, Field(min_length=1, description="The service deployed.")],
    version: Annotated[str, Field(min_length=1, description="The version now running.")],
    commit: Annotated[str | None, Field(description="The commit SHA deployed.")] = None,
    environment: Annotated[str | None, Field(description="e.g. production, staging.")] = None,
    at: Annotated[str | None, Field(description="When, as an ISO-8601 time or a duration ago (5m); default now.")] = None,
    budget: Budget = 800,
) -> dict[str, Any]:
    """Record that a service was deployed, so `what_changed` can compare before and after
    it. Returns the deploy's dep_ ID. Writes to the store."""
    return {"service": service, "version": version, "commit": commit, "environment": environment, "at": at}
