"""Distill the log rows an OpenTelemetry Collector wrote into ClickHouse (``otel_logs``).

A ClickHouse the Collector's ``clickhouseexporter`` fills holds lines runbrief never
ingested: no pattern, no per-minute count. ``distill(store)`` reads them in time order,
runs them through the same ``Preparer`` (redaction hooks, then the ``Distiller`` and its
miner) the DuckDB ingest uses, so a line gets the same pattern ID (a template fingerprint)
on every node, and writes runbrief's ``patterns``, ``pattern_aliases``, ``pattern_counts``
and inferred ``deploys`` rows, which the read operations (``changes``, ``patterns``,
``incidents``) answer from.

The cursor, and why this one:
- The exporter's rows carry no sequence number or insert time, only ``Timestamp`` (the
  event's time, set by the SDK). So the cursor is a time ``C`` meaning "every row with
  ``Timestamp < C`` was counted", kept in ``runbrief_cursors`` (one row per table and
  shard, ReplacingMergeTree: the newest ``version`` wins), so a restart resumes there.
- Intervals are half-open, ``[C, B)``, and a batch ends at a minute boundary (planned from
  one per-minute count of what is pending), never at a row count: rows that share a
  timestamp (several lines logged in one nanosecond are common once clocks are coarse)
  are never split between batches, so no tie-break column is needed and none is counted
  twice or skipped. The whole ``[C, B)`` is read, mined and counted as one unit.
- Rows arrive late: the Collector batches (200 ms by default) and retries a failed export
  for up to five minutes (``retry_on_failure.max_elapsed_time``), with the rows' original
  timestamps. The cursor therefore never passes ``now - lag`` (``LAG_S``, 5 min by default:
  the retry window): a row that arrives within the lag of its own time is counted. A row
  later than that (a Collector that was down longer, a skewed clock) lands behind the
  cursor; each run counts how many such rows exist (rows behind the cursor minus rows the
  cursor has counted) and reports them as ``late``, not silently. Counting them would need
  a row identity the exporter does not write.
- Never twice: a batch's count rows are inserted with an ``insert_deduplication_token``
  derived from the batch (table, shard, ``[C, B)``, rows), so a batch replayed after a
  crash between that insert and the cursor's is dropped by ClickHouse (the same block
  deduplication a ReplicatedMergeTree does by default); the batch's pattern rows (stored
  row + batch) carry a token of their own, so a replay does not add its lines twice.
- Rows runbrief wrote itself (``runbrief store copy``) carry a ``PatternId`` and are
  already counted: only rows with an empty ``PatternId`` are distilled.

What distill does not do: it does not rewrite ``otel_logs`` (ClickHouse rewrites a column
of a part to update it), so a Collector's row keeps ``PatternId = ''`` and log ID 0;
``logs --pattern`` does not find it, and an example line in a count row cites ``log_0``.

Several nodes: ``shard=(i, n)`` distills only the services with
``cityHash64(ServiceName) % n = i``, with its own cursor and miner state, so ``n`` nodes
share one ClickHouse, each service mined by one node (as the Collector's load-balancing
exporter routes them).
"""

from __future__ import annotations

import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from runbrief.errors import StoreError
from runbrief.store.clickhouse.chstore import ChStore

__all__ = ["distill", "TABLES", "LAG_S", "BATCH_ROWS", "cursor_of"]

LAG_S = 300.0           # the cursor stays this far behind now: the Collector's retry window
BATCH_ROWS = 200_000    # a batch is cut at the first minute boundary past this many rows
EXAMPLE_CHARS = 2000    # as distill.persist: an example line is cut here
# The log ID an example line of a Collector's row cites: none (the row has no runbrief ID).
# Not 0: every undistilled row has RunbriefLogId 0, so `log_0` would name all of them (a
# diagnosis looking its example up read every body of otel_logs: 58 s of 71 at 10M lines).
NO_LOG_ID = -1
STATE_PREFIX = "collector"

TABLES = [
    # One row per distilled table and shard: every row with Timestamp < ts is counted.
    """CREATE TABLE IF NOT EXISTS runbrief_cursors (
        name String, ts DateTime64(9, 'UTC'), rows UInt64, batches UInt64, version UInt64)
       ENGINE = ReplacingMergeTree(version) ORDER BY name""",
    # The miner's state per shard, so a restart keeps what it learned.
    """CREATE TABLE IF NOT EXISTS runbrief_miner_state (
        key String, state String CODEC(ZSTD(3)), version UInt64)
       ENGINE = ReplacingMergeTree(version) ORDER BY key""",
    # The versions each service has reported (for deploys inferred from service.version).
    """CREATE TABLE IF NOT EXISTS runbrief_versions (
        service LowCardinality(String), version String,
        first_ts SimpleAggregateFunction(min, DateTime64(9, 'UTC')))
       ENGINE = AggregatingMergeTree ORDER BY (service, version)""",
]
# A replayed batch's count rows are dropped by their token; the window is how many
# recent tokens ClickHouse remembers for a non-replicated table.
_DEDUP = [f"ALTER TABLE {t} MODIFY SETTING non_replicated_deduplication_window = 10000"
          for t in ("pattern_counts", "patterns")]


def _lit(s: str) -> str:
    return "'" + s.replace("\\", "\\\\").replace("'", "\\'") + "'"


def _ts(ns: int) -> str:
    return f"fromUnixTimestamp64Nano(toInt64({int(ns)}), 'UTC')"


def _in(values: list[str]) -> str:
    return "(" + ", ".join(_lit(v) for v in values) + ")" if values else "('')"


def _names(shard: tuple[int, int] | None) -> tuple[str, str, str]:
    """(cursor name, miner state key, SQL condition) of a shard (None: every service)."""
    if shard is None:
        return "otel_logs", STATE_PREFIX, "1"
    i, n = shard
    if not (n >= 1 and 0 <= i < n):
        raise StoreError(f"a shard is I/N with 0 <= I < N; got {i}/{n}")
    return f"otel_logs#{i}/{n}", f"{STATE_PREFIX}#{i}/{n}", f"cityHash64(ServiceName) % {n} = {i}"


def cursor_of(store: ChStore, name: str = "otel_logs") -> dict[str, Any]:
    """The stored cursor ``name``: ``ts_ns`` (rows before it are counted), rows, batches."""
    rows = store.execute(f"SELECT toInt64(toUnixTimestamp64Nano(ts)) ts_ns, rows, batches FROM runbrief_cursors "
                         f"FINAL WHERE name = {_lit(name)}")
    return rows[0] if rows else {"ts_ns": 0, "rows": 0, "batches": 0}


def _plan(store: ChStore, lo: int, hi: int, cond: str, batch_rows: int) -> list[tuple[int, int, int]]:
    """Batches ``(start, end, rows)`` covering ``[lo, hi)``, cut at minute boundaries."""
    minutes = store.execute(
        f"""SELECT toInt64(toUnixTimestamp(toStartOfMinute(Timestamp))) * 1000000000 m, count() n FROM otel_logs
            WHERE PatternId = '' AND {cond} AND Timestamp >= {_ts(lo)} AND Timestamp < {_ts(hi)}
              AND TimestampTime >= toDateTime(intDiv({lo}, 1000000000)) AND TimestampTime <= toDateTime(intDiv({hi}, 1000000000))
            GROUP BY m ORDER BY m""")
    out: list[tuple[int, int, int]] = []
    start, acc = lo, 0
    for r in minutes:
        acc += int(r["n"])
        if acc >= batch_rows:
            end = min(hi, int(r["m"]) + 60_000_000_000)
            out.append((start, end, acc))
            start, acc = end, 0
    if acc:
        out.append((start, hi, acc))
    return out


class _Collector:
    """One distill run over a chdb store (one shard): the Preparer, aliases, deploy state."""

    def __init__(self, store: ChStore, shard: tuple[int, int] | None) -> None:
        from runbrief.distill.distiller import Distiller
        from runbrief.distill.persist import AliasMap
        from runbrief.ingest.pipeline import Preparer

        self.store = store
        self.name, self.key, self.cond = _names(shard)
        got = store.execute(f"SELECT state FROM runbrief_miner_state FINAL WHERE key = {_lit(self.key)}")
        state = got[0]["state"].encode() if got and got[0]["state"] else None
        self.preparer = Preparer(make=lambda: Distiller(state, self.key))
        self.aliases = AliasMap(
            (r["old_id"], r["new_id"]) for r in store.execute("SELECT old_id, new_id FROM pattern_aliases FINAL"))
        self._resources: dict[tuple[str, str], Any] = {}
        self.patterns_seen: set[str] = set()
        self.deploys = 0

    # ------------------------------------------------------------------ one batch
    def batch(self, lo: int, hi: int, tmp: Path) -> int:
        """Distill the rows of ``[lo, hi)``; returns the rows read."""
        from runbrief.ingest.pipeline import Batch
        from runbrief.records import LogRecord, Resource

        store = self.store
        where = (f"PatternId = '' AND {self.cond} AND Timestamp >= {_ts(lo)} AND Timestamp < {_ts(hi)} "
                 f"AND TimestampTime >= toDateTime(intDiv({lo}, 1000000000)) "
                 f"AND TimestampTime <= toDateTime(intDiv({hi}, 1000000000))")
        tbl = store.arrow(
            f"""SELECT toInt64(toUnixTimestamp64Nano(Timestamp)) ts_ns, toString(ServiceName) service,
                       ResourceAttributes['service.version'] version, SeverityNumber severity_number,
                       toString(SeverityText) severity_text, Body body
                FROM otel_logs WHERE {where} ORDER BY Timestamp""")
        if tbl is None or not tbl.num_rows:
            return 0
        cols = {c: tbl.column(c).to_pylist() for c in tbl.column_names}
        res = self._resources
        records = []
        for ts_ns, svc, ver, num, text, body in zip(cols["ts_ns"], cols["service"], cols["version"],
                                                    cols["severity_number"], cols["severity_text"], cols["body"],
                                                    strict=True):
            r = res.get((svc, ver))
            if r is None:
                attrs = {"service.name": svc, **({"service.version": ver} if ver else {})}
                r = res[(svc, ver)] = Resource(attrs)
            records.append(LogRecord(ts_ns=ts_ns, body=body, resource=r, severity_number=num,
                                     severity_text=text, source="collector"))
        prepared = self.preparer.prepare(Batch(logs=records), 0)
        self._aliases(prepared.aliases)
        logs = prepared.logs
        if logs is not None and logs.num_rows:
            logs = logs.set_column(logs.schema.get_field_index("pattern_id"), "pattern_id",
                                   self.aliases.repoint(logs["pattern_id"]))
            token = f"runbrief-distill:{self.name}:{lo}:{hi}:{tbl.num_rows}"
            self._counts(logs, token, tmp)
            self._patterns(logs, prepared.patterns, token + ":patterns")
        self._infer_deploys(where)
        for key, blob in prepared.states.items():
            store.execute(f"INSERT INTO runbrief_miner_state (key, state, version) VALUES "
                          f"({_lit(key)}, {_lit(blob.decode())}, {time.time_ns()})")
        return tbl.num_rows

    def _counts(self, logs: pa.Table, token: str, tmp: Path) -> None:
        """The batch's per-minute count rows, aggregated by ClickHouse from an Arrow file."""
        logs = logs.select(["ts", "service", "severity_number", "severity_inferred", "body", "pattern_id"])
        path = tmp / "batch.arrow"
        with pa.OSFile(str(path), "wb") as sink, pa.ipc.new_file(sink, logs.schema) as w:
            w.write_table(logs)
        self.store.execute(
            f"""INSERT INTO pattern_counts (service, pattern_id, minute, count, errors, first_ts, last_ts, examples)
                SETTINGS insert_deduplication_token = {_lit(token)}
                SELECT service, pattern_id, toStartOfMinute(ts) minute, toInt64(count()) count,
                       toInt64(countIf(severity_number >= 17 OR severity_inferred IN ('ERROR', 'FATAL'))) errors,
                       min(ts) first_ts, max(ts) last_ts,
                       toJSONString(arrayMap(b -> CAST(tuple(toInt64({NO_LOG_ID}), substringUTF8(b, 1, {EXAMPLE_CHARS})),
                                                       'Tuple(log_id Int64, body String)'),
                                             groupArray(3)(body))) examples
                FROM file({_lit(str(path))}, Arrow) WHERE pattern_id IS NOT NULL
                GROUP BY service, pattern_id, minute""")
        path.unlink()

    def _patterns(self, logs: pa.Table, fresh: dict[str, tuple[str, str | None]], token: str) -> None:
        """The rows of the batch's patterns: the stored row merged with the batch (first and
        last seen, line count) and the miner's newest template and severity. Inserted with
        the batch's token, so a replayed batch does not add its lines twice."""
        stats = logs.filter(pc.is_valid(logs["pattern_id"])).group_by("pattern_id").aggregate(
            [("ts", "min"), ("ts", "max"), ("ts", "count")])
        ids = [i for i in stats["pattern_id"].to_pylist() if i not in self.aliases]
        if not ids:
            return
        self.patterns_seen.update(ids)
        stored = {r["pattern_id"]: r for r in self.store.execute(
            f"SELECT pattern_id, template, severity, first_seen, last_seen, count FROM patterns FINAL "
            f"WHERE pattern_id IN {_in(ids)}")}
        rows = []
        version = time.time_ns()
        for pid, lo, hi, n in zip(stats["pattern_id"].to_pylist(), stats["ts_min"].to_pylist(),
                                  stats["ts_max"].to_pylist(), stats["ts_count"].to_pylist(), strict=True):
            if pid in self.aliases:
                continue
            old = stored.get(pid, {})
            tpl, sev = fresh.get(pid) or (old.get("template") or "", old.get("severity"))
            rows.append({"pattern_id": pid, "template": tpl, "severity": sev if sev is not None else old.get("severity"),
                         "first_seen": min(x for x in (lo, old.get("first_seen")) if x is not None),
                         "last_seen": max(x for x in (hi, old.get("last_seen")) if x is not None),
                         "count": int(n) + int(old.get("count") or 0), "version": version})
        self._insert("patterns", rows, token)

    def _insert(self, table: str, rows: list[dict[str, Any]], token: str | None = None) -> None:
        from runbrief.store.clickhouse.chstore import _literal

        if not rows:
            return
        cols = list(rows[0])
        values = ", ".join("(" + ", ".join(_literal(r[c]).sql(dialect="clickhouse") for c in cols) + ")"
                           for r in rows)
        dedup = f" SETTINGS insert_deduplication_token = {_lit(token)}" if token else ""
        self.store.execute(f"INSERT INTO {table} ({', '.join(cols)}){dedup} VALUES {values}")

    def _aliases(self, aliases: dict[str, str]) -> None:
        """Templates that evolved: record old -> new, and move what is filed under an old ID."""
        if not aliases:
            return
        self.aliases.add(aliases)
        version = time.time_ns()
        olds = list(aliases)
        # the table as the map now resolves it: chains end at the current ID
        pointing = [r["old_id"] for r in self.store.execute(
            f"SELECT old_id FROM pattern_aliases FINAL WHERE new_id IN {_in(olds)}")]
        self._insert("pattern_aliases", [{"old_id": o, "new_id": self.aliases[o], "version": version}
                                         for o in dict.fromkeys([*olds, *pointing])])
        listed = _in(olds)
        if self.store.execute(f"SELECT 1 x FROM pattern_counts WHERE pattern_id IN {listed} LIMIT 1"):
            mapping = "transform(pattern_id, [{}], [{}], pattern_id)".format(
                ", ".join(_lit(o) for o in olds), ", ".join(_lit(self.aliases[o]) for o in olds))
            self.store.execute(
                f"""INSERT INTO pattern_counts (service, pattern_id, minute, count, errors, first_ts, last_ts, examples)
                    SELECT service, {mapping}, minute, count, errors, first_ts, last_ts, examples
                    FROM pattern_counts FINAL WHERE pattern_id IN {listed}""")
            self.store.execute(f"ALTER TABLE pattern_counts DELETE WHERE pattern_id IN {listed} "
                               "SETTINGS mutations_sync = 2")
        gone = self.store.execute(f"SELECT pattern_id, template, severity, first_seen, last_seen, count "
                                  f"FROM patterns FINAL WHERE pattern_id IN {listed}")
        if gone:  # the new ID's row takes over the old rows' first/last seen and count
            news = sorted({self.aliases[r["pattern_id"]] for r in gone})
            merged = {r["pattern_id"]: dict(r) for r in self.store.execute(
                f"SELECT pattern_id, template, severity, first_seen, last_seen, count FROM patterns FINAL "
                f"WHERE pattern_id IN {_in(news)}")}
            for r in gone:
                new = self.aliases[r["pattern_id"]]
                m = merged.setdefault(new, {**r, "pattern_id": new, "count": 0})
                m["first_seen"] = min(x for x in (m["first_seen"], r["first_seen"]) if x is not None) \
                    if (m["first_seen"] or r["first_seen"]) else None
                m["last_seen"] = max(x for x in (m["last_seen"], r["last_seen"]) if x is not None) \
                    if (m["last_seen"] or r["last_seen"]) else None
                m["count"] = int(m["count"] or 0) + int(r["count"] or 0)
                m["severity"] = m["severity"] or r["severity"]
            self._insert("patterns", [{**m, "version": version} for m in merged.values()])
            self.store.execute(f"ALTER TABLE patterns DELETE WHERE pattern_id IN {listed} SETTINGS mutations_sync = 2")

    def _infer_deploys(self, where: str) -> None:
        """A service reporting a ``service.version`` it never reported before is a deploy
        at that version's first line (its first version ever is none), as the DuckDB
        ingest infers them (source ``inferred``)."""
        seen = self.store.execute(
            f"""SELECT toString(ServiceName) service, ResourceAttributes['service.version'] version,
                       toInt64(toUnixTimestamp64Nano(min(Timestamp))) first_ns,
                       argMin(if(ResourceAttributes['deployment.environment.name'] != '',
                                 ResourceAttributes['deployment.environment.name'],
                                 ResourceAttributes['deployment.environment']), Timestamp) environment
                FROM otel_logs WHERE {where} AND version != '' GROUP BY service, version ORDER BY first_ns""")
        if not seen:
            return
        services = sorted({r["service"] for r in seen})
        known: dict[str, dict[str, int]] = {}
        for r in self.store.execute(
                f"""SELECT toString(service) service, version, toInt64(toUnixTimestamp64Nano(min(first_ts))) first_ns
                    FROM runbrief_versions WHERE service IN {_in(services)} GROUP BY service, version"""):
            known.setdefault(r["service"], {})[r["version"]] = r["first_ns"]
        new_deploys, new_versions = [], []
        for r in seen:
            have = known.setdefault(r["service"], {})
            if r["version"] in have:
                continue
            if have:  # a version never seen for a service that had one: a deploy
                new_deploys.append(r)
            have[r["version"]] = r["first_ns"]
            new_versions.append(r)
        if new_deploys:
            self._write_deploys(new_deploys)
        if new_versions:
            self.store.execute("INSERT INTO runbrief_versions (service, version, first_ts) VALUES " + ", ".join(
                f"({_lit(r['service'])}, {_lit(r['version'])}, {_ts(r['first_ns'])})" for r in new_versions))

    def _write_deploys(self, found: list[dict[str, Any]]) -> None:
        existing = {(r["service"], r["version"]) for r in self.store.execute(
            "SELECT toString(service) service, version FROM deploys WHERE source = 'inferred'")}
        todo = [r for r in found if (r["service"], r["version"]) not in existing]  # a replayed batch
        if not todo:
            return
        next_id = int(self.store.execute("SELECT coalesce(max(id), 0) n FROM deploys")[0]["n"] or 0) + 1
        self.store.execute(
            "INSERT INTO deploys (id, ts, service, version, commit, environment, source, attributes) VALUES " +
            ", ".join(f"({next_id + k}, toDateTime64({_ts(r['first_ns'])}, 6, 'UTC'), {_lit(r['service'])}, "
                      f"{_lit(r['version'])}, NULL, {_lit(r['environment']) if r['environment'] else 'NULL'}, 'inferred', NULL)"
                      for k, r in enumerate(todo)))
        self.deploys += len(todo)


def distill(store: ChStore, *, lag_s: float = LAG_S, batch_rows: int = BATCH_ROWS,
            shard: tuple[int, int] | None = None, until_ns: int | None = None) -> dict[str, Any]:
    """Distill the rows of ``otel_logs`` no run has counted, up to ``now - lag_s`` (or
    ``until_ns``), and advance the cursor. Safe to run again at any time: it resumes at the
    cursor and counts a row once. Returns what it did (rows read, batches, patterns
    touched, deploys inferred, late rows found behind the cursor, the cursor)."""
    if store.read_only:
        raise StoreError(f"the store {store.path} is open read-only")
    t0 = time.monotonic()
    for stmt in (*TABLES, *_DEDUP):
        store.execute(stmt)
    name, _key, cond = _names(shard)
    cur = cursor_of(store, name)
    hi = until_ns if until_ns is not None else time.time_ns() - int(lag_s * 1e9)
    lo = int(cur["ts_ns"])
    total, batches = int(cur["rows"]), int(cur["batches"])
    rows_read = 0
    run = _Collector(store, shard)
    if hi > lo:
        plan = _plan(store, lo, hi, cond, batch_rows)
        with tempfile.TemporaryDirectory(prefix="runbrief-distill-") as tmp:
            for start, end, _planned in plan:
                got = run.batch(start, end, Path(tmp))
                rows_read += got
                total += got
                batches += 1
                store.execute(f"INSERT INTO runbrief_cursors (name, ts, rows, batches, version) VALUES "
                              f"({_lit(name)}, {_ts(end)}, {total}, {batches}, {time.time_ns()})")
        if not plan:  # nothing pending: the cursor still moves up to the horizon
            store.execute(f"INSERT INTO runbrief_cursors (name, ts, rows, batches, version) VALUES "
                          f"({_lit(name)}, {_ts(hi)}, {total}, {batches}, {time.time_ns()})")
        lo = max(lo, hi)
        if plan:
            # Each batch adds a part; reads of pattern_counts are FINAL (merged at read time),
            # which costs about one extra pass per part: let ClickHouse merge what it picks now
            # (not FINAL: that would rewrite the whole table on every run).
            store.execute("OPTIMIZE TABLE pattern_counts")
    behind = int(store.execute(
        f"SELECT count() n FROM otel_logs WHERE PatternId = '' AND {cond} AND Timestamp < {_ts(lo)}")[0]["n"])
    final_state = run.preparer.final().states
    for key, blob in final_state.items():
        store.execute(f"INSERT INTO runbrief_miner_state (key, state, version) VALUES "
                      f"({_lit(key)}, {_lit(blob.decode())}, {time.time_ns()})")
    cursor = cursor_of(store, name)
    from runbrief.queries import fmt_ts

    return {
        "table": "otel_logs", "cursor_name": name,
        "rows_read": rows_read, "batches": batches - int(cur["batches"]),
        "patterns": len(run.patterns_seen), "deploys_inferred": run.deploys,
        "late": max(0, behind - int(cursor["rows"])),
        "cursor": {"before": fmt_ts(datetime.fromtimestamp(int(cursor["ts_ns"]) / 1e9, UTC).replace(tzinfo=None))
                   if cursor["ts_ns"] else None, "rows": int(cursor["rows"]), "batches": int(cursor["batches"])},
        "seconds": round(time.monotonic() - t0, 3),
    }
