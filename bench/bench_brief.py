"""Incidents and brief: quality on injected faults over real logs, brief size, and speed.

Replays the scenario suite of tests/analyze/test_incidents_scenarios.py larger: four
services replaying loghub-2k (OpenStack, HDFS, Spark, Linux), sampled with replacement
hour by hour, with detection run after every ten minutes of data (as `runbrief serve`
does), then measures:

- false incidents per quiet hour (hours 2.. of a fault-free replay; hour 1 has no baseline);
- per injected fault (alone, and all four together): incidents citing it in their first
  claim (want exactly 1) and incidents citing nothing injected (false);
- the brief (budget 2000) against the raw o200k tokens of the fault hour's log lines;
- detection, brief and redaction times (medians), and token-counter load time.

Usage: .venv/bin/python bench/bench_brief.py [--quiet-hours 8] [--per-hour 2000] [--seeds 3]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests" / "analyze"))

from test_incidents_scenarios import FAULTS, LOGHUB, T0, Replay, match  # noqa: E402

from runbrief import ops, tokens  # noqa: E402
from runbrief.analyze import incidents as inc_mod  # noqa: E402
from runbrief.redact import _RX, redact  # noqa: E402
from runbrief.store.duck import Store  # noqa: E402


def quiet_run(hours: int, per_hour: int, seed: int) -> dict:
    with tempfile.TemporaryDirectory() as d, Store.open(Path(d) / "s") as store:
        replay = Replay(store, per_hour=per_hour, seed=seed)
        t = time.perf_counter()
        replay.run(T0, hours)
        elapsed = time.perf_counter() - t
        after_first = [c for c in replay.created if c[0] > T0 + timedelta(hours=1)]
        return {"created": len(replay.created), "created_after_hour_1": len(after_first),
                "hours_judged": hours - 1, "lines": hours * per_hour * 4, "seconds": elapsed,
                "titles": [ops.run(store, "show", {"id": i})["title"] for _, i in replay.created]}


def fault_run(faults: list, quiet_hours: int, per_hour: int, seed: int) -> dict:
    with tempfile.TemporaryDirectory() as d, Store.open(Path(d) / "s") as store:
        replay = Replay(store, per_hour=per_hour, seed=seed)
        replay.run(T0, quiet_hours)
        before = len(replay.created)
        start = T0 + timedelta(hours=quiet_hours)
        replay.run(start, 1, faults)
        incs = ops.run(store, "incidents", {"limit": 100})["incidents"]
        got = match(store, incs, faults)
        cited = {i for ids in got.values() for i in ids}
        t = time.perf_counter()
        detect_s = []
        for _ in range(5):
            t = time.perf_counter()
            inc_mod.detect(store)
            detect_s.append(time.perf_counter() - t)
        brief = ops.run(store, "brief", {"budget": 2000})
        brief_s = []
        for _ in range(5):
            t = time.perf_counter()
            ops.run(store, "brief", {"budget": 2000})
            brief_s.append(time.perf_counter() - t)
        bodies = [r["body"] for r in store.query("SELECT body FROM logs WHERE ts >= ?", [start])]
        raw = tokens.count_many(bodies)
        return {
            "per_fault": {f.name: len(got[f.name]) for f in faults},
            "false": len([i for i in incs if i["id"] not in cited]),
            "quiet_created": before,
            "brief_tokens": brief["tokens"], "raw_tokens": raw, "raw_lines": len(bodies),
            "all_in_brief": all(i in brief["text"] for ids in got.values() for i in ids),
            "detect_s": statistics.median(detect_s), "brief_s": statistics.median(brief_s),
            "store_lines": store.scalar("SELECT count(*) FROM logs"),
        }


def redaction_speed() -> dict:
    lines = [ln for p in sorted(LOGHUB.glob("*/*_2k.log")) for ln in p.read_text(errors="replace").splitlines()]
    with_pre, without = [], []
    rx = _RX[False]
    for _ in range(5):
        t = time.perf_counter()
        for ln in lines:
            redact(ln, emails=False)
        with_pre.append(time.perf_counter() - t)
        t = time.perf_counter()
        for ln in lines:
            rx.sub("", ln)
        without.append(time.perf_counter() - t)
    low = [ln.lower() for ln in lines]
    from runbrief.redact import _TRIGGERS

    scanned = sum(1 for ln in low if any(tr in ln for tr in _TRIGGERS))
    return {"lines": len(lines), "prefilter_us_per_line": statistics.median(with_pre) / len(lines) * 1e6,
            "regex_only_us_per_line": statistics.median(without) / len(lines) * 1e6,
            "share_scanned": scanned / len(lines)}


def token_load() -> dict:
    code = "import time; t=time.perf_counter(); from runbrief import tokens; tokens.count('x'); print(time.perf_counter()-t)"
    pkg = ("import time, warnings; warnings.simplefilter('ignore'); t=time.perf_counter(); import bpe_openai; "
           "bpe_openai.get_encoding('o200k_base').encode('x'); print(time.perf_counter()-t)")
    native = [float(subprocess.check_output([sys.executable, "-c", code], text=True)) for _ in range(3)]
    package = [float(subprocess.check_output([sys.executable, "-c", pkg], text=True)) for _ in range(3)]
    lines = [ln for p in sorted(LOGHUB.glob("*/*_2k.log")) for ln in p.read_text(errors="replace").splitlines()]
    real = tokens.count_many(lines)
    est = sum(tokens.estimate(ln) for ln in lines)
    return {"native_load_s": statistics.median(native), "package_load_s": statistics.median(package),
            "loghub_tokens": real, "estimate_tokens": est}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--quiet-hours", type=int, default=8)
    ap.add_argument("--fault-quiet-hours", type=int, default=4)
    ap.add_argument("--per-hour", type=int, default=2000)
    ap.add_argument("--seeds", type=int, default=3)
    a = ap.parse_args()
    seeds = [11 + 7 * k for k in range(a.seeds)]

    print(f"# quiet replay: {a.quiet_hours} h x 4 services x {a.per_hour} lines/h, seeds {seeds}")
    q = [quiet_run(a.quiet_hours, a.per_hour, s) for s in seeds]
    for r in q:
        print(f"  created {r['created']} (after hour 1: {r['created_after_hour_1']} in {r['hours_judged']} h) "
              f"{r['lines']} lines in {r['seconds']:.1f} s  {r['titles']}")
    fp = [r["created_after_hour_1"] / r["hours_judged"] for r in q]
    print(f"false incidents per quiet hour: median {statistics.median(fp):.3f}, max {max(fp):.3f}")

    print(f"# faults after {a.fault_quiet_hours} quiet hours")
    for faults, label in [([f], f.name) for f in FAULTS] + [(FAULTS, "all four together")]:
        runs = [fault_run(faults, a.fault_quiet_hours, a.per_hour, s) for s in seeds]
        per = {k: [r["per_fault"][k] for r in runs] for k in runs[0]["per_fault"]}
        print(f"  {label}: incidents citing each fault {per}; false {[r['false'] for r in runs]}; "
              f"quiet-phase incidents {[r['quiet_created'] for r in runs]}")
        if len(faults) > 1:
            for r in runs:
                print(f"    brief {r['brief_tokens']} tokens vs raw {r['raw_tokens']} ({r['raw_lines']} lines) = "
                      f"{100 * r['brief_tokens'] / r['raw_tokens']:.2f}%; every fault in it: {r['all_in_brief']}; "
                      f"detect {r['detect_s'] * 1000:.0f} ms, brief {r['brief_s'] * 1000:.0f} ms "
                      f"(store {r['store_lines']} lines)")
    rs = redaction_speed()
    print(f"# redaction: {rs['lines']} loghub lines, {rs['share_scanned']:.1%} pass the prefilter; "
          f"{rs['prefilter_us_per_line']:.2f} us/line with it vs {rs['regex_only_us_per_line']:.2f} us/line regex only")
    tk = token_load()
    print(f"# tokens: cold load {tk['native_load_s']:.2f} s (extension alone) vs {tk['package_load_s']:.2f} s "
          f"(import bpe_openai); loghub {tk['loghub_tokens']} tokens, estimate {tk['estimate_tokens']} "
          f"({tk['estimate_tokens'] / tk['loghub_tokens']:.2f}x)")


if __name__ == "__main__":
    main()
