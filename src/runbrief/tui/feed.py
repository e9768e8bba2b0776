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
    # Each pattern against its own service's latest deploy; the hour before that deploy is
    # its "before" rate. All aggregated by DuckDB: an hour of 10 services x 300 patterns is
    # 180k count rows, which a Python loop took ~0.6 s to walk on every refresh.
    lo = start
    dep_lo = store.scalar(f"SELECT min(ts) FROM (SELECT max(ts) ts FROM deploys WHERE true {svc} GROUP BY service)",
                          sargs)
    if dep_lo is not None:
        lo = min(lo, dep_lo.replace(second=0, microsecond=0) - 60 * MINUTE)
    rate_from = end - (RATE_MINUTES - 1) * MINUTE
    rows = store.query(
        f"""WITH d AS (SELECT service, max(ts) ts, date_trunc('minute', max(ts)) m FROM deploys
                       WHERE true {svc} GROUP BY service),
                 ps AS (SELECT c.pattern_id, c.service,
                               sum(c.count) FILTER (WHERE c.minute >= ?) n,
                               sum(c.errors) FILTER (WHERE c.minute >= ?) e,
                               sum(c.count) FILTER (WHERE c.minute >= ?) recent,
                               any_value(d.ts) dts,
                               sum(c.count) FILTER (WHERE c.minute >= d.m - INTERVAL 60 MINUTE AND c.minute < d.m)
                                   / 60.0 before_rate,
                               sum(c.count) FILTER (WHERE c.minute >= d.m) after_n,
                               greatest(1.0, (epoch(?::TIMESTAMP) - epoch(any_value(d.m))) / 60.0) after_minutes
                        FROM pattern_counts c LEFT JOIN d USING (service)
                        WHERE c.minute >= ? AND c.minute <= ? {svc.replace('service', 'c.service')}
                        GROUP BY c.pattern_id, c.service),
                 g AS (SELECT pattern_id, sum(n)::BIGINT n, coalesce(sum(e), 0)::BIGINT e,
                              coalesce(sum(recent), 0)::BIGINT recent,
                              list(service) FILTER (WHERE n > 0) services,
                              min(dts) FILTER (WHERE n > 0) dts,
                              coalesce(sum(before_rate), 0) before_rate,
                              coalesce(sum(after_n / after_minutes), 0) after_rate,
                              coalesce(sum(after_n), 0)::BIGINT after_n
                       FROM ps GROUP BY pattern_id HAVING sum(n) > 0)
            SELECT g.*, p.template, p.severity, p.first_seen,
                   (g.dts IS NOT NULL AND p.first_seen IS NOT NULL AND p.first_seen >= g.dts) is_new,
                   row_number() OVER (ORDER BY g.n DESC, g.pattern_id) rank
            FROM g LEFT JOIN patterns p USING (pattern_id)
            QUALIFY rank <= ? OR is_new
            ORDER BY rank""",
        [*sargs, start, start, rate_from, end + MINUTE, lo, end, *sargs, limit],
    )
    keys = [r["pattern_id"] for r in rows]
    series: dict[str, list[int]] = {k: [0] * minutes for k in keys}
    if keys:
        for r in store.query(
            f"""SELECT pattern_id, minute, sum(count)::BIGINT n FROM pattern_counts
                WHERE minute >= ? AND minute <= ? {svc} AND pattern_id IN (SELECT unnest(?::VARCHAR[]))
                GROUP BY ALL""", [start, end, *sargs, keys]):
            series[r["pattern_id"]][int((r["minute"] - start) / MINUTE)] = r["n"]
    strip = {"total": [0] * minutes, "error": [0] * minutes, "warn": [0] * minutes}
    for r in store.query(
        f"""SELECT minute, sum(count)::BIGINT n, sum(errors)::BIGINT e,
                   coalesce(sum(count) FILTER (WHERE pattern_id IN (SELECT pattern_id FROM patterns
                                               WHERE upper(severity) IN ('WARN', 'WARNING'))), 0)::BIGINT w
            FROM pattern_counts WHERE minute >= ? AND minute <= ? {svc} GROUP BY ALL""",
            [start, end, *sargs]):
        i = int((r["minute"] - start) / MINUTE)
        strip["total"][i], strip["error"][i], strip["warn"][i] = r["n"], r["e"], r["w"]
    items = []
    for r in rows:
        sev = (r["severity"] or "").upper()
        is_new = bool(r["is_new"])
        items.append({
            "pattern_id": ids.make("pat", r["pattern_id"]),
            "template": r["template"] or "",
            "severity": sev or ("ERROR" if r["e"] else ""),
            "count": r["n"],
            "errors": r["e"],
            "rate_per_min": round(r["recent"] / RATE_MINUTES, 2),
            "series": series[r["pattern_id"]],
            "services": sorted(r["services"] or []),
            "first_seen": fmt_ts(r["first_seen"]),
            "new": is_new,
            "surged": not is_new and r["dts"] is not None
            and surged(float(r["before_rate"]), float(r["after_rate"]), int(r["after_n"])),
        })
    out["patterns"] = items
    out["total_patterns"] = int(store.scalar(
        f"SELECT count(DISTINCT pattern_id) FROM pattern_counts WHERE minute >= ? AND minute <= ? {svc}",
        [start, end, *sargs]) or 0)
    out["services"] = [r["service"] for r in store.query(
        f"SELECT DISTINCT service FROM pattern_counts WHERE minute >= ? AND minute <= ? {svc} ORDER BY service",
        [start, end, *sargs])]
    out["lines"] = sum(strip["total"])
    out["errors"] = sum(strip["error"])
    out["severity"] = strip
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
