#!/usr/bin/env python3
"""``runbrief parse FILE > out.jsonl`` against Drain3, both whole processes (issue 17, Build 6).

The stream: the raw lines of every labelled dataset at hand (Loghub-2k, 16,000 lines of 8
systems, and tests/data/logs/loghub-more, 2,400 lines of 8 more), 100 lines of each system
in turn, repeated to ``--lines`` (default 640,000). Each run times, from outside, as wall
clock of a fresh process:

- ``runbrief``: ``runbrief parse FILE > out.jsonl`` (start-up, header split, mining, every
  line's JSON with its parameters, written to a real file);
- ``drain3``: a Python process that reads FILE and calls Drain3's ``TemplateMiner()``
  ``add_log_message`` (defaults) on every line, with nothing written.

Runs alternate (runbrief, Drain3, runbrief, ...) so both see the same machine load;
medians of ``--runs``. Peak RSS of each child from ``wait4``.

    .venv/bin/python bench/distill_speed.py [--lines 640000] [--runs 3]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PY = ROOT / ".venv" / "bin" / "python"
EXE = ROOT / ".venv" / "bin" / "runbrief"
DRAIN3 = """
import sys
from drain3 import TemplateMiner
tm = TemplateMiner()
add = tm.add_log_message
with open(sys.argv[1], encoding="utf-8", errors="replace") as fh:
    for line in fh:
        add(line.rstrip("\\n"))
"""


def systems() -> list[list[str]]:
    out = []
    roots = [ROOT.parent / "shared" / "data" / "loghub-2k", ROOT / "tests" / "data" / "logs" / "loghub-more"]
    for root in roots:
        for f in sorted(root.glob("*.log")) + sorted(root.glob("*/*_2k.log")):
            text = f.read_text(encoding="utf-8", errors="replace")
            out.append([ln.rstrip("\r") for ln in text.split("\n") if ln.strip()])
    return out


def write_stream(path: Path, n: int) -> int:
    per = systems()
    one: list[str] = []
    pos = [0] * len(per)
    while any(p < len(d) for p, d in zip(pos, per, strict=True)):
        for k, d in enumerate(per):
            one.extend(d[pos[k] : pos[k] + 100])
            pos[k] += 100
    with path.open("w", encoding="utf-8") as fh:
        written = 0
        while written < n:
            chunk = one[: n - written]
            fh.write("\n".join(chunk) + "\n")
            written += len(chunk)
    return len(per)


def child(argv: list[str], stdout: str) -> tuple[float, float, float]:
    """Wall seconds, CPU seconds (user + system) and peak RSS (MiB) of one child process."""
    t0 = time.perf_counter()
    pid = os.fork()
    if pid == 0:
        fd = os.open(stdout, os.O_WRONLY | os.O_CREAT | os.O_TRUNC)
        os.dup2(fd, 1)
        os.execv(argv[0], argv)
    _, status, ru = os.wait4(pid, 0)
    wall = time.perf_counter() - t0
    if status != 0:
        raise SystemExit(f"{argv} failed: {status}")
    return wall, ru.ru_utime + ru.ru_stime, ru.ru_maxrss / 1024


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--lines", type=int, default=640_000)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--before", help="also run `runbrief parse` from this source tree (e.g. a `git archive` of "
                    "an older commit's src), in the same rounds")
    a = ap.parse_args()
    res: dict[str, list[tuple[float, float, float]]] = {"runbrief": [], "drain3": []}
    if a.before:
        res["before"] = []
    with tempfile.TemporaryDirectory() as tmp:
        f = Path(tmp) / "stream.log"
        k = write_stream(f, a.lines)
        script = Path(tmp) / "drain3_run.py"
        script.write_text(DRAIN3)
        out = str(Path(tmp) / "out.jsonl")
        for _ in range(a.runs):
            res["runbrief"].append(child([str(EXE), "parse", str(f)], out))
            res["drain3"].append(child([str(PY), str(script), str(f)], os.devnull))
            if a.before:
                os.environ["PYTHONPATH"] = a.before
                res["before"].append(child([str(PY), "-c", "import sys; from runbrief.cli import main; "
                                            "sys.argv[0] = 'runbrief'; sys.exit(main())", "parse", str(f)], out))
                del os.environ["PYTHONPATH"]
        with open(out, "rb") as fh:
            n_out = sum(1 for _ in fh)
        assert n_out == a.lines, (n_out, a.lines)
    med = {k: statistics.median(w for w, _, _ in v) for k, v in res.items()}
    cpu = {k: statistics.median(c for _, c, _ in v) for k, v in res.items()}
    rss = {k: max(r for _, _, r in v) for k, v in res.items()}
    print(f"{a.lines:,} lines of {k} systems; load average {os.getloadavg()[0]:.1f}")
    for name, runs in res.items():
        walls = " / ".join(f"{w:.2f}" for w, _, _ in runs)
        cpus = " / ".join(f"{c:.2f}" for _, c, _ in runs)
        print(f"{name:9} wall median {med[name]:6.2f} s ({a.lines / med[name]:>9,.0f} lines/s, runs {walls}); "
              f"CPU median {cpu[name]:6.2f} s ({a.lines / cpu[name]:>9,.0f} lines/s, runs {cpus}); "
              f"peak RSS {rss[name]:.0f} MiB")
    for name in [k for k in res if k != "drain3"]:
        print(f"ratio Drain3 / {name}: wall {med['drain3'] / med[name]:.2f}x, CPU {cpu['drain3'] / cpu[name]:.2f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
