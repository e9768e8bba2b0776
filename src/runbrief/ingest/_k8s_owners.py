"""Which workload and which service a Kubernetes object belongs to.

An event names one object (usually a Pod). To say "checkout is crash-looping" we need its
chain of owners (Pod → ReplicaSet → Deployment) and the service behind it. Ownership comes
from what the cluster told us (``k8s_objects``: "Created pod: x" events, ownerReferences)
and, failing that, from Kubernetes' own naming: a Deployment's pods are named
``<deployment>-<pod-template-hash>-<5 chars>`` with hashes drawn from a vowel-free alphabet
(so ``api-server`` is never mistaken for a hash), a StatefulSet's ``<name>-<ordinal>``, a
CronJob's jobs ``<name>-<minutes since epoch>``.

The service is then found through the k8s.* resource attributes of the services' own
telemetry (the ``resources`` table), else by name: the workload's name.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from runbrief.records import Event

if TYPE_CHECKING:
    from runbrief.store.duck import Store

__all__ = ["OwnerIndex", "naming_owner", "correlate", "WORKLOAD_KINDS", "K8S_NAME_KEYS"]

_H = "[bcdfghjklmnpqrstvwxz2456789]"  # k8s.io/apimachinery rand.SafeEncodeString alphabet
_RS_POD = re.compile(rf"^(.+)-({_H}{{6,10}})-{_H}{{5}}$")
_RS = re.compile(rf"^(.+)-{_H}{{6,10}}$")
_HASHED_POD = re.compile(rf"^(.+)-{_H}{{5}}$")
_ORDINAL_POD = re.compile(r"^(.+)-\d{1,5}$")
_CRON_JOB = re.compile(r"^(.+)-\d{8,}$")

# controllers' own events name the objects they own
_OWNER_MESSAGES = (
    (re.compile(r"^(?:Created|Deleted) pod: (\S+)"), "Pod"),
    (re.compile(r"^(?:create|delete) Pod (\S+) in StatefulSet \S+ successful"), "Pod"),
    (re.compile(r"^Scaled (?:up|down) replica set (\S+)"), "ReplicaSet"),
    (re.compile(r"^Created job (\S+)"), "Job"),
)

WORKLOAD_KINDS = ("Deployment", "StatefulSet", "DaemonSet", "CronJob", "Job", "ReplicaSet", "ReplicationController")
# resource attribute → object kind (OpenTelemetry k8s semantic conventions)
K8S_NAME_KEYS = {
    "k8s.pod.name": "Pod",
    "k8s.replicaset.name": "ReplicaSet",
    "k8s.deployment.name": "Deployment",
    "k8s.statefulset.name": "StatefulSet",
    "k8s.daemonset.name": "DaemonSet",
    "k8s.job.name": "Job",
    "k8s.cronjob.name": "CronJob",
}
# kinds whose events concern no single service
_CLUSTER_KINDS = frozenset({"Node", "Namespace", "PersistentVolume", "StorageClass", "ClusterRole", "CustomResourceDefinition"})


def naming_owner(kind: str, name: str) -> tuple[str, str] | None:
    """The owner Kubernetes' naming implies for an object, or None. Kind may be '' (unknown)."""
    if kind == "Pod":
        m = _RS_POD.match(name)
        if m:
            return "ReplicaSet", f"{m.group(1)}-{m.group(2)}"
        m = _HASHED_POD.match(name)
        if m:
            return "", m.group(1)  # DaemonSet or Job: the name alone cannot tell
        m = _ORDINAL_POD.match(name)
        if m:
            return "StatefulSet", m.group(1)
        return None
    if kind == "ReplicaSet":
        m = _RS.match(name)
        return ("Deployment", m.group(1)) if m else None
    if kind == "Job":
        m = _CRON_JOB.match(name)
        return ("CronJob", m.group(1)) if m else None
    return None


@dataclass
class OwnerIndex:
    """Ownership and service lookups for one batch of events (loaded once per batch)."""

    owners: dict[tuple[str, str, str], tuple[str, str]] = field(default_factory=dict)
    by_object: dict[tuple[str, str, str], str] = field(default_factory=dict)  # (ns, kind, name) -> service
    services: set[str] = field(default_factory=set)

    @classmethod
    def load(cls, store: Store, namespaces: set[str]) -> OwnerIndex:
        idx = cls()
        if namespaces:
            marks = ", ".join("?" * len(namespaces))
            for r in store.query(
                f"SELECT namespace, kind, name, owner_kind, owner_name FROM k8s_objects WHERE namespace IN ({marks})",
                sorted(namespaces),
            ):
                idx.owners[(r["namespace"], r["kind"], r["name"])] = (r["owner_kind"] or "", r["owner_name"] or "")
        cols = ", ".join(f"json_extract_string(attributes, '$.\"{k}\"') AS \"{k}\"" for k in K8S_NAME_KEYS)
        rows = store.query(
            f"""SELECT service, json_extract_string(attributes, '$."service.name"') AS explicit,
                       json_extract_string(attributes, '$."k8s.namespace.name"') AS ns, {cols}
                FROM resources WHERE contains(CAST(attributes AS VARCHAR), '"k8s.')"""
        )
        for r in rows:
            svc = r["service"]
            if not svc or svc == "unknown_service":
                continue
            ns = r["ns"] or ""
            for key, kind in K8S_NAME_KEYS.items():
                if r[key]:
                    # an explicit service.name wins over one derived from the workload name
                    k = (ns, kind, r[key])
                    if r["explicit"] or k not in idx.by_object:
                        idx.by_object[k] = svc
        idx.services = {r["service"] for r in store.query("SELECT DISTINCT service FROM resources")}
        return idx

    def chain(self, namespace: str, kind: str, name: str) -> list[tuple[str, str]]:
        """[(kind, name)] from the object up to its top owner (at most 4 steps)."""
        out = [(kind, name)]
        for _ in range(4):
            k, n = out[-1]
            nxt = self.owners.get((namespace, k, n)) or naming_owner(k, n)
            if not nxt or nxt in out:
                break
            out.append(nxt)
            if not nxt[0]:
                break
        return out

    def service_for(self, namespace: str, chain: list[tuple[str, str]]) -> tuple[str, str]:
        """(service, how) for an object chain: 'resource' (telemetry), 'name', or ('', '')."""
        for kind, name in chain:
            svc = self.by_object.get((namespace, kind, name)) or self.by_object.get(("", kind, name))
            if svc:
                return svc, "resource"
        kind, name = chain[0]
        if kind in _CLUSTER_KINDS or not name:
            return "", ""
        top_kind, top_name = chain[-1]
        if top_name in self.services:
            return top_name, "name"
        for _, n in chain:
            if n in self.services:
                return n, "name"
        if top_kind in WORKLOAD_KINDS or top_kind == "" or len(chain) > 1:
            return top_name, "name"
        if kind in ("Service", "HorizontalPodAutoscaler", "Ingress", "PodDisruptionBudget"):
            return name, "name"
        return "", ""


# ---------------------------------------------------------------- correlation
def _learn_owners(events: list[Event], objects: list[dict[str, Any]]) -> list[tuple[str, str, str, str, str]]:
    rows = []
    for ev in events:
        if ev.reason not in ("SuccessfulCreate", "SuccessfulDelete", "ScalingReplicaSet"):
            continue
        for rx, kind in _OWNER_MESSAGES:
            m = rx.match(ev.message)
            if m:
                rows.append((ev.namespace, kind, m.group(1), ev.object_kind, ev.object_name))
                break
    for obj in objects:
        meta = obj.get("metadata") or {}
        for ref in meta.get("ownerReferences") or []:
            if ref.get("controller", True) and ref.get("kind") and ref.get("name"):
                rows.append((meta.get("namespace") or "", str(obj.get("kind")), str(meta.get("name")),
                             str(ref["kind"]), str(ref["name"])))
                break
    return rows


def _save_owners(store: Store, rows: list[tuple[str, str, str, str, str]], ts_ns: int) -> None:
    if not rows or store.read_only:
        return
    import pyarrow as pa

    uniq = {(r[0], r[1], r[2]): r for r in rows}
    cols = list(zip(*uniq.values(), strict=True))
    tbl = pa.table({"namespace": cols[0], "kind": cols[1], "name": cols[2], "owner_kind": cols[3],
                    "owner_name": cols[4], "updated": pa.array([ts_ns // 1000] * len(uniq), pa.timestamp("us"))})
    with store.write() as con:
        con.register("_rb_k8s_own", tbl)
        try:
            con.execute("INSERT OR REPLACE INTO k8s_objects SELECT * FROM _rb_k8s_own")
        finally:
            con.unregister("_rb_k8s_own")


def _dedupe(store: Store, events: list[Event]) -> list[Event]:
    """Drop exact repeats (same event uid, count and last time), in the batch and the store.

    Listing events twice, or a watch that replays, must not double a crash loop's count.
    """
    seen: set[tuple[str, int, int]] = set()
    out: list[Event] = []
    uids = sorted({str(e.attributes["k8s.event.uid"]) for e in events if e.attributes.get("k8s.event.uid")})
    if uids:
        marks = ", ".join("?" * len(uids))
        lasts = [(e.last_ns or e.ts_ns) // 1000 for e in events]
        # an exact repeat has the same last time: the range lets DuckDB skip most row groups
        for r in store.query(
            f"""SELECT json_extract_string(attributes, '$."k8s.event.uid"') uid, count,
                       epoch_us(last_ts) last_us FROM events
                WHERE last_ts BETWEEN make_timestamp(?::BIGINT) AND make_timestamp(?::BIGINT)
                  AND json_extract_string(attributes, '$."k8s.event.uid"') IN ({marks})""",
            [min(lasts), max(lasts), *uids],
        ):
            seen.add((r["uid"], int(r["count"] or 0), int(r["last_us"] or 0)))
    for e in events:
        uid = e.attributes.get("k8s.event.uid")
        if uid:
            key = (str(uid), e.count, (e.last_ns or e.ts_ns) // 1000)
            if key in seen:
                continue
            seen.add(key)
        out.append(e)
    return out


def correlate(store: Store, events: list[Event], objects: list[dict[str, Any]] | None = None) -> list[Event]:
    """Fill owners, k8s.* attributes and the service of each event; returns the deduplicated list."""
    if not events and not objects:
        return events
    rows = _learn_owners(events, objects or [])
    _save_owners(store, rows, max((e.ts_ns for e in events), default=0))
    events = _dedupe(store, events)
    if not events:
        return events
    idx = OwnerIndex.load(store, {e.namespace for e in events})
    kind_key = {v: k for k, v in K8S_NAME_KEYS.items()}
    for ev in events:
        if ev.namespace:
            ev.attributes.setdefault("k8s.namespace.name", ev.namespace)
        if not ev.object_name:
            continue
        chain = idx.chain(ev.namespace, ev.object_kind, ev.object_name)
        for kind, name in chain:
            key = kind_key.get(kind)
            if key:
                ev.attributes.setdefault(key, name)
            elif kind == "" and name:
                ev.attributes.setdefault("k8s.workload.name", name)
        if not ev.service:
            svc, how = idx.service_for(ev.namespace, chain)
            if svc:
                ev.service = svc
                ev.attributes["service.match"] = how
    return events
