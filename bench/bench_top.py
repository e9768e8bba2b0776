#!/usr/bin/env python3
"""`runbrief top`'s CPU while ~100k log lines/s arrive: the live view must stay under 10% of a core.

A real `runbrief serve` takes OTLP/HTTP log batches (real Loghub lines from tests/data,
10 services, 2,000 records a request) from a paced sender process at ``--rate`` records/s;
meanwhile `runbrief top --store <the served store>` runs in a real terminal (a tmux pane,
120x40), finds the server through its server.json and refreshes every second. Over the
measured window the top process's own CPU time (utime + stime from /proc/<pid>/stat,
the whole process: UI thread, fetch thread, rendering) is divided by the wall time. The
pane is captured every second to check the view really refreshed (its line count grows).
The `top` operation's latency as the loaded server answers it is sampled too, and its
cost in process over a full hour of count rows (10 services x 300 patterns).

    .venv/bin/python bench/bench_top.py [--rate 100000] [--seconds 30] [--runs 3]

Prints one JSON object: per run and the medians.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import random
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from opentelemetry.proto.logs.v1.logs_pb2 import LogRecord, ResourceLogs, ScopeLogs

from runbrief.testing import ServerProcess

LOGHUB = Path(__file__).resolve().parents[1] / "tests" / "data" / "loghub-2k"
BATCH = 2000
_TCK = os.sysconf("SC_CLK_TCK")


def _cpu_s(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / _TCK


def payloads(n: int, seed: int = 7) -> list[bytes]:
    """``n`` requests of BATCH records stamped now (so they land in the view's last hour)."""
    rng = random.Random(seed)
    lines = [ln for f in sorted(LOGHUB.glob("*/*_2k.log")) for ln in f.read_text(errors="replace").splitlines()]
    now = time.time_ns()
    out = []
    for b in range(n):
        req = ExportLogsServiceRequest()
        rl = ResourceLogs(scope_logs=[ScopeLogs()])
        rl.resource.attributes.add(key="service.name").value.string_value = f"svc-{b % 10:02d}"
        recs = rl.scope_logs[0].log_records
        for i in range(BATCH):
            lr = LogRecord(time_unix_nano=now + (b * BATCH + i) * 1000, severity_number=rng.choice((9, 9, 9, 13, 17)))
            lr.body.string_value = rng.choice(lines)
            recs.append(lr)
        req.resource_logs.append(rl)
        out.append(req.SerializeToString())
    return out


def _send(url: str, rate: float, seconds: float, conns: int, q: mp.Queue) -> None:
    """Post the pool of requests round-robin, paced to ``rate`` records/s, for ``seconds``."""
    from concurrent.futures import ThreadPoolExecutor

    import httpx

    pool = payloads(40)
    start = time.monotonic()
    per = BATCH / rate
    sent = [0] * conns
    refused = [0] * conns

    def run(k: int) -> None:
        with httpx.Client(timeout=120) as c:
            i = k
            while True:
                due = start + i * per
                if due - start > seconds:
                    return
                wait = due - time.monotonic()
                if wait > 0:
                    time.sleep(wait)
                r = c.post(f"{url}/v1/logs", content=pool[i % len(pool)],
                           headers={"Content-Type": "application/x-protobuf"})
                if r.status_code == 200:
                    sent[k] += BATCH
                else:
                    refused[k] += BATCH
                i += conns

    with ThreadPoolExecutor(conns) as ex:
        list(ex.map(run, range(conns)))
    q.put({"records": sum(sent), "refused": sum(refused), "elapsed": time.monotonic() - start})


def _tmux(sock: str, *args: str) -> str:
    return subprocess.run(["tmux", "-L", sock, *args], capture_output=True, text=True, timeout=10,
                          check=True).stdout


def one_run(rate: float, seconds: float, warmup: float, conns: int) -> dict[str, float]:
    import httpx

    sock = f"bench-top-{os.getpid()}"
    with tempfile.TemporaryDirectory() as d, ServerProcess(Path(d) / "store", grpc=False, jobs=False) as sp:
        ctx = mp.get_context("spawn")
        q = ctx.Queue()
        sender = ctx.Process(target=_send, args=(sp.url, rate, seconds + warmup + 2, conns, q))
        sender.start()
        time.sleep(2.0)  # the first lines are in: the view has patterns to show from its first refresh
        env = {k: v for k, v in os.environ.items() if k not in ("RUNBRIEF_URL", "RUNBRIEF_STORE")}
        cmd = f"exec {sys.executable} -m runbrief top --store {Path(d) / 'store'} --interval 1"
        subprocess.run(["tmux", "-L", sock, "-f", "/dev/null", "new-session", "-d", "-x", "120", "-y", "40",
                        "-s", "top", cmd], env=env, check=True, timeout=10)
        try:
            pid = int(_tmux(sock, "list-panes", "-t", "top", "-F", "#{pane_pid}").split()[0])
            time.sleep(warmup)
            cpu0, t0 = _cpu_s(pid), time.monotonic()
            heads, latencies = [], []
            while time.monotonic() - t0 < seconds:
                time.sleep(1.0)
                screen = _tmux(sock, "capture-pane", "-p", "-t", "top")
                heads.append(screen.split("\n", 1)[0])
                if len(heads) % 6 == 0:  # the served operation's latency under the load
                    t = time.perf_counter()
                    httpx.post(f"{sp.url}/api/op/top", json={}, timeout=30).raise_for_status()
                    latencies.append((time.perf_counter() - t) * 1000)
            cpu = _cpu_s(pid) - cpu0
            wall = time.monotonic() - t0
            sent = q.get(timeout=120)
            sender.join(30)
        finally:
            subprocess.run(["tmux", "-L", sock, "kill-server"], capture_output=True, timeout=10)
    counts = [m.group(1) for h in heads if (m := re.search(r"│ ([0-9.]+[kM]?) lines", h))]
    return {
        "top_cpu_percent_of_core": round(100 * cpu / wall, 2),
        "records_per_s_ingested": round(sent["records"] / sent["elapsed"]),
        "refused_per_s": round(sent["refused"] / sent["elapsed"]),
        "screens_captured": len(heads),
        "distinct_line_counts_shown": len(set(counts)),
        "top_op_ms_median": round(statistics.median(latencies), 1) if latencies else None,
    }


def op_cost_full_hour(services: int = 10, patterns: int = 300) -> dict[str, float]:
    """The `top` operation in process over two full hours of count rows (what a store holds
    after an hour at any rate: one row per service, pattern and minute), median of 5."""
    from runbrief import ops
    from runbrief.store.duck import Store

    with tempfile.TemporaryDirectory() as d:
        s = Store.open(Path(d) / "store")
        try:
            con = s._con
            con.execute(f"""INSERT INTO patterns SELECT 'p' || i, 'template ' || i || ' <*>',
                            CASE WHEN i % 7 = 0 THEN 'WARN' ELSE 'INFO' END, now()::TIMESTAMP - INTERVAL 3 HOUR,
                            now()::TIMESTAMP, 0 FROM range({patterns}) t(i)""")
            con.execute(f"""INSERT INTO pattern_counts SELECT 'svc-' || sv, 'p' || p,
                            date_trunc('minute', now()::TIMESTAMP) - m * INTERVAL 1 MINUTE, 100 + p,
                            CASE WHEN p % 11 = 0 THEN 5 ELSE 0 END, NULL, NULL, NULL
                            FROM range({services}) a(sv), range({patterns}) b(p), range(120) c(m)""")
            con.execute("INSERT INTO deploys VALUES (1, now()::TIMESTAMP - INTERVAL 20 MINUTE, 'svc-1', '2', 'c', "
                        "'prod', 'cli', '{}')")
            out = {}
            for name, params in (("all_services", {}), ("one_service", {"service": "svc-1"})):
                times = []
                for _ in range(5):
                    t = time.perf_counter()
                    ops.run(s, "top", params)
                    times.append((time.perf_counter() - t) * 1000)
                out[f"top_op_ms_{name}"] = round(statistics.median(times), 1)
            out["count_rows"] = int(s.scalar("SELECT count(*) FROM pattern_counts"))
            return out
        finally:
            s.close()


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rate", type=float, default=100_000)
    ap.add_argument("--seconds", type=float, default=30)
    ap.add_argument("--warmup", type=float, default=5)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--conns", type=int, default=8)
    args = ap.parse_args()
    if shutil.which("tmux") is None:
        sys.exit("bench_top needs tmux (the view runs in a real terminal)")
    runs = [one_run(args.rate, args.seconds, args.warmup, args.conns) for _ in range(args.runs)]
    keys = [k for k in runs[0] if runs[0][k] is not None]
    print(json.dumps({"runs": runs, "median": {k: statistics.median(r[k] for r in runs if r[k] is not None)
                                                for k in keys}, "rate_asked": args.rate,
                      "op_in_process_full_hour": op_cost_full_hour()}, indent=1))


if __name__ == "__main__":
    main()
