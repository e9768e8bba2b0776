"""Did the fix work? An incident's own evidence before vs after the deploy meant to fix it.

``verify(store, incident=…, deploy=…)`` takes the incident's symptoms (its patterns, error
spans, k8s events) and counts each in the incident's active window (incident start to the
deploy) and after the deploy, then applies the same quasi-Poisson rate test ``changes``
uses (``_stats.rate_test``), Bonferroni-corrected over the symptoms:

- ``fixed``: every symptom's rate fell significantly (p_down * n < ALPHA) and by at least
  ``FIXED_RATIO`` (a tenth of what it was: a halved error storm is still an error storm);
- ``regressed``: an error pattern never seen in the service before the deploy appears after
  it, as significantly as ``changes`` requires of a ``new`` item — whatever the old symptoms do;
- ``not_fixed``: there was enough traffic after the deploy to see a fall, and no fall;
- ``too_early``: too little time after the deploy for even zero occurrences to be
  significant; the verdict says how many more minutes are needed at the current rate.

Counts are per minute (pattern counts are minute buckets), so the windows are whole
minutes: before is [start minute, deploy minute), after begins the minute after the deploy
(the deploy's own minute mixes both versions).

Why the active window and not the whole baseline: the question is whether the failure that
was happening stopped, so the "before" is the failure itself. The outcome is recorded in
memory (``memory.resolve``) once per deploy, so the next similar incident shows the fix.
"""

from __future__ import annotations

import math
import os
from datetime import datetime, timedelta
from typing import Any

import orjson

from runbrief import ids
from runbrief.analyze._stats import rate_test
from runbrief.errors import NotFound
from runbrief.ops import operation
from runbrief.queries import fmt_ts
from runbrief.server.background import job
from runbrief.store.duck import Store

__all__ = ["verify", "auto_verify", "VERDICTS", "ALPHA", "TEXTS"]

VERDICTS = ("fixed", "not_fixed", "regressed", "too_early")
ALPHA = 0.01  # the family-wise false-alarm rate `changes` uses
TEXTS = {"fixed": "every symptom's rate fell significantly after the deploy",
         "not_fixed": "a symptom continues after the deploy at a rate not significantly lower",
         "regressed": "new error pattern(s) appeared after the deploy"}
FIXED_RATIO = 0.1  # after rate / before rate at most this to call a symptom fixed
# How often `runbrief serve` judges open incidents against later deploys (seconds); tests shorten it.
VERIFY_INTERVAL_S = float(os.environ.get("RUNBRIEF_VERIFY_INTERVAL", "60"))


def _loads(v: Any) -> Any:
    return orjson.loads(v) if isinstance(v, str | bytes) else v


def _minutes(a: datetime, b: datetime) -> float:
    return max((b - a).total_seconds() / 60.0, 1e-6)


def _count(store: Store, sym: dict[str, Any], service: str, a: datetime, b: datetime) -> int | None:
    """Occurrences of one symptom in [a, b); None when its kind cannot be counted again."""
    svc = sym.get("service") or service
    if sym.get("pattern_id"):
        return int(store.scalar("SELECT coalesce(sum(count), 0) FROM pattern_counts WHERE service = ? AND "
                                "pattern_id = ? AND minute >= ? AND minute < ?", [svc, sym["pattern_id"], a, b]))
    if sym.get("kind") == "error_spans":
        return int(store.scalar("SELECT count(*) FROM spans WHERE service = ? AND status_code = 'ERROR' AND "
                                "coalesce(name, '') = coalesce(?, name, '') AND start_ts >= ? AND start_ts < ?",
                                [svc, sym.get("span_name"), a, b]))
    if sym.get("kind") == "k8s_event" and sym.get("reason"):
        return int(store.scalar("SELECT coalesce(sum(coalesce(count, 1)), 0) FROM events WHERE "
                                "coalesce(service, '') = ? AND reason = ? AND ts >= ? AND ts < ?",
                                [svc, sym["reason"], a, b]))
    return None


def _exists(store: Store, eid: str) -> bool:
    """``ids.exists``, with log lines checked by ID alone: resolving one reads its values back
    through the miner's regexes, ~0.2 s to import, for an answer that only needs "still there"."""
    if eid.startswith("log_") and eid[4:].isdigit():
        return bool(store.scalar("SELECT count(*) FROM logs WHERE id = ?", [int(eid[4:])]))
    return ids.exists(store, eid)


def _evidence(store: Store, sym: dict[str, Any]) -> list[str]:
    return [e for e in (sym.get("evidence") or []) if _exists(store, e)][:5]


def _new_errors(store: Store, service: str, split: datetime, after_start: datetime, end: datetime, t_a: float,
                t_b: float) -> list[dict[str, Any]]:
    """Error patterns first seen in the service after the deploy, significant as `changes`' ``new``."""
    rows = store.query(
        """SELECT pattern_id, sum(count) n, sum(errors) e, count(*) n_min FROM pattern_counts
           WHERE service = ? AND minute >= ? AND minute < ? AND errors > 0 GROUP BY pattern_id""",
        [service, after_start, end])
    if not rows:
        return []
    # Only the patterns seen after the deploy are looked up before it (not the service's
    # whole history: on a large store that scan was most of verify's time).
    cand = [r["pattern_id"] for r in rows]
    marks = ", ".join("?" * len(cand))
    seen = {r["pattern_id"] for r in store.query(
        f"SELECT DISTINCT pattern_id FROM pattern_counts WHERE service = ? AND minute < ? AND pattern_id IN ({marks})",
        [service, split, *cand])}
    p_after = t_a / (t_a + t_b)
    fresh = [r for r in rows if r["pattern_id"] not in seen]
    out = []
    for r in fresh:
        p = p_after ** int(r["n_min"])
        if p * max(1, len(fresh)) < ALPHA:
            out.append({"pattern_id": r["pattern_id"], "count": int(r["n"]), "errors": int(r["e"]),
                        "p_value": p, "evidence": [ids.make("pat", r["pattern_id"])]})
    return out


def _deploy(store: Store, inc: dict[str, Any], deploy: str | None) -> dict[str, Any]:
    if deploy:
        key = str(deploy).strip().removeprefix("dep_")
        rows = store.query("SELECT * FROM deploys WHERE id = ?", [int(key)]) if key.isdigit() else []
        if not rows:
            raise NotFound(f"no deploy {deploy} in {store.path}; `runbrief deploy list` lists them (IDs look like dep_7)")
        return rows[0]
    rows = store.query("SELECT * FROM deploys WHERE service = ? AND ts > ? ORDER BY ts DESC, id DESC LIMIT 1",
                       [inc["service"], inc["started_at"]])
    if not rows:
        raise NotFound(
            f"no deploy of {inc['service']} after inc_{inc['id']} started ({fmt_ts(inc['started_at'])}): deploy the "
            f"fix and mark it (`runbrief deploy mark --service {inc['service']} --version V`), then verify again")
    return rows[0]


def _judge(store: Store, inc: dict[str, Any], dep: dict[str, Any], end: datetime) -> dict[str, Any]:
    start = inc["started_at"].replace(second=0, microsecond=0)
    split = dep["ts"].replace(second=0, microsecond=0)
    after_start = split + timedelta(minutes=1)
    t_b = _minutes(start, split)
    t_a = _minutes(after_start, end) if end > after_start else 0.0
    syms = (_loads(inc["body"]) or {}).get("symptoms") or []
    dep_id = ids.make("dep", dep["id"])
    counted = [(s, b, a) for s in syms
               if (b := _count(store, s, inc["service"], start, split)) is not None and b > 0
               and (a := _count(store, s, inc["service"], after_start, end)) is not None]
    n = max(1, len(counted))
    items, need = [], 0.0
    for s, before, after in counted:
        rt = rate_test(after, before, t_a, t_b) if t_a > 0 else None
        # minutes after the deploy at which zero occurrences would be significant
        enough = t_b * (math.pow(ALPHA / n, -1.0 / before) - 1.0)
        if rt is not None and rt.p_down * n < ALPHA and rt.ratio <= FIXED_RATIO:
            state = "fixed"
        elif t_a >= enough and after > 0:
            state = "not_fixed"
        elif t_a >= enough:
            state = "fixed"
        else:
            state = "too_early"
            need = max(need, enough - t_a)
        items.append({"key": s.get("key"), "kind": s.get("kind"), "state": state,
                      "before": {"count": before, "minutes": round(t_b, 2)},
                      "after": {"count": after, "minutes": round(t_a, 2)},
                      "ratio": round(rt.ratio, 3) if rt else None,
                      "p_down": rt.p_down if rt else None, "evidence": _evidence(store, s) or [dep_id]})
    new = _new_errors(store, inc["service"], split, after_start, end, t_a, t_b) if t_a > 0 else []
    states = {i["state"] for i in items}
    if new:
        verdict = "regressed"
    elif not items:
        verdict = "too_early"
    elif "not_fixed" in states:
        verdict = "not_fixed"
    elif states == {"fixed"}:
        verdict = "fixed"
    else:
        verdict = "too_early"
    evidence = [dep_id] + [e for i in items for e in i["evidence"]] + [e for x in new for e in x["evidence"]]
    evidence = [e for e in dict.fromkeys(evidence) if _exists(store, e)]
    out: dict[str, Any] = {"id": ids.make("inc", inc["id"]), "verdict": verdict, "deploy": dep_id,
                           "evidence": evidence, "symptoms": items, "new_errors": new,
                           "window": {"before": [fmt_ts(start), fmt_ts(split)], "after": [fmt_ts(after_start), fmt_ts(end)]}}
    if verdict == "too_early":
        out["needed_minutes"] = round(need, 1) if items else None
        out["text"] = (f"too early: about {math.ceil(need)} more minute(s) of traffic at the current rate are "
                       f"needed before a stop can be told from chance" if items else
                       "too early: none of the incident's symptoms can be counted before the deploy")
    else:
        out["text"] = TEXTS[verdict] if verdict != "regressed" else f"{len(new)} {TEXTS[verdict]}"
    return out


def _record(store: Store, inc: dict[str, Any], dep: dict[str, Any], verdict: str) -> None:
    """Record the outcome in memory once per (incident, deploy), as `runbrief resolve` would."""
    from runbrief.analyze import memory

    if verdict == "too_early" or store.read_only:
        return
    base = f"deploy dep_{dep['id']} {dep.get('version') or ''}".strip()
    # The verdict is part of the record (notifications tell `fixed` from `regressed` by it);
    # one record per (incident, deploy) whatever later passes conclude.
    fix = f"{base}: verify {verdict}"
    done = store.scalar("SELECT count(*) FROM incident_fixes WHERE incident_id = ? AND (fix = ? OR "
                        "starts_with(fix, ?))", [inc["id"], base, base + ": "])
    if not done:
        memory.resolve(store, ids.make("inc", inc["id"]), fix=fix, commit=dep.get("commit"),
                       outcome="worked" if verdict == "fixed" else "failed")


@operation("verify", read_only=False)
def verify(store: Store, incident: str | None = None, deploy: str | None = None) -> dict[str, Any]:
    """Did a deploy fix an incident? fixed / not_fixed / regressed / too_early, with evidence IDs.

    Without ``incident``, every incident of the deploy's service that started before it is
    judged (``incidents`` lists them; ``verdict`` is the most recent one's). The outcome is
    recorded in memory, so similar incidents later show whether this fix worked.
    """
    from runbrief.analyze.incidents import data_now, refresh
    from runbrief.analyze.memory import _row

    refresh(store)
    end = data_now(store)
    if incident:
        rows = [_row(store, incident)]
    elif deploy:
        dep0 = _deploy(store, {"service": None, "started_at": None, "id": None}, deploy)
        rows = store.query("SELECT * FROM incidents WHERE service = ? AND started_at < ? ORDER BY started_at DESC",
                           [dep0["service"], dep0["ts"]])
        if not rows:
            raise NotFound(f"no incident of {dep0['service']} started before dep_{dep0['id']}; nothing to verify")
    else:
        rows = store.query("SELECT * FROM incidents WHERE status = 'open' ORDER BY started_at DESC LIMIT 1")
        if not rows:
            raise NotFound("no open incident to verify; pass --incident inc_N (`runbrief incidents --all` lists them)")
    judged = []
    for inc in rows:
        dep = _deploy(store, inc, deploy)
        res = _judge(store, inc, dep, end or dep["ts"])
        _record(store, inc, dep, res["verdict"])
        judged.append(res)
    return {**judged[0], "incidents": judged}


def auto_verify(store: Store) -> list[dict[str, Any]]:
    """Judge every open incident that a later deploy of its service may have fixed; record final verdicts.

    Inside `runbrief serve` this runs as traffic arrives, so an incident a deploy fixed
    turns resolved (and one it did not fix gets a failed fix in memory) without anyone
    asking; ``too_early`` verdicts record nothing and are judged again on the next run.
    """
    from runbrief.analyze.incidents import data_now

    end = data_now(store)
    out = []
    for inc in store.query("SELECT * FROM incidents WHERE status = 'open' ORDER BY started_at"):
        deps = store.query("SELECT * FROM deploys WHERE service = ? AND ts > ? ORDER BY ts DESC, id DESC LIMIT 1",
                           [inc["service"], inc["started_at"]])
        if not deps or end is None:
            continue
        res = _judge(store, inc, deps[0], end)
        _record(store, inc, deps[0], res["verdict"])
        out.append(res)
    return out


@job("verify", every_s=VERIFY_INTERVAL_S)
def _verify_job(store: Store) -> None:
    auto_verify(store)
