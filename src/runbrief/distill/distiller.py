"""The Distiller: the ingest pipeline's link to the miner (``ingest.pipeline.Distills``).

``process(records)`` gives every log record its pattern, parameters and, where the source
had no level, an inferred severity. ``flush(con)`` then writes, inside the pipeline's
transaction: new and changed patterns, aliases for templates that evolved (older rows are
re-pointed to the new ID so drill-down finds them all), one row per (service, pattern,
minute) with counts, errors, first/last time and up to three examples with their log IDs,
and the miner's state, so a restart continues where it stopped.

Records arrive with ``body`` already the message (OTLP bodies are messages; the file
ingest splits headers), so no header handling happens here.
"""

from __future__ import annotations

import time
from collections import Counter
from typing import TYPE_CHECKING, Any

import orjson
import pyarrow as pa

from runbrief.distill.miner import Cluster, Miner
from runbrief.distill.parse import Parser
from runbrief.distill.severity import infer
from runbrief.records import LogRecord, severity_name

if TYPE_CHECKING:
    import duckdb

    from runbrief.store.duck import Store

__all__ = ["Distiller", "STATE_KEY", "EXAMPLE_CHARS"]

STATE_KEY = "miner"
EXAMPLE_CHARS = 2000  # an example line is cut here (the full body stays in logs)
_TS = pa.timestamp("us")
_EXAMPLES_TYPE = '[{"log_id": "BIGINT", "body": "VARCHAR"}]'


def load_miner(store: Store) -> Miner:
    """The miner as last saved in ``store`` (a fresh one when there is none)."""
    try:
        blob = store.scalar("SELECT state FROM miner_state WHERE key = ?", [STATE_KEY])
    except Exception:  # noqa: BLE001 - an unreadable state must not stop ingest
        blob = None
    state = orjson.loads(blob) if blob else None
    return Miner.load(state)


class Distiller:
    """Mines log bodies into patterns and keeps the per-minute counts. One writer."""

    # The pipeline passes the first log id of the batch (records are numbered in order).
    takes_first_log_id = True

    def __init__(self, store: Store) -> None:
        self.store = store
        self.parser = Parser(load_miner(store), headers=False)
        self._batch: list[LogRecord] = []
        self._severity: dict[int, Counter[str]] = {}  # cid -> source levels seen
        self._inferred: dict[str, str] = {}  # template -> keyword severity
        self.repaired = 0  # bodies whose invalid code points were replaced
        self._epoch = self.miner.epoch

    @property
    def miner(self) -> Miner:
        return self.parser.miner

    # ------------------------------------------------------------ process
    def process(self, records: list[LogRecord]) -> None:
        for r in records:
            if not isinstance(r.body, str):
                r.body = "" if r.body is None else str(r.body)
            if not r.body.isascii():
                try:
                    r.body.encode("utf-8")
                except UnicodeEncodeError:  # lone surrogates cannot be stored: replace them
                    r.body = r.body.encode("utf-8", "replace").decode("utf-8")
                    self.repaired += 1
        entries = self.parser.assign([r.body for r in records])
        if self._epoch != self.miner.epoch:  # clusters were evicted: drop what named them
            self._epoch = self.miner.epoch
            self._severity = {k: v for k, v in self._severity.items() if k in self.miner.clusters}
        miner = self.miner
        plan = self.parser.plan
        seen: dict[int, Cluster] = {}
        levels: Counter[tuple[int, int]] = Counter()  # (cluster, severity number) -> lines
        for r, e in zip(records, entries, strict=True):
            c = seen.get(e.cid)
            if c is None:
                c = seen[e.cid] = miner.cluster(e.cid)
            r.pattern_id = c.pattern_id
            body = r.body
            r.params = [body[a:b] for a, b in plan(e, c)] or None
            if r.severity_number:
                levels[(c.cid, r.severity_number)] += 1
        for (cid, number), n in levels.items():
            learned = self._severity.get(cid)
            if learned is None:
                learned = self._severity[cid] = Counter()
            learned[severity_name(number)] += n
        for r in records:
            if not r.severity_number:
                r.severity_inferred = self.severity_of(miner.by_id.get(r.pattern_id, -1))
        self._batch.extend(records)

    def severity_of(self, cid: int) -> str:
        """A pattern's learned severity: the level most of its leveled lines carried,
        else what the words of its template suggest."""
        seen = self._severity.get(cid)
        if seen:
            return seen.most_common(1)[0][0]
        c = self.miner.clusters.get(cid)
        if c is None:
            return ""
        tpl = c.template
        sev = self._inferred.get(tpl)
        if sev is None:
            if len(self._inferred) > 100_000:
                self._inferred.clear()
            sev = self._inferred[tpl] = infer(tpl)
        return sev

    # ------------------------------------------------------------ flush
    def flush(self, con: duckdb.DuckDBPyConnection, first_log_id: int | None = None) -> None:
        batch, self._batch = self._batch, []
        miner = self.miner
        changed, _ = miner.drain_changes()
        aliases = miner.drain_aliases()
        if aliases:
            self._write_aliases(con, aliases)
        if batch:
            if first_log_id is None:
                last = con.execute("SELECT max(id) FROM logs").fetchall()[0][0] or len(batch)
                first_log_id = int(last) - len(batch) + 1
            self._write_counts(con, batch, first_log_id, changed)
        elif changed:
            self._write_patterns(con, changed, None)
        if changed or aliases:
            self._save_state(con)

    def _write_aliases(self, con: duckdb.DuckDBPyConnection, aliases: dict[str, str]) -> None:
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

    def _write_counts(self, con: duckdb.DuckDBPyConnection, batch: list[LogRecord], first_id: int,
                      changed: list[Any]) -> None:
        n = len(batch)
        tbl = pa.table(
            {
                "service": [r.resource.service for r in batch],
                "pattern_id": [r.pattern_id for r in batch],
                "ts": pa.array([r.ts_ns // 1000 for r in batch], _TS),
                "err": pa.array(
                    [r.severity_number >= 17 or r.severity_inferred in ("ERROR", "FATAL") for r in batch], pa.bool_()
                ),
                "log_id": pa.array(range(first_id, first_id + n), pa.int64()),
                "body": [r.body[:EXAMPLE_CHARS] if isinstance(r.body, str) else str(r.body)[:EXAMPLE_CHARS] for r in batch],
            }
        )
        con.register("_rb_dist", tbl)
        try:
            con.execute(
                f"""INSERT INTO pattern_counts
                SELECT service, pattern_id, date_trunc('minute', ts) AS minute, count(*), count(*) FILTER (WHERE err),
                       min(ts), max(ts), to_json(list({{'log_id': log_id, 'body': body}} ORDER BY log_id)[1:3])
                FROM _rb_dist GROUP BY ALL
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
            stats = con.execute(
                "SELECT pattern_id, min(ts), max(ts), count(*) FROM _rb_dist GROUP BY pattern_id"
            ).fetchall()
        finally:
            con.unregister("_rb_dist")
        self._write_patterns(con, changed, {row[0]: row[1:] for row in stats})

    def _write_patterns(self, con: duckdb.DuckDBPyConnection, changed: list[Any],
                        stats: dict[str, tuple[Any, Any, int]] | None) -> None:
        miner = self.miner
        rows: dict[str, tuple[str, str, Any, Any, int]] = {}
        for c in changed:
            rows[c.pattern_id] = (c.template, self.severity_of(c.cid), None, None, 0)
        for pid, (first, last, count) in (stats or {}).items():
            cid = miner.by_id.get(pid)
            c = miner.clusters.get(cid) if cid is not None else None
            tpl = c.template if c is not None else rows.get(pid, ("",))[0]
            sev = self.severity_of(c.cid) if c is not None else ""
            rows[pid] = (tpl, sev, first, last, count)
        if not rows:
            return
        ids = list(rows)
        tbl = pa.table(
            {
                "pattern_id": ids,
                "template": [rows[i][0] for i in ids],
                "severity": [rows[i][1] or None for i in ids],
                "first_seen": pa.array([rows[i][2] for i in ids], _TS),
                "last_seen": pa.array([rows[i][3] for i in ids], _TS),
                "count": pa.array([rows[i][4] for i in ids], pa.int64()),
            }
        )
        con.register("_rb_pat", tbl)
        try:
            con.execute(
                """INSERT INTO patterns SELECT pattern_id, template, severity, first_seen, last_seen, count FROM _rb_pat
                ON CONFLICT (pattern_id) DO UPDATE SET
                  template = excluded.template,
                  severity = coalesce(excluded.severity, patterns.severity),
                  first_seen = least(patterns.first_seen, excluded.first_seen),
                  last_seen = greatest(patterns.last_seen, excluded.last_seen),
                  count = patterns.count + excluded.count"""
            )
        finally:
            con.unregister("_rb_pat")

    def _save_state(self, con: duckdb.DuckDBPyConnection) -> None:
        blob = orjson.dumps(self.miner.dump())
        con.execute(
            "INSERT OR REPLACE INTO miner_state VALUES (?, ?, to_timestamp(?)::TIMESTAMP)",
            [STATE_KEY, blob, time.time()],
        )
