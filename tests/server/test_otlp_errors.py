"""Bad input gets its OTLP status and message, the server keeps serving, and nothing
acknowledged is ever lost — not even to a SIGKILL right after the 200."""

from __future__ import annotations

import gzip
import os
import threading

import httpx
import pytest
from google.rpc.status_pb2 import Status
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)
from opentelemetry.proto.trace.v1.trace_pb2 import ResourceSpans, ScopeSpans, Span
from starlette.testclient import TestClient

from runbrief.errors import Overloaded
from runbrief.ingest.pipeline import Batch
from runbrief.server.app import RunbriefServer, ServerConfig, build_app
from runbrief.store.duck import Store
from runbrief.testing import ServerProcess

PB = {"content-type": "application/x-protobuf"}


def _request(n: int, seed: int = 0, service: str = "api") -> ExportTraceServiceRequest:
    spans = []
    for i in range(n):
        k = seed * 1_000_000 + i
        spans.append(Span(trace_id=k.to_bytes(16, "big"), span_id=(k + 1).to_bytes(8, "big"), name=f"op{i % 5}",
                          start_time_unix_nano=1_700_000_000_000_000_000 + k, end_time_unix_nano=1_700_000_000_000_500_000 + k))
    rs = ResourceSpans(scope_spans=[ScopeSpans(spans=spans)])
    rs.resource.attributes.add(key="service.name").value.string_value = service
    return ExportTraceServiceRequest(resource_spans=[rs])


def _status(resp: httpx.Response) -> str:
    st = Status()
    st.ParseFromString(resp.content)
    return st.message


def test_bad_bodies_get_their_status_and_the_server_keeps_serving(server: ServerProcess) -> None:
    url = server.url
    r = httpx.post(f"{url}/v1/traces", content=b"\x0a\xff\xff\xff\xff\x0f", headers=PB)
    assert r.status_code == 400 and "protobuf" in _status(r)

    r = httpx.post(f"{url}/v1/logs", content=b"{not json", headers={"content-type": "application/json"})
    assert r.status_code == 400 and "JSON" in r.json()["message"]

    r = httpx.post(f"{url}/v1/metrics", content=b"hello", headers={"content-type": "text/plain"})
    assert r.status_code == 415 and "content type" in _status(r)

    r = httpx.post(f"{url}/v1/traces", content=b"\0" * (17 * 1024 * 1024), headers=PB)
    assert r.status_code == 413

    bomb = gzip.compress(b"\0" * (200 * 1024 * 1024), compresslevel=9)
    assert len(bomb) < 1024 * 1024
    r = httpx.post(f"{url}/v1/traces", content=bomb, headers={**PB, "content-encoding": "gzip"})
    assert r.status_code == 413

    good = gzip.compress(_request(3).SerializeToString())
    r = httpx.post(f"{url}/v1/traces", content=good[: len(good) // 2], headers={**PB, "content-encoding": "gzip"})
    assert r.status_code == 400 and "truncated" in _status(r)

    r = httpx.post(f"{url}/v1/traces", content=good, headers={**PB, "content-encoding": "gzip"})
    assert r.status_code == 200
    assert httpx.get(f"{url}/api/op/stats").json()["spans"] == 3
    # The IANA-registered spelling of the protobuf type is the same encoding.
    r = httpx.post(f"{url}/v1/traces", content=_request(2, seed=9).SerializeToString(),
                   headers={"content-type": "application/protobuf"})
    assert r.status_code == 200
    assert httpx.get(f"{url}/api/op/stats").json()["spans"] == 5


def test_partial_success_rejects_only_the_bad_spans(server: ServerProcess) -> None:
    body = {"resourceSpans": [{"resource": {"attributes": [{"key": "service.name", "value": {"stringValue": "web"}}]},
             "scopeSpans": [{"spans": [
                 {"traceId": "5b8efff798038103d269b633813fc60c", "spanId": "eee19b7ec3c1b174", "name": "ok",
                  "startTimeUnixNano": "1700000000000000000", "endTimeUnixNano": "1700000000100000000",
                  "kind": 2, "status": {"code": 2, "message": "bad"}, "unknownField": 1},
                 {"traceId": "abcd", "spanId": "eee19b7ec3c1b175", "name": "short-id"},
             ]}]}]}
    r = httpx.post(f"{server.url}/v1/traces", json=body)
    assert r.status_code == 200
    ps = r.json()["partialSuccess"]
    assert ps["rejectedSpans"] == "1" and "trace_id" in ps["errorMessage"]
    span = httpx.get(f"{server.url}/api/op/show", params={"id": "spn_eee19b7ec3c1b174"}).json()
    assert span["span_kind"] == "SERVER" and span["status"] == "ERROR"
    assert span["trace_id"] == "trc_5b8efff798038103d269b633813fc60c"


def test_sigkill_after_ack_loses_nothing(tmp_path) -> None:
    sp = ServerProcess(tmp_path / "kill", jobs=False).start()
    acked = 0
    try:
        with httpx.Client() as client:
            for seed in range(40):
                r = client.post(f"{sp.url}/v1/traces", content=_request(250, seed).SerializeToString(), headers=PB)
                assert r.status_code == 200
                ExportTraceServiceResponse().ParseFromString(r.content)
                acked += 250
    finally:
        sp.kill()
    assert os.path.exists(tmp_path / "kill" / "runbrief.duckdb")
    with Store.open(tmp_path / "kill") as s:
        assert s.scalar("SELECT count(*) FROM spans") == acked


def test_full_write_queue_answers_503_with_retry_after(tmp_path) -> None:
    store = Store.open(tmp_path / "s")
    server = RunbriefServer(store, ServerConfig(max_pending_records=100, jobs=False))
    app = build_app(server)
    # Hold the store's write lock so the writer thread blocks and the queue fills.
    store._write_lock.acquire()
    accepted = []
    try:
        accepted.append(server.queue.submit(Batch(spans=[])))  # an empty batch is accepted
        with pytest.raises(Overloaded):
            for _ in range(5):
                accepted.append(server.queue.submit(_batch(80)))
        with TestClient(app, base_url="http://127.0.0.1") as client:
            r = client.post("/v1/traces", content=_request(50).SerializeToString(), headers=PB)
            assert r.status_code == 503
            assert r.headers["retry-after"].isdigit()
    finally:
        store._write_lock.release()
    for fut in accepted:  # what was accepted is still written once the writer can go on
        fut.result(10)
    server.close()
    store.close()


def _batch(n: int) -> Batch:
    from runbrief.ingest.otlp import walk_traces

    return walk_traces(_request(n, seed=threading.get_ident() % 1000)).batch


def test_zstd_and_deflate_bodies_as_the_collector_sends_them(server: ServerProcess) -> None:
    import zlib

    import zstandard

    url = server.url
    before = httpx.get(f"{url}/api/op/stats").json()["spans"]
    raw = _request(4, seed=21).SerializeToString()
    r = httpx.post(f"{url}/v1/traces", content=zstandard.ZstdCompressor().compress(raw),
                   headers={**PB, "content-encoding": "zstd"})
    assert r.status_code == 200, _status(r)
    r = httpx.post(f"{url}/v1/traces", content=zlib.compress(_request(3, seed=22).SerializeToString()),
                   headers={**PB, "content-encoding": "deflate"})
    assert r.status_code == 200, _status(r)
    raw_deflate = zlib.compressobj(wbits=-zlib.MAX_WBITS)
    body = raw_deflate.compress(_request(2, seed=23).SerializeToString()) + raw_deflate.flush()
    r = httpx.post(f"{url}/v1/traces", content=body, headers={**PB, "content-encoding": "deflate"})
    assert r.status_code == 200, _status(r)
    assert httpx.get(f"{url}/api/op/stats").json()["spans"] == before + 9

    bomb = zstandard.ZstdCompressor(level=19).compress(b"\0" * (200 * 1024 * 1024))
    assert len(bomb) < 1024 * 1024
    r = httpx.post(f"{url}/v1/traces", content=bomb, headers={**PB, "content-encoding": "zstd"})
    assert r.status_code == 413
    z = zstandard.ZstdCompressor().compress(raw * 50)
    r = httpx.post(f"{url}/v1/traces", content=z[: len(z) // 2], headers={**PB, "content-encoding": "zstd"})
    assert r.status_code == 400 and "zstd" in _status(r)
    r = httpx.post(f"{url}/v1/traces", content=raw, headers={**PB, "content-encoding": "br"})
    assert r.status_code == 415 and "encoding" in _status(r)
    assert httpx.get(f"{url}/api/op/stats").json()["spans"] == before + 9
