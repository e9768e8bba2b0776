"""Memory of incidents and fixes: "have we seen this before, and what fixed it?"

``runbrief resolve inc_7 --fix "raised memory limit to 512Mi" --commit abc123`` records a
fix and its outcome; a fix that worked resolves the incident. Every incident keeps a
fingerprint: the pattern fingerprints (template hashes, the same in every service and
across restarts), services, Kubernetes event kinds, exception types and the known cause.

Similarity is a weighted Jaccard index over those parts, counting only the parts at least
one side has (two incidents without events are not "similar" for lacking them):

    score = Σ w·|A∩B|/|A∪B| / Σ w      w: patterns .35, causes .2, event kinds .2,
                                           exceptions .15, services .1

Patterns weigh most because a fingerprint match is the strongest sign of the same failure;
services weigh least so the same failure in another service still matches. Each match
comes with the part-by-part explanation, so the score can be checked.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import orjson

from runbrief import ids
from runbrief.errors import NotFound, UsageError
from runbrief.ops import operation
from runbrief.queries import fmt_ts
from runbrief.store.duck import Store

__all__ = ["similarity", "similar", "fixes", "resolve", "similar_incidents", "WEIGHTS", "MIN_SIMILARITY"]

WEIGHTS = {"patterns": 0.35, "causes": 0.2, "event_kinds": 0.2, "exceptions": 0.15, "services": 0.1}
MIN_SIMILARITY = 0.3
OUTCOMES = ("worked", "failed")


def _loads(v: Any) -> Any:
    return orjson.loads(v) if isinstance(v, str | bytes) else v


def similarity(a: dict[str, list[str]], b: dict[str, list[str]]) -> dict[str, Any]:
    """Weighted Jaccard of two fingerprints, with its parts explained."""
    parts: dict[str, Any] = {}
    num = den = 0.0
    for part, w in WEIGHTS.items():
        sa, sb = set(a.get(part) or []), set(b.get(part) or [])
        if not sa and not sb:
            continue
        j = len(sa & sb) / len(sa | sb)
        num += w * j
        den += w
        parts[part] = {"jaccard": round(j, 3), "weight": w, "shared": sorted(sa & sb)[:5],
                       "only_here": len(sa - sb), "only_there": len(sb - sa)}
    score = num / den if den else 0.0
    return {"score": round(score, 3), "parts": parts, "text": _explain(parts)}


def _explain(parts: dict[str, Any]) -> str:
    bits = []
    for part, p in parts.items():
        shared = len(p["shared"]) if p["jaccard"] < 1 else None
        total = len(p["shared"]) + p["only_here"] + p["only_there"] if p["jaccard"] < 1 else None
        name = part.replace("_", " ")
        if p["jaccard"] == 1:
            bits.append(f"same {name}")
        elif p["jaccard"] > 0:
            bits.append(f"{shared} of {total} {name} shared")
        else:
            bits.append(f"different {name}")
    return "; ".join(bits)


def fixes(store: Store, incident_id: int) -> list[dict[str, Any]]:
    rows = store.query('SELECT ts, fix, "commit", outcome FROM incident_fixes WHERE incident_id = ? ORDER BY ts',
                       [incident_id])
    return [{"ts": fmt_ts(r["ts"]), "fix": r["fix"], "commit": r["commit"], "outcome": r["outcome"]} for r in rows]


def similar(store: Store, row: dict[str, Any], limit: int = 3) -> list[dict[str, Any]]:
    """Past incidents (started earlier) most like this one, with their fixes, best first."""
    fp = _loads(row["fingerprint"]) or {}
    past = store.query(
        "SELECT id, title, service, status, started_at, fingerprint FROM incidents WHERE id <> ? AND started_at <= ?",
        [row["id"], row["started_at"]],
    )
    scored = []
    for p in past:
        sim = similarity(fp, _loads(p["fingerprint"]) or {})
        if sim["score"] >= MIN_SIMILARITY:
            scored.append((sim, p))
    scored.sort(key=lambda x: (-x[0]["score"], x[1]["started_at"]))
    out = []
    for sim, p in scored[:limit]:
        out.append({"id": ids.make("inc", p["id"]), "title": p["title"], "service": p["service"],
                    "status": p["status"], "started_at": fmt_ts(p["started_at"]), "similarity": sim["score"],
                    "why": sim["text"], "similarity_parts": sim["parts"], "fixes": fixes(store, int(p["id"]))})
    return out


def _row(store: Store, inc_id: str) -> dict[str, Any]:
    key = str(inc_id).strip().removeprefix("inc_")
    if not key.isdigit():
        raise NotFound(f"{inc_id!r} is not an incident ID; incident IDs look like inc_3")
    rows = store.query("SELECT * FROM incidents WHERE id = ?", [int(key)])
    if not rows:
        raise NotFound(f"no incident {inc_id} in {store.path}; `runbrief incidents --all` lists them")
    return rows[0]


@operation("resolve", read_only=False)
def resolve(store: Store, id: str, fix: str, commit: str | None = None,  # noqa: A002
            outcome: str = "worked") -> dict[str, Any]:
    """Record the fix for an incident and whether it worked; a fix that worked resolves it.

    Later incidents with a similar fingerprint show this fix (and its outcome) under ``similar``.
    """
    from runbrief.analyze.incidents import data_now, get_incident

    if outcome not in OUTCOMES:
        raise UsageError(f"outcome must be one of {', '.join(OUTCOMES)}, got {outcome!r}")
    if not fix or not fix.strip():
        raise UsageError("--fix is required: say what was changed (e.g. \"raised memory limit to 512Mi\")")
    row = _row(store, id)
    wall = datetime.now(UTC).replace(tzinfo=None)
    body = _loads(row["body"]) or {}
    with store.write() as con:
        con.execute('INSERT INTO incident_fixes (incident_id, ts, fix, "commit", outcome) VALUES (?, ?, ?, ?, ?)',
                    [row["id"], wall, fix.strip(), (commit or "").strip() or None, outcome])
        if outcome == "worked" and row["status"] != "resolved":
            # Data time at resolution: symptom activity up to here belongs to this incident.
            body["resolved_data_ts"] = fmt_ts(max(filter(None, [data_now(store), row["last_seen"]])))
            con.execute("UPDATE incidents SET status = 'resolved', resolved_at = ?, body = ? WHERE id = ?",
                        [wall, orjson.dumps(body).decode(), row["id"]])
    return get_incident(store, ids.make("inc", row["id"]))


@operation("similar_incidents")
def similar_incidents(store: Store, id: str, limit: int = 3) -> dict[str, Any]:  # noqa: A002
    """Past incidents most similar to this one, with their fixes and the similarity explained."""
    row = _row(store, id)
    return {"id": ids.make("inc", row["id"]), "similar": similar(store, row, limit=max(1, min(int(limit), 20)))}
