"""The Sentry envelope endpoint under bad input and load: never a 500, Sentry's own statuses."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import pytest
from starlette.testclient import TestClient

from runbrief.server.app import RunbriefServer, ServerConfig, build_app
from runbrief.store.duck import Store

DATA = Path(__file__).resolve().parents[1] / "data" / "sentry"
ENV = {"Content-Type": "application/x-sentry-envelope", "X-Sentry-Auth": "Sentry sentry_key=k, sentry_version=7"}


@pytest.fixture
def client(tmp_path: Path):  # noqa: ANN201
    store = Store.open(tmp_path / "s")
    server = RunbriefServer(store, ServerConfig(jobs=False, ingest_workers=0, max_body_bytes=200_000))
    with TestClient(build_app(server), base_url="http://127.0.0.1") as c:
        yield c, server
    server.close()
    store.close()


def test_garbage_gets_a_named_4xx_never_a_500(client) -> None:  # noqa: ANN001
    c, _ = client
    bodies = [b"", b"not json at all", b"{\"event_id\":1}\n{not an item header}\n", b"[1,2,3]\n",
              b"{\"event_id\":\"x\"}\n{\"type\":\"transaction\",\"length\":999}\n{\"type\":\"transaction\"}",
              b"\xff\xfe\x00\x01" * 50]
    for body in bodies:
        r = c.post("/api/1/envelope/", content=body, headers=ENV)
        assert r.status_code in (200, 400), (body[:40], r.status_code, r.text)
    r = c.post("/api/1/envelope/", content=b"\x1f\x8b\x08junk", headers={**ENV, "Content-Encoding": "gzip"})
    assert r.status_code == 400 and "decompress" in r.json()["detail"]
    r = c.post("/api/1/envelope/", content=b"x" * 300_000, headers=ENV)
    assert r.status_code == 413


def test_a_gzipped_envelope_and_the_legacy_store_endpoint(client) -> None:  # noqa: ANN001
    c, server = client
    body = (DATA / "scenarios" / "n1-db.envelope").read_bytes()
    r = c.post("/api/3/envelope/", content=gzip.compress(body), headers={**ENV, "Content-Encoding": "gzip"})
    assert r.status_code == 200 and r.json()["spans"] > 5 and r.json()["id"]
    event = json.loads(body.split(b"\n")[2])
    event["event_id"] = "0" * 32
    r = c.post("/api/3/store/", content=json.dumps(event), headers={**ENV, "Content-Type": "application/json"})
    assert r.status_code == 200 and r.json()["spans"] > 5
    assert server.store.scalar("SELECT count(DISTINCT trace_id) FROM spans") == 1  # the same transaction twice


def test_a_full_queue_is_a_429_with_retry_after(tmp_path: Path) -> None:
    store = Store.open(tmp_path / "s")
    server = RunbriefServer(store, ServerConfig(jobs=False, ingest_workers=0, max_pending_records=5))
    store._write_lock.acquire()  # the writer blocks: what is accepted stays pending
    held = None
    try:
        from runbrief.ingest.pipeline import Batch
        from runbrief.ingest.sentry import SentryReader

        r0 = SentryReader()
        r0.envelope((DATA / "scenarios" / "plain.envelope").read_bytes())
        held = server.queue.submit(Batch(spans=r0.batch.spans))
        with TestClient(build_app(server), base_url="http://127.0.0.1") as c:
            r = c.post("/api/1/envelope/", content=(DATA / "scenarios" / "n1-db.envelope").read_bytes(), headers=ENV)
        assert r.status_code == 429 and r.headers["retry-after"].isdigit()
    finally:
        store._write_lock.release()
    if held is not None:
        held.result(10)
    server.close()
    store.close()
