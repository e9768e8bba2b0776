"""Kubernetes (platform) events inside the after window, as ``k8s_event`` change items.

Events of one (service, reason, type) are one item: a crash-looping Deployment with ten
pods is one finding citing its latest events, not ten. ``count`` on an event row is the
platform's own cumulative counter, so occurrences are summed as the largest count seen per
object (safe whether the ingester stored each observation or only the last one).
Normal events that every rollout emits (Scheduled, Pulled, Created, Started…) are left out
and counted; Warnings and the few Normal reasons that mean trouble are kept.
"""

from __future__ import annotations

import math
from typing import Any

from runbrief import ids
from runbrief.analyze._windows import Plan
from runbrief.queries import fmt_ts
from runbrief.store.duck import Store

__all__ = ["k8s_items", "SEVERE_REASONS", "NOTABLE_NORMAL_REASONS"]

SEVERE_REASONS = frozenset({
    "CrashLoopBackOff", "OOMKilled", "OOMKilling", "ImagePullBackOff", "ErrImagePull", "FailedScheduling",
    "Unhealthy", "BackOff", "Evicted", "Failed", "FailedMount", "FailedAttachVolume",
    "FailedCreatePodSandBox", "NodeNotReady", "FailedCreate", "ProbeError", "SystemOOM",
})
NOTABLE_NORMAL_REASONS = frozenset({"Killing", "Preempted", "NodeNotReady", "Rebooted", "Evicted", "OOMKilled"})


def _where(plan: Plan, segments: bool) -> tuple[str, list[Any]]:
    spans = plan.segments if segments else [plan.after]
    parts, args = [], []
    for s in spans:
        parts.append("(ts >= ? AND ts < ?)")
        args.extend([s.start, s.end])
    where = "(" + " OR ".join(parts or ["FALSE"]) + ")"
    if plan.service is not None:
        where += " AND service = ?"
        args.append(plan.service)
    return where, args


def k8s_items(store: Store, plan: Plan) -> tuple[list[dict[str, Any]], int]:
    """(items, number of routine Normal events left out)."""
    where, args = _where(plan, segments=False)
    # the after interval starts at the split's minute; events keep their exact split
    where += " AND ts >= ?"
    args.append(plan.split)
    rows = store.query(
        f"""WITH per_obj AS (
              SELECT coalesce(service, '') AS service, reason, coalesce(type, 'Normal') AS type,
                     object_kind, object_name, namespace, count(*) AS n, max(coalesce(count, 1)) AS occ,
                     min(coalesce(first_ts, ts)) AS first_ts, max(coalesce(last_ts, ts)) AS last_ts,
                     arg_max(id, ts) AS latest_id, arg_max(message, ts) AS message, max(ts) AS ts
              FROM events WHERE {where} GROUP BY ALL)
            SELECT service, reason, type, sum(n)::BIGINT AS events, sum(occ)::BIGINT AS occurrences,
                   min(first_ts) AS first_ts, max(last_ts) AS last_ts,
                   list(latest_id ORDER BY ts DESC) AS ids, arg_max(message, ts) AS message,
                   list(DISTINCT concat_ws('/', nullif(object_kind, ''), object_name)) AS objects,
                   list(DISTINCT namespace) FILTER (WHERE namespace <> '') AS namespaces
            FROM per_obj GROUP BY service, reason, type""",
        args,
    )
    if not rows:
        return [], 0
    bwhere, bargs = _where(plan, segments=True)
    before = {
        (r["service"], r["reason"]): r["n"]
        for r in store.query(
            f"SELECT coalesce(service, '') AS service, reason, count(*) AS n FROM events WHERE {bwhere} GROUP BY ALL",
            bargs,
        )
    } if plan.segments else {}
    items: list[dict[str, Any]] = []
    routine = 0
    for r in rows:
        warning = str(r["type"]).lower() == "warning"
        if not warning and r["reason"] not in NOTABLE_NORMAL_REASONS:
            routine += int(r["events"])
            continue
        weight = 4.0 if r["reason"] in SEVERE_REASONS else (2.0 if warning else 1.0)
        b = int(before.get((r["service"], r["reason"]), 0))
        a = int(r["events"])
        if b == 0:
            novelty = 6.0
        else:
            ratio = (a / plan.after.minutes) / (b / max(plan.baseline_minutes, 1.0))
            novelty = max(0.0, min(6.0, math.log2(ratio))) if ratio > 0 else 0.0
        score = weight * (novelty + math.log2(1 + int(r["occurrences"])))
        evidence = [ids.make("evt", i) for i in r["ids"][:5]]
        objects = sorted(o for o in r["objects"] if o)[:5]
        what = f"{r['reason']} ({r['type']}) on {', '.join(objects) or 'unknown object'}"
        seen = f"{b} in baseline" if plan.segments else "no baseline"
        items.append({
            "kind": "k8s_event",
            "service": r["service"] or None,
            "evidence_id": evidence[0],
            "evidence_ids": evidence,
            "score": round(score, 2),
            "summary": f"{what}: {a} event(s), {int(r['occurrences'])} occurrence(s) since the split ({seen})",
            "reason": r["reason"],
            "type": r["type"],
            "objects": objects,
            "namespaces": sorted(r["namespaces"] or []),
            "message": r["message"],
            "before": {"count": b},
            "after": {"count": a, "occurrences": int(r["occurrences"])},
            "first_seen": fmt_ts(r["first_ts"]),
            "last_seen": fmt_ts(r["last_ts"]),
        })
    return items, routine
