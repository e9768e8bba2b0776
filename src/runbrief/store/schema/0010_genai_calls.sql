-- One row per GenAI span (a model call, a tool call or an agent step as one instrumentation
-- recorded it), its attribute JSON read once at ingest through the conventions' names
-- (runbrief.evals.genai) instead of at every read: at a million GenAI spans that parse was
-- two thirds of `runbrief agents`. Two facts that need other spans are kept current at
-- ingest too (the trace's conversation ID; whether a model span may be a second record of a
-- call); merging those candidates and matching requested tool calls to tool spans stay a
-- query over this table.
--
-- Derived from spans: filled in the transaction that inserts them, deleted with them by
-- retention, and rebuilt from spans when the normalization rules change (meta key
-- 'genai_calls_rules'; the backfill of a store made before this file runs at the same open).
CREATE TABLE IF NOT EXISTS genai_calls (
    trace_id VARCHAR NOT NULL,
    span_id VARCHAR NOT NULL,
    parent_span_id VARCHAR,
    service VARCHAR NOT NULL,
    name VARCHAR,
    start_ts TIMESTAMP NOT NULL,
    start_ns BIGINT NOT NULL,
    end_ns BIGINT NOT NULL,
    duration_ms DOUBLE,
    status_code VARCHAR,
    status_message VARCHAR,
    resource_id VARCHAR,
    kind VARCHAR NOT NULL,               -- model | tool | agent
    operation VARCHAR,
    provider VARCHAR,
    request_model VARCHAR,
    response_model VARCHAR,
    model VARCHAR,
    input_tokens BIGINT,
    output_tokens BIGINT,
    total_tokens BIGINT,
    cache_read_tokens BIGINT,
    cache_write_tokens BIGINT,
    finish_reasons VARCHAR[],
    response_id VARCHAR,
    tool_name VARCHAR,
    tool_call_id VARCHAR,
    tool_args VARCHAR,
    agent_name VARCHAR,
    conversation VARCHAR,                -- its own conversation ID, else its trace's, else 'trc_' || trace_id
    span_conversation VARCHAR,           -- its own conversation ID (the trace's is re-read when it changes)
    error BOOLEAN,
    error_type VARCHAR,
    sdk BOOLEAN,                         -- recorded by a provider SDK's own instrumentation
    scope VARCHAR,                       -- instrumentation scope
    family VARCHAR,                      -- otel | openinference | openllmetry
    richness INTEGER,                    -- how much the span says (without its conversation)
    dup BOOLEAN NOT NULL DEFAULT FALSE,  -- another model span shares its response ID or its trace and input
                                         -- tokens: a candidate for one call recorded twice (merged at read)
    -- Tool calls the model requested: from gen_ai.output.messages, and from flattened keys
    -- (NULL when the span has no such attribute, [] when it has one without tool calls).
    req_json STRUCT(ord BIGINT, tname VARCHAR, targs VARCHAR, tid VARCHAR)[],
    req_flat STRUCT(ord BIGINT, tname VARCHAR, targs VARCHAR, tid VARCHAR)[]
);
