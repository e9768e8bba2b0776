"""A damaged, cut or full store is told apart and said plainly (issue 16, store integrity).

Real DuckDB files in temp dirs, damaged the ways they are in the field: a WAL deleted or
cut after a crash, a database file truncated by a copy, a few bytes flipped on disk, and a
real full filesystem (a small tmpfs; skipped where mounting is not allowed).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
import uuid
from pathlib import Path

import httpx
import pytest

from runbrief.ingest.pipeline import Batch, Pipeline
from runbrief.records import LogRecord, Resource
from runbrief.store.damage import StoreDamaged, StoreFull, classify
from runbrief.store.duck import Store

RES = Resource({"service.name": "shop"})


def _logs(n: int, start: int = 0) -> Batch:
    t0 = time.time_ns() - 3_600 * 10**9
    return Batch(logs=[LogRecord(t0 + (start + i) * 10**6, f"order {start + i} paid in {i % 97} ms", RES)
                       for i in range(n)])


def _crash_copy(src: Path, dst: Path) -> None:
    """The folder as a SIGKILL leaves it: the database, its WAL and the commit count."""
    dst.mkdir()
    for f in src.iterdir():
        if f.is_file():
            shutil.copy(f, dst / f.name)


def test_a_deleted_wal_is_reported_with_the_commits_it_lost(tmp_path: Path) -> None:
    store = Store.open(tmp_path / "live")
    Pipeline(store).write(_logs(500))
    store.scalar("CHECKPOINT")
    Pipeline(store).write(_logs(300, 500))  # in the WAL only
    Pipeline(store).write(_logs(200, 800))
    _crash_copy(tmp_path / "live", tmp_path / "crashed")
    store.close()
    (tmp_path / "crashed" / "runbrief.duckdb.wal").unlink()
    with Store.open(tmp_path / "crashed") as s:
        assert s.lost is not None and "were acknowledged" in s.lost
        assert "write-ahead log" in s.lost and s.lost.split()[0].isdigit() and int(s.lost.split()[0]) >= 2
        assert s.scalar("SELECT count(*) FROM logs") == 500  # what was checkpointed is all that is left
    with Store.open(tmp_path / "crashed") as s:
        assert s.lost is None  # told once


def test_an_intact_crash_is_not_a_loss(tmp_path: Path) -> None:
    store = Store.open(tmp_path / "live")
    Pipeline(store).write(_logs(300))
    Pipeline(store).write(_logs(300, 300))
    _crash_copy(tmp_path / "live", tmp_path / "crashed")
    store.close()
    with Store.open(tmp_path / "crashed") as s:
        assert s.lost is None
        assert s.scalar("SELECT count(*) FROM logs") == 600


def test_a_truncated_database_is_refused_at_open_naming_the_file(tmp_path: Path) -> None:
    with Store.open(tmp_path / "s") as store:
        Pipeline(store).write(_logs(20_000))
    db = tmp_path / "s" / "runbrief.duckdb"
    data = db.read_bytes()
    db.write_bytes(data[: len(data) // 2])
    with pytest.raises(StoreDamaged, match="is damaged") as exc:
        Store.open(tmp_path / "s")
    assert str(db) in str(exc.value) and "backup" in str(exc.value)
    r = subprocess.run([sys.executable, "-m", "runbrief", "stats", "--store", str(tmp_path / "s")],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 1 and "is damaged" in r.stderr and "Traceback" not in r.stderr


def test_flipped_bytes_are_a_damaged_store_not_a_traceback(tmp_path: Path) -> None:
    with Store.open(tmp_path / "s") as store:
        Pipeline(store).write(_logs(30_000))
    db = tmp_path / "s" / "runbrief.duckdb"
    data = bytearray(db.read_bytes())
    for i in range(len(data) // 4, len(data), 4096):  # one byte in every block past the first quarter
        data[i] ^= 0xFF
    db.write_bytes(bytes(data))
    r = subprocess.run([sys.executable, "-m", "runbrief", "logs", "--store", str(tmp_path / "s"), "--limit", "100000"],
                       capture_output=True, text=True, timeout=60)
    if r.returncode == 0:
        pytest.skip("the flipped range held no block this query reads")
    assert "is damaged" in r.stderr and "Traceback" not in r.stderr, r.stderr[-2000:]


def test_classify_tells_full_from_damaged_from_a_bug() -> None:
    full = classify(OSError(28, "No space left on device"), "/s")
    assert isinstance(full, StoreFull) and full.http_status == 503 and full.retry_after > 0
    assert isinstance(classify(RuntimeError('Could not write file "x.wal": No space left on device'), "/s"), StoreFull)
    assert isinstance(classify(RuntimeError("Corrupt database file: computed checksum 1 does not match"), "/s"),
                      StoreDamaged)
    assert classify(RuntimeError("Binder Error: column x not found"), "/s") is None


@pytest.fixture
def small_disk(tmp_path: Path):  # noqa: ANN201
    mnt = tmp_path / f"disk-{uuid.uuid4().hex[:6]}"
    mnt.mkdir()
    r = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=24m", "tmpfs", str(mnt)], capture_output=True, text=True)
    if r.returncode != 0:
        pytest.skip(f"cannot mount a small tmpfs here ({r.stderr.strip()[:80]})")
    try:
        yield mnt
    finally:
        subprocess.run(["umount", "-l", str(mnt)], check=False)


def _otlp_logs(n: int, seed: int) -> bytes:
    from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
    from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
    from opentelemetry.proto.logs.v1.logs_pb2 import LogRecord as PbLog
    from opentelemetry.proto.logs.v1.logs_pb2 import ResourceLogs, ScopeLogs
    from opentelemetry.proto.resource.v1.resource_pb2 import Resource as PbRes

    t0 = time.time_ns()
    recs = [PbLog(time_unix_nano=t0 + i, body=AnyValue(string_value=f"job {seed}-{i} {os.urandom(48).hex()}"))
            for i in range(n)]
    res = PbRes(attributes=[KeyValue(key="service.name", value=AnyValue(string_value="shop"))])
    return ExportLogsServiceRequest(resource_logs=[ResourceLogs(resource=res, scope_logs=[ScopeLogs(log_records=recs)])]
                                    ).SerializeToString()


def test_a_full_disk_answers_503_with_retry_after_and_keeps_what_was_acknowledged(small_disk: Path) -> None:
    from runbrief.testing import ServerProcess

    sp = ServerProcess(small_disk / "store", grpc=False, jobs=False).start()
    acked, full = 0, None
    try:
        with httpx.Client() as client:
            for seed in range(400):
                r = client.post(f"{sp.url}/v1/logs", content=_otlp_logs(2_000, seed),
                                headers={"Content-Type": "application/x-protobuf"}, timeout=60)
                if r.status_code == 200:
                    acked += 2_000
                    continue
                full = r
                break
        assert full is not None, "the disk never filled"
        assert full.status_code == 503 and full.headers["retry-after"].isdigit()
        from google.rpc.status_pb2 import Status

        assert "is full" in Status.FromString(full.content).message
        health = httpx.get(f"{sp.url}/api/health").json()
        assert health["ok"] and "full" in (health["last_write_error"] or "")
    finally:
        sp.kill()
    filler = small_disk / "filler"
    with open(filler, "wb") as f, pytest.raises(OSError):  # whatever room is left, taken
        while True:
            f.write(b"\0" * 65_536)
            f.flush()
    r = subprocess.run([sys.executable, "-m", "runbrief", "serve", "--store", str(small_disk / "store"),
                        "--http-port", "0", "--grpc-port", "-1", "--no-jobs"],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode != 0 and "Traceback" not in r.stderr, r.stderr[-2000:]
    assert "full" in r.stderr or "space" in r.stderr, r.stderr[-2000:]
    filler.unlink()  # room freed, as a user would: every acknowledged record is there
    with Store.open(small_disk / "store", read_only=True) as s:
        assert s.scalar("SELECT count(*) FROM logs") >= acked
