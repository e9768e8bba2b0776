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

import functools
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
    op_budget: bool = False  # the operation's own `budget` is a token budget: pass ours through
    # Parameters that make a writing operation read-only (e.g. save=False): with them the
    # tool stays available, and annotated read-only, when writes are switched off.
    read_only_params: dict[str, Any] | None = None
    # The operation's own rendering for a reader (the brief's `text`): sent instead of its JSON.
    text_field: str | None = None

    @property
    def description(self) -> str:
        import inspect

        return inspect.getdoc(self.fn) or ""


TOOLS: list[ToolSpec] = []


def tool(
    name: str, *, op: str, title: str, write: bool = False, budget: int = 2000, op_budget: bool = False,
    read_only_params: dict[str, Any] | None = None, text_field: str | None = None,
) -> Callable[[Callable[..., dict[str, Any]]], Callable[..., dict[str, Any]]]:
    def register(fn: Callable[..., dict[str, Any]]) -> Callable[..., dict[str, Any]]:
        TOOLS.append(ToolSpec(name, op, title, _unfenced(fn), write, budget, op_budget, read_only_params, text_field))
        return fn

    return register


def _unfenced(fn: Callable[..., dict[str, Any]]) -> Callable[..., dict[str, Any]]:
    """``fn`` taking its text arguments with the fence an agent copied along removed.

    Answers fence every name that came from telemetry (``service="<untrusted-data>shop
    </untrusted-data>"``); an agent that passes one back verbatim means the name inside.
    ``functools.wraps`` keeps ``fn``'s signature, which is the tool's input schema.
    """

    def clean(v: Any) -> Any:
        from runbrief.agent.shaping import unfence  # here: importing the tools stays cheap

        if isinstance(v, str):
            return unfence(v)
        if isinstance(v, list):
            return [unfence(x) if isinstance(x, str) else x for x in v]
        return v

    @functools.wraps(fn)
    def call(*args: Any, **kwargs: Any) -> dict[str, Any]:
        return fn(*(clean(a) for a in args), **{k: clean(v) for k, v in kwargs.items()})

    return call


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
Items = Annotated[
    int, Field(ge=1, le=200, description="At most this many entries in each list of the answer (spans, problems…).")
]
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
@tool("brief", op="brief", title="Brief: what is wrong and what changed", op_budget=True, text_field="text")
def brief(service: Service = None, budget: Budget = 2000) -> dict[str, Any]:
    """Start here. The one answer to read first about the running system: open incidents
    ranked by impact (what happened, which service started it, the evidence, the first
    thing to try) and what changed since the last deploy, within a token budget.
    Every claim cites evidence IDs ([inc_…], [pat_…], …) you can open with `show`; what
    the budget cut is named at the end. Use it at the start of a task, after a deploy,
    and before claiming something is fixed."""
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
    limit: Limit = 20,
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
        "limit": limit,
    }


# ------------------------------------------------------------------ incidents
@tool("list_incidents", op="incidents", title="List incidents")
def list_incidents(
    service: Service = None,
    status: Annotated[
        Literal["open", "resolved", "closed"] | None, Field(description="Only incidents in this state.")
    ] = None,
    all: Annotated[bool, Field(description="Include resolved and past incidents (the history), not only open ones.")] = False,  # noqa: A002
    limit: Limit = 10,
    budget: Budget = 3000,
) -> dict[str, Any]:
    """Incidents ranked by impact: ID, title, the service that started it, status, impact
    and the claims with their evidence IDs. Use `get_incident` for one incident's full
    timeline, and `all=true` to see history with the fixes that were recorded."""
    return {"service": service, "status": status, "all": all or None, "limit": limit}


@tool("get_incident", op="incident", title="Get one incident")
def get_incident(
    id: IncidentId,  # noqa: A002
    narrative: Annotated[
        bool, Field(description="Also a short narrative written by the configured language model (slower).")
    ] = False,
    budget: Budget = 3000,
) -> dict[str, Any]:
    """One incident in full: its claims with evidence IDs, timeline, affected services,
    impact parts, the first thing to try, and similar past incidents with their fixes."""
    return {"id": id, "narrative": narrative}


@tool("similar_incidents", op="similar_incidents", title="Similar past incidents")
def similar_incidents(
    id: IncidentId,  # noqa: A002
    limit: Annotated[int, Field(ge=1, le=20, description="At most this many past incidents.")] = 3,
    budget: Budget = 2000,
) -> dict[str, Any]:
    """Past incidents most like this one (same pattern fingerprints, services, event
    kinds), with the similarity explained and the fix recorded for each. Check it before
    designing a fix: the answer may already be known."""
    return {"id": id, "limit": limit}


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


@tool("verify_fix", op="verify", title="Did the deploy fix the incident", write=True, budget=2000)
def verify_fix(
    id: Annotated[str | None, Field(max_length=64, description="The incident (inc_…); default: the incidents "
                                    "before `deploy`, or the latest open one.")] = None,  # noqa: A002
    deploy: Annotated[str | None, Field(max_length=64, description="The fix deploy (dep_…); default: the latest "
                                        "deploy of the incident's service after it started.")] = None,
    budget: Budget = 2000,
) -> dict[str, Any]:
    """Verdict on a fix deploy: fixed, not_fixed, regressed (new errors after it) or
    too_early (with the minutes of traffic still needed), from the incident's own symptoms
    before vs after, each citing evidence IDs. Records the outcome in memory (writes)."""
    return {"incident": id, "deploy": deploy}


@tool("suspects", op="suspects", title="Which commit caused the incident", budget=2000)
def suspects(
    id: IncidentId,  # noqa: A002
    limit: Annotated[int, Field(ge=1, le=100, description="At most this many commits.")] = 10,
    budget: Budget = 2000,
) -> dict[str, Any]:
    """The commits of the deploy that introduced an incident, ranked by how they touch the
    code its evidence names (stack frames, code.* attributes, routes), each with the
    reasons and hunks; without a repository, the code locations alone. The repository is
    the one the server was started with (`runbrief mcp --repo PATH`, else its working
    directory); a tool call cannot name one."""
    return {"id": id, "limit": limit}


@tool("promote_check", op="promote_check", title="Is it safe to promote", budget=2000)
def promote_check(
    service: Annotated[str, Field(min_length=1, description="The service to promote (its service.name).")],
    source: Annotated[str, Field(min_length=1, max_length=100, description="The environment the candidate runs "
                                 "in (deployment.environment.name), e.g. staging.")] = "staging",
    target: Annotated[str, Field(min_length=1, max_length=100, description="The environment whose current version "
                                 "it would replace, e.g. production.")] = "production",
    window: Annotated[str, Field(max_length=20, description="How far back each side is read, e.g. 6h, 24h.")] = "24h",
    budget: Budget = 2000,
) -> dict[str, Any]:
    """Is the version running in `source` safe to promote to `target`? Verdict safe /
    not_safe with the items the candidate has that the target's current version does not:
    new error patterns, a higher error share, slower routes, more trace problems (N+1…),
    each per unit of its own traffic and citing evidence IDs. Ask before promoting."""
    return {"service": service, "source": source, "target": target, "window": window}


@tool("gate_suggest", op="gate_suggest", title="Suggest gate checks from baselines", budget=2000)
def gate_suggest(
    service: Annotated[str, Field(min_length=1, description="The service whose own traces set the budgets.")],
    since: Annotated[str, Field(max_length=20, description="The baseline window, e.g. 7d, 24h.")] = "7d",
    margin: Annotated[float, Field(ge=1.0, le=10.0, description="Each budget is the baseline times this.")] = 1.5,
    budget: Budget = 2000,
) -> dict[str, Any]:
    """Gate checks a service already meets, from its own baselines: a latency budget per
    route (p95 x margin), an error budget, and token / cost budgets per trace for services
    that call models, each with its baseline stated; `toml` is the [[gate.check]] text to
    add to runbrief.toml. Use it to set up `gate` for a service that has none."""
    return {"service": service, "since": since, "margin": margin}


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
    service: Service = None,
    since: Since = None,
    until: Until = None,
    severity: Annotated[
        Literal["trace", "debug", "info", "warn", "error", "fatal"] | None,
        Field(description="Minimum severity: warn includes error and fatal."),
    ] = None,
    limit: Limit = 20,
    budget: Budget = 2000,
) -> dict[str, Any]:
    """The most frequent log patterns (templates with variables masked as <*>) in a
    window: count, errors, trend (new, rising, falling), first and last seen, severity,
    services, an example line and the pat_ ID. Thousands of lines become a few rows;
    drill into one with `search_logs(pattern_id=…)` or `show(pat_…)`."""
    return {"service": service, "since": since, "until": until, "severity": severity, "limit": limit}


# ------------------------------------------------------------------ traces
Route = Annotated[str | None, Field(description="HTTP route, URL path or span name, e.g. /cart or \"GET /cart\".")]


@tool("find_traces", op="traces", title="Find traces")
def find_traces(
    service: Service = None,
    route: Route = None,
    name: Annotated[str | None, Field(description="Text in any span's name.")] = None,
    status: Annotated[Literal["ok", "error"] | None, Field(description="error: some span failed; ok: none did.")] = None,
    min_duration_ms: Annotated[float | None, Field(ge=0, description="Only traces at least this long.")] = None,
    attribute: Annotated[str | None, Field(description="key=value that some span carries, e.g. http.status_code=500.")] = None,
    since: Since = None,
    until: Until = None,
    limit: Limit = 20,
    budget: Budget = 2000,
) -> dict[str, Any]:
    """Traces, latest first, with their trc_ ID, root span, duration, services and error
    count. Then call `summarize_trace` (or `show_trace`) on one."""
    return {
        "service": service, "route": route, "name": name, "status": status, "min_duration_ms": min_duration_ms,
        "attribute": attribute, "since": since, "until": until, "limit": limit,
    }


@tool("summarize_trace", op="trace_summary", title="Summarize a trace", budget=2000)
def summarize_trace(
    id: Annotated[str | None, Field(description="The trace (trc_…). Leave empty with latest=true.")] = None,  # noqa: A002
    latest: Annotated[bool, Field(description="Summarize the latest trace (of `route` / `service` when given).")] = False,
    route: Route = None,
    service: Service = None,
    items: Items = 10,
    budget: Budget = 2000,
) -> dict[str, Any]:
    """What one request did: total duration, time by kind (DB, HTTP, cache, internal) on
    the critical path, the slowest spans, errors and exceptions, and performance problems
    found (n_plus_one_db, n_plus_one_http, slow_db, consecutive_db/http, repeated_call,
    large_payload, swallowed_error, gap), every item with span IDs. E.g. "summarize the
    latest trace for /cart": latest=true, route="/cart"."""
    if id and (latest or route or service):
        raise UsageError("give either a trace `id`, or latest=true with `route`/`service`, not both")
    if not id and not (latest or route or service):
        raise UsageError("give a trace `id` (trc_…), or latest=true with an optional `route` or `service`")
    return {"id": id, "latest": True if not id else None, "route": route, "service": service, "budget": items}


@tool("show_trace", op="trace_show", title="Show a trace's span tree", budget=3000)
def show_trace(id: TraceId, spans: Annotated[  # noqa: A002
    int, Field(ge=5, le=1000, description="At most this many spans; failed spans, the critical path and the "
               "slowest are kept first.")] = 60, budget: Budget = 3000) -> dict[str, Any]:
    """One trace as an indented span tree: duration, self time, status and key attributes
    (route, status code, SQL, URL, code location) with the logs written during it. Use it
    after `summarize_trace` when you need the exact sequence of calls."""
    return {"id": id, "budget": spans}


@tool("compare_traces", op="trace_diff", title="Compare traces before and after")
def compare_traces(
    a: Annotated[str | None, Field(description="The 'before' trace (trc_…).")] = None,
    b: Annotated[str | None, Field(description="The 'after' trace (trc_…).")] = None,
    route: Route = None,
    deploy: Annotated[
        str | None, Field(description="With `route`: compare its traces before and after this deploy (dep_… or a time).")
    ] = None,
    service: Service = None,
    sample: Annotated[int, Field(ge=1, le=200, description="Traces per side when comparing by deploy.")] = 20,
    items: Items = 20,
    budget: Budget = 2000,
) -> dict[str, Any]:
    """Before and after, for a fix: two traces (a, b), or a route's traces before and
    after a deploy. Reports spans new and gone, count changes (e.g. 23 queries → 1),
    duration shifts per kind and new problems, with span IDs. Use it to prove a fix."""
    if (a or b) and deploy:
        raise UsageError("compare two traces (a, b) or a route around a deploy, not both")
    return {"a": a, "b": b, "route": route, "deploy": deploy, "service": service, "sample": sample, "budget": items}


@tool("perf_problems", op="perf", title="Performance problems across traces")
def perf_problems(
    service: Service = None,
    route: Route = None,
    since: Since = None,
    traces: Annotated[int, Field(ge=1, le=2000, description="How many recent traces to examine.")] = 200,
    items: Items = 20,
    budget: Budget = 2000,
) -> dict[str, Any]:
    """Performance problems aggregated over recent traces: by route and type (N+1
    queries, slow queries, sequential calls…) with how often they occur and the total
    time they cost, and example span IDs. Use it to pick what to fix first."""
    return {"service": service, "route": route, "since": since, "limit": traces, "budget": items}


@tool("compare_trace_to_plan", op="trace_compare", title="Compare a trace with a plan")
def compare_trace_to_plan(
    id: TraceId,  # noqa: A002
    plan: Annotated[
        str,
        Field(min_length=1, max_length=100_000, description="The plan's markdown text itself (read the plan "
              "file yourself and pass its content: runbrief reads no file a tool call names)."),
    ],
    items: Items = 20,
    budget: Budget = 2000,
) -> dict[str, Any]:
    """Did the code do what the plan said? Matches the plan's steps (list items with
    backticked functions, routes, tables, services and budgets like "< 200 ms") to the
    trace's spans and reports steps missing from the trace, spans the plan never
    mentions, steps out of order and steps over budget, each with the plan line and
    span IDs."""
    return {"id": id, "plan": plan, "budget": items}


# ------------------------------------------------------------------ evaluation and agents
@tool("evaluate", op="eval", title="Evaluate traces", write=True, read_only_params={"save": False})
def evaluate(
    trace_id: Annotated[str | None, Field(description="Evaluate this trace (trc_…).")] = None,
    since: Since = None,
    until: Until = None,
    service: Service = None,
    deploy: Annotated[str | None, Field(description="The traces since this deploy (dep_…).")] = None,
    evaluators: Annotated[
        list[str] | None,
        Field(description="Evaluators to run: latency, assert, error_free, no_loops, token_budget, cost_budget, "
              "tool_success_rate, plan_adherence, with parameters as name:key=value,… (default: the config's "
              "[[gate.check]] tables, else error_free and no_loops)."),
    ] = None,
    assertions: Annotated[
        list[str] | None,
        Field(description="Assertions in runbrief's expression language, e.g. "
              "\"span('startup').duration_ms < 800\" (docs/gate.md)."),
    ] = None,
    plan: Annotated[str | None, Field(description="A plan's markdown text for plan_adherence.")] = None,
    config: Annotated[str | None, Field(description="A runbrief.toml's text (default: the one in the directory "
                                        "runbrief runs in; no file a tool call names is read).")] = None,
    budget: Budget = 2000,
) -> dict[str, Any]:
    """Score traces with evaluators (latency budgets, assertions such as "startup under
    800 ms", error-free, no tool-call loops, token and cost budgets, plan adherence,
    and the custom ones the project's own runbrief.toml names) and store the scores with the traces. Each failing score cites span
    IDs. Say which traces: a trace ID, a window, a service or a deploy."""
    return {"trace_id": trace_id, "since": since, "until": until, "service": service, "deploy": deploy,
            "evaluators": evaluators, "assertions": assertions, "plan": plan, "config": config}


@tool("gate", op="gate", title="Ship gate", read_only_params={"save": False})
def gate(
    config: Annotated[str | None, Field(description="A gate config's text with [[gate.check]] thresholds "
                                        "(default: the runbrief.toml in the directory runbrief runs in).")] = None,
    since: Since = None,
    until: Until = None,
    service: Service = None,
    deploy: Annotated[str | None, Field(description="Gate the traces since this deploy (dep_…).")] = None,
    trace_ids: Annotated[list[str] | None, Field(description="Gate exactly these traces (trc_…).")] = None,
    budget: Budget = 2000,
) -> dict[str, Any]:
    """Is it good enough to ship? Evaluates the traces of a run against the thresholds in
    runbrief.toml: status pass / fail / error, and for each failed check the evidence
    (span and trace IDs). Iterate on the code until it passes; do not claim a fix while
    it fails."""
    return {"config": config, "since": since, "until": until, "service": service, "deploy": deploy,
            "trace_ids": trace_ids}


Conversation = Annotated[str | None, Field(description="Only this conversation / session ID.")]


@tool("agent_metrics", op="agents", title="LLM and agent metrics")
def agent_metrics(
    service: Service = None,
    since: Since = None,
    until: Until = None,
    conversation: Conversation = None,
    group_by: Annotated[
        list[Literal["model", "tool", "agent", "conversation", "time"]] | None,
        Field(description="Sections to include (default all)."),
    ] = None,
    limit: Limit = 20,
    budget: Budget = 2000,
) -> dict[str, Any]:
    """For code that calls models and tools: calls, input/output tokens, cost, latency
    p50/p95, error rate and finish reasons per model, tool, agent and conversation, with
    trace IDs. Use `agent_problems` for loops and retry storms."""
    return {"service": service, "since": since, "until": until, "conversation": conversation,
            "group_by": group_by, "limit": limit}


@tool("agent_problems", op="agent_problems", title="Agent behaviour problems")
def agent_problems(
    service: Service = None,
    since: Since = None,
    until: Until = None,
    conversation: Conversation = None,
    limit: Limit = 30,
    budget: Budget = 2000,
) -> dict[str, Any]:
    """Behaviour problems of LLM agents, with span IDs: tool-call loops (the same tool
    with the same arguments again and again), retry storms, runaway token growth, tool
    errors the agent swallowed, steps over budget."""
    return {"service": service, "since": since, "until": until, "conversation": conversation, "limit": limit}


# ------------------------------------------------------------------ evidence, deploys and events
@tool("list_deploys", op="deploys", title="List deploys")
def list_deploys(service: Service = None, since: Since = None, limit: Limit = 20, budget: Budget = 1500) -> dict[str, Any]:
    """Deploys, newest first, with their dep_ IDs, versions and commits: the anchors for
    `what_changed` and `compare_traces`."""
    return {"service": service, "since": since, "limit": limit}


@tool("k8s_events", op="events", title="Kubernetes events")
def k8s_events(
    service: Service = None,
    signal: Annotated[
        Literal["CrashLoopBackOff", "OOMKilled", "ImagePullBackOff", "ErrImagePull", "FailedScheduling",
                "Unhealthy", "BackOff", "Evicted"] | None,
        Field(description="Only events of this kind of trouble."),
    ] = None,
    reason: Annotated[str | None, Field(description="Only events with this reason.")] = None,
    namespace: Annotated[str | None, Field(description="Only this Kubernetes namespace.")] = None,
    since: Since = None,
    warnings_only: Annotated[bool, Field(description="Only Warning events.")] = False,
    limit: Limit = 30,
    budget: Budget = 2000,
) -> dict[str, Any]:
    """Platform (Kubernetes) events, newest first, with evt_ IDs: crash loops, OOM kills,
    image pull failures, failed scheduling, failing probes, evictions."""
    return {"service": service, "signal": signal, "reason": reason, "namespace": namespace, "since": since,
            "warnings_only": warnings_only or None, "limit": limit}



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
