"""Kubernetes as the API really sends it: list items without kind, pod status (OOMKilled and
waiting reasons, real Pods from flanksource/is-healthy), the k8sobjects receiver's markers and
DELETED watch objects."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

from runbrief.ingest import kube
from runbrief.ingest._file_sources import ingest_local
from runbrief.ingest.otlp import decode_logs
from runbrief.ingest.pipeline import Pipeline
from runbrief.store.duck import Store

from . import samples
from .test_kube import _events, _kvlist, _otlp_logs

K8S = Path(__file__).resolve().parents[1] / "data" / "k8s"


def _pod(name: str) -> dict[str, Any]:
    return json.loads((K8S / f"pod-{name}.json").read_text())


def _raw_event_list() -> dict[str, Any]:
    """`kubectl get --raw /api/v1/events`: the API server leaves kind/apiVersion off items."""
    items = [{k: v for k, v in copy.deepcopy(e).items() if k not in ("kind", "apiVersion")}
             for e in samples.CORE_EVENTS]
    return {"kind": "EventList", "apiVersion": "v1", "metadata": {"resourceVersion": "48213"}, "items": items}


def test_an_event_list_whose_items_carry_no_kind_is_read(store: Store, tmp_path: Path) -> None:
    raw = _raw_event_list()
    assert all("kind" not in i for i in raw["items"])
    path = tmp_path / "events.json"
    path.write_text(json.dumps(raw))
    result = ingest_local(store, [str(path)])
    assert result["errors"] == [] and result["events"] == len(samples.CORE_EVENTS)
    # cluster-info dump: one EventList per namespace, then other lists, concatenated
    dump = tmp_path / "dump.json"
    dump.write_text(json.dumps(raw, indent=4) + "\n" + samples.PODS_LIST)
    got = ingest_local(store, [str(dump)])
    assert got["errors"] == []  # the same events again (deduplicated in the store), healthy pods
    assert store.scalar("SELECT count(*) FROM events") == len(samples.CORE_EVENTS)
    assert len(kube.events_from_document(raw)) == len(samples.CORE_EVENTS)
    # events.k8s.io/v1 list items: `regarding` and `note`, no kind either
    v1 = {"kind": "EventList", "apiVersion": "events.k8s.io/v1", "items": [{
        "metadata": {"name": "x.1", "namespace": "shop", "uid": "u1"}, "reason": "BackOff",
        "note": "Back-off restarting failed container app in pod app-1", "type": "Warning",
        "regarding": {"kind": "Pod", "name": "app-1", "namespace": "shop"}, "eventTime": "2024-05-01T10:00:00.000000Z",
        "reportingController": "kubelet"}]}
    (ev,) = kube.events_from_document(v1)
    assert ev.attributes["signal"] == "CrashLoopBackOff" and ev.object_name == "app-1"


def test_pod_status_becomes_signals_tied_to_the_pod(store: Store, tmp_path: Path) -> None:
    oom, crash, pull = _pod("oomkilled-unhealthy"), _pod("crashloopbackoff"), _pod("imagepullbackoff")
    (ev,) = kube.events_from_document(oom)
    assert (ev.reason, ev.attributes["signal"], ev.object_kind, ev.object_name, ev.namespace) == (
        "OOMKilled", "OOMKilled", "Pod", "oomkilled-pod", "mission-control")
    assert ev.attributes["k8s.container.restart_count"] == 9 and "system has run out of memory" in ev.message
    (ev,) = kube.events_from_document(crash)
    assert ev.attributes["signal"] == "CrashLoopBackOff" and ev.attributes["k8s.container.name"] == "main"
    (ev,) = kube.events_from_document(pull)
    assert ev.attributes["signal"] == "ImagePullBackOff"
    # `kubectl get pods -A -o json`: a List of them, read from a file; listed twice, stored once
    listing = {"apiVersion": "v1", "kind": "List", "metadata": {"resourceVersion": ""}, "items": [oom, crash, pull]}
    path = tmp_path / "pods.json"
    path.write_text(json.dumps(listing, indent=4))
    assert ingest_local(store, [str(path)])["events"] == 3
    ingest_local(store, [str(path)])
    rows = _events(store)
    assert sorted(r["attributes"]["signal"] for r in rows) == ["CrashLoopBackOff", "ImagePullBackOff", "OOMKilled"]
    guestbook = next(r for r in rows if r["attributes"]["signal"] == "ImagePullBackOff")
    assert guestbook["service"] == "guestbook-ui-errimagepullbackoff"  # the pod's Deployment, from its name
    assert kube.list_events(store, signal="OOMKilled")["events"][0]["object"] == "Pod/oomkilled-pod"
    # a waiting reason the events list never names
    cfg = copy.deepcopy(pull)
    cfg["status"]["containerStatuses"][0]["state"]["waiting"] = {
        "reason": "CreateContainerConfigError", "message": 'secret "db-creds" not found'}
    (ev,) = kube.events_from_document(cfg)
    assert ev.attributes["signal"] == "CreateContainerConfigError"


def _k8sobjects(resource: str, body: Any) -> bytes:
    return _otlp_logs({"k8s.namespace.name": "shop"}, [
        {"observedTimeUnixNano": "1714557900000000000",
         "body": _kvlist(body) if isinstance(body, dict) else {"stringValue": body},
         "attributes": [{"key": "k8s.resource.name", "value": {"stringValue": resource}},
                        {"key": "event.domain", "value": {"stringValue": "k8s"}}]}])


def test_collector_markers_deleted_objects_and_pod_watch(store: Store) -> None:
    pipe = Pipeline(store)
    counts = pipe.write(decode_logs(_k8sobjects("events", "PullEnd"), "application/json"))
    assert counts["logs"] == 0 and counts["events"] == 0  # a marker, not a log of unknown_service
    added = {"type": "ADDED", "object": samples.CORE_EVENTS[2]}
    deleted = {"type": "DELETED", "object": samples.CORE_EVENTS[2]}
    assert pipe.write(decode_logs(_k8sobjects("events", added), "application/json"))["events"] == 1
    counts = pipe.write(decode_logs(_k8sobjects("events", deleted), "application/json"))
    assert counts["events"] == 0 and counts["logs"] == 0  # the event's TTL expiring: no new event
    # a watched pod whose container was OOMKilled
    oom = _pod("oomkilled-unhealthy")
    oom["metadata"]["namespace"] = "shop"
    counts = pipe.write(decode_logs(_k8sobjects("pods", {"type": "MODIFIED", "object": oom}), "application/json"))
    assert counts["events"] == 1
    gone = pipe.write(decode_logs(_k8sobjects("pods", {"type": "DELETED", "object": oom}), "application/json"))
    assert gone["events"] == 0
    assert sorted(r["reason"] for r in _events(store)) == ["BackOff", "OOMKilled"]
    assert store.scalar("SELECT count(*) FROM logs WHERE body = 'PullEnd'") == 0
