"""The ClickHouse store's tables: the Collector exporter's, runbrief's own, and the views between.

Why this shape:
- Raw telemetry lives in the tables the OpenTelemetry Collector's ``clickhouseexporter``
  creates (``otel_logs``, ``otel_traces``, ``otel_traces_trace_id_ts`` and its
  materialized view), column for column and type for type as the exporter's DDL
  (exporter/clickhouseexporter/internal/sqltemplates/*_table.sql) defines them, so a
  ClickHouse a Collector already fills is readable as it is, and ClickStack/HyperDX can
  read what runbrief writes. ``CREATE ... IF NOT EXISTS`` leaves a Collector's tables alone.
- What runbrief derives per line (its log ID, the line's pattern, an inferred severity,
  the receive time and source) is added to ``otel_logs`` as columns with defaults
  (``ALTER TABLE ... ADD COLUMN IF NOT EXISTS``, a metadata-only change in ClickHouse). The
  exporter's INSERT names its columns, so it keeps working; one row per line needs no join
  at query time. Rows a Collector wrote carry the defaults until runbrief distills them.
- runbrief's own tables keep their DuckDB names and columns, with engines that fit:
  ReplacingMergeTree for latest-state rows (meta, patterns, aliases: the newest ``version``
  wins at a merge or under ``final=1``, which the store sets), AggregatingMergeTree with
  SimpleAggregateFunction columns for per-minute counts (two nodes' rows for one minute
  add up), MergeTree for append-only deploys and events.
- Views named like the DuckDB tables (``logs``, ``spans``, ``resources``) map the
  exporter's columns to runbrief's, so an operation's SQL, written once in DuckDB's
  dialect and transpiled, reads either store (see ``chstore``).
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["SCHEMA_VERSION", "ROW_VERSION", "MIGRATIONS", "Migration", "VERSION_TABLE", "pending", "statements"]


# The version column of a latest-state table (ReplacingMergeTree(row_version)): MATERIALIZED,
# so ``SELECT *`` leaves it out as DuckDB's rows have no such column; the store sets it on
# every write (``insert_allow_materialized_columns``), rising, so the newest row wins.
ROW_VERSION = "row_version"

# Columns that hold lists (Array): the transpiler takes len() of them as a list's length, not a
# string's (chstore's `len(list)` override). Every Array column of runbrief's own tables.
LIST_COLUMNS = frozenset({"finish_reasons", "req_json", "req_flat"})
_RV = f"{ROW_VERSION} UInt64 MATERIALIZED 0"

# --- the Collector exporter's tables (its DDL, default engine MergeTree, no TTL) ---------
OTEL_LOGS = """
CREATE TABLE IF NOT EXISTS otel_logs (
    Timestamp DateTime64(9) CODEC(Delta(8), ZSTD(1)),
    TimestampTime DateTime DEFAULT toDateTime(Timestamp),
    TraceId String CODEC(ZSTD(1)),
    SpanId String CODEC(ZSTD(1)),
    TraceFlags UInt8,
    SeverityText LowCardinality(String) CODEC(ZSTD(1)),
    SeverityNumber UInt8,
    ServiceName LowCardinality(String) CODEC(ZSTD(1)),
    Body String CODEC(ZSTD(1)),
    ResourceSchemaUrl LowCardinality(String) CODEC(ZSTD(1)),
    ResourceAttributes Map(LowCardinality(String), String) CODEC(ZSTD(1)),
    ScopeSchemaUrl LowCardinality(String) CODEC(ZSTD(1)),
    ScopeName String CODEC(ZSTD(1)),
    ScopeVersion LowCardinality(String) CODEC(ZSTD(1)),
    ScopeAttributes Map(LowCardinality(String), String) CODEC(ZSTD(1)),
    LogAttributes Map(LowCardinality(String), String) CODEC(ZSTD(1)),
    INDEX idx_trace_id TraceId TYPE bloom_filter(0.001) GRANULARITY 1,
    INDEX idx_res_attr_key mapKeys(ResourceAttributes) TYPE bloom_filter(0.01) GRANULARITY 1,
    INDEX idx_res_attr_value mapValues(ResourceAttributes) TYPE bloom_filter(0.01) GRANULARITY 1,
    INDEX idx_scope_attr_key mapKeys(ScopeAttributes) TYPE bloom_filter(0.01) GRANULARITY 1,
    INDEX idx_scope_attr_value mapValues(ScopeAttributes) TYPE bloom_filter(0.01) GRANULARITY 1,
    INDEX idx_log_attr_key mapKeys(LogAttributes) TYPE bloom_filter(0.01) GRANULARITY 1,
    INDEX idx_log_attr_value mapValues(LogAttributes) TYPE bloom_filter(0.01) GRANULARITY 1,
    INDEX idx_body Body TYPE tokenbf_v1(32768, 3, 0) GRANULARITY 8
) ENGINE = MergeTree
PARTITION BY toDate(TimestampTime)
PRIMARY KEY (ServiceName, TimestampTime)
ORDER BY (ServiceName, TimestampTime, Timestamp)
SETTINGS index_granularity = 8192, ttl_only_drop_parts = 1
"""

OTEL_TRACES = """
CREATE TABLE IF NOT EXISTS otel_traces (
    Timestamp DateTime64(9) CODEC(Delta(8), ZSTD(1)),
    TraceId String CODEC(ZSTD(1)),
    SpanId String CODEC(ZSTD(1)),
    ParentSpanId String CODEC(ZSTD(1)),
    TraceState String CODEC(ZSTD(1)),
    SpanName LowCardinality(String) CODEC(ZSTD(1)),
    SpanKind LowCardinality(String) CODEC(ZSTD(1)),
    ServiceName LowCardinality(String) CODEC(ZSTD(1)),
    ResourceAttributes Map(LowCardinality(String), String) CODEC(ZSTD(1)),
    ScopeName String CODEC(ZSTD(1)),
    ScopeVersion String CODEC(ZSTD(1)),
    SpanAttributes Map(LowCardinality(String), String) CODEC(ZSTD(1)),
    Duration UInt64 CODEC(T64, ZSTD(1)),
    StatusCode LowCardinality(String) CODEC(ZSTD(1)),
    StatusMessage String CODEC(ZSTD(1)),
    Events Nested (
        Timestamp DateTime64(9),
        Name LowCardinality(String),
        Attributes Map(LowCardinality(String), String)
    ) CODEC(ZSTD(1)),
    Links Nested (
        TraceId String,
        SpanId String,
        TraceState String,
        Attributes Map(LowCardinality(String), String)
    ) CODEC(ZSTD(1)),
    INDEX idx_trace_id TraceId TYPE bloom_filter(0.001) GRANULARITY 1,
    INDEX idx_res_attr_key mapKeys(ResourceAttributes) TYPE bloom_filter(0.01) GRANULARITY 1,
    INDEX idx_res_attr_value mapValues(ResourceAttributes) TYPE bloom_filter(0.01) GRANULARITY 1,
    INDEX idx_span_attr_key mapKeys(SpanAttributes) TYPE bloom_filter(0.01) GRANULARITY 1,
    INDEX idx_span_attr_value mapValues(SpanAttributes) TYPE bloom_filter(0.01) GRANULARITY 1,
    INDEX idx_duration Duration TYPE minmax GRANULARITY 1,
    INDEX idx_lower_span_name lower(SpanName) TYPE tokenbf_v1(32768, 3, 0) GRANULARITY 8
) ENGINE = MergeTree
PARTITION BY toDate(Timestamp)
PRIMARY KEY (ServiceName, SpanName, toDateTime(Timestamp))
ORDER BY (ServiceName, SpanName, toDateTime(Timestamp), Timestamp)
SETTINGS index_granularity = 8192, ttl_only_drop_parts = 1
"""

OTEL_TRACES_TRACE_ID_TS = """
CREATE TABLE IF NOT EXISTS otel_traces_trace_id_ts (
    TraceId String CODEC(ZSTD(1)),
    Start SimpleAggregateFunction(min, DateTime) CODEC(ZSTD(1)),
    End SimpleAggregateFunction(max, DateTime) CODEC(ZSTD(1))
) ENGINE = MergeTree
PARTITION BY toStartOfWeek(Start)
ORDER BY (TraceId)
SETTINGS index_granularity = 8192, ttl_only_drop_parts = 1
"""

OTEL_TRACES_TRACE_ID_TS_MV = """
CREATE MATERIALIZED VIEW IF NOT EXISTS otel_traces_trace_id_ts_mv
TO otel_traces_trace_id_ts
AS SELECT TraceId, min(Timestamp) AS Start, max(Timestamp) AS End
FROM otel_traces
WHERE TraceId != ''
GROUP BY TraceId
"""

# The exporter's five metric tables (sqltemplates/metrics_*_table.sql): the same resource,
# scope and metric columns, then each type's own; default names as the exporter's config has
# them (exponential histograms in otel_metrics_exp_histogram). Created so a store runbrief
# made is one a Collector can write metrics into; runbrief's metric operations still read
# its own metric_points.
_METRIC_HEAD = """
    ResourceAttributes Map(LowCardinality(String), String) CODEC(ZSTD(1)),
    ResourceSchemaUrl String CODEC(ZSTD(1)),
    ScopeName String CODEC(ZSTD(1)),
    ScopeVersion String CODEC(ZSTD(1)),
    ScopeAttributes Map(LowCardinality(String), String) CODEC(ZSTD(1)),
    ScopeDroppedAttrCount UInt32 CODEC(ZSTD(1)),
    ScopeSchemaUrl String CODEC(ZSTD(1)),
    ServiceName LowCardinality(String) CODEC(ZSTD(1)),
    MetricName String CODEC(ZSTD(1)),
    MetricDescription String CODEC(ZSTD(1)),
    MetricUnit String CODEC(ZSTD(1)),
    Attributes Map(LowCardinality(String), String) CODEC(ZSTD(1)),
    StartTimeUnix DateTime64(9) CODEC(Delta, ZSTD(1)),
    TimeUnix DateTime64(9) CODEC(Delta, ZSTD(1)),"""
_EXEMPLARS = """
    Exemplars Nested (
        FilteredAttributes Map(LowCardinality(String), String),
        TimeUnix DateTime64(9),
        Value Float64,
        SpanId String,
        TraceId String
    ) CODEC(ZSTD(1)),"""
_METRIC_TAIL = """
    INDEX idx_res_attr_key mapKeys(ResourceAttributes) TYPE bloom_filter(0.01) GRANULARITY 1,
    INDEX idx_res_attr_value mapValues(ResourceAttributes) TYPE bloom_filter(0.01) GRANULARITY 1,
    INDEX idx_scope_attr_key mapKeys(ScopeAttributes) TYPE bloom_filter(0.01) GRANULARITY 1,
    INDEX idx_scope_attr_value mapValues(ScopeAttributes) TYPE bloom_filter(0.01) GRANULARITY 1,
    INDEX idx_attr_key mapKeys(Attributes) TYPE bloom_filter(0.01) GRANULARITY 1,
    INDEX idx_attr_value mapValues(Attributes) TYPE bloom_filter(0.01) GRANULARITY 1
) ENGINE = MergeTree
PARTITION BY toDate(TimeUnix)
ORDER BY (ServiceName, MetricName, Attributes, toUnixTimestamp64Nano(TimeUnix))
SETTINGS index_granularity = 8192, ttl_only_drop_parts = 1
"""
_METRIC_OWN = {
    "otel_metrics_gauge": """
    Value Float64 CODEC(ZSTD(1)),
    Flags UInt32 CODEC(ZSTD(1)),""" + _EXEMPLARS,
    "otel_metrics_sum": """
    Value Float64 CODEC(ZSTD(1)),
    Flags UInt32 CODEC(ZSTD(1)),""" + _EXEMPLARS + """
    AggregationTemporality Int32 CODEC(ZSTD(1)),
    IsMonotonic Boolean CODEC(Delta, ZSTD(1)),""",
    "otel_metrics_histogram": """
    Count UInt64 CODEC(Delta, ZSTD(1)),
    Sum Float64 CODEC(ZSTD(1)),
    BucketCounts Array(UInt64) CODEC(ZSTD(1)),
    ExplicitBounds Array(Float64) CODEC(ZSTD(1)),""" + _EXEMPLARS + """
    Flags UInt32 CODEC(ZSTD(1)),
    Min Float64 CODEC(ZSTD(1)),
    Max Float64 CODEC(ZSTD(1)),
    AggregationTemporality Int32 CODEC(ZSTD(1)),""",
    "otel_metrics_exp_histogram": """
    Count UInt64 CODEC(Delta, ZSTD(1)),
    Sum Float64 CODEC(ZSTD(1)),
    Scale Int32 CODEC(ZSTD(1)),
    ZeroCount UInt64 CODEC(ZSTD(1)),
    PositiveOffset Int32 CODEC(ZSTD(1)),
    PositiveBucketCounts Array(UInt64) CODEC(ZSTD(1)),
    NegativeOffset Int32 CODEC(ZSTD(1)),
    NegativeBucketCounts Array(UInt64) CODEC(ZSTD(1)),""" + _EXEMPLARS + """
    Flags UInt32 CODEC(ZSTD(1)),
    Min Float64 CODEC(ZSTD(1)),
    Max Float64 CODEC(ZSTD(1)),
    AggregationTemporality Int32 CODEC(ZSTD(1)),""",
    "otel_metrics_summary": """
    Count UInt64 CODEC(Delta, ZSTD(1)),
    Sum Float64 CODEC(ZSTD(1)),
    ValueAtQuantiles Nested(
        Quantile Float64,
        Value Float64
    ) CODEC(ZSTD(1)),
    Flags UInt32 CODEC(ZSTD(1)),""",
}
OTEL_METRICS = [f"CREATE TABLE IF NOT EXISTS {name} ({_METRIC_HEAD}{own}{_METRIC_TAIL}"
                for name, own in _METRIC_OWN.items()]

# --- runbrief's per-line columns on the exporter's log table -----------------------------
OTEL_LOGS_RUNBRIEF = [
    "ALTER TABLE otel_logs ADD COLUMN IF NOT EXISTS RunbriefLogId UInt64 DEFAULT 0",
    "ALTER TABLE otel_logs ADD COLUMN IF NOT EXISTS PatternId LowCardinality(String) DEFAULT ''",
    "ALTER TABLE otel_logs ADD COLUMN IF NOT EXISTS SeverityInferred LowCardinality(String) DEFAULT ''",
    "ALTER TABLE otel_logs ADD COLUMN IF NOT EXISTS ObservedTimestamp DateTime64(9) DEFAULT Timestamp",
    "ALTER TABLE otel_logs ADD COLUMN IF NOT EXISTS Source LowCardinality(String) DEFAULT 'otlp'",
    "ALTER TABLE otel_logs ADD COLUMN IF NOT EXISTS ResourceId String DEFAULT ''",
]

# --- runbrief's own tables ---------------------------------------------------------------
OWN_TABLES = [
    """CREATE TABLE IF NOT EXISTS meta (key String, value Nullable(String), version UInt64 DEFAULT 0)
       ENGINE = ReplacingMergeTree(version) ORDER BY key""",
    """CREATE TABLE IF NOT EXISTS patterns (
        pattern_id String, template String, severity Nullable(String),
        first_seen Nullable(DateTime64(6, 'UTC')), last_seen Nullable(DateTime64(6, 'UTC')),
        count Int64 DEFAULT 0, version UInt64 DEFAULT 0
       ) ENGINE = ReplacingMergeTree(version) ORDER BY pattern_id""",
    """CREATE TABLE IF NOT EXISTS pattern_aliases (old_id String, new_id String, version UInt64 DEFAULT 0)
       ENGINE = ReplacingMergeTree(version) ORDER BY old_id""",
    """CREATE TABLE IF NOT EXISTS pattern_counts (
        service LowCardinality(String), pattern_id String, minute DateTime64(6, 'UTC'),
        count SimpleAggregateFunction(sum, Int64), errors SimpleAggregateFunction(sum, Int64),
        first_ts SimpleAggregateFunction(min, DateTime64(6, 'UTC')),
        last_ts SimpleAggregateFunction(max, DateTime64(6, 'UTC')),
        examples SimpleAggregateFunction(any, String)
       ) ENGINE = AggregatingMergeTree ORDER BY (service, pattern_id, minute)""",
    """CREATE TABLE IF NOT EXISTS deploys (
        id Int64, ts DateTime64(6, 'UTC'), service LowCardinality(String), version Nullable(String),
        commit Nullable(String), environment Nullable(String), source Nullable(String), attributes Nullable(String)
       ) ENGINE = MergeTree ORDER BY (service, ts, id)""",
    """CREATE TABLE IF NOT EXISTS events (
        id Int64, ts DateTime64(6, 'UTC'), kind Nullable(String), type Nullable(String), reason Nullable(String),
        message Nullable(String), object_kind Nullable(String), object_name Nullable(String),
        namespace Nullable(String), service Nullable(String), count Nullable(Int32),
        first_ts Nullable(DateTime64(6, 'UTC')), last_ts Nullable(DateTime64(6, 'UTC')),
        source Nullable(String), attributes Nullable(String)
       ) ENGINE = MergeTree ORDER BY (ts, id)""",
    # Interim: metric points keep runbrief's own layout until otel_metrics_* are mapped.
    """CREATE TABLE IF NOT EXISTS metric_points (
        ts DateTime64(6, 'UTC'), start_ts Nullable(DateTime64(6, 'UTC')), service LowCardinality(String),
        name String, type String, unit Nullable(String), value Nullable(Float64), count Nullable(Int64),
        sum Nullable(Float64), min Nullable(Float64), max Nullable(Float64), is_monotonic Nullable(Bool),
        temporality Nullable(String), buckets Nullable(String), attributes Nullable(String),
        resource_id Nullable(String), scope Nullable(String)
       ) ENGINE = MergeTree ORDER BY (service, name, ts)""",
]

# --- version 3: incidents, memory, Kubernetes objects, evaluations, GenAI calls -------------
MEMORY_TABLES = [
    # Incidents are latest-state rows (re-detection and `resolve` rewrite one): the newest
    # row_version of an id wins. Fixes are an append-only log; narratives are cached per
    # (incident, input hash), replaced when written again.
    f"""CREATE TABLE IF NOT EXISTS incidents (
        id Int64, title String, service Nullable(String), status LowCardinality(String),
        started_at DateTime64(6, 'UTC'), last_seen DateTime64(6, 'UTC'), detected_at DateTime64(6, 'UTC'),
        updated_at DateTime64(6, 'UTC'), resolved_at Nullable(DateTime64(6, 'UTC')), impact Float64,
        cause Nullable(String), deploy_id Nullable(Int64), members String, affected_services Nullable(String),
        fingerprint String, body String, {_RV}
       ) ENGINE = ReplacingMergeTree({ROW_VERSION}) ORDER BY id""",
    """CREATE TABLE IF NOT EXISTS incident_fixes (
        incident_id Int64, ts DateTime64(6, 'UTC'), fix String, `commit` Nullable(String), outcome LowCardinality(String)
       ) ENGINE = MergeTree ORDER BY (incident_id, ts)""",
    f"""CREATE TABLE IF NOT EXISTS incident_narratives (
        incident_id Int64, version String, model Nullable(String), text Nullable(String), dropped Nullable(Int32),
        created_at DateTime64(6, 'UTC'), {_RV}
       ) ENGINE = ReplacingMergeTree({ROW_VERSION}) ORDER BY (incident_id, version)""",
    f"""CREATE TABLE IF NOT EXISTS k8s_objects (
        namespace String, kind String, name String, owner_kind Nullable(String), owner_name Nullable(String),
        updated Nullable(DateTime64(6, 'UTC')), {_RV}
       ) ENGINE = ReplacingMergeTree({ROW_VERSION}) ORDER BY (namespace, kind, name)""",
    f"""CREATE TABLE IF NOT EXISTS eval_runs (
        run_id String, ts DateTime64(6, 'UTC'), kind LowCardinality(String), scope Nullable(String),
        config Nullable(String), status LowCardinality(String), checks Nullable(Int32), failed Nullable(Int32), {_RV}
       ) ENGINE = ReplacingMergeTree({ROW_VERSION}) ORDER BY run_id""",
    """CREATE TABLE IF NOT EXISTS eval_scores (
        run_id String, ts DateTime64(6, 'UTC'), check_name String, evaluator String, trace_id Nullable(String),
        status LowCardinality(String), score Nullable(Float64), detail Nullable(String), evidence Nullable(String),
        error Nullable(String)
       ) ENGINE = MergeTree ORDER BY (run_id, ts)""",
    # One row per GenAI span (DuckDB schema 0010), derived at ingest; copied as it is. A
    # STRUCT list is an Array(Tuple); ClickHouse has no NULL array, so "no such attribute"
    # reads as [] here.
    """CREATE TABLE IF NOT EXISTS genai_calls (
        trace_id String, span_id String, parent_span_id Nullable(String), service LowCardinality(String),
        name Nullable(String), start_ts DateTime64(6, 'UTC'), start_ns Int64, end_ns Int64,
        duration_ms Nullable(Float64), status_code Nullable(String), status_message Nullable(String),
        resource_id Nullable(String), kind LowCardinality(String), operation Nullable(String),
        provider Nullable(String), request_model Nullable(String), response_model Nullable(String),
        model Nullable(String), input_tokens Nullable(Int64), output_tokens Nullable(Int64),
        total_tokens Nullable(Int64), cache_read_tokens Nullable(Int64), cache_write_tokens Nullable(Int64),
        finish_reasons Array(Nullable(String)), response_id Nullable(String), tool_name Nullable(String),
        tool_call_id Nullable(String), tool_args Nullable(String), agent_name Nullable(String),
        conversation Nullable(String), span_conversation Nullable(String), error Nullable(Bool),
        error_type Nullable(String), sdk Nullable(Bool), scope Nullable(String), family Nullable(String),
        richness Nullable(Int32), dup Bool DEFAULT false,
        req_json Array(Tuple(ord Nullable(Int64), tname Nullable(String), targs Nullable(String), tid Nullable(String))),
        req_flat Array(Tuple(ord Nullable(Int64), tname Nullable(String), targs Nullable(String), tid Nullable(String)))
       ) ENGINE = MergeTree ORDER BY (service, start_ns, span_id)""",
]

# --- views: the exporter's columns under runbrief's names --------------------------------
# CREATE OR REPLACE: a schema version that changes a view replaces it at the next open.
# Empty strings (the exporter's "absent") become NULL, as DuckDB stores absent values;
# times become microsecond UTC DateTime64, DuckDB's TIMESTAMP.
VIEWS = [
    """CREATE OR REPLACE VIEW logs AS SELECT
        toInt64(RunbriefLogId) AS id,
        toDateTime64(Timestamp, 6, 'UTC') AS ts,
        -- the epoch: a copied line that had no receive time (a Collector's rows default to Timestamp)
        if(toUnixTimestamp64Nano(ObservedTimestamp) = 0, NULL, toDateTime64(ObservedTimestamp, 6, 'UTC')) AS observed_ts,
        toString(ServiceName) AS service,
        if(SeverityNumber = 0, NULL, toInt8(SeverityNumber)) AS severity_number,
        nullIf(toString(SeverityText), '') AS severity_text,
        nullIf(toString(SeverityInferred), '') AS severity_inferred,
        Body AS body,
        nullIf(toString(PatternId), '') AS pattern_id,
        nullIf(TraceId, '') AS trace_id,
        nullIf(SpanId, '') AS span_id,
        if(empty(LogAttributes), NULL, toJSONString(LogAttributes)) AS attributes,
        nullIf(ResourceId, '') AS resource_id,
        nullIf(ScopeName, '') AS scope,
        toString(Source) AS source
       FROM otel_logs""",
    """CREATE OR REPLACE VIEW spans AS SELECT
        TraceId AS trace_id, SpanId AS span_id, nullIf(ParentSpanId, '') AS parent_span_id,
        toString(ServiceName) AS service, toString(SpanName) AS name, upper(toString(SpanKind)) AS kind,
        toDateTime64(Timestamp, 6, 'UTC') AS start_ts,
        toInt64(toUnixTimestamp64Nano(Timestamp)) AS start_ns,
        toInt64(toUnixTimestamp64Nano(Timestamp) + Duration) AS end_ns,
        Duration / 1e6 AS duration_ms,
        upper(toString(StatusCode)) AS status_code, nullIf(StatusMessage, '') AS status_message,
        coalesce(nullIf(SpanAttributes['http.route'], ''), nullIf(SpanAttributes['url.path'], ''),
                 nullIf(SpanAttributes['http.target'], '')) AS route,
        if(empty(SpanAttributes), NULL, toJSONString(SpanAttributes)) AS attributes,
        toJSONString(arrayMap((n, t, a) -> CAST(tuple(n, toInt64(toUnixTimestamp64Nano(t)), a),
            'Tuple(name String, ts_ns Int64, attributes Map(String, String))'),
            `Events.Name`, `Events.Timestamp`, `Events.Attributes`)) AS events,
        toJSONString(arrayMap((t, s, a) -> CAST(tuple(t, s, a),
            'Tuple(trace_id String, span_id String, attributes Map(String, String))'),
            `Links.TraceId`, `Links.SpanId`, `Links.Attributes`)) AS links,
        NULL AS resource_id, nullIf(ScopeName, '') AS scope
       FROM otel_traces""",
    # Resources as the signals carry them: one row per (service, version, environment) seen,
    # its first and last record time; runbrief's resource ID where its own ingest set one.
    """CREATE OR REPLACE VIEW resources AS SELECT
        nullIf(max(ResourceId), '') AS resource_id,
        toString(ServiceName) AS service, nullIf(ResourceAttributes['service.version'], '') AS version,
        nullIf(ResourceAttributes['deployment.environment.name'], '') AS environment,
        if(empty(any(ResourceAttributes)), NULL, toJSONString(any(ResourceAttributes))) AS attributes,
        toDateTime64(min(Timestamp), 6, 'UTC') AS first_seen, toDateTime64(max(Timestamp), 6, 'UTC') AS last_seen
       FROM (SELECT ServiceName, ResourceAttributes, Timestamp, ResourceId FROM otel_logs
             UNION ALL SELECT ServiceName, ResourceAttributes, Timestamp, '' AS ResourceId FROM otel_traces)
       GROUP BY service, version, environment""",
]


@dataclass(frozen=True)
class Migration:
    """One numbered schema change, applied once, in order, and recorded in ``schema_migrations``."""

    version: int
    name: str
    statements: tuple[str, ...]


# The numbered migrations, as DuckDB's store/schema/NNNN_*.sql files are. Never edit one
# that has shipped: add the next. The views are re-created after any migration ran (their
# latest definitions: CREATE OR REPLACE), so a migration that changes a column a view reads
# need not repeat the view.
MIGRATIONS: tuple[Migration, ...] = (
    Migration(1, "the exporter's log and trace tables, runbrief's per-line columns, its own tables",
              (OTEL_LOGS, OTEL_TRACES, OTEL_TRACES_TRACE_ID_TS, OTEL_TRACES_TRACE_ID_TS_MV, *OTEL_LOGS_RUNBRIEF,
               *OWN_TABLES)),
    Migration(2, "the spans view reads the Events and Links nested columns", ()),
    Migration(3, "incidents, fixes, narratives, Kubernetes objects, evaluations, GenAI calls", tuple(MEMORY_TABLES)),
    Migration(4, "the exporter's otel_metrics_* tables", tuple(OTEL_METRICS)),
    # The DuckDB fold's ledger of log IDs not yet counted (DuckDB schema 0009). Nothing on
    # ClickHouse writes logs through the pipeline (ingest refuses a chdb: store), so it stays
    # empty; it exists because the pipeline a `deploy mark` goes through reads it.
    Migration(5, "logs_unfolded, read (empty) by the pipeline deploy_mark writes through", (
        "CREATE TABLE IF NOT EXISTS logs_unfolded (lo Int64, hi Int64) ENGINE = MergeTree ORDER BY lo",)),
)
SCHEMA_VERSION = MIGRATIONS[-1].version

# Which migrations a store has had: one row each, written after its statements ran. (Stores
# made before this table existed carry only meta 'schema_version'; ChStore reads that once.)
VERSION_TABLE = """CREATE TABLE IF NOT EXISTS schema_migrations (
    version UInt32, name String, applied_at DateTime64(6, 'UTC')
   ) ENGINE = ReplacingMergeTree ORDER BY version"""


def pending(current: int) -> list[Migration]:
    """The migrations after version ``current``, in order."""
    return [m for m in MIGRATIONS if m.version > current]


def statements() -> list[str]:
    """Every statement that creates the schema from nothing, in order (each is idempotent)."""
    return [*(st for m in MIGRATIONS for st in m.statements), *VIEWS]
