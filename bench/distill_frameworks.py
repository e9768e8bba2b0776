#!/usr/bin/env python3
"""More header formats for the robustness bench (issue 17): framework defaults the first
twelve formats of ``bench/distill_robust.py`` do not cover (Spring Boot, PostgreSQL,
Cassandra, Ruby's Logger, Redis, Go's RFC 822 time, C's ctime). Same score: the grouping of
the rendered raw lines against the bare messages' grouping, per dataset.

    .venv/bin/python bench/distill_frameworks.py ROOT
"""

from __future__ import annotations

import csv
import os
import random
import sys
from datetime import timedelta, timezone

sys.path.insert(0, os.path.dirname(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "src"))

import distill_robust as d  # noqa: E402

from runbrief.distill.parse import Parser  # noqa: E402

L = d.LEVELS
CET = timezone(timedelta(hours=1))
FORMATS = {
    "spring-boot": lambda t, r, m: f"{t:%Y-%m-%d %H:%M:%S}.{t.microsecond // 1000:03d} {r.choice(L):>5} "
                                   f"{r.randint(100, 99999)} --- [{d._thread(r):>15}] o.s.b.w.e.t.TomcatWebServer  : {m}",
    "postgres": lambda t, r, m: f"{t.astimezone(CET):%Y-%m-%d %H:%M:%S}.{t.microsecond // 1000:03d} CET "
                                f"[{r.randint(100, 99999)}] LOG:  {m}",
    "cassandra": lambda t, r, m: f"{r.choice(L):<5} [{d._thread(r)}] {t:%Y-%m-%d %H:%M:%S},{t.microsecond // 1000:03d} "
                                 f"Foo.java:{r.randint(10, 900)} - {m}",
    "ruby": lambda t, r, m: f"I, [{t:%Y-%m-%dT%H:%M:%S}.{t.microsecond:06d} #{r.randint(100, 99999)}]  INFO -- : {m}",
    "redis": lambda t, r, m: f"{r.randint(1, 999)}:M {t:%d %b %Y %H:%M:%S}.{t.microsecond // 1000:03d} * {m}",
    "rfc822": lambda t, r, m: f"{t:%d %b %y %H:%M} UTC {r.choice(L)} {m}",
    "ctime": lambda t, r, m: f"{t:%a %b} {t.day} {t:%H:%M:%S} {t.year} {m}",
    "elasticsearch": lambda t, r, m: f"[{t:%Y-%m-%dT%H:%M:%S},{t.microsecond // 1000:03d}][{r.choice(L):<5}]"
                                     f"[{r.choice(['o.e.n.Node', 'o.e.c.r.a.DiskThresholdMonitor']):<25}] "
                                     f"[node-{r.randint(1, 9)}] {m}",
    "logstash": lambda t, r, m: f"[{t:%Y-%m-%dT%H:%M:%S},{t.microsecond // 1000:03d}][{r.choice(L):<5}]"
                                f"[logstash.outputs.elasticsearch][{r.choice(['main', '.monitoring-logstash'])}] {m}",
}


def main() -> int:
    root = sys.argv[1]
    res: dict[str, list[float]] = {k: [] for k in FORMATS}
    for ds in sorted(os.listdir(root)):
        p = os.path.join(root, ds, f"{ds}_2k.log_structured_corrected.csv")
        if not os.path.exists(p):
            continue
        with open(p, encoding="utf-8", newline="") as f:
            msgs = [" ".join(r["Content"].split()) for r in csv.DictReader(f)]
        bare = [x.pattern_id for x in Parser(headers=False).parse(msgs, params=False)]
        for name, fmt in FORMATS.items():
            r = random.Random(17)
            t = d.START
            lines = []
            for m in msgs:
                t += timedelta(milliseconds=r.randint(1, 400))
                lines.append(fmt(t, r, m))
            res[name].append(d._ga([x.pattern_id for x in Parser().parse(lines, params=False)], bare))
    for k, v in res.items():
        print(f"{k:12} avg {sum(v) / len(v):.3f} min {min(v):.3f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
