#!/usr/bin/env python3
"""Score ``runbrief parse`` on every labelled corpus at hand, per dataset (issue 17).

Runs the repo's scorer (``../shared/bench/loghub_eval.py run --mode raw``) over Loghub-2k
(``../shared/data/loghub-2k``) and over the labelled samples in ``tests/data/logs``
(``loghub-more``: eight more Loghub datasets, 300 lines each), laid out in the scorer's
``<Dataset>/<Dataset>_2k.log`` shape in a temporary folder. ``--json OUT`` keeps the
figures; ``--compare BEFORE.json`` prints the change per dataset and flags any GA or PA
drop larger than 0.005 (the issue's bound for a rule change).

    .venv/bin/python bench/distill_score.py [--json OUT] [--compare BEFORE.json]
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
SHARED = os.path.join(REPO, "..", "shared")
SCORER = os.path.join(SHARED, "bench", "loghub_eval.py")
CMD = f"{os.path.join(REPO, '.venv', 'bin', 'runbrief')} parse {{input}}"


def _layout(src: str, dst: str) -> list[str]:
    """Link ``<Name>_N.log`` + its ``_structured_corrected.csv`` as ``<Name>/<Name>_2k.log...``."""
    names = []
    for f in sorted(os.listdir(src)):
        if not f.endswith(".log"):
            continue
        name, _, _ = f.rpartition("_")
        os.makedirs(os.path.join(dst, name), exist_ok=True)
        os.symlink(os.path.join(src, f), os.path.join(dst, name, f"{name}_2k.log"))
        with open(os.path.join(src, f[:-4] + "_structured_corrected.csv"), encoding="utf-8", newline="") as fh:
            rows = list(csv.DictReader(fh))
        with open(os.path.join(dst, name, f"{name}_2k.log_structured_corrected.csv"), "w", encoding="utf-8",
                  newline="") as fh:  # the scorer wants an EventId column: the template names the event
            w = csv.DictWriter(fh, ["LineId", "Content", "EventId", "EventTemplate"])
            w.writeheader()
            for r in rows:
                w.writerow({"LineId": r["LineId"], "Content": r["Content"], "EventId": r["EventTemplate"],
                            "EventTemplate": r["EventTemplate"]})
        names.append(name)
    return names


def _score(root: str, datasets: list[str] | None, out: str) -> list[dict]:
    cmd = [sys.executable, SCORER, "run", root, "--mode", "raw", "--cmd", CMD, "--json", out]
    if datasets:
        cmd += ["--datasets", ",".join(datasets)]
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)
    with open(out, encoding="utf-8") as fh:
        return json.load(fh)["results"]


def corpora(tmp: str) -> list[tuple[str, str, list[str] | None]]:
    """(corpus name, scorer root, datasets) for every labelled corpus found."""
    out: list[tuple[str, str, list[str] | None]] = []
    lh = os.path.join(SHARED, "data", "loghub-2k")
    if os.path.isdir(lh):
        out.append(("loghub-2k", lh, None))
    logs = os.path.join(REPO, "tests", "data", "logs")
    for sub in sorted(os.listdir(logs)):
        d = os.path.join(logs, sub)
        if os.path.isdir(d) and any(f.endswith("_structured_corrected.csv") for f in os.listdir(d)):
            root = os.path.join(tmp, sub)
            out.append((sub, root, _layout(d, root)))
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--json")
    ap.add_argument("--compare")
    a = ap.parse_args()
    rows: dict[str, dict] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for corpus, root, names in corpora(tmp):
            for r in _score(root, names, os.path.join(tmp, corpus + ".json")):
                rows[f"{corpus}/{r['dataset']}"] = {"GA": r["GA"], "PA": r["PA"]}
    before = {}
    if a.compare:
        with open(a.compare, encoding="utf-8") as fh:
            before = json.load(fh)
    bad = 0
    print(f"{'dataset':28} {'GA':>7} {'PA':>7}" + ("   before GA / PA" if before else ""))
    for k, v in rows.items():
        line = f"{k:28} {v['GA']:7.4f} {v['PA']:7.4f}"
        if k in before:
            b = before[k]
            drop = b["GA"] - v["GA"] > 0.005 or b["PA"] - v["PA"] > 0.005
            bad += drop
            line += f"   {b['GA']:.4f} / {b['PA']:.4f}" + ("  DROP" if drop else "")
        print(line)
    for corpus in sorted({k.split("/")[0] for k in rows}):
        vs = [v for k, v in rows.items() if k.startswith(corpus + "/")]
        print(f"{corpus + ' average':28} {sum(v['GA'] for v in vs) / len(vs):7.4f} {sum(v['PA'] for v in vs) / len(vs):7.4f}")
    if a.json:
        with open(a.json, "w", encoding="utf-8") as fh:
            json.dump(rows, fh, indent=1)
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
