"""The store's side of distill: patterns, aliases, per-minute counts and the miner's state.

Count rows are computed where a batch is prepared (an ingest worker), from the very log
records being stored, with their final log IDs (handed out before preparing), so they
always agree with ``logs``. The single writer merges the rows of a group commit in
Python (a few hundred rows) and upserts them in one plain statement: SQL-side grouping
with list lambdas cost ~5 ms a commit whatever the size.

Several miners may feed one store (one per ingest worker, each owning some services), so
the store's alias table is the authority: an incoming pattern ID that some miner already
retired is re-pointed to its successor on the way in (``AliasMap``), and its stale
template is ignored.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any

import orjson
import pyarrow as pa
import pyarrow.compute as pc

if TYPE_CHECKING:
    import duckdb

    from runbrief.records import LogRecord

__all__ = ["EXAMPLE_CHARS", "CountRow", "AliasMap", "aggregate_counts", "merge_counts", "write_aliases",
           "write_counts", "write_pending", "take_pending", "write_templates", "write_pattern_stats", "save_state"]

EXAMPLE_CHARS = 2000  # an example line is cut here (the full body stays in logs)
EXAMPLES_KEPT = 3
_EXAMPLES_TYPE = '[{"log_id": "BIGINT", "body": "VARCHAR"}]'
_MINUTE_NS = 60 * 10**9
_ERROR_WORDS = frozenset(("ERROR", "FATAL"))
_TS = pa.timestamp("us")

# [service, pattern_id, minute (ns), lines, errors, first ns, last ns, [(log_id, body), ...]]
CountRow = list


def aggregate_counts(records: Sequence[LogRecord], first_log_id: int) -> list[CountRow]:
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
    return list(agg.values())


def _example(body: Any) -> str:
    return (body if isinstance(body, str) else str(body))[:EXAMPLE_CHARS]


def merge_counts(rows: Iterable[CountRow], aliases: AliasMap) -> list[CountRow]:
    """The count rows of several batches as one set, keys unique (an upsert may touch a
    row once), retired pattern IDs re-pointed. Rows are merged in place: each batch's
    rows are used by one commit only."""
    out: dict[tuple[str, str, int], CountRow] = {}
    for row in rows:
        if aliases:
            row[1] = aliases.get(row[1], row[1])
        key = (row[0], row[1], row[2])
        a = out.get(key)
        if a is None:
            out[key] = row
            continue
        a[3] += row[3]
        a[4] += row[4]
        if row[5] < a[5]:
            a[5] = row[5]
        if row[6] > a[6]:
            a[6] = row[6]
        if len(a[7]) < EXAMPLES_KEPT:
            a[7] = sorted(a[7] + row[7])[:EXAMPLES_KEPT]
    return list(out.values())


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


def _counts_table(rows: list[CountRow], full: set[tuple[str, str, int]]) -> pa.Table:
    return pa.table({
        "service": pa.array([r[0] for r in rows], pa.string()),
        "pattern_id": pa.array([r[1] for r in rows], pa.string()),
        "minute": pa.array([r[2] // 1000 for r in rows], _TS),
        "count": pa.array([r[3] for r in rows], pa.int64()),
        "errors": pa.array([r[4] for r in rows], pa.int64()),
        "first_ts": pa.array([r[5] // 1000 for r in rows], _TS),
        "last_ts": pa.array([r[6] // 1000 for r in rows], _TS),
        "examples": pa.array([None if not r[7] or (r[0], r[1], r[2]) in full else
                              orjson.dumps([{"log_id": i, "body": b} for i, b in r[7]]).decode() for r in rows],
                             pa.string()),
    })


def write_counts(con: duckdb.DuckDBPyConnection, rows: list[CountRow],
                 full: set[tuple[str, str, int]] | None = None) -> None:
    """Upsert merged count rows (``merge_counts``) into pattern_counts.

    ``full``: keys known to hold their three examples already; their rows carry none, so
    the upsert skips reading the stored examples (half the statement's cost, measured)."""
    if not rows:
        return
    con.register("_rb_counts", _counts_table(rows, full or set()))
    try:
        con.execute(
            f"""INSERT INTO pattern_counts SELECT * FROM _rb_counts
            ON CONFLICT (service, pattern_id, minute) DO UPDATE SET
              count = pattern_counts.count + excluded.count,
              errors = pattern_counts.errors + excluded.errors,
              first_ts = least(pattern_counts.first_ts, excluded.first_ts),
              last_ts = greatest(pattern_counts.last_ts, excluded.last_ts),
              examples = CASE WHEN excluded.examples IS NULL
                  OR json_array_length(pattern_counts.examples) >= {EXAMPLES_KEPT}
                THEN pattern_counts.examples
                ELSE to_json(list_slice(list_concat(
                  from_json(pattern_counts.examples, '{_EXAMPLES_TYPE}'),
                  from_json(excluded.examples, '{_EXAMPLES_TYPE}')), 1, {EXAMPLES_KEPT})) END"""
        )
    finally:
        con.unregister("_rb_counts")


def write_pending(con: duckdb.DuckDBPyConnection, rows: list[CountRow],
                  full: set[tuple[str, str, int]] | None = None) -> None:
    """Append count rows to pattern_counts_pending, to be folded later (``take_pending``):
    a plain insert, a fraction of the upsert's fixed cost."""
    if not rows:
        return
    con.register("_rb_pending", _counts_table(rows, full or set()))
    try:
        con.execute("INSERT INTO pattern_counts_pending SELECT * FROM _rb_pending")
    finally:
        con.unregister("_rb_pending")


def take_pending(con: duckdb.DuckDBPyConnection) -> list[CountRow]:
    """The pending count rows, removed from the table (inside the caller's transaction,
    which writes them to pattern_counts)."""
    got = con.execute(
        """SELECT service, pattern_id, epoch_ns(minute), count, errors, epoch_ns(first_ts), epoch_ns(last_ts),
                  examples FROM pattern_counts_pending"""
    ).fetchall()
    if not got:
        return []
    con.execute("DELETE FROM pattern_counts_pending")
    return [[svc, pid, minute, n, err, first, last,
             [(e["log_id"], e["body"]) for e in orjson.loads(ex)] if ex else []]
            for svc, pid, minute, n, err, first, last, ex in got]


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


def write_pattern_stats(con: duckdb.DuckDBPyConnection, rows: list[CountRow]) -> None:
    """Each pattern's first/last time and line count, from merged count rows."""
    stats: dict[str, list[int]] = {}
    for r in rows:
        st = stats.get(r[1])
        if st is None:
            stats[r[1]] = [r[5], r[6], r[3]]
        else:
            st[0], st[1], st[2] = min(st[0], r[5]), max(st[1], r[6]), st[2] + r[3]
    if not stats:
        return
    ids = list(stats)
    con.register("_rb_pstats", pa.table({
        "pattern_id": pa.array(ids, pa.string()),
        "first_seen": pa.array([stats[i][0] // 1000 for i in ids], _TS),
        "last_seen": pa.array([stats[i][1] // 1000 for i in ids], _TS),
        "count": pa.array([stats[i][2] for i in ids], pa.int64()),
    }))
    try:
        con.execute(
            """INSERT INTO patterns SELECT pattern_id, '', NULL, first_seen, last_seen, count FROM _rb_pstats
            ON CONFLICT (pattern_id) DO UPDATE SET
              first_seen = least(patterns.first_seen, excluded.first_seen),
              last_seen = greatest(patterns.last_seen, excluded.last_seen),
              count = patterns.count + excluded.count"""
        )
    finally:
        con.unregister("_rb_pstats")


def save_state(con: duckdb.DuckDBPyConnection, key: str, blob: bytes) -> None:
    con.execute(
        "INSERT OR REPLACE INTO miner_state VALUES (?, ?, to_timestamp(?)::TIMESTAMP)", [key, blob, time.time()]
    )
