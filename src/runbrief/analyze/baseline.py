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

from runbrief.store.duck import Store

__all__ = ["Interval", "PatternStat", "ServiceStat", "pattern_stats", "service_stats", "coverage", "example"]


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

    def dispersion(self, baseline_minutes: float, bucket_minutes: int) -> float:
        """Variance / mean of the baseline's bucketed counts (>= 1; 1 for too little data)."""
        n_buckets = baseline_minutes / bucket_minutes
        if self.before < 5 or n_buckets < 3:
            return 1.0
        mean = self.before / n_buckets
        var = (self.bucket_sumsq - n_buckets * mean * mean) / (n_buckets - 1)
        return max(1.0, var / mean)

    def std_per_minute(self, baseline_minutes: float, bucket_minutes: int = 1) -> float:
        n_buckets = baseline_minutes / bucket_minutes
        if n_buckets < 2:
            return 0.0
        mean = self.before / n_buckets
        var = max(0.0, (self.bucket_sumsq - n_buckets * mean * mean) / (n_buckets - 1))
        return math.sqrt(var) / math.sqrt(bucket_minutes)


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

    def error_dispersion(self, baseline_minutes: float, bucket_minutes: int) -> float:
        n_buckets = baseline_minutes / bucket_minutes
        if self.before_errors < 5 or n_buckets < 3:
            return 1.0
        mean = self.before_errors / n_buckets
        var = (self.error_sumsq - n_buckets * mean * mean) / (n_buckets - 1)
        return max(1.0, var / mean)


def _where(service: str | None, segments: list[Interval], after: Interval | None) -> tuple[str, list[Any]]:
    parts, args = [], []
    for seg in [*segments, *([after] if after else [])]:
        parts.append("(c.minute >= ? AND c.minute < ?)")
        args.extend([seg.start, seg.end])
    where = "(" + " OR ".join(parts or ["FALSE"]) + ")"
    if service is not None:
        where = "c.service = ? AND " + where
        args.insert(0, service)
    return where, args


# Alias resolution happens here so a template the miner generalized mid-window is one pattern,
# not a "stopped" old ID and a "new" one. The mixed minute of a split belongs to the after side.
_ROWS = """
    SELECT c.service, coalesce(al.new_id, c.pattern_id) AS pattern_id, c.minute, c.count, c.errors,
           coalesce(c.first_ts, c.minute) AS first_ts, coalesce(c.last_ts, c.minute) AS last_ts,
           c.examples, c.minute >= ? AS post
    FROM pattern_counts c LEFT JOIN pattern_aliases al ON al.old_id = c.pattern_id
    WHERE {where}
"""


def pattern_stats(store: Store, service: str | None, segments: list[Interval], after: Interval | None,
                  bucket_minutes: int = 1) -> list[PatternStat]:
    """Per (service, pattern) aggregates over the baseline ``segments`` and the ``after`` interval."""
    where, args = _where(service, segments, after)
    split = after.start if after else max(s.end for s in segments)
    last = max(segments, key=lambda s: s.end) if segments else Interval(split, split)
    quarter_s = max(60.0, (last.end - last.start).total_seconds() / 4.0)
    sql = f"""
    WITH r AS ({_ROWS.format(where=where)}),
    b AS (SELECT service, pattern_id, time_bucket(to_minutes(?::BIGINT), minute) AS bucket, sum(count) AS n
          FROM r WHERE NOT post GROUP BY ALL),
    d AS (SELECT service, pattern_id, sum(n * n)::DOUBLE AS sumsq FROM b GROUP BY ALL)
    SELECT r.service, r.pattern_id,
        coalesce(sum(count) FILTER (WHERE NOT post), 0)::BIGINT AS before,
        coalesce(sum(count) FILTER (WHERE post), 0)::BIGINT AS after,
        coalesce(sum(errors) FILTER (WHERE NOT post), 0)::BIGINT AS before_errors,
        coalesce(sum(errors) FILTER (WHERE post), 0)::BIGINT AS after_errors,
        count(DISTINCT minute) FILTER (WHERE NOT post) AS before_minutes,
        count(DISTINCT minute) FILTER (WHERE post) AS after_minutes,
        count(DISTINCT floor((epoch(minute) - epoch(?::TIMESTAMP)) / ?))
            FILTER (WHERE NOT post AND minute >= ?) AS spread,
        coalesce(any_value(d.sumsq), 0) AS bucket_sumsq,
        min(first_ts) FILTER (WHERE post) AS first_after,
        max(last_ts) FILTER (WHERE post) AS last_after,
        max(last_ts) FILTER (WHERE NOT post) AS last_before,
        arg_min(examples, minute) FILTER (WHERE post AND examples IS NOT NULL) AS example_after,
        arg_max(examples, minute) FILTER (WHERE NOT post AND examples IS NOT NULL) AS example_before
    FROM r LEFT JOIN d USING (service, pattern_id)
    GROUP BY r.service, r.pattern_id
    """
    params = [split, *args, int(bucket_minutes), last.start, quarter_s, last.start]
    cur = store.cursor().execute(sql, params)
    return [PatternStat(*row) for row in cur.fetchall()]


def service_stats(store: Store, service: str | None, segments: list[Interval], after: Interval | None,
                  bucket_minutes: int = 1) -> list[ServiceStat]:
    """Per service: lines and errors on both sides, and the baseline's bucketed variability."""
    where, args = _where(service, segments, after)
    split = after.start if after else max(s.end for s in segments)
    sql = f"""
    WITH r AS (SELECT c.service, c.minute, c.count, c.errors, c.minute >= ? AS post
               FROM pattern_counts c WHERE {where}),
    b AS (SELECT service, time_bucket(to_minutes(?::BIGINT), minute) AS bucket,
                 sum(count) AS n, sum(errors) AS e
          FROM r WHERE NOT post GROUP BY ALL),
    d AS (SELECT service, sum(n * n)::DOUBLE AS n2, sum(e * e)::DOUBLE AS e2 FROM b GROUP BY ALL),
    t AS (SELECT service,
                 coalesce(sum(count) FILTER (WHERE NOT post), 0)::BIGINT AS before,
                 coalesce(sum(count) FILTER (WHERE post), 0)::BIGINT AS after,
                 coalesce(sum(errors) FILTER (WHERE NOT post), 0)::BIGINT AS before_errors,
                 coalesce(sum(errors) FILTER (WHERE post), 0)::BIGINT AS after_errors
          FROM r GROUP BY service)
    SELECT t.service, before, after, before_errors, after_errors, coalesce(n2, 0), coalesce(e2, 0)
    FROM t LEFT JOIN d USING (service) ORDER BY t.service
    """
    cur = store.cursor().execute(sql, [split, *args, int(bucket_minutes)])
    return [ServiceStat(*row) for row in cur.fetchall()]


def coverage(store: Store, service: str | None) -> tuple[datetime | None, datetime | None]:
    """First minute and last line time the store holds for ``service`` (or for all services)."""
    if service is None:
        row = store.cursor().execute(
            "SELECT min(minute), max(coalesce(last_ts, minute + INTERVAL 1 MINUTE)) FROM pattern_counts"
        ).fetchone()
    else:
        row = store.cursor().execute(
            "SELECT min(minute), max(coalesce(last_ts, minute + INTERVAL 1 MINUTE)) FROM pattern_counts "
            "WHERE service = ?",
            [service],
        ).fetchone()
    return (row[0], row[1]) if row else (None, None)


def history(store: Store, keys: list[tuple[str, str]], before: datetime) -> dict[tuple[str, str], datetime]:
    """First time each (service, pattern) was seen before ``before`` (absent: never seen)."""
    if not keys:
        return {}
    services = sorted({s for s, _ in keys})
    pats = sorted({p for _, p in keys})
    rows = store.cursor().execute(
        """SELECT c.service, coalesce(al.new_id, c.pattern_id) AS pid, min(coalesce(c.first_ts, c.minute))
           FROM pattern_counts c LEFT JOIN pattern_aliases al ON al.old_id = c.pattern_id
           WHERE list_contains(?::VARCHAR[], c.service) AND c.minute < ?
             AND (list_contains(?::VARCHAR[], c.pattern_id) OR list_contains(?::VARCHAR[], al.new_id))
           GROUP BY ALL""",
        [services, before, pats, pats],
    ).fetchall()
    want = set(keys)
    return {(s, p): t for s, p, t in rows if (s, p) in want}


def first_seen(store: Store, keys: list[tuple[str, str]]) -> dict[tuple[str, str], datetime]:
    """First time each (service, pattern) was ever seen."""
    return history(store, keys, datetime.max - timedelta(days=1))


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
