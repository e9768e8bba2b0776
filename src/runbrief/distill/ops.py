"""Distill's operations: ``patterns``, the ``pat_`` evidence resolver, and the compression
figure in ``stats``. Everything reads the per-minute aggregates (``pattern_counts``), never
the raw lines, so answers stay fast however many lines a pattern has.
"""

from __future__ import annotations

from typing import Any

import orjson

from runbrief import ids
from runbrief.errors import UsageError
from runbrief.ops import operation
from runbrief.queries import fmt_ts, parse_time, stats_section
from runbrief.records import severities_at_least
from runbrief.store.duck import Store

__all__ = ["patterns", "pattern_detail", "compression"]


def _trend(first: int, second: int, is_new: bool) -> str:
    """Compare the two halves of the window."""
    if is_new:
        return "new"
    if second > 1.5 * first + 2:
        return "rising"
    if first > 1.5 * second + 2:
        return "falling"
    return "steady"


def _examples(text: str | None) -> list[dict[str, Any]]:
    out = []
    for e in orjson.loads(text) if text else []:
        out.append({"log_id": ids.make("log", e["log_id"]), "body": e["body"]})
    return out


@operation("patterns")
def patterns(
    store: Store,
    service: str | None = None,
    since: str | None = None,
    until: str | None = None,
    limit: int = 50,
    severity: str | None = None,
) -> dict[str, Any]:
    """Top log patterns in a time window: count, trend, first/last seen, severity, services.

    ``trend`` compares the second half of the window with the first (``new`` when the
    pattern was first seen inside the window). ``severity`` is a minimum (``warn``
    includes errors). Drill down to a pattern's lines with the ``logs`` operation and
    ``pattern_id``; ``show pat_…`` gives its examples.
    """
    start, end = parse_time(since), parse_time(until)
    where, args = [], []
    if service:
        where.append("c.service = ?")
        args.append(service)
    if start is not None:
        where.append("c.minute >= date_trunc('minute', ?::TIMESTAMP)")
        args.append(start)
    if end is not None:
        where.append("c.minute < ?")
        args.append(end)
    if severity:
        try:
            names = list(severities_at_least(severity))
        except ValueError as exc:
            raise UsageError(str(exc)) from None
        where.append(f"(p.severity IN ({', '.join('?' * len(names))}) OR c.errors > 0)")
        args.extend(names)
    limit = max(1, min(int(limit), 1000))
    cond = " WHERE " + " AND ".join(where) if where else ""
    span = store.query(f"SELECT min(c.minute) lo, max(c.last_ts) hi FROM pattern_counts c "
                       f"LEFT JOIN patterns p USING (pattern_id){cond}", args)[0]
    lo = start or span["lo"]
    hi = end or span["hi"]
    if lo is None or hi is None:
        return {"patterns": [], "window": {"since": fmt_ts(start), "until": fmt_ts(end)}}
    mid = lo + (hi - lo) / 2 if hi > lo else hi
    rows = store.query(
        f"""SELECT c.pattern_id, any_value(p.template) template, any_value(p.severity) severity,
                   sum(c.count)::BIGINT count, sum(c.errors)::BIGINT errors,
                   sum(c.count) FILTER (WHERE c.minute < ?)::BIGINT first_half,
                   sum(c.count) FILTER (WHERE c.minute >= ?)::BIGINT second_half,
                   min(c.first_ts) first_in_window, max(c.last_ts) last_seen,
                   any_value(p.first_seen) first_seen,
                   list(DISTINCT c.service ORDER BY c.service) services,
                   arg_max(c.examples, c.minute) examples
            FROM pattern_counts c LEFT JOIN patterns p USING (pattern_id){cond}
            GROUP BY c.pattern_id ORDER BY count DESC, c.pattern_id LIMIT ?""",
        [mid, mid, *args, limit],
    )
    out = []
    for r in rows:
        first_seen = r["first_seen"] or r["first_in_window"]
        is_new = start is not None and first_seen is not None and first_seen >= start
        ex = _examples(r["examples"])
        out.append(
            {
                "pattern_id": ids.make("pat", r["pattern_id"]),
                "template": r["template"] or "",
                "count": r["count"],
                "errors": r["errors"],
                "trend": _trend(r["first_half"] or 0, r["second_half"] or 0, is_new),
                "first_seen": fmt_ts(first_seen),
                "last_seen": fmt_ts(r["last_seen"]),
                "severity": r["severity"] or "",
                "services": r["services"] or [],
                "example": ex[0] if ex else None,
            }
        )
    return {"patterns": out, "window": {"since": fmt_ts(lo), "until": fmt_ts(hi)}}


def _canonical(store: Store, key: str) -> str:
    """Follow the alias of a pattern ID whose template has since evolved."""
    new = store.scalar("SELECT new_id FROM pattern_aliases WHERE old_id = ?", [key])
    return str(new) if new else key


@ids.resolver("pat")
def pattern_detail(store: Store, key: str) -> dict[str, Any] | None:
    """A pattern: template, counts, services, recent examples and the IDs it replaced."""
    key = _canonical(store, key.lower())
    rows = store.query("SELECT * FROM patterns WHERE pattern_id = ?", [key])
    if not rows:
        return None
    p = rows[0]
    services = store.query(
        """SELECT service, sum(count)::BIGINT count, sum(errors)::BIGINT errors, min(first_ts) first_seen,
                  max(last_ts) last_seen
           FROM pattern_counts WHERE pattern_id = ? GROUP BY service ORDER BY count DESC""",
        [key],
    )
    recent = store.query(
        "SELECT examples FROM pattern_counts WHERE pattern_id = ? ORDER BY minute DESC LIMIT 3", [key]
    )
    examples: list[dict[str, Any]] = []
    for r in recent:
        for e in _examples(r["examples"]):
            if len(examples) < 3:
                examples.append(e)
    aliases = [r["old_id"] for r in store.query("SELECT old_id FROM pattern_aliases WHERE new_id = ?", [key])]
    return {
        "pattern_id": ids.make("pat", key),
        "template": p["template"],
        "severity": p["severity"] or "",
        "count": p["count"],
        "first_seen": fmt_ts(p["first_seen"]),
        "last_seen": fmt_ts(p["last_seen"]),
        "services": [
            {**s, "first_seen": fmt_ts(s["first_seen"]), "last_seen": fmt_ts(s["last_seen"])} for s in services
        ],
        "examples": examples,
        "aliases": [ids.make("pat", a) for a in aliases],
        "drill_down": {"op": "logs", "params": {"pattern_id": key}},
    }


@stats_section
def compression(store: Store) -> dict[str, Any]:
    """Raw lines and bytes against distinct patterns and the bytes of the distilled view.

    The distilled view is what an agent reads instead of the lines: each pattern's
    template once, plus one (service, pattern, minute, count) row per minute it occurred
    (counted as its service name, the 16-hex-digit ID and 16 bytes of time and count).
    """
    r = store.query(
        """SELECT (SELECT count(*) FROM logs) lines, (SELECT coalesce(sum(strlen(body)), 0) FROM logs) bytes,
                  (SELECT count(*) FROM patterns) patterns,
                  (SELECT coalesce(sum(strlen(template)), 0) FROM patterns) tpl_bytes,
                  (SELECT count(*) FROM pattern_counts) count_rows,
                  (SELECT coalesce(sum(strlen(service) + 32), 0) FROM pattern_counts) count_bytes"""
    )[0]
    distilled = int(r["tpl_bytes"]) + int(r["count_bytes"])
    raw = int(r["bytes"])
    return {
        "compression": {
            "raw_lines": r["lines"],
            "raw_bytes": raw,
            "patterns": r["patterns"],
            "pattern_minute_rows": r["count_rows"],
            "distilled_bytes": distilled,
            "ratio": round(raw / distilled, 1) if distilled else None,
            "lines_per_pattern": round(r["lines"] / r["patterns"], 1) if r["patterns"] else None,
        }
    }

