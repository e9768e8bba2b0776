-- Evaluations: each `runbrief eval` / `runbrief gate` run, and the scores it gave.
-- A score with a trace_id is stored with that trace (scored per trace); a score with a
-- NULL trace_id is the check's verdict over the whole run.

CREATE TABLE IF NOT EXISTS eval_runs (
    run_id VARCHAR PRIMARY KEY,
    ts TIMESTAMP NOT NULL,
    kind VARCHAR NOT NULL,               -- eval | gate
    scope JSON,                          -- which traces were scored (since, deploy, resource, trace_ids…)
    config VARCHAR,                      -- the runbrief.toml used, if any
    status VARCHAR NOT NULL,             -- pass | fail | error
    checks INTEGER,
    failed INTEGER                       -- checks not passing (fail or error)
);

CREATE TABLE IF NOT EXISTS eval_scores (
    run_id VARCHAR NOT NULL,
    ts TIMESTAMP NOT NULL,
    check_name VARCHAR NOT NULL,
    evaluator VARCHAR NOT NULL,
    trace_id VARCHAR,                    -- NULL: the whole run
    status VARCHAR NOT NULL,             -- pass | fail | error
    score DOUBLE,
    detail VARCHAR,
    evidence JSON,                       -- evidence IDs (spn_…, trc_…)
    error VARCHAR
);
