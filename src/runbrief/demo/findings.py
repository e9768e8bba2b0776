"""Did the loop close? Which of the injected regressions runbrief's answers found, and with what evidence.

The demo knows what it broke (``REGRESSIONS``) and the log lines and SQL its v2
code emits, so it can check runbrief's answers against the truth. Each regression is
"found" when at least one answer names it and cites evidence IDs; the evidence listed is
what those answers cited, never something the demo made up.
"""

from __future__ import annotations

from typing import Any

from runbrief.demo.evidence import collect_ids, ids_in_text

__all__ = ["findings", "MARKERS", "REGRESSIONS"]

# What v2 of the shop carries (see runbrief.demo.shop), as the report names them.
REGRESSIONS = [
    {"key": "n_plus_one", "service": "shop", "route": "/cart",
     "what": "N+1 query on /cart: one product lookup per cart item (instead of a join), each a full scan"},
    {"key": "swallowed_error", "service": "shop", "route": "/checkout",
     "what": "new error path: loyalty points written to a table that does not exist; "
             "the exception is swallowed and logged as 'loyalty update failed' without context"},
    {"key": "retry_storm", "service": "shop", "route": "/checkout",
     "what": "retry storm: reservations retried 12 times at once, ignoring inventory's 503 + Retry-After"},
]

# Text the v2 code emits for each regression (its log lines, its statement).
MARKERS: dict[str, tuple[str, ...]] = {
    "n_plus_one": ("COLLATE NOCASE",),
    "swallowed_error": ("loyalty update failed", "loyalty_points"),
    "retry_storm": ("retrying (attempt", "could not reserve stock", "locked by the", "/reserve"),
}
# Trace problem types that are each regression's signature.
PROBLEM_TYPES: dict[str, tuple[str, ...]] = {
    "n_plus_one": ("n_plus_one_db",),
    "swallowed_error": ("swallowed_error",),
    "retry_storm": ("n_plus_one_http", "repeated_call", "consecutive_http"),
}
PROBLEM_ROUTES = {"n_plus_one": "/cart", "swallowed_error": "/checkout", "retry_storm": "/checkout"}


def _mentions(item: Any, markers: tuple[str, ...]) -> bool:
    text = " ".join(str(v) for v in _strings(item))
    return any(m.lower() in text.lower() for m in markers)


def _strings(v: Any) -> list[str]:
    if isinstance(v, str):
        return [v]
    if isinstance(v, dict):
        return [s for x in v.values() for s in _strings(x)]
    if isinstance(v, list | tuple):
        return [s for x in v for s in _strings(x)]
    return []


def _change_hits(result: Any, key: str, label: str) -> list[dict[str, Any]]:
    """``changes`` items about the regression; for an error-share item, only its matching drivers."""
    hits = []
    for item in (result or {}).get("items", []) if isinstance(result, dict) else []:
        if item.get("kind") == "error_share":
            drivers = [d for d in item.get("drivers") or [] if _mentions([d.get("template")], MARKERS[key])]
            if drivers:
                hits.append({"answer": label, "kind": "error_share", "what": item.get("summary"),
                             "evidence": sorted(collect_ids([d.get("evidence_id") for d in drivers]))})
            continue
        if _mentions([item.get("template"), (item.get("example") or {}).get("body")], MARKERS[key]):
            hits.append({"answer": label, "kind": item.get("kind"), "what": item.get("template") or item.get("summary"),
                         "evidence": sorted(collect_ids([item.get("evidence_id"), item.get("evidence_ids")]))})
    return hits


def _problem_hits(result: Any, key: str, label: str, route_key: str | None = None) -> list[dict[str, Any]]:
    """Trace problems of the regression's type whose statement or call is the regression's own.

    A summary's problem carries ``what`` and ``span_ids``; an aggregate (``perf``) carries
    ``examples``, each with them: only the matching examples' spans are cited.
    """
    hits = []
    problems = (result or {}).get("problems", []) if isinstance(result, dict) else []
    for p in problems:
        if p.get("type") not in PROBLEM_TYPES[key]:
            continue
        if route_key and p.get("route") != PROBLEM_ROUTES[key]:
            continue
        for ex in p.get("examples") or [p]:
            if _mentions([ex.get("what")], MARKERS[key]):
                hits.append({"answer": label, "kind": p["type"], "what": ex.get("what"),
                             "evidence": sorted(collect_ids([ex.get("span_ids"), ex.get("latest_trace_id")]))})
    return hits


def _incident_hits(result: Any, key: str, patterns: set[str]) -> list[dict[str, Any]]:
    """Incidents whose claims cite (in their evidence or their sentences) the regression's patterns."""
    hits = []
    incidents = result if isinstance(result, list) else []
    for inc in incidents:
        cited = collect_ids(inc.get("claims")) | ids_in_text(inc.get("claims"))
        if cited & patterns or _mentions([inc.get("title"), inc.get("claims")], MARKERS[key]):
            hits.append({"answer": "incidents", "kind": "incident", "what": inc.get("title"),
                         "evidence": sorted({inc["id"], *(cited & patterns)} if inc.get("id") else cited & patterns)})
    return hits


def findings(results: dict[str, Any]) -> list[dict[str, Any]]:
    """One row per injected regression: found or not, by which answers, citing which evidence IDs."""
    rows = []
    for reg in REGRESSIONS:
        key = reg["key"]
        hits = _change_hits(results.get("changes"), key, "changes (shop)")
        hits += _change_hits(results.get("changes_inventory"), key, "changes (inventory)")
        patterns = {e for h in hits for e in h["evidence"] if e.startswith("pat_")}
        hits += _incident_hits(results.get("incidents"), key, patterns)
        ts = results.get("trace_summary")
        if key == "n_plus_one" or (isinstance(ts, dict) and (ts.get("root") or {}).get("route") == PROBLEM_ROUTES[key]):
            hits += _problem_hits(ts, key, "latest /cart trace")
        hits += _problem_hits(results.get("perf"), key, "perf (shop)", route_key=key)
        hits = [h for h in hits if h["evidence"]]  # evidence or silence
        rows.append({"key": key, "what": reg["what"], "found": bool(hits), "by": hits,
                     "evidence": sorted({e for h in hits for e in h["evidence"]})})
    return rows
