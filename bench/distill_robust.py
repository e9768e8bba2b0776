#!/usr/bin/env python3
"""Robustness of the header split and the miner to the header format (issue 17, Build 5).

Every Loghub-2k dataset's *messages* (the ground truth's Content column) are re-rendered
behind other real-world header formats, with a clock that runs across midnight and a
month end, hosts, pids and threads that vary, and a level per line. ``Parser`` (raw lines,
headers learned) must group the rendered lines as it groups the bare messages
(``Parser(headers=False)``): the score is the grouping accuracy of the rendered run against
the bare run, per dataset and format, plus GA against the ground truth.

    .venv/bin/python bench/distill_robust.py ROOT [ROOT...] [--json OUT]

ROOT holds <Dataset>/<Dataset>_2k.log_structured_corrected.csv (Loghub-2k layout).
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import random
import sys
from collections import defaultdict
from collections.abc import Callable
from datetime import UTC, datetime, timedelta, timezone

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "src"))

from runbrief.distill.parse import Parser  # noqa: E402

LEVELS = ["INFO", "WARN", "ERROR", "DEBUG"]
START = datetime(2024, 1, 31, 23, 58, 0, 123000, tzinfo=UTC)  # crosses midnight and a month end


def _thread(r: random.Random) -> str:
    return r.choice(["main", f"pool-{r.randint(1, 9)}-thread-{r.randint(1, 40)}",
                     f"LeaseRenewer:user@host-{r.randint(1, 60)}:9000", f"worker-{r.randint(0, 15)}"])


Render = Callable[[datetime, random.Random, str], str]


def _fmts() -> dict[str, Render]:
    cest = timezone(timedelta(hours=2))
    ist = timezone(timedelta(hours=5, minutes=30))
    return {
        "syslog": lambda t, r, m: f"{t:%b} {t.day:2d} {t:%H:%M:%S} host-{r.randint(1, 30)} app[{r.randint(100, 9999)}]: {m}",
        "rfc5424": lambda t, r, m: f"<{r.randint(8, 191)}>1 {t.isoformat(timespec='milliseconds')} host-{r.randint(1, 30)}"
                                   f" app {r.randint(100, 9999)} - - {m}",
        "iso8601-offset": lambda t, r, m: f"{t.astimezone(ist).isoformat(timespec='milliseconds')} {r.choice(LEVELS)} "
                                          f"com.example.Service - {m}",
        "epoch-ms": lambda t, r, m: f"{int(t.timestamp() * 1000)} {r.choice(LEVELS)} {m}",
        "non-padded": lambda t, r, m: f"{t.year}-{t.month}-{t.day} {t.hour}:{t.minute}:{t.second}.{t.microsecond // 1000} "
                                      f"{r.choice(LEVELS)} [main] {m}",
        "thread-colons": lambda t, r, m: f"{t:%Y-%m-%d %H:%M:%S},{t.microsecond // 1000:03d} {r.choice(LEVELS)} "
                                         f"[{_thread(r)}] org.example.Foo: {m}",
        "pipes": lambda t, r, m: f"{t:%Y%m%d}-{t.hour}:{t.minute}:{t.second}:{t.microsecond // 1000}|Comp_{r.randint(1, 3)}"
                                 f"|{r.randint(1000, 99999)}|{m}",
        "klog": lambda t, r, m: f"{r.choice('IWE')}{t:%m%d %H:%M:%S}.{t.microsecond:06d} {r.randint(1, 99999):7d} "
                                f"controller.go:{r.randint(10, 900)}] {m}",
        "logback": lambda t, r, m: f"{t:%H:%M:%S}.{t.microsecond // 1000:03d} [{_thread(r)}] {r.choice(LEVELS):<5} "
                                   f"c.e.Service - {m}",
        "python-logging": lambda t, r, m: f"{t:%Y-%m-%d %H:%M:%S},{t.microsecond // 1000:03d} - myapp.worker - "
                                          f"{r.choice(['INFO', 'WARNING', 'ERROR', 'DEBUG'])} - {m}",
        "tz-abbrev": lambda t, r, m: f"{t.astimezone(cest):%Y-%m-%d %H:%M:%S}.{t.microsecond // 1000:03d} CEST "
                                     f"{r.choice(LEVELS)} [{_thread(r)}] {m}",
        "go-log": lambda t, r, m: f"{t:%Y/%m/%d %H:%M:%S} {m}",
    }


def _ga(pred: list[str], truth: list[str]) -> float:
    by_p: dict[str, set[int]] = defaultdict(set)
    by_t: dict[str, set[int]] = defaultdict(set)
    for i, (p, t) in enumerate(zip(pred, truth, strict=True)):
        by_p[p].add(i)
        by_t[t].add(i)
    return sum(1 for i in range(len(pred)) if by_p[pred[i]] == by_t[truth[i]]) / max(1, len(pred))


def run(roots: list[str]) -> dict[str, dict[str, float]]:
    out: dict[str, dict[str, float]] = {}
    for root in roots:
        for d in sorted(os.listdir(root)):
            path = os.path.join(root, d, f"{d}_2k.log_structured_corrected.csv")
            if not os.path.exists(path):
                continue
            with open(path, encoding="utf-8", newline="") as f:
                rows = list(csv.DictReader(f))
            msgs = [" ".join(r["Content"].split()) for r in rows]
            gt = [r["EventTemplate"] for r in rows]
            bare = [p.pattern_id for p in Parser(headers=False).parse(msgs, params=False)]
            res = {"bare_vs_gt": _ga(bare, gt)}
            for name, fmt in _fmts().items():
                r = random.Random(17)
                t = START
                lines = []
                for m in msgs:
                    t += timedelta(milliseconds=r.randint(1, 400))
                    lines.append(fmt(t, r, m))
                got = [p.pattern_id for p in Parser().parse(lines, params=False)]
                res[name] = _ga(got, bare)
            out[d] = res
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("roots", nargs="+")
    ap.add_argument("--json")
    a = ap.parse_args()
    res = run(a.roots)
    names = list(_fmts())
    print(f"{'Dataset':12}" + "".join(f"{n[:9]:>10}" for n in names) + f"{'min':>8}")
    for d, r in res.items():
        print(f"{d:12}" + "".join(f"{r[n]:10.3f}" for n in names) + f"{min(r[n] for n in names):8.3f}")
    avg = {n: sum(r[n] for r in res.values()) / len(res) for n in names}
    print(f"{'Average':12}" + "".join(f"{avg[n]:10.3f}" for n in names) + f"{min(avg.values()):8.3f}")
    if a.json:
        with open(a.json, "w") as f:
            json.dump(res, f, indent=1)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
