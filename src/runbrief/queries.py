"""Query basics: logs, services, stats, and resolving any evidence ID.

Time arguments accept a relative window (``15m``, ``2h``, ``7d``) or an ISO-8601 time.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson

from runbrief import ids
from runbrief.errors import UsageError
from runbrief.ops import operation
from runbrief.store.duck import Store

__all__ = ["parse_time", "logs", "services", "stats", "show", "fmt_ts"]

_REL = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d|w)\s*$")
_UNITS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


def parse_duration(text: str) -> timedelta:
    m = _REL.match(text or "")
    if not m:
        raise UsageError(f"{text!r} is not a duration; use e.g. 30s, 15m, 2h, 7d")
    return timedelta(seconds=float(m.group(1)) * _UNITS[m.group(2)])


def parse_time(text: str | None, *, now: datetime | None = None) -> datetime | None:
    """A relative window back from now (``15m``) or an absolute ISO time, as naive UTC."""
    if text is None or text == "":
        return None
    if _REL.match(text):
        return (now or datetime.now(UTC).replace(tzinfo=None)) - parse_duration(text)
    try:
        dt = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        raise UsageError(f"{text!r} is neither a duration (15m, 2h) nor an ISO-8601 time") from None
    if dt.tzinfo is not None:
        dt = dt.astimezone(UTC).replace(tzinfo=None)
    return dt


def fmt_ts(dt: datetime | None) -> str | None:
    return dt.isoformat(timespec="milliseconds") + "Z" if dt else None


def _json(text: str | None) -> Any:
    return orjson.loads(text) if text else None


def _log_row(row: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": ids.make("log", row["id"]),
        "ts": fmt_ts(row["ts"]),
        "service": row["service"],
        "severity": row["severity_text"] or "",
        "severity_inferred": row["severity_inferred"] or "",
        "body": row["body"],
        "pattern_id": ids.make("pat", row["pattern_id"]) if row["pattern_id"] else None,
        "trace_id": row["trace_id"],
        "span_id": row["span_id"],
        "attributes": _json(row["attributes"]) or {},
    }


def log_filters(*, service: str | None = None, severity: str | None = None, since: str | None = None,
                until: str | None = None, contains: str | None = None, alias: str = "") -> tuple[list[str], list[Any]]:
    """The WHERE terms and parameters the log searches share (``logs``, the page's facets):
    ``severity`` is a minimum, and a record with no source level matches on its inferred one.
    ``alias`` prefixes the columns (``"l."`` when the logs table is joined)."""
    a = alias
    where: list[str] = []
    args: list[Any] = []
    if service:
        where.append(f"{a}service = ?")
        args.append(service)
    if severity:
        from runbrief.records import SEVERITY_NAMES, severities_at_least

        try:
            names = severities_at_least(severity)
        except ValueError as exc:
            raise UsageError(str(exc)) from None
        where.append(f"({a}severity_number >= ? OR (coalesce({a}severity_number, 0) = 0 AND {a}severity_inferred IN "
                     f"({', '.join('?' * len(names))})))")
        args.append(SEVERITY_NAMES.index(names[0]) * 4 + 1)
        args.extend(names)
    if (t := parse_time(since)) is not None:
        where.append(f"{a}ts >= ?")
        args.append(t)
    if (t := parse_time(until)) is not None:
        where.append(f"{a}ts < ?")
        args.append(t)
    if contains:
        where.append(f"contains(lower({a}body), lower(?))")
        args.append(contains)
    return where, args


@operation("logs")
def logs(
    store: Store,
    service: str | None = None,
    severity: str | None = None,
    since: str | None = None,
    until: str | None = None,
    contains: str | None = None,
    trace_id: str | None = None,
    pattern_id: str | None = None,
    limit: int = 100,
) -> dict[str, Any]:
    """Log records, newest first, filtered by service, minimum severity, time, text, trace or pattern.

    ``severity`` is a minimum (``warn`` includes errors); records with no source level
    match on their inferred severity.
    """
    where, args = log_filters(service=service, severity=severity, since=since, until=until, contains=contains)
    if trace_id:
        where.append("trace_id = ?")
        args.append(trace_id.removeprefix("trc_").lower())
    if pattern_id:
        where.append("pattern_id = ?")
        args.append(pattern_id.removeprefix("pat_"))
    limit = max(1, min(int(limit), 10_000))
    sql = "SELECT * FROM logs" + (" WHERE " + " AND ".join(where) if where else "")
    rows = store.query(sql + " ORDER BY ts DESC, id DESC LIMIT ?", [*args, limit + 1])
    return {"logs": [_log_row(r) for r in rows[:limit]], "truncated": len(rows) > limit}


@operation("services")
def services(store: Store) -> dict[str, Any]:
    """Every service seen, with its record counts, versions and last activity."""
    rows = store.query(
        """
        WITH l AS (SELECT service, count(*) n, max(ts) last FROM logs GROUP BY ALL),
             s AS (SELECT service, count(*) n, max(start_ts) last FROM spans GROUP BY ALL),
             m AS (SELECT service, count(*) n, max(ts) last FROM metric_points GROUP BY ALL),
             r AS (SELECT service, list(DISTINCT version ORDER BY version) FILTER (WHERE version IS NOT NULL) versions
                   FROM resources GROUP BY ALL),
             d AS (SELECT service, count(*) n, max(ts) last FROM deploys GROUP BY ALL),
             -- a service known only from platform events (a Kubernetes workload) is still a service
             e AS (SELECT service, max(ts) last FROM events WHERE coalesce(service, '') <> '' GROUP BY ALL),
             names AS (SELECT service FROM l UNION SELECT service FROM s UNION SELECT service FROM m
                       UNION SELECT service FROM d UNION SELECT service FROM e)
        SELECT names.service, coalesce(l.n, 0) logs, coalesce(s.n, 0) spans, coalesce(m.n, 0) metric_points,
               coalesce(d.n, 0) deploys, r.versions,
               greatest(l.last, s.last, m.last, e.last) last_seen
        FROM names LEFT JOIN l USING (service) LEFT JOIN s USING (service) LEFT JOIN m USING (service)
             LEFT JOIN r USING (service) LEFT JOIN d USING (service) LEFT JOIN e USING (service)
        ORDER BY names.service
        """
    )
    for r in rows:
        r["last_seen"] = fmt_ts(r["last_seen"])
        r["versions"] = r["versions"] or []
    return {"services": rows}


_STATS_HOOKS: list[Any] = []


def stats_section(fn: Any) -> Any:
    """Register a function adding a section to ``stats`` (e.g. distill's compression)."""
    _STATS_HOOKS.append(fn)
    return fn


@operation("stats")
def stats(store: Store) -> dict[str, Any]:
    """Records by signal, store size on disk, time span covered and recent ingest rate."""
    counts = store.query(
        """SELECT (SELECT count(*) FROM logs) logs, (SELECT count(*) FROM spans) spans,
                  (SELECT count(*) FROM metric_points) metric_points, (SELECT count(*) FROM events) events,
                  (SELECT count(*) FROM deploys) deploys, (SELECT count(DISTINCT trace_id) FROM spans) traces,
                  (SELECT min(ts) FROM logs) first_log, (SELECT max(ts) FROM logs) last_log"""
    )[0]
    recent = store.query(
        "SELECT count(*) n FROM logs WHERE observed_ts >= (SELECT max(observed_ts) FROM logs) - INTERVAL 60 SECOND"
    )[0]["n"]
    size = 0
    for p in (store.path, store.path.with_suffix(store.path.suffix + ".wal")):
        if p.exists():
            size += p.stat().st_size
    if hasattr(store, "bytes_on_disk"):  # a ClickHouse store: its table parts, not one file
        size = store.bytes_on_disk()
    out: dict[str, Any] = {
        "logs": counts["logs"],
        "spans": counts["spans"],
        "metric_points": counts["metric_points"],
        "events": counts["events"],
        "deploys": counts["deploys"],
        "traces": counts["traces"],
        "first_log": fmt_ts(counts["first_log"]),
        "last_log": fmt_ts(counts["last_log"]),
        "store_path": str(store.path),
        "store_bytes": size,
        "ingest_logs_per_s_last_minute": round(recent / 60.0, 1),
        "schema_version": int(store.meta_get("schema_version") or 0),
    }
    for hook in _STATS_HOOKS:
        out.update(hook(store))
    return out


@operation("show")
def show(store: Store, id: str) -> dict[str, Any]:  # noqa: A002 - the evidence ID is the parameter
    """Resolve any evidence ID (pat_, log_, dep_, evt_, trc_, spn_, inc_) to its object."""
    return ids.resolve(store, id)


# ------------------------------------------------------------------ resolvers
@ids.resolver("log")
def _resolve_log(store: Store, key: str) -> dict[str, Any] | None:
    if not key.isdigit():
        return None
    rows = store.query("SELECT * FROM logs WHERE id = ?", [int(key)])
    if not rows:
        return None
    row = rows[0]
    out = _log_row(row)
    out.pop("id")
    # One line opened on its own: its values, read back from its pattern's template (they
    # are not stored; see distill.params). Lists of lines leave them out: they repeat the body.
    from runbrief.distill.params import params_of  # the miner's regexes cost ~0.2 s to import

    template = store.scalar("SELECT template FROM patterns WHERE pattern_id = ?", [row["pattern_id"]])
    out["params"] = params_of(template, row["body"])
    return out


def deploy_row(r: dict[str, Any]) -> dict[str, Any]:
    """A `deploys` row as the API shows it."""
    return {
        "id": ids.make("dep", r["id"]),
        "ts": fmt_ts(r["ts"]),
        "service": r["service"],
        "version": r["version"],
        "commit": r["commit"],
        "environment": r["environment"],
        "source": r["source"],
        "attributes": _json(r["attributes"]) or {},
    }


@ids.resolver("dep")
def _resolve_deploy(store: Store, key: str) -> dict[str, Any] | None:
    if not key.isdigit():
        return None
    rows = store.query("SELECT * FROM deploys WHERE id = ?", [int(key)])
    return deploy_row(rows[0]) if rows else None


@ids.resolver("evt")
def _resolve_event(store: Store, key: str) -> dict[str, Any] | None:
    if not key.isdigit():
        return None
    rows = store.query("SELECT * FROM events WHERE id = ?", [int(key)])
    if not rows:
        return None
    r = rows[0]
    r.pop("id")
    r["platform"] = r.pop("kind")  # "k8s": where the event came from
    for k in ("ts", "first_ts", "last_ts"):
        r[k] = fmt_ts(r[k])
    r["attributes"] = _json(r["attributes"]) or {}
    return r


def span_row(r: dict[str, Any]) -> dict[str, Any]:
    return {
        "span_id": ids.make("spn", r["span_id"]),
        "trace_id": ids.make("trc", r["trace_id"]),
        "parent_span_id": ids.make("spn", r["parent_span_id"]) if r["parent_span_id"] else None,
        "service": r["service"],
        "name": r["name"],
        "span_kind": r["kind"],
        "start": fmt_ts(r["start_ts"]),
        "duration_ms": round(r["duration_ms"], 3),
        "status": r["status_code"],
        "status_message": r["status_message"],
        "route": r["route"],
        "attributes": _json(r["attributes"]) or {},
        "events": _json(r["events"]) or [],
    }


@ids.resolver("spn")
def _resolve_span(store: Store, key: str) -> dict[str, Any] | None:
    rows = store.query("SELECT * FROM spans WHERE span_id = ? LIMIT 1", [key.lower()])
    if not rows:
        return None
    out = span_row(rows[0])
    out.pop("span_id")
    return out


@ids.resolver("trc")
def _resolve_trace(store: Store, key: str) -> dict[str, Any] | None:
    rows = store.query(
        """SELECT count(*) spans, min(start_ts) start, (max(end_ns) - min(start_ns)) / 1e6 duration_ms,
                  list(DISTINCT service) services, count(*) FILTER (WHERE status_code = 'ERROR') errors,
                  arg_min(name, start_ns) FILTER (WHERE parent_span_id IS NULL) root
           FROM spans WHERE trace_id = ?""",
        [key.lower()],
    )
    r = rows[0]
    if not r["spans"]:
        return None
    r["start"] = fmt_ts(r["start"])
    r["duration_ms"] = round(r["duration_ms"], 3)
    return r
