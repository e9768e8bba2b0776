"""Trace analysis speed: summary of a 5,000-span trace; latest trace of a route among 1M spans.

Targets (issue 6): summary of a 5,000-span trace < 200 ms; the latest trace of a route in
a store with 1M spans < 100 ms. Baseline measured in the same run: the bare SQL that
fetches the trace's rows (what any summary must at least pay).

    .venv/bin/python bench/bench_traces.py [--spans 1000000] [--runs 7] [--store DIR]

Spans are written through the real ingest path (records → Pipeline → Arrow → DuckDB).
"""

from __future__ import annotations

import argparse
import random
import statistics
import tempfile
import time
from pathlib import Path

from runbrief import ops
from runbrief.ingest.pipeline import Batch, Pipeline
from runbrief.records import Resource, Span
from runbrief.store.duck import Store
from runbrief.traces import find, sqlnorm, tree

MS = 1_000_000
T0 = 1_790_000_000_000_000_000
ROUTES = [f"/api/v1/resource{i}" for i in range(50)] + ["/cart", "/checkout"]
RES = {s: Resource({"service.name": s}) for s in ("shop", "pricing", "stock")}


def _ids(rng: random.Random) -> tuple[str, str]:
    return f"{rng.getrandbits(128):032x}", f"{rng.getrandbits(64):016x}"


def request_trace(rng: random.Random, start: int, route: str, n: int, distinct: bool = False) -> list[Span]:
    """A server span with a handler, a query loop, a few HTTP calls to another service."""
    tid, root_id = _ids(rng)
    out = [Span(tid, root_id, f"GET {route}", start, start + n * 2 * MS, RES["shop"], kind="SERVER",
                attributes={"http.route": route, "http.request.method": "GET"})]
    handler = f"{rng.getrandbits(64):016x}"
    out.append(Span(tid, handler, "handle", start + MS // 10, start + n * 2 * MS - MS // 10, RES["shop"],
                    parent_span_id=root_id, attributes={"code.function": "handle"}))
    t = start + MS // 5
    for i in range(n - 2):
        sid = f"{rng.getrandbits(64):016x}"
        if i % 10 == 9:
            out.append(Span(tid, sid, "GET", t, t + MS, RES["shop"], parent_span_id=handler, kind="CLIENT",
                            attributes={"http.request.method": "GET", "url.full": f"http://pricing/price/{i}"}))
        else:
            out.append(Span(tid, sid, "SELECT", t, t + MS, RES["shop"], parent_span_id=handler, kind="CLIENT",
                            attributes={"db.system": "postgresql",
                                        "db.query.text": f"SELECT * FROM items{i if distinct else ''} "
                                                         f"WHERE id = {i % 97}"}))
        t += int(1.9 * MS)
    return out


def build_store(path: Path, total: int, big: int) -> tuple[str, str, float]:
    rng = random.Random(7)
    store = Store.open(path)
    pipe = Pipeline(store)
    written, batch, t, started = 0, [], T0, time.perf_counter()
    while written < total - 2 * big:
        spans = request_trace(rng, t, rng.choice(ROUTES), rng.choice((4, 8, 10, 12, 20)))
        batch += spans
        written += len(spans)
        t += 20 * MS
        if len(batch) >= 50_000:
            pipe.write(Batch(spans=batch))
            batch = []
    big_spans = request_trace(rng, t - 5_000 * MS, "/big-report", big)  # not the newest: no shortcut
    distinct = request_trace(rng, t - 9_000 * MS, "/big-export", big, distinct=True)
    pipe.write(Batch(spans=batch + big_spans + distinct))
    elapsed = time.perf_counter() - started
    store.close()
    return big_spans[0].trace_id, distinct[0].trace_id, elapsed


def timed(fn, runs: int) -> tuple[float, float, list[float]]:
    """Median wall ms, median CPU ms (this process, all threads), wall samples.

    CPU time is reported beside wall time because the bench machine is shared: under
    contention wall time measures the neighbours as much as the code.
    """
    fn()  # warm
    samples, cpu = [], []
    for _ in range(runs):
        c, t = time.process_time(), time.perf_counter()
        fn()
        samples.append((time.perf_counter() - t) * 1000)
        cpu.append((time.process_time() - c) * 1000)
    return statistics.median(samples), statistics.median(cpu), samples


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--spans", type=int, default=1_000_000)
    ap.add_argument("--big", type=int, default=5_000)
    ap.add_argument("--runs", type=int, default=7)
    ap.add_argument("--store", type=Path, default=None)
    args = ap.parse_args()
    root = args.store or Path(tempfile.mkdtemp(prefix="rb-bench-traces-"))
    path = root / "store"
    if path.exists():
        raise SystemExit(f"{path} exists: give an empty --store folder (the bench writes {args.spans:,} spans)")
    big_id, distinct_id, ingest_s = build_store(path, args.spans, args.big)
    store = Store.open(path)
    n = store.scalar("SELECT count(*) FROM spans")
    print(f"store: {n:,} spans, written in {ingest_s:.1f} s ({n / ingest_s:,.0f} spans/s); big trace {big_id}")
    rows: list[tuple[str, float, float]] = []

    def add(label: str, fn) -> None:
        med, cpu, samples = timed(fn, args.runs)
        rows.append((label, med, cpu))
        print(f"{label:<58} median {med:8.1f} ms wall, {cpu:8.1f} ms CPU  ({', '.join(f'{s:.1f}' for s in samples)})")

    def cold(fn):
        # Normalization caches emptied: the figure a fresh CLI process pays.
        def run():
            for f in (sqlnorm.normalize_sql, sqlnorm.has_literals, sqlnorm._tables):
                f.cache_clear()
            return fn()
        return run

    for tid, label in ((big_id, "5,000 spans, 97 distinct statements"),
                       (distinct_id, "5,000 spans, every statement distinct")):
        add(f"baseline: SELECT the rows of the trace ({label})", lambda t=tid: tree._fetch(store, "trace_id = ?", [t]))
        add(f"load + build tree ({label})", cold(lambda t=tid: tree.load(store, t)))
        add(f"trace_summary op, cold caches ({label})", cold(lambda t=tid: ops.run(store, "trace_summary", {"id": t})))
        add(f"trace_summary op, warm caches ({label})", lambda t=tid: ops.run(store, "trace_summary", {"id": t}))
        add(f"trace_show op, budget 100, cold ({label})", cold(lambda t=tid: ops.run(store, "trace_show", {"id": t})))
    add("latest trace ID of route /cart (1M spans)", lambda: find.latest_trace_id(store, route="/cart"))
    add("trace_summary --latest --route /cart (end to end)",
        lambda: ops.run(store, "trace_summary", {"latest": True, "route": "/cart"}))
    add("traces --route /cart --limit 20", lambda: ops.run(store, "traces", {"route": "/cart"}))
    add("traces (no filter) --limit 20", lambda: ops.run(store, "traces", {}))
    add("perf --route /cart (latest 200 traces)", lambda: ops.run(store, "perf", {"route": "/cart"}))
    store.close()
    print("\n| operation | wall ms (median) | CPU ms (median) |\n|---|---:|---:|")
    for label, med, cpu in rows:
        print(f"| {label} | {med:.1f} | {cpu:.1f} |")


if __name__ == "__main__":
    main()
