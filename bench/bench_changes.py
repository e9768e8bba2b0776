#!/usr/bin/env python3
"""`changes` latency over a store holding the equivalent of 10M log lines across 50 services,
and ingest pace while `changes` queries run against the same store.

1. Query latency. ``pattern_counts`` is filled directly in bulk (DuckDB SQL) with what
   distill would have written for N lines: per service ~150 patterns with Zipf-like rates
   and a daily cycle, Poisson-ish counts per minute, 8% error patterns, an example per row,
   rows in time order; plus deploys (one recent, one older per service), platform events,
   and real changes after some deploys (new patterns, a rate x4) so the answer is not empty.
   The line total is the sum of the counts (printed). Then ``changes`` runs in process for
   several services: since their deploy, ``since 1h``, and across all services.
2. Ingest pace. Real loghub lines through ``Pipeline.write`` (the real Distiller when it is
   installed) into a fresh store, alone and then while a thread runs ``changes`` in a loop
   on that store: lines/s both ways, in the same run.

    .venv/bin/python bench/bench_changes.py [--lines 10000000] [--services 50] [--hours 48] [--runs 7]
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import tempfile
import threading
import time
from datetime import datetime, timedelta
from pathlib import Path

from runbrief.analyze.changes import changes
from runbrief.ingest.pipeline import Batch, Pipeline
from runbrief.records import LogRecord, Resource
from runbrief.store.duck import Store

LOGHUB = Path(__file__).resolve().parents[2] / "shared" / "data" / "loghub-2k"
END = datetime(2026, 1, 20, 0, 0)


def fill(store: Store, lines: int, services: int, hours: int, seed: int) -> dict[str, float]:
    minutes = hours * 60
    start = END - timedelta(minutes=minutes)
    per_min = lines / services / minutes
    t0 = time.perf_counter()
    with store.write() as con:
        con.execute(f"SELECT setseed({(seed % 1000) / 1000.0})")
        con.execute(f"""CREATE TEMP TABLE rates AS
            SELECT s, p, 'svc-' || lpad(s::VARCHAR, 2, '0') AS service,
                   substr(md5('svc' || s::VARCHAR || '/' || p::VARCHAR), 1, 16) AS pattern_id,
                   pow(p + 1, -1.2) * (0.5 + random()) AS w, random() < 0.08 AS is_error
            FROM range({services}) a(s), range(150) b(p)""")
        con.execute(f"""CREATE TEMP TABLE lam AS
            SELECT *, w / sum(w) OVER (PARTITION BY s) * {per_min} AS lam FROM rates""")
        con.execute(f"""INSERT INTO pattern_counts
            WITH g AS (
              SELECT service, pattern_id, is_error, m,
                     lam * (1 + 0.3 * sin(2 * pi() * m / 1440.0)) AS l, random() AS u, random() AS u1, random() AS u2
              FROM lam, range({minutes}) t(m))
            SELECT service, pattern_id, TIMESTAMP '{start}' + to_minutes(m) AS minute,
                   greatest(1, round(l + sqrt(l) * sqrt(-2 * ln(u1 + 1e-12)) * cos(2 * pi() * u2)))::BIGINT AS count,
                   CASE WHEN is_error THEN greatest(1, round(l + sqrt(l) * sqrt(-2 * ln(u1 + 1e-12))
                        * cos(2 * pi() * u2)))::BIGINT ELSE 0 END AS errors,
                   TIMESTAMP '{start}' + to_minutes(m) + INTERVAL 1 SECOND AS first_ts,
                   TIMESTAMP '{start}' + to_minutes(m) + INTERVAL 59 SECOND AS last_ts,
                   ('[{{"log_id": ' || (row_number() OVER ())::VARCHAR || ', "body": "event ' || pattern_id
                    || ' for user 1234 took 42 ms"}}]')::JSON AS examples
            FROM g WHERE u < 1 - exp(-l) ORDER BY minute""")
        con.execute("""INSERT INTO patterns (pattern_id, template, severity)
            SELECT pattern_id, 'event ' || pattern_id || ' for user <*> took <*> ms',
                   CASE WHEN is_error THEN 'ERROR' ELSE 'INFO' END FROM rates""")
        rng = random.Random(seed)
        dep_id = 1
        for s in range(services):
            svc = f"svc-{s:02d}"
            recent = END - timedelta(minutes=rng.uniform(30, 360))
            for at, ver in ((END - timedelta(hours=30), "1.0"), (recent, "1.1")):
                con.execute("INSERT INTO deploys (id, ts, service, version, source) VALUES (?, ?, ?, ?, 'bench')",
                            [dep_id, at, svc, ver])
                dep_id += 1
            if s % 5 == 0:  # real changes after the deploy: a new error pattern and a rate x4
                con.execute(f"""INSERT INTO pattern_counts
                    SELECT ?, 'new0000000000' || lpad(?::VARCHAR, 3, '0'), ?::TIMESTAMP + to_minutes(m + 1), 5, 5,
                           NULL, NULL, '[{{"log_id": 1, "body": "boom"}}]'::JSON
                    FROM range({int((END - recent).total_seconds() // 60) - 1}) t(m)""", [svc, s, recent])
                con.execute("""UPDATE pattern_counts SET count = count * 4 WHERE service = ? AND minute > ?
                               AND pattern_id = (SELECT pattern_id FROM rates WHERE s = ? AND p = 3)""",
                            [svc, recent, s])
        # platform events: 400 per service, routine Normal ones and some Warnings
        con.execute(f"""INSERT INTO events (id, ts, type, reason, object_kind, object_name, namespace, service, count)
            SELECT row_number() OVER (), TIMESTAMP '{start}' + to_microseconds((random() * {minutes * 60e6})::BIGINT),
                   CASE WHEN r < 0.2 THEN 'Warning' ELSE 'Normal' END,
                   CASE WHEN r < 0.1 THEN 'BackOff' WHEN r < 0.2 THEN 'Unhealthy' WHEN r < 0.5 THEN 'Pulled'
                        ELSE 'Started' END,
                   'Pod', 'svc-' || lpad(s::VARCHAR, 2, '0') || '-abc-' || (i % 5)::VARCHAR, 'prod',
                   'svc-' || lpad(s::VARCHAR, 2, '0'), 1
            FROM (SELECT s, i, random() AS r FROM range({services}) a(s), range(400) b(i))""")
        con.execute("""INSERT INTO patterns (pattern_id, template, severity)
            SELECT DISTINCT pattern_id, 'boom <*>', 'ERROR' FROM pattern_counts WHERE pattern_id LIKE 'new%'""")
        con.execute("""UPDATE patterns SET first_seen = f.t FROM
            (SELECT pattern_id, min(coalesce(first_ts, minute)) t FROM pattern_counts GROUP BY ALL) f
            WHERE patterns.pattern_id = f.pattern_id""")
        con.execute("DROP TABLE rates")
        con.execute("DROP TABLE lam")
    con = store.cursor()
    total, rows = con.execute("SELECT sum(count), count(*) FROM pattern_counts").fetchone()
    return {"lines": int(total), "rows": int(rows), "fill_s": time.perf_counter() - t0}


def time_calls(store: Store, calls: list[dict], runs: int) -> tuple[float, float, float, int]:
    """Median wall ms, median CPU ms (all threads) and worst wall ms over ``runs`` rounds of
    ``calls``; number of items of the last answer."""
    wall: list[float] = []
    cpu: list[float] = []
    n_items = 0
    for _ in range(runs):
        for params in calls:
            t0, c0 = time.perf_counter(), time.process_time()
            res = changes(store, **params)
            wall.append((time.perf_counter() - t0) * 1000)
            cpu.append((time.process_time() - c0) * 1000)
            n_items = len(res["items"])
    return statistics.median(wall), statistics.median(cpu), max(wall), n_items


def _loghub_records(n: int, services: int, seed: int) -> list[LogRecord]:
    rng = random.Random(seed)
    lines = []
    for f in sorted(LOGHUB.glob("*/*_2k.log")):
        lines.extend(f.read_text(errors="replace").splitlines())
    res = [Resource({"service.name": f"ing-{i:02d}"}) for i in range(services)]
    t0 = int((END - datetime(1970, 1, 1)).total_seconds()) * 10**9
    return [LogRecord(ts_ns=t0 + i * 5_000_000, body=rng.choice(lines), resource=res[rng.randrange(services)])
            for i in range(n)]


def ingest_pace(tmp: Path, n: int, query_every_s: float | None, seed: int) -> tuple[float, int]:
    """lines/s through Pipeline.write (2,000-line batches) while a thread calls ``changes``
    every ``query_every_s`` seconds (0: back to back; None: no queries); calls made."""
    recs = _loghub_records(n, 10, seed)
    store = Store.open(tmp / f"ingest-{query_every_s}-{seed}")
    pipe = Pipeline(store)
    pipe.write(Batch(logs=recs[:2000]))  # warm: the miner's first templates
    stop, calls = threading.Event(), [0]

    def query_loop() -> None:
        while not stop.is_set():
            changes(store, service=f"ing-{calls[0] % 10:02d}", since="1m")
            calls[0] += 1
            if query_every_s:
                stop.wait(query_every_s)

    th = threading.Thread(target=query_loop) if query_every_s is not None else None
    if th:
        th.start()
    t0 = time.perf_counter()
    for i in range(2000, n, 2000):
        pipe.write(Batch(logs=recs[i:i + 2000]))
    secs = time.perf_counter() - t0
    stop.set()
    if th:
        th.join()
    store.close()
    return (n - 2000) / secs, calls[0]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--lines", type=int, default=10_000_000)
    ap.add_argument("--services", type=int, default=50)
    ap.add_argument("--hours", type=int, default=48)
    ap.add_argument("--runs", type=int, default=7)
    ap.add_argument("--ingest-lines", type=int, default=60_000)
    ap.add_argument("--seed", type=int, default=1)
    args = ap.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="rb-bench-changes-") as d:
        tmp = Path(d)
        store = Store.open(tmp / "big")
        info = fill(store, args.lines, args.services, args.hours, args.seed)
        print(f"filled: {info['lines']:,} lines as {info['rows']:,} pattern_counts rows "
              f"({args.services} services, {args.hours} h) in {info['fill_s']:.1f} s")
        store.close()
        store = Store.open(tmp / "big")  # as a CLI call would find it: a freshly opened file
        t0 = time.perf_counter()
        changes(store, service="svc-00", since_deploy=True)
        print(f"first call after opening the store (cold): {(time.perf_counter() - t0) * 1000:.0f} ms")
        svcs = [f"svc-{s:02d}" for s in range(0, args.services, max(1, args.services // 7))][:7]
        cases = {
            "since deploy (1 service)": [{"service": s, "since_deploy": True} for s in svcs],
            "since 1h (1 service, + same hours yesterday)": [{"service": s, "since": "1h"} for s in svcs],
            "since deploy, baseline 48h": [{"service": s, "since_deploy": True, "baseline": "48h"} for s in svcs],
            "since 1h, all services": [{"since": "1h"}],
        }
        for name, calls in cases.items():
            med, cpu, worst, n_items = time_calls(store, calls, args.runs)
            print(f"changes {name}: median {med:.0f} ms (CPU {cpu:.0f} ms), worst {worst:.0f} ms "
                  f"({n_items} items in the last answer)")
        store.close()
        try:
            import runbrief.distill.distiller  # noqa: F401
        except ImportError:
            print("ingest pace: skipped (runbrief.distill.distiller is not installed yet)")
            return 0
        for label, every in (("no queries", None), ("changes every 1 s", 1.0), ("changes back to back", 0.0)):
            got = [ingest_pace(tmp, args.ingest_lines, every, s) for s in range(3)]
            print(f"ingest with {label}: {statistics.median(g[0] for g in got):,.0f} lines/s "
                  f"({statistics.median(g[1] for g in got):.0f} changes calls meanwhile)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
