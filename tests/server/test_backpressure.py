"""Back-pressure by bytes as well as records, and a fair share per service (issue 16).

The writer is held (the store's write lock) so what is reserved stays pending, as under
overload; a real store and the real queue, the real OTLP/HTTP receiver for the 503.
"""

from __future__ import annotations

import pytest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
from opentelemetry.proto.resource.v1.resource_pb2 import Resource
from opentelemetry.proto.trace.v1.trace_pb2 import ResourceSpans, ScopeSpans, Span
from starlette.testclient import TestClient

from runbrief.errors import Overloaded
from runbrief.ingest.pipeline import Preparer
from runbrief.server.app import RunbriefServer, ServerConfig, build_app
from runbrief.server.write_queue import WriteQueue
from runbrief.store.duck import Store

PB = {"Content-Type": "application/x-protobuf"}


@pytest.fixture
def queue(tmp_path):
    store = Store.open(tmp_path / "s")
    q = WriteQueue(store, Preparer(), max_pending=100, max_pending_bytes=10_000)
    yield q
    q.close()
    store.close()


def test_a_lone_sender_may_use_most_of_the_queue_not_all(queue: WriteQueue) -> None:
    queue.reserve(60, services={"a": 60})
    queue.reserve(20, services={"a": 20})  # past half full, but no one else is sending
    with pytest.raises(Overloaded, match="'a' holds more than its share"):
        queue.reserve(5, services={"a": 5})  # the last fifth is kept for a service that starts now
    queue.reserve(15, services={"b": 15})
    with pytest.raises(Overloaded, match="records waiting"):
        queue.reserve(10, services={"c": 10})  # the hard limit holds for everyone


def test_bytes_count_as_well_as_records(queue: WriteQueue) -> None:
    queue.reserve(2, nbytes=9_000, services={"a": 2})  # the first request always gets in
    with pytest.raises(Overloaded, match="bytes waiting"):
        queue.reserve(1, nbytes=2_000, services={"b": 1})
    with pytest.raises(Overloaded, match="bytes waiting"):
        queue.admits(2_000)  # refused before the body is even read
    queue.admits(500)


def test_a_noisy_service_is_refused_while_a_quiet_one_gets_in(queue: WriteQueue) -> None:
    noisy = queue.reserve(45, services={"noisy": 45})
    queue.reserve(10, services={"quiet": 10})  # past half full: quiet holds little, admitted
    with pytest.raises(Overloaded, match="'noisy' holds more than its share"):
        queue.reserve(10, services={"noisy": 10})
    queue.reserve(10, services={"quiet": 10})
    queue.reserve(5, services={"third": 5})  # a service with nothing pending is always let in
    assert queue.pending == 70 and queue.refused == 1
    queue.release(noisy)  # committed or given back: noisy may send again
    queue.reserve(10, services={"noisy": 10})
    assert queue.pending == 35


def test_the_share_is_by_bytes_too(queue: WriteQueue) -> None:
    queue.reserve(1, nbytes=4_000, services={"big": 1})
    queue.reserve(1, nbytes=1_500, services={"small": 1})
    with pytest.raises(Overloaded, match="'big' holds more than its share"):
        queue.reserve(1, nbytes=1_500, services={"big": 1})
    queue.reserve(1, nbytes=1_500, services={"small": 1})


def _export(service: str, n: int, pad: int) -> bytes:
    res = Resource(attributes=[KeyValue(key="service.name", value=AnyValue(string_value=service))])
    spans = [Span(trace_id=bytes([1 + i % 200]) * 16, span_id=bytes([1 + i % 200]) * 8, name="x" * pad,
                  start_time_unix_nano=1_700_000_000_000_000_000, end_time_unix_nano=1_700_000_000_100_000_000)
             for i in range(n)]
    req = ExportTraceServiceRequest(resource_spans=[ResourceSpans(resource=res, scope_spans=[ScopeSpans(spans=spans)])])
    return req.SerializeToString()


def test_otlp_http_answers_503_with_retry_after_when_the_bytes_are_full(tmp_path) -> None:
    store = Store.open(tmp_path / "s")
    server = RunbriefServer(store, ServerConfig(max_pending_bytes=20_000, jobs=False, ingest_workers=0))
    store._write_lock.acquire()  # the writer blocks: what is accepted stays pending
    try:
        held = server.queue.submit(_export_batch(server), nbytes=19_000, service="noisy")
        with TestClient(build_app(server), base_url="http://127.0.0.1") as client:
            r = client.post("/v1/traces", content=_export("noisy", 5, 400), headers=PB)
        assert r.status_code == 503, r.text
        assert r.headers["retry-after"].isdigit()
    finally:
        store._write_lock.release()
    held.result(10)  # what was accepted is still written
    server.close()
    assert store.scalar("SELECT count(*) FROM spans") == 1
    store.close()


def _export_batch(server: RunbriefServer):  # noqa: ANN202
    from runbrief.ingest import otlp

    req = ExportTraceServiceRequest()
    req.ParseFromString(_export("noisy", 1, 10))
    return otlp.walk_traces(req).batch


def test_past_the_wait_limit_the_heavy_sender_is_refused_and_a_light_one_admitted(tmp_path) -> None:
    import time

    store = Store.open(tmp_path / "s")
    q = WriteQueue(store, Preparer(), max_pending=1_000_000, min_group=10, max_wait_s=1.0)
    try:
        now = time.monotonic()
        q._commits_seen.extend([(now - 1.0, 0), (now, 10_000)])  # the writer has been committing 10k records/s
        q.reserve(5_000, services={"noisy": 5_000})
        with pytest.raises(Overloaded, match=r"1\.5 s of work.*'noisy'") as exc:
            q.reserve(10_000, services={"noisy": 10_000})
        assert exc.value.retry_after >= 1
        q.reserve(100, services={"quiet": 100})  # holds nothing yet: let in
        assert q.pending == 5_100
    finally:
        q.close()
        store.close()


def test_a_metric_counts_as_its_data_points() -> None:
    """One metric with 500 points is 500 records for admission, in protobuf and in OTLP/JSON."""
    import orjson
    from google.protobuf import json_format
    from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import ExportMetricsServiceRequest
    from opentelemetry.proto.metrics.v1.metrics_pb2 import (
        Gauge,
        Metric,
        NumberDataPoint,
        ResourceMetrics,
        ScopeMetrics,
    )

    from runbrief.server.ingest import _split_json, _split_protobuf

    res = Resource(attributes=[KeyValue(key="service.name", value=AnyValue(string_value="api"))])
    pts = [NumberDataPoint(time_unix_nano=1_700_000_000_000_000_000 + i, as_double=float(i)) for i in range(500)]
    req = ExportMetricsServiceRequest(resource_metrics=[ResourceMetrics(resource=res, scope_metrics=[ScopeMetrics(
        metrics=[Metric(name="queue.depth", gauge=Gauge(data_points=pts)), Metric(name="empty", gauge=Gauge())])])])
    assert _split_protobuf("metrics", req.SerializeToString())[1] == 501
    body = orjson.dumps(json_format.MessageToDict(req))
    assert _split_json("metrics", body)[1] == 501
