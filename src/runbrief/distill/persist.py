"""The store's side of distill: patterns, aliases, per-minute counts and the miner's state.

Count rows are computed where a batch is prepared (an ingest worker), from the very log
records being stored, with their final log IDs (handed out before preparing), so they
always agree with ``logs``. They travel as Arrow. The single writer appends them to
pattern_counts_pending with their logs (a plain insert) and ``fold`` merges them into
pattern_counts in SQL: per group when idle, at most every FOLD_S under load, and before
any operation reads (``Store.settle``). Merging them in Python on the writer cost ~3 us
a row, and an upsert per commit several milliseconds whatever its size.

Several miners may feed one store (one per ingest worker, each owning some services), so
the store's alias table is the authority: an incoming pattern ID that some miner already
retired is re-pointed to its successor on the way in (``AliasMap``), and its stale
template is ignored.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import orjson
import pyarrow as pa
import pyarrow.compute as pc

if TYPE_CHECKING:
    import duckdb

    from runbrief.records import LogRecord

__all__ = ["EXAMPLE_CHARS", "COUNTS_SCHEMA", "AliasMap", "aggregate_counts", "write_aliases", "write_pending", "fold",
           "write_templates", "save_state"]

EXAMPLE_CHARS = 2000  # an example line is cut here (the full body stays in logs)
EXAMPLES_KEPT = 3
_EXAMPLES_TYPE = '[{"log_id": "BIGINT", "body": "VARCHAR"}]'
_MINUTE_NS = 60 * 10**9
_ERROR_WORDS = frozenset(("ERROR", "FATAL"))
_TS = pa.timestamp("us")

# While aggregating: [service, pattern_id, minute (ns), lines, errors, first ns, last ns, [(log_id, body), ...]]
CountRow = list
COUNTS_SCHEMA = pa.schema([  # pattern_counts' columns
    ("service", pa.string()), ("pattern_id", pa.string()), ("minute", _TS), ("count", pa.int64()),
    ("errors", pa.int64()), ("first_ts", _TS), ("last_ts", _TS), ("examples", pa.string()),
])


def aggregate_counts(records: Sequence[LogRecord], first_log_id: int) -> pa.Table:
    """One row per (service, pattern, minute) of a batch's log records (numbered from
    ``first_log_id``): lines, errors, first/last time and the first three examples.

    A dict pass: ~0.4 us a record and nothing per call. Arrow's group-by was no cheaper
    per record and cost ~0.7 ms a call, which small batches (SDKs send 512) cannot amortize."""
    services: dict[int, str] = {}
    agg: dict[tuple[str, str, int], CountRow] = {}
    for i, r in enumerate(records):
        pid = r.pattern_id
        if not pid:
            continue
        svc = services.get(id(r.resource))
        if svc is None:
            svc = services[id(r.resource)] = r.resource.service
        ts = r.ts_ns
        minute = ts // _MINUTE_NS
        err = r.severity_number >= 17 or r.severity_inferred in _ERROR_WORDS
        a = agg.get((svc, pid, minute))
        if a is None:
            agg[(svc, pid, minute)] = [svc, pid, minute * _MINUTE_NS, 1, int(err), ts, ts,
                                       [(first_log_id + i, _example(r.body))]]
        else:
            a[3] += 1
            a[4] += err
            if ts < a[5]:
                a[5] = ts
            elif ts > a[6]:
                a[6] = ts
            if len(a[7]) < EXAMPLES_KEPT:
                a[7].append((first_log_id + i, _example(r.body)))
    rows = list(agg.values())
    dumps = orjson.dumps
    return pa.table([
        pa.array([r[0] for r in rows], pa.string()),
        pa.array([r[1] for r in rows], pa.string()),
        pa.array([r[2] // 1000 for r in rows], _TS),
        pa.array([r[3] for r in rows], pa.int64()),
        pa.array([r[4] for r in rows], pa.int64()),
        pa.array([r[5] // 1000 for r in rows], _TS),
        pa.array([r[6] // 1000 for r in rows], _TS),
        pa.array([dumps([{"log_id": i, "body": b} for i, b in r[7]]).decode() for r in rows], pa.string()),
    ], schema=COUNTS_SCHEMA)


def _example(body: Any) -> str:
    return (body if isinstance(body, str) else str(body))[:EXAMPLE_CHARS]


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


def write_pending(con: duckdb.DuckDBPyConnection, counts: pa.Table | None) -> None:
    """Append a group's count rows to pattern_counts_pending, for ``fold`` (a plain
    insert: a fraction of an upsert's fixed cost)."""
    if counts is None or not counts.num_rows:
        return
    con.register("_rb_pending", counts)
    try:
        con.execute("INSERT INTO pattern_counts_pending SELECT * FROM _rb_pending")
    finally:
        con.unregister("_rb_pending")


# Pending rows under their current pattern ID (an alias may have come after them).
_PENDING = """(SELECT p.service, coalesce(a.new_id, p.pattern_id) pattern_id, p.minute, p.count, p.errors,
                  p.first_ts, p.last_ts, p.examples
               FROM pattern_counts_pending p LEFT JOIN pattern_aliases a ON a.old_id = p.pattern_id)"""


def fold(con: duckdb.DuckDBPyConnection) -> None:
    """Move pending count rows into pattern_counts (one row per key: counts summed,
    first/last time, the three lowest-numbered examples) and each pattern's first/last
    time and count into patterns, in SQL, inside the caller's transaction. It costs tens of
    milliseconds whatever its size (~36 ms measured under the ingest bench), so under
    load it runs at most every FOLD_S."""
    if not con.execute("SELECT count(*) FROM pattern_counts_pending").fetchall()[0][0]:
        return
    con.execute(
        f"""INSERT INTO pattern_counts
        SELECT service, pattern_id, minute, sum(count), sum(errors), min(first_ts), max(last_ts),
               to_json(list_slice(list_sort(flatten(list(from_json(examples, '{_EXAMPLES_TYPE}')))),
                                  1, {EXAMPLES_KEPT}))
        FROM {_PENDING} GROUP BY service, pattern_id, minute
        {_MERGE_COUNT_ROW}"""
    )
    con.execute(
        f"""INSERT INTO patterns
        SELECT pattern_id, '', NULL, min(first_ts), max(last_ts), sum(count) FROM {_PENDING} GROUP BY pattern_id
        {_MERGE_PATTERN_STATS}"""
    )
    con.execute("DELETE FROM pattern_counts_pending")


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
