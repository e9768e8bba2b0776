"""The operations behind `runbrief top` and `runbrief tail`: one refresh, one poll.

A live view asks the same question every second, so each answer is shaped to be cheap:
``top`` reads only the per-minute aggregates of the last hour (``pattern_counts``: one
row per service, pattern and minute, so 100k lines/s are still a few thousand rows) and
the metadata of the patterns it returns; ``tail`` reads only the lines after a log ID
(DuckDB skips the row groups below it by their min/max). Neither scans the raw lines of
the window. They are operations, so a running server answers them over HTTP for the
terminal app exactly as the store does in process.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from runbrief import ids
from runbrief.errors import UsageError
from runbrief.ops import operation
from runbrief.queries import fmt_ts, parse_duration
from runbrief.store.duck import Store

__all__ = ["top", "tail", "surged"]

MINUTE = timedelta(minutes=1)
# Lines per minute (over the last `RATE_MINUTES`) shown as a pattern's rate.
RATE_MINUTES = 5


def surged(before_per_min: float, after_per_min: float, after_count: int) -> bool:
    """A pattern seen before the deploy that now comes at least 3x as often (and 5+ lines).

    A cheap marker for the live table, not a test: `changes` gives the tested answer (a
    Poisson test against the baseline) and `top` shows its items beside the table.
    """
    return after_count >= 5 and before_per_min > 0 and after_per_min >= 3 * before_per_min


def _latest_deploy(store: Store, service: str | None) -> dict[str, Any] | None:
    where = "WHERE service = ?" if service else ""
    rows = store.query(f"SELECT id, ts, service, version, commit FROM deploys {where} ORDER BY ts DESC, id DESC "
                       "LIMIT 1", [service] if service else [])
    return rows[0] if rows else None


@operation("top")
def top(store: Store, service: str | None = None, window: str = "60m", limit: int = 40) -> dict[str, Any]:
    """One refresh of `runbrief top`: the window's top patterns with per-minute counts, severity by minute, the latest deploy.

    Each pattern has its count and errors in the window, its rate (lines per minute over
    the last 5 minutes), one count per minute (the sparkline), and ``new`` (first seen
    after the latest deploy) or ``surged`` (3x its pre-deploy rate since the deploy).
    The window ends now, or at the last minute with data when the store has been idle
    longer than the window (``idle``), so an old store still shows its last hour.
    Patterns new since the deploy are returned even outside the top ``limit``.
    """
    minutes = max(1, min(int(parse_duration(window).total_seconds() // 60), 24 * 60))
    limit = max(1, min(int(limit), 500))
    svc = "AND service = ?" if service else ""
    sargs: list[Any] = [service] if service else []
    latest = store.scalar(f"SELECT max(minute) FROM pattern_counts WHERE true {svc}", sargs)
    now = datetime.now(UTC).replace(tzinfo=None).replace(second=0, microsecond=0)
    deploy = _latest_deploy(store, service)
    out: dict[str, Any] = {
        "service": service, "window_minutes": minutes, "patterns": [], "severity": None,
        "deploy": None, "idle": False, "end": None, "services": [], "lines": 0, "errors": 0,
    }
    if deploy:
        out["deploy"] = {"id": ids.make("dep", deploy["id"]), "ts": fmt_ts(deploy["ts"]),
                         "service": deploy["service"], "version": deploy["version"], "commit": deploy["commit"]}
    if latest is None:
        return out
    end = now
    if latest < now - (minutes - 1) * MINUTE:
        end, out["idle"] = latest, True
    start = end - (minutes - 1) * MINUTE
    out["end"] = fmt_ts(end + MINUTE)
    out["start"] = fmt_ts(start)
    # Each service's latest deploy: a pattern is new (or surged) against its own service's deploy.
    deploys = {r["service"]: r["ts"] for r in store.query(
        f"SELECT service, max(ts) ts FROM deploys WHERE true {svc} GROUP BY service", sargs)}
    dep_mins = {k: v.replace(second=0, microsecond=0) for k, v in deploys.items()}
    # Before a deploy: the hour before it (counted from the aggregates, so also cheap).
    lo = min([start, *(d - 60 * MINUTE for d in dep_mins.values())])
    rows = store.query(
        f"""SELECT pattern_id, minute, service, count::BIGINT n, errors::BIGINT e
            FROM pattern_counts WHERE minute >= ? AND minute <= ? {svc}""",
        [lo, end, *sargs],
    )
    per: dict[str, dict[str, Any]] = {}
    services: set[str] = set()
    series_total = [0] * minutes
    series_err = [0] * minutes
    series_warn = [0] * minutes
    rate_from = end - (RATE_MINUTES - 1) * MINUTE
    for r in rows:
        p = per.get(r["pattern_id"])
        if p is None:
            p = per[r["pattern_id"]] = {"series": [0] * minutes, "count": 0, "errors": 0, "recent": 0,
                                        "before": 0.0, "after": 0.0, "after_n": 0, "services": set()}
        m = r["minute"]
        dep_min = dep_mins.get(r["service"])
        if dep_min is not None:
            if dep_min - 60 * MINUTE <= m < dep_min:
                p["before"] += r["n"] / 60.0
            elif m >= dep_min:
                p["after"] += r["n"] / max(1.0, (end + MINUTE - dep_min) / MINUTE)
                p["after_n"] += r["n"]
        if m < start:
            continue
        i = int((m - start) / MINUTE)
        p["series"][i] += r["n"]
        p["count"] += r["n"]
        p["errors"] += r["e"]
        if m >= rate_from:
            p["recent"] += r["n"]
        p["services"].add(r["service"])
        services.add(r["service"])
        series_total[i] += r["n"]
        series_err[i] += r["e"]
    shown = {k: v for k, v in per.items() if v["count"]}
    meta: dict[str, dict[str, Any]] = {}
    if shown:
        meta = {m["pattern_id"]: m for m in store.query(
            "SELECT pattern_id, template, severity, first_seen FROM patterns WHERE pattern_id IN "
            "(SELECT unnest(?::VARCHAR[]))", [list(shown)])}
    items = []
    for key, p in shown.items():
        m = meta.get(key, {})
        sev = (m.get("severity") or "").upper()
        if sev in ("WARN", "WARNING"):
            for i, n in enumerate(p["series"]):
                series_warn[i] += n
        first_seen = m.get("first_seen")
        deployed = [deploys[s] for s in p["services"] if s in deploys]
        is_new = bool(deployed and first_seen is not None and first_seen >= min(deployed))
        items.append({
            "pattern_id": ids.make("pat", key),
            "template": m.get("template") or "",
            "severity": sev or ("ERROR" if p["errors"] else ""),
            "count": p["count"],
            "errors": p["errors"],
            "rate_per_min": round(p["recent"] / RATE_MINUTES, 2),
            "series": p["series"],
            "services": sorted(p["services"]),
            "first_seen": fmt_ts(first_seen),
            "new": is_new,
            "surged": not is_new and bool(deployed) and surged(p["before"], p["after"], p["after_n"]),
        })
    items.sort(key=lambda x: (-x["count"], x["pattern_id"]))
    head = items[:limit]
    head += [x for x in items[limit:] if x["new"]]
    out["patterns"] = head
    out["total_patterns"] = len(items)
    out["services"] = sorted(services)
    out["lines"] = sum(series_total)
    out["errors"] = sum(series_err)
    out["severity"] = {"total": series_total, "error": series_err, "warn": series_warn}
    return out


def _log_number(after: str | int | None) -> int | None:
    if after is None or after == "":
        return None
    text = str(after).removeprefix("log_")
    try:
        return int(text)
    except ValueError:
        raise UsageError(f"after must be a log ID (log_123) or its number, got {after!r}") from None


@operation("tail")
def tail(store: Store, service: str | None = None, after: str | None = None, limit: int = 500) -> dict[str, Any]:
    """Log lines after a log ID, oldest first, each with its pattern ID and whether that pattern is new since its service's latest deploy.

    Without ``after``: the latest ``limit`` lines (what `runbrief tail` prints first).
    When more than ``limit`` lines came after ``after``, the newest ``limit`` are
    returned and ``skipped`` counts the others: a live view keeps up rather than lags.
    """
    limit = max(0, min(int(limit), 10_000))
    since = _log_number(after)
    where, args = [], []
    if since is not None:
        where.append("l.id > ?")
        args.append(since)
    if service:
        where.append("l.service = ?")
        args.append(service)
    cond = ("WHERE " + " AND ".join(where)) if where else ""
    skipped = 0
    if since is not None:
        pending = int(store.scalar(f"SELECT count(*) FROM logs l {cond}", args) or 0)
        skipped = max(0, pending - limit)
    rows = store.query(
        f"""WITH d AS (SELECT service, max(ts) ts FROM deploys GROUP BY service),
                 l AS (SELECT id, ts, service, severity_text, severity_inferred, body, pattern_id, trace_id
                       FROM logs l {cond} ORDER BY id DESC LIMIT ?)
            SELECT l.*, (d.ts IS NOT NULL AND p.first_seen >= d.ts) AS is_new
            FROM l LEFT JOIN patterns p USING (pattern_id) LEFT JOIN d USING (service)
            ORDER BY l.id""",
        [*args, limit],
    )
    lines = [{
        "id": ids.make("log", r["id"]),
        "ts": fmt_ts(r["ts"]),
        "service": r["service"],
        "severity": r["severity_text"] or (r["severity_inferred"] and f"~{r['severity_inferred']}") or "",
        "body": r["body"],
        "pattern_id": ids.make("pat", r["pattern_id"]) if r["pattern_id"] else None,
        "trace_id": r["trace_id"] or None,
        "new_pattern": bool(r["is_new"]),
    } for r in rows]
    last = rows[-1]["id"] if rows else since
    if last is None:  # no backlog asked for (or none there): start from the newest line
        last = store.scalar(f"SELECT max(id) FROM logs l {cond}", args)
    return {"lines": lines, "last_id": ids.make("log", last) if last is not None else None, "skipped": skipped}
