"""Trace operations: find, show, summarize, perf, compare with a plan, diff.

Thin wrappers over the trace library, registered once for the CLI, HTTP, MCP and web.
"""

from __future__ import annotations

from typing import Any

from runbrief.errors import UsageError
from runbrief.ops import operation
from runbrief.store.duck import Store
from runbrief.traces import compare as compare_mod
from runbrief.traces import diff as diff_mod
from runbrief.traces import find, show, summary, tree
from runbrief.traces import perf as perf_mod
from runbrief.traces import plan as plan_mod

__all__ = ["traces", "trace_show", "trace_summary", "perf", "trace_compare", "trace_diff"]


@operation("traces")
def traces(
    store: Store,
    service: str | None = None,
    route: str | None = None,
    name: str | None = None,
    status: str | None = None,
    min_duration_ms: float | None = None,
    since: str | None = None,
    until: str | None = None,
    attribute: str | None = None,
    limit: int = 20,
) -> dict[str, Any]:
    """Find traces, latest first, by service, route, span name, status, duration, time or attribute.

    ``route`` matches http.route/url.path or a span name ("GET /cart"); ``name`` is a
    substring of any span's name; ``status`` is ``error`` (some span failed) or ``ok``;
    ``attribute`` is ``key=value`` on any span; ``since``/``until`` take 15m, 2h or ISO.
    """
    return find.find_traces(store, service, route, name, status, min_duration_ms, since, until, attribute, limit)


@operation("trace_show")
def trace_show(store: Store, id: str, budget: int = 100) -> dict[str, Any]:  # noqa: A002
    """One trace as a span tree: duration, self time, status, key attributes and correlated logs.

    Large traces are cut to ``budget`` spans, keeping failed spans, the critical path and
    the slowest spans first; ``omitted`` says how many spans were left out.
    """
    return show.show_trace(store, tree.load(store, id), budget=budget)


@operation("trace_summary")
def trace_summary(
    store: Store,
    id: str | None = None,  # noqa: A002
    latest: bool = False,
    route: str | None = None,
    service: str | None = None,
    budget: int = 10,
) -> dict[str, Any]:
    """Summarize a trace: time by kind on the critical path, slowest spans, errors and performance problems.

    Give ``id``, or ``latest=true`` with ``route`` and/or ``service`` for the most recent
    matching trace. ``problems`` lists detected issues (n_plus_one_db, repeated_sequence,
    n_plus_one_http, slow_db, consecutive_db, consecutive_http, repeated_call, large_payload,
    swallowed_error, gap; rules in docs/detectors.md), each with span IDs; every list holds
    at most ``budget`` items.
    """
    if id:
        key = id
    elif latest or route or service:
        key = find.latest_trace_id(store, route=route, service=service)
    else:
        raise UsageError("give a trace ID, or latest=true with route and/or service (e.g. --latest --route /cart)")
    return summary.summarize(tree.load(store, key), budget=budget)


@operation("perf")
def perf(
    store: Store,
    service: str | None = None,
    route: str | None = None,
    since: str | None = None,
    limit: int = 200,
    budget: int = 20,
) -> dict[str, Any]:
    """Performance problems across recent traces, by route and type, with frequency and total time cost.

    Examines the latest ``limit`` traces matching ``service``/``route``/``since``.
    """
    return perf_mod.perf(store, service=service, route=route, since=since, limit=limit, budget=budget)


@operation("trace_compare")
def trace_compare(store: Store, id: str, plan: str, budget: int = 20) -> dict[str, Any]:  # noqa: A002
    """Compare a trace with a plan (markdown path or text): missing steps, unexpected spans, order and budgets.

    Steps are the plan's list items; backticked references (functions, routes, tables,
    services, SQL) are matched to spans, and budgets like "< 200 ms" are checked.
    """
    text = plan_mod.read_plan(plan)
    return compare_mod.compare(tree.load(store, id), plan_mod.parse_plan(text), budget=budget)


@operation("trace_diff")
def trace_diff(
    store: Store,
    a: str | None = None,
    b: str | None = None,
    route: str | None = None,
    deploy: str | None = None,
    service: str | None = None,
    sample: int = 20,
    budget: int = 20,
) -> dict[str, Any]:
    """Before/after: two traces (``a``, ``b``), or a route's traces before and after a deploy.

    Reports spans new and gone, count changes, duration shifts per kind and new problems.
    ``deploy`` is a deploy ID (dep_…) or a time; ``sample`` traces per side are compared.
    """
    return diff_mod.diff(store, a=a, b=b, route=route, deploy=deploy, service=service, sample=sample,
                         budget=budget)
