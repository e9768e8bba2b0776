"""Copy a DuckDB store into a ClickHouse (chdb) store: records into the exporter's tables.

Why this shape:
- Logs and spans go into ``otel_logs`` / ``otel_traces`` in the Collector exporter's column
  layout and conventions (absent values are empty strings, attributes are
  ``Map(String, String)``, span kinds and status codes spelled ``Server`` / ``Error``, a
  span's Duration in nanoseconds), so the copy reads like a Collector's rows to ClickStack,
  plus runbrief's per-line columns (log ID, pattern, inferred severity).
- Each table crosses as one Parquet file in a private temporary folder: DuckDB writes it,
  ClickHouse's ``file()`` reads it, both in columnar batches; no row passes through Python.
- runbrief's own tables (patterns, aliases, per-minute counts, deploys, events, metric
  points) are copied column for column.
- A copy is of a store at rest: run it with no server writing to the source. It appends,
  so copying twice into one store doubles the records; the CLI refuses a non-empty target.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

from runbrief.errors import StoreError
from runbrief.store.clickhouse.chstore import ChStore

__all__ = ["copy_store", "OWN_TABLES", "META_KEYS"]

# runbrief's own tables copied as they are, with the columns both schemas share.
OWN_TABLES = ("patterns", "pattern_aliases", "pattern_counts", "deploys", "events", "metric_points", "incidents",
              "incident_fixes", "incident_narratives", "k8s_objects", "eval_runs", "eval_scores", "genai_calls")

# meta rows that describe copied tables (not the store itself: its schema version, commits)
META_KEYS = ("genai_calls_rules",)

_ATTRS = "coalesce(from_json(coalesce({col}, '{{}}'), '\"MAP(VARCHAR, VARCHAR)\"'), MAP {{}})"

_LOGS = f"""
SELECT l.ts AS Timestamp, coalesce(l.trace_id, '') AS TraceId, coalesce(l.span_id, '') AS SpanId,
       0::UTINYINT AS TraceFlags, coalesce(l.severity_text, '') AS SeverityText,
       coalesce(l.severity_number, 0)::UTINYINT AS SeverityNumber, l.service AS ServiceName,
       coalesce(l.body, '') AS Body, {_ATTRS.format(col="r.attributes")} AS ResourceAttributes,
       coalesce(l.scope, '') AS ScopeName, {_ATTRS.format(col="l.attributes")} AS LogAttributes,
       l.id::UBIGINT AS RunbriefLogId, coalesce(l.pattern_id, '') AS PatternId,
       coalesce(l.severity_inferred, '') AS SeverityInferred, coalesce(l.observed_ts, TIMESTAMP '1970-01-01') AS ObservedTimestamp,
       coalesce(l.source, '') AS Source, coalesce(l.resource_id, '') AS ResourceId
FROM logs l LEFT JOIN resources r USING (resource_id)
"""

# A span's events and links as DuckDB stores them (JSON lists), read into the exporter's
# Nested columns.
_EV = '[{"name": "VARCHAR", "ts_ns": "BIGINT", "attributes": "JSON"}]'
_LK = '[{"trace_id": "VARCHAR", "span_id": "VARCHAR", "attributes": "JSON"}]'

_SPANS = f"""
SELECT s.start_ns AS StartNs, s.trace_id AS TraceId, s.span_id AS SpanId,
       coalesce(s.parent_span_id, '') AS ParentSpanId, coalesce(s.name, '') AS SpanName,
       upper(left(s.kind, 1)) || lower(substr(s.kind, 2)) AS SpanKind, s.service AS ServiceName,
       {_ATTRS.format(col="r.attributes")} AS ResourceAttributes, coalesce(s.scope, '') AS ScopeName,
       {_ATTRS.format(col="s.attributes")} AS SpanAttributes, (s.end_ns - s.start_ns)::UBIGINT AS Duration,
       upper(left(s.status_code, 1)) || lower(substr(s.status_code, 2)) AS StatusCode,
       coalesce(s.status_message, '') AS StatusMessage,
       list_transform(coalesce(from_json(s.events, '{_EV}'), []), lambda e: e.name) AS EvName,
       list_transform(coalesce(from_json(s.events, '{_EV}'), []), lambda e: e.ts_ns) AS EvTs,
       list_transform(coalesce(from_json(s.events, '{_EV}'), []),
                      lambda e: {_ATTRS.format(col="e.attributes")}) AS EvAttrs,
       list_transform(coalesce(from_json(s.links, '{_LK}'), []), lambda k: k.trace_id) AS LkTrace,
       list_transform(coalesce(from_json(s.links, '{_LK}'), []), lambda k: k.span_id) AS LkSpan,
       list_transform(coalesce(from_json(s.links, '{_LK}'), []),
                      lambda k: {_ATTRS.format(col="k.attributes")}) AS LkAttrs
FROM spans s LEFT JOIN resources r USING (resource_id)
"""

_LOG_COLS = ("Timestamp, TraceId, SpanId, TraceFlags, SeverityText, SeverityNumber, ServiceName, Body, "
             "ResourceAttributes, ScopeName, LogAttributes, RunbriefLogId, PatternId, SeverityInferred, "
             "ObservedTimestamp, Source, ResourceId")
_SPAN_COLS = ("Timestamp, TraceId, SpanId, ParentSpanId, SpanName, SpanKind, ServiceName, ResourceAttributes, "
              "ScopeName, SpanAttributes, Duration, StatusCode, StatusMessage, `Events.Name`, `Events.Timestamp`, "
              "`Events.Attributes`, `Links.TraceId`, `Links.SpanId`, `Links.TraceState`, `Links.Attributes`")
_SPAN_SELECT = ("fromUnixTimestamp64Nano(StartNs) AS Timestamp, TraceId, SpanId, ParentSpanId, SpanName, SpanKind, "
                "ServiceName, ResourceAttributes, ScopeName, SpanAttributes, Duration, StatusCode, StatusMessage, "
                "EvName, arrayMap(x -> fromUnixTimestamp64Nano(x), EvTs), EvAttrs, LkTrace, LkSpan, "
                "arrayMap(x -> '', LkTrace), LkAttrs")


def _quote(path: Path) -> str:
    return "'" + str(path).replace("\\", "\\\\").replace("'", "\\'") + "'"


def copy_store(src: Any, dst: ChStore) -> dict[str, int]:
    """Copy every log, span and runbrief table of the DuckDB store ``src`` into ``dst``.

    Returns the rows copied per target table.
    """
    if dst.read_only:
        raise StoreError(f"the store {dst.path} is open read-only")
    copied: dict[str, int] = {}
    with tempfile.TemporaryDirectory(prefix="runbrief-copy-") as tmp:
        folder = Path(tmp)
        cur = src.cursor()

        def export(name: str, select: str) -> Path | None:
            out = folder / f"{name}.parquet"
            n = int(cur.execute(f"SELECT count(*) FROM ({select})").fetchall()[0][0])
            copied[name] = n
            if not n:
                return None
            cur.execute(f"COPY ({select}) TO '{out}' (FORMAT parquet)")
            return out

        if (f := export("otel_logs", _LOGS)) is not None:
            dst.execute(f"INSERT INTO otel_logs ({_LOG_COLS}) SELECT {_LOG_COLS} FROM file({_quote(f)}, Parquet)")
        if (f := export("otel_traces", _SPANS)) is not None:
            dst.execute(f"INSERT INTO otel_traces ({_SPAN_COLS}) SELECT {_SPAN_SELECT} FROM file({_quote(f)}, Parquet)")
        for table in OWN_TABLES:
            theirs = {r["name"] for r in dst.execute(
                f"SELECT name FROM system.columns WHERE database = currentDatabase() AND table = '{table}'")}
            cols = [c[0] for c in cur.execute(f"DESCRIBE {table}").fetchall() if c[0] in theirs]
            listed = ", ".join(f'"{c}"' for c in cols)
            if (f := export(table, f"SELECT {listed} FROM {table}")) is not None:
                ch_cols = ", ".join(f"`{c}`" for c in cols)
                dst.execute(f"INSERT INTO {table} ({ch_cols}) SELECT {ch_cols} FROM file({_quote(f)}, Parquet)")
        # The stamp saying which rules derived genai_calls (evals.genai reads the table only
        # when it matches its own rules, else parses the spans again): it travels with the rows.
        for key in META_KEYS:
            value = cur.execute("SELECT value FROM meta WHERE key = ?", [key]).fetchall()
            if value and value[0][0] is not None:
                dst.meta_set(key, value[0][0])
    return copied
