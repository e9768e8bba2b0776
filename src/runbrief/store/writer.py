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

from runbrief.records import Deploy, Event, LogRecord, MetricPoint, ResourceSeen, Span

__all__ = ["logs_table", "spans_table", "metrics_table", "insert_table", "insert_logs", "insert_events",
           "insert_deploys", "upsert_resources"]

_TS = pa.timestamp("us")


def _dumps(obj: Any) -> str | None:
    if not obj:
        return None
    return orjson.dumps(obj, option=orjson.OPT_NON_STR_KEYS, default=str).decode()


def _us(ns: int) -> int:
    return ns // 1000


def _table(columns: dict[str, Any]) -> pa.Table:
    """An Arrow table whose plain-list columns are strings, declared rather than inferred:
    a column that is all None in one batch must not become a null column, or batches
    could not be concatenated for a group commit."""
    return pa.table({k: pa.array(v, pa.string()) if isinstance(v, list) else v for k, v in columns.items()})


def upsert_resources(con: duckdb.DuckDBPyConnection, seen: Sequence[ResourceSeen]) -> None:
    """Record each distinct resource once, keeping when it was first and last seen."""
    merged: dict[str, list[Any]] = {}
    for s in seen:
        fp = s.resource.fingerprint
        m = merged.get(fp)
        if m is None:
            merged[fp] = [s.resource, s.first_ns, s.last_ns]
        else:
            m[1], m[2] = min(m[1], s.first_ns), max(m[2], s.last_ns)
    if not merged:
        return
    rows = list(merged.items())
    tbl = pa.table(
        {
            "resource_id": [k for k, _ in rows],
            "service": [m[0].service for _, m in rows],
            "version": [m[0].version for _, m in rows],
            "environment": [m[0].environment for _, m in rows],
            "attributes": [_dumps(m[0].attributes) for _, m in rows],
            "first_seen": pa.array([_us(m[1]) for _, m in rows], _TS),
            "last_seen": pa.array([_us(m[2]) for _, m in rows], _TS),
        }
    )
    con.register("_rb_res", tbl)
    try:
        con.execute(
            """INSERT INTO resources
               SELECT resource_id, service, version, environment, attributes::JSON, first_seen, last_seen FROM _rb_res
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


def _ns_to_us(values: list[int | None]) -> pa.Array:
    """Nanosecond integers as a microsecond timestamp column, truncated like ``// 1000``
    (one vectorized cast instead of a Python division per row)."""
    return pa.array(values, pa.int64()).cast(pa.timestamp("ns")).cast(_TS, safe=False)


def logs_table(records: Sequence[LogRecord], first_id: int) -> pa.Table:
    """The log rows of ``records``, numbered from ``first_id``, in the ``logs`` table's
    column order. This runs for every log record, so per-resource values are computed
    once per resource and conversions are vectorized."""
    resources = [r.resource for r in records]
    if resources and resources.count(resources[0]) == len(resources):  # one resource: the usual batch
        services = [resources[0].service] * len(records)
        resource_ids = [resources[0].fingerprint] * len(records)
    else:
        by_resource = {id(res): (res.service, res.fingerprint) for res in resources}
        services = [by_resource[id(res)][0] for res in resources]
        resource_ids = [by_resource[id(res)][1] for res in resources]
    dumps, opt = orjson.dumps, orjson.OPT_NON_STR_KEYS
    return pa.table(
        {
            "id": pa.array(range(first_id, first_id + len(records)), pa.int64()),
            "ts": _ns_to_us([r.ts_ns for r in records]),
            "observed_ts": _ns_to_us([r.observed_ns or None for r in records]),
            "service": pa.array(services, pa.string()),
            "severity_number": pa.array([r.severity_number for r in records], pa.int8()),
            "severity_text": pa.array([r.severity_text or None for r in records], pa.string()),
            "severity_inferred": pa.array([r.severity_inferred or None for r in records], pa.string()),
            "body": pa.array([r.body for r in records], pa.string()),
            "pattern_id": pa.array([r.pattern_id or None for r in records], pa.string()),
            "trace_id": pa.array([r.trace_id or None for r in records], pa.string()),
            "span_id": pa.array([r.span_id or None for r in records], pa.string()),
            "attributes": pa.array(
                [dumps(r.attributes, option=opt, default=str).decode() if r.attributes else None for r in records],
                pa.string()),
            "resource_id": pa.array(resource_ids, pa.string()),
            "scope": pa.array([r.scope or None for r in records], pa.string()),
            "source": pa.array([r.source for r in records], pa.string()),
        }
    )


def _route(attrs: dict[str, Any]) -> str | None:
    for key in ("http.route", "url.path", "http.target"):
        v = attrs.get(key)
        if v:
            s = str(v)
            return s.split("?", 1)[0] if key == "http.target" else s
    return None


def spans_table(spans: Sequence[Span]) -> pa.Table:
    return _table(
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


def metrics_table(points: Sequence[MetricPoint]) -> pa.Table:
    return _table(
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


def insert_table(con: duckdb.DuckDBPyConnection, table: str, tbl: pa.Table | None) -> None:
    """Insert a prepared Arrow table (columns in the table's order) in one statement.

    Spans also add their GenAI rows to ``genai_calls`` (schema 0010) in the same transaction:
    the attribute JSON is read once here rather than at every ``runbrief agents``."""
    if tbl is None or not tbl.num_rows:
        return
    _insert(con, table, tbl)
    if table == "spans":
        from runbrief.evals import genai  # the conventions' names live with the reader of the rows

        genai.fill_batch(con, tbl)


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


def insert_logs(con: duckdb.DuckDBPyConnection, records: Sequence[LogRecord], first_id: int) -> None:
    """Log records as they are (no distill), numbered from ``first_id``: for tools and tests
    that fill a store directly; ingest goes through the pipeline."""
    if records:
        _insert(con, "logs", logs_table(records, first_id))
