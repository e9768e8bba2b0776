#!/usr/bin/env python3
"""OTLP ingest end to end: records/s through a real `runbrief serve`, against decode-and-walk.

A separate sender process posts pre-encoded, realistic log batches (real Loghub lines,
several services, trace IDs on a share of them, a few attributes) over OTLP/HTTP and
OTLP/gRPC from several connections, each waiting for its answer before the next send (as
an exporter does); the rate counts from the first send to the last acknowledgement (an
acknowledgement means committed). The decode-and-walk rate of the same payloads is
measured in this process in the same run: protobuf parse + walk into records, no store.
Also: store bytes per million log records, the peak RSS of the server and of its ingest
workers, and CPU time per record in each process.

    .venv/bin/python bench/bench_otlp.py [--records 400000] [--runs 3] [--conns 4,10,16]

10 connections is the OpenTelemetry Collector exporter's default (sending_queue
num_consumers); 4 is a light sender; 16 a busy one.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import random
import statistics
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from opentelemetry.proto.logs.v1.logs_pb2 import LogRecord, ResourceLogs, ScopeLogs

from runbrief.ingest import otlp
from runbrief.testing import ServerProcess

LOGHUB = Path(__file__).resolve().parents[2] / "shared" / "data" / "loghub-2k"
BATCH = int(os.environ.get("BENCH_BATCH", "2000"))


def _lines() -> list[str]:
    out: list[str] = []
    for f in sorted(LOGHUB.glob("*/*_2k.log")):
        out.extend(f.read_text(errors="replace").splitlines())
    return out


def make_payloads(n_records: int, seed: int = 7) -> list[bytes]:
    rng = random.Random(seed)
    lines = _lines()
    services = [f"svc-{i:02d}" for i in range(10)]
    payloads = []
    t0 = time.time_ns() - 3600 * 10**9
    for b in range(n_records // BATCH):
        req = ExportLogsServiceRequest()
        svc = services[b % len(services)]
        rl = ResourceLogs(scope_logs=[ScopeLogs()])
        for key, val in (("service.name", svc), ("service.version", "1.0.0"), ("host.name", f"node-{b % 3}")):
            rl.resource.attributes.add(key=key).value.string_value = val
        recs = rl.scope_logs[0].log_records
        for i in range(BATCH):
            lr = LogRecord(time_unix_nano=t0 + (b * BATCH + i) * 1_000_000, severity_number=rng.choice((9, 9, 9, 13, 17)))
            lr.body.string_value = rng.choice(lines)
            if i % 3 == 0:
                lr.trace_id = rng.randbytes(16)
                lr.span_id = rng.randbytes(8)
            a = lr.attributes.add(key="thread.id")
            a.value.int_value = rng.randrange(64)
            recs.append(lr)
        req.resource_logs.append(rl)
        payloads.append(req.SerializeToString())
    return payloads


def decode_rate(payloads: list[bytes]) -> float:
    t = time.perf_counter()
    n = 0
    for body in payloads:
        n += len(otlp.decode("logs", body, otlp.PROTOBUF).batch.logs)
    return n / (time.perf_counter() - t)


def _send_http(url: str, payloads: list[bytes], conns: int, q: mp.Queue) -> None:
    import httpx

    def post(chunk: list[bytes]) -> None:
        with httpx.Client(timeout=120) as c:
            for body in chunk:
                while True:
                    r = c.post(f"{url}/v1/logs", content=body, headers={"content-type": otlp.PROTOBUF})
                    if r.status_code == 200:
                        break
                    if r.status_code in (429, 503):
                        time.sleep(float(r.headers.get("retry-after", "1")))
                        continue
                    raise RuntimeError(f"HTTP {r.status_code}: {r.text[:200]}")

    t = time.perf_counter()
    with ThreadPoolExecutor(conns) as ex:
        list(ex.map(post, [payloads[i::conns] for i in range(conns)]))
    q.put(time.perf_counter() - t)


def _send_grpc(endpoint: str, payloads: list[bytes], conns: int, q: mp.Queue) -> None:
    import grpc
    from opentelemetry.proto.collector.logs.v1 import logs_service_pb2_grpc

    chan = grpc.insecure_channel(endpoint, options=[("grpc.max_send_message_length", 64 * 1024 * 1024)])
    stub = logs_service_pb2_grpc.LogsServiceStub(chan)
    reqs = [ExportLogsServiceRequest.FromString(b) for b in payloads]

    def post(chunk: list[ExportLogsServiceRequest]) -> None:
        for req in chunk:
            while True:
                try:
                    stub.Export(req, timeout=120)
                    break
                except grpc.RpcError as exc:
                    if exc.code() == grpc.StatusCode.UNAVAILABLE:
                        time.sleep(1)
                        continue
                    raise

    t = time.perf_counter()
    with ThreadPoolExecutor(conns) as ex:
        list(ex.map(post, [reqs[i::conns] for i in range(conns)]))
    q.put(time.perf_counter() - t)


def _peak_rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return 0.0


_TCK = os.sysconf("SC_CLK_TCK")


def _cpu_s(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / _TCK


def _workers(pid: int) -> list[int]:
    """The server's ingest worker processes: its children started by multiprocessing's spawn."""
    out = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            parent = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            cmdline = (entry / "cmdline").read_bytes()
        except (OSError, ValueError):
            continue
        if parent == pid and b"spawn_main" in cmdline:
            out.append(int(entry.name))
    return out


def end_to_end(payloads: list[bytes], transport: str, conns: int = 10) -> dict[str, float]:
    n = sum(len(ExportLogsServiceRequest.FromString(p).resource_logs[0].scope_logs[0].log_records) for p in payloads)
    with tempfile.TemporaryDirectory() as d, ServerProcess(Path(d) / "store", jobs=False) as sp:
        import httpx

        for _ in range(100):  # the ingest workers start in the background: let them
            if len(_workers(sp.proc.pid)) >= httpx.get(f"{sp.url}/api/health").json()["ingest_workers"]:  # type: ignore[union-attr]
                break
            time.sleep(0.1)
        procs = [sp.proc.pid, *_workers(sp.proc.pid)]  # type: ignore[union-attr]
        cpu0 = [_cpu_s(pid) for pid in procs]
        ctx = mp.get_context("spawn")
        q = ctx.Queue()
        target = _send_http if transport == "http" else _send_grpc
        dest = sp.url if transport == "http" else sp.grpc_endpoint
        p = ctx.Process(target=target, args=(dest, payloads, conns, q))
        p.start()
        elapsed = q.get()
        p.join()
        cpu = [_cpu_s(pid) - c for pid, c in zip(procs, cpu0, strict=True)]
        rss = _peak_rss_mb(sp.proc.pid)  # type: ignore[union-attr]
        worker_rss = max((_peak_rss_mb(pid) for pid in procs[1:]), default=0.0)
        stored = httpx.get(f"{sp.url}/api/op/stats").json()
        assert stored["logs"] == n, (stored["logs"], n)
        sp.stop()
        db = Path(d) / "store" / "runbrief.duckdb"
        size = db.stat().st_size + (db.with_suffix(".duckdb.wal").stat().st_size if db.with_suffix(".duckdb.wal").exists() else 0)
    return {"records_per_s": n / elapsed, "peak_rss_mb": rss, "worker_peak_rss_mb": worker_rss,
            "store_bytes_per_million": size / n * 1e6, "cpu_us_per_record_server": cpu[0] / n * 1e6,
            "cpu_us_per_record_workers": sum(cpu[1:]) / n * 1e6}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--records", type=int, default=400_000)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--conns", default="10", help="comma-separated sender connection counts")
    ap.add_argument("--transports", default="http,grpc")
    args = ap.parse_args()
    payloads = make_payloads(args.records)
    out: dict[str, object] = {"records": args.records, "batch": BATCH, "runs": args.runs,
                              "cores": len(os.sched_getaffinity(0))}
    walk = [decode_rate(payloads) for _ in range(args.runs)]
    out["decode_walk_records_per_s"] = statistics.median(walk)
    for conns in (int(c) for c in args.conns.split(",")):
        for transport in args.transports.split(","):
            runs = [end_to_end(payloads, transport, conns) for _ in range(args.runs)]
            med = statistics.median(r["records_per_s"] for r in runs)
            out[f"{transport}_{conns}conns"] = {
                "records_per_s": round(med),
                "ratio_to_decode_walk": round(med / out["decode_walk_records_per_s"], 3),  # type: ignore[operator]
                "peak_rss_mb": round(max(r["peak_rss_mb"] for r in runs)),
                "worker_peak_rss_mb": round(max(r["worker_peak_rss_mb"] for r in runs)),
                "store_bytes_per_million_logs": round(statistics.median(r["store_bytes_per_million"] for r in runs)),
                "cpu_us_per_record": {k: round(statistics.median(r[f"cpu_us_per_record_{k}"] for r in runs), 2)
                                      for k in ("server", "workers")},
                "runs": [round(r["records_per_s"]) for r in runs],
            }
            print(json.dumps({f"{transport}_{conns}conns": out[f"{transport}_{conns}conns"]}), file=sys.stderr)
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    sys.setrecursionlimit(10000)
    os.environ.setdefault("PYTHONHASHSEED", "0")
    main()
