"""Distilling the rows a Collector wrote (store.clickhouse.collector): real Loghub messages
written into the exporter's `otel_logs` (its DDL, its INSERT column list) by a
Collector-shaped writer, distilled, answer `patterns` and `changes` as the DuckDB ingest of
the same lines does; a second run counts nothing again; new rows are counted once; another
process resumes at the stored cursor."""

from __future__ import annotations

import csv
import re
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("chdb")
pytest.importorskip("sqlglot")

from runbrief import ops  # noqa: E402
from runbrief.ingest.pipeline import Batch, Pipeline  # noqa: E402
from runbrief.records import LogRecord, Resource  # noqa: E402
from runbrief.store.clickhouse.chstore import ChStore  # noqa: E402
from runbrief.store.clickhouse.collector import cursor_of, distill  # noqa: E402
from runbrief.store.duck import Store  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
from test_clickhouse import COLLECTOR_DDL, LOG_INSERT  # noqa: E402

LOGS = Path(__file__).resolve().parents[1] / "data" / "logs" / "loghub-more"
T0 = int(datetime(2024, 5, 1, 10, 0, tzinfo=UTC).timestamp()) * 10**9
MIN = 60 * 10**9
DEPLOY_MIN = 80
LEVEL = re.compile(r"\b(FATAL|ERROR|WARN|INFO|DEBUG|error|warn|notice|info)\b")
NUMBER = {"FATAL": 21, "ERROR": 17, "error": 17, "WARN": 13, "warn": 13, "INFO": 9, "info": 9, "notice": 10,
          "DEBUG": 5}


def _messages(dataset: str) -> list[tuple[str, str]]:
    """(level, message) of a Loghub sample: the message is the Content column of its
    structured CSV (what an SDK or a parsing receiver puts in Body), the level from the raw line."""
    raw = (LOGS / f"{dataset}_300.log").read_text(errors="replace").splitlines()
    with (LOGS / f"{dataset}_300_structured_corrected.csv").open(newline="") as f:
        content = [r["Content"] for r in csv.DictReader(f)]
    out = []
    for line, msg in zip(raw, content, strict=True):
        m = LEVEL.search(line[:80])
        out.append((m.group(1) if m else "", msg))
    return out


def scenario(minutes: int = 120, t0: int = T0) -> list[dict[str, Any]]:
    """Four services, 5 lines a minute each, cycling through their real messages; at
    DEPLOY_MIN openssh reports version 1.1, then logs Thunderbird's messages too (new
    patterns) and its 'Invalid user' line five times as often (a rate change)."""
    rows = []
    data = {s: _messages(d) for s, d in (("apache", "Apache"), ("hadoop", "Hadoop"), ("zookeeper", "Zookeeper"),
                                         ("openssh", "OpenSSH"))}
    novel = [m for m in _messages("Thunderbird") if m[1]][:60]
    invalid = next(m for m in data["openssh"] if m[1].startswith("Invalid user"))
    for minute in range(minutes):
        after = minute >= DEPLOY_MIN
        for k, (svc, msgs) in enumerate(data.items()):
            version = "1.1" if (svc == "openssh" and after) else "1.0"
            extra = []
            if svc == "openssh" and after:
                extra = [novel[minute % len(novel)], *([invalid] * 6)]
            for j, (level, msg) in enumerate([*(msgs[(minute * 5 + i) % len(msgs)] for i in range(5)), *extra]):
                rows.append({"ts": t0 + minute * MIN + (k * 97 + j * 7919) * 1_000_003, "service": svc,
                             "version": version, "level": level, "number": NUMBER.get(level, 0), "body": msg})
    rows.sort(key=lambda r: r["ts"])
    return rows


def _q(s: str) -> str:
    return "'" + s.replace("\\", "\\\\").replace("'", "\\'") + "'"


def collector_write(folder: Path, rows: list[dict[str, Any]]) -> None:
    """Insert ``rows`` as the Collector's exporter does: its DDL, its INSERT column list,
    exporter conventions (empty strings for absent values, attributes as maps)."""
    from chdb import session

    s = session.Session(str(folder))
    try:
        for ddl in COLLECTOR_DDL:
            s.query(ddl)
        for i in range(0, len(rows), 500):
            values = []
            for r in rows[i:i + 500]:
                sec, ns = divmod(r["ts"], 10**9)
                ts = datetime.fromtimestamp(sec, UTC).strftime("%Y-%m-%d %H:%M:%S") + f".{ns:09d}"
                values.append(f"('{ts}', '', '', 0, {_q(r['level'].upper())}, {r['number']}, {_q(r['service'])}, "
                              f"{_q(r['body'])}, '', map('service.name', {_q(r['service'])}, 'service.version', "
                              f"{_q(r['version'])}), '', 'app', '1.0', map(), map())")
            s.query(LOG_INSERT + ", ".join(values))
    finally:
        s.close()


def duck_ingest(folder: Path, rows: list[dict[str, Any]]) -> Store:
    store = Store.open(folder)
    res: dict[tuple[str, str], Resource] = {}
    recs = [LogRecord(ts_ns=r["ts"], body=r["body"], severity_number=r["number"], severity_text=r["level"].upper(),
                      resource=res.setdefault((r["service"], r["version"]), Resource(
                          {"service.name": r["service"], "service.version": r["version"]})))
            for r in rows]
    Pipeline(store).write(Batch(logs=recs))
    return store


def _no_ids(value: Any) -> Any:
    """An answer with log IDs and example lines left out: a Collector's row has no runbrief
    log ID (docs/clickhouse.md), and which three lines a minute keeps as examples is free."""
    if isinstance(value, dict):
        return {k: _no_ids(v) for k, v in value.items() if k not in ("example", "examples", "log_id")}
    if isinstance(value, list):
        return [_no_ids(v) for v in value if not (isinstance(v, str) and v.startswith("log_"))]
    return value


def _counts(ch: ChStore) -> list[tuple[Any, ...]]:
    return [tuple(r.values()) for r in ch.execute(
        "SELECT service, pattern_id, sum(count) n, sum(errors) e FROM pattern_counts FINAL "
        "GROUP BY service, pattern_id ORDER BY service, pattern_id")]


def test_distilled_collector_rows_answer_like_the_duckdb_ingest(tmp_path: Path) -> None:
    rows = scenario()
    half = next(i for i in range(len(rows) // 2, len(rows)) if rows[i]["ts"] > rows[i - 1]["ts"])
    folder = tmp_path / "chdb"
    collector_write(folder, rows[:half])
    with duck_ingest(tmp_path / "duck", rows) as duck, ChStore.open(folder) as ch:
        # "now" is the time of the next row: the rows so far are all there is
        first = distill(ch, lag_s=0, batch_rows=300, until_ns=rows[half]["ts"])
        assert first["rows_read"] == half and first["batches"] > 3 and first["late"] == 0
        ch.close()
        collector_write(folder, rows[half:])  # the Collector goes on writing
        ch2 = ChStore.open(folder)  # as after a restart: cursor and miner state from the store
        try:
            second = distill(ch2, lag_s=0, batch_rows=300)
            assert second["rows_read"] == len(rows) - half and second["late"] == 0
            assert second["cursor"]["rows"] == len(rows)
            counted = _counts(ch2)
            assert sum(c[2] for c in counted) == len(rows)
            again = distill(ch2, lag_s=0)  # nothing new: nothing counted again
            assert again["rows_read"] == 0 and _counts(ch2) == counted
            # the same pattern IDs and per-service counts as the DuckDB ingest of the same lines
            duck_counts = [tuple(r.values()) for r in duck.query(
                "SELECT service, pattern_id, sum(count)::BIGINT n, sum(errors)::BIGINT e FROM pattern_counts "
                "GROUP BY service, pattern_id ORDER BY service, pattern_id")]
            assert counted == duck_counts
            assert ops.run(ch2, "deploys", {})["deploys"][0]["version"] == "1.1"  # type: ignore[arg-type]
            for op, params in (("patterns", {}), ("patterns", {"service": "openssh", "limit": 5}),
                               ("changes", {"service": "openssh", "since_deploy": True}),
                               ("changes", {"since": "2024-05-01T11:20:00Z"})):
                a, b = ops.run(duck, op, params), ops.run(ch2, op, params)  # type: ignore[arg-type]
                assert _no_ids(a) == _no_ids(b), (op, params)
            got = ops.run(ch2, "changes", {"service": "openssh", "since_deploy": True})  # type: ignore[arg-type]
            kinds = {i["kind"] for i in got["items"]}
            assert {"new", "rate_up"} <= kinds, got["items"]
        finally:
            ch2.close()


def test_a_replayed_batch_is_not_counted_twice_and_late_rows_are_reported(tmp_path: Path) -> None:
    """A crash after a batch's counts were written but before its cursor: the rerun's
    insert of the same batch is dropped by its deduplication token. A row older than the
    cursor (later than the lag) is reported as late."""
    rows = scenario(minutes=20)
    folder = tmp_path / "chdb"
    collector_write(folder, rows)
    with ChStore.open(folder) as ch:
        distill(ch, lag_s=0, until_ns=T0 + 10 * MIN)
        counted = _counts(ch)
        before = cursor_of(ch)
        distill(ch, lag_s=0, until_ns=T0 + 20 * MIN)
        full = _counts(ch)
        # as if the cursor row of the last run had never been written
        ch.execute(f"INSERT INTO runbrief_cursors (name, ts, rows, batches, version) VALUES ('otel_logs', "
                   f"fromUnixTimestamp64Nano(toInt64({before['ts_ns']}), 'UTC'), {before['rows']}, "
                   f"{before['batches']}, {time.time_ns()})")
        assert _counts(ch) == full != counted
        replay = distill(ch, lag_s=0, until_ns=T0 + 20 * MIN)
        assert replay["rows_read"] > 0 and _counts(ch) == full
    collector_write(folder, [{**rows[0], "ts": T0 + 5 * MIN + 1}])  # arrives after the cursor passed it
    with ChStore.open(folder) as ch:
        out = distill(ch, lag_s=0, until_ns=T0 + 20 * MIN)
        assert out["rows_read"] == 0 and out["late"] == 1


def test_the_cli_distills_and_resumes_in_new_processes(tmp_path: Path) -> None:
    now = time.time_ns()
    rows = scenario(minutes=30, t0=now - 31 * MIN)
    folder = tmp_path / "chdb"
    collector_write(folder, rows)

    def cli(*args: str) -> Any:
        import orjson

        out = subprocess.run([sys.executable, "-m", "runbrief", *args, "--json"], capture_output=True, text=True,
                             check=True, timeout=120)
        return orjson.loads(out.stdout)

    a = cli("store", "distill", f"chdb:{folder}", "--lag", "900")  # the last 15 minutes wait
    older = sum(1 for r in rows if r["ts"] < now - 15 * MIN)
    assert older <= a["rows_read"] < len(rows)  # (this process started a moment after `now`)
    b = cli("store", "distill", f"chdb:{folder}", "--lag", "0")  # a new process resumes at the cursor
    assert a["rows_read"] + b["rows_read"] == len(rows) and b["late"] == 0
    assert b["cursor"]["rows"] == len(rows)
    pats = cli("patterns", "--store", f"chdb:{folder}", "--service", "apache")
    assert pats["patterns"] and sum(p["count"] for p in pats["patterns"]) == sum(
        1 for r in rows if r["service"] == "apache")


# The exporter's gauge and summary DDL as the Collector renders it (metrics_gauge_table.sql,
# metrics_summary_table.sql; engine MergeTree(), no TTL, no cluster), under other names.
EXPORTER_METRICS = {
    "gauge": """
    Value Float64 CODEC(ZSTD(1)),
    Flags UInt32 CODEC(ZSTD(1)),
    Exemplars Nested (FilteredAttributes Map(LowCardinality(String), String), TimeUnix DateTime64(9),
                      Value Float64, SpanId String, TraceId String) CODEC(ZSTD(1)),""",
    "summary": """
    Count UInt64 CODEC(Delta, ZSTD(1)),
    Sum Float64 CODEC(ZSTD(1)),
    ValueAtQuantiles Nested(Quantile Float64, Value Float64) CODEC(ZSTD(1)),
    Flags UInt32 CODEC(ZSTD(1)),""",
}
EXPORTER_METRIC_HEAD = """
    ResourceAttributes Map(LowCardinality(String), String) CODEC(ZSTD(1)), ResourceSchemaUrl String CODEC(ZSTD(1)),
    ScopeName String CODEC(ZSTD(1)), ScopeVersion String CODEC(ZSTD(1)),
    ScopeAttributes Map(LowCardinality(String), String) CODEC(ZSTD(1)), ScopeDroppedAttrCount UInt32 CODEC(ZSTD(1)),
    ScopeSchemaUrl String CODEC(ZSTD(1)), ServiceName LowCardinality(String) CODEC(ZSTD(1)),
    MetricName String CODEC(ZSTD(1)), MetricDescription String CODEC(ZSTD(1)), MetricUnit String CODEC(ZSTD(1)),
    Attributes Map(LowCardinality(String), String) CODEC(ZSTD(1)),
    StartTimeUnix DateTime64(9) CODEC(Delta, ZSTD(1)), TimeUnix DateTime64(9) CODEC(Delta, ZSTD(1)),"""


def test_the_exporters_metric_tables_are_created_column_for_column(tmp_path: Path) -> None:
    with ChStore.open(tmp_path / "chdb") as ch:
        names = {r["name"] for r in ch.execute(
            "SELECT name FROM system.tables WHERE database = currentDatabase() AND name LIKE 'otel_metrics_%'")}
        assert names == {f"otel_metrics_{t}" for t in ("gauge", "sum", "histogram", "exp_histogram", "summary")}
        for kind, own in EXPORTER_METRICS.items():
            ch.execute(f"""CREATE TABLE exporter_{kind} ({EXPORTER_METRIC_HEAD}{own}
                INDEX idx_attr_key mapKeys(Attributes) TYPE bloom_filter(0.01) GRANULARITY 1
                ) ENGINE = MergeTree() PARTITION BY toDate(TimeUnix)
                ORDER BY (ServiceName, MetricName, Attributes, toUnixTimestamp64Nano(TimeUnix))
                SETTINGS index_granularity=8192, ttl_only_drop_parts = 1""")

            def cols(table: str) -> list[tuple[str, str]]:
                return [(r["name"], r["type"]) for r in ch.execute(
                    f"SELECT name, type FROM system.columns WHERE database = currentDatabase() AND table = '{table}' "
                    "ORDER BY position")]

            assert cols(f"otel_metrics_{kind}") == cols(f"exporter_{kind}"), kind


def test_two_shards_count_every_service_once_under_the_same_pattern_ids(tmp_path: Path) -> None:
    """`--shard 0/2` and `1/2`, each with its own cursor and miner: every service is
    distilled by one of them, and together they file the lines as one unsharded run does."""
    rows = scenario(minutes=30)
    collector_write(tmp_path / "one", rows)
    collector_write(tmp_path / "two", rows)
    with ChStore.open(tmp_path / "one") as ch:
        distill(ch, lag_s=0)
        whole = _counts(ch)
    with ChStore.open(tmp_path / "two") as ch:
        a = distill(ch, lag_s=0, shard=(0, 2))
        b = distill(ch, lag_s=0, shard=(1, 2))
        assert a["cursor_name"] != b["cursor_name"] and a["rows_read"] and b["rows_read"]
        assert a["rows_read"] + b["rows_read"] == len(rows)
        assert _counts(ch) == whole
        assert distill(ch, lag_s=0, shard=(0, 2))["rows_read"] == 0
