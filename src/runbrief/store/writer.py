"""Turn normalized records into Arrow tables and insert them in one statement each.

Column lists are built directly (no per-row dicts) because this is the ingest hot path;
DuckDB reads the Arrow table by name via its replacement scan, so ``INSERT ... SELECT``
costs one vectorized copy.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import duckdb
import orjson
import pyarrow as pa

from runbrief.records import Deploy, Event, LogRecord, MetricPoint, Resource, Span

__all__ = ["insert_logs", "insert_spans", "insert_metrics", "insert_events", "insert_deploys", "upsert_resources"]

_TS = pa.timestamp("us")


def _dumps(obj: Any) -> str | None:
    if not obj:
        return None
    return orjson.dumps(obj, option=orjson.OPT_NON_STR_KEYS, default=str).decode()


def _us(ns: int) -> int:
    return ns // 1000


def upsert_resources(con: duckdb.DuckDBPyConnection, resources: Sequence[Resource], ts_ns: int) -> None:
    """Record each distinct resource once, keeping first/last seen."""
    seen: dict[str, Resource] = {}
    for r in resources:
        seen.setdefault(r.fingerprint, r)
    if not seen:
        return
    rows = list(seen.items())
    tbl = pa.table(
        {
            "resource_id": [k for k, _ in rows],
            "service": [r.service for _, r in rows],
            "version": [r.version for _, r in rows],
            "environment": [r.environment for _, r in rows],
            "attributes": [_dumps(r.attributes) for _, r in rows],
            "ts": pa.array([_us(ts_ns)] * len(rows), _TS),
        }
    )
    con.register("_rb_res", tbl)
    try:
        con.execute(
            """INSERT INTO resources SELECT resource_id, service, version, environment, attributes::JSON, ts, ts
               FROM _rb_res
               ON CONFLICT (resource_id) DO UPDATE SET last_seen = greatest(resources.last_seen, excluded.last_seen)"""
        )
    finally:
        con.unregister("_rb_res")


def _insert(con: duckdb.DuckDBPyConnection, table: str, tbl: pa.Table, select: str = "*") -> None:
    name = f"_rb_{table}"
    con.register(name, tbl)
    try:
        con.execute(f"INSERT INTO {table} SELECT {select} FROM {name}")
    finally:
        con.unregister(name)


def insert_logs(con: duckdb.DuckDBPyConnection, records: Sequence[LogRecord], first_id: int) -> None:
    n = len(records)
    if not n:
        return
    rid_cache: dict[int, str] = {}

    def rid(r: Resource) -> str:
        key = id(r)
        v = rid_cache.get(key)
        if v is None:
            v = rid_cache[key] = r.fingerprint
        return v

    tbl = pa.table(
        {
            "id": pa.array(range(first_id, first_id + n), pa.int64()),
            "ts": pa.array([_us(r.ts_ns) for r in records], _TS),
            "observed_ts": pa.array([_us(r.observed_ns) if r.observed_ns else None for r in records], _TS),
            "service": [r.resource.service for r in records],
            "severity_number": pa.array([r.severity_number for r in records], pa.int8()),
            "severity_text": [r.severity_text or None for r in records],
            "severity_inferred": [r.severity_inferred or None for r in records],
            "body": [r.body for r in records],
            "pattern_id": [r.pattern_id or None for r in records],
            "params": [_dumps(r.params) for r in records],
            "trace_id": [r.trace_id or None for r in records],
            "span_id": [r.span_id or None for r in records],
            "attributes": [_dumps(r.attributes) for r in records],
            "resource_id": [rid(r.resource) for r in records],
            "scope": [r.scope or None for r in records],
            "source": [r.source for r in records],
        }
    )
    _insert(con, "logs", tbl)


def _route(attrs: dict[str, Any]) -> str | None:
    for key in ("http.route", "url.path", "http.target"):
        v = attrs.get(key)
        if v:
            s = str(v)
            return s.split("?", 1)[0] if key == "http.target" else s
    return None


def insert_spans(con: duckdb.DuckDBPyConnection, spans: Sequence[Span]) -> None:
    if not spans:
        return
    tbl = pa.table(
        {
            "trace_id": [s.trace_id for s in spans],
            "span_id": [s.span_id for s in spans],
            "parent_span_id": [s.parent_span_id or None for s in spans],
            "service": [s.resource.service for s in spans],
            "name": [s.name for s in spans],
            "kind": [s.kind for s in spans],
            "start_ts": pa.array([_us(s.start_ns) for s in spans], _TS),
            "start_ns": pa.array([s.start_ns for s in spans], pa.int64()),
            "end_ns": pa.array([s.end_ns for s in spans], pa.int64()),
            "duration_ms": pa.array([(s.end_ns - s.start_ns) / 1e6 for s in spans], pa.float64()),
            "status_code": [s.status_code for s in spans],
            "status_message": [s.status_message or None for s in spans],
            "route": [_route(s.attributes) for s in spans],
            "attributes": [_dumps(s.attributes) for s in spans],
            "events": [
                _dumps([{"name": e.name, "ts_ns": e.ts_ns, "attributes": e.attributes} for e in s.events])
                for s in spans
            ],
            "links": [
                _dumps([{"trace_id": lk.trace_id, "span_id": lk.span_id, "attributes": lk.attributes} for lk in s.links])
                for s in spans
            ],
            "resource_id": [s.resource.fingerprint for s in spans],
            "scope": [s.scope or None for s in spans],
        }
    )
    _insert(con, "spans", tbl)


def insert_metrics(con: duckdb.DuckDBPyConnection, points: Sequence[MetricPoint]) -> None:
    if not points:
        return
    tbl = pa.table(
        {
            "ts": pa.array([_us(p.ts_ns) for p in points], _TS),
            "start_ts": pa.array([_us(p.start_ns) if p.start_ns else None for p in points], _TS),
            "service": [p.resource.service for p in points],
            "name": [p.name for p in points],
            "type": [p.type for p in points],
            "unit": [p.unit or None for p in points],
            "value": pa.array([p.value for p in points], pa.float64()),
            "count": pa.array([p.count for p in points], pa.int64()),
            "sum": pa.array([p.sum for p in points], pa.float64()),
            "min": pa.array([p.min for p in points], pa.float64()),
            "max": pa.array([p.max for p in points], pa.float64()),
            "is_monotonic": pa.array([p.is_monotonic for p in points], pa.bool_()),
            "temporality": [p.temporality or None for p in points],
            "buckets": [_dumps(p.buckets) for p in points],
            "attributes": [_dumps(p.attributes) for p in points],
            "resource_id": [p.resource.fingerprint for p in points],
            "scope": [p.scope or None for p in points],
        }
    )
    _insert(con, "metric_points", tbl)


def insert_events(con: duckdb.DuckDBPyConnection, events: Sequence[Event], first_id: int) -> None:
    if not events:
        return
    tbl = pa.table(
        {
            "id": pa.array(range(first_id, first_id + len(events)), pa.int64()),
            "ts": pa.array([_us(e.ts_ns) for e in events], _TS),
            "kind": [e.kind for e in events],
            "type": [e.type for e in events],
            "reason": [e.reason for e in events],
            "message": [e.message for e in events],
            "object_kind": [e.object_kind for e in events],
            "object_name": [e.object_name for e in events],
            "namespace": [e.namespace for e in events],
            "service": [e.service or None for e in events],
            "count": pa.array([e.count for e in events], pa.int32()),
            "first_ts": pa.array([_us(e.first_ns or e.ts_ns) for e in events], _TS),
            "last_ts": pa.array([_us(e.last_ns or e.ts_ns) for e in events], _TS),
            "source": [e.source for e in events],
            "attributes": [_dumps(e.attributes) for e in events],
        }
    )
    _insert(con, "events", tbl)


def insert_deploys(con: duckdb.DuckDBPyConnection, deploys: Sequence[Deploy], first_id: int) -> None:
    if not deploys:
        return
    tbl = pa.table(
        {
            "id": pa.array(range(first_id, first_id + len(deploys)), pa.int64()),
            "ts": pa.array([_us(d.ts_ns) for d in deploys], _TS),
            "service": [d.service for d in deploys],
            "version": [d.version for d in deploys],
            "commit": [d.commit or None for d in deploys],
            "environment": [d.environment or None for d in deploys],
            "source": [d.source for d in deploys],
            "attributes": [_dumps(d.attributes) for d in deploys],
        }
    )
    _insert(con, "deploys", tbl)
