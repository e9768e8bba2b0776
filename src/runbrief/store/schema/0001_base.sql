-- runbrief store, version 1: the normalized records.
-- Times are TIMESTAMP (UTC, microseconds) for range queries plus the exact nanoseconds
-- where the analysis needs them (spans). Attribute maps are JSON text.

CREATE TABLE IF NOT EXISTS meta (
    key VARCHAR PRIMARY KEY,
    value VARCHAR
);

CREATE TABLE IF NOT EXISTS resources (
    resource_id VARCHAR PRIMARY KEY,     -- Resource.fingerprint
    service VARCHAR NOT NULL,
    version VARCHAR,
    environment VARCHAR,
    attributes JSON,
    first_seen TIMESTAMP,
    last_seen TIMESTAMP
);

CREATE TABLE IF NOT EXISTS logs (
    id BIGINT NOT NULL,                  -- evidence ID log_<id>
    ts TIMESTAMP NOT NULL,
    observed_ts TIMESTAMP,
    service VARCHAR NOT NULL,
    severity_number TINYINT,
    severity_text VARCHAR,
    severity_inferred VARCHAR,           -- set by distill when the source had no level
    body VARCHAR,
    pattern_id VARCHAR,
    params JSON,
    trace_id VARCHAR,
    span_id VARCHAR,
    attributes JSON,
    resource_id VARCHAR,
    scope VARCHAR,
    source VARCHAR
);

CREATE TABLE IF NOT EXISTS spans (
    trace_id VARCHAR NOT NULL,
    span_id VARCHAR NOT NULL,
    parent_span_id VARCHAR,
    service VARCHAR NOT NULL,
    name VARCHAR,
    kind VARCHAR,
    start_ts TIMESTAMP NOT NULL,
    start_ns BIGINT NOT NULL,
    end_ns BIGINT NOT NULL,
    duration_ms DOUBLE NOT NULL,
    status_code VARCHAR,
    status_message VARCHAR,
    route VARCHAR,                       -- http.route, else url.path / http.target
    attributes JSON,
    events JSON,
    links JSON,
    resource_id VARCHAR,
    scope VARCHAR
);

CREATE TABLE IF NOT EXISTS metric_points (
    ts TIMESTAMP NOT NULL,
    start_ts TIMESTAMP,
    service VARCHAR NOT NULL,
    name VARCHAR NOT NULL,
    type VARCHAR NOT NULL,
    unit VARCHAR,
    value DOUBLE,
    count BIGINT,
    sum DOUBLE,
    min DOUBLE,
    max DOUBLE,
    is_monotonic BOOLEAN,
    temporality VARCHAR,
    buckets JSON,
    attributes JSON,
    resource_id VARCHAR,
    scope VARCHAR
);

CREATE TABLE IF NOT EXISTS events (
    id BIGINT NOT NULL,                  -- evidence ID evt_<id>
    ts TIMESTAMP NOT NULL,
    kind VARCHAR,
    type VARCHAR,
    reason VARCHAR,
    message VARCHAR,
    object_kind VARCHAR,
    object_name VARCHAR,
    namespace VARCHAR,
    service VARCHAR,
    count INTEGER,
    first_ts TIMESTAMP,
    last_ts TIMESTAMP,
    source VARCHAR,
    attributes JSON
);

CREATE TABLE IF NOT EXISTS deploys (
    id BIGINT NOT NULL,                  -- evidence ID dep_<id>
    ts TIMESTAMP NOT NULL,
    service VARCHAR NOT NULL,
    version VARCHAR,
    commit VARCHAR,
    environment VARCHAR,
    source VARCHAR,
    attributes JSON
);
