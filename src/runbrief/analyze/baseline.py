"""Baselines: what is normal for each (service, pattern), computed in SQL over the minute counts.

Distill keeps one ``pattern_counts`` row per (service, pattern, minute), so a baseline is
an aggregate over aggregates: a 24-hour baseline of a service is at most
``patterns × 1440`` rows however many lines they stand for, which keeps these queries
fast at tens of millions of lines. Everything is keyed by service, so one service's
normal is never compared with another's.

A baseline is one or more time segments (the window before a split, plus the same hours
on earlier days when history allows), compared with an "after" interval. For each
(service, pattern) the query returns counts, errors and distinct minutes on both sides,
the sum of squared bucket counts in the baseline (its variability, from which the
dispersion factor of the tests comes), how evenly it was spread over the baseline, and
an example line from each side.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import orjson
import pyarrow as pa

from runbrief.errors import NotFound
from runbrief.ops import operation
from runbrief.store.duck import Store

__all__ = ["Interval", "PatternStat", "ServiceStat", "window_stats", "attach_rows", "pattern_stats", "service_stats", "coverage_start",
           "has_data_before", "first_minute",
           "history", "first_seen", "example", "baseline_op"]


@dataclass(frozen=True, slots=True)
class Interval:
    """A half-open time interval [start, end), naive UTC."""

    start: datetime
    end: datetime

    @property
    def minutes(self) -> float:
        return max(0.0, (self.end - self.start).total_seconds() / 60.0)


@dataclass(slots=True)
class PatternStat:
    """One (service, pattern): the baseline side (``before``) and the compared side (``after``)."""

    service: str
    pattern_id: str
    before: int
    after: int
    before_errors: int
    after_errors: int
    before_minutes: int          # distinct baseline minutes it appeared in
    after_minutes: int
    spread: int                  # of the last baseline segment's 4 quarters, how many it appeared in
    bucket_sumsq: float          # sum of squared per-bucket counts in the baseline
    first_after: datetime | None
    last_after: datetime | None
    last_before: datetime | None
    example_after: str | None    # pattern_counts.examples JSON of a row on each side
    example_before: str | None
    first_before: datetime | None = None   # first baseline minute it appeared in
    after_sumsq: float = 0.0               # sum of squared per-bucket counts in the after window

    def dispersion(self, baseline_minutes: float, bucket_minutes: int, after_minutes: float = 0.0) -> float:
        """Variance / mean of the bucketed counts (>= 1; 1 for too little data).

        Estimated under the null hypothesis, i.e. from the baseline: how bursty this
        pattern normally is. The after window's own dispersion is used only when the
        baseline holds too few lines to estimate it — taking it always would read the very
        change we look for (a retry storm is one dense burst) as "just burstiness" and hide
        it (measured: a 16x storm in the demo went unreported).
        """
        return _null_phi(self.before, self.bucket_sumsq, baseline_minutes / bucket_minutes,
                         self.after, self.after_sumsq, after_minutes / bucket_minutes)

    def std_per_minute(self, baseline_minutes: float, bucket_minutes: int = 1) -> float:
        n_buckets = baseline_minutes / bucket_minutes
        if n_buckets < 2:
            return 0.0
        mean = self.before / n_buckets
        var = max(0.0, (self.bucket_sumsq - n_buckets * mean * mean) / (n_buckets - 1))
        return math.sqrt(var) / math.sqrt(bucket_minutes)


_MIN_NULL_LINES = 20


def _null_phi(before: float, before_sumsq: float, before_buckets: float,
              after: float, after_sumsq: float, after_buckets: float) -> float:
    """The baseline's dispersion when it has the data for it, else the after window's."""
    if before >= _MIN_NULL_LINES and before_buckets >= 3:
        return _phi(before, before_sumsq, before_buckets)
    return max(_phi(before, before_sumsq, before_buckets), _phi(after, after_sumsq, after_buckets))


def _phi(total: float, sumsq: float, n_buckets: float) -> float:
    if total < 5 or n_buckets < 3:
        return 1.0
    mean = total / n_buckets
    var = (sumsq - n_buckets * mean * mean) / (n_buckets - 1)
    return max(1.0, var / mean)


@dataclass(slots=True)
class ServiceStat:
    """Service totals on both sides, with the baseline's bucketed variability of lines and errors."""

    service: str
    before: int
    after: int
    before_errors: int
    after_errors: int
    count_sumsq: float
    error_sumsq: float
    after_error_sumsq: float = 0.0

    def error_dispersion(self, baseline_minutes: float, bucket_minutes: int, after_minutes: float = 0.0) -> float:
        """Variance / mean of bucketed error counts: the larger of the two sides (see PatternStat)."""
        return _null_phi(self.before_errors, self.error_sumsq, baseline_minutes / bucket_minutes,
                         self.after_errors, self.after_error_sumsq, after_minutes / bucket_minutes)


def _scan(service: str | None, segments: list[Interval], after: Interval | None) -> tuple[str, list[Any]]:
    """One plain range scan per interval, glued with UNION ALL: each range alone lets DuckDB
    skip row groups by their minute zonemaps (an OR of ranges is filtered only after reading
    everything between them)."""
    svc = "c.service = ? AND " if service is not None else ""
    parts, args = [], []
    for seg, post in [*((s, "FALSE") for s in segments), *([(after, "TRUE")] if after else [])]:
        parts.append(f"SELECT c.service, c.pattern_id, c.minute, c.count, c.errors, {post} AS post "
                     f"FROM pattern_counts c WHERE {svc}c.minute >= ? AND c.minute < ?")
        args.extend([*([service] if service is not None else []), seg.start, seg.end])
    if not parts:
        return "SELECT NULL::VARCHAR AS service, NULL::VARCHAR AS pattern_id, NULL::TIMESTAMP AS minute, " \
               "0::BIGINT AS count, 0::BIGINT AS errors, FALSE AS post WHERE FALSE", []
    return "\n    UNION ALL ".join(parts), args


def _in(values: list[str]) -> str:
    return "(" + ", ".join("?" * len(values)) + ")" if values else "(NULL)"


# One scan of the window, grouped once per (service, pattern, side, bucket) — a tenth of the
# rows — from which come the per-pattern figures, its variability (squared bucket counts)
# and the service's (the error share's variability). Measured: grouping the raw rows several
# ways cost four times this. Only
# narrow columns are read: rows of all services interleave in time order, so every column
# the scan touches is decompressed for the whole window (measured: the scan is most of the
# cost). Exact first/last line times and examples come after, for the few patterns that
# matter, by exact (service, pattern, minute) key: ``attach_rows``.
# Aliases need no join: when a template evolves, the Distiller re-points the old ID's rows
# to the new one in the same transaction, so a generalized template stays one pattern (not
# a "stopped" old ID and a "new" one). The mixed minute of a split is "after".
_STATS_SQL = """
WITH g AS (
    SELECT service, pattern_id, post, time_bucket(to_minutes(?::BIGINT), minute) AS bucket,
           sum(count) AS n, sum(errors) AS e, count(*) AS mins, min(minute) AS fmin, max(minute) AS lmax
    FROM ({scan}) r GROUP BY ALL),
sd AS (SELECT service, sum(n * n) FILTER (WHERE NOT post)::DOUBLE AS n2, sum(e * e) FILTER (WHERE NOT post)::DOUBLE AS e2,
              sum(e * e) FILTER (WHERE post)::DOUBLE AS e2_after
       FROM (SELECT service, post, bucket, sum(n) AS n, sum(e) AS e FROM g GROUP BY ALL) GROUP BY ALL)
SELECT g.service, g.pattern_id,
    coalesce(sum(n) FILTER (WHERE NOT post), 0)::BIGINT AS before,
    coalesce(sum(n) FILTER (WHERE post), 0)::BIGINT AS after,
    coalesce(sum(e) FILTER (WHERE NOT post), 0)::BIGINT AS before_errors,
    coalesce(sum(e) FILTER (WHERE post), 0)::BIGINT AS after_errors,
    coalesce(sum(mins) FILTER (WHERE NOT post), 0)::BIGINT AS before_minutes,
    coalesce(sum(mins) FILTER (WHERE post), 0)::BIGINT AS after_minutes,
    count(DISTINCT floor((epoch(fmin) - epoch(?::TIMESTAMP)) / ?)) FILTER (WHERE NOT post AND fmin >= ?) AS spread,
    coalesce(sum(n * n) FILTER (WHERE NOT post), 0)::DOUBLE AS bucket_sumsq,
    min(fmin) FILTER (WHERE post) AS first_after,
    max(lmax) FILTER (WHERE post) AS last_after,
    max(lmax) FILTER (WHERE NOT post) AS last_before,
    NULL, NULL,
    coalesce(any_value(sd.n2), 0), coalesce(any_value(sd.e2), 0),
    min(fmin) FILTER (WHERE NOT post) AS first_before,
    coalesce(sum(n * n) FILTER (WHERE post), 0)::DOUBLE AS after_sumsq,
    coalesce(any_value(sd.e2_after), 0)
FROM g LEFT JOIN sd USING (service)
GROUP BY g.service, g.pattern_id
"""
def window_stats(store: Store, service: str | None, segments: list[Interval], after: Interval | None,
                 bucket_minutes: int = 1) -> tuple[list[PatternStat], list[ServiceStat]]:
    """Per (service, pattern) and per service aggregates over the baseline ``segments`` and ``after``.

    ``first_after``, ``last_after`` and ``last_before`` are minutes until ``attach_rows``
    makes them exact and fills the examples.
    """
    scan, args = _scan(service, segments, after)
    split = after.start if after else max(s.end for s in segments)
    last = max(segments, key=lambda s: s.end) if segments else Interval(split, split)
    quarter_s = max(60.0, (last.end - last.start).total_seconds() / 4.0)
    sql = _STATS_SQL.format(scan=scan)
    params = [int(bucket_minutes), *args, last.start, quarter_s, last.start]
    rows = store.cursor().execute(sql, params).fetchall()
    pats = [PatternStat(*row[:15], first_before=row[17], after_sumsq=row[18]) for row in rows]
    services: dict[str, ServiceStat] = {}
    for p, row in zip(pats, rows, strict=True):
        sv = services.get(p.service)
        if sv is None:
            sv = services[p.service] = ServiceStat(p.service, 0, 0, 0, 0, row[15], row[16], row[19])
        sv.before += p.before
        sv.after += p.after
        sv.before_errors += p.before_errors
        sv.after_errors += p.after_errors
    return pats, sorted(services.values(), key=lambda s: s.service)


def _minute(dt: datetime) -> datetime:
    return dt.replace(second=0, microsecond=0)


def attach_rows(store: Store, stats: list[PatternStat]) -> None:
    """Exact first/last line times and examples of ``stats``, from the rows at their edge minutes.

    ``example_after`` comes from the first after-window row, ``example_before`` from the last
    baseline row. Looked up by exact (service, pattern, minute) keys, so the cost follows the
    number of stats asked for, not the window (the minute range lets DuckDB skip row groups).
    """
    want: dict[tuple[str, str, datetime], list[tuple[PatternStat, str]]] = {}
    for s in stats:
        for attr in ("first_after", "last_after", "last_before"):
            m = getattr(s, attr)
            if m is not None:
                want.setdefault((s.service, s.pattern_id, _minute(m)), []).append((s, attr))
    if not want:
        return
    keys = list(want)
    tbl = pa.table({"service": [k[0] for k in keys], "pid": [k[1] for k in keys],
                    "minute": pa.array([k[2] for k in keys], pa.timestamp("us"))})
    cur = store.cursor()
    cur.register("_rb_edge_keys", tbl)
    try:
        rows = cur.execute(
            """SELECT k.service, k.pid, k.minute, min(coalesce(c.first_ts, c.minute)),
                      max(coalesce(c.last_ts, c.minute)), any_value(c.examples) FILTER (WHERE c.examples IS NOT NULL)
               FROM pattern_counts c JOIN _rb_edge_keys k
                 ON c.service = k.service AND c.pattern_id = k.pid AND c.minute = k.minute
               WHERE c.minute >= ? AND c.minute <= ? GROUP BY ALL""",
            [min(k[2] for k in keys), max(k[2] for k in keys)],
        ).fetchall()
    finally:
        cur.unregister("_rb_edge_keys")
    for svc, pid, minute, first, last, ex in rows:
        for s, attr in want.get((svc, pid, minute), []):
            if attr == "first_after":
                s.first_after = first
                s.example_after = s.example_after or ex
            elif attr == "last_after":
                s.last_after = last
            else:
                s.last_before = last
                s.example_before = s.example_before or ex


def pattern_stats(store: Store, service: str | None, segments: list[Interval], after: Interval | None,
                  bucket_minutes: int = 1) -> list[PatternStat]:
    """``window_stats`` per pattern; exact times and examples attached to the new-looking ones.

    Kept for callers that read ``example_after`` / ``first_after`` of patterns absent from
    the baseline; others call ``attach_rows`` on the stats they keep.
    """
    stats = window_stats(store, service, segments, after, bucket_minutes)[0]
    attach_rows(store, [s for s in stats if s.before == 0 and s.after > 0])
    return stats


def service_stats(store: Store, service: str | None, segments: list[Interval], after: Interval | None,
                  bucket_minutes: int = 1) -> list[ServiceStat]:
    return window_stats(store, service, segments, after, bucket_minutes)[1]


def has_data_before(store: Store, service: str | None, t: datetime) -> bool:
    """Whether the store holds counts of ``service`` (or any) before ``t``.

    ``LIMIT 1`` over rows stored in time order stops at the first hit, usually in the first
    row group: ~1 ms where ``min(minute)`` of one service scans the whole table.
    """
    svc = "service = ? AND " if service is not None else ""
    args = ([service] if service is not None else []) + [t]
    return bool(store.cursor().execute(
        f"SELECT 1 FROM pattern_counts WHERE {svc}minute < ? LIMIT 1", args).fetchall())


def first_minute(store: Store, service: str | None, since: datetime | None = None) -> datetime | None:
    """The first minute with counts of ``service`` (or any), at or after ``since``."""
    where, args = ["TRUE"], []
    if service is not None:
        where.append("service = ?")
        args.append(service)
    if since is not None:
        where.append("minute >= ?")
        args.append(since)
    return store.cursor().execute(
        f"SELECT min(minute) FROM pattern_counts WHERE {' AND '.join(where)}", args).fetchall()[0][0]


def coverage_start(store: Store, service: str | None, want: datetime) -> datetime | None:
    """``want`` when data reaches back that far, else the first minute of data (None: no data)."""
    if has_data_before(store, service, want + timedelta(minutes=1)):
        return want
    return first_minute(store, service, want)


def history(store: Store, keys: list[tuple[str, str]], before: datetime | None) -> dict[tuple[str, str], datetime]:
    """First time each (service, pattern) was seen before ``before`` (None: ever); absent if never.

    One query filtered by service and pattern ID (a scan of those two columns of the
    history), so callers ask it only for the few patterns that need it.
    """
    if not keys:
        return {}
    services = sorted({s for s, _ in keys})
    pats = sorted({p for _, p in keys})
    time_filter = " AND c.minute < ?" if before is not None else ""
    rows = store.cursor().execute(
        f"""SELECT c.service, c.pattern_id, min(coalesce(c.first_ts, c.minute)) FROM pattern_counts c
            WHERE c.service IN {_in(services)} AND c.pattern_id IN {_in(pats)}{time_filter} GROUP BY ALL""",
        [*services, *pats, *([before] if before is not None else [])],
    ).fetchall()
    want = set(keys)
    return {(s, p): t for s, p, t in rows if (s, p) in want}


def first_seen(store: Store, keys: list[tuple[str, str]]) -> dict[tuple[str, str], datetime]:
    """First time each (service, pattern) was ever seen."""
    return history(store, keys, None)


def example(examples_json: str | None) -> dict[str, Any] | None:
    """The first example line of a pattern_counts row as ``{"id": "log_<n>", "body": ...}``."""
    if not examples_json:
        return None
    try:
        data = orjson.loads(examples_json)
    except orjson.JSONDecodeError:
        return None
    if isinstance(data, dict):
        data = [data]
    for ex in data if isinstance(data, list) else []:
        if isinstance(ex, dict) and ex.get("body") is not None:
            log_id = ex.get("log_id", ex.get("id"))
            if isinstance(log_id, str) and log_id.startswith("log_"):
                log_id = log_id[4:]
            return {"id": f"log_{log_id}" if log_id is not None else None, "body": str(ex["body"])}
    return None


@operation("baseline")
def baseline_op(store: Store, service: str | None = None, window: str = "24h", limit: int = 50) -> dict[str, Any]:
    """What is normal: per pattern, its rate per minute and variability; per service, the error share.

    Over the ``window`` (e.g. 24h) up to the newest data. ``std_per_min`` is the standard
    deviation of the per-minute counts (zero minutes included); ``presence`` the share of
    minutes the pattern appeared in; ``dispersion`` its variance / mean (1 = Poisson-like,
    large = bursty), which is what ``changes`` deflates its tests by.
    """
    from runbrief.analyze._windows import anchor_time
    from runbrief.queries import fmt_ts, parse_duration

    end = anchor_time(store)
    seg = Interval(end - parse_duration(window), end)
    first = coverage_start(store, service, seg.start)
    if first is None:
        raise NotFound(f"no pattern counts for {service or 'any service'} in {store.path}; ingest logs first")
    seg = Interval(first, end)
    pats, svcs = window_stats(store, service, [seg], None, 1)
    minutes = seg.minutes
    pats.sort(key=lambda s: (-s.before, s.service, s.pattern_id))
    shown = pats[: max(1, min(int(limit), 1000))]
    meta = {r[0]: r[1:] for r in store.cursor().execute(
        f"SELECT pattern_id, template, severity FROM patterns WHERE pattern_id IN {_in([s.pattern_id for s in shown])}",
        [s.pattern_id for s in shown]).fetchall()} if shown else {}
    return {
        "service": service,
        "window": {"start": fmt_ts(seg.start), "end": fmt_ts(seg.end), "minutes": round(minutes, 2)},
        "services": [{"service": sv.service, "lines": sv.before, "errors": sv.before_errors,
                      "error_share": round(sv.before_errors / sv.before, 5) if sv.before else None,
                      "per_min": round(sv.before / minutes, 4) if minutes else None} for sv in svcs],
        "patterns": [{"evidence_id": f"pat_{s.pattern_id}", "service": s.service, "pattern_id": s.pattern_id,
                      "template": meta.get(s.pattern_id, (None, None))[0],
                      "severity": meta.get(s.pattern_id, (None, None))[1], "count": s.before,
                      "errors": s.before_errors, "per_min": round(s.before / minutes, 4) if minutes else None,
                      "std_per_min": round(s.std_per_minute(minutes), 4),
                      "presence": round(s.before_minutes / minutes, 4) if minutes else None,
                      "dispersion": round(s.dispersion(minutes, 1), 2)} for s in shown],
        "truncated": len(pats) > len(shown),
    }
