-- Count rows committed with their logs but not yet folded into pattern_counts.
-- Under load the writer appends here (a plain insert) and folds once a second (one
-- upsert), because an upsert into pattern_counts costs milliseconds per statement
-- whatever its size. The writer folds what it finds here on its first commit, so rows
-- left by a crash are folded after a restart. Readers use pattern_counts only.
CREATE TABLE IF NOT EXISTS pattern_counts_pending (
    service VARCHAR NOT NULL,
    pattern_id VARCHAR NOT NULL,
    minute TIMESTAMP NOT NULL,
    count BIGINT NOT NULL,
    errors BIGINT NOT NULL DEFAULT 0,
    first_ts TIMESTAMP,
    last_ts TIMESTAMP,
    examples JSON
);
