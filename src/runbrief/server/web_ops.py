"""Read-only operations the web page draws from: series on a time axis and a trace's rows.

The other operations answer questions in words and a few cited items, cut to a budget for
an agent. A chart and a waterfall need the numbers behind them instead: a pattern's rate
per time bucket, a service's requests, error share and latency per route, tokens and cost
per model, and every span of a trace in tree order. These are those numbers, bounded so
the page never asks for more than it shows:

- a series has at most ``points`` buckets (default 720, at most 2,000): a week of
  per-minute counts is summed into buckets of 14 minutes, not sent as 10,080 points;
- a trace comes in windows of rows (``offset``, ``limit`` up to 1,000) in depth-first order,
  each row with the size of its subtree, so the page can fold a subtree by skipping a range
  and fetch only the rows it scrolls to.

They are operations like any other (CLI, MCP and HTTP could call them), registered in
``runbrief.ops``; nothing here writes.
"""

from __future__ import annotations

import math
import threading
from collections import OrderedDict
from datetime import datetime, timedelta
from typing import Any

import orjson

from runbrief import ids
from runbrief.errors import NotFound, UsageError
from runbrief.ops import operation
from runbrief.queries import fmt_ts, parse_time
from runbrief.store.duck import Store

__all__ = ["web_pattern_series", "web_service_series", "web_trace", "web_llm_series", "web_log_facets",
           "web_verdict", "web_eval_runs", "MAX_POINTS", "MAX_ROWS"]

MAX_POINTS = 2000
MAX_ROWS = 1000
MAX_PROBLEMS = 30  # the costliest; every row still names the problems it is part of
MAX_PROBLEM_SPANS = 100
_MS = 1_000_000


def _points(points: int) -> int:
    return max(10, min(int(points), MAX_POINTS))


def _range(store: Store, since: str | None, until: str | None, lo: datetime | None,
           hi: datetime | None) -> tuple[datetime, datetime]:
    """The window: given bounds, else the data's own (``lo``..``hi``), in whole minutes."""
    end = parse_time(until, now=hi) if until else hi
    start = parse_time(since, now=end) if since else lo
    if start is None or end is None:
        raise NotFound("no data in this store for that yet")
    start = start.replace(second=0, microsecond=0)
    end = end.replace(second=0, microsecond=0) + timedelta(minutes=1)
    if end <= start:
        raise UsageError(f"the window is empty: since {fmt_ts(start)} is not before until {fmt_ts(end)}")
    return start, end


def _step(start: datetime, end: datetime, points: int) -> int:
    """Bucket width in seconds: whole minutes (counts are per minute), at most ``points`` buckets."""
    minutes = (end - start).total_seconds() / 60.0
    return 60 * max(1, math.ceil(minutes / points))


def _axis(start: datetime, end: datetime, step: int) -> list[int]:
    t0 = int(start.timestamp()) if start.tzinfo else int((start - datetime(1970, 1, 1)).total_seconds())
    n = max(1, math.ceil((end - start).total_seconds() / step))
    return [t0 + i * step for i in range(n)]


def _bucket_sql(col: str, start_param: str = "?") -> str:
    # bucket index = floor(seconds since start / step)
    return f"CAST(floor((epoch({col}) - epoch(CAST({start_param} AS TIMESTAMP))) / ?) AS BIGINT)"


def _fill(n: int, rows: list[dict[str, Any]], key: str, value: str, cast: Any = int) -> list[Any]:
    out: list[Any] = [0] * n
    for r in rows:
        b = int(r[key])
        if 0 <= b < n and r[value] is not None:
            out[b] = cast(r[value])
    return out


def _deploys(store: Store, start: datetime, end: datetime, service: str | None = None) -> list[dict[str, Any]]:
    rows = store.query("SELECT id, ts, service, version FROM deploys WHERE ts >= ? AND ts < ? "
                       "AND (? IS NULL OR service = ?) ORDER BY ts, id LIMIT 200", [start, end, service, service])
    return [{"id": ids.make("dep", r["id"]), "ts": fmt_ts(r["ts"]), "service": r["service"],
             "version": r["version"]} for r in rows]


def _header(start: datetime, end: datetime, step: int) -> dict[str, Any]:
    t = _axis(start, end, step)
    return {"start": fmt_ts(start), "end": fmt_ts(end), "step_s": step, "t": t, "points": len(t)}


@operation("web_pattern_series")
def web_pattern_series(store: Store, id: str, since: str | None = None, until: str | None = None,  # noqa: A002
                       service: str | None = None, points: int = 720) -> dict[str, Any]:
    """A pattern's lines (and errors) per time bucket, per service, with the deploys in the window.

    The window defaults to the pattern's first to last line; at most ``points`` buckets.
    """
    pid = str(id).strip().removeprefix("pat_")
    pid = store.scalar("SELECT coalesce((SELECT new_id FROM pattern_aliases WHERE old_id = ?), ?)", [pid, pid])
    # Lines filed under IDs the template had before it generalized count as this pattern's.
    pids = [pid] + [r["old_id"] for r in store.query("SELECT old_id FROM pattern_aliases WHERE new_id = ?", [pid])]
    row = store.query("SELECT min(minute) lo, max(minute) hi FROM pattern_counts WHERE list_contains(?, pattern_id)",
                      [pids])[0]
    if row["lo"] is None:
        raise NotFound(f"no lines counted for pat_{pid}; `runbrief patterns` lists the patterns")
    start, end = _range(store, since, until, row["lo"], row["hi"])
    step = _step(start, end, _points(points))
    out = {"id": ids.make("pat", pid), **_header(start, end, step)}
    n = out["points"]
    rows = store.query(
        f"""SELECT service, {_bucket_sql('minute')} b, sum(count) n, sum(errors) e FROM pattern_counts
            WHERE list_contains(?, pattern_id) AND minute >= ? AND minute < ? AND (? IS NULL OR service = ?)
            GROUP BY ALL ORDER BY service, b""", [start, step, pids, start, end, service, service])
    by_service: dict[str, list[dict[str, Any]]] = {}
    for r in rows:
        by_service.setdefault(r["service"], []).append(r)
    out["series"] = [{"service": s, "count": _fill(n, rs, "b", "n"), "errors": _fill(n, rs, "b", "e")}
                     for s, rs in sorted(by_service.items())]
    out["total"] = _fill(n, rows, "b", "n") if len(by_service) <= 1 else [
        sum(col) for col in zip(*(s["count"] for s in out["series"]), strict=True)]
    out["deploys"] = _deploys(store, start, end)
    return out


@operation("web_service_series")
def web_service_series(store: Store, name: str, since: str | None = None, until: str | None = None,
                       points: int = 360, routes: int = 8) -> dict[str, Any]:
    """A service over time: log lines and error lines, requests, failed requests and p50/p95
    latency per route (its top ``routes`` by requests), and its deploys, per time bucket."""
    svc = str(name)
    lo_hi = store.query(
        """SELECT least((SELECT min(minute) FROM pattern_counts WHERE service = ?),
                        (SELECT min(start_ts) FROM spans WHERE service = ?)) lo,
                  greatest((SELECT max(minute) FROM pattern_counts WHERE service = ?),
                           (SELECT max(start_ts) FROM spans WHERE service = ?)) hi""", [svc] * 4)[0]
    if lo_hi["lo"] is None:
        raise NotFound(f"no telemetry of service {svc!r}; `runbrief services` lists them")
    start, end = _range(store, since, until, lo_hi["lo"], lo_hi["hi"])
    step = _step(start, end, _points(points))
    out = {"service": svc, **_header(start, end, step)}
    n = out["points"]
    logs = store.query(
        f"""SELECT {_bucket_sql('minute')} b, sum(count) n, sum(errors) e FROM pattern_counts
            WHERE service = ? AND minute >= ? AND minute < ? GROUP BY b""", [start, step, svc, start, end])
    lc, le = _fill(n, logs, "b", "n"), _fill(n, logs, "b", "e")
    out["logs"] = {"count": lc, "errors": le, "share": [round(e / c, 4) if c else None for e, c in zip(le, lc, strict=True)]}
    # Requests: spans that start a request in this service (no parent, or a parent elsewhere).
    req_where = """s.service = ? AND s.start_ts >= ? AND s.start_ts < ? AND coalesce(s.route, '') <> ''
                   AND (s.parent_span_id IS NULL OR s.parent_span_id = '' OR s.kind = 'SERVER')"""
    top = store.query(f"""SELECT s.route, count(*) n FROM spans s WHERE {req_where}
                          GROUP BY s.route ORDER BY n DESC, s.route LIMIT ?""",
                      [svc, start, end, max(1, min(int(routes), 20))])
    names = [r["route"] for r in top]
    series = []
    if names:
        rows = store.query(
            f"""SELECT s.route, {_bucket_sql('s.start_ts')} b, count(*) n,
                       count(*) FILTER (WHERE s.status_code = 'ERROR') e,
                       quantile_cont(s.duration_ms, 0.5) p50, quantile_cont(s.duration_ms, 0.95) p95
                FROM spans s WHERE {req_where} AND s.route IN (SELECT unnest(?::VARCHAR[]))
                GROUP BY ALL""", [start, step, svc, start, end, names])
        for route in names:
            rs = [r for r in rows if r["route"] == route]
            series.append({"route": route, "requests": _fill(n, rs, "b", "n"), "errors": _fill(n, rs, "b", "e"),
                           "p50_ms": [None] * n, "p95_ms": [None] * n})
            for r in rs:
                b = int(r["b"])
                if 0 <= b < n:
                    series[-1]["p50_ms"][b] = round(float(r["p50"]), 3)
                    series[-1]["p95_ms"][b] = round(float(r["p95"]), 3)
    out["routes"] = series
    req = [sum(c) for c in zip(*(s["requests"] for s in series), strict=True)] if series else [0] * n
    err = [sum(c) for c in zip(*(s["errors"] for s in series), strict=True)] if series else [0] * n
    out["requests"] = {"count": req, "errors": err}
    out["error_share"] = [round(e / q, 4) if q else None for e, q in zip(err, req, strict=True)]
    tot_req, tot_err = sum(req), sum(err)
    out["totals"] = {"requests": tot_req, "failed_requests": tot_err,
                     "error_share": round(tot_err / tot_req, 4) if tot_req else None,
                     "log_lines": sum(out["logs"]["count"]), "error_lines": sum(out["logs"]["errors"])}
    out["deploys"] = _deploys(store, start, end, svc)
    return out


_TRACES: OrderedDict[tuple[str, str, int], dict[str, Any]] = OrderedDict()
_TRACES_LOCK = threading.Lock()  # operations run on the server's worker threads


def _trace_rows(store: Store, key: str) -> dict[str, Any]:
    """Every span of a trace in depth-first order with what the waterfall draws; cached per
    (store, trace, span count) so scrolling a 5,000-span trace builds its tree once."""
    from runbrief.traces import critical, detectors, tree
    from runbrief.traces.summary import trace_header

    count = int(store.scalar("SELECT count(*) FROM spans WHERE trace_id = ?", [key]) or 0)
    ck = (str(store.path), key, count)
    with _TRACES_LOCK:
        if ck in _TRACES:
            _TRACES.move_to_end(ck)
            return _TRACES[ck]
    trace = tree.load(store, key)
    on_path = {id(n) for n, _, _ in critical.by_span(critical.critical_path(trace))}
    problems = detectors.detect(trace)
    flags: dict[str, list[str]] = {}
    for p in problems:
        for sid in p.get("span_ids") or []:
            if p["type"] not in flags.setdefault(sid, []):
                flags[sid].append(p["type"])
    order = [n for n in trace.walk() if not n.virtual]
    index = {id(n): i for i, n in enumerate(order)}
    size = [0] * len(order)
    for i in range(len(order) - 1, -1, -1):  # subtree sizes, children after parents in depth-first order
        n = order[i]
        p = n.parent
        if p is not None and id(p) in index:
            size[index[id(p)]] += size[i] + 1
    shift = 1 if trace.root.virtual else 0
    rows = []
    for i, n in enumerate(order):
        sid = f"spn_{n.span_id}"
        row: dict[str, Any] = {
            "i": i, "span_id": sid,
            "parent": index.get(id(n.parent)) if n.parent is not None else None,
            "depth": n.depth - shift, "name": n.name, "service": n.service, "kind": n.desc.category,
            "offset_ms": round((n.start - trace.start) / _MS, 3), "duration_ms": round(n.duration_ns / _MS, 3),
            "self_ms": round(n.self_ns / _MS, 3), "error": n.is_error, "critical": id(n) in on_path,
            "subtree": size[i],
        }
        if sid in flags:
            row["problems"] = flags[sid]
        rows.append(row)
    header = trace_header(trace)
    ranked = sorted(problems, key=lambda p: -(p.get("time_ms") or 0))
    out = {**header, "start_ns": trace.start, "problems": [
        {k: v for k, v in p.items() if k != "span_ids"} | {"span_ids": p.get("span_ids", [])[:MAX_PROBLEM_SPANS]}
        for p in ranked[:MAX_PROBLEMS]], "problems_total": len(problems),
        "integrity": [{"type": i["type"], "detail": i.get("detail", "")} for i in trace.issues], "_rows": rows}
    with _TRACES_LOCK:
        _TRACES[ck] = out
        while len(_TRACES) > 4:
            _TRACES.popitem(last=False)
    return out


@operation("web_trace")
def web_trace(store: Store, id: str, offset: int = 0, limit: int = 200) -> dict[str, Any]:  # noqa: A002
    """A trace's spans in depth-first order for a waterfall, a window of ``limit`` rows at ``offset``.

    Each row has its parent's row index, depth, start offset and duration, whether it failed,
    whether it is on the critical path, the types of the problems it is part of (N+1 runs,
    swallowed errors…) and ``subtree`` (how many rows below it belong to it). ``problems``
    holds the costliest ``MAX_PROBLEMS`` of ``problems_total``.
    """
    from runbrief.traces import tree

    key = tree.parse_trace_id(id)
    data = _trace_rows(store, key)
    off = max(0, int(offset))
    lim = max(1, min(int(limit), MAX_ROWS))
    rows = data["_rows"]
    return {**{k: v for k, v in data.items() if k != "_rows"}, "total": len(rows), "offset": off,
            "rows": rows[off:off + lim]}


@operation("web_llm_series")
def web_llm_series(store: Store, since: str | None = None, until: str | None = None, service: str | None = None,
                   points: int = 240) -> dict[str, Any]:
    """LLM calls, input/output tokens and cost per model per time bucket (the agents
    operation's totals, drawn over time)."""
    from runbrief.evals import config as cfgmod
    from runbrief.evals import genai
    from runbrief.evals.ops import _scope

    cfg = cfgmod.load(None)
    scope = _scope(since, until, service, None, None)
    with genai.materialized(store, scope, cfg.prices) as (cur, g):
        lo, hi = cur.execute(f"SELECT min(start_ts), max(start_ts) FROM {g} WHERE kind = 'model'").fetchone()
        if lo is None:
            return {"points": 0, "t": [], "models": [], "step_s": 60, "start": None, "end": None}
        start, end = _range(store, None, None, lo, hi)
        step = _step(start, end, _points(points))
        out = {**_header(start, end, step)}
        n = out["points"]
        res = cur.execute(
            f"""SELECT coalesce(model, '(unknown)') model, {_bucket_sql('start_ts')} b, count(*) calls,
                       coalesce(sum(input_tokens), 0) inp, coalesce(sum(output_tokens), 0) outp, sum(cost) cost
                FROM {g} WHERE kind = 'model' GROUP BY ALL ORDER BY model, b""", [start, step])
        cols = [d[0] for d in res.description]
        rows = [dict(zip(cols, r, strict=True)) for r in res.fetchall()]
    models: dict[str, list[dict[str, Any]]] = {}
    for r in rows:
        models.setdefault(r["model"], []).append(r)
    out["models"] = [{"model": m, "calls": _fill(n, rs, "b", "calls"), "input_tokens": _fill(n, rs, "b", "inp"),
                      "output_tokens": _fill(n, rs, "b", "outp"),
                      "cost": _fill(n, rs, "b", "cost", lambda v: round(float(v), 6)),
                      "priced": any(r["cost"] is not None for r in rs)} for m, rs in sorted(models.items())]
    out["deploys"] = _deploys(store, start, end, service)
    return out


@operation("web_log_facets")
def web_log_facets(store: Store, service: str | None = None, contains: str | None = None,
                   severity: str | None = None, since: str | None = None, until: str | None = None,
                   limit: int = 15) -> dict[str, Any]:
    """The patterns of the log lines a search matches, with how many lines each holds:
    the facets beside a log search (the lines themselves come from ``logs``)."""
    from runbrief.queries import log_filters

    where, args = log_filters(service=service, severity=severity, since=since, until=until, contains=contains,
                              alias="l.")
    where.insert(0, "TRUE")
    rows = store.query(
        f"""SELECT l.pattern_id, any_value(p.template) template, count(*) n, any_value(p.severity) severity
            FROM logs l LEFT JOIN patterns p ON p.pattern_id = l.pattern_id WHERE {' AND '.join(where)}
            GROUP BY l.pattern_id ORDER BY n DESC, l.pattern_id LIMIT ?""", [*args, max(1, min(int(limit), 100))])
    total = store.scalar(f"SELECT count(*) FROM logs l WHERE {' AND '.join(where)}", args)
    return {"total": int(total or 0), "facets": [
        {"pattern_id": ids.make("pat", r["pattern_id"]) if r["pattern_id"] else None, "template": r["template"],
         "severity": r["severity"], "count": int(r["n"])} for r in rows]}


@operation("web_verdict")
def web_verdict(store: Store, id: str) -> dict[str, Any]:  # noqa: A002
    """Would the latest deploy after an incident have fixed it? ``verify``'s judgement, read only:
    nothing is recorded (``verify`` records it), and recorded outcomes come back as ``recorded``."""
    from runbrief.analyze import memory, verify
    from runbrief.analyze.incidents import data_now
    from runbrief.analyze.memory import _row

    inc = _row(store, id)
    recorded = memory.fixes(store, int(inc["id"]))
    out: dict[str, Any] = {"id": ids.make("inc", inc["id"]), "recorded": recorded, "verdict": None}
    deps = store.query("SELECT * FROM deploys WHERE service = ? AND ts > ? ORDER BY ts DESC, id DESC LIMIT 1",
                       [inc["service"], inc["started_at"]])
    end = data_now(store)
    if deps and end is not None:
        out["verdict"] = verify._judge(store, inc, deps[0], end)
    return out


@operation("web_eval_runs")
def web_eval_runs(store: Store, kind: str | None = None, limit: int = 50) -> dict[str, Any]:
    """Recorded ``eval`` and ``gate`` runs, newest first, with their verdicts (a run's scores
    come from ``eval_scores run_id=…``)."""
    rows = store.query("""SELECT run_id, ts, kind, scope::VARCHAR scope, status, checks, failed FROM eval_runs
                          WHERE ? IS NULL OR kind = ? ORDER BY ts DESC, run_id LIMIT ?""",
                       [kind, kind, max(1, min(int(limit), 500))])
    return {"runs": [{**r, "ts": fmt_ts(r["ts"]), "scope": orjson.loads(r["scope"]) if r["scope"] else None}
                     for r in rows]}
