"""The store's side of distill: patterns, aliases, per-minute counts and the miner's state.

Count rows (one per service, pattern and minute: lines, errors, first/last time, three
examples) are not written with the records. A commit notes the range of log IDs it
stored in ``logs_unfolded`` (one small insert), and ``fold`` aggregates those rows of
``logs`` into pattern_counts in SQL, so counts always agree with the stored lines: per
commit in-process, at most every FOLD_S under load, and before any operation reads
(``Store.settle``). Computing them per batch in the workers, shipping them and appending
them to a pending table cost ~0.7 us a record in a worker and a statement (~1.3 ms) per
commit; DuckDB aggregates 60,000 stored rows in ~30 ms.

Several miners may feed one store (one per ingest worker, each owning some services), so
the store's alias table is the authority: an incoming pattern ID that some miner already
retired is re-pointed to its successor on the way in (``AliasMap``), and its stale
template is ignored.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

import pyarrow as pa
import pyarrow.compute as pc

if TYPE_CHECKING:
    import duckdb


__all__ = ["EXAMPLE_CHARS", "AliasMap", "write_aliases", "note_unfolded", "fold", "write_templates", "save_state"]

EXAMPLE_CHARS = 2000  # an example line is cut here (the full body stays in logs)
EXAMPLES_KEPT = 3
_EXAMPLES_TYPE = '[{"log_id": "BIGINT", "body": "VARCHAR"}]'

class AliasMap(dict[str, str]):
    """The store's retired pattern IDs (old -> current), held by its single writer."""

    @classmethod
    def load(cls, con: duckdb.DuckDBPyConnection) -> AliasMap:
        return cls(con.execute("SELECT old_id, new_id FROM pattern_aliases").fetchall())

    def add(self, aliases: dict[str, str]) -> None:
        """Apply new aliases, as ``write_aliases`` does in the table (chains resolved)."""
        for old, new in aliases.items():
            self[old] = self.get(new, new)
        for old, cur in list(self.items()):
            if cur in aliases:
                self[old] = self.get(aliases[cur], aliases[cur])

    def repoint(self, column: pa.ChunkedArray | pa.Array) -> pa.ChunkedArray | pa.Array:
        """``column`` of pattern IDs with retired ones replaced (vectorized)."""
        if not self:
            return column
        keys = pa.array(list(self), pa.string())
        idx = pc.index_in(column, value_set=keys)
        if idx.null_count == len(idx):
            return column
        return pc.coalesce(pc.take(pa.array(list(self.values()), pa.string()), idx), column)


# How a count row merges into the stored one for its key (the fold, and an alias moving
# rows to the new ID): counts add up, times widen, examples fill up to EXAMPLES_KEPT.
_MERGE_COUNT_ROW = f"""ON CONFLICT (service, pattern_id, minute) DO UPDATE SET
    count = pattern_counts.count + excluded.count,
    errors = pattern_counts.errors + excluded.errors,
    first_ts = least(pattern_counts.first_ts, excluded.first_ts),
    last_ts = greatest(pattern_counts.last_ts, excluded.last_ts),
    examples = CASE WHEN json_array_length(pattern_counts.examples) >= {EXAMPLES_KEPT}
      THEN pattern_counts.examples
      ELSE to_json(list_slice(list_concat(
        from_json(pattern_counts.examples, '{_EXAMPLES_TYPE}'),
        from_json(excluded.examples, '{_EXAMPLES_TYPE}')), 1, {EXAMPLES_KEPT})) END"""
# How a pattern's first/last seen and line count merge into its stored row.
_MERGE_PATTERN_STATS = """ON CONFLICT (pattern_id) DO UPDATE SET
    first_seen = least(patterns.first_seen, excluded.first_seen),
    last_seen = greatest(patterns.last_seen, excluded.last_seen),
    count = patterns.count + excluded.count"""


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
            {_MERGE_COUNT_ROW}"""
        )
        con.execute("DELETE FROM pattern_counts WHERE pattern_id IN (SELECT old_id FROM _rb_alias)")
        con.execute(
            f"""INSERT INTO patterns
            SELECT a.new_id, any_value(p.template), max(p.severity), min(p.first_seen), max(p.last_seen), sum(p.count)
            FROM patterns p JOIN _rb_alias a ON p.pattern_id = a.old_id GROUP BY a.new_id
            {_MERGE_PATTERN_STATS}"""
        )
        con.execute("DELETE FROM patterns WHERE pattern_id IN (SELECT old_id FROM _rb_alias)")
    finally:
        con.unregister("_rb_alias")


def note_unfolded(con: duckdb.DuckDBPyConnection, ranges: list[tuple[int, int]]) -> None:
    """Record that the log IDs in ``ranges`` (inclusive) were stored and await ``fold``."""
    if ranges:
        con.execute(f"INSERT INTO logs_unfolded VALUES {', '.join(['(?, ?)'] * len(ranges))}",
                    [v for r in ranges for v in r])


# The count rows of the stored lines that no fold has counted yet. Lines without a
# pattern (nothing to mine) are not counted. An error is a line at ERROR or above by its
# source level, or by the inferred one where the source had none.
_UNFOLDED_COUNTS = f"""
    SELECT l.service, l.pattern_id, date_trunc('minute', l.ts) AS "minute", count(*) AS "count",
           count(*) FILTER (WHERE l.severity_number >= 17 OR l.severity_inferred IN ('ERROR', 'FATAL')) AS errors,
           min(l.ts) AS first_ts, max(l.ts) AS last_ts,
           to_json(min_by({{'log_id': l.id, 'body': l.body[:{EXAMPLE_CHARS}]}}, l.id, {EXAMPLES_KEPT})) AS examples
    FROM logs l JOIN logs_unfolded u ON l.id BETWEEN u.lo AND u.hi
    WHERE l.pattern_id IS NOT NULL AND l.id BETWEEN ? AND ?
    GROUP BY ALL"""


def fold(con: duckdb.DuckDBPyConnection) -> None:
    """Count the lines stored since the last fold into pattern_counts (merged with the
    stored row of each key: counts summed, first/last time, the three lowest-numbered
    examples) and into each pattern's first/last seen and count, in SQL, inside the
    caller's transaction. Under the ingest bench a fold of ~60,000 lines costs ~30-40 ms,
    so under load it runs at most every FOLD_S."""
    lo, hi = con.execute("SELECT min(lo), max(hi) FROM logs_unfolded").fetchall()[0]
    if lo is None:
        return
    # The outer bounds are constants, so the scan of logs skips row groups by their
    # min/max; the join keeps exactly the ranges (commits can land out of ID order).
    # The temp table is part of the caller's transaction: a failure rolls it back with the
    # rest (a DROP in a `finally` would fail on the aborted transaction and hide the error).
    con.execute(f"CREATE OR REPLACE TEMP TABLE _rb_fold AS {_UNFOLDED_COUNTS}", [lo, hi])
    con.execute(f"INSERT INTO pattern_counts SELECT * FROM _rb_fold {_MERGE_COUNT_ROW}")
    con.execute(
        f"""INSERT INTO patterns
        SELECT pattern_id, '', NULL, min(first_ts), max(last_ts), sum(count) FROM _rb_fold GROUP BY pattern_id
        {_MERGE_PATTERN_STATS}"""
    )
    con.execute("DROP TABLE _rb_fold")
    con.execute("DELETE FROM logs_unfolded")


def write_templates(con: duckdb.DuckDBPyConnection, patterns: dict[str, tuple[str, str | None]],
                    aliases: AliasMap) -> None:
    """Templates and severities from the miner (retired IDs skipped)."""
    ids = [pid for pid in patterns if pid not in aliases]
    if not ids:
        return
    con.register("_rb_pat", pa.table({
        "pattern_id": pa.array(ids, pa.string()),
        "template": pa.array([patterns[i][0] for i in ids], pa.string()),
        "severity": pa.array([patterns[i][1] for i in ids], pa.string()),
    }))
    try:
        con.execute(
            """INSERT INTO patterns SELECT pattern_id, template, severity, NULL, NULL, 0 FROM _rb_pat
            ON CONFLICT (pattern_id) DO UPDATE SET
              template = excluded.template,
              severity = coalesce(excluded.severity, patterns.severity)"""
        )
    finally:
        con.unregister("_rb_pat")


def save_state(con: duckdb.DuckDBPyConnection, key: str, blob: bytes) -> None:
    con.execute(
        "INSERT OR REPLACE INTO miner_state VALUES (?, ?, to_timestamp(?)::TIMESTAMP)", [key, blob, time.time()]
    )
