"""Kubernetes events: parse every shape they arrive in, tie them to workloads and services.

Shapes read:
- ``kubectl get events -A -o json`` (a ``List``/``EventList`` of core/v1 or
  events.k8s.io/v1 ``Event`` objects) and ``kubectl get events -A --watch -o json`` (a
  stream of concatenated Event objects, or ``{"type", "object"}`` with
  ``--output-watch-events``); file ingest recognizes these by itself. The API server's own
  lists (``kubectl get --raw /api/v1/events``, ``kubectl cluster-info dump``) leave
  ``kind`` off their items: an ``EventList``'s items are read as events all the same.
- Pods (``kubectl get pods -o json``, a Pod, a watch of them, the k8sobjects receiver's
  ``pods``): OOMKilled and waiting reasons (CrashLoopBackOff, ImagePullBackOff,
  CreateContainerConfigError) live in pod status, not in events; ``events_from_pod``
  turns them into events on the pod. A ``DELETED`` watch object is a deletion: no event.
- OTLP logs from the OpenTelemetry Collector: the ``k8sobjects`` receiver (the body is the
  Event object, or ``{"type", "object"}`` in watch mode; ``event.domain=k8s`` and
  ``k8s.resource.name=events`` attributes) and the ``k8s_events`` receiver (body = message;
  ``k8s.event.*`` attributes; the object in ``k8s.object.*`` resource attributes). A batch
  hook turns those log records into ``Event`` records before they are stored.

Reasons that signal trouble (CrashLoopBackOff, OOMKilled, image pulls, scheduling, probes,
back-off, eviction) are normalized into the ``signal`` attribute, because the same problem
shows under several reasons (a crash loop is reported as ``BackOff`` "Back-off restarting
failed container"). ``SIGNAL_REASONS`` lists them.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

import orjson

from runbrief import ids
from runbrief.errors import IngestError, UsageError
from runbrief.ingest._k8s_owners import correlate
from runbrief.ingest._structured import is_k8s_event
from runbrief.ingest._times import to_ns
from runbrief.ingest.pipeline import batch_hook, commit_hook
from runbrief.ops import operation
from runbrief.records import Event, LogRecord

if TYPE_CHECKING:
    from runbrief.ingest.pipeline import Batch, Prepared
    from runbrief.store.duck import Store

__all__ = [
    "SIGNAL_REASONS",
    "signal_for",
    "event_from_object",
    "events_from_pod",
    "events_from_document",
    "describe",
    "correlate",
    "log_to_event",
    "list_events",
]

SIGNAL_REASONS: dict[str, str] = {
    "CrashLoopBackOff": "a container keeps crashing and is restarted with growing back-off",
    "OOMKilled": "a container was killed for using more memory than its limit (or the node ran out)",
    "ImagePullBackOff": "the image cannot be pulled; Kubernetes backs off retrying",
    "ErrImagePull": "pulling the image failed (wrong name or tag, missing credentials, registry down)",
    "FailedScheduling": "no node can take the pod (resources, affinity, taints, volumes)",
    "Unhealthy": "a liveness, readiness or startup probe failed",
    "BackOff": "Kubernetes is backing off restarting a failed container",
    "Evicted": "the pod was evicted from its node (memory, disk or PID pressure)",
    "CreateContainerConfigError": "the container cannot be created from its spec (a missing ConfigMap, Secret or key)",
}

_MARKER = re.compile(r"(?:Pull|Watch)[A-Z][A-Za-z]*")  # k8sobjects receiver markers: PullEnd, ...
_PROBE = re.compile(r"\b(Liveness|Readiness|Startup) probe\b", re.I)
_CONTAINER = re.compile(r"spec\.(?:initC|ephemeralC|c)ontainers\{([^}]+)\}")


def signal_for(reason: str, message: str = "") -> str:
    """The first-class signal an event reports ('' for routine events)."""
    r, m = reason or "", message or ""
    if r in ("CrashLoopBackOff", "ImagePullBackOff", "ErrImagePull", "FailedScheduling", "Evicted", "OOMKilled",
             "CreateContainerConfigError"):
        return r
    if r == "BackOff":
        if "pulling image" in m or "ImagePullBackOff" in m:
            return "ImagePullBackOff"
        if "restarting failed container" in m or "CrashLoopBackOff" in m:
            return "CrashLoopBackOff"
        return "BackOff"
    if r in ("OOMKilling", "SystemOOM") or "OOMKilled" in m:
        return "OOMKilled"
    if r in ("Failed", "Error", "FailedPull"):
        if "ImagePullBackOff" in m:
            return "ImagePullBackOff"
        if "ErrImagePull" in m or "Failed to pull image" in m or "failed to pull" in m.lower():
            return "ErrImagePull"
        if "CrashLoopBackOff" in m:
            return "CrashLoopBackOff"
    if r == "Unhealthy" or (r == "Killing" and _PROBE.search(m)):
        return "Unhealthy"
    if r in ("Evict", "Preempted", "TaintManagerEviction") and "evict" in m.lower():
        return "Evicted"
    return ""


def _first(*values: Any) -> Any:
    for v in values:
        if v not in (None, "", {}, []):
            return v
    return None


def event_from_object(obj: dict[str, Any], channel: str = "kubectl") -> Event:
    """One core/v1 or events.k8s.io/v1 Event object to an ``Event`` record."""
    meta = obj.get("metadata") or {}
    regarding = obj.get("involvedObject") or obj.get("regarding") or {}
    series = obj.get("series") or {}
    source = obj.get("source") or obj.get("deprecatedSource") or {}
    first_ns = to_ns(_first(obj.get("firstTimestamp"), obj.get("deprecatedFirstTimestamp"), obj.get("eventTime")))
    last_ns = to_ns(_first(series.get("lastObservedTime"), obj.get("lastTimestamp"),
                           obj.get("deprecatedLastTimestamp"), obj.get("eventTime")))
    ts = last_ns or first_ns or to_ns(meta.get("creationTimestamp"))
    reason = str(obj.get("reason") or "")
    message = str(_first(obj.get("message"), obj.get("note")) or "")
    count = _first(series.get("count"), obj.get("count"), obj.get("deprecatedCount")) or 1
    attrs: dict[str, Any] = {"ingest": channel}
    for key, value in (
        ("k8s.event.uid", meta.get("uid")),
        ("k8s.event.name", meta.get("name")),
        ("k8s.event.action", obj.get("action")),
        ("k8s.object.uid", regarding.get("uid")),
        ("k8s.object.fieldpath", regarding.get("fieldPath")),
        ("k8s.node.name", _first(source.get("host"), obj.get("reportingInstance"))),
    ):
        if value:
            attrs[key] = value
    m = _CONTAINER.search(regarding.get("fieldPath") or "")
    if m:
        attrs["k8s.container.name"] = m.group(1)
    ev = Event(
        ts_ns=ts,
        reason=reason,
        message=message,
        type=str(obj.get("type") or "Normal"),
        object_kind=str(regarding.get("kind") or ""),
        object_name=str(regarding.get("name") or ""),
        namespace=str(regarding.get("namespace") or meta.get("namespace") or ""),
        count=int(count) if str(count).isdigit() else 1,
        first_ns=first_ns or ts,
        last_ns=last_ns or ts,
        source=str(_first(obj.get("reportingController"), obj.get("reportingComponent"), source.get("component")) or ""),
        attributes=attrs,
    )
    _mark_signal(ev)
    return ev


def _mark_signal(ev: Event) -> None:
    sig = signal_for(ev.reason, ev.message)
    if sig:
        ev.attributes["signal"] = sig
        p = _PROBE.search(ev.message)
        if sig == "Unhealthy" and p:
            ev.attributes["probe"] = p.group(1).lower()


def describe(obj: Any) -> str:
    """Name what a JSON document is, for error messages ("a List of 3 Pod", "a Deployment")."""
    if isinstance(obj, list):
        return f"a JSON array of {len(obj)} item(s)"
    if not isinstance(obj, dict):
        return f"a JSON {type(obj).__name__}"
    kind = obj.get("kind")
    if kind is None and "object" in obj and "type" in obj:
        return f"a watch event ({obj.get('type')}) of {describe(obj.get('object'))}"
    if isinstance(obj.get("items"), list):
        kinds = sorted({str(i.get("kind") or "?") for i in obj["items"] if isinstance(i, dict)})
        what = "/".join(kinds) if kinds else "nothing"
        return f"a {kind or 'list'} of {len(obj['items'])} {what}"
    if kind:
        return f"a {kind} ({obj.get('apiVersion', 'no apiVersion')})"
    keys = ", ".join(list(obj)[:6])
    return f"a JSON object with keys {keys}"


def _is_list_event(item: dict[str, Any], list_kind: str) -> bool:
    """An item of a list is an Event: it says so, or the list is an EventList and it looks like one.

    Why: the API server leaves ``kind``/``apiVersion`` off list items (``kubectl get --raw
    /api/v1/events``, ``kubectl cluster-info dump``); only kubectl's own printing adds them.
    """
    if is_k8s_event(item):
        return True
    if item.get("kind") not in (None, "", "Event"):
        return False
    has_object = "involvedObject" in item or "regarding" in item
    return has_object and (list_kind == "EventList" or "reason" in item)


# Container states that are trouble, as the kubelet reports them in pod status.
_WAITING_SIGNALS = {
    "CrashLoopBackOff": "CrashLoopBackOff", "ImagePullBackOff": "ImagePullBackOff",
    "ErrImagePull": "ErrImagePull", "CreateContainerConfigError": "CreateContainerConfigError",
    "CreateContainerError": "CreateContainerConfigError", "InvalidImageName": "ErrImagePull",
    "RunContainerError": "CrashLoopBackOff",
}


def events_from_pod(pod: dict[str, Any], channel: str = "kubectl") -> list[Event]:
    """Events a Pod's status holds (``kubectl get pods -o json``, a watch, k8sobjects pods).

    Why: OOMKilled is never an Event: the kubelet writes it into the container's
    ``lastState.terminated`` (or ``state.terminated``), and a waiting reason
    (CrashLoopBackOff, ImagePullBackOff, CreateContainerConfigError) lives in
    ``state.waiting``. Each becomes an Event on the pod with its ``signal`` and the
    container's restart count. Its uid is stable per container, reason and termination
    (or restart count), so the same status listed twice, or watched again, is one event.
    """
    meta = pod.get("metadata") if isinstance(pod.get("metadata"), dict) else {}
    status = pod.get("status") if isinstance(pod.get("status"), dict) else {}
    name = str(meta.get("name") or "")
    namespace = str(meta.get("namespace") or "")
    pod_uid = str(meta.get("uid") or f"{namespace}/{name}")
    node = (pod.get("spec") or {}).get("nodeName") if isinstance(pod.get("spec"), dict) else None
    fallback_ns = to_ns(_first(status.get("startTime"), meta.get("creationTimestamp")))
    out: list[Event] = []
    for group in ("initContainerStatuses", "containerStatuses", "ephemeralContainerStatuses"):
        for cs in status.get(group) or []:
            if not isinstance(cs, dict):
                continue
            container = str(cs.get("name") or "")
            restarts = cs.get("restartCount") if isinstance(cs.get("restartCount"), int) else 0
            found: list[tuple[str, str, str, int, str]] = []  # reason, signal, message, ts, key
            for where in ("state", "lastState"):
                st = cs.get(where) if isinstance(cs.get(where), dict) else {}
                term = st.get("terminated") if isinstance(st.get("terminated"), dict) else None
                if term and term.get("reason") == "OOMKilled":
                    t = to_ns(_first(term.get("finishedAt"), term.get("startedAt"))) or fallback_ns
                    msg = (f"container {container} was OOMKilled (exit code {term.get('exitCode')})"
                           + (f": {term['message']}" if term.get("message") else ""))
                    found.append(("OOMKilled", "OOMKilled", msg, t,
                                  str(_first(term.get("containerID"), term.get("finishedAt"), restarts))))
            wait = (cs.get("state") or {}).get("waiting") if isinstance(cs.get("state"), dict) else None
            if isinstance(wait, dict) and wait.get("reason") in _WAITING_SIGNALS:
                reason = str(wait["reason"])
                last = (cs.get("lastState") or {}).get("terminated") or {}
                t = to_ns(last.get("finishedAt")) if isinstance(last, dict) else 0
                found.append((reason, _WAITING_SIGNALS[reason], str(wait.get("message") or reason),
                              t or fallback_ns, f"restarts={restarts}"))
            seen_keys: set[str] = set()
            for reason, sig, msg, t, key in found:
                uid = f"pod-status:{pod_uid}:{container}:{reason}:{key}"
                if uid in seen_keys:
                    continue
                seen_keys.add(uid)
                attrs: dict[str, Any] = {"ingest": channel, "k8s.event.uid": uid, "k8s.container.name": container,
                                         "k8s.object.uid": meta.get("uid") or "", "signal": sig,
                                         "k8s.container.restart_count": restarts, "from": "pod.status"}
                if node:
                    attrs["k8s.node.name"] = node
                out.append(Event(ts_ns=t, reason=reason, message=msg, type="Warning", object_kind="Pod",
                                 object_name=name, namespace=namespace, count=1, first_ns=t, last_ns=t,
                                 source="kubelet", attributes={k: v for k, v in attrs.items() if v != ""}))
    return out


def is_k8s_object(obj: Any) -> bool:
    if not isinstance(obj, dict):
        return False
    if "object" in obj and obj.get("type") in ("ADDED", "MODIFIED", "DELETED", "BOOKMARK", "ERROR"):
        return True
    return bool(obj.get("apiVersion")) and bool(obj.get("kind"))


def events_from_document(obj: Any, *, channel: str = "kubectl", strict: bool = True) -> list[Event]:
    """Events of one kubectl JSON document: a List/EventList, one Event, or a watch event.

    ``strict``: a Kubernetes document with no events raises IngestError naming what it is
    (a ``kubectl get pods -o json`` fed by mistake); else it yields nothing.
    """
    if isinstance(obj, dict) and "object" in obj and "type" in obj and "kind" not in obj:
        if obj.get("type") in ("DELETED", "BOOKMARK", "ERROR"):
            return []  # a deleted event object is its TTL expiring, not a new occurrence
        return events_from_document(obj["object"], channel=channel, strict=strict)
    if isinstance(obj, dict) and is_k8s_event(obj):
        return [event_from_object(obj, channel)]
    if isinstance(obj, dict) and obj.get("kind") == "Pod":
        return events_from_pod(obj, channel)
    items = obj.get("items") if isinstance(obj, dict) else None
    if isinstance(items, list):
        list_kind = str(obj.get("kind") or "")
        events: list[Event] = []
        pods = 0
        for i in items:
            if not isinstance(i, dict):
                continue
            if _is_list_event(i, list_kind):
                events.append(event_from_object(i, channel))
            elif i.get("kind") == "Pod" or (list_kind == "PodList" and "status" in i):
                pods += 1
                events.extend(events_from_pod(i, channel))
        if events or pods or not items:
            return events
    if strict:
        raise IngestError(
            f"this Kubernetes JSON is {describe(obj)}, not events; runbrief ingest reads "
            "`kubectl get events -A -o json` (or `--watch -o json`) output"
        )
    return []


# ---------------------------------------------------------------- OTLP logs → events
def _body_object(body: Any) -> Any:
    if isinstance(body, dict):
        return body
    if isinstance(body, str) and body.startswith("{"):
        try:
            return orjson.loads(body)
        except orjson.JSONDecodeError:
            return None
    return None


def log_to_event(rec: LogRecord) -> tuple[bool, list[Event]]:
    """(is a k8s event record, its events) for a log record from the collector's receivers."""
    a = rec.attributes
    if not a:
        return False, []
    if "k8s.event.reason" in a:  # k8s_events receiver
        res = rec.resource.attributes
        kind = res.get("k8s.object.kind") or a.get("k8s.object.kind") or ""
        name = res.get("k8s.object.name") or a.get("k8s.object.name") or ""
        sev = (rec.severity_text or "").lower()
        etype = "Warning" if sev.startswith("warn") or rec.severity_number >= 13 else "Normal"
        attrs = {"ingest": "k8s_events"}
        for key in ("k8s.event.uid", "k8s.event.name", "k8s.event.action", "k8s.object.uid", "k8s.object.fieldpath"):
            v = a.get(key) or res.get(key)
            if v:
                attrs[key] = v
        if res.get("k8s.node.name"):
            attrs["k8s.node.name"] = res["k8s.node.name"]
        if res.get("k8s.cluster.name"):
            attrs["k8s.cluster.name"] = res["k8s.cluster.name"]
        m = _CONTAINER.search(str(attrs.get("k8s.object.fieldpath", "")))
        if m:
            attrs["k8s.container.name"] = m.group(1)
        count = a.get("k8s.event.count") or 1
        ts = rec.ts_ns or rec.observed_ns
        ev = Event(
            ts_ns=ts, reason=str(a["k8s.event.reason"]), message=rec.body, type=etype,
            object_kind=str(kind), object_name=str(name),
            namespace=str(a.get("k8s.namespace.name") or res.get("k8s.namespace.name") or ""),
            count=int(count) if str(count).isdigit() else 1,
            first_ns=to_ns(str(a.get("k8s.event.start_time", "")).replace(" +0000 UTC", "Z")) or ts,
            last_ns=ts, source=str(res.get("k8s.event.source") or ""), attributes=attrs,
        )
        _mark_signal(ev)
        return True, [ev]
    if a.get("event.domain") == "k8s" or "k8s.resource.name" in a:  # k8sobjects receiver
        resource_name = str(a.get("k8s.resource.name") or "")
        obj = _body_object(rec.body)
        if obj is None or not isinstance(obj, dict):
            # the receiver's own markers (``PullEnd`` after a pull-mode round) are no log
            # line of an "unknown_service"; any other text is kept as the log it is
            body = rec.body.strip() if isinstance(rec.body, str) else rec.body
            marker = body in (None, "") or (isinstance(body, str) and _MARKER.fullmatch(body) is not None)
            return (True, []) if marker else (False, [])
        inner = obj.get("object") if isinstance(obj.get("object"), dict) else obj
        if resource_name == "pods" or inner.get("kind") == "Pod":
            evs = events_from_document(obj, channel="k8sobjects", strict=False)
            for ev in evs:
                if not ev.ts_ns:
                    ev.ts_ns = ev.first_ns = ev.last_ns = rec.ts_ns or rec.observed_ns
            return False, evs  # the pod object itself is kept to learn owners
        if resource_name.startswith("events") or (isinstance(obj, dict) and (
                is_k8s_event(obj) or is_k8s_event(obj.get("object") or {}))):
            evs = events_from_document(obj, channel="k8sobjects", strict=False)
            for ev in evs:
                if not ev.ts_ns:
                    ev.ts_ns = ev.first_ns = ev.last_ns = rec.ts_ns or rec.observed_ns
            return True, evs
    return False, []


@batch_hook
def k8s_events_hook(batch: Batch) -> None:
    """Turn collector k8s-event log records into Event records; keep k8s objects seen."""
    if not batch.logs:
        return
    keep: list[LogRecord] | None = None
    for i, rec in enumerate(batch.logs):
        a = rec.attributes
        if not a or not ("k8s.event.reason" in a or "k8s.resource.name" in a or "event.domain" in a):
            if keep is not None:
                keep.append(rec)
            continue
        is_event, evs = log_to_event(rec)
        if not is_event:
            if a.get("k8s.resource.name") in ("pods", "replicasets", "jobs"):
                obj = _body_object(rec.body)
                if isinstance(obj, dict):
                    batch.objects.append(obj.get("object", obj) if "type" in obj else obj)
            batch.events.extend(evs)  # a pod's status: OOMKilled, waiting reasons
            if keep is not None:
                keep.append(rec)
            continue
        if keep is None:
            keep = batch.logs[:i]
        batch.events.extend(evs)
    if keep is not None:
        batch.logs = keep


@commit_hook
def k8s_correlate_hook(store: Store, prep: Prepared) -> None:
    """Correlate every event with its owners and service (reads and teaches the store)."""
    if prep.events or prep.objects:
        prep.events = correlate(store, prep.events, prep.objects)


# ---------------------------------------------------------------- query
@operation("events")
def list_events(
    store: Store,
    service: str | None = None,
    signal: str | None = None,
    reason: str | None = None,
    namespace: str | None = None,
    since: str | None = None,
    warnings_only: bool = False,
    limit: int = 100,
) -> dict[str, Any]:
    """Platform (Kubernetes) events, newest first, by service, signal, reason, namespace and time.

    ``signal`` is one of SIGNAL_REASONS (CrashLoopBackOff, OOMKilled, ImagePullBackOff,
    ErrImagePull, FailedScheduling, Unhealthy, BackOff, Evicted).
    """
    from runbrief.queries import _json, fmt_ts, parse_time

    where, args = [], []
    for col, val in (("service", service), ("reason", reason), ("namespace", namespace)):
        if val:
            where.append(f"{col} = ?")
            args.append(val)
    if signal:
        if signal not in SIGNAL_REASONS:
            raise UsageError(f"unknown signal {signal!r}; use one of {', '.join(SIGNAL_REASONS)}")
        where.append("""json_extract_string(attributes, '$."signal"') = ?""")
        args.append(signal)
    if warnings_only:
        where.append("type = 'Warning'")
    if (t := parse_time(since)) is not None:
        where.append("ts >= ?")
        args.append(t)
    limit = max(1, min(int(limit), 10_000))
    sql = "SELECT * FROM events" + (" WHERE " + " AND ".join(where) if where else "")
    rows = store.query(sql + " ORDER BY ts DESC, id DESC LIMIT ?", [*args, limit])
    out = []
    for r in rows:
        attrs = _json(r["attributes"]) or {}
        out.append({
            "id": ids.make("evt", r["id"]), "ts": fmt_ts(r["ts"]), "service": r["service"], "type": r["type"],
            "reason": r["reason"], "signal": attrs.get("signal", ""), "message": r["message"],
            "object": f"{r['object_kind']}/{r['object_name']}" if r["object_kind"] else r["object_name"],
            "namespace": r["namespace"], "count": r["count"], "first_ts": fmt_ts(r["first_ts"]),
            "last_ts": fmt_ts(r["last_ts"]), "source": r["source"], "attributes": attrs,
        })
    return {"events": out}
