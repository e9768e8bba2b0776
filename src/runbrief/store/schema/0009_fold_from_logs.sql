-- Count rows are aggregated from the stored lines at a fold (runbrief.distill.persist)
-- instead of being computed per batch and appended to pattern_counts_pending. A commit
-- notes the log IDs it stored here; a fold counts those lines and empties the table.
-- Like the pending table it replaces, it is durable with the logs, so a writer's first
-- commit after a crash folds what was left.
CREATE TABLE IF NOT EXISTS logs_unfolded (
    lo BIGINT NOT NULL,  -- inclusive range of log IDs
    hi BIGINT NOT NULL
);

-- Rows a crash left in the old pending table: folded here, as the old fold did.
INSERT INTO pattern_counts
SELECT service, coalesce(a.new_id, p.pattern_id), minute, sum(count), sum(errors), min(first_ts), max(last_ts),
       to_json(list_slice(list_sort(flatten(list(from_json(examples, '[{"log_id": "BIGINT", "body": "VARCHAR"}]')))), 1, 3))
FROM pattern_counts_pending p LEFT JOIN pattern_aliases a ON a.old_id = p.pattern_id
GROUP BY ALL
ON CONFLICT (service, pattern_id, minute) DO UPDATE SET
    count = pattern_counts.count + excluded.count,
    errors = pattern_counts.errors + excluded.errors,
    first_ts = least(pattern_counts.first_ts, excluded.first_ts),
    last_ts = greatest(pattern_counts.last_ts, excluded.last_ts),
    examples = CASE WHEN json_array_length(pattern_counts.examples) >= 3
      THEN pattern_counts.examples
      ELSE to_json(list_slice(list_concat(
        from_json(pattern_counts.examples, '[{"log_id": "BIGINT", "body": "VARCHAR"}]'),
        from_json(excluded.examples, '[{"log_id": "BIGINT", "body": "VARCHAR"}]')), 1, 3)) END;

INSERT INTO patterns
SELECT coalesce(a.new_id, p.pattern_id), '', NULL, min(first_ts), max(last_ts), sum(count)
FROM pattern_counts_pending p LEFT JOIN pattern_aliases a ON a.old_id = p.pattern_id
GROUP BY ALL
ON CONFLICT (pattern_id) DO UPDATE SET
    first_seen = least(patterns.first_seen, excluded.first_seen),
    last_seen = greatest(patterns.last_seen, excluded.last_seen),
    count = patterns.count + excluded.count;

DROP TABLE pattern_counts_pending;
