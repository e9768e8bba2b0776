"""Incidents: anomalies grouped by cause, persisted with stable IDs, detected continuously.

A *symptom* is one anomaly: a new or surged error pattern, an error-share jump, a run of
Kubernetes warning events on one workload, or a new or surged kind of error span. Symptoms
are linked when they share a service and start close together, follow the same deploy,
share trace IDs, or carry the same pattern fingerprint in different services; each linked
group is one incident (one per cause, not one per symptom). The service that started it is
the one with the earliest symptom.

Identity across runs: an incident stores the keys of its symptoms (``members``). A later
detection that finds any of those keys again updates that open incident instead of opening
another; a symptom of a resolved incident opens a new one only if it shows activity after
the resolution (a recurrence, which then finds the resolved one as similar).

Times are data time (the newest record in the store), not the wall clock, so replayed or
backfilled telemetry is judged as it happened.
"""

from __future__ import annotations

import math
import os
import threading
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson

from runbrief import ids
from runbrief.analyze import diagnose, symptoms
from runbrief.errors import NotFound, UsageError
from runbrief.ops import operation
from runbrief.queries import fmt_ts, parse_duration, parse_time
from runbrief.server.background import job
from runbrief.store.duck import Store

__all__ = ["detect", "refresh", "group", "impact", "data_now", "list_incidents", "get_incident", "STATUSES"]

STATUSES = ("open", "resolved", "closed")
WINDOW = timedelta(minutes=60)          # how far back each detection looks
LINK_GAP = timedelta(minutes=10)        # same-service symptoms starting this close are one incident
DEPLOY_LINK = timedelta(minutes=60)     # symptoms this soon after the same deploy are one incident
CLOSE_AFTER = timedelta(hours=2)        # an open incident with no activity this long is closed

_detect_lock = threading.Lock()


# ------------------------------------------------------------------ grouping
class _Groups:
    """Union-find over symptom indexes."""

    def __init__(self, n: int) -> None:
        self.parent = list(range(n))

    def find(self, i: int) -> int:
        while self.parent[i] != i:
            self.parent[i] = self.parent[self.parent[i]]
            i = self.parent[i]
        return i

    def union(self, a: int, b: int) -> None:
        ra, rb = self.find(a), self.find(b)
        if ra != rb:
            self.parent[max(ra, rb)] = min(ra, rb)


TRACE_JACCARD = 0.5   # two symptoms are the same failure when most of their requests are shared


def _jaccard(a: set[str], b: set[str]) -> float:
    return len(a & b) / len(a | b) if a and b else 0.0


def _strong(a: symptoms.Symptom, b: symptoms.Symptom) -> str | None:
    """Evidence that ties two symptoms to one cause, named (None: nothing ties them)."""
    if _jaccard(a.trace_ids, b.trace_ids) >= TRACE_JACCARD:
        return "the same requests (traces)"
    if a.pattern_id and a.pattern_id == b.pattern_id:
        return "the same log pattern"
    for x, y in ((a, b), (b, a)):  # an error share driven by the other's pattern
        if x.kind == "error_share" and y.pattern_id and ids.make("pat", y.pattern_id) in x.evidence[:1]:
            return "its error pattern drives the error share"
    if a.kind == "k8s_event" and b.kind == "k8s_event" and a.workload == b.workload and a.namespace == b.namespace:
        return "the same Kubernetes workload"
    return None


def _weak(a: symptoms.Symptom, b: symptoms.Symptom) -> str | None:
    """Closeness without request-level evidence: the same service starting together, or one deploy."""
    if a.service == b.service and abs(a.first - b.first) <= LINK_GAP:
        return "the same service, starting within 10 min"
    if a.deploy and b.deploy and a.deploy["id"] == b.deploy["id"]:
        return "the same deploy"
    if a.workload and a.workload == b.workload and (a.kind == "k8s_event") != (b.kind == "k8s_event"):
        return "the same workload"
    return None


def _distinct(a: symptoms.Symptom, b: symptoms.Symptom) -> bool:
    """Both carry their own requests and those mostly differ: two failures, whatever else they share."""
    return bool(a.trace_ids and b.trace_ids) and _jaccard(a.trace_ids, b.trace_ids) < TRACE_JACCARD


def _linked(a: symptoms.Symptom, b: symptoms.Symptom) -> bool:
    return bool(_strong(a, b) or (_weak(a, b) and not _distinct(a, b)))


def group(found: list[symptoms.Symptom]) -> list[list[symptoms.Symptom]]:
    """Link related symptoms; each group is one incident, earliest symptom first.

    One incident per cause: symptoms join on evidence that ties them (shared requests, the
    same pattern, an error share driven by the pattern, one workload's events). Closeness
    alone (one service, one deploy) joins only symptoms that do not each carry requests of
    their own that differ, and a symptom without requests (an error share, an untraced
    line, a platform event) that is close to several such causes joins the nearest in time
    rather than bridging them: separate regressions of one deploy stay separate incidents.
    Each symptom's ``joined_by`` says why it is in its incident.
    """
    n = len(found)
    g = _Groups(n)
    why: dict[int, str] = {}
    for i in range(n):
        for j in range(i + 1, n):
            r = _strong(found[i], found[j])
            if r:
                g.union(i, j)
                why.setdefault(j, r)
                why.setdefault(i, r)
    # closeness: first among symptoms that carry requests or neither does ...
    traced = {g.find(i) for i in range(n) if found[i].trace_ids}
    members: dict[int, list[int]] = {}
    for k in range(n):
        members.setdefault(g.find(k), []).append(k)
    for i in range(n):
        for j in range(i + 1, n):
            gi, gj = g.find(i), g.find(j)
            if gi == gj or (gi in traced) != (gj in traced):
                continue
            r = _weak(found[i], found[j])
            if not r or any(_distinct(found[a], found[b]) for a in members[gi] for b in members[gj]
                            if found[a].trace_ids and found[b].trace_ids):
                continue
            g.union(i, j)
            why.setdefault(j, r)
            root = g.find(i)
            merged = members.pop(gi) + members.pop(gj)
            members[root] = merged
            if gi in traced or gj in traced:
                traced = (traced - {gi, gj}) | {root}
    # ... then a group without requests joins the nearest group with requests it is close to
    for i in range(n):
        gi = g.find(i)
        if gi in traced:
            continue
        near = [(abs(found[i].first - found[j].first), j) for j in range(n)
                if g.find(j) in traced and _weak(found[i], found[j])]
        if near:
            _, j = min(near)
            r = _weak(found[i], found[j]) or ""
            g.union(i, j)
            why.setdefault(i, r)
            traced = {g.find(k) for k in range(n) if found[k].trace_ids}
    groups: dict[int, list[symptoms.Symptom]] = {}
    for i, s in enumerate(found):
        s.joined_by = why.get(i, "")
        groups.setdefault(g.find(i), []).append(s)
    out = [sorted(v, key=lambda s: (s.first, symptoms.KIND_ORDER.get(s.kind, 9))) for v in groups.values()]
    return sorted(out, key=lambda grp: grp[0].first)


# ------------------------------------------------------------------ impact
def impact(found: list[symptoms.Symptom]) -> tuple[float, dict[str, Any]]:
    """A weighted sum of four parts, each shown so the ranking can be checked.

    impact = 30·severity + 20·novelty + 10·log10(1 + error volume) + 10·log10(1 + affected)
    where severity and novelty are 0..1; error volume counts each failure once: the distinct
    failed requests (traces) of the symptoms that carry them, plus the error lines and
    warning events of those that do not (a request that failed in three spans and logged
    twice is one); affected counts distinct traces (requests), else affected workloads.
    """
    traces: set[str] = set()
    for s in found:
        traces |= s.trace_ids
    untraced = sum(s.errors or s.count for s in found if not s.trace_ids)
    volume = len(traces) + untraced
    workloads = {s.workload or s.service for s in found}
    affected = len(traces) or len(workloads)
    sev = max(s.severity_weight for s in found)
    nov = max(s.novelty for s in found)
    score = 30 * sev + 20 * nov + 10 * math.log10(1 + volume) + 10 * math.log10(1 + affected)
    parts = {
        "severity": round(sev, 2),
        "novelty": round(nov, 2),
        "error_volume": volume,
        "failed_requests": len(traces),
        "untraced_errors": untraced,
        "affected_requests": len(traces),
        "affected_workloads": len(workloads),
        "formula": "30*severity + 20*novelty + 10*log10(1+error_volume) + 10*log10(1+affected)",
    }
    return round(score, 1), parts


# ------------------------------------------------------------------ persistence
def _loads(v: Any) -> Any:
    if v is None:
        return None
    return orjson.loads(v) if isinstance(v, str | bytes) else v


def _dumps(v: Any) -> str:
    return orjson.dumps(v, default=_json_default).decode()


def _json_default(o: Any) -> Any:
    if isinstance(o, datetime):
        return fmt_ts(o)
    if isinstance(o, set):
        return sorted(o)
    raise TypeError(type(o))


def _rows(store: Store, where: str = "", args: list[Any] | None = None) -> list[dict[str, Any]]:
    return store.query(f"SELECT * FROM incidents {where}", args or [])


def data_now(store: Store) -> datetime | None:
    """The newest record time in the store: detection's notion of "now"."""
    return store.scalar(
        """SELECT greatest((SELECT max(ts) FROM logs), (SELECT max(coalesce(last_ts, minute)) FROM pattern_counts),
                           (SELECT max(start_ts) FROM spans), (SELECT max(last_ts) FROM events),
                           (SELECT max(ts) FROM deploys))"""
    )


def _utcnow() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


def _build(store: Store, found: list[symptoms.Symptom], known: dict[str, Any] | None) -> dict[str, Any]:
    """The stored shape of one incident from its symptoms (diagnosis included)."""
    origin = found[0]
    score, parts = impact(found)
    services = sorted({s.service for s in found}, key=lambda sv: (sv != origin.service, sv))
    inc = {
        "service": origin.service,
        "started_at": min(s.first for s in found),
        "last_seen": max(s.last for s in found),
        "impact": score,
        "impact_parts": parts,
        "affected_services": services,
        "deploy": origin.deploy or next((s.deploy for s in found if s.deploy), None),
        "symptoms": [s.to_dict() for s in found],
    }
    diag = diagnose.diagnose(store, inc, exclude_id=(known or {}).get("id"))
    inc.update(diag)
    inc["fingerprint"] = symptoms.fingerprint(found, (diag.get("cause") or {}).get("name"))
    return inc


def _save(store: Store, inc: dict[str, Any], existing: dict[str, Any] | None, now_wall: datetime) -> int:
    body_keys = ("impact_parts", "deploy", "symptoms", "claims", "timeline", "quotes", "cause")
    body = {k: inc.get(k) for k in body_keys}
    members = sorted({s["key"] for s in inc["symptoms"]})
    dep = inc.get("deploy")
    dep_id = int(dep["id"].removeprefix("dep_")) if dep else None
    cause = (inc.get("cause") or {}).get("name")
    vals = [inc["title"], inc["service"], inc["started_at"], inc["last_seen"], inc["impact"], cause, dep_id,
            _dumps(members), _dumps(inc["affected_services"]), _dumps(inc["fingerprint"]), _dumps(body)]
    with store.write() as con:
        if existing is None:
            new_id = store.next_ids("incidents", 1)
            con.execute(
                """INSERT INTO incidents (title, service, started_at, last_seen, impact, cause, deploy_id, members,
                       affected_services, fingerprint, body, id, status, detected_at, updated_at)
                   VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 'open', ?, ?)""",
                [*vals, new_id, now_wall, now_wall],
            )
            return new_id
        con.execute(
            """UPDATE incidents SET title = ?, service = ?, started_at = ?, last_seen = ?, impact = ?, cause = ?,
                   deploy_id = ?, members = ?, affected_services = ?, fingerprint = ?, body = ?, updated_at = ?
               WHERE id = ?""",
            [*vals, now_wall, existing["id"]],
        )
        return int(existing["id"])


def _merge_previous(found: list[symptoms.Symptom], existing: dict[str, Any]) -> list[symptoms.Symptom]:
    """Keep the symptoms an open incident had that this run no longer sees (out of window)."""
    have = {s.key for s in found}
    old = [symptoms.Symptom.from_dict(d) for d in (_loads(existing["body"]) or {}).get("symptoms", [])]
    merged = found + [s for s in old if s.key not in have]
    return sorted(merged, key=lambda s: (s.first, symptoms.KIND_ORDER.get(s.kind, 9)))


def detect(store: Store, *, window: timedelta = WINDOW, now: datetime | None = None) -> dict[str, Any]:
    """Find symptoms in the last ``window`` of data time, group them, create or update incidents."""
    with _detect_lock:
        now = now or data_now(store)
        if now is None:
            return {"created": [], "updated": [], "closed": [], "symptoms": 0, "now": None}
        start = now - window
        found = symptoms.collect(store, start, now + timedelta(microseconds=1))
        wall = _utcnow()
        rows = _rows(store)
        open_rows = [r for r in rows if r["status"] == "open"]
        # A symptom already handled by a resolved/closed incident counts again only after it ended.
        handled: dict[str, datetime] = {}
        for r in rows:
            if r["status"] != "open":
                resolved = (_loads(r["body"]) or {}).get("resolved_data_ts")
                cutoff = max(r["last_seen"], parse_time(resolved)) if resolved else r["last_seen"]
                for key in _loads(r["members"]) or []:
                    handled[key] = max(handled.get(key, cutoff), cutoff)
        fresh = []
        for s in found:
            cutoff = handled.get(s.key)
            if cutoff is not None and s.last <= cutoff:
                continue
            if cutoff is not None:
                s.recurrence = True
            fresh.append(s)
        created, updated = [], []
        for grp in group(fresh):
            keys = {s.key for s in grp}
            best = max(open_rows, key=lambda r: len(keys & set(_loads(r["members"]) or [])), default=None)
            if best is not None and not keys & set(_loads(best["members"]) or []):
                best = None
            if best is not None:
                grp = _merge_previous(grp, best)
            inc = _build(store, grp, best)
            inc_id = _save(store, inc, best, wall)
            (updated if best is not None else created).append(ids.make("inc", inc_id))
        closed = _close_quiet(store, now)
        return {"created": created, "updated": updated, "closed": closed, "symptoms": len(found),
                "now": fmt_ts(now), "window_start": fmt_ts(start)}


def _close_quiet(store: Store, now: datetime) -> list[str]:
    rows = store.query("SELECT id FROM incidents WHERE status = 'open' AND last_seen < ?", [now - CLOSE_AFTER])
    if rows:
        with store.write() as con:
            con.execute("UPDATE incidents SET status = 'closed' WHERE status = 'open' AND last_seen < ?",
                        [now - CLOSE_AFTER])
    return [ids.make("inc", r["id"]) for r in rows]


def _watermark(store: Store) -> str:
    row = store.query(
        """SELECT (SELECT max(id) FROM logs) l, (SELECT count(*) FROM spans) s, (SELECT max(id) FROM events) e,
                  (SELECT max(id) FROM deploys) d"""
    )[0]
    return f"{row['l']}/{row['s']}/{row['e']}/{row['d']}"


def refresh(store: Store) -> None:
    """Run detection when the store holds data detection has not seen (a store without a server).

    Incidents are derived data, so a read that finds them stale brings them up to date
    when this process may write; inside ``runbrief serve`` the background job keeps them fresh.
    """
    if store.read_only:
        return
    mark = _watermark(store)
    if store.meta_get("incidents.watermark") == mark:
        return
    detect(store)
    store.meta_set("incidents.watermark", mark)


# ------------------------------------------------------------------ reading
def _public(store: Store, r: dict[str, Any], *, similar: bool = True) -> dict[str, Any]:
    from runbrief.analyze import memory

    body = _loads(r["body"]) or {}
    out = {
        "id": ids.make("inc", r["id"]),
        "title": r["title"],
        "service": r["service"],
        "status": r["status"],
        "impact": r["impact"],
        "impact_parts": body.get("impact_parts") or {},
        "started_at": fmt_ts(r["started_at"]),
        "last_seen": fmt_ts(r["last_seen"]),
        "detected_at": fmt_ts(r["detected_at"]),
        "resolved_at": fmt_ts(r["resolved_at"]),
        "affected_services": _loads(r["affected_services"]) or [],
        "deploy": body.get("deploy"),
        "cause": body.get("cause"),
        "claims": diagnose.valid_claims(store, body.get("claims") or []),
        "timeline": body.get("timeline") or [],
        "quotes": body.get("quotes") or [],
        "quotes_note": diagnose.QUOTES_NOTE,
        "fingerprint": _loads(r["fingerprint"]) or {},
        "fixes": memory.fixes(store, int(r["id"])),
    }
    if similar:
        out["similar"] = memory.similar(store, r)
    return out


def list_incidents(store: Store, *, all: bool = False, service: str | None = None,  # noqa: A002
                   status: str | None = None, limit: int = 20) -> list[dict[str, Any]]:
    where, args = [], []
    if status:
        if status not in STATUSES:
            raise UsageError(f"unknown status {status!r}; use one of {', '.join(STATUSES)}")
        where.append("status = ?")
        args.append(status)
    elif not all:
        where.append("status = 'open'")
    if service:
        where.append("(service = ? OR list_contains(CAST(affected_services AS VARCHAR[]), ?))")
        args += [service, service]
    order = "ORDER BY impact DESC, last_seen DESC" if not all else "ORDER BY started_at DESC"
    sql = ("WHERE " + " AND ".join(where) if where else "") + f" {order} LIMIT ?"
    rows = _rows(store, sql, [*args, max(1, min(int(limit), 1000))])
    return [_public(store, r) for r in rows]


def get_incident(store: Store, inc_id: str, *, similar: bool = True) -> dict[str, Any]:
    key = _key(inc_id)
    rows = _rows(store, "WHERE id = ?", [key])
    if not rows:
        raise NotFound(f"no incident {inc_id} in {store.path}; `runbrief incidents --all` lists them")
    return _public(store, rows[0], similar=similar)


def _key(inc_id: str | int) -> int:
    text = str(inc_id).strip()
    key = text.removeprefix("inc_")
    if not key.isdigit():
        raise NotFound(f"{inc_id!r} is not an incident ID; incident IDs look like inc_3")
    return int(key)


# ------------------------------------------------------------------ operations
@operation("incidents")
def incidents(store: Store, all: bool = False, service: str | None = None,  # noqa: A002
              status: str | None = None, limit: int = 20) -> list[dict[str, Any]]:
    """Incidents ranked by impact: open ones, or history too with ``all``. A JSON list.

    Each has its title, the service that started it, impact and its parts, the claims of
    its diagnosis with evidence IDs, its timeline and similar past incidents with their fixes.
    """
    refresh(store)
    return list_incidents(store, all=all, service=service, status=status, limit=limit)


@operation("incident")
def incident(store: Store, id: str, narrative: bool = True) -> dict[str, Any]:  # noqa: A002
    """One incident by ID (inc_…), with its diagnosis, timeline, similar incidents and fixes.

    When a language model is configured, a short narrative written from the structured
    incident (never raw logs) is added; every sentence in it cites evidence IDs.
    """
    refresh(store)
    out = get_incident(store, id)
    if narrative:
        from runbrief.analyze import narrative as nar

        out["narrative"] = nar.for_incident(store, out)
    return out


@operation("detect_incidents", read_only=False)
def detect_incidents(store: Store, window: str = "60m") -> dict[str, Any]:
    """Run incident detection now over the last ``window`` of data (also runs inside `runbrief serve`)."""
    out = detect(store, window=parse_duration(window))
    store.meta_set("incidents.watermark", _watermark(store))
    return out


@ids.resolver("inc")
def _resolve_incident(store: Store, key: str) -> dict[str, Any] | None:
    if not key.isdigit():
        return None
    rows = _rows(store, "WHERE id = ?", [int(key)])
    if not rows:
        return None
    out = _public(store, rows[0], similar=False)
    out.pop("id")
    return out


# How often `runbrief serve` looks for incidents (seconds); tests shorten it.
INTERVAL_S = float(os.environ.get("RUNBRIEF_INCIDENT_INTERVAL", "30"))


@job("incidents", every_s=INTERVAL_S)
def _detect_job(store: Store) -> None:
    detect(store)
    store.meta_set("incidents.watermark", _watermark(store))

