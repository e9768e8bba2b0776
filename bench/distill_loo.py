#!/usr/bin/env python3
"""Leave-one-dataset-out over every labelled corpus at hand (issue 17, Build 5).

The miner has four numeric constants (``Miner``: ``word_merge_siblings``,
``max_value_mismatch``, ``first_word_factor``, ``value_slot_siblings``). For each dataset
D the script picks the combination of a grid that scores best (mean of GA and PA, the
repo's scorer, raw lines) on all the *other* datasets, then scores D with that pick and
with the shipped defaults. If the pick is the default for every D, no constant is tuned
on any one dataset; where it is not, the table says on which dataset the default depends
and what leaving it out costs. The rules themselves (header classes, masking) cannot be
re-chosen by a grid: docs/benchmarks.md says which data they were chosen on.

    .venv/bin/python bench/distill_loo.py [--json OUT]

Corpora: ../shared/data/loghub-2k (eight datasets, 2,000 lines) and tests/data/logs/
loghub-more (eight more, 300 lines; see distill_score.py).
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "src"))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(HERE, "..", "..", "shared", "bench"))

import distill_score  # noqa: E402
import loghub_eval  # noqa: E402

from runbrief.distill.miner import Miner  # noqa: E402
from runbrief.distill.parse import Parser  # noqa: E402

DEFAULT = {"word_merge_siblings": 6, "max_value_mismatch": 0.5, "first_word_factor": 2, "value_slot_siblings": 2}
GRID = {
    "word_merge_siblings": [3, 4, 6, 8, 12],
    "max_value_mismatch": [0.3, 0.5, 0.7],
    "first_word_factor": [1, 2, 3],
    "value_slot_siblings": [2, 3, 4],
}


def _score(ds: loghub_eval.Dataset, cfg: dict) -> tuple[float, float]:
    parsed = Parser(Miner(**cfg)).parse(ds.raw_lines, params=False)
    preds = [{"template_id": p.pattern_id, "template": p.template, "content_template": p.template} for p in parsed]
    r = loghub_eval.evaluate(ds, preds, "raw")
    return r["GA"], r["PA"]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--json")
    a = ap.parse_args()
    configs = [dict(zip(GRID, vals, strict=True)) for vals in itertools.product(*GRID.values())]
    assert DEFAULT in configs
    with tempfile.TemporaryDirectory() as tmp:
        sets: list[tuple[str, loghub_eval.Dataset]] = []
        for corpus, root, names in distill_score.corpora(tmp):
            names = names or [d for d in loghub_eval.DATASETS if os.path.isdir(os.path.join(root, d))]
            for n in names:
                sets.append((f"{corpus}/{n}", loghub_eval.load_dataset(os.path.join(root, n))))
        scores: dict[int, dict[str, tuple[float, float]]] = {}
        for k, cfg in enumerate(configs):
            scores[k] = {name: _score(ds, cfg) for name, ds in sets}
    d = configs.index(DEFAULT)

    def value(k: int, names: list[str]) -> float:
        return sum(sum(scores[k][n]) / 2 for n in names) / len(names)

    names = [n for n, _ in sets]
    best_all = max(range(len(configs)), key=lambda k: (round(value(k, names), 6), k == d))
    rows = []
    print(f"{'left out':26} {'default GA':>10} {'PA':>7}   {'LOO GA':>7} {'PA':>7}   pick (if not the default)")
    for n in names:
        others = [x for x in names if x != n]
        # ties go to the default: a constant is tuned only if another value is strictly better
        pick = max(range(len(configs)), key=lambda k: (round(value(k, others), 6), k == d))
        ga, pa = scores[d][n]
        lga, lpa = scores[pick][n]
        diff = {k: v for k, v in configs[pick].items() if v != DEFAULT[k]}
        rows.append({"dataset": n, "default": [ga, pa], "loo": [lga, lpa], "pick": configs[pick]})
        flag = "  <- the default depends on this dataset" if ga - lga > 0.005 or pa - lpa > 0.005 else ""
        print(f"{n:26} {ga:10.4f} {pa:7.4f}   {lga:7.4f} {lpa:7.4f}   {diff or ''}{flag}")
    avg = [sum(r["default"][i] for r in rows) / len(rows) for i in (0, 1)]
    lavg = [sum(r["loo"][i] for r in rows) / len(rows) for i in (0, 1)]
    print(f"{'average':26} {avg[0]:10.4f} {avg[1]:7.4f}   {lavg[0]:7.4f} {lavg[1]:7.4f}")
    print(f"best on all {len(names)} datasets: {configs[best_all]} ({value(best_all, names):.4f}; "
          f"default {value(d, names):.4f})")
    if a.json:
        with open(a.json, "w", encoding="utf-8") as fh:
            json.dump({"rows": rows, "best_all": configs[best_all], "grid": GRID, "default": DEFAULT}, fh, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
