-- Distill: patterns (templates) and their per-minute counts.
-- pattern_id is a fingerprint of the template text (stable across restarts, machines and
-- services); when a template evolves, the old ID stays as an alias of the new one.

CREATE TABLE IF NOT EXISTS patterns (
    pattern_id VARCHAR PRIMARY KEY,      -- evidence ID pat_<pattern_id>
    template VARCHAR NOT NULL,           -- placeholders written <*>
    severity VARCHAR,                    -- learned severity (source level or inferred)
    first_seen TIMESTAMP,
    last_seen TIMESTAMP,
    count BIGINT DEFAULT 0
);

CREATE TABLE IF NOT EXISTS pattern_aliases (
    old_id VARCHAR PRIMARY KEY,
    new_id VARCHAR NOT NULL
);

-- One row per (service, pattern, minute): a 30,000-line retry storm is one row.
CREATE TABLE IF NOT EXISTS pattern_counts (
    service VARCHAR NOT NULL,
    pattern_id VARCHAR NOT NULL,
    minute TIMESTAMP NOT NULL,
    count BIGINT NOT NULL,
    errors BIGINT NOT NULL DEFAULT 0,    -- lines at ERROR or above (source or inferred)
    first_ts TIMESTAMP,
    last_ts TIMESTAMP,
    examples JSON,                       -- a few example lines: [{"log_id": n, "body": "..."}]
    PRIMARY KEY (service, pattern_id, minute)
);

-- The miner's own state (serialized), so a restart continues where it left off.
CREATE TABLE IF NOT EXISTS miner_state (
    key VARCHAR PRIMARY KEY,
    state BLOB,
    updated TIMESTAMP
);
