"""What changed: new patterns, rate shifts, stopped heartbeats, error share and k8s events.

``changes(store, service=…, since_deploy=…)`` compares the after window of a split (a
deploy, or ``since``) with its baseline (see ``_windows``) using the per-minute pattern
counts (``baseline``), and returns ranked items, each citing the evidence it rests on.

The rules, and why:
- ``new``: first seen in the service after the split (never before, anywhere in its
  history), and significantly so: at the baseline's zero rate, the chance to show up in
  ``k`` distinct minutes of the after window is (T_a/(T_a+T_b))^k, Bonferroni-corrected.
  Distinct minutes, not lines: one burst of a hundred lines is one occurrence (logs come
  in bursts), which is what keeps a rare template's first appearance from ranking.
  Quieter new patterns are not items; ``summary.also_new`` lists the loudest of them.
- ``rate_up`` / ``rate_down``: the exact conditional binomial test of two Poisson rates,
  normalized by window lengths, on counts deflated by the pattern's own dispersion
  (quasi-Poisson; the larger of the baseline's and the after window's, so a burst on either
  side reads as burstiness), Bonferroni-corrected over the patterns with enough volume;
  plus an effect size (rate ratio >= 2 either way) and a minimum volume (>= 10 lines
  after for a rise, >= 10 expected lines for a fall) so that noise does not rank.
- ``stopped``: absent after the split, and regular before it — seen in at least 5
  baseline minutes, in 3 of the last segment's 4 quarters, recently, and so often that
  an after window this long without it is improbable ((1 - f)^T_a, f = share of minutes).
- ``error_share``: the service's share of ERROR+ lines, pooled two-proportion test with the
  error counts' dispersion, a minimum shift; it cites the patterns that drive it.
- ``k8s_event``: Warning (and notable Normal) events after the split (``_k8s_changes``).

Scores are "impact": severity weight × (log2 of the rate ratio, capped at 8, + log2 of the
extra lines); a new pattern's ratio term is its novelty's -log10 p (same cap), so a new error
storm outranks a doubled info line and a single new line ranks low.
"""

from __future__ import annotations

import math
from datetime import datetime
from typing import Any

from runbrief import ids
from runbrief.analyze import _windows
from runbrief.analyze._k8s_changes import k8s_items
from runbrief.analyze._stats import proportion_test, rate_test
from runbrief.analyze.baseline import (
    PatternStat,
    ServiceStat,
    attach_rows,
    example,
    history,
    window_stats,
)
from runbrief.errors import UsageError
from runbrief.ops import operation
from runbrief.queries import fmt_ts
from runbrief.records import severity_number_for
from runbrief.store.duck import Store

__all__ = ["changes", "KINDS", "ALPHA", "MIN_COUNT", "MIN_RATIO"]

KINDS = ("new", "rate_up", "rate_down", "stopped", "error_share", "k8s_event")
ALPHA = 0.01          # family-wise false-alarm rate per test family (Bonferroni)
MIN_COUNT = 10        # lines: below this a rate shift is noise, whatever its p-value
MIN_RATIO = 2.0       # effect size: the rate at least doubled or halved
MIN_SHARE_SHIFT = 0.01
STOP_MIN_MINUTES = 5
ALSO_NEW = 5          # quiet new patterns cited in the summary


def _sev_weight(severity: str | None, errors: int) -> tuple[float, str]:
    if errors > 0:
        return 4.0, (severity or "ERROR").upper()
    n = severity_number_for(severity)
    if n >= 21:
        return 5.0, "FATAL"
    if n >= 17:
        return 4.0, "ERROR"
    if n >= 13:
        return 2.0, "WARN"
    return 1.0, (severity or "").upper()


def _side(count: int, minutes: float) -> dict[str, Any]:
    return {"count": int(count), "per_min": round(count / minutes, 4) if minutes > 0 else None,
            "minutes": round(minutes, 2)}


def _pattern_items(store: Store, plan: _windows.Plan,
                   stats: list[PatternStat]) -> tuple[list[dict[str, Any]], list[PatternStat]]:
    t_a, t_b = plan.after.minutes, plan.baseline_minutes
    n_rate = max(1, sum(1 for s in stats if s.before + s.after >= MIN_COUNT))
    n_new = max(1, sum(1 for s in stats if s.before == 0))
    n_reg = max(1, sum(1 for s in stats if s.before_minutes >= STOP_MIN_MINUTES))
    p_after = t_a / (t_a + t_b)
    found: list[tuple[str, PatternStat, dict[str, Any]]] = []
    unseen: list[PatternStat] = []
    for s in stats:
        if s.before == 0 and s.after > 0:
            unseen.append(s)
            continue
        hit = _rate_change(s, plan, n_rate, n_reg)
        if hit:
            found.append(hit)
    # New = never seen in the service before the split. A pattern whose first sighting
    # anywhere (patterns.first_seen) is after the split is new without looking further;
    # the others cost a look at the service's history (a scan of it), so only those that
    # would become items get one; the quiet ones are reported as absent from the baseline.
    meta = _pattern_meta(store, [s.pattern_id for s in unseen] + [s.pattern_id for _, s, _ in found])
    as_new, as_back, quiet = [], [], []
    for s in unseen:
        p = p_after ** s.after_minutes
        if p * n_new < ALPHA:
            as_new.append((s, p))
        elif hit := _rate_change(s, plan, n_rate, n_reg):
            as_back.append(hit)
        else:
            quiet.append(s)
    check = [s for s, _ in as_new] + [h[1] for h in as_back]
    doubtful = [s for s in check if not ((g := meta.get(s.pattern_id, (None, None, None))[2]) and g >= plan.split)]
    seen_before = history(store, [(s.service, s.pattern_id) for s in doubtful], plan.after.start)
    for s, p in as_new:
        if (s.service, s.pattern_id) not in seen_before:
            found.append(("new", s, {"p_value": p}))
        elif hit := _rate_change(s, plan, n_rate, n_reg):  # seen before, outside the baseline
            hit[2]["returned"] = True
            found.append(hit)
    for hit in as_back:
        if (hit[1].service, hit[1].pattern_id) in seen_before:
            hit[2]["returned"] = True
            found.append(hit)
        else:  # never seen: new after all, though too sparse to be significant as such
            quiet.append(hit[1])
    quiet_new = sorted(quiet, key=_quiet_rank)
    attach_rows(store, [s for _, s, _ in found])  # exact edge times and examples, items only
    items = []
    for kind, s, extra in found:
        template, severity, first = meta.get(s.pattern_id, (None, None, None))
        weight, sev = _sev_weight(severity, s.after_errors if kind in ("new", "rate_up") else s.before_errors)
        if kind == "new":
            first = s.first_after
        elif s.first_before is not None:
            first = min(first, s.first_before) if first else s.first_before
        items.append(_pattern_item(kind, s, extra, plan, template, sev, weight, first))
    return items, quiet_new


def _rate_change(s: PatternStat, plan: _windows.Plan, n_rate: int,
                 n_reg: int) -> tuple[str, PatternStat, dict[str, Any]] | None:
    t_a, t_b = plan.after.minutes, plan.baseline_minutes
    # the effect-size and volume gates first: they are cheap and most patterns stop here,
    # so the exact tails are computed for a handful of patterns, not thousands
    expected = s.before * t_a / t_b
    ratio = ((s.after + 0.5) / t_a) / ((s.before + 0.5) / t_b)
    up = s.after >= MIN_COUNT and ratio >= MIN_RATIO
    down = expected >= MIN_COUNT and ratio <= 1 / MIN_RATIO
    stop = s.after == 0 and _regular(s, plan)
    if not (up or down or stop):
        return None
    phi = s.dispersion(t_b, plan.bucket_minutes, t_a)
    rt = rate_test(s.after, s.before, t_a, t_b, phi)
    extra = {"ratio": round(rt.ratio, 3), "dispersion": round(phi, 2), "expected": round(rt.expected, 2),
             "excess": rt.excess}
    if up and rt.p_up * n_rate < ALPHA:
        return "rate_up", s, {**extra, "p_value": rt.p_up}
    if stop and _absent_p(s, t_a, t_b) * n_reg < ALPHA:
        return "stopped", s, {**extra, "p_value": _absent_p(s, t_a, t_b)}
    if down and rt.p_down * n_rate < ALPHA:
        return "rate_down", s, {**extra, "p_value": rt.p_down}
    return None


def _regular(s: PatternStat, plan: _windows.Plan) -> bool:
    if s.before_minutes < STOP_MIN_MINUTES or s.spread < 3 or s.last_before is None:
        return False
    mean_gap_min = plan.baseline_minutes / s.before_minutes
    return (plan.after.start - s.last_before).total_seconds() / 60.0 <= 3 * mean_gap_min + 1


def _absent_p(s: PatternStat, t_a: float, t_b: float) -> float:
    f = min(1.0, s.before_minutes / t_b)
    return (1.0 - f) ** t_a


def _pattern_meta(store: Store, pattern_ids: list[str]) -> dict[str, tuple[str, str | None, datetime | None]]:
    """(template, severity, first seen anywhere) of each pattern."""
    if not pattern_ids:
        return {}
    rows = store.cursor().execute(
        "SELECT pattern_id, template, severity, first_seen FROM patterns "
        "WHERE list_contains(?::VARCHAR[], pattern_id)",
        [sorted(set(pattern_ids))],
    ).fetchall()
    return {p: (t, sev, f) for p, t, sev, f in rows}


def _pattern_item(kind: str, s: PatternStat, extra: dict[str, Any], plan: _windows.Plan, template: str | None,
                  sev: str, weight: float, first: datetime | None) -> dict[str, Any]:
    t_a, t_b = plan.after.minutes, plan.baseline_minutes
    ratio = extra.get("ratio") or 0.0
    if kind == "new":
        novelty = min(8.0, -math.log10(max(extra["p_value"], 1e-300)))  # as a rate ratio, capped alike
        score = weight * (novelty + math.log2(1 + s.after))
        what = f"new pattern: {s.after} line(s) after the split, never seen before"
    elif kind == "rate_up":
        score = weight * (min(math.log2(ratio), 8.0) + math.log2(1 + extra["excess"]))
        what = f"rate up x{ratio:.1f}: {s.after / t_a:.2f}/min after vs {s.before / t_b:.2f}/min before"
    elif kind == "stopped":
        # a rate gone to zero: scored as a fall, at (almost) full weight (a heartbeat matters)
        score = 0.9 * weight * (min(math.log2(1 / max(ratio, 1e-9)), 8.0) + math.log2(1 + extra["expected"]))
        what = (f"stopped: seen in {s.before_minutes} baseline minutes ({s.before} lines), "
                f"none in the {t_a:.0f} min after")
    else:
        score = 0.5 * weight * (min(math.log2(1 / max(ratio, 1e-9)), 8.0) + math.log2(1 - extra["excess"]))
        what = f"rate down x{ratio:.2f}: {s.after / t_a:.2f}/min after vs {s.before / t_b:.2f}/min before"
    ex = example(s.example_before if kind in ("stopped", "rate_down") else s.example_after) or example(
        s.example_after or s.example_before)
    pid = ids.make("pat", s.pattern_id)
    evidence = [pid] + ([ex["id"]] if ex and ex.get("id") else []) + (
        [plan.deploy["evidence_id"]] if plan.deploy else [])
    item: dict[str, Any] = {
        "kind": kind,
        "service": s.service,
        "evidence_id": pid,
        "evidence_ids": evidence,
        "score": round(score, 2),
        "summary": what,
        "pattern_id": s.pattern_id,
        "template": template,
        "severity": sev or None,
        "example": ex,
        "before": {**_side(s.before, t_b), "errors": int(s.before_errors), "minutes_present": s.before_minutes},
        "after": {**_side(s.after, t_a), "errors": int(s.after_errors), "minutes_present": s.after_minutes},
        "ratio": None if kind == "new" else extra.get("ratio"),
        "p_value": float(f"{extra['p_value']:.3g}"),
        "first_seen": fmt_ts(first),
        "first_after": fmt_ts(s.first_after),
        "last_seen": fmt_ts(s.last_after or s.last_before),
    }
    if kind != "new":
        item["dispersion"] = extra.get("dispersion")
    if extra.get("returned"):
        item["summary"] += " (absent from the whole baseline, seen before it)"
    return item


def _quiet_rank(s: PatternStat) -> tuple[int, int, int, str]:
    return (-s.after_errors, -s.after_minutes, -s.after, s.pattern_id)


def _also_new(store: Store, quiet: list[PatternStat], n: int = ALSO_NEW) -> list[dict[str, Any]]:
    """The loudest patterns absent from the baseline but too sparse to be items: cited, not
    ranked (errors first). Not checked against older history: some may be returning ones."""
    quiet = sorted(quiet, key=_quiet_rank)[:n]
    meta = _pattern_meta(store, [s.pattern_id for s in quiet])
    return [{"evidence_id": ids.make("pat", s.pattern_id), "service": s.service, "template": meta.get(
        s.pattern_id, (None, None, None))[0], "count": s.after, "minutes_present": s.after_minutes,
        "errors": s.after_errors} for s in quiet]


def _error_share_items(store: Store, plan: _windows.Plan, stats: list[PatternStat],
                       svc: list[ServiceStat]) -> list[dict[str, Any]]:
    t_b = plan.baseline_minutes
    n_tests = max(1, len(svc))
    items = []
    for sv in svc:
        if sv.after < 2 * MIN_COUNT or sv.before < 2 * MIN_COUNT or sv.before_errors + sv.after_errors < 5:
            continue
        share_b, share_a = sv.before_errors / sv.before, sv.after_errors / sv.after
        delta = share_a - share_b
        ratio = ((sv.after_errors + 0.5) / sv.after) / ((sv.before_errors + 0.5) / sv.before)
        _, p = proportion_test(sv.after_errors, sv.after, sv.before_errors, sv.before,
                               sv.error_dispersion(t_b, plan.bucket_minutes, plan.after.minutes))
        if abs(delta) < MIN_SHARE_SHIFT or 1 / 1.5 < ratio < 1.5 or p * n_tests >= ALPHA:
            continue
        drivers = sorted(
            ((s.after_errors / sv.after - s.before_errors / sv.before, s) for s in stats
             if s.service == sv.service and (s.after_errors or s.before_errors)),
            key=lambda d: -d[0] if delta > 0 else d[0],
        )
        drivers = [(d, s) for d, s in drivers if d * delta > 0][:3]
        meta = _pattern_meta(store, [s.pattern_id for _, s in drivers])
        evidence = [ids.make("pat", s.pattern_id) for _, s in drivers]
        excess = abs(sv.after_errors - share_b * sv.after)
        # a summary of pattern changes listed on their own: it ranks just under an equal pattern change
        score = 0.9 * 4.0 * (min(abs(math.log2(ratio)), 8.0) + math.log2(1 + excess)) * (1.0 if delta > 0 else 0.5)
        items.append({
            "kind": "error_share",
            "service": sv.service,
            "evidence_id": evidence[0] if evidence else (plan.deploy or {}).get("evidence_id"),
            "evidence_ids": evidence + ([plan.deploy["evidence_id"]] if plan.deploy else []),
            "score": round(score, 2),
            "summary": f"error share {'up' if delta > 0 else 'down'}: {share_a:.1%} of lines after vs "
                       f"{share_b:.1%} before",
            "before": {"errors": sv.before_errors, "lines": sv.before, "share": round(share_b, 5)},
            "after": {"errors": sv.after_errors, "lines": sv.after, "share": round(share_a, 5)},
            "ratio": round(ratio, 3),
            "p_value": float(f"{p:.3g}"),
            "drivers": [{"evidence_id": ids.make("pat", s.pattern_id), "pattern_id": s.pattern_id,
                         "template": meta.get(s.pattern_id, (None, None, None))[0], "errors_before": s.before_errors,
                         "errors_after": s.after_errors, "share_delta": round(d, 5)} for d, s in drivers],
        })
    return [i for i in items if i["evidence_id"]]


def changes(store: Store, service: str | None = None, since_deploy: bool = False, since: str | None = None,
            deploy: str | None = None, baseline: str | None = None, limit: int = 20,
            now: datetime | None = None) -> dict[str, Any]:
    """What changed in a service since a deploy (or a time): ranked items, each with its evidence."""
    if limit < 1:
        raise UsageError(f"limit must be at least 1, got {limit}")
    plan = _windows.plan(store, service=service, since_deploy=since_deploy, since=since, deploy=deploy,
                         baseline=baseline, now=now)
    items: list[dict[str, Any]] = []
    quiet_new: list[PatternStat] = []
    stats: list[PatternStat] = []
    if plan.segments:
        stats, svc_stats = window_stats(store, plan.service, plan.segments, plan.after, plan.bucket_minutes)
        items, quiet_new = _pattern_items(store, plan, stats)
        items += _error_share_items(store, plan, stats, svc_stats)
    events, routine = k8s_items(store, plan)
    items += events
    items.sort(key=lambda i: (-i["score"], KINDS.index(i["kind"]), i["evidence_id"]))
    counts = {k: sum(1 for i in items if i["kind"] == k) for k in KINDS}
    return {
        "service": plan.service,
        "window": plan.window_json(),
        "baseline": plan.baseline_json(baseline),
        "deploy": plan.deploy,
        "items": items[:limit],
        "summary": {"total": len(items), "truncated": len(items) > limit, "by_kind": counts,
                    "patterns_compared": len(stats), "new_below_threshold": len(quiet_new),
                    "also_new": _also_new(store, quiet_new),
                    "routine_k8s_events": routine},
        "notes": plan.notes,
    }


@operation("changes")
def changes_op(store: Store, service: str | None = None, since_deploy: bool = False, since: str | None = None,
               deploy: str | None = None, baseline: str | None = None, limit: int = 20) -> dict[str, Any]:
    """What changed since a deploy or a time: new patterns, rate shifts, stopped ones, error share, k8s events.

    ``since_deploy`` compares around the service's latest deploy, ``deploy`` around a given
    one (dep_…), ``since`` (1h or ISO) with the window before it of equal length and the same
    hours on earlier days; ``baseline`` sets the baseline length (default 24h for deploys).
    Items are ranked by impact and each cites its evidence IDs.
    """
    return changes(store, service=service, since_deploy=since_deploy, since=since, deploy=deploy,
                   baseline=baseline, limit=limit)
