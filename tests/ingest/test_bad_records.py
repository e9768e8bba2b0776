"""One bad record is rejected alone (OTLP partial success), never a 5xx; every gzip member
and zstd frame of a body is stored; bodies and decompression are capped (413).

Payloads are built with the opentelemetry-proto classes, as an SDK exporter builds them;
the bad values are the ones found by fuzzing the receivers (issue 16)."""

from __future__ import annotations

import gzip
from collections.abc import Iterator

import orjson
import pytest
import zstandard
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import (
    ExportLogsServiceRequest,
    ExportLogsServiceResponse,
)
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import ExportMetricsServiceRequest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
from opentelemetry.proto.logs.v1.logs_pb2 import LogRecord, ResourceLogs, ScopeLogs
from opentelemetry.proto.metrics.v1.metrics_pb2 import (
    Gauge,
    Histogram,
    HistogramDataPoint,
    Metric,
    NumberDataPoint,
    ResourceMetrics,
    ScopeMetrics,
)
from opentelemetry.proto.resource.v1.resource_pb2 import Resource
from opentelemetry.proto.trace.v1.trace_pb2 import ResourceSpans, ScopeSpans, Span
from starlette.testclient import TestClient

from runbrief.distill.distiller import Distiller
from runbrief.errors import IngestError
from runbrief.ingest import otlp
from runbrief.ingest.pipeline import Batch, Preparer
from runbrief.records import LogRecord as Rec
from runbrief.records import Resource as Res
from runbrief.server.app import RunbriefServer, ServerConfig, build_app
from runbrief.store.duck import Store

T0 = 1_714_557_600_000_000_000  # 2024-05-01T10:00:00Z
PB = {"content-type": "application/x-protobuf"}
RES = Resource(attributes=[KeyValue(key="service.name", value=AnyValue(string_value="checkout"))])


def _logs(*records: LogRecord) -> ExportLogsServiceRequest:
    return ExportLogsServiceRequest(resource_logs=[ResourceLogs(resource=RES, scope_logs=[
        ScopeLogs(log_records=list(records))])])


def _ok_log(i: int = 0) -> LogRecord:
    return LogRecord(time_unix_nano=T0 + i, severity_number=9, body=AnyValue(string_value=f"order {i} paid"))


def _spans(*spans: Span) -> ExportTraceServiceRequest:
    return ExportTraceServiceRequest(resource_spans=[ResourceSpans(resource=RES, scope_spans=[
        ScopeSpans(spans=list(spans))])])


def _span(i: int, **kw: object) -> Span:
    sp = Span(trace_id=(i + 1).to_bytes(16, "big"), span_id=(i + 1).to_bytes(8, "big"), name=f"GET /{i}",
              start_time_unix_nano=T0, end_time_unix_nano=T0 + 5_000_000, kind=2)
    for k, v in kw.items():
        if k == "status_code":
            sp.status.code = v  # type: ignore[assignment]
        else:
            setattr(sp, k, v)
    return sp


def _nested(depth: int, kvlist: bool = False) -> AnyValue:
    root = AnyValue()
    cur = root
    for _ in range(depth):
        if kvlist:
            kv = cur.kvlist_value.values.add(key="k")
            cur = kv.value
        else:
            cur = cur.array_value.values.add()
    cur.string_value = "leaf"
    return root


def _with_attr(value: AnyValue) -> LogRecord:
    lr = LogRecord(time_unix_nano=T0)
    lr.attributes.add(key="payload").value.MergeFrom(value)
    return lr


BAD_LOGS = {
    "time >= 2^63 ns": (LogRecord(time_unix_nano=2**63, body=AnyValue(string_value="x")), "time_unix_nano"),
    "time 2^64-1": (LogRecord(time_unix_nano=2**64 - 1, body=AnyValue(string_value="x")), "2262"),
    "observed past 2262": (LogRecord(observed_time_unix_nano=2**63 + 5, body=AnyValue(string_value="x")),
                           "observed_time_unix_nano"),
    "severity 128": (LogRecord(time_unix_nano=T0, severity_number=128), "severity_number 128"),  # type: ignore[arg-type]
    "severity 200": (LogRecord(time_unix_nano=T0, severity_number=200), "severity_number 200"),  # type: ignore[arg-type]
    "severity -1": (LogRecord(time_unix_nano=T0, severity_number=-1), "severity_number -1"),  # type: ignore[arg-type]
    "severity INT32_MIN": (LogRecord(time_unix_nano=T0, severity_number=-(2**31)), "SeverityNumber"),  # type: ignore[arg-type]
    "body nested 40 deep": (LogRecord(time_unix_nano=T0, body=_nested(40)), "nested deeper"),
    "attribute nested 40 deep": (_with_attr(_nested(40)), "nested deeper"),
}


@pytest.mark.parametrize("case", list(BAD_LOGS))
def test_a_bad_log_record_is_rejected_alone(case: str) -> None:
    bad, says = BAD_LOGS[case]
    d = otlp.decode("logs", _logs(_ok_log(1), bad, _ok_log(2)).SerializeToString())
    assert [r.body for r in d.batch.logs] == ["order 1 paid", "order 2 paid"]
    assert d.rejected == 1 and says in d.error_message


def _spliced(*records: bytes) -> bytes:
    """A logs request around record bytes no SDK would build (the wire format, by hand)."""
    from runbrief.ingest._wire import _len_field

    scope = b"".join(_len_field(2, r) for r in records)
    return _len_field(1, RES_FIELD + _len_field(2, scope))


RES_FIELD = b"\x0a" + bytes([len(RES.SerializeToString())]) + RES.SerializeToString()


def _too_deep() -> bytes:
    lr = LogRecord(time_unix_nano=T0)
    cur = lr.body
    for _ in range(120):  # past the protobuf parser's 100 levels
        cur = cur.array_value.values.add()
    cur.string_value = "x"
    return lr.SerializeToString()


def test_a_record_the_protobuf_parser_refuses_is_rejected_alone() -> None:
    bad_utf8 = _ok_log(7).SerializeToString().replace(b"order 7 paid", b"order \xff\xfe paid")
    body = _spliced(_ok_log(1).SerializeToString(), bad_utf8, _too_deep(), _ok_log(2).SerializeToString())
    d = otlp.decode("logs", body)
    assert [r.body for r in d.batch.logs] == ["order 1 paid", "order 2 paid"]
    assert d.batch.logs[0].resource.service == "checkout"
    assert d.rejected == 2 and "UTF-8" in d.error_message and "100 levels" in d.error_message
    with pytest.raises(IngestError):  # not protobuf at all: the request's own fault
        otlp.decode("logs", b"\x0a\xff\xff\xff\xff\x0f")


def test_nesting_within_the_limit_is_kept() -> None:
    d = otlp.decode("logs", _logs(LogRecord(time_unix_nano=T0, body=_nested(otlp.MAX_NESTING))).SerializeToString())
    assert d.rejected == 0 and "leaf" in d.batch.logs[0].body


BAD_SPANS = {
    "kind INT32_MIN": ({"kind": -(2**31)}, "kind -2147483648"),
    "kind -1": ({"kind": -1}, "kind -1"),  # must not wrap to SPAN_KINDS[-1] == CONSUMER
    "kind 6": ({"kind": 6}, "kind 6"),
    "status code -1": ({"status_code": -1}, "status.code -1"),  # would wrap to ERROR
    "start past 2262": ({"start_time_unix_nano": 2**64 - 1}, "start_time_unix_nano"),
    "end past 2262": ({"end_time_unix_nano": 2**63}, "end_time_unix_nano"),
}


@pytest.mark.parametrize("case", list(BAD_SPANS))
def test_a_bad_span_is_rejected_alone(case: str) -> None:
    kw, says = BAD_SPANS[case]
    d = otlp.decode("traces", _spans(_span(0), _span(1, **kw), _span(2)).SerializeToString())
    assert [s.name for s in d.batch.spans] == ["GET /0", "GET /2"]
    assert all(s.kind == "SERVER" for s in d.batch.spans)
    assert d.rejected == 1 and says in d.error_message


def test_a_bad_metric_point_is_rejected_alone() -> None:
    pts = [NumberDataPoint(time_unix_nano=T0, as_double=1.0), NumberDataPoint(time_unix_nano=2**64 - 1, as_double=2.0),
           NumberDataPoint(time_unix_nano=T0 + 1, as_int=3)]
    hist = Histogram(data_points=[HistogramDataPoint(time_unix_nano=T0, count=2**64 - 1),
                                  HistogramDataPoint(time_unix_nano=T0, count=4, bucket_counts=[1, 3],
                                                     explicit_bounds=[0.5])])
    req = ExportMetricsServiceRequest(resource_metrics=[ResourceMetrics(resource=RES, scope_metrics=[ScopeMetrics(
        metrics=[Metric(name="queue.depth", gauge=Gauge(data_points=pts)),
                 Metric(name="latency", histogram=hist)])])])
    d = otlp.decode("metrics", req.SerializeToString())
    assert [(p.name, p.value if p.type == "gauge" else p.count) for p in d.batch.metrics] == [
        ("queue.depth", 1.0), ("queue.depth", 3.0), ("latency", 4)]
    assert d.rejected == 2 and "time_unix_nano" in d.error_message and "int64" in d.error_message


def _json_logs(records: list[object]) -> bytes:
    return orjson.dumps({"resourceLogs": [{"resource": {"attributes": [
        {"key": "service.name", "value": {"stringValue": "web"}}]}, "scopeLogs": [{"logRecords": records}]}]})


def test_otlp_json_records_of_the_wrong_shape_or_depth_are_rejected_alone() -> None:
    deep = '{"arrayValue":{"values":[' * 60 + '{"stringValue":"x"}' + "]}}" * 60
    good = {"timeUnixNano": str(T0), "body": {"stringValue": "ok"}}
    body = _json_logs([good, {"timeUnixNano": "soon"}, {"traceId": "not-hex!", "body": {"stringValue": "id"}},
                       "DEEP", {**good, "body": {"stringValue": "ok 2"}}]).replace(b'"DEEP"', (
                           '{"timeUnixNano":"1","body":' + deep + "}").encode())
    d = otlp.decode("logs", body, otlp.JSON)
    assert [r.body for r in d.batch.logs] == ["ok", "ok 2"]
    assert d.rejected == 3
    assert "timeUnixNano" in d.error_message and "not hex" in d.error_message and "nested deeper" in d.error_message


def test_a_record_that_breaks_preparing_is_left_out_alone() -> None:
    """The safety net under the decoder: whatever a step raises on one record (here a
    severity no column can hold, as a hand-built batch may carry), the others are stored."""
    res = Res({"service.name": "a"})
    recs = [Rec(T0 + i, f"user {i} logged in", res, T0, 9, "INFO", {}, "", "", "") for i in range(50)]
    recs[17].severity_number = 300
    prep = Preparer(make=lambda: Distiller(None, "t")).prepare(Batch(logs=recs), 1000)
    ids = prep.logs["id"].to_pylist()
    assert len(ids) == 49 and 1017 not in ids and ids[:3] == [1000, 1001, 1002]
    assert prep.rejected == 1 and "ArrowInvalid" in prep.errors[0]


# ------------------------------------------------------------------ over HTTP
@pytest.fixture
def client(tmp_path) -> Iterator[TestClient]:  # noqa: ANN001
    store = Store.open(tmp_path / "s")
    server = RunbriefServer(store, ServerConfig(jobs=False, ingest_workers=0, max_body_bytes=1 << 20,
                                                max_decompressed_bytes=4 << 20))
    with TestClient(build_app(server), base_url="http://127.0.0.1") as c:
        c.store = store  # type: ignore[attr-defined]
        yield c
    server.close()
    store.close()


def _count(c: TestClient, table: str) -> int:
    c.store.settle()  # type: ignore[attr-defined]
    return c.store.scalar(f"SELECT count(*) FROM {table}")  # type: ignore[attr-defined]


def test_http_answers_partial_success_for_each_bad_record(client: TestClient) -> None:
    bad = [b for b, _ in BAD_LOGS.values()]
    key_eq = LogRecord(time_unix_nano=T0, body=AnyValue(string_value="key" + "=" * 1000))
    req = _logs(_ok_log(1), *bad, key_eq, _ok_log(2))
    r = client.post("/v1/logs", content=req.SerializeToString(), headers=PB)
    assert r.status_code == 200
    resp = ExportLogsServiceResponse.FromString(r.content)
    assert resp.partial_success.rejected_log_records == len(bad)
    assert "2262" in resp.partial_success.error_message
    assert _count(client, "logs") == 3  # the good two and the `key=====…` line (a RecursionError before)

    r = client.post("/v1/traces", content=_spans(_span(0), _span(1, kind=-(2**31)), _span(2, kind=-1)).SerializeToString(),
                    headers=PB)
    assert r.status_code == 200
    assert ExportTraceServiceResponse.FromString(r.content).partial_success.rejected_spans == 2
    assert _count(client, "spans") == 1

    r = client.post("/v1/logs", content=_json_logs([{"timeUnixNano": str(2**64 - 1)}, {"severityNumber": 200},
                                                    {"timeUnixNano": str(T0), "body": {"stringValue": "kept"}}]),
                    headers={"content-type": "application/json"})
    assert r.status_code == 200
    ps = r.json()["partialSuccess"]
    assert ps["rejectedLogRecords"] == "2" and "severity_number 200" in ps["errorMessage"]


def test_ingest_workers_report_what_the_parser_refused(tmp_path) -> None:  # noqa: ANN001
    store = Store.open(tmp_path / "w")
    server = RunbriefServer(store, ServerConfig(jobs=False, ingest_workers=1))
    try:
        with TestClient(build_app(server), base_url="http://127.0.0.1") as c:
            body = _spliced(_ok_log(1).SerializeToString(), _too_deep(), _ok_log(2).SerializeToString(),
                            LogRecord(time_unix_nano=T0, severity_number=200).SerializeToString())  # type: ignore[arg-type]
            r = c.post("/v1/logs", content=body, headers=PB)
            assert r.status_code == 200
            ps = ExportLogsServiceResponse.FromString(r.content).partial_success
            assert ps.rejected_log_records == 2
            assert "100 levels" in ps.error_message and "severity_number 200" in ps.error_message
            # a JSON shape the router did not expect (found by bench/fuzz_ingest.py: a 500)
            r = c.post("/v1/metrics", content=b'{"resourceMetrics": [{"scopeMetrics": -1}]}',
                       headers={"content-type": "application/json"})
            assert r.status_code == 400 and "scopeMetrics" in r.json()["message"]
            store.settle()
            assert store.scalar("SELECT count(*) FROM logs") == 2
    finally:
        server.close()
        store.close()


def test_every_gzip_member_and_zstd_frame_is_stored(client: TestClient) -> None:
    a, b = _logs(_ok_log(1)).SerializeToString(), _logs(_ok_log(2), _ok_log(3)).SerializeToString()
    # Two serialized requests back to back are one request with both resource groups.
    r = client.post("/v1/logs", content=gzip.compress(a) + gzip.compress(b), headers={**PB, "content-encoding": "gzip"})
    assert r.status_code == 200 and _count(client, "logs") == 3
    z = zstandard.ZstdCompressor()
    r = client.post("/v1/logs", content=z.compress(a) + z.compress(b), headers={**PB, "content-encoding": "zstd"})
    assert r.status_code == 200 and _count(client, "logs") == 6
    # the cap is on the total: two members of 3 MiB each pass 4 MiB together
    bomb = gzip.compress(b"\0" * (3 << 20)) * 2
    r = client.post("/v1/logs", content=bomb, headers={**PB, "content-encoding": "gzip"})
    assert r.status_code == 413
    bomb = z.compress(b"\0" * (3 << 20)) * 2
    r = client.post("/v1/logs", content=bomb, headers={**PB, "content-encoding": "zstd"})
    assert r.status_code == 413
    # a second member cut short is a truncated body, not a silent loss
    r = client.post("/v1/logs", content=gzip.compress(a) + gzip.compress(b)[:-6],
                    headers={**PB, "content-encoding": "gzip"})
    assert r.status_code == 400 and b"truncated" in r.content
    assert _count(client, "logs") == 6


def test_every_body_is_capped(client: TestClient) -> None:
    big = b'{"service": "' + b"x" * (2 << 20) + b'"}'
    js = {"content-type": "application/json"}
    for path in ("/api/deploys", "/api/op/stats", "/api/hooks/github"):
        r = client.post(path, content=big, headers={**js, "x-github-event": "deployment_status"})
        assert r.status_code == 413, path
        assert "limit" in r.text
    r = client.post("/v1/logs", content=b"\0" * (2 << 20), headers=PB)
    assert r.status_code == 413


def test_api_ingest_caps_what_a_gzip_upload_inflates_to(client: TestClient) -> None:
    oct = {"content-type": "application/octet-stream", "content-encoding": "gzip"}
    bomb = gzip.compress(b"A" * (50 << 20), compresslevel=9)  # ~50 KB that would be 50 MiB
    assert len(bomb) < 100_000
    r = client.post("/api/ingest", params={"name": "bomb.log"}, content=bomb, headers=oct)
    assert r.status_code == 413 and "bomb" in r.json()["error"]
    # a real file in two gzip members (cat a.gz b.gz) is read whole
    lines = [f"2024-05-01T10:00:{i:02d}Z INFO worker {i} done" for i in range(40)]
    two = gzip.compress("\n".join(lines[:20]).encode() + b"\n") + gzip.compress("\n".join(lines[20:]).encode() + b"\n")
    r = client.post("/api/ingest", params={"name": "app.log"}, content=two, headers=oct)
    assert r.status_code == 200 and r.json()["logs"] == 40


def test_a_line_dated_9999_does_not_end_the_file(tmp_path) -> None:  # noqa: ANN001
    from runbrief.ingest._file_sources import ingest_local

    lines = [
        '{"time":"2024-05-01T10:00:00Z","level":"info","msg":"started"}',
        '{"time":"9999-12-31T23:59:59Z","level":"info","msg":"far future"}',
        '{"ts":1e19,"level":"info","msg":"epoch past 2262"}',
        '{"time":"2024-05-01T10:00:02Z","level":"info","msg":"key' + "=" * 1000 + '"}',
        '{"time":"2024-05-01T10:00:03Z","level":"error","msg":"stopped"}',
    ]
    path = tmp_path / "app.log.gz"
    path.write_bytes(gzip.compress("\n".join(lines[:2]).encode() + b"\n") + gzip.compress("\n".join(lines[2:]).encode()))
    with Store.open(tmp_path / "s") as store:
        out = ingest_local(store, [str(path)])
        # the far-future times are no time: those records take the time of the record before them
        assert out["logs"] == 5 and out["bad_lines"] == 0 and not out["errors"]
        assert store.scalar("SELECT count(*) FROM logs WHERE ts > TIMESTAMP '2100-01-01'") == 0


def test_a_line_that_breaks_a_parser_is_skipped_and_counted(monkeypatch: pytest.MonkeyPatch) -> None:
    """The class, not the sample: whatever a parser raises on one line, the file goes on."""
    from runbrief.ingest import logfiles

    real = logfiles.from_mapping

    def fragile(obj, line):  # noqa: ANN001, ANN202 - stands in for any parser bug
        if obj.get("msg") == "poison":
            raise RecursionError("maximum recursion depth exceeded")
        return real(obj, line)

    monkeypatch.setattr(logfiles, "from_mapping", fragile)
    s = logfiles.LogStream("app.log")
    data = b"\n".join(orjson.dumps({"time": f"2024-05-01T10:00:0{i}Z", "msg": m})
                      for i, m in enumerate(["a", "poison", "b"]))
    batches = s.feed(data) + s.close()
    assert [r.body for b in batches for r in b.logs] == ["a", "b"]
    assert s.stats.bad_lines == 1 and "line 2 skipped (RecursionError" in s.stats.errors[0]


def test_grpc_answers_partial_success(tmp_path) -> None:  # noqa: ANN001
    import grpc

    from runbrief.server.otlp_grpc import start_grpc

    store = Store.open(tmp_path / "g")
    server = RunbriefServer(store, ServerConfig(jobs=False, ingest_workers=0))
    grpc_server, port = start_grpc(server.ingestor, "127.0.0.1", 0)
    try:
        with grpc.insecure_channel(f"127.0.0.1:{port}") as ch:
            export = ch.unary_unary("/opentelemetry.proto.collector.logs.v1.LogsService/Export",
                                    request_serializer=ExportLogsServiceRequest.SerializeToString,
                                    response_deserializer=ExportLogsServiceResponse.FromString)
            bad = [b for b, _ in BAD_LOGS.values()]
            resp = export(_logs(_ok_log(1), *bad, _ok_log(2)), timeout=30)
            assert resp.partial_success.rejected_log_records == len(bad)
            assert "2262" in resp.partial_success.error_message
            with pytest.raises(grpc.RpcError) as err:
                ch.unary_unary("/opentelemetry.proto.collector.logs.v1.LogsService/Export")(b"\x0a\xff\xff", timeout=30)
            assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    finally:
        grpc_server.stop(0)
        server.close()
        store.close()


def test_a_record_the_writer_leaves_out_is_reported_without_workers(tmp_path, monkeypatch) -> None:  # noqa: ANN001
    """ingest_workers=0: the writer prepares, and what it leaves out reaches the partial success."""
    from runbrief.ingest import pipeline

    def fragile(batch: Batch) -> None:
        if any(r.body == "order 2 paid" for r in batch.logs):
            raise ValueError("a step broke on this record")

    monkeypatch.setattr(pipeline, "_PREPARE_HOOKS", [*pipeline._PREPARE_HOOKS, fragile])
    store = Store.open(tmp_path / "w0")
    server = RunbriefServer(store, ServerConfig(jobs=False, ingest_workers=0))
    try:
        req = _logs(_ok_log(1), _ok_log(2), _ok_log(3))
        out = server.ingestor.submit_otlp("logs", req.SerializeToString(), otlp.PROTOBUF).result(30)
        assert out.rejected == 1 and "left out" in out.error_message
        assert store.scalar("SELECT count(*) FROM logs") == 2
    finally:
        server.close()
        store.close()
