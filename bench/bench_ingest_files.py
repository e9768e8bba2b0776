#!/usr/bin/env python3
"""File ingest speed: lines per second through `runbrief ingest` over the loghub files repeated.

Each of the 8 loghub-2k datasets is written ``--repeat`` times into its own file (2,000 x
repeat lines each), plus a JSON-lines and a gzip copy of one of them, then measured in the
same run, median of ``--runs``:

1. header split only: ``formats.split_header`` over the same lines (the baseline: the
   header parser every text line goes through);
2. parse: ``LogStream`` (decode, format detection, header split, multi-line, records),
   no store;
3. end to end: ``ingest_local`` into a fresh store (parse + distill + DuckDB commit), the
   library path of ``runbrief ingest FILE``;
4. memory: peak RSS (VmHWM) of an end-to-end ingest of 1/4x, 1x and 2x the data, each in a
   child process, with DuckDB's own buffer memory at the end, to show that what ingest
   holds does not grow with the input (batches of 20k records) while DuckDB caches blocks.

    .venv/bin/python bench/bench_ingest_files.py [--repeat 25] [--runs 3]
"""

from __future__ import annotations

import argparse
import gzip
import importlib.util
import json
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from runbrief.ingest import formats
from runbrief.ingest._file_sources import ingest_local
from runbrief.ingest.logfiles import LogStream
from runbrief.store.duck import Store

LOGHUB = Path(__file__).resolve().parents[2] / "shared" / "data" / "loghub-2k"
DATASETS = ["BGL", "HDFS", "HPC", "Linux", "OpenStack", "Proxifier", "Spark", "Windows"]


def make_files(out: Path, repeat: int) -> list[Path]:
    files = []
    for ds in DATASETS:
        raw = (LOGHUB / ds / f"{ds}_2k.log").read_bytes()
        if not raw.endswith(b"\n"):
            raw += b"\n"
        p = out / f"{ds.lower()}.log"
        p.write_bytes(raw * repeat)
        files.append(p)
    # JSON lines: the Spark lines as a JSON logger would write them
    lines = (LOGHUB / "Spark" / "Spark_2k.log").read_text().splitlines()
    js = "".join(json.dumps({"time": f"2017-06-09T20:{i // 60 % 60:02d}:{i % 60:02d}Z", "level": ln.split()[2],
                             "logger": ln.split()[3].rstrip(":"), "msg": ln.split(": ", 1)[-1]}) + "\n"
                 for i, ln in enumerate(lines))
    p = out / "spark.jsonl"
    p.write_text(js * repeat)
    files.append(p)
    gz = out / "hdfs.log.gz"
    gz.write_bytes(gzip.compress((out / "hdfs.log").read_bytes(), 6))
    files.append(gz)
    return files


def count_lines(files: list[Path]) -> int:
    n = 0
    for f in files:
        data = gzip.decompress(f.read_bytes()) if f.suffix == ".gz" else f.read_bytes()
        n += data.count(b"\n")
    return n


def bench_split(files: list[Path]) -> float:
    lines = [ln for f in files if f.suffix == ".log" for ln in f.read_text().splitlines()]
    t = time.perf_counter()
    for ln in lines:
        formats.split_header(ln)
    return len(lines) / (time.perf_counter() - t)


def bench_parse(files: list[Path]) -> float:
    n = 0
    t = time.perf_counter()
    for f in files:
        data = gzip.decompress(f.read_bytes()) if f.suffix == ".gz" else f.read_bytes()
        st = LogStream(f.name)
        for i in range(0, len(data), 1 << 20):
            st.feed(data[i : i + (1 << 20)])
        st.close()
        n += st.stats.lines
    return n / (time.perf_counter() - t)


def bench_parse_by_kind(files: list[Path]) -> dict[str, float]:
    """LogStream lines/s for the plain-text files and for the JSON-lines file separately."""
    out = {}
    for kind, group in (("text", [f for f in files if f.suffix == ".log"]),
                        ("json", [f for f in files if f.suffix == ".jsonl"])):
        out[kind] = bench_parse(group)
    return out


def bench_e2e(files: list[Path], tmp: Path, run: int) -> tuple[float, int]:
    store = Store.open(tmp / f"store-{run}")
    try:
        r = ingest_local(store, [str(f) for f in files])
        assert not r["errors"], r["errors"]
        return r["lines"] / r["seconds"], r["logs"]
    finally:
        store.close()


def _hwm_mib() -> float:
    """Peak RSS of this process image (VmHWM; ru_maxrss would carry the forking parent's peak)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def child_rss(repeat: int, tmp: Path) -> None:
    """Child: ingest ``repeat`` x the data end to end; print peak RSS and DuckDB's share."""
    d = tmp / f"rss-{repeat}"
    d.mkdir()
    files = make_files(d, repeat)
    store = Store.open(d / "store")
    r = ingest_local(store, [str(f) for f in files])
    duck = store.scalar("SELECT sum(memory_usage_bytes) FROM duckdb_memory()") / 2**20
    store.close()
    print(json.dumps({"rss_mib": _hwm_mib(), "duckdb_mib": duck, "lines": r["lines"]}))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeat", type=int, default=25)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--rss-only", action="store_true", help="only the memory part")
    ap.add_argument("--child-rss", type=int, default=0, help=argparse.SUPPRESS)
    ap.add_argument("--tmp", default="", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child_rss:
        child_rss(args.child_rss, Path(args.tmp))
        return
    distiller = importlib.util.find_spec("runbrief.distill.distiller") is not None
    with tempfile.TemporaryDirectory() as td:
        tmp = Path(td)
        files = make_files(tmp, args.repeat)
        total = count_lines(files)
        print(f"{len(files)} files, {total:,} lines, {sum(f.stat().st_size for f in files) / 1e6:.0f} MB on disk; "
              f"distiller: {'real' if distiller else 'NOT MERGED (pipeline would fail)'}")
        split, parse, e2e, by_kind = [], [], [], []
        for run in range(0 if args.rss_only else args.runs):
            split.append(bench_split(files))
            parse.append(bench_parse(files))
            by_kind.append(bench_parse_by_kind(files))
            if distiller:
                rate, logs = bench_e2e(files, tmp, run)
                e2e.append(rate)
            print(f"run {run + 1}: split_header {split[-1]:,.0f}/s  parse {parse[-1]:,.0f}/s  "
                  + (f"end-to-end {e2e[-1]:,.0f}/s ({logs:,} records)" if e2e else "end-to-end skipped"))
        med = statistics.median
        if not args.rss_only:
            text_rate = med([k["text"] for k in by_kind])
            json_rate = med([k["json"] for k in by_kind])
            print(f"median: split_header {med(split):,.0f} lines/s | LogStream parse {med(parse):,.0f} lines/s "
                  f"(text files {text_rate:,.0f}, JSON lines {json_rate:,.0f}) | "
                  + (f"ingest end to end {med(e2e):,.0f} lines/s" if e2e else "end to end: needs the distiller"))
        if not distiller:
            return
        for rep in (max(1, args.repeat // 4), args.repeat, args.repeat * 2):
            out = subprocess.run([sys.executable, __file__, "--child-rss", str(rep), "--tmp", td],
                                 capture_output=True, text=True, check=True)
            m = json.loads(out.stdout.strip().splitlines()[-1])
            print(f"peak RSS at {m['lines']:,} lines: {m['rss_mib']:.0f} MiB, of which DuckDB's buffers "
                  f"{m['duckdb_mib']:.0f} MiB at the end (the rest: {m['rss_mib'] - m['duckdb_mib']:.0f} MiB)")


if __name__ == "__main__":
    main()
