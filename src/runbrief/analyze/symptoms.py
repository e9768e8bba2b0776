"""Symptoms: the anomalies incidents are made of, gathered from "what changed" and error spans.

Sources, each turned into a ``Symptom`` with its own stable key:
- ``changes`` items (``runbrief.analyze.changes``): new and surged patterns that read as
  trouble (WARN or worse, or fault words such as "exception", "refused", "exhausted"),
  upward error-share jumps, and Kubernetes warning events;
- error spans (status ERROR), grouped by service, span name and exception type, that are
  new against the baseline or surged.

The unit of an error-span symptom is the *failed request*: a trace, counted once per
(service, span name, exception) however many spans of it failed. Within one service only
the topmost failing span of a chain counts (a failing span whose parent failed in the same
service is the same failure: the framework's internal ``http send`` span under a failing
server span), and twelve retries inside one request are one failed request. So
``count`` = ``count(DISTINCT trace_id)`` of those spans with ``start_ts`` in
[``first``, ``last``] and ``before`` the same over [``window.base_start``, ``window.base_end``):
both reproducible with SQL over the store (tests/analyze/test_audit.py does). ``calls`` counts
the same spans one per call (``count(*)``): a retry storm surges in calls while its failed
requests barely move, so a surge in either makes a symptom, and claims state both.

A new INFO line after a deploy is a change, not an incident, so it is left to ``changes``.
Each symptom carries what linking needs (service, onset, deploy, trace IDs, pattern,
workload) and what diagnosis needs (evidence IDs, counts, template, example, reason).
"""

from __future__ import annotations

import math
import re
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from runbrief import ids
from runbrief.errors import RunbriefError
from runbrief.queries import fmt_ts, parse_time
from runbrief.store.duck import Store

__all__ = ["Symptom", "collect", "fingerprint", "KIND_ORDER", "FAULT_WORDS", "workload_of"]

KIND_ORDER = {"k8s_event": 0, "new": 1, "rate_up": 2, "error_spans": 3, "error_share": 4}
DEPLOY_HORIZON = timedelta(hours=2)   # a symptom this soon after a deploy of its service follows it
SPAN_MIN_SURGE = 5
NEW_MIN_LINES = 3          # a new troubling pattern needs this many lines (1 after a deploy, or FATAL)
NEW_MIN_SHARE = 0.1        # and to add a tenth to the errors its service usually logs in the window
MIN_BASELINE_MIN = 30      # and at least this many minutes of history before the window

FAULT_WORDS = re.compile(
    r"(?i)\b(?:error|errors|exception|traceback|fail(?:ed|ure|s)?|fatal|panic|crash(?:ed)?|abort(?:ed)?|"
    r"refused|denied|forbidden|unauthori[sz]ed|timed?\s?out|timeout|deadline|exhausted|too many|"
    r"unavailable|unreachable|killed|oom|out of memory|overflow|corrupt(?:ed)?|invalid|violat(?:es|ion)|"
    r"reset by peer|broken pipe|cannot|can't|could not|unable)\b"
)
_SEV_WEIGHT = {"FATAL": 1.0, "ERROR": 0.8, "WARN": 0.5}
_EVENT_WEIGHT = {
    "OOMKilled": 0.9, "OOMKilling": 0.9, "SystemOOM": 0.9, "CrashLoopBackOff": 0.9, "ImagePullBackOff": 0.8,
    "ErrImagePull": 0.8, "BackOff": 0.7, "Evicted": 0.7, "FailedScheduling": 0.6, "Unhealthy": 0.5,
}
_POD_SUFFIX = re.compile(r"-(?:[a-z0-9]{8,10}-[a-z0-9]{5}|[a-z0-9]{5}|\d+)$")


def workload_of(name: str) -> str:
    """A pod's workload by name: checkout-7d9f8b6c5-x2x4z → checkout, db-0 → db."""
    base = name.rsplit("/", 1)[-1]
    return _POD_SUFFIX.sub("", base) or base


@dataclass
class Symptom:
    key: str                       # stable identity across detection runs
    kind: str                      # new | rate_up | error_share | k8s_event | error_spans
    service: str
    first: datetime
    last: datetime
    count: int                     # occurrences in the window
    errors: int = 0
    before: int = 0                # occurrences in the baseline
    severity: str = ""
    evidence: list[str] = field(default_factory=list)   # most specific first
    pattern_id: str | None = None
    template: str | None = None
    example: dict[str, Any] | None = None               # {"id": "log_5", "body": "..."}
    reason: str | None = None                            # k8s reason
    message: str | None = None                           # event / span status message
    exception: str | None = None
    span_name: str | None = None
    workload: str | None = None
    namespace: str | None = None
    objects: list[str] = field(default_factory=list)
    trace_ids: set[str] = field(default_factory=set)
    deploy: dict[str, Any] | None = None
    unit: str = ""                                       # what count counts: lines | requests | events
    window: dict[str, str] | None = None                 # the baseline the before count is over
    joined_by: str = ""                                  # why it is in its incident (set by grouping)
    calls: int = 0                                       # error spans: failing calls (retries each count)
    before_calls: int = 0
    base_rate: float = 0.0         # baseline occurrences per minute
    score: float = 0.0
    recurrence: bool = False

    @property
    def severity_weight(self) -> float:
        if self.kind == "k8s_event":
            return _EVENT_WEIGHT.get(self.reason or "", 0.4)
        w = _SEV_WEIGHT.get(self.severity.upper(), 0.3)
        if w < 0.5 and self.template and FAULT_WORDS.search(self.template):
            w = 0.5
        return w

    @property
    def novelty(self) -> float:
        if self.kind in ("new", "k8s_event", "error_spans"):
            return 1.0 if self.before == 0 else 0.5
        return 0.5

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["first"], d["last"] = fmt_ts(self.first), fmt_ts(self.last)
        d["trace_ids"] = sorted(self.trace_ids)[:50]
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Symptom:
        d = dict(d)
        d["first"], d["last"] = _dt(d["first"]), _dt(d["last"])
        d["trace_ids"] = set(d.get("trace_ids") or [])
        known = set(cls.__dataclass_fields__)
        return cls(**{k: v for k, v in d.items() if k in known})


def _dt(text: str | None) -> datetime | None:
    return parse_time(text) if text else None


def _from_ns(ns: int) -> datetime:
    return datetime.fromtimestamp(ns / 1e9, UTC).replace(tzinfo=None)


# ------------------------------------------------------------------ from changes
def _troubling(item: dict[str, Any]) -> bool:
    kind = item["kind"]
    if kind == "k8s_event":
        return str(item.get("type", "")).lower() == "warning" or item.get("reason") in _EVENT_WEIGHT
    if kind == "error_share":
        return item["after"]["share"] > item["before"]["share"]
    if kind in ("new", "rate_up"):
        sev = (item.get("severity") or "").upper()
        return sev in _SEV_WEIGHT or item["after"].get("errors", 0) > 0 or bool(
            FAULT_WORDS.search(item.get("template") or ""))
    return False


def _from_changes(store: Store, start: datetime, end: datetime) -> list[Symptom]:
    from runbrief.analyze.changes import changes

    try:
        res = changes(store, since=fmt_ts(start), limit=500, now=end)
    except RunbriefError:  # nothing to compare (empty store, no data after the split)
        return []
    out: list[Symptom] = []
    for it in res["items"]:
        if not _troubling(it):
            continue
        kind = it["kind"]
        if kind in ("new", "rate_up"):
            first = _dt(it.get("first_after")) or start
            out.append(Symptom(
                key=f"pat:{it['service']}:{it['pattern_id']}", kind=kind, service=it["service"], first=first,
                last=_dt(it.get("last_seen")) or first, count=it["after"]["count"], errors=it["after"].get("errors", 0),
                before=it["before"]["count"], severity=(it.get("severity") or "").upper(),
                evidence=list(it.get("evidence_ids") or [it["evidence_id"]]), pattern_id=it["pattern_id"],
                template=it.get("template"), example=it.get("example"), score=it["score"],
                workload=it["service"], base_rate=it["before"].get("per_min") or 0.0, unit="lines"))
        elif kind == "error_share":
            out.append(Symptom(
                key=f"share:{it['service']}", kind=kind, service=it["service"], first=start, last=end,
                count=it["after"]["errors"], errors=it["after"]["errors"], before=it["before"]["errors"],
                severity="ERROR", evidence=list(it["evidence_ids"]), score=it["score"], workload=it["service"],
                message=f"from {it['before']['share']:.1%} to {it['after']['share']:.1%} of its lines", unit="lines"))
        else:
            objects = list(it.get("objects") or [])
            wl = it.get("service") or (workload_of(objects[0]) if objects else "unknown")
            ns = (it.get("namespaces") or [""])[0]
            first = _dt(it.get("first_seen")) or start
            n = max(it["after"]["count"], it["after"].get("occurrences") or 0)
            out.append(Symptom(
                key=f"evt:{ns}/{wl}:{it['reason']}", kind=kind, service=it.get("service") or wl, first=first,
                last=_dt(it.get("last_seen")) or first, count=n, errors=n, before=it["before"]["count"],
                severity="WARN", evidence=list(it["evidence_ids"]), reason=it["reason"],
                message=it.get("message"), workload=wl, namespace=ns, objects=objects, score=it["score"],
                unit="events"))
    return out


def _new_troubling(store: Store, start: datetime, end: datetime, have: set[str]) -> list[Symptom]:
    """New error patterns, however brief.

    ``changes`` lists a new pattern only when it shows in enough distinct minutes to be
    significant as a *change*; a five-minute burst of a never-seen error is still an
    incident, so new ERROR/FATAL patterns are taken here from the same baseline aggregates
    (never seen in the service's history, first seen after the split) when they are more
    than a stray line or a trickle. New warnings are left to ``changes``' significance test.
    """
    from runbrief.analyze import _windows, baseline

    try:
        plan = _windows.plan(store, since=fmt_ts(start), now=end)
    except RunbriefError:
        return []
    if plan.baseline_minutes < MIN_BASELINE_MIN:
        return []  # too little history to call anything new
    stats = [s for s in baseline.pattern_stats(store, None, plan.segments, plan.after, plan.bucket_minutes)
             if s.before == 0 and s.after > 0 and f"pat:{s.service}:{s.pattern_id}" not in have
             and (s.first_after is None or s.first_after >= plan.split)]
    if not stats:
        return []
    meta = {r["pattern_id"]: r for r in store.query(
        "SELECT pattern_id, template, severity FROM patterns WHERE list_contains(?::VARCHAR[], pattern_id)",
        [sorted({s.pattern_id for s in stats})])}
    seen = baseline.history(store, [(s.service, s.pattern_id) for s in stats], plan.after.start)
    # the errors each service usually logs in a window this long
    usual = {sv.service: sv.before_errors * plan.after.minutes / plan.baseline_minutes
             for sv in baseline.service_stats(store, None, plan.segments, plan.after, plan.bucket_minutes)}
    out = []
    for st in stats:
        m = meta.get(st.pattern_id) or {}
        sev = (m.get("severity") or "").upper()
        sev = "ERROR" if st.after_errors and sev not in _SEV_WEIGHT else sev
        if (st.service, st.pattern_id) in seen or sev not in ("ERROR", "FATAL"):
            continue  # a new warning counts only when `changes` finds it significant
        if sev != "FATAL" and not _after_deploy(store, st.service, st.first_after) and \
                st.after < max(NEW_MIN_LINES, NEW_MIN_SHARE * usual.get(st.service, 0.0)):
            continue  # a stray line, or a trickle in a service full of errors: a change, not an incident
        ex = baseline.example(st.example_after)
        out.append(Symptom(
            key=f"pat:{st.service}:{st.pattern_id}", kind="new", service=st.service, first=st.first_after or start,
            last=st.last_after or start, count=st.after, errors=st.after_errors, before=0, severity=sev,
            evidence=[ids.make("pat", st.pattern_id)] + ([ex["id"]] if ex and ex.get("id") else []),
            pattern_id=st.pattern_id, template=m.get("template"), example=ex, workload=st.service, unit="lines"))
    return out


def _after_deploy(store: Store, service: str, t: datetime | None) -> bool:
    if t is None:
        return False
    return bool(store.scalar("SELECT count(*) FROM deploys WHERE service = ? AND ts <= ? AND ts >= ?",
                             [service, t, t - DEPLOY_HORIZON]))


def _onsets(store: Store, syms: list[Symptom], start: datetime) -> None:
    """Onset of a surge: the first minute in the window well above the baseline rate."""
    for s in syms:
        if s.kind == "rate_up" and s.pattern_id:
            t = store.scalar(
                """SELECT min(coalesce(first_ts, minute)) FROM pattern_counts
                   WHERE service = ? AND pattern_id = ? AND minute >= ? AND count >= ?""",
                [s.service, s.pattern_id, start, max(2, math.ceil(3 * s.base_rate))])
            s.first = t or s.first
        elif s.kind == "error_share":
            # onset: the first errors, in the window, of the patterns that drive the share up
            drivers = [e.removeprefix("pat_") for e in s.evidence if e.startswith("pat_")]
            row = store.query(
                """SELECT min(coalesce(first_ts, minute)) f, max(coalesce(last_ts, minute)) l FROM pattern_counts
                   WHERE service = ? AND minute >= ? AND errors > 0
                     AND (len(?::VARCHAR[]) = 0 OR list_contains(?::VARCHAR[], pattern_id))""",
                [s.service, start, drivers, drivers])[0]
            s.first, s.last = row["f"] or s.first, row["l"] or s.last


# ------------------------------------------------------------------ error spans
_EXC = r"""regexp_extract(coalesce(events::VARCHAR, ''), '"exception\.type":"([^"]*)"', 1)"""
MAX_TRACES = 1000   # trace IDs kept per symptom in memory (linking, affected requests); 50 are stored

# The error spans that stand for a failure: ERROR spans whose parent is not an ERROR span of
# the same service in the same trace (the topmost of a failing chain within the service).
_TOP = f"""WITH e0 AS (SELECT trace_id, span_id, parent_span_id, service, name, {_EXC} AS exc, start_ts, start_ns,
                         end_ns, status_message FROM spans
                  WHERE status_code = 'ERROR' AND start_ts >= ? AND start_ts < ?),
          e AS (SELECT e0.* FROM e0 WHERE NOT EXISTS (
                  SELECT 1 FROM e0 p WHERE p.trace_id = e0.trace_id AND p.span_id = e0.parent_span_id
                                       AND p.service = e0.service))"""


def failed_request_spans_sql() -> str:
    """SQL (params: start, end) of the spans that stand for failed requests: see the module doc."""
    return _TOP + " SELECT * FROM e"


def _span_symptoms(store: Store, start: datetime, end: datetime) -> list[Symptom]:
    # on a whole millisecond: the stated baseline edge (fmt_ts, ms) is then the one counted
    start = start.replace(microsecond=start.microsecond // 1000 * 1000)
    base_start = start - max(end - start, timedelta(hours=1)) * 24
    rows = store.query(
        f"""{_TOP},
               a AS (SELECT service, name, exc, count(DISTINCT trace_id) n, count(*) calls, min(start_ns) f,
                            max(start_ns) l,
                            list(span_id ORDER BY start_ns)[:3] spans, list(DISTINCT trace_id ORDER BY trace_id)[:{MAX_TRACES}] traces,
                            arg_min(status_message, start_ns) msg
                     FROM e WHERE start_ts >= ? GROUP BY ALL),
               b AS (SELECT service, name, exc, count(DISTINCT trace_id) n, count(*) calls FROM e
                     WHERE start_ts < ? GROUP BY ALL),
               cov AS (SELECT service, count(*) n, min(start_ts) first FROM spans
                       WHERE start_ts >= ? AND start_ts < ? GROUP BY ALL)
           SELECT a.*, coalesce(b.n, 0) bn, coalesce(b.calls, 0) bcalls, coalesce(cov.n, 0) base_spans,
                  cov.first base_first
           FROM a LEFT JOIN b USING (service, name, exc) LEFT JOIN cov USING (service)""",
        [base_start, end, start, start, base_start, start],
    )
    out = []
    win_minutes = max(1.0, (end - start).total_seconds() / 60)
    for r in rows:
        # The baseline covers only the history the store has: a day-long window over an
        # hour of data would make any error rate look like a surge.
        base_from = max(base_start, r["base_first"]) if r["base_first"] else base_start
        base_minutes = max(1.0, (start - base_from).total_seconds() / 60)
        expected = r["bn"] * win_minutes / base_minutes
        expected_calls = r["bcalls"] * win_minutes / base_minutes
        new = r["bn"] == 0 and r["base_spans"] > 0        # a baseline existed and had none of these
        surge = r["n"] >= SPAN_MIN_SURGE and r["n"] > 3 * expected + 3
        # retries multiply failing calls, not failed requests: a retry storm surges in calls
        storm = not surge and r["calls"] >= SPAN_MIN_SURGE and r["calls"] > 3 * expected_calls + 3
        if not (new or surge or storm):
            continue
        first, spans, n, calls, traces = _from_ns(r["f"]), r["spans"], r["n"], r["calls"], r["traces"]
        if not new and r["bn"]:
            # A surge starts where the rate left its baseline, not at the window's first error.
            rate = (r["bcalls"] if storm else r["bn"]) / base_minutes
            onset = _span_onset(store, r, start, end, max(2.0, 3 * rate), calls=storm)
            if onset is not None:
                first, spans, n, calls, traces = onset
        out.append(Symptom(
            key=f"spn:{r['service']}:{r['name']}:{r['exc']}", kind="error_spans", service=r["service"], first=first,
            last=_from_ns(r["l"]), count=n, errors=n, before=r["bn"], calls=calls, before_calls=r["bcalls"],
            severity="ERROR", evidence=[ids.make("spn", s) for s in spans] + [ids.make("trc", traces[0])],
            exception=r["exc"] or None, span_name=r["name"], message=r["msg"], workload=r["service"],
            trace_ids=set(traces), unit="requests",
            window={"base_start": fmt_ts(base_from), "base_end": fmt_ts(start)}))
    return out


def _span_onset(store: Store, r: dict[str, Any], start: datetime, end: datetime,
                per_minute: float, calls: bool = False) -> tuple[datetime, list[str], int, int, list[str]] | None:
    """First minute with more failed requests (``calls``: failing calls) than ``per_minute``; its first
    spans, and the requests and calls from it."""
    measure = "count(*)" if calls else "count(DISTINCT trace_id)"
    rows = store.query(
        f"""{_TOP},
               s AS (SELECT * FROM e WHERE service = ? AND name = ? AND exc = ? AND start_ts >= ?),
               m AS (SELECT date_trunc('minute', start_ts) AS mn FROM s GROUP BY ALL
                     HAVING {measure} > ? ORDER BY mn LIMIT 1)
           SELECT min(s.start_ns) f, list(s.span_id ORDER BY s.start_ns)[:3] spans,
                  count(DISTINCT s.trace_id) n, count(*) calls, list(DISTINCT s.trace_id ORDER BY s.trace_id)[:{MAX_TRACES}] traces
           FROM s, m WHERE s.start_ts >= m.mn""",
        [start, end, r["service"], r["name"], r["exc"], start, per_minute])
    if not rows or rows[0]["f"] is None:
        return None
    return _from_ns(rows[0]["f"]), rows[0]["spans"], rows[0]["n"], rows[0]["calls"], rows[0]["traces"]


# ------------------------------------------------------------------ enrichment
def _attach_traces(store: Store, syms: list[Symptom], start: datetime) -> None:
    pats = [s for s in syms if s.pattern_id]
    if not pats:
        return
    rows = store.query(
        f"""SELECT service, pattern_id, list(DISTINCT trace_id ORDER BY trace_id)[:{MAX_TRACES}] traces FROM logs
           WHERE ts >= ? AND trace_id IS NOT NULL AND trace_id <> '' AND list_contains(?::VARCHAR[], pattern_id)
           GROUP BY ALL""",
        [start, sorted({s.pattern_id for s in pats if s.pattern_id})],
    )
    got = {(r["service"], r["pattern_id"]): set(r["traces"]) for r in rows}
    for s in pats:
        s.trace_ids |= got.get((s.service, s.pattern_id), set())


def _attach_deploys(store: Store, syms: list[Symptom]) -> None:
    for s in syms:
        rows = store.query(
            "SELECT id, ts, service, version, commit FROM deploys WHERE service = ? AND ts <= ? AND ts >= ? "
            "ORDER BY ts DESC, id DESC LIMIT 1",
            [s.service, s.first + timedelta(seconds=1), s.first - DEPLOY_HORIZON],
        )
        if rows:
            r = rows[0]
            s.deploy = {"id": ids.make("dep", r["id"]), "ts": fmt_ts(r["ts"]), "service": r["service"],
                        "version": r["version"], "commit": r["commit"]}


def collect(store: Store, start: datetime, end: datetime) -> list[Symptom]:
    """Every troubling anomaly with activity in [start, end)."""
    found = _from_changes(store, start, end)
    found += _new_troubling(store, start, end, {s.key for s in found})
    found += _span_symptoms(store, start, end)
    _onsets(store, found, start)
    _attach_traces(store, found, start)
    _attach_deploys(store, found)
    return found


def fingerprint(found: list[Symptom], cause: str | None) -> dict[str, list[str]]:
    """What a later incident is compared with (see ``memory``): stable across restarts and hosts."""
    return {
        "patterns": sorted({s.pattern_id for s in found if s.pattern_id}),
        "services": sorted({s.service for s in found}),
        "event_kinds": sorted({s.reason for s in found if s.reason}),
        "exceptions": sorted({s.exception for s in found if s.exception}),
        "causes": [cause] if cause else [],
    }
