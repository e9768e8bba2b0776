"""Trace detectors against real Sentry transaction events with known problems: precision and recall.

Why: the detectors are modeled on Sentry's performance-issue detectors, and the way this
product is judged is a held-out set of real SDK transaction events labelled with the
problem each should (or should not) raise. Sentry's own detector fixtures
(getsentry/sentry, ``fixtures/events/performance_problems/``) are such events; their
licence (source-available, not open source) keeps them out of this repository, so this
script reads them from a folder you give (kept in /tmp; the same relative paths as under
that folder of the Sentry repository; a copy cut down to the fields the reader reads — spans
with op, description, ids, times and data, the event's times, ``contexts.trace``, ``sdk`` —
scores the same as the whole file) and the labels from
``bench/sentry_fixture_labels.json`` (ours: file → expected runbrief problem types, with
the Sentry test each label came from).

Each event goes through the path a user's data takes: ``SentryReader`` → ``Pipeline`` into
a fresh DuckDB store → the ``trace_summary`` operation, whose ``problems`` are scored:

- a fixture's ``expect`` types are the problems it must raise (a miss when absent);
- ``allow`` types may be raised or not (runbrief's own findings Sentry has no label for,
  such as the identical statement that is also a ``repeated_call``);
- any other type raised is a false alarm.

Per type: TP, FP, FN, precision and recall, then every miss and false alarm with the
problem's own ``cause`` (why it fired) or the labelled reason (why it should have).

    .venv/bin/python bench/sentry_fixtures.py /tmp/sentry-fixtures [--labels bench/sentry_fixture_labels.json]
    [--json out.json]
    .venv/bin/python bench/sentry_fixtures.py tests/data/sentry/scenarios \
        --labels tests/data/sentry/scenarios/labels.json    # the real-SDK scenarios, scored the same way
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path
from typing import Any

import orjson

from runbrief import ops
from runbrief.ingest.pipeline import Pipeline
from runbrief.ingest.sentry import SentryReader
from runbrief.store.duck import Store
from runbrief.traces.detectors import PROBLEM_TYPES


def problems_of(path: Path, tmp: Path) -> tuple[list[dict[str, Any]], str]:
    """The problems ``trace_summary`` reports for one Sentry event file (and the reader's errors)."""
    reader = SentryReader(default_service=path.stem)
    if path.suffix == ".envelope":  # what an SDK POSTs (tests/data/sentry/scenarios)
        reader.envelope(path.read_bytes())
    else:
        reader.value(orjson.loads(path.read_bytes()))
    batch = reader.batch
    if not batch.spans:
        return [], "; ".join(reader.errors) or "no spans"
    store = Store.open(tmp / f"{path.stem}.duckdb")
    try:
        Pipeline(store).write(batch)
        trace_ids = sorted({s.trace_id for s in batch.spans})
        out: list[dict[str, Any]] = []
        for tid in trace_ids:
            summary = ops.run(store, "trace_summary", {"id": tid, "budget": 100})
            out.extend(summary.get("problems") or [])
        return out, "; ".join(reader.errors)
    finally:
        store.close()


def score(folder: Path, labels: dict[str, Any]) -> dict[str, Any]:
    """Per-type counts and the list of misses and false alarms over every labelled fixture."""
    counts = {t: {"tp": 0, "fp": 0, "fn": 0} for t in PROBLEM_TYPES}
    notes: list[str] = []
    per_file: dict[str, list[str]] = {}
    with tempfile.TemporaryDirectory() as td:
        for rel, lab in sorted(labels["fixtures"].items()):
            if isinstance(lab, list):  # tests/data/sentry/scenarios/labels.json: scenario -> exact types
                rel, lab = f"{rel}.envelope", {"expect": lab}
            path = folder / rel
            if not path.exists():
                notes.append(f"absent  {rel}")
                continue
            found, errors = problems_of(path, Path(td))
            got: dict[str, list[dict[str, Any]]] = {}
            for p in found:
                got.setdefault(p["type"], []).append(p)
            per_file[rel] = sorted(got)
            expect, allow = set(lab.get("expect", [])), set(lab.get("allow", []))
            for t in PROBLEM_TYPES:
                c = counts[t]
                if t in expect and t in got:
                    c["tp"] += 1
                elif t in expect:
                    c["fn"] += 1
                    notes.append(f"MISS    {rel}: {t} — {lab.get('why', '')}" + (f" [{errors}]" if errors else ""))
                elif t in got and t not in allow:
                    c["fp"] += 1
                    p = got[t][0]
                    notes.append(f"FALSE   {rel}: {t} ({p['what'][:90]!r}) — {p['cause'][:160]}")
    return {"counts": counts, "notes": notes, "per_file": per_file}


def _ratio(a: int, b: int) -> float | None:
    return round(a / b, 3) if b else None


def table(result: dict[str, Any]) -> str:
    rows = ["| problem type | TP | FP | FN | precision | recall |", "| --- | --- | --- | --- | --- | --- |"]
    for t, c in result["counts"].items():
        if not any(c.values()):
            continue
        p, r = _ratio(c["tp"], c["tp"] + c["fp"]), _ratio(c["tp"], c["tp"] + c["fn"])
        rows.append(f"| {t} | {c['tp']} | {c['fp']} | {c['fn']} | {p if p is not None else '-'} | "
                    f"{r if r is not None else '-'} |")
    return "\n".join(rows)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    ap.add_argument("folder", type=Path, help="folder of Sentry event JSON files (e.g. /tmp/sentry-fixtures)")
    ap.add_argument("--labels", type=Path, default=Path(__file__).with_name("sentry_fixture_labels.json"))
    ap.add_argument("--json", type=Path, help="write the counts and notes here too")
    args = ap.parse_args(argv)
    labels = orjson.loads(args.labels.read_bytes())
    if "fixtures" not in labels:
        labels = {"fixtures": labels}
    result = score(args.folder, labels)
    print(table(result))
    print()
    for n in result["notes"]:
        print(n)
    print()
    for rel, types in result["per_file"].items():
        print(f"{rel}: {', '.join(types) or '-'}")
    if args.json:
        args.json.write_bytes(orjson.dumps(result, option=orjson.OPT_INDENT_2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
