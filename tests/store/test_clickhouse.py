"""The ClickHouse store (chdb, embedded): a DuckDB store copied into the Collector exporter's
schema answers `services`, `logs` and `stats` with the same JSON; a table a Collector-shaped
writer filled (the exporter's DDL and INSERT column layout) answers `services` as it is."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("chdb")
pytest.importorskip("sqlglot")

from runbrief import ops  # noqa: E402
from runbrief.errors import StoreError  # noqa: E402
from runbrief.ingest.pipeline import Batch, Pipeline  # noqa: E402
from runbrief.records import Deploy, LogRecord, Resource, Span, SpanEvent, SpanLink  # noqa: E402
from runbrief.store.clickhouse import schema  # noqa: E402
from runbrief.store.clickhouse.chstore import ChStore, to_clickhouse  # noqa: E402
from runbrief.store.clickhouse.copy import copy_store  # noqa: E402
from runbrief.store.duck import Store  # noqa: E402

LOGHUB = Path(__file__).resolve().parents[1] / "data" / "loghub-2k"
T0 = 1_700_000_000_000_000_000  # ns
SOURCES = {"hdfs": "HDFS/HDFS_2k.log", "openstack": "OpenStack/OpenStack_2k.log", "spark": "Spark/Spark_2k.log"}
LEVELS = ("ERROR", "WARN", "INFO")


def _batch() -> Batch:
    logs, spans = [], []
    for k, (service, rel) in enumerate(SOURCES.items()):
        res = Resource({"service.name": service, "service.version": f"1.{k}"})
        lines = (LOGHUB / rel).read_text(errors="replace").splitlines()[:600]
        for i, line in enumerate(lines):
            level = next((lv for lv in LEVELS if lv in line), "")
            logs.append(LogRecord(ts_ns=T0 + (k * 1000 + i) * 37_000_000_123, body=line, resource=res,
                                  observed_ns=T0 + i, severity_text=level,
                                  attributes={"file": rel, "line": str(i)} if i % 3 else {}))
        for i in range(40):
            spans.append(Span(trace_id=f"{k:08x}{i // 4:024x}", span_id=f"{k:04x}{i:012x}", name=f"GET /{service}",
                              start_ns=T0 + k * 1_003 + i * 1_000_000_007,
                              end_ns=T0 + k * 1_003 + i * 1_000_000_007 + 5_432_100 * (i + 1),
                              resource=res, kind="SERVER", status_code="ERROR" if i % 7 == 0 else "OK",
                              attributes={"http.route": f"/{service}/{i % 5}"},
                              events=[SpanEvent(name="exception", ts_ns=T0 + i * 1_000_000_007 + 5,
                                                attributes={"exception.type": "KeyError"})] if i % 7 == 0 else [],
                              links=[SpanLink(trace_id=f"{k:032x}", span_id=f"{i:016x}")] if i % 4 == 1 else []))
    deploys = [Deploy(ts_ns=T0 + 10**12, service="hdfs", version="1.1", commit="abc123")]
    return Batch(logs=logs, spans=spans, deploys=deploys)


# The exporter's DDL as the Collector renders it (database default, engine MergeTree(), no
# TTL, no cluster): exporter/clickhouseexporter/internal/sqltemplates/{logs,traces}_table.sql.
COLLECTOR_DDL = [
    """CREATE TABLE IF NOT EXISTS "default"."otel_logs" (
    Timestamp DateTime64(9) CODEC(Delta(8), ZSTD(1)),
    TimestampTime DateTime DEFAULT toDateTime(Timestamp),
    TraceId String CODEC(ZSTD(1)),
    SpanId String CODEC(ZSTD(1)),
    TraceFlags UInt8,
    SeverityText LowCardinality(String) CODEC(ZSTD(1)),
    SeverityNumber UInt8,
    ServiceName LowCardinality(String) CODEC(ZSTD(1)),
    Body String CODEC(ZSTD(1)),
    ResourceSchemaUrl LowCardinality(String) CODEC(ZSTD(1)),
    ResourceAttributes Map(LowCardinality(String), String) CODEC(ZSTD(1)),
    ScopeSchemaUrl LowCardinality(String) CODEC(ZSTD(1)),
    ScopeName String CODEC(ZSTD(1)),
    ScopeVersion LowCardinality(String) CODEC(ZSTD(1)),
    ScopeAttributes Map(LowCardinality(String), String) CODEC(ZSTD(1)),
    LogAttributes Map(LowCardinality(String), String) CODEC(ZSTD(1)),
    INDEX idx_trace_id TraceId TYPE bloom_filter(0.001) GRANULARITY 1,
    INDEX idx_log_attr_key mapKeys(LogAttributes) TYPE bloom_filter(0.01) GRANULARITY 1,
    INDEX idx_body Body TYPE tokenbf_v1(32768, 3, 0) GRANULARITY 8,
    INDEX idx_body_ngrambf Body TYPE ngrambf_v1(4, 32768, 3, 0) GRANULARITY 1
    ) ENGINE = MergeTree()
    PARTITION BY toDate(TimestampTime)
    PRIMARY KEY (ServiceName, TimestampTime)
    ORDER BY (ServiceName, TimestampTime, Timestamp)
    SETTINGS index_granularity = 8192, ttl_only_drop_parts = 1""",
    """CREATE TABLE IF NOT EXISTS "default"."otel_traces" (
    Timestamp DateTime64(9) CODEC(Delta(8), ZSTD(1)),
    TraceId String CODEC(ZSTD(1)), SpanId String CODEC(ZSTD(1)), ParentSpanId String CODEC(ZSTD(1)),
    TraceState String CODEC(ZSTD(1)), SpanName LowCardinality(String) CODEC(ZSTD(1)),
    SpanKind LowCardinality(String) CODEC(ZSTD(1)), ServiceName LowCardinality(String) CODEC(ZSTD(1)),
    ResourceAttributes Map(LowCardinality(String), String) CODEC(ZSTD(1)),
    ScopeName String CODEC(ZSTD(1)), ScopeVersion String CODEC(ZSTD(1)),
    SpanAttributes Map(LowCardinality(String), String) CODEC(ZSTD(1)),
    Duration UInt64 CODEC(T64, ZSTD(1)),
    StatusCode LowCardinality(String) CODEC(ZSTD(1)), StatusMessage String CODEC(ZSTD(1)),
    Events Nested (Timestamp DateTime64(9), Name LowCardinality(String),
                   Attributes Map(LowCardinality(String), String)) CODEC(ZSTD(1)),
    Links Nested (TraceId String, SpanId String, TraceState String,
                  Attributes Map(LowCardinality(String), String)) CODEC(ZSTD(1)),
    INDEX idx_trace_id TraceId TYPE bloom_filter(0.001) GRANULARITY 1,
    INDEX idx_duration Duration TYPE minmax GRANULARITY 1
    ) ENGINE = MergeTree()
    PARTITION BY toDate(Timestamp)
    PRIMARY KEY (ServiceName, SpanName, toDateTime(Timestamp))
    ORDER BY (ServiceName, SpanName, toDateTime(Timestamp), Timestamp)
    SETTINGS index_granularity = 8192, ttl_only_drop_parts = 1""",
]

# The exporter's INSERT column lists (sqltemplates/logs_insert.sql, traces_insert.sql).
LOG_INSERT = ("INSERT INTO otel_logs (Timestamp, TraceId, SpanId, TraceFlags, SeverityText, SeverityNumber, "
              "ServiceName, Body, ResourceSchemaUrl, ResourceAttributes, ScopeSchemaUrl, ScopeName, ScopeVersion, "
              "ScopeAttributes, LogAttributes) VALUES ")
SPAN_INSERT = ("INSERT INTO otel_traces (Timestamp, TraceId, SpanId, ParentSpanId, TraceState, SpanName, SpanKind, "
               "ServiceName, ResourceAttributes, ScopeName, ScopeVersion, SpanAttributes, Duration, StatusCode, "
               "StatusMessage, `Events.Timestamp`, `Events.Name`, `Events.Attributes`, `Links.TraceId`, "
               "`Links.SpanId`, `Links.TraceState`, `Links.Attributes`) VALUES ")


def test_a_collector_filled_store_answers_services(tmp_path: Path) -> None:
    """Rows a Collector wrote (its DDL, its INSERT layout) read as they are: runbrief adds its
    columns and views beside them and `services` counts them, versions from the resource."""
    from chdb import session

    folder = tmp_path / "collector"
    collector = session.Session(str(folder))
    for ddl in COLLECTOR_DDL:
        collector.query(ddl)
    rows = []
    for i in range(30):
        svc, ver = ("checkout", "2.1.0") if i % 3 else ("cart", "0.9.4")
        sev, num = ("ERROR", 17) if i % 10 == 0 else ("INFO", 9)
        rows.append(f"('2024-05-01 12:{i:02d}:00.123456789', '{i:032x}', '{i:016x}', 1, '{sev}', {num}, '{svc}', "
                    f"'request {i} done in {i * 7} ms', '', map('service.name', '{svc}', 'service.version', '{ver}'), "
                    f"'', 'io.opentelemetry.app', '1.0', map(), map('http.status_code', '{200 + i}'))")
    collector.query(LOG_INSERT + ", ".join(rows))
    collector.query(SPAN_INSERT + "('2024-05-01 12:30:00.000000001', 'aa' , 'bb', '', '', 'GET /cart', 'Server', "
                    "'cart', map('service.name', 'cart', 'service.version', '0.9.5'), 'http', '1', "
                    "map('http.route', '/cart'), 12000000, 'Error', 'boom', ['2024-05-01 12:30:00.000000002'], "
                    "['exception'], [map('exception.type', 'KeyError')], [], [], [], [])")
    collector.close()

    ch = ChStore.open(folder)
    try:
        out = ops.run(ch, "services", {})  # type: ignore[arg-type]
        assert out == {"services": [
            {"service": "cart", "logs": 10, "spans": 1, "metric_points": 0, "deploys": 0,
             "versions": ["0.9.4", "0.9.5"], "last_seen": "2024-05-01T12:30:00.000Z"},
            {"service": "checkout", "logs": 20, "spans": 0, "metric_points": 0, "deploys": 0,
             "versions": ["2.1.0"], "last_seen": "2024-05-01T12:29:00.123Z"},
        ]}
        errors = ops.run(ch, "logs", {"severity": "error", "service": "cart"})  # type: ignore[arg-type]
        assert [r["body"] for r in errors["logs"]] == ["request 0 done in 0 ms"]  # 12:00; i=10, 20 are checkout
        assert errors["logs"][0]["attributes"] == {"http.status_code": "200"}
        assert [m["version"] for m in ch.migrations()] == [m.version for m in schema.MIGRATIONS]
        # as a store made before the version table, at version 2: no incidents table yet
        ch.execute("DROP TABLE incidents")
        ch.execute("DROP TABLE schema_migrations")
        ch.meta_set("schema_version", "2")
    finally:
        ch.close()

    with ChStore.open(folder) as again:  # migrations 3 and 4 applied at open, 1 and 2 recorded as had
        assert again.meta_get("schema_version") == str(schema.SCHEMA_VERSION)
        had = again.migrations()
        assert [m["version"] for m in had] == [m.version for m in schema.MIGRATIONS]
        assert had[0]["name"].startswith("(before schema_migrations)") and not had[2]["name"].startswith("(")
        assert again.scalar("SELECT count(*) FROM incidents") == 0  # made again by migration 3
        assert len(ops.run(again, "services", {})["services"]) == 2  # type: ignore[arg-type]
        again.execute("INSERT INTO schema_migrations (version, name, applied_at) VALUES (99, 'future', now64())")
    with pytest.raises(StoreError, match="newer than this runbrief"):
        ChStore.open(folder)
    with pytest.raises(StoreError, match="newer than this runbrief"):  # and the refusal released the engine
        ChStore.open(folder)


def test_changes_same_on_both(tmp_path: Path) -> None:
    """A deploy with injected changes (new error, rate up, rate down, stopped, an event):
    `changes` finds the same items on the copy. Before the module's shared chdb store
    opens: a process holds one chdb engine (one folder) at a time."""
    import random
    import sys
    from datetime import timedelta

    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "analyze"))
    from changes_fill import T0 as F0
    from changes_fill import Filler

    base, after = 6 * 60, 60
    deploy_at = F0 + timedelta(minutes=base, seconds=30)
    with Store.open(tmp_path / "duck") as duck:
        f, rng = Filler(duck), random.Random(7)
        steady, beat = f.pattern("aa01", "GET /cart <*> ms"), f.pattern("aa02", "heartbeat ok")
        up = f.pattern("aa03", "retrying payment call attempt <*>", "WARN")
        down, new = f.pattern("aa04", "cache hit for <*>"), f.pattern("aa05", "NullPointerException in total", "ERROR")
        f.series("checkout", steady, F0, base + after, 5.0, rng=rng)
        f.every("checkout", beat, F0, base, 2)
        f.series("checkout", up, F0, base + after, lambda m: 1.0 if m < base else 8.0, rng=rng)
        f.series("checkout", down, F0, base + after, lambda m: 20.0 if m < base else 2.0, rng=rng)
        f.series("checkout", new, F0 + timedelta(minutes=base + 1), after - 1, 3.0, errors=True, rng=rng)
        f.series("payments", steady, F0, base + after, 50.0, rng=rng)
        f.flush()
        dep = f.deploy("checkout", deploy_at)
        f.event("checkout", deploy_at + timedelta(minutes=5), "BackOff", object_name="pod/checkout-7f9-x1")
        ch = ChStore.open(tmp_path / "chdb")
        try:
            copy_store(duck, ch)
            for params in ({"service": "checkout", "since_deploy": True}, {"deploy": dep}, {"service": "payments"}):
                a, b = ops.run(duck, "changes", params), ops.run(ch, "changes", params)  # type: ignore[arg-type]
                assert a == b, params
            got = ops.run(ch, "changes", {"service": "checkout", "since_deploy": True})  # type: ignore[arg-type]
            kinds = {i.get("pattern_id"): i["kind"] for i in got["items"]}
            assert kinds[new] == "new" and kinds[up] == "rate_up", kinds
            assert kinds[down] == "rate_down" and kinds[beat] == "stopped", kinds
            assert "k8s_event" in kinds.values()
        finally:
            ch.close()


@pytest.fixture(scope="module")
def stores(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Store, ChStore]]:
    base = tmp_path_factory.mktemp("ch")
    duck = Store.open(base / "duck")
    Pipeline(duck).write(_batch())
    ch = ChStore.open(base / "chdb")
    copied = copy_store(duck, ch)
    assert copied["otel_logs"] == 1800 and copied["otel_traces"] == 120
    yield duck, ch
    ch.close()
    duck.close()


def _same(duck: Store, ch: ChStore, op: str, **params: Any) -> dict[str, Any]:
    a, b = ops.run(duck, op, params), ops.run(ch, op, params)  # type: ignore[arg-type]
    assert a == b, (op, params)
    return a


def test_services_same_on_both(stores: tuple[Store, ChStore]) -> None:
    out = _same(*stores, "services")
    assert [s["service"] for s in out["services"]] == ["hdfs", "openstack", "spark"]
    assert out["services"][0]["logs"] == 600 and out["services"][0]["spans"] == 40
    assert out["services"][0]["deploys"] == 1 and out["services"][0]["versions"] == ["1.0"]


def test_logs_same_on_both(stores: tuple[Store, ChStore]) -> None:
    out = _same(*stores, "logs", limit=50)
    assert len(out["logs"]) == 50 and out["truncated"]
    assert all(r["pattern_id"] for r in out["logs"])
    assert any(r["attributes"] for r in out["logs"])
    for params in ({"service": "openstack", "severity": "warn", "limit": 20},
                   {"contains": "BLOCK*", "limit": 30},
                   {"since": "2023-11-14T22:20:00Z", "until": "2023-11-15T02:00:00Z", "limit": 40}):
        got = _same(*stores, "logs", **params)
        assert got["logs"], params
    pat = out["logs"][0]["pattern_id"]
    assert _same(*stores, "logs", pattern_id=pat, limit=5)["logs"]


def test_stats_same_on_both(stores: tuple[Store, ChStore]) -> None:
    import runbrief.distill.ops  # noqa: F401 - registers the compression section (patterns, counts)

    duck, ch = stores
    a, b = ops.run(duck, "stats", {}), ops.run(ch, "stats", {})  # type: ignore[arg-type]
    for k in ("store_path", "store_bytes", "schema_version"):  # where each store is, its own schema
        a.pop(k), b.pop(k)
    assert 50_000 < ch.bytes_on_disk() < 5_000_000  # the table parts (1,800 lines), not a folder's inode
    assert a == b
    assert a["logs"] == 1800 and a["traces"] == 30 and a["compression"]["patterns"] > 10


def test_patterns_and_show_same_on_both(stores: tuple[Store, ChStore]) -> None:
    duck, ch = stores
    pats = _same(duck, ch, "patterns")
    assert len(pats["patterns"]) > 10
    first = ops.run(duck, "logs", {"limit": 1})["logs"][0]
    some_span = duck.scalar("SELECT span_id FROM spans ORDER BY span_id LIMIT 1")
    some_trace = duck.scalar("SELECT trace_id FROM spans ORDER BY trace_id LIMIT 1")
    for evidence in (first["id"], first["pattern_id"], "dep_1", f"spn_{some_span}", f"trc_{some_trace}"):
        shown = _same(duck, ch, "show", id=evidence)
        assert shown["id"] == evidence and len(shown) > 3, evidence


def test_traces_same_on_both(stores: tuple[Store, ChStore]) -> None:
    for params in ({}, {"service": "spark"}, {"status": "error"}, {"min_duration_ms": 100, "limit": 3},
                   {"route": "/hdfs/2"}, {"name": "openst"}, {"attribute": "http.route=/spark/3"},
                   {"since": "2023-11-14T22:13:40Z"}):
        got = _same(*stores, "traces", **params)
        assert got["traces"], params
    trace = _same(*stores, "traces", service="hdfs")["traces"][0]["trace_id"]
    assert _same(*stores, "trace_show", id=trace)["spans"]
    failed = _same(*stores, "traces", service="hdfs", status="error")["traces"][0]["trace_id"]
    assert "KeyError" in str(_same(*stores, "trace_show", id=failed))  # the exception event, read back
    assert _same(*stores, "trace_summary", id=trace)
    assert _same(*stores, "trace_summary", latest=True, service="spark")
    assert "problems" in _same(*stores, "perf")
    assert _same(*stores, "deploys")


def test_parameters_are_literals_not_text() -> None:
    sql = to_clickhouse("SELECT ? a, ? b, ? c", ["it's \\ ' OR 1=1 --", 3, None])
    assert sql == "SELECT 'it''s \\\\ '' OR 1=1 --' AS a, 3 AS b, NULL AS c"
    with pytest.raises(Exception, match="parameter"):
        to_clickhouse("SELECT ?", [])


def _cli(*args: str) -> Any:
    import json
    import subprocess
    import sys

    proc = subprocess.run([sys.executable, "-m", "runbrief", *args], capture_output=True, text=True, timeout=120)
    return proc.returncode, (json.loads(proc.stdout) if proc.stdout.strip() else None), proc.stderr


def test_cli_copies_a_store_and_answers_from_it(tmp_path: Path) -> None:
    """`runbrief store copy` then `runbrief services --store chdb:PATH`, each its own process."""
    src = tmp_path / "duck"
    with Store.open(src) as duck:
        batch = _batch()
        Pipeline(duck).write(Batch(logs=batch.logs[::10], spans=batch.spans[:8], deploys=batch.deploys))
        want = ops.run(duck, "services", {})
    rc, out, err = _cli("store", "copy", str(src), f"chdb:{tmp_path / 'ch'}", "--json")
    assert rc == 0, err
    assert out["copied"]["otel_logs"] == 180 and out["copied"]["otel_traces"] == 8 and out["copied"]["deploys"] == 1
    rc, got, err = _cli("services", "--store", f"chdb:{tmp_path / 'ch'}", "--json")
    assert rc == 0, err
    assert got == want
    rc, _, err = _cli("store", "copy", str(src), f"chdb:{tmp_path / 'ch'}", "--json")  # not twice into one store
    assert rc != 0 and "already holds records" in err
    rc, got, err = _cli("incidents", "--all", "--store", f"chdb:{tmp_path / 'ch'}", "--json")  # detects: writes
    assert rc == 0, err
    with Store.open(src) as duck:
        assert got == ops.run(duck, "incidents", {"all": True})
    rc, _, err = _cli("services", "--store", f"chdb:{tmp_path / 'none'}", "--json")
    assert rc != 0 and "no chdb store" in err and not (tmp_path / "none").exists()
    log = tmp_path / "a.log"
    log.write_text("hello\n")
    rc, _, err = _cli("ingest", str(log), "--store", f"chdb:{tmp_path / 'other'}")  # writes DuckDB only
    assert rc != 0 and "is a ClickHouse store" in err and not (tmp_path / "other").exists()
