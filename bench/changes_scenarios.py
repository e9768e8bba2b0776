"""Scenario suite for `changes`: real logs (loghub-2k) on a synthetic timeline split by a deploy.

Each dataset plays one service. Its real lines are laid on a timeline by a block bootstrap
(runs of consecutive real lines from random offsets, a random volume per minute), so the
background keeps the real templates, their mix and their burstiness, and is the same
process before and after the split. A ``Deploy`` record splits it; then, per service and
seed, some of these are injected (each is a truth the report must find):

- ``new``: one or two held-back templates (never in the baseline) appear after the deploy;
- ``rate_up``: a common template's rate is multiplied (x3 to x6) after the deploy;
- ``stopped``: a template emitted as a heartbeat (every 1-5 min) in the baseline, none after;
- ``k8s_event``: a Warning event of the service after the deploy (half of the services).

One service per seed is a control (a deploy, no change). Everything goes through the real
``Pipeline.write`` and, by default, the real ``Distiller`` (``distiller="oracle"`` uses the
datasets' ground-truth templates instead, to separate the miner's errors from the test's).

Scoring: an item is a true positive when its pattern holds lines of an injected change of a
compatible kind (new -> new, or rate_up when the miner merged the held-back template into an
existing pattern; rate_up -> rate_up; stopped -> stopped or rate_down), or when it is an
``error_share`` item citing such a pattern; everything else returned is a false positive.
Recall counts the truths found among the top ``limit`` items of the service's report. A
truth is "isolated" when the miner gave its template patterns of its own (>= 80% of their
lines are that template, and one pattern holds at least half of them); a change the miner
merged into a busier pattern, or split into many sparse ones, is reported apart, as a
limit of the miner rather than of the change tests.

    .venv/bin/python bench/changes_scenarios.py [--seeds 6] [--first-seed 1] [--distiller real,oracle]
"""

from __future__ import annotations

import csv
import hashlib
import random
import time
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from runbrief.analyze.changes import changes
from runbrief.ingest.pipeline import Batch, Pipeline
from runbrief.records import Deploy, Event, LogRecord, Resource, severity_number_for
from runbrief.store.duck import Store

# The raw Loghub-2k lines the tests use too (tests/data, with their source).
LOGHUB = Path(__file__).resolve().parents[1] / "tests" / "data" / "loghub-2k"
DATASETS = ("HDFS", "Spark", "BGL", "HPC", "Linux", "OpenStack", "Proxifier", "Windows")
T0 = datetime(2026, 1, 5, 0, 0)
_EPOCH = datetime(1970, 1, 1)
COMPATIBLE = {"new": {"new", "rate_up"}, "rate_up": {"rate_up"}, "stopped": {"stopped", "rate_down"},
              "k8s_event": {"k8s_event"}}


@dataclass(frozen=True, slots=True)
class Line:
    content: str
    event_id: str
    template: str
    level: str


def load(dataset: str) -> list[Line]:
    """The dataset's 2,000 real lines, in order, with their ground-truth template."""
    path = LOGHUB / dataset / f"{dataset}_2k.log_structured_corrected.csv"
    with path.open(newline="", encoding="utf-8", errors="replace") as fh:
        rows = list(csv.DictReader(fh))
    out = []
    for r in rows:
        level = (r.get("Level") or "").strip()
        out.append(Line(r["Content"], r["EventId"], r["EventTemplate"], level if severity_number_for(level) else ""))
    return out


@dataclass
class Truth:
    service: str
    kind: str
    label: str                               # template text or event reason
    records: list[LogRecord] = field(default_factory=list)
    template_id: str | None = None           # the dataset's ground-truth EventId

    def pattern_ids(self) -> set[str]:
        return {r.pattern_id for r in self.records if r.pattern_id}


@dataclass
class Scenario:
    seed: int
    base_min: int
    after_min: int
    records: list[LogRecord]
    deploys: list[Deploy]
    events: list[Event]
    truths: list[Truth]
    services: list[str]
    controls: list[str]
    datasets: tuple[str, ...]
    truth_lines: dict[int, str] = field(default_factory=dict)   # id(record) -> ground-truth EventId

    @property
    def deploy_at(self) -> datetime:
        return T0 + timedelta(minutes=self.base_min, seconds=30)


def _ns(dt: datetime) -> int:
    return int((dt - _EPOCH).total_seconds() * 1_000_000) * 1000


def _poisson(rng: random.Random, lam: float) -> int:
    return max(0, round(rng.gauss(lam, lam ** 0.5))) if lam > 30 else _knuth(rng, lam)


def _knuth(rng: random.Random, lam: float) -> int:
    import math

    limit, k, p = math.exp(-lam), 0, 1.0
    while True:
        p *= rng.random()
        if p <= limit:
            return k
        k += 1


def build(seed: int, datasets: tuple[str, ...] = DATASETS, *, base_min: int = 360, after_min: int = 60,
          rate: tuple[float, float] = (8.0, 30.0), factor: tuple[float, float] = (3.0, 6.0),
          controls: int = 1) -> Scenario:
    rng = random.Random(seed)
    recs: list[LogRecord] = []
    truths: list[Truth] = []
    events: list[Event] = []
    truth_lines: dict[int, str] = {}
    deploy_at = T0 + timedelta(minutes=base_min, seconds=30)
    control = set(rng.sample(list(datasets), controls))
    for ds in datasets:
        lines = load(ds)
        svc = ds.lower()
        res = Resource({"service.name": svc, "service.version": "1.0"})
        by_tpl: dict[str, list[Line]] = defaultdict(list)
        for ln in lines:
            by_tpl[ln.event_id].append(ln)
        freq = Counter(ln.event_id for ln in lines)
        chosen: set[str] = set()
        plan: dict[str, Any] = {}
        if ds not in control:
            held = [t for t, c in freq.items() if 3 <= c <= 80]
            plan["new"] = rng.sample(held, min(len(held), rng.choice([1, 2])))
            chosen |= set(plan["new"])
            common = [t for t, c in freq.items() if c >= 40 and t not in chosen]
            plan["rate"] = rng.choice(common)
            chosen.add(plan["rate"])
            periodic = [t for t, c in freq.items() if t not in chosen and c >= 2]
            plan["stop"] = rng.choice(periodic)
            chosen.add(plan["stop"])
        background = [ln for ln in lines if ln.event_id not in chosen or ln.event_id == plan.get("rate")]
        lam = rng.uniform(*rate)

        def emit(ln: Line, at: datetime, truth: Truth | None = None, res: Resource = res) -> None:
            rec = LogRecord(ts_ns=_ns(at), body=ln.content, resource=res, observed_ns=_ns(at),
                            severity_text=ln.level, severity_number=severity_number_for(ln.level), source="bench")
            recs.append(rec)
            truth_lines[id(rec)] = ln.event_id
            if truth is not None:
                truth.records.append(rec)

        rate_truth = Truth(svc, "rate_up", by_tpl[plan["rate"]][0].template, template_id=plan["rate"]) \
            if "rate" in plan else None
        cursor, left = rng.randrange(len(background)), 0
        base_rate = 0
        for m in range(base_min + after_min):
            start = T0 + timedelta(minutes=m)
            for _ in range(_poisson(rng, lam)):
                if left <= 0:  # a new block of consecutive real lines from a random offset
                    cursor, left = rng.randrange(len(background)), rng.randint(20, 100)
                ln = background[cursor % len(background)]
                cursor, left = cursor + 1, left - 1
                at = start + timedelta(seconds=rng.random() * 60)
                is_rate = rate_truth is not None and ln.event_id == plan["rate"]
                base_rate += is_rate and at < deploy_at
                emit(ln, at, rate_truth if is_rate and at >= deploy_at else None)
        if rate_truth is not None:
            # multiply the template's rate: (factor - 1) x its baseline rate more, as Poisson arrivals
            mult = rng.uniform(*factor)
            extra_per_min = (mult - 1) * base_rate / base_min
            for m in range(base_min, base_min + after_min):
                for _ in range(_poisson(rng, extra_per_min)):
                    at = T0 + timedelta(minutes=m, seconds=rng.random() * 60)
                    if at >= deploy_at:
                        emit(rng.choice(by_tpl[plan["rate"]]), at, rate_truth)
        if plan:
            for tpl in plan["new"]:
                t = Truth(svc, "new", by_tpl[tpl][0].template, template_id=tpl)
                for _ in range(rng.randint(15, 60)):
                    at = deploy_at + timedelta(seconds=rng.random() * (after_min * 60 - 31))
                    emit(rng.choice(by_tpl[tpl]), at, t)
                truths.append(t)
            truths.append(rate_truth)  # type: ignore[arg-type]
            stop = Truth(svc, "stopped", by_tpl[plan["stop"]][0].template, template_id=plan["stop"])
            period = rng.choice([1, 2, 3, 5])
            for m in range(rng.randrange(period), base_min, period):
                emit(rng.choice(by_tpl[plan["stop"]]), T0 + timedelta(minutes=m, seconds=rng.random() * 50), stop)
            truths.append(stop)
            if rng.random() < 0.5:
                at = deploy_at + timedelta(minutes=rng.uniform(1, after_min - 5))
                events.append(Event(ts_ns=_ns(at), reason=rng.choice(["BackOff", "Unhealthy", "OOMKilled"]),
                                    type="Warning", object_kind="Pod", object_name=f"{svc}-7d9f-x{seed}",
                                    namespace="prod", service=svc, message="synthetic platform event"))
                truths.append(Truth(svc, "k8s_event", events[-1].reason))
    recs.sort(key=lambda r: r.ts_ns)
    deploys = [Deploy(ts_ns=_ns(deploy_at), service=ds.lower(), version="2.0", source="bench") for ds in datasets]
    return Scenario(seed, base_min, after_min, recs, deploys, events, truths, [d.lower() for d in datasets],
                    sorted(c.lower() for c in control), datasets, truth_lines)


class OracleDistiller:
    """Ground-truth templates as patterns (bench only): isolates the change tests from the miner."""

    def __init__(self, store: Store, truth_lines: dict[int, str], templates: dict[tuple[str, str], str]) -> None:
        self.store, self.truth = store, truth_lines
        self._by_pid = {pid: t for (_, pid), t in templates.items()}
        self._pending: list[LogRecord] = []

    def process(self, records: list[LogRecord]) -> None:
        for r in records:
            eid = self.truth.get(id(r), "unknown")
            r.pattern_id = hashlib.blake2b(f"{r.service}/{eid}".encode(), digest_size=8).hexdigest()
        self._pending = records

    def take(self) -> Any:
        from runbrief.distill.distiller import Distilled

        recs, self._pending = self._pending, []
        pids = sorted({r.pattern_id for r in recs})
        return Distilled({p: (self._by_pid.get(p, p), None) for p in pids}, {}, None)


def ingest(store: Store, sc: Scenario, *, distiller: str = "real", batch_minutes: int = 5) -> dict[str, float]:
    """Write the scenario through Pipeline.write in time-ordered batches; returns lines/s."""
    if distiller == "oracle":
        tpl = {}
        for ds in sc.datasets:
            for ln in load(ds):
                pid = hashlib.blake2b(f"{ds.lower()}/{ln.event_id}".encode(), digest_size=8).hexdigest()
                tpl[(ds.lower(), pid)] = ln.template
        pipe = Pipeline(store, OracleDistiller(store, sc.truth_lines, tpl))
    else:
        pipe = Pipeline(store)
    step = batch_minutes * 60_000_000_000
    t0 = time.perf_counter()
    i, n = 0, len(sc.records)
    deploy_ns = sc.deploys[0].ts_ns
    pending_deploys, pending_events = list(sc.deploys), list(sc.events)
    while i < n:
        end = (sc.records[i].ts_ns // step + 1) * step
        j = i
        while j < n and sc.records[j].ts_ns < end:
            j += 1
        batch = Batch(logs=sc.records[i:j])
        if pending_deploys and end > deploy_ns:
            batch.deploys, pending_deploys = pending_deploys, []
        batch.events = [e for e in pending_events if e.ts_ns < end]
        pending_events = [e for e in pending_events if e.ts_ns >= end]
        pipe.write(batch)
        i = j
    if pending_deploys or pending_events:
        pipe.write(Batch(deploys=pending_deploys, events=pending_events))
    secs = time.perf_counter() - t0
    return {"lines": n, "seconds": secs, "lines_per_s": n / secs if secs else 0.0}


def _aliases(store: Store) -> dict[str, str]:
    return {r["old_id"]: r["new_id"] for r in store.query("SELECT old_id, new_id FROM pattern_aliases")}


ISOLATED = 0.8  # a truth is "isolated" when its template is >= 80% of the lines of its patterns
MAIN_PART = 0.5  # ... and its largest pattern holds at least half of its lines


def purity(t: Truth, pats: set[str], mix: dict[tuple[str, str], Counter[str]]) -> float:
    """Share of the lines in the truth's patterns that are of the truth's own template: low when
    the miner merged the injected template with others (then no detector can see it alone)."""
    total = sum(sum(mix[(t.service, p)].values()) for p in pats)
    own = sum(mix[(t.service, p)][t.template_id or ""] for p in pats)
    return own / total if total else 0.0


def isolation(t: Truth, pats: set[str], mix: dict[tuple[str, str], Counter[str]], alias: dict[str, str]) -> str:
    """"" when the miner gave the truth's template a pattern of its own, else why not."""
    if purity(t, pats, mix) < ISOLATED:
        return "merged by the miner"
    parts = Counter(alias.get(r.pattern_id, r.pattern_id) for r in t.records)
    if parts and max(parts.values()) < MAIN_PART * sum(parts.values()):
        return f"split by the miner into {len(parts)} patterns"
    return ""


def evaluate(store: Store, sc: Scenario, *, limit: int = 10) -> dict[str, Any]:
    """Run ``changes`` per service at the deploy and score it against the injected truths."""
    alias = _aliases(store)
    deps = {r["service"]: r["id"] for r in store.query("SELECT id, service FROM deploys")}
    # how the miner split the lines: per (service, pattern), records by ground-truth template
    mix: dict[tuple[str, str], Counter[str]] = defaultdict(Counter)
    for r in sc.records:
        mix[(r.service, alias.get(r.pattern_id, r.pattern_id))][sc.truth_lines.get(id(r), "")] += 1
    out: dict[str, Any] = {"tp": 0, "fp": 0, "found": 0, "truths": len(sc.truths), "missed": [], "false": [],
                           "not_isolated": [],
                           "isolated": 0, "found_isolated": 0,
                           "by_kind": defaultdict(lambda: [0, 0]), "ms": []}
    for svc in sc.services:
        t0 = time.perf_counter()
        res = changes(store, deploy=f"dep_{deps[svc]}", limit=limit)
        out["ms"].append((time.perf_counter() - t0) * 1000)
        truths = [t for t in sc.truths if t.service == svc]
        tpats = {id(t): {alias.get(p, p) for p in t.pattern_ids()} for t in truths}
        all_truth_pats = set().union(*tpats.values()) if tpats else set()
        hit: set[int] = set()
        for item in res["items"]:
            ok = False
            for t in truths:
                if t.kind == "k8s_event":
                    match = item["kind"] == "k8s_event" and item.get("reason") == t.label
                else:
                    match = item["kind"] in COMPATIBLE[t.kind] and item.get("pattern_id") in tpats[id(t)]
                if match:
                    hit.add(id(t))
                    ok = True
            if item["kind"] == "error_share":
                ok = any(d["pattern_id"] in all_truth_pats for d in item["drivers"])
            out["tp" if ok else "fp"] += 1
            if not ok:
                out["false"].append((svc, item["kind"], item.get("template") or item.get("reason"), item["score"]))
        for t in truths:
            out["by_kind"][t.kind][1] += 1
            why = "" if t.kind == "k8s_event" else isolation(t, tpats[id(t)], mix, alias)
            pure = not why
            out["isolated"] += pure
            if why:
                out["not_isolated"].append((svc, t.kind, t.label[:60], why))
            if id(t) in hit:
                out["found"] += 1
                out["found_isolated"] += pure
                out["by_kind"][t.kind][0] += 1
            else:
                out["missed"].append((svc, t.kind, t.label[:80], why or "isolated"))
    out["by_kind"] = dict(out["by_kind"])
    return out


def run(seed: int, workdir: Path, *, datasets: tuple[str, ...] = DATASETS, distiller: str = "real",
        **kw: Any) -> dict[str, Any]:
    sc = build(seed, datasets, **kw)
    with Store.open(workdir / f"scenario-{distiller}-{seed}") as store:
        speed = ingest(store, sc, distiller=distiller)
        res = evaluate(store, sc)
    res.update(seed=seed, ingest=speed, controls=sc.controls)
    return res


def main(argv: list[str] | None = None) -> int:
    """Run the suite over several seeds (all datasets each) and print precision and recall."""
    import argparse
    import statistics
    import tempfile

    ap = argparse.ArgumentParser(description="changes scenario suite (real logs, synthetic deploys)")
    ap.add_argument("--seeds", type=int, default=5)
    ap.add_argument("--first-seed", type=int, default=1)
    ap.add_argument("--distiller", default="real,oracle", help="real, oracle or both (comma-separated)")
    ap.add_argument("--limit", type=int, default=10)
    args = ap.parse_args(argv)
    for distiller in args.distiller.split(","):
        tot: Counter[str] = Counter()
        kinds: dict[str, list[int]] = defaultdict(lambda: [0, 0])
        ms: list[float] = []
        rates: list[float] = []
        false: list[Any] = []
        missed: list[Any] = []
        with tempfile.TemporaryDirectory(prefix="rb-changes-suite-") as d:
            for seed in range(args.first_seed, args.first_seed + args.seeds):
                r = run(seed, Path(d), distiller=distiller)
                for k in ("tp", "fp", "found", "truths", "isolated", "found_isolated"):
                    tot[k] += r[k]
                for k, (f, n) in r["by_kind"].items():
                    kinds[k][0] += f
                    kinds[k][1] += n
                ms += r["ms"]
                rates.append(r["ingest"]["lines_per_s"])
                false += [(seed, *x) for x in r["false"]]
                missed += [(seed, *x) for x in r["missed"]]
                print(f"[{distiller}] seed {seed}: {r['found']}/{r['truths']} found, {r['tp']} true and "
                      f"{r['fp']} false items; {r['ingest']['lines']:,} lines", flush=True)
        prec = tot["tp"] / max(1, tot["tp"] + tot["fp"])
        print(f"\n== distiller={distiller}, {args.seeds} seeds x {len(DATASETS)} services (top {args.limit} items)")
        print(f"precision {prec:.3f} ({tot['tp']} true / {tot['fp']} false items)")
        print(f"recall {tot['found'] / max(1, tot['truths']):.3f} ({tot['found']}/{tot['truths']} injected changes)")
        print(f"recall on changes the miner isolated {tot['found_isolated'] / max(1, tot['isolated']):.3f} "
              f"({tot['found_isolated']}/{tot['isolated']})")
        print("by kind: " + ", ".join(f"{k} {f}/{n}" for k, (f, n) in sorted(kinds.items())))
        print(f"changes latency per service: median {statistics.median(ms):.0f} ms; "
              f"ingest {statistics.median(rates):,.0f} lines/s")
        for x in missed:
            print("  missed:", x)
        for x in false:
            print("  false:", x)
    return 0


if __name__ == "__main__":
    import sys

    sys.exit(main())
