"""Is it safe to promote? What the candidate does in one environment that the target's current version does not.

``promote_check(store, service, source="staging", target="production")`` reads environments
from the resource attribute ``deployment.environment.name`` (or the older
``deployment.environment``, ``Resource.environment``). The *candidate* is the version the
service runs in ``source`` now (its latest resource there); the *current* version is the one
it runs in ``target``. The candidate's records are all it produced in ``source`` (within
``window``); the current version's are its last ``window`` in ``target``.

Staging serves a fraction of production's traffic, so the two are compared per unit of
their own volume, never per minute: the exposure of a log pattern is the lines each side
logged, of an error share the lines or requests, of a trace problem the traces examined.
The tests are the ones ``changes`` uses (``_stats``), Bonferroni-corrected over each family
with ``changes``' false-alarm rate, minimum volume and minimum ratio:

- ``new_pattern``: an error/warning pattern the current version never logged, as ``changes``
  tests ``new``: the chance that all of the distinct minutes it appeared in fell on the
  candidate's side, given its share of the lines (bursts count once);
- ``pattern_up``: an error/warning pattern's rate per line rose (``rate_test``, the exact
  conditional test of two Poisson counts with the lines as exposures);
- ``error_share``: the share of error lines, and of failed requests, rose
  (``proportion_test``, as ``changes``' ``error_share``);
- ``latency``: a route's requests exceed the current version's p95 more often than the 5%
  the same distribution would (a binomial exceedance test), and its p95 grew by ``LATENCY_RATIO``;
- ``trace_problem``: a performance problem (N+1, slow query…, ``traces.detectors``) affects a
  larger share of the candidate's traces of a route.

The verdict is ``not_safe`` when any item is found, else ``safe``; each item cites evidence
IDs (``pat_``, ``spn_``, ``trc_``) that ``runbrief show`` opens.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from runbrief import ids
from runbrief.analyze._stats import binom_sf, proportion_test, rate_test
from runbrief.analyze.changes import ALPHA, MIN_COUNT, MIN_RATIO, MIN_SHARE_SHIFT
from runbrief.errors import UsageError
from runbrief.ops import operation
from runbrief.queries import fmt_ts, parse_duration
from runbrief.store.duck import Store

__all__ = ["promote_check", "LATENCY_RATIO", "MIN_REQUESTS"]

LATENCY_RATIO = 1.2   # a route's p95 must grow by a fifth to count, whatever the p-value
MIN_REQUESTS = 20     # requests of a route on each side before its latency is compared
MAX_TRACES = 200      # traces per side examined for performance problems
_ERROR = "(l.severity_number >= 17 OR l.severity_inferred IN ('ERROR', 'FATAL'))"
_WARN = "(l.severity_number >= 13 OR l.severity_inferred IN ('WARN', 'ERROR', 'FATAL'))"


class Side:
    """One environment's version of the service: its resources and the window of its records."""

    def __init__(self, store: Store, service: str, env: str, window: timedelta, end: datetime) -> None:
        rows = store.query("SELECT resource_id, version, first_seen, last_seen FROM resources WHERE service = ? AND "
                           "environment = ? ORDER BY last_seen DESC NULLS LAST", [service, env])
        self.env = env
        self.version: str | None = rows[0]["version"] if rows else None
        mine = [r for r in rows if r["version"] == self.version]
        self.resources = [r["resource_id"] for r in mine]
        first = min((r["first_seen"] for r in mine if r["first_seen"]), default=end - window)
        self.start = max(first, end - window)
        self.end = end + timedelta(microseconds=1)
        self.service = service

    def where(self, alias: str, ts: str) -> tuple[str, list[Any]]:
        marks = ", ".join("?" * len(self.resources))
        return (f"{alias}.service = ? AND {alias}.resource_id IN ({marks}) AND {alias}.{ts} >= ? AND "
                f"{alias}.{ts} < ?", [self.service, *self.resources, self.start, self.end])

    def describe(self) -> dict[str, Any]:
        return {"environment": self.env, "version": self.version, "window": [fmt_ts(self.start), fmt_ts(self.end)]}


def _patterns(store: Store, side: Side) -> tuple[dict[str, dict[str, Any]], int, int]:
    """Per pattern: lines, error/warning lines, distinct minutes, an example log ID; and the side's totals."""
    w, args = side.where("l", "ts")
    rows = store.query(
        f"""SELECT l.pattern_id, count(*) n, count(*) FILTER (WHERE {_ERROR}) e, count(*) FILTER (WHERE {_WARN}) w,
                   count(DISTINCT date_trunc('minute', l.ts)) n_min, max(l.id) example
            FROM logs l WHERE {w} AND l.pattern_id IS NOT NULL GROUP BY l.pattern_id""", args)
    by = {r["pattern_id"]: r for r in rows}
    return by, sum(int(r["n"]) for r in rows), sum(int(r["e"]) for r in rows)


def _pattern_items(store: Store, cand: Side, cur: Side) -> list[dict[str, Any]]:
    c, c_lines, c_err = _patterns(store, cand)
    b, b_lines, b_err = _patterns(store, cur)
    items: list[dict[str, Any]] = []
    if c_lines == 0:
        return items
    share = c_lines / (c_lines + b_lines) if b_lines else 1.0
    bad = {k: r for k, r in c.items() if int(r["w"]) > 0}
    fresh = [k for k in bad if k not in b]
    old = [k for k in bad if k in b and int(bad[k]["n"]) + int(b[k]["n"]) >= MIN_COUNT]
    n_new, n_rate = max(1, len(fresh)), max(1, len(old))
    for k in fresh:
        r = bad[k]
        p = share ** int(r["n_min"]) if b_lines else 0.0
        if p * n_new < ALPHA:
            items.append({"kind": "new_pattern", "pattern_id": k, "errors": int(r["e"]), "count": int(r["n"]),
                          "p_value": float(f"{p:.3g}"),
                          "summary": f"a {'error' if int(r['e']) else 'warning'} pattern {cur.env}'s "
                                     f"{cur.version} never logged: {int(r['n'])} line(s) in {int(r['n_min'])} minute(s)",
                          "evidence": [ids.make("pat", k), ids.make("log", r["example"])]})
    for k in old:
        r, o = bad[k], b[k]
        rt = rate_test(int(r["n"]), int(o["n"]), c_lines, b_lines)
        if int(r["n"]) >= MIN_COUNT and rt.ratio >= MIN_RATIO and rt.p_up * n_rate < ALPHA:
            items.append({"kind": "pattern_up", "pattern_id": k, "ratio": round(rt.ratio, 2),
                          "p_value": float(f"{rt.p_up:.3g}"),
                          "candidate": {"count": int(r["n"]), "lines": c_lines},
                          "current": {"count": int(o["n"]), "lines": b_lines},
                          "summary": f"{rt.ratio:.1f}x the rate per line of {cur.env}'s {cur.version}",
                          "evidence": [ids.make("pat", k), ids.make("log", r["example"])]})
    share_item = _share("lines", c_err, c_lines, b_err, b_lines, 2)
    if share_item:
        drivers = sorted(bad, key=lambda k: -(int(bad[k]["e"]) / c_lines - int(b.get(k, {}).get("e", 0)) / max(1, b_lines)))
        share_item["evidence"] = [ids.make("pat", k) for k in drivers[:3]]
        items.append(share_item)
    return items


def _share(what: str, x_c: int, n_c: int, x_b: int, n_b: int, n_tests: int) -> dict[str, Any] | None:
    """``changes``' error-share rule: enough volume, a shift of a point and of half, significant."""
    if n_c < 2 * MIN_COUNT or n_b < 2 * MIN_COUNT or x_c + x_b < 5:
        return None
    sc, sb = x_c / n_c, x_b / n_b
    ratio = ((x_c + 0.5) / n_c) / ((x_b + 0.5) / n_b)
    z, p = proportion_test(x_c, n_c, x_b, n_b)
    if z <= 0 or sc - sb < MIN_SHARE_SHIFT or ratio < 1.5 or p * n_tests >= ALPHA:
        return None
    return {"kind": "error_share", "of": what, "ratio": round(ratio, 2), "p_value": float(f"{p:.3g}"),
            "candidate": {"errors": x_c, "total": n_c, "share": round(sc, 5)},
            "current": {"errors": x_b, "total": n_b, "share": round(sb, 5)},
            "summary": f"{sc:.1%} of {what} {'failed' if what == 'requests' else 'are errors'} vs {sb:.1%}"}


def _spans(store: Store, side: Side) -> list[dict[str, Any]]:
    w, args = side.where("s", "start_ts")
    return store.query(
        f"""SELECT coalesce(s.route, s.name) route, count(*) n, count(*) FILTER (WHERE s.status_code = 'ERROR') e,
                   quantile_cont(s.duration_ms, 0.95) p95, list(s.duration_ms) d,
                   arg_max(s.span_id, s.duration_ms) slowest, arg_max(s.span_id, s.status_code = 'ERROR') failed
            FROM spans s WHERE {w} AND (s.kind = 'SERVER' OR s.parent_span_id IS NULL OR s.parent_span_id = '')
            GROUP BY 1""", args)


def _request_items(store: Store, cand: Side, cur: Side) -> list[dict[str, Any]]:
    c = {r["route"]: r for r in _spans(store, cand)}
    b = {r["route"]: r for r in _spans(store, cur)}
    items: list[dict[str, Any]] = []
    shared = [r for r in c if r in b and c[r]["n"] >= MIN_REQUESTS and b[r]["n"] >= MIN_REQUESTS]
    n_tests = max(1, len(shared))
    for route in shared:
        rc, rb = c[route], b[route]
        over = sum(1 for d in rc["d"] if d > rb["p95"])
        p = binom_sf(over - 1, rc["n"], 0.05) if over else 1.0  # P(X >= over) when 5% exceed, as they should
        if rc["p95"] > rb["p95"] * LATENCY_RATIO and p * n_tests < ALPHA:
            items.append({"kind": "latency", "route": route, "p_value": float(f"{p:.3g}"),
                          "candidate": {"requests": rc["n"], "p95_ms": round(rc["p95"], 2), "over_current_p95": over},
                          "current": {"requests": rb["n"], "p95_ms": round(rb["p95"], 2)},
                          "summary": f"p95 {rc['p95']:.0f} ms vs {rb['p95']:.0f} ms; {over} of {rc['n']} requests "
                                     f"slower than the current p95 (5% expected)",
                          "evidence": [ids.make("spn", rc["slowest"])]})
    x_c, n_c = sum(r["e"] for r in c.values()), sum(r["n"] for r in c.values())
    x_b, n_b = sum(r["e"] for r in b.values()), sum(r["n"] for r in b.values())
    item = _share("requests", x_c, n_c, x_b, n_b, 2)
    if item:
        failing = sorted((r for r in c.values() if r["e"]), key=lambda r: -r["e"])
        item["evidence"] = [ids.make("spn", r["failed"]) for r in failing[:3]]
        items.append(item)
    return items


def _problems(store: Store, side: Side) -> tuple[dict[tuple[str, str], list[str]], dict[str, int]]:
    from runbrief.traces.detectors import detect
    from runbrief.traces.perf import trace_route
    from runbrief.traces.tree import load_many

    w, args = side.where("s", "start_ts")
    tids = [r["trace_id"] for r in store.query(
        f"SELECT s.trace_id FROM spans s WHERE {w} GROUP BY 1 ORDER BY max(s.start_ts) DESC LIMIT {MAX_TRACES}", args)]
    hit: dict[tuple[str, str], list[str]] = {}
    examined: dict[str, int] = {}
    for tid, trace in load_many(store, tids).items():
        route = trace_route(trace)
        examined[route] = examined.get(route, 0) + 1
        for p in {p["type"]: p for p in detect(trace)}.values():
            hit.setdefault((route, p["type"]), []).append(tid)
    return hit, examined


def _trace_items(store: Store, cand: Side, cur: Side) -> list[dict[str, Any]]:
    c, c_n = _problems(store, cand)
    b, b_n = _problems(store, cur)
    n_tests = max(1, len(c))
    items = []
    for (route, ptype), tids in c.items():
        n_c, n_b = c_n.get(route, 0), b_n.get(route, 0)
        k_b = len(b.get((route, ptype), []))
        if n_b == 0:
            continue  # a route the current version does not serve: nothing to compare with
        rt = rate_test(len(tids), k_b, n_c, n_b)
        if len(tids) >= 3 and rt.ratio >= MIN_RATIO and rt.p_up * n_tests < ALPHA:
            items.append({"kind": "trace_problem", "route": route, "type": ptype, "ratio": round(rt.ratio, 2),
                          "p_value": float(f"{rt.p_up:.3g}"),
                          "candidate": {"traces": len(tids), "examined": n_c},
                          "current": {"traces": k_b, "examined": n_b},
                          "summary": f"{ptype} in {len(tids)} of {n_c} traces vs {k_b} of {n_b}",
                          "evidence": [ids.make("trc", t) for t in tids[:3]]})
    return items


def _known(store: Store, service: str) -> list[str]:
    return [r["environment"] for r in store.query(
        "SELECT DISTINCT environment FROM resources WHERE service = ? AND environment IS NOT NULL ORDER BY 1",
        [service])]


@operation("promote_check")
def promote_check(store: Store, service: str, source: str = "staging", target: str = "production",
                  window: str = "24h") -> dict[str, Any]:
    """Is the version running in ``source`` safe to promote to ``target``? safe / not_safe with cited items.

    Compares what the candidate does in ``source`` that ``target``'s current version does not:
    new error patterns, error share, latency per route, trace problems (per unit of each
    side's own volume, with the tests ``changes`` uses). Environments come from the
    ``deployment.environment(.name)`` resource attribute.
    """
    from runbrief.analyze.incidents import data_now

    services = [r["service"] for r in store.query("SELECT DISTINCT service FROM resources ORDER BY 1")]
    if service not in services:
        raise UsageError(f"no service {service!r} in the store; known: {', '.join(services) or 'none'}")
    envs = _known(store, service)
    for env in (source, target):
        if env not in envs:
            raise UsageError(f"{service} has no telemetry from environment {env!r} (deployment.environment.name); "
                             f"known: {', '.join(envs) or 'none: set OTEL_RESOURCE_ATTRIBUTES=deployment.environment.name=…'}")
    if source == target:
        raise UsageError("--from and --to name the same environment")
    end = data_now(store) or datetime(1970, 1, 1)
    span = parse_duration(window)
    cand, cur = Side(store, service, source, span, end), Side(store, service, target, span, end)
    items = _pattern_items(store, cand, cur) + _request_items(store, cand, cur) + _trace_items(store, cand, cur)
    for it in items:
        it["evidence"] = [e for e in it["evidence"] if ids.exists(store, e)]
    items.sort(key=lambda i: (i["p_value"], i["kind"]))
    verdict = "not_safe" if items else "safe"
    notes = []
    if cand.version == cur.version:
        notes.append("both environments run the same version: nothing new to promote")
    text = (f"{service} {cand.version} in {source} is {'NOT safe' if items else 'safe'} to promote over "
            f"{cur.version} in {target}" + (f": {len(items)} problem(s) {target} does not have" if items else
                                             ": nothing it does that the current version does not"))
    return {"verdict": verdict, "service": service, "candidate": cand.describe(), "current": cur.describe(),
            "items": items, "text": text, "notes": notes, "exit_code": 1 if items else 0,
            "evidence": list(dict.fromkeys(e for i in items for e in i["evidence"]))[:10],
            "alpha": ALPHA, "latency_ratio": LATENCY_RATIO,
            "tested": {"traces_per_side": MAX_TRACES, "min_requests_per_route": MIN_REQUESTS,
                       "window": window, "volume_ratio": _ratio(store, cand, cur)}}


def _ratio(store: Store, cand: Side, cur: Side) -> float | None:
    """Candidate lines per current-version line: how much smaller the source's traffic is."""
    def n(side: Side) -> int:
        w, args = side.where("l", "ts")
        return int(store.scalar(f"SELECT count(*) FROM logs l WHERE {w}", args) or 0)

    b = n(cur)
    return round(n(cand) / b, 4) if b else None
