"""The store's side of distill: patterns, aliases, per-minute counts and the miner's state.

The writes run inside the pipeline's write transaction, on the single writer, from data
prepared elsewhere (possibly in an ingest worker process): the Distiller's pattern rows
and the per-minute count rows ``aggregate_counts`` computed from the very log rows being
inserted, so the counts always agree with ``logs``.

Several miners may feed one store (one per ingest worker, each owning some services), so
the store's alias table is the authority: an incoming pattern ID that some miner already
retired is re-pointed to its successor on the way in, and its stale template is ignored.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

import pyarrow as pa
import pyarrow.compute as pc

if TYPE_CHECKING:
    import duckdb

__all__ = ["EXAMPLE_CHARS", "aggregate_counts", "has_aliases", "logs_source", "counts_source", "write_aliases", "write_counts",
           "write_patterns", "save_state"]

EXAMPLE_CHARS = 2000  # an example line is cut here (the full body stays in logs)
_EXAMPLES_TYPE = '[{"log_id": "BIGINT", "body": "VARCHAR"}]'


def aggregate_counts(logs: pa.Table) -> pa.Table:
    """One row per (service, pattern, minute) of a batch's log rows: lines, errors,
    first/last time and the first three examples (row index in ``logs`` and body).

    Pure Arrow (C++ kernels): it runs where the batch is prepared, an ingest worker, so
    the store's single writer merges a few hundred rows instead of scanning every line."""
    n = logs.num_rows
    err = pc.fill_null(pc.or_(pc.greater_equal(logs["severity_number"], 17),
                              pc.is_in(logs["severity_inferred"], pa.array(["ERROR", "FATAL"]))), False)
    t = pa.table({
        "service": logs["service"], "pattern_id": logs["pattern_id"],
        "minute": pc.floor_temporal(logs["ts"], unit="minute"), "ts": logs["ts"],
        "err": pc.cast(err, pa.int64()), "idx": pa.array(range(n), pa.int64()),
    }).filter(pc.is_valid(logs["pattern_id"]))
    g = t.group_by(["service", "pattern_id", "minute"], use_threads=False).aggregate(
        [("idx", "count"), ("err", "sum"), ("ts", "min"), ("ts", "max"), ("idx", "list")])
    first3 = pc.list_slice(g["idx_list"].combine_chunks(), 0, 3)
    idx = pc.list_flatten(first3)
    bodies = pc.utf8_slice_codeunits(pc.take(logs["body"], idx), 0, EXAMPLE_CHARS)
    examples = pa.ListArray.from_arrays(
        first3.offsets, pa.StructArray.from_arrays([idx, bodies.combine_chunks()], names=["idx", "body"]))
    return pa.table({
        "service": g["service"], "pattern_id": g["pattern_id"], "minute": g["minute"],
        "count": g["idx_count"], "errors": g["err_sum"], "first_ts": g["ts_min"], "last_ts": g["ts_max"],
        "examples": examples, "base": pa.array([0] * g.num_rows, pa.int64()),
    })


def has_aliases(con: duckdb.DuckDBPyConnection) -> bool:
    return bool(con.execute("SELECT EXISTS (SELECT 1 FROM pattern_aliases)").fetchone()[0])


def logs_source(name: str, aliases: bool) -> str:
    """A SQL relation over the registered log rows ``name``, pattern IDs re-pointed
    through the store's aliases (no join at all while there are none)."""
    if not aliases:
        return name
    return (f"(SELECT l.* REPLACE (coalesce(a.new_id, l.pattern_id) AS pattern_id) FROM {name} l "
            "LEFT JOIN pattern_aliases a ON a.old_id = l.pattern_id)")


def counts_source(name: str, aliases: bool) -> str:
    """A SQL relation over the registered count rows ``name``, pattern IDs re-pointed
    through the store's aliases (no join at all while there are none)."""
    if not aliases:
        return name
    return (f"(SELECT c.* REPLACE (coalesce(a.new_id, c.pattern_id) AS pattern_id) FROM {name} c "
            "LEFT JOIN pattern_aliases a ON a.old_id = c.pattern_id)")


def write_aliases(con: duckdb.DuckDBPyConnection, aliases: dict[str, str]) -> None:
    """Record ``old -> new`` and move everything filed under an old ID to the new one."""
    if not aliases:
        return
    tbl = pa.table({"old_id": list(aliases), "new_id": list(aliases.values())})
    con.register("_rb_alias", tbl)
    try:
        con.execute(
            "INSERT INTO pattern_aliases SELECT old_id, new_id FROM _rb_alias "
            "ON CONFLICT (old_id) DO UPDATE SET new_id = excluded.new_id"
        )
        con.execute(
            "UPDATE pattern_aliases SET new_id = a.new_id FROM _rb_alias a WHERE pattern_aliases.new_id = a.old_id"
        )
        con.execute("UPDATE logs SET pattern_id = a.new_id FROM _rb_alias a WHERE logs.pattern_id = a.old_id")
        con.execute(
            f"""INSERT INTO pattern_counts
            SELECT c.service, a.new_id, c.minute, sum(c.count), sum(c.errors), min(c.first_ts), max(c.last_ts),
                   to_json(list_slice(flatten(list(from_json(c.examples, '{_EXAMPLES_TYPE}'))), 1, 3))
            FROM pattern_counts c JOIN _rb_alias a ON c.pattern_id = a.old_id GROUP BY ALL
            ON CONFLICT (service, pattern_id, minute) DO UPDATE SET
              count = pattern_counts.count + excluded.count,
              errors = pattern_counts.errors + excluded.errors,
              first_ts = least(pattern_counts.first_ts, excluded.first_ts),
              last_ts = greatest(pattern_counts.last_ts, excluded.last_ts),
              examples = to_json(list_slice(list_concat(
                  from_json(pattern_counts.examples, '{_EXAMPLES_TYPE}'),
                  from_json(excluded.examples, '{_EXAMPLES_TYPE}')), 1, 3))"""
        )
        con.execute("DELETE FROM pattern_counts WHERE pattern_id IN (SELECT old_id FROM _rb_alias)")
        con.execute(
            """INSERT INTO patterns
            SELECT a.new_id, any_value(p.template), max(p.severity), min(p.first_seen), max(p.last_seen), sum(p.count)
            FROM patterns p JOIN _rb_alias a ON p.pattern_id = a.old_id GROUP BY a.new_id
            ON CONFLICT (pattern_id) DO UPDATE SET
              first_seen = least(patterns.first_seen, excluded.first_seen),
              last_seen = greatest(patterns.last_seen, excluded.last_seen),
              count = patterns.count + excluded.count"""
        )
        con.execute("DELETE FROM patterns WHERE pattern_id IN (SELECT old_id FROM _rb_alias)")
    finally:
        con.unregister("_rb_alias")


def write_counts(con: duckdb.DuckDBPyConnection, src: str, first_log_id: int) -> None:
    """Merge the count rows in ``src`` (``aggregate_counts``, possibly of several batches
    whose logs were numbered from ``first_log_id`` in order) into pattern_counts."""
    con.execute(
        f"""INSERT INTO pattern_counts
        SELECT service, pattern_id, minute, sum(count), sum(errors), min(first_ts), max(last_ts),
               to_json(list_slice(flatten(list(list_transform(examples,
                   lambda x: {{'log_id': x.idx + base + {int(first_log_id)}, 'body': x.body}}) ORDER BY base)), 1, 3))
        FROM {src} GROUP BY service, pattern_id, minute
        ON CONFLICT (service, pattern_id, minute) DO UPDATE SET
          count = pattern_counts.count + excluded.count,
          errors = pattern_counts.errors + excluded.errors,
          first_ts = least(pattern_counts.first_ts, excluded.first_ts),
          last_ts = greatest(pattern_counts.last_ts, excluded.last_ts),
          examples = CASE WHEN json_array_length(pattern_counts.examples) >= 3 THEN pattern_counts.examples
            ELSE to_json(list_slice(list_concat(
              from_json(pattern_counts.examples, '{_EXAMPLES_TYPE}'),
              from_json(excluded.examples, '{_EXAMPLES_TYPE}')), 1, 3)) END"""
    )


def write_patterns(con: duckdb.DuckDBPyConnection, patterns: pa.Table | None, src: str | None) -> None:
    """Templates and severities from the miner (retired IDs skipped), then each pattern's
    first/last time and line count from the count rows in ``src``."""
    if patterns is not None and patterns.num_rows:
        con.register("_rb_pat", patterns)
        try:
            con.execute(
                """INSERT INTO patterns SELECT pattern_id, template, severity, NULL, NULL, 0 FROM _rb_pat
                WHERE pattern_id NOT IN (SELECT old_id FROM pattern_aliases)
                ON CONFLICT (pattern_id) DO UPDATE SET
                  template = excluded.template,
                  severity = coalesce(excluded.severity, patterns.severity)"""
            )
        finally:
            con.unregister("_rb_pat")
    if src is not None:
        con.execute(
            f"""INSERT INTO patterns
            SELECT pattern_id, '', NULL, min(first_ts), max(last_ts), sum(count) FROM {src}
            GROUP BY pattern_id
            ON CONFLICT (pattern_id) DO UPDATE SET
              first_seen = least(patterns.first_seen, excluded.first_seen),
              last_seen = greatest(patterns.last_seen, excluded.last_seen),
              count = patterns.count + excluded.count"""
        )


def save_state(con: duckdb.DuckDBPyConnection, key: str, blob: bytes) -> None:
    con.execute(
        "INSERT OR REPLACE INTO miner_state VALUES (?, ?, to_timestamp(?)::TIMESTAMP)", [key, blob, time.time()]
    )
