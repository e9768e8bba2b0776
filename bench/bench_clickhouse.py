"""Issue 24's benchmark: runbrief on chdb (embedded ClickHouse) against DuckDB, one run.

N log lines of 500 services (real Loghub messages, tests/data/logs/loghub-more, repeated),
two hours, a deploy of ten services at minute 100 after which each of them logs new
patterns (Thunderbird's messages, at ERROR) and one of its own messages far more often.

chdb: the lines are written into ``otel_logs`` in the Collector exporter's column layout
(the Collector's part, timed apart), then ``runbrief store distill`` counts them (the
ingest rate of one node: read, redact, mine, count, write). DuckDB, at N/10 lines in the
same run: the same lines through ``Pipeline.write`` (records built, mined, stored, folded).
Then bytes per line on disk, and ``changes --since-deploy`` / ``changes`` / ``incidents``
latency on each store (median of ``--runs``, the first call apart).

    nice .venv/bin/python bench/bench_clickhouse.py --lines 1000000 --json /tmp/bench_ch.json
"""

from __future__ import annotations

import argparse
import csv
import gc
import os
import re
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import orjson
import pyarrow as pa

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

LOGS = ROOT / "tests" / "data" / "logs" / "loghub-more"
BASE_SETS = ("Android", "Apache", "Hadoop", "HealthApp", "Mac", "OpenSSH", "Zookeeper")
NOVEL_SET = "Thunderbird"  # only after the deploy, only in the deployed services
T0 = 1_777_777_200 * 10**9  # 2026-05-03 03:00:00 UTC
SPAN_MIN = 120  # incidents need 30 minutes of history before their 60-minute window
DEPLOY_MIN = 100
DEPLOYED = 10  # svc-000 .. svc-009
LEVEL = re.compile(r"\b(FATAL|ERROR|WARN|INFO|DEBUG|error|warn|notice|info|E|W|I|D)\b")
NUMBER = {"FATAL": 21, "ERROR": 17, "error": 17, "E": 17, "WARN": 13, "warn": 13, "W": 13, "INFO": 9, "info": 9,
          "I": 9, "notice": 10, "DEBUG": 5, "D": 5}


def messages(dataset: str) -> list[tuple[str, int, str]]:
    """(level text, severity number, message) of a Loghub sample: Content column of its
    structured CSV, the level read from the raw line's header."""
    raw = (LOGS / f"{dataset}_300.log").read_text(errors="replace").splitlines()
    with (LOGS / f"{dataset}_300_structured_corrected.csv").open(newline="") as f:
        content = [r["Content"] for r in csv.DictReader(f)]
    out = []
    for line, msg in zip(raw, content, strict=True):
        m = LEVEL.search(line[: max(0, line.find(msg[:20])) or 80])
        level = m.group(1) if m else ""
        out.append((level.upper() if len(level) > 1 else {"E": "ERROR", "W": "WARN", "I": "INFO",
                                                           "D": "DEBUG"}.get(level, ""), NUMBER.get(level, 0), msg))
    return out


class Lines:
    """The scenario's lines, generated in vectorized chunks (the same for both stores)."""

    def __init__(self, n: int, services: int) -> None:
        self.n, self.services = n, services
        base = [messages(d) for d in BASE_SETS]
        novel = [m for m in messages(NOVEL_SET) if m[2]]
        table = [m for ms in base for m in ms] + [(m[0] or "ERROR", 17, m[2]) for m in novel]
        self.body = pa.array([m[2] for m in table], pa.string())
        self.text = pa.array([m[0] for m in table], pa.string())
        self.number = np.array([m[1] for m in table], np.uint8)
        self.per = np.array([len(ms) for ms in base])
        self.start = np.concatenate([[0], np.cumsum(self.per)[:-1]])
        self.novel_at, self.novel_n = sum(self.per), len(novel)
        # the message each deployed service logs far more often after the deploy
        self.hot = {s: int(self.start[s % len(base)] + 7) for s in range(DEPLOYED)}
        self.names = pa.array([f"svc-{s:03d}" for s in range(services)], pa.string())

    def chunk(self, lo: int, hi: int) -> pa.Table:
        i = np.arange(lo, hi, dtype=np.int64)
        svc = i % self.services
        j = i // self.services
        ds = svc % len(self.per)
        idx = self.start[ds] + (j + svc * 31) % self.per[ds]
        ts = T0 + (i * (SPAN_MIN * 60 * 10**6) // self.n) * 1000  # in us steps: no int64 overflow at 100M
        after = ts >= T0 + DEPLOY_MIN * 60 * 10**9
        dep = after & (svc < DEPLOYED)
        idx = np.where(dep & (j % 10 == 0), self.novel_at + (j // 10) % self.novel_n, idx)
        hot = np.array([self.hot.get(int(s), 0) for s in range(DEPLOYED)] + [0] * (self.services - DEPLOYED))
        idx = np.where(dep & (j % 10 >= 5), hot[svc], idx)
        version = np.where(dep, "1.1", "1.0")
        take = pa.array(idx)
        return pa.table({
            "ts_ns": pa.array(ts, pa.int64()), "service": self.names.take(pa.array(svc)),
            "version": pa.array(version, pa.string()), "severity_text": self.text.take(take),
            "severity_number": pa.array(self.number[idx], pa.uint8()), "body": self.body.take(take),
        })


def _median_ms(fn: Any, runs: int, limit_s: float = 300.0) -> dict[str, Any]:
    """First call, then the median and worst of ``runs`` more. A first call over ``limit_s``
    is left running in its thread and reported as such (the caller then stops querying:
    a chdb store answers one query at a time)."""
    import threading

    box: dict[str, Any] = {}

    def first() -> None:
        try:
            box["got"] = fn()
        except Exception as exc:  # noqa: BLE001 - an operation that does not run there is a figure too
            box["error"] = f"{type(exc).__name__}: {str(exc)[:200]}"

    t = time.perf_counter()
    worker = threading.Thread(target=first, daemon=True)
    worker.start()
    worker.join(limit_s)
    if worker.is_alive():
        return {"error": f"no answer within {limit_s:.0f} s", "stuck": True}
    if "error" in box:
        return {"error": box["error"]}
    first_ms = (time.perf_counter() - t) * 1000
    got = box["got"]
    if isinstance(got, dict):
        got = got.get("items", got.get("patterns", []))
    kinds = sorted({i.get("kind", "") for i in got if isinstance(i, dict)} - {""})
    times = []
    for _ in range(runs):
        t = time.perf_counter()
        fn()
        times.append((time.perf_counter() - t) * 1000)
    return {"first_ms": round(first_ms, 1), "median_ms": round(statistics.median(times), 1),
            "worst_ms": round(max(times), 1), "answers": len(got), **({"kinds": kinds} if kinds else {})}


def _queries(store: Any, runs: int, incidents: bool = True) -> dict[str, Any]:
    from runbrief import ops

    calls = {
        "changes --service svc-003 --since-deploy":
            lambda: ops.run(store, "changes", {"service": "svc-003", "since_deploy": True}),
        "changes --since 20m (all services)":
            lambda: ops.run(store, "changes", {"since": "2026-05-03T04:40:00Z"}),
        "patterns --service svc-003": lambda: ops.run(store, "patterns", {"service": "svc-003"}),
    }
    if incidents:  # last: it may not answer in time, and nothing else can run on chdb after that
        calls["incidents (first call detects)"] = lambda: ops.run(store, "incidents", {})
    out: dict[str, Any] = {}
    for name, fn in calls.items():
        out[name] = _median_ms(fn, runs)
        if out[name].get("stuck"):
            break
    return out


def _load() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


CHUNK = 500_000
RESULT: dict[str, Any] = {}
RESULT_PATH: Path | None = None
COLLECTOR_COLS = ("Timestamp, TraceId, SpanId, TraceFlags, SeverityText, SeverityNumber, ServiceName, Body, "
                  "ResourceSchemaUrl, ResourceAttributes, ScopeSchemaUrl, ScopeName, ScopeVersion, ScopeAttributes, "
                  "LogAttributes")


def bench_chdb(lines: Lines, folder: Path, runs: int) -> dict[str, Any]:
    from runbrief.store.clickhouse.chstore import ChStore
    from runbrief.store.clickhouse.collector import distill

    out: dict[str, Any] = {"lines": lines.n, "load_before": _load()}
    with ChStore.open(folder) as ch, tempfile.TemporaryDirectory() as tmp:
        t = time.perf_counter()
        for lo in range(0, lines.n, CHUNK):
            path = Path(tmp) / "chunk.arrow"
            tbl = lines.chunk(lo, min(lines.n, lo + CHUNK))
            with pa.OSFile(str(path), "wb") as sink, pa.ipc.new_file(sink, tbl.schema) as w:
                w.write_table(tbl)
            ch.execute(
                f"""INSERT INTO otel_logs ({COLLECTOR_COLS})
                    SELECT fromUnixTimestamp64Nano(ts_ns), '', '', 0, severity_text, severity_number, service, body, '',
                           map('service.name', service, 'service.version', version), '', 'app', '1.0', map(), map()
                    FROM file('{path}', Arrow)""")
        out["collector_write_s"] = round(time.perf_counter() - t, 2)
        t, c = time.perf_counter(), time.process_time()
        got = distill(ch, lag_s=0)
        out["distill_s"] = round(time.perf_counter() - t, 2)
        out["distill_cpu_s"] = round(time.process_time() - c, 2)
        out["distill_lines_per_s"] = round(lines.n / out["distill_s"])
        out["distill"] = {k: got[k] for k in ("rows_read", "batches", "patterns", "deploys_inferred", "late")}
        out["load_after_ingest"] = _load()
        parts = ch.execute("SELECT table, sum(bytes_on_disk) b, sum(rows) r FROM system.parts "
                           "WHERE database = currentDatabase() AND active GROUP BY table ORDER BY b DESC")
        out["bytes"] = {p["table"]: int(p["b"]) for p in parts}
        out["count_rows"] = int(ch.scalar("SELECT count(*) FROM pattern_counts"))
        total = sum(out["bytes"].values())
        out["bytes_per_line"] = round(total / lines.n, 1)
        out["otel_logs_bytes_per_line"] = round(out["bytes"].get("otel_logs", 0) / lines.n, 1)
        out["pattern_counts_parts"] = int(ch.scalar(
            "SELECT count(*) FROM system.parts WHERE database = currentDatabase() AND active AND table = 'pattern_counts'"))
        # as distilled, then as background merges leave it on a server (one part: FINAL
        # reads no longer merge parts), incidents last
        out["queries"] = _queries(ch, runs, incidents=False)
        t = time.perf_counter()
        ch.execute("OPTIMIZE TABLE pattern_counts FINAL")
        out["optimize_final_s"] = round(time.perf_counter() - t, 2)
        out["queries_after_optimize_final"] = _queries(ch, runs)
        out["load_after"] = _load()
        if any(q.get("stuck") for q in out["queries_after_optimize_final"].values()):
            print(orjson.dumps(out, option=orjson.OPT_INDENT_2).decode(), flush=True)
            if RESULT_PATH is not None:
                RESULT_PATH.write_bytes(orjson.dumps({**RESULT, "chdb": out}, option=orjson.OPT_INDENT_2))
            os._exit(0)  # the stuck query holds the engine; the figures are written
    return out


def bench_duck(lines: Lines, folder: Path, runs: int) -> dict[str, Any]:
    from runbrief.ingest.pipeline import Batch, Pipeline
    from runbrief.records import LogRecord, Resource
    from runbrief.store.duck import Store

    out: dict[str, Any] = {"lines": lines.n, "load_before": _load()}
    with Store.open(folder) as store:
        pipe = Pipeline(store)
        res: dict[tuple[str, str], Resource] = {}
        t, c = time.perf_counter(), time.process_time()
        step = 20_000
        for lo in range(0, lines.n, step):
            tbl = lines.chunk(lo, min(lines.n, lo + step))
            cols = [tbl.column(k).to_pylist() for k in ("ts_ns", "service", "version", "severity_text",
                                                       "severity_number", "body")]
            recs = []
            for ts, svc, ver, text, num, body in zip(*cols, strict=True):
                r = res.get((svc, ver))
                if r is None:
                    r = res[(svc, ver)] = Resource({"service.name": svc, "service.version": ver})
                recs.append(LogRecord(ts_ns=ts, body=body, resource=r, severity_number=num, severity_text=text))
            pipe.write(Batch(logs=recs))
        if store.settle is not None:
            store.settle()
        out["ingest_s"] = round(time.perf_counter() - t, 2)
        out["ingest_cpu_s"] = round(time.process_time() - c, 2)
        out["ingest_lines_per_s"] = round(lines.n / out["ingest_s"])
        out["load_after_ingest"] = _load()
        out["count_rows"] = int(store.scalar("SELECT count(*) FROM pattern_counts"))
        out["deploys"] = int(store.scalar("SELECT count(*) FROM deploys"))
        with store.write() as con:
            con.execute("CHECKPOINT")
        path = store.path
        out["queries"] = _queries(store, runs)
    size = sum(f.stat().st_size for f in path.parent.glob(path.name + "*") if f.is_file())
    out["bytes"] = size
    out["bytes_per_line"] = round(size / lines.n, 1)
    out["load_after"] = _load()
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--lines", type=int, default=1_000_000, help="lines on chdb")
    ap.add_argument("--duck-lines", type=int, default=None, help="lines on DuckDB (default: --lines / 10; 0 skips)")
    ap.add_argument("--services", type=int, default=500)
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--dir", default=None, help="work folder (default: a temporary one, removed)")
    ap.add_argument("--json", default=None, help="write the figures here too")
    args = ap.parse_args()
    work = Path(args.dir or tempfile.mkdtemp(prefix="bench-ch-"))
    work.mkdir(parents=True, exist_ok=True)
    duck_n = args.lines // 10 if args.duck_lines is None else args.duck_lines
    import chdb
    import duckdb

    global RESULT_PATH
    RESULT_PATH = Path(args.json) if args.json else None
    result = RESULT
    result.update({"machine": {"cpus": os.cpu_count(), "python": sys.version.split()[0],
                                          "chdb": chdb.__version__, "duckdb": duckdb.__version__},
                              "services": args.services, "span_minutes": SPAN_MIN})
    try:
        if duck_n:
            result["duckdb"] = bench_duck(Lines(duck_n, args.services), work / "duck", args.runs)
            print(orjson.dumps(result["duckdb"], option=orjson.OPT_INDENT_2).decode(), flush=True)
            gc.collect()
        if args.lines:
            result["chdb"] = bench_chdb(Lines(args.lines, args.services), work / "chdb", args.runs)
            print(orjson.dumps(result["chdb"], option=orjson.OPT_INDENT_2).decode(), flush=True)
    finally:
        if not args.dir:
            shutil.rmtree(work, ignore_errors=True)
    if args.json:
        Path(args.json).write_bytes(orjson.dumps(result, option=orjson.OPT_INDENT_2))


if __name__ == "__main__":
    main()
