"""Overload: 10x the sustainable OTLP rate against a real `runbrief serve` (issue 16).

1. Sustainable rate: `--clients` senders post OTLP/HTTP log requests back to back for
   `--warmup` seconds; records acknowledged per second is the rate the server sustains.
2. Overload: for `--seconds`, requests of the noisy service are fired open-loop at 10x that
   rate (from up to `--concurrency` threads), while one quiet service sends one request every
   0.5 s. Counted per service: 200s, 503s (and whether each carried Retry-After), any other
   status, the quiet service's latencies; sampled every 0.2 s: the RSS of the server and its
   ingest workers together.
3. SIGKILL the server at the end, reopen the store, and count the log rows: every record
   acknowledged with a 200 must be there.

    .venv/bin/python bench/overload.py [--seconds 60] [--warmup 10] [--src /tmp/base/src]

``--src`` runs the server from another source tree (a baseline commit in a git worktree).
"""

from __future__ import annotations

import argparse
import contextlib
import os
import statistics
import tempfile
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
from opentelemetry.proto.logs.v1.logs_pb2 import LogRecord, ResourceLogs, ScopeLogs
from opentelemetry.proto.resource.v1.resource_pb2 import Resource

from runbrief.store.duck import Store
from runbrief.testing import ServerProcess

ROOT = Path(__file__).resolve().parents[1]
LINES = [ln for p in sorted((ROOT / "tests" / "data" / "logs" / "loghub-more").glob("*.log"))
         for ln in p.read_text(errors="replace").splitlines() if ln.strip()]
PB = {"Content-Type": "application/x-protobuf"}


def body(service: str, n: int, offset: int) -> bytes:
    res = Resource(attributes=[KeyValue(key="service.name", value=AnyValue(string_value=service))])
    t0 = time.time_ns()
    recs = [LogRecord(time_unix_nano=t0 + i, severity_number=9,
                      body=AnyValue(string_value=LINES[(offset + i) % len(LINES)])) for i in range(n)]
    req = ExportLogsServiceRequest(resource_logs=[ResourceLogs(resource=res, scope_logs=[ScopeLogs(log_records=recs)])])
    return req.SerializeToString()


def rss_tree(pid: int) -> int:
    """RSS in bytes of ``pid`` and its children (the ingest workers)."""
    total = 0
    pids = [pid]
    with contextlib.suppress(OSError):
        pids += [int(c) for c in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    for p in pids:
        try:
            for line in Path(f"/proc/{p}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1]) * 1024
        except OSError:
            pass
    return total


class Tally:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.status: Counter[tuple[str, int]] = Counter()
        self.no_retry_after = 0
        self.acked = 0
        self.quiet_ms: list[float] = []
        self.noisy_ok_ms: list[float] = []
        self.quiet_refusals: Counter[str] = Counter()

    def add(self, svc: str, code: int, n: int, retry_after: str | None, ms: float) -> None:
        with self.lock:
            self.status[(svc, code)] += 1
            if code == 200:
                self.acked += n
            if code == 503 and not (retry_after or "").isdigit():
                self.no_retry_after += 1
            if svc == "quiet":
                self.quiet_ms.append(ms)
            elif code == 200:
                self.noisy_ok_ms.append(ms)


def post(client: httpx.Client, url: str, svc: str, data: bytes, n: int, tally: Tally) -> None:
    t = time.perf_counter()
    try:
        r = client.post(f"{url}/v1/logs", content=data, headers=PB, timeout=30)
        code, ra = r.status_code, r.headers.get("retry-after")
    except httpx.HTTPError:
        code, ra = 0, None
    tally.add(svc, code, n, ra, (time.perf_counter() - t) * 1e3)
    if svc == "quiet" and code == 503:
        from google.rpc.status_pb2 import Status

        msg = Status.FromString(r.content).message
        with tally.lock:
            tally.quiet_refusals[msg.split("(")[0][:60]] += 1


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seconds", type=float, default=60)
    ap.add_argument("--warmup", type=float, default=10)
    ap.add_argument("--records", type=int, default=2000, help="log records per request")
    ap.add_argument("--clients", type=int, default=2)
    ap.add_argument("--concurrency", type=int, default=64)
    ap.add_argument("--src", help="run the server from this source folder (PYTHONPATH)")
    args = ap.parse_args()
    payloads = [body("noisy", args.records, k * args.records) for k in range(8)]
    quiet_body = body("quiet", 20, 0)
    print(f"request: {args.records} records, {len(payloads[0]) / 1e6:.2f} MB")
    with tempfile.TemporaryDirectory() as tmp:
        env = {"PYTHONPATH": str(Path(args.src).resolve())} if args.src else None
        sp = ServerProcess(Path(tmp) / "store", grpc=False, jobs=False, env=env).start()
        url = sp.url
        assert sp.proc is not None
        pid = sp.proc.pid
        warm = Tally()
        stop = time.monotonic() + args.warmup

        def sender(k: int) -> None:
            with httpx.Client() as c:
                i = k
                while time.monotonic() < stop:
                    post(c, url, "noisy", payloads[i % len(payloads)], args.records, warm)
                    i += 1

        t0 = time.monotonic()
        with ThreadPoolExecutor(args.clients) as ex:
            list(ex.map(sender, range(args.clients)))
        rate = warm.acked / (time.monotonic() - t0)
        print(f"sustainable: {rate:,.0f} records/s ({dict(warm.status)})")

        tally = Tally()
        tally.acked = warm.acked
        interval = args.records / (10 * rate)  # one request this often = 10x the rate
        rss: list[int] = []
        done = threading.Event()

        def sample() -> None:
            while not done.is_set():
                rss.append(rss_tree(pid))
                time.sleep(0.2)

        def quiet() -> None:
            with httpx.Client() as c:
                while not done.is_set():
                    post(c, url, "quiet", quiet_body, 20, tally)
                    time.sleep(0.5)

        threads = [threading.Thread(target=sample), threading.Thread(target=quiet)]
        for th in threads:
            th.start()
        clients = threading.local()
        slots = threading.BoundedSemaphore(args.concurrency)

        def fire(i: int) -> None:
            try:
                if not hasattr(clients, "c"):
                    clients.c = httpx.Client()
                post(clients.c, url, "noisy", payloads[i % len(payloads)], args.records, tally)
            finally:
                slots.release()

        start = time.monotonic()
        sent = skipped = 0
        with ThreadPoolExecutor(args.concurrency) as ex:
            while (now := time.monotonic()) < start + args.seconds:
                due = int((now - start) / interval) + 1
                while sent + skipped < due:
                    if slots.acquire(blocking=False):  # open loop: no free sender means the request is dropped
                        ex.submit(fire, sent)
                        sent += 1
                    else:
                        skipped += 1
                time.sleep(min(interval, 0.01))
            sp.kill()  # SIGKILL mid-stream: requests in flight get no answer (not acknowledged)
            done.set()
        for th in threads:
            th.join()
        with Store.open(Path(tmp) / "store") as s:
            stored = s.scalar("SELECT count(*) FROM logs")
    st = tally.status
    noisy_ok, noisy_503 = st[("noisy", 200)], st[("noisy", 503)]
    other = {k: v for k, v in st.items() if k[1] not in (200, 503, 0)}
    q = sorted(tally.quiet_ms)
    print(f"offered: {sent + skipped} noisy requests in {args.seconds:.0f} s (10x = {10 * rate:,.0f} records/s); "
          f"{skipped} not sent (all {args.concurrency} senders busy)")
    nq = sorted(tally.noisy_ok_ms)
    if nq:
        print(f"noisy 200 latency: p50 {statistics.median(nq):.0f} ms, p99 {nq[int(len(nq) * 0.99)]:.0f} ms, "
              f"max {nq[-1]:.0f} ms")
    print(f"noisy: {noisy_ok} x 200, {noisy_503} x 503, {st[('noisy', 0)]} cut by the kill; other statuses: {other}")
    print(f"503 without Retry-After: {tally.no_retry_after}")
    print(f"quiet: {st[('quiet', 200)]} x 200, {st[('quiet', 503)]} x 503; latency p50 "
          f"{statistics.median(q) if q else float('nan'):.0f} ms, p99 {q[int(len(q) * 0.99)] if q else float('nan'):.0f} ms")
    if tally.quiet_refusals:
        print(f"quiet refused because: {dict(tally.quiet_refusals)}")
    print(f"server RSS (with workers): median {statistics.median(rss) / 2**20:.0f} MiB, peak {max(rss) / 2**20:.0f} MiB")
    print(f"acknowledged {tally.acked} records, stored after SIGKILL {stored}: lost {max(0, tally.acked - stored)}")
    print(f"machine: {os.cpu_count()} cores; load {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
