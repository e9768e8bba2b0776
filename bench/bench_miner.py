#!/usr/bin/env python3
"""Distill speed: runbrief's miner against Drain3 on a stream of real log lines.

The stream is the Loghub-2k raw lines (../shared/data/loghub-2k), interleaved 100 lines
per dataset at a time and repeated to N lines. Measured, in one run:

- ``library``: ``Parser.parse_batch`` on 100k-line batches, with every line's pattern ID,
  template and parameters materialized (the work ``runbrief parse`` does before JSON);
  ``library_ids`` the same without parameters (what Drain3's ``add_log_message`` returns);
- ``cold``: the library path on the first pass over the distinct lines (cache empty);
- ``drain3``: Drain3 ``TemplateMiner()`` with its defaults, ``add_log_message`` per line,
  on the same lines;
- ``cli``: ``runbrief parse FILE`` end to end (process start, JSON lines to /dev/null);
- ``ingest``: ``Pipeline.write`` into a real DuckDB store, 10k-record batches of
  ``LogRecord`` whose body is the line's message (as the file ingest hands them over);
  reported for the whole write and for the distiller's share (process + take);
- ``rss``: peak RSS of a fresh process parsing 1M and 10M lines.

Times are CPU seconds of this process (``time.process_time``) and wall seconds; the
machine is shared, CPU time is the steadier of the two. Medians of ``--runs`` runs.

    .venv/bin/python bench/bench_miner.py --lines 1000000 --runs 3 [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "data" / "loghub-2k"
BATCH = 100_000


def base_lines() -> list[list[str]]:
    out = []
    for d in sorted(p for p in DATA.iterdir() if p.is_dir()):
        f = d / f"{d.name}_2k.log"
        if f.exists():
            text = f.read_text(encoding="utf-8", errors="replace")
            out.append([ln[:-1] if ln.endswith("\r") else ln for ln in text.split("\n") if ln])
    if not out:
        raise SystemExit(f"no Loghub-2k data under {DATA}")
    return out


def interleaved(per_dataset: list[list[str]]) -> list[str]:
    """One pass: 100 lines of each dataset in turn until all are used."""
    out: list[str] = []
    pos = [0] * len(per_dataset)
    while any(p < len(d) for p, d in zip(pos, per_dataset, strict=True)):
        for k, d in enumerate(per_dataset):
            out.extend(d[pos[k] : pos[k] + 100])
            pos[k] += 100
    return out


def stream(one_pass: list[str], n: int, batch: int = BATCH) -> Iterator[list[str]]:
    """``n`` lines as batches, cycling over ``one_pass`` (no n-sized list is built)."""
    m = len(one_pass)
    done = 0
    while done < n:
        k = min(batch, n - done)
        start = done % m
        chunk = one_pass[start : start + k]
        while len(chunk) < k:
            chunk.extend(one_pass[: k - len(chunk)])
        yield chunk
        done += k


def timed(fn) -> tuple[float, float]:  # noqa: ANN001
    c0, w0 = time.process_time(), time.perf_counter()
    fn()
    return time.process_time() - c0, time.perf_counter() - w0


def run_library(one_pass: list[str], n: int, params: bool = True) -> tuple[float, float]:
    from runbrief.distill.parse import Parser

    def go() -> None:
        p = Parser()
        for chunk in stream(one_pass, n):
            b = p.parse_batch(chunk)
            b.pattern_ids()
            b.templates()
            if params:
                b.params()

    return timed(go)


def run_drain3(one_pass: list[str], n: int) -> tuple[float, float]:
    from drain3 import TemplateMiner

    def go() -> None:
        tm = TemplateMiner()
        add = tm.add_log_message
        for chunk in stream(one_pass, n):
            for line in chunk:
                add(line)
        {c.cluster_id: c.get_template() for c in tm.drain.clusters}

    return timed(go)


def run_cli(one_pass: list[str], n: int) -> float:
    with tempfile.TemporaryDirectory() as tmp:
        f = Path(tmp) / "stream.log"
        with f.open("w", encoding="utf-8") as fh:
            for chunk in stream(one_pass, n):
                fh.write("\n".join(chunk))
                fh.write("\n")
        exe = ROOT / ".venv" / "bin" / "runbrief"
        t0 = time.perf_counter()
        with open(os.devnull, "wb") as null:
            subprocess.run([str(exe), "parse", str(f)], stdout=null, check=True)
        return time.perf_counter() - t0


def run_ingest(one_pass: list[str], n: int) -> dict[str, float]:
    from runbrief.ingest.formats import split_header
    from runbrief.ingest.pipeline import Batch, Pipeline
    from runbrief.records import LogRecord, Resource
    from runbrief.store.duck import Store

    services = [Resource({"service.name": f"svc-{k}"}) for k in range(8)]
    msgs = [split_header(s).message for s in one_pass]
    t0 = 1_772_409_600 * 10**9
    with tempfile.TemporaryDirectory() as tmp:
        store = Store.open(Path(tmp) / "s")
        pipe = Pipeline(store)
        d = pipe.distiller
        spent = {"process": 0.0, "take": 0.0}
        proc, take = d.process, d.take

        def tproc(records):  # noqa: ANN001, ANN202
            c = time.process_time()
            proc(records)
            spent["process"] += time.process_time() - c

        def ttake():  # noqa: ANN202
            c = time.process_time()
            out = take()
            spent["take"] += time.process_time() - c
            return out

        d.process, d.take = tproc, ttake  # type: ignore[method-assign]
        i = 0
        c0, w0 = time.process_time(), time.perf_counter()
        build = 0.0
        while i < n:
            b0 = time.process_time()
            k = min(10_000, n - i)
            recs = [
                LogRecord(t0 + (i + j) * 1_000_000, msgs[(i + j) % len(msgs)], services[((i + j) // 100) % 8])
                for j in range(k)
            ]
            build += time.process_time() - b0
            pipe.write(Batch(logs=recs))
            i += k
        cpu, wall = time.process_time() - c0 - build, time.perf_counter() - w0
        out = {"cpu_s": cpu, "wall_s": wall, "distill_cpu_s": spent["process"] + spent["take"],
               "patterns": store.scalar("SELECT count(*) FROM patterns"),
               "count_rows": store.scalar("SELECT count(*) FROM pattern_counts")}
        store.close()
        return out


def rss_child(n: int) -> float:
    here = str(Path(__file__).parent)
    code = (
        f"import sys, resource; sys.path.insert(0, {here!r})\n"
        "import bench_miner as B\n"
        "one = B.interleaved(B.base_lines())\n"
        f"B.run_library(one, {n})\n"
        "print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return float(out.stdout.strip().splitlines()[-1])


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--lines", type=int, default=1_000_000)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--ingest-lines", type=int, default=300_000)
    ap.add_argument("--rss", default="1000000,10000000", help="comma-separated line counts for the RSS runs")
    ap.add_argument("--skip", default="", help="comma-separated parts to skip: drain3,cli,ingest,rss")
    ap.add_argument("--json")
    a = ap.parse_args()
    skip = set(filter(None, a.skip.split(",")))
    one = interleaved(base_lines())
    n = a.lines
    res: dict[str, object] = {"lines": n, "distinct_lines": len(set(one)), "python": sys.version.split()[0]}

    def med(fn, runs: int = a.runs) -> dict[str, float]:  # noqa: ANN001
        xs = [fn() for _ in range(runs)]
        cpu = statistics.median(x[0] for x in xs)
        wall = statistics.median(x[1] for x in xs)
        return {"cpu_s": cpu, "wall_s": wall, "lines_per_cpu_s": n / cpu, "lines_per_wall_s": n / wall}

    res["library"] = med(lambda: run_library(one, n))
    res["library_ids"] = med(lambda: run_library(one, n, params=False))
    c, w = run_library(one, len(one))
    res["cold"] = {"lines": len(one), "cpu_s": c, "lines_per_cpu_s": len(one) / c}
    if "drain3" not in skip:
        res["drain3"] = med(lambda: run_drain3(one, n))
        d3 = res["drain3"]["lines_per_cpu_s"]  # type: ignore[index]
        res["ratio_library_vs_drain3"] = res["library"]["lines_per_cpu_s"] / d3  # type: ignore[index]
        res["ratio_library_ids_vs_drain3"] = res["library_ids"]["lines_per_cpu_s"] / d3  # type: ignore[index]
    if "cli" not in skip:
        walls = [run_cli(one, n) for _ in range(a.runs)]
        res["cli"] = {"wall_s": statistics.median(walls), "lines_per_wall_s": n / statistics.median(walls)}
    if "ingest" not in skip:
        ing = run_ingest(one, a.ingest_lines)
        ing["lines"] = a.ingest_lines
        ing["lines_per_cpu_s"] = a.ingest_lines / ing["cpu_s"]
        ing["distill_lines_per_cpu_s"] = a.ingest_lines / ing["distill_cpu_s"]
        res["ingest"] = ing
    if "rss" not in skip:
        res["peak_rss_mib"] = {k: rss_child(int(k)) for k in a.rss.split(",") if k}
    print(json.dumps(res, indent=2))
    if a.json:
        Path(a.json).write_text(json.dumps(res, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
