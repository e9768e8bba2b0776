"""The server's ingest workers: requests split by service, one miner per service, the
service map kept across restarts, and a worker that dies is replaced without losing
anything acknowledged."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import httpx
import orjson
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from opentelemetry.proto.logs.v1.logs_pb2 import LogRecord, ResourceLogs, ScopeLogs

from runbrief.store.duck import Store
from runbrief.testing import ServerProcess

PB = {"content-type": "application/x-protobuf"}
T0 = 1_772_409_600 * 10**9


def _resource_logs(service: str, bodies: list[str], start: int = 0) -> ResourceLogs:
    rl = ResourceLogs(scope_logs=[ScopeLogs()])
    rl.resource.attributes.add(key="service.name").value.string_value = service
    for i, body in enumerate(bodies):
        lr = LogRecord(time_unix_nano=T0 + (start + i) * 10**9, severity_number=9)
        lr.body.string_value = body
        rl.scope_logs[0].log_records.append(lr)
    return rl


def _request(services: dict[str, list[str]], start: int = 0) -> bytes:
    return ExportLogsServiceRequest(
        resource_logs=[_resource_logs(s, b, start) for s, b in services.items()]).SerializeToString()


def _workers(pid: int) -> list[int]:
    out = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                parent = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
                if parent == pid and b"spawn_main" in (entry / "cmdline").read_bytes():
                    out.append(int(entry.name))
            except (OSError, ValueError):
                continue
    return out


def _post(url: str, body: bytes, headers: dict[str, str] = PB) -> httpx.Response:
    for _ in range(50):  # 503 is the retryable answer; anything else is final
        r = httpx.post(f"{url}/v1/logs", content=body, headers=headers, timeout=30)
        if r.status_code != 503:
            return r
        time.sleep(0.2)
    return r


def _lines(n: int, what: str) -> list[str]:
    return [f"{what} {i} took {i * 3} ms" for i in range(n)]


def test_a_request_from_several_services_is_split_and_each_service_stays_with_one_miner(tmp_path: Path) -> None:
    store = tmp_path / "s"
    services = {f"svc-{k}": _lines(20, f"job-{k} finished") for k in range(4)}
    services["svc-0"] += ["cache warmed in 12 ms"] * 5
    services["svc-3"] += ["cache warmed in 15 ms"] * 5
    with ServerProcess(store, jobs=False, extra_args=["--ingest-workers", "2"]) as sp:
        assert httpx.get(f"{sp.url}/api/health").json()["ingest_workers"] == 2
        r = _post(sp.url, _request(services))
        assert r.status_code == 200, r.text
        # the same services again, as OTLP/JSON, one request holding them all
        js = {"resourceLogs": [{"resource": {"attributes": [{"key": "service.name", "value": {"stringValue": s}}]},
                                "scopeLogs": [{"logRecords": [
                                    {"timeUnixNano": str(T0 + (100 + i) * 10**9), "body": {"stringValue": b}}
                                    for i, b in enumerate(bodies)]}]} for s, bodies in services.items()]}
        r = _post(sp.url, orjson.dumps(js), {"content-type": "application/json"})
        assert r.status_code == 200, r.text
        stats = httpx.get(f"{sp.url}/api/op/stats").json()
        assert stats["logs"] == 2 * sum(len(b) for b in services.values())
    with Store.open(store) as s:
        per_service = {r["service"]: r["n"] for r in s.query("SELECT service, count(*) n FROM logs GROUP BY 1")}
        assert per_service == {k: 2 * len(v) for k, v in services.items()}
        # a template shared by two services, mined in whichever workers own them, is one pattern
        shared = s.query("SELECT DISTINCT pattern_id FROM logs WHERE body LIKE 'cache warmed%'")
        assert len(shared) == 1
        # every pattern the logs cite has its row, with a real template
        orphans = s.scalar("""SELECT count(*) FROM (SELECT DISTINCT pattern_id FROM logs) l
                              LEFT JOIN patterns p USING (pattern_id) WHERE p.template IS NULL OR p.template = ''""")
        assert orphans == 0
        routes = orjson.loads(bytes(s.scalar("SELECT state FROM miner_state WHERE key = 'routes/2'")))
        assert set(routes) == set(services) and set(routes.values()) == {0, 1}  # spread over both workers
        assert s.scalar("SELECT count(*) FROM miner_state WHERE key LIKE 'miner:%/2'") == 2
    # a restart keeps each service with its worker
    with ServerProcess(store, jobs=False, extra_args=["--ingest-workers", "2"]) as sp:
        assert _post(sp.url, _request({"svc-new": _lines(3, "hello")}, start=500)).status_code == 200
    with Store.open(store) as s:
        again = orjson.loads(bytes(s.scalar("SELECT state FROM miner_state WHERE key = 'routes/2'")))
        assert {k: again[k] for k in routes} == routes and "svc-new" in again


def test_a_worker_that_dies_is_replaced_and_nothing_acknowledged_is_lost(tmp_path: Path) -> None:
    store = tmp_path / "s"
    acked = 0
    with ServerProcess(store, jobs=False, extra_args=["--ingest-workers", "2"]) as sp:
        assert _post(sp.url, _request({"api": _lines(50, "request")})).status_code == 200
        acked += 50
        victims = _workers(sp.proc.pid)  # type: ignore[union-attr]
        assert len(victims) == 2
        for pid in victims:
            os.kill(pid, signal.SIGKILL)
        for k in range(5):
            r = _post(sp.url, _request({"api": _lines(50, "request")}, start=100 * (k + 1)))
            assert r.status_code == 200, r.text
            acked += 50
        assert not set(_workers(sp.proc.pid)) & set(victims)  # type: ignore[union-attr]
        assert httpx.get(f"{sp.url}/api/op/stats").json()["logs"] == acked


def test_the_router_counts_what_the_decoder_will_find() -> None:
    """Log IDs are reserved from the router's count, so it must match the decoder's for
    every spelling OTLP allows (protobuf; JSON in lowerCamelCase and snake_case)."""
    from runbrief.ingest import otlp
    from runbrief.server.ingest import _split_json, _split_protobuf

    body = _request({"a": _lines(3, "x"), "b": _lines(2, "y"), "c": []})
    parts, count = _split_protobuf("logs", body)
    assert count == len(otlp.decode("logs", body).batch.logs) == 5
    assert sorted((svc, n) for svc, _, n in parts) == [("a", 3), ("b", 2), ("c", 0)]
    assert sum(len(otlp.decode("logs", part).batch.logs) for _, part, _ in parts) == 5
    for outer, scope, recs in (("resourceLogs", "scopeLogs", "logRecords"),
                               ("resource_logs", "scope_logs", "log_records")):
        doc = {outer: [{"resource": {"attributes": [{"key": "service.name", "value": {"stringValue": s}}]},
                        scope: [{recs: [{"body": {"stringValue": f"{s} {i}"}} for i in range(n)]}]}
                       for s, n in (("a", 3), ("b", 4))]}
        raw = orjson.dumps(doc)
        parts, count = _split_json("logs", raw)
        assert count == len(otlp.decode("logs", raw, otlp.JSON).batch.logs) == 7
        assert sorted((svc, n) for svc, _, n in parts) == [("a", 3), ("b", 4)]
        assert sum(len(otlp.decode("logs", part, otlp.JSON).batch.logs) for _, part, _ in parts) == 7


def test_workers_leave_with_a_server_that_is_killed(tmp_path: Path) -> None:
    sp = ServerProcess(tmp_path / "s", jobs=False, extra_args=["--ingest-workers", "2"]).start()
    try:
        assert _post(sp.url, _request({"api": _lines(5, "request")})).status_code == 200
        workers = _workers(sp.proc.pid)  # type: ignore[union-attr]
        assert len(workers) == 2
    finally:
        sp.kill()
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and any(Path(f"/proc/{pid}").exists() for pid in workers):
        time.sleep(0.1)
    alive = [pid for pid in workers if Path(f"/proc/{pid}").exists()
             and Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"]
    assert not alive


def test_workers_leave_with_a_server_that_stops(tmp_path: Path) -> None:
    with ServerProcess(tmp_path / "s", jobs=False, extra_args=["--ingest-workers", "2"]) as sp:
        assert _post(sp.url, _request({"api": _lines(5, "request")})).status_code == 200
        workers = _workers(sp.proc.pid)  # type: ignore[union-attr]
        assert len(workers) == 2
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and any(Path(f"/proc/{pid}").exists() for pid in workers):
        time.sleep(0.1)
    assert not [pid for pid in workers if Path(f"/proc/{pid}").exists()]


def test_without_workers_the_server_prepares_in_process(tmp_path: Path) -> None:
    """`--ingest-workers 0` (the default on one core): the same answers, mined in the server."""
    with ServerProcess(tmp_path / "s", jobs=False, extra_args=["--ingest-workers", "0"]) as sp:
        assert httpx.get(f"{sp.url}/api/health").json()["ingest_workers"] == 0
        assert not _workers(sp.proc.pid)  # type: ignore[union-attr]
        r = _post(sp.url, _request({"a": _lines(4, "job done"), "b": ["cache warmed in 12 ms"] * 3}))
        assert r.status_code == 200, r.text
        r = httpx.post(f"{sp.url}/v1/logs", content=b"\x0a\xff\xff", headers=PB)
        assert r.status_code == 400
        stats = httpx.get(f"{sp.url}/api/op/stats").json()
        assert stats["logs"] == 7
        pats = httpx.get(f"{sp.url}/api/op/patterns").json()["patterns"]
        assert {p["template"] for p in pats} == {"job done <*> took <*> ms", "cache warmed in <*> ms"}


def test_a_read_right_after_a_burst_sees_every_acknowledged_line_in_the_patterns(tmp_path: Path) -> None:
    """Under load the writer holds derived rows (pattern counts) for a fold; an operation
    that reads folds them first, so the counts agree with the logs the moment the last
    request is acknowledged, without waiting for the writer's timer."""
    from concurrent.futures import ThreadPoolExecutor

    def send(k: int) -> int:
        body = _request({f"svc-{k % 3}": [f"order {k * 100 + i} shipped in {i} ms" for i in range(40)]
                         + [f"cache warmed in {k} ms"] * 10}, start=k * 50)
        return _post(url, body).status_code

    with ServerProcess(tmp_path / "s", jobs=False) as sp:
        url = sp.url
        with ThreadPoolExecutor(6) as ex:
            assert set(ex.map(send, range(30))) == {200}
        pats = httpx.get(f"{url}/api/op/patterns", params={"limit": 50}).json()["patterns"]
        counts = {p["template"]: p["count"] for p in pats}
        assert counts == {"order <*> shipped in <*> ms": 1200, "cache warmed in <*> ms": 300}, counts
        stats = httpx.get(f"{url}/api/op/stats").json()
        assert stats["logs"] == 1500


def test_miner_states_held_back_under_load_are_saved_when_the_server_stops(tmp_path: Path) -> None:
    """Workers send their miner's state at most every STATE_EVERY_S; what they hold back at
    the end is committed on a clean stop, so a restart knows every pattern learned."""
    from runbrief.distill.distiller import Distiller

    store = tmp_path / "s"
    words = ["alpha", "bravo", "charlie", "delta", "echo", "foxtrot"]
    with ServerProcess(store, jobs=False, extra_args=["--ingest-workers", "1"]) as sp:
        t = time.monotonic()
        for k, w in enumerate(words):  # each request teaches the miner a new template
            r = _post(sp.url, _request({"svc": [f"{w} stage {k} done for job {i}" for i in range(10)]}, 20 * k))
            assert r.status_code == 200, r.text
        assert time.monotonic() - t < 2.0, "too slow to exercise the throttle"
    with Store.open(store) as s:
        cited = {r["pattern_id"] for r in s.query("SELECT DISTINCT pattern_id FROM logs")}
        state = bytes(s.scalar("SELECT state FROM miner_state WHERE key = 'miner:0/1'"))
    assert len(cited) == len(words)
    known = {c.pattern_id for c in Distiller(state).miner.clusters.values()}
    assert cited <= known
