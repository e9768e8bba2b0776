#!/usr/bin/env python3
"""`verify` and `suspects` latency on a store of 10M log lines (issue 21: < 300 ms).

The store is built by DuckDB in bulk (SQL from generated ranges, the fastest path): 10M raw
``logs`` rows across 50 services over 48 h, the ``pattern_counts`` distill would have
written for the same volume (``bench_changes.fill``: Zipf-like rates, a daily cycle, 8%
error patterns, deploys and events), 1M ``spans``. Into it, one real incident of ``svc-01``
through the real writers: a bad deploy (its commit range in a real git repository), an
error-pattern storm and failing spans whose ``code.*`` attributes and stack traces name
``shop/cart.py:get_cart`` for 20 minutes, then the fix deploy and 35 minutes of clean
traffic. Incidents are detected once (as `runbrief serve`'s job keeps them), then:

- in process: ``verify --deploy <fix>`` and ``suspects inc_N --repo …``, median of ``--runs``;
- whole process: ``runbrief verify --deploy dep_N --json`` and ``runbrief suspects … --json``
  as subprocesses (interpreter start, imports, opening the store), median of 3.

    .venv/bin/python bench/bench_verify.py [--lines 10000000] [--spans 1000000] [--runs 7]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_changes import END, fill  # noqa: E402

from runbrief import ops  # noqa: E402
from runbrief.ingest.pipeline import Batch, Pipeline  # noqa: E402
from runbrief.records import Resource, Span, SpanEvent  # noqa: E402
from runbrief.store.duck import Store  # noqa: E402

SERVICE = "svc-01"
STORM_AT = END - timedelta(minutes=55)
FIX_AT = END - timedelta(minutes=35)
RUNBRIEF = str(Path(sys.executable).with_name("runbrief"))


def _ns(dt: datetime) -> int:
    return int((dt - datetime(1970, 1, 1)).total_seconds() * 1e9)


def raw_logs(store: Store, lines: int, services: int, hours: int) -> float:
    """``lines`` rows in ``logs`` (bodies, patterns, severities) from one INSERT … SELECT over range()."""
    t0 = time.perf_counter()
    step_us = hours * 3600e6 / lines
    start = END - timedelta(hours=hours)
    with store.write() as con:
        con.execute(f"""INSERT INTO logs (id, ts, service, severity_number, severity_text, body, pattern_id, source)
            SELECT i + 1, TIMESTAMP '{start}' + to_microseconds((i * {step_us})::BIGINT),
                   'svc-' || lpad((i % {services})::VARCHAR, 2, '0'),
                   CASE WHEN i % 97 = 0 THEN 17 ELSE 9 END, CASE WHEN i % 97 = 0 THEN 'ERROR' ELSE 'INFO' END,
                   'event ' || (i % 150)::VARCHAR || ' for user ' || (i % 9973)::VARCHAR || ' took '
                       || (i % 300)::VARCHAR || ' ms',
                   substr(md5('svc' || (i % {services})::VARCHAR || '/' || (i % 150)::VARCHAR), 1, 16), 'bench'
            FROM range({lines}) t(i)""")
    return time.perf_counter() - t0


def raw_spans(store: Store, n: int, services: int, hours: int) -> float:
    t0 = time.perf_counter()
    step_us = hours * 3600e6 / n
    start = END - timedelta(hours=hours)
    with store.write() as con:
        con.execute(f"""INSERT INTO spans (trace_id, span_id, service, name, kind, start_ts, start_ns, end_ns,
                                           duration_ms, status_code, route, attributes, events)
            SELECT lpad(format('{{:x}}', i), 32, '0'), lpad(format('{{:x}}', i), 16, '0'),
                   'svc-' || lpad((i % {services})::VARCHAR, 2, '0'), 'GET /items', 'SERVER',
                   TIMESTAMP '{start}' + to_microseconds((i * {step_us})::BIGINT),
                   epoch_ns(TIMESTAMP '{start}' + to_microseconds((i * {step_us})::BIGINT)),
                   epoch_ns(TIMESTAMP '{start}' + to_microseconds((i * {step_us})::BIGINT)) + 20000000,
                   20.0, 'OK', '/items', '{{}}'::JSON, '[]'::JSON
            FROM range({n}) t(i)""")
    return time.perf_counter() - t0


CART = "def get_cart(user_id):\n    items = load(user_id)\n    return {\"items\": items}\n"


def git(repo: Path, *args: str) -> str:
    env = {**os.environ, "GIT_AUTHOR_NAME": "Bench", "GIT_AUTHOR_EMAIL": "b@example.com",
           "GIT_COMMITTER_NAME": "Bench", "GIT_COMMITTER_EMAIL": "b@example.com"}
    return subprocess.run(["git", "-C", str(repo), *args], check=True, capture_output=True, text=True,
                          env=env).stdout.strip()


def repo_with_history(root: Path, commits: int) -> tuple[Path, str, str, str]:
    """A repository of ``commits`` commits; (path, previous deploy's commit, the culprit, the bad deploy's)."""
    repo = root / "repo"
    repo.mkdir()
    git(repo, "init", "-q", "-b", "main")
    (repo / "shop").mkdir()
    (repo / "shop" / "cart.py").write_text(CART)
    git(repo, "add", ".")
    git(repo, "commit", "-q", "-m", "initial")
    shas = []
    culprit_at = commits - 6
    for i in range(commits):
        if i == culprit_at:
            (repo / "shop" / "cart.py").write_text(CART.replace('{"items": items}',
                                                                '{"items": items, "total": items[0]["price"]}'))
            msg = "cart: show the total"
        else:
            f = repo / "shop" / f"module_{i % 12}.py"
            f.write_text((f.read_text() if f.exists() else "") + f"def handler_{i}(req):\n    return {i}\n")
            msg = f"module_{i % 12}: handler {i}"
        git(repo, "add", ".")
        git(repo, "commit", "-q", "-m", msg)
        shas.append(git(repo, "rev-parse", "HEAD"))
    return repo, shas[commits - 20], shas[culprit_at], shas[-1]


def incident(store: Store, prev: str, bad: str) -> tuple[str, str]:
    """The bad deploy, a 20-minute storm with failing spans, the fix deploy and clean traffic after it."""
    with store.write() as con:
        top = int(con.execute("SELECT coalesce(max(id), 0) FROM deploys").fetchone()[0])
        rows = [(top + 1, END - timedelta(hours=20), prev, "1.9"), (top + 2, STORM_AT - timedelta(minutes=2), bad, "2.0"),
                (top + 3, FIX_AT, None, "2.0.1")]
        for i, ts, sha, ver in rows:
            con.execute("INSERT INTO deploys (id, ts, service, version, \"commit\", source) VALUES (?, ?, ?, ?, ?, "
                        "'bench')", [i, ts, SERVICE, ver, sha])
        con.execute(f"""INSERT INTO pattern_counts
            SELECT '{SERVICE}', 'stormkeyerror0001', ?::TIMESTAMP + to_minutes(m), 40, 40, NULL, NULL,
                   '[{{"log_id": 1, "body": "KeyError: price"}}]'::JSON FROM range(20) t(m)""", [STORM_AT])
        con.execute("INSERT INTO patterns (pattern_id, template, severity, first_seen) VALUES "
                    "('stormkeyerror0001', 'KeyError: <*> computing the cart total', 'ERROR', ?)", [STORM_AT])
    res = Resource({"service.name": SERVICE})
    spans = []
    rng = random.Random(3)
    for i in range(400):
        t = _ns(STORM_AT + timedelta(seconds=i * 3))
        spans.append(Span(f"ee{i:030x}", f"ee{i:014x}", "GET /cart", t, t + 30_000_000, res, kind="SERVER",
                          status_code="ERROR", status_message="KeyError: 'price'",
                          attributes={"http.route": "/cart", "code.filepath": "/app/shop/cart.py",
                                      "code.function": "get_cart", "code.lineno": 3},
                          events=[SpanEvent("exception", t + 1000, {
                              "exception.type": "KeyError", "exception.message": "'price'",
                              "exception.stacktrace": 'Traceback (most recent call last):\n  File "/app/shop/app.py",'
                                                      ' line 12, in handle\n  File "/app/shop/cart.py", line 3, in '
                                                      "get_cart\nKeyError: 'price'"})]))
    for i in range(600):  # clean traffic after the fix
        t = _ns(FIX_AT + timedelta(seconds=60 + i * 3 + rng.random()))
        spans.append(Span(f"ff{i:030x}", f"ff{i:014x}", "GET /cart", t, t + 8_000_000, res, kind="SERVER",
                          status_code="OK", attributes={"http.route": "/cart"}))
    Pipeline(store).write(Batch(spans=spans))
    ops.run(store, "detect_incidents", {})
    found = [i for i in ops.run(store, "incidents", {"service": SERVICE, "all": True})]
    if not found:
        raise SystemExit("bench setup: no incident of svc-01 was detected")
    return found[0]["id"], f"dep_{top + 3}"


def timed(fn, runs: int) -> tuple[float, float, object]:  # noqa: ANN001
    wall = []
    out = None
    for _ in range(runs):
        t0 = time.perf_counter()
        out = fn()
        wall.append((time.perf_counter() - t0) * 1000)
    return statistics.median(wall), max(wall), out


def whole_process(args: list[str], runs: int = 3) -> tuple[float, float, dict]:
    """Median wall ms and median CPU ms (user + system of the child) of ``runbrief ARGS --json``.

    CPU time is reported too because the machine is shared: under load, wall time measures
    the neighbours as much as the command.
    """
    import resource

    wall, cpu, out = [], [], {}
    env = {k: v for k, v in os.environ.items() if k not in ("RUNBRIEF_URL", "RUNBRIEF_STORE")}
    for _ in range(runs):
        r0 = resource.getrusage(resource.RUSAGE_CHILDREN)
        t0 = time.perf_counter()
        proc = subprocess.run([RUNBRIEF, *args, "--json"], capture_output=True, text=True, env=env, timeout=120)
        wall.append((time.perf_counter() - t0) * 1000)
        r1 = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpu.append((r1.ru_utime - r0.ru_utime + r1.ru_stime - r0.ru_stime) * 1000)
        if proc.returncode != 0:
            raise SystemExit(f"runbrief {' '.join(args)} failed: {proc.stderr[-2000:]}")
        out = json.loads(proc.stdout)
    return statistics.median(wall), statistics.median(cpu), out


def measure(path: Path, inc: str, fix: str, repo: Path, culprit: str, runs: int) -> None:
    with Store.open(path) as store:  # freshly opened, as a CLI call finds it
        med, worst, out = timed(lambda: ops.run(store, "verify", {"deploy": fix}), runs)
        print(f"verify --deploy {fix} in process: median {med:.0f} ms, worst {worst:.0f} ms -> "
              f"{out['verdict']} ({len(out['incidents'])} incident(s) judged)")
        med, worst, out = timed(lambda: ops.run(store, "suspects", {"id": inc, "repo": str(repo)}), runs)
        top = out["suspects"][0]
        print(f"suspects {inc} in process: median {med:.0f} ms, worst {worst:.0f} ms -> first "
              f"{top['commit'][:10]} (culprit {'yes' if top['commit'] == culprit else 'NO'}, score "
              f"{top['score']}), {len(out['suspects'])} of the range's commits listed")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--lines", type=int, default=10_000_000)
    ap.add_argument("--spans", type=int, default=1_000_000)
    ap.add_argument("--services", type=int, default=50)
    ap.add_argument("--hours", type=int, default=48)
    ap.add_argument("--commits", type=int, default=60)
    ap.add_argument("--runs", type=int, default=7)
    ap.add_argument("--keep", help="Build in this new folder and keep it (to profile), instead of a temporary one.")
    args = ap.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="rb-bench-verify-") as d:
        tmp = Path(args.keep or d)
        tmp.mkdir(parents=True, exist_ok=True)
        path = tmp / "big"
        with Store.open(path) as store:
            info = fill(store, args.lines, args.services, args.hours, seed=1)
            print(f"pattern_counts: {info['lines']:,} lines as {info['rows']:,} rows in {info['fill_s']:.1f} s")
            print(f"logs: {args.lines:,} raw rows in {raw_logs(store, args.lines, args.services, args.hours):.1f} s")
            print(f"spans: {args.spans:,} rows in {raw_spans(store, args.spans, args.services, args.hours):.1f} s")
            repo, prev, culprit, bad = repo_with_history(tmp, args.commits)
            inc, fix = incident(store, prev, bad)
            n_logs = store.scalar("SELECT count(*) FROM logs")
            print(f"store: {n_logs:,} log rows, {store.scalar('SELECT count(*) FROM spans'):,} spans; "
                  f"{inc} of {SERVICE}, fix {fix}; {args.commits} commits, deploy range of 20")
        measure(path, inc, fix, repo, culprit, args.runs)
        med, cpu, out = whole_process(["verify", "--deploy", fix, "--store", str(path)])
        print(f"runbrief verify --deploy {fix} --json (whole process, median of 3): {med:.0f} ms wall, {cpu:.0f} ms "
              f"CPU -> {out['verdict']}")
        med, cpu, out = whole_process(["suspects", inc, "--repo", str(repo), "--store", str(path)])
        print(f"runbrief suspects {inc} --json (whole process, median of 3): {med:.0f} ms wall, {cpu:.0f} ms CPU "
              f"-> first {'the culprit' if out['suspects'][0]['commit'] == culprit else out['suspects'][0]['commit'][:10]}")
        med, cpu, _ = whole_process(["show", fix, "--store", str(path)])
        print(f"for scale, runbrief show {fix} --json (whole process): {med:.0f} ms wall, {cpu:.0f} ms CPU")
    return 0


if __name__ == "__main__":
    sys.exit(main())
