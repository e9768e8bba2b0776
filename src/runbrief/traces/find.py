"""Find traces: by service, route, span name, status, duration, time and attribute; latest first.

Filters on what a span is (service, route, name, attribute, time) pick candidate traces
from the ``spans`` table; filters on what a trace is (status, duration) apply to the
aggregate of all its spans. A route matches ``http.route``/``url.path`` (the ``route``
column), a span name equal to it, or a span name ending in it ("GET /cart"), so users
need not know which one their instrumentation set.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from runbrief.errors import NotFound, UsageError
from runbrief.queries import fmt_ts, parse_time

__all__ = ["find_traces", "latest_trace_id", "route_clause", "trace_ids_for", "span_filters"]


def route_clause(route: str) -> tuple[str, list[Any]]:
    return "(route = ? OR name = ? OR ends_with(name, ?))", [route, route, " " + route]


def span_filters(service: str | None = None, route: str | None = None, name: str | None = None,
                 attribute: str | None = None, since: str | None = None, until: str | None = None,
                 before: datetime | None = None, after: datetime | None = None) -> tuple[list[str], list[Any]]:
    where: list[str] = []
    args: list[Any] = []
    if service:
        where.append("service = ?")
        args.append(service)
    if route:
        sql, a = route_clause(route)
        where.append(sql)
        args += a
    if name:
        where.append("contains(lower(name), lower(?))")
        args.append(name)
    if attribute:
        key, sep, value = attribute.partition("=")
        if not sep or not key.strip():
            raise UsageError(f"attribute filter {attribute!r} must look like key=value, e.g. http.response.status_code=500")
        where.append("json_extract_string(attributes, ?) = ?")
        args += ['$."' + key.strip().replace('"', '') + '"', value.strip()]
    if (t := parse_time(since)) is not None:
        where.append("start_ts >= ?")
        args.append(t)
    if (t := parse_time(until)) is not None:
        where.append("start_ts < ?")
        args.append(t)
    if before is not None:
        where.append("start_ts < ?")
        args.append(before)
    if after is not None:
        where.append("start_ts >= ?")
        args.append(after)
    return where, args


def find_traces(store: Any, service: str | None = None, route: str | None = None, name: str | None = None,
                status: str | None = None, min_duration_ms: float | None = None, since: str | None = None,
                until: str | None = None, attribute: str | None = None, limit: int = 20) -> dict[str, Any]:
    if status not in (None, "", "error", "ok"):
        raise UsageError(f"status must be 'error' or 'ok', got {status!r}")
    limit = max(1, min(int(limit), 1000))
    where, args = span_filters(service, route, name, attribute, since, until)
    having: list[str] = []
    if status == "error":
        having.append("errors > 0")
    elif status == "ok":
        having.append("errors = 0")
    if min_duration_ms is not None:
        having.append("duration_ms >= ?")
    # Latest first without aggregating every trace in the store: look at the newest
    # spans first (a window of 50 spans per trace wanted, then 1,000, then all) and keep
    # it if more than ``limit`` traces *start* inside it: a trace starting earlier cannot
    # rank above those, so the answer is exact.
    filt = " WHERE " + " AND ".join(where) if where else ""
    rows: list[dict[str, Any]] = []
    for depth in (50 * limit, 1000 * limit, None):
        floor = None
        if depth is not None:
            floor = store.scalar(f"SELECT start_ns FROM spans{filt} ORDER BY start_ns DESC LIMIT 1 OFFSET ?",
                                 [*args, depth])
            if floor is None:
                continue  # fewer spans than that: the next round covers them
        rows = _aggregate(store, where, args, having, min_duration_ms, limit, floor)
        if len(rows) > limit or floor is None:
            break
    traces = [
        {
            "trace_id": f"trc_{r['trace_id']}",
            "root": r["root_name"] or r["first_name"],
            "route": r["route"],
            "service": r["root_service"] or r["first_service"],
            "start": fmt_ts(r["start_ts"]),
            "duration_ms": round(r["duration_ms"], 3),
            "spans": r["spans"],
            "errors": r["errors"],
            **({} if r["root_name"] else {"missing_root": True}),
        }
        for r in rows[:limit]
    ]
    return {"traces": traces, "truncated": len(rows) > limit}


def _aggregate(store: Any, where: list[str], args: list[Any], having: list[str], min_duration_ms: float | None,
               limit: int, floor_ns: int | None) -> list[dict[str, Any]]:
    w, a, h = list(where), list(args), list(having)
    if floor_ns is not None:
        w.append("start_ns >= ?")
        a.append(floor_ns)
        h.append("start_ns >= ?")
    cand = "SELECT DISTINCT trace_id FROM spans" + (" WHERE " + " AND ".join(w) if w else "")
    sql = f"""
        WITH cand AS ({cand}),
        agg AS (
            SELECT trace_id, min(start_ns) start_ns, (max(end_ns) - min(start_ns)) / 1e6 duration_ms,
                   count(*) spans, count(*) FILTER (WHERE status_code = 'ERROR') errors,
                   arg_min(name, start_ns) FILTER (WHERE parent_span_id IS NULL) root_name,
                   arg_min(service, start_ns) FILTER (WHERE parent_span_id IS NULL) root_service,
                   arg_min(name, start_ns) first_name, arg_min(service, start_ns) first_service,
                   arg_min(route, start_ns) FILTER (WHERE route IS NOT NULL) route,
                   min(start_ts) start_ts
            FROM spans SEMI JOIN cand USING (trace_id) GROUP BY trace_id)
        SELECT * FROM agg {"WHERE " + " AND ".join(h) if h else ""}
        ORDER BY start_ns DESC, trace_id DESC LIMIT ?"""
    params = [*a, *([min_duration_ms] if min_duration_ms is not None else []),
              *([floor_ns] if floor_ns is not None else []), limit + 1]
    return store.query(sql, params)


def latest_trace_id(store: Any, route: str | None = None, service: str | None = None) -> str:
    """The most recent trace of a route (and/or service); NotFound says what was looked for.

    One top-1 scan of ``spans`` filtered on the ``route`` column: measured at ~30 ms on a
    million spans (bench/bench_traces.py), no index needed.
    """
    where, args = span_filters(service=service, route=route)
    sql = "SELECT trace_id FROM spans" + (" WHERE " + " AND ".join(where) if where else "")
    tid = store.scalar(sql + " ORDER BY start_ts DESC, trace_id DESC LIMIT 1", args)  # ties: the same on every store
    if tid is None:
        what = " and ".join(x for x in (f"route {route!r}" if route else "", f"service {service!r}" if service else "") if x)
        raise NotFound(f"no trace for {what or 'any route'} in {store.path}; "
                       "list what there is with `runbrief traces`")
    return str(tid)


def trace_ids_for(store: Any, where: list[str], args: list[Any], limit: int, newest: bool = True) -> list[str]:
    """IDs of up to ``limit`` traces having a span that matches, newest (or oldest) first."""
    sql = ("SELECT trace_id, max(start_ts) t FROM spans" + (" WHERE " + " AND ".join(where) if where else "")
           + f" GROUP BY trace_id ORDER BY t {'DESC' if newest else 'ASC'}, trace_id LIMIT ?")
    return [r["trace_id"] for r in store.query(sql, [*args, limit])]
