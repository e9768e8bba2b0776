"""Kubernetes events: kubectl JSON (list and watch), the collector's receivers over OTLP,
signals, correlation with workloads and services."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import orjson
import pytest

from runbrief import ids, ops
from runbrief.ingest import kube
from runbrief.ingest._file_sources import ingest_local
from runbrief.ingest.otlp import decode_logs
from runbrief.ingest.pipeline import Batch, Pipeline
from runbrief.records import LogRecord, Resource
from runbrief.store.duck import Store

from . import samples


def _events(store: Store) -> list[dict[str, Any]]:
    rows = store.query("SELECT * FROM events ORDER BY id")
    for r in rows:
        r["attributes"] = json.loads(r["attributes"]) if r["attributes"] else {}
    return rows


def _by_reason(rows: list[dict[str, Any]], reason: str, obj: str | None = None) -> dict[str, Any]:
    return next(r for r in rows if r["reason"] == reason and (obj is None or r["object_name"] == obj))


def test_kubectl_events_list_recognized_and_correlated(store: Store, tmp_path: Path) -> None:
    path = tmp_path / "events.json"
    path.write_text(samples.kubectl_events_list(samples.CORE_EVENTS))
    result = ingest_local(store, [str(path)])
    assert result["errors"] == [] and result["events"] == len(samples.CORE_EVENTS) and result["logs"] == 0
    rows = _events(store)
    crash = _by_reason(rows, "BackOff", "checkout-7d9f8b6c5-x2x7k")
    assert crash["type"] == "Warning" and crash["count"] == 14 and crash["namespace"] == "shop"
    assert crash["object_kind"] == "Pod" and crash["source"] == "kubelet"
    assert crash["attributes"]["signal"] == "CrashLoopBackOff"
    assert crash["attributes"]["k8s.container.name"] == "checkout"
    assert crash["attributes"]["k8s.replicaset.name"] == "checkout-7d9f8b6c5"
    assert crash["attributes"]["k8s.deployment.name"] == "checkout"
    assert crash["service"] == "checkout"  # no telemetry names it: the Deployment's name
    assert str(crash["first_ts"]) == "2024-05-01 10:00:00" and str(crash["ts"]) == "2024-05-01 10:05:00"
    probe = _by_reason(rows, "Unhealthy")
    assert probe["attributes"]["signal"] == "Unhealthy" and probe["attributes"]["probe"] == "readiness"
    assert _by_reason(rows, "Failed")["attributes"]["signal"] == "ErrImagePull"
    assert _by_reason(rows, "BackOff", "payments-5b8c9d7f6-w9tzq")["attributes"]["signal"] == "ImagePullBackOff"
    assert _by_reason(rows, "Evicted")["service"] == "worker"
    node = _by_reason(rows, "NodeNotReady")
    assert node["service"] is None and "signal" not in node["attributes"]
    # the owner chain was learned from the controllers' own events
    owners = store.query("SELECT kind, name, owner_kind, owner_name FROM k8s_objects ORDER BY kind")
    assert owners == [
        {"kind": "Pod", "name": "checkout-7d9f8b6c5-x2x7k", "owner_kind": "ReplicaSet", "owner_name": "checkout-7d9f8b6c5"},
        {"kind": "ReplicaSet", "name": "checkout-7d9f8b6c5", "owner_kind": "Deployment", "owner_name": "checkout"},
    ]
    # every event resolves by its evidence ID
    eid = ids.make("evt", crash["id"])
    assert ops.run(store, "show", {"id": eid})["reason"] == "BackOff"


def test_service_from_telemetry_resource_attributes(store: Store, tmp_path: Path) -> None:
    """The service that runs in the pod (by its k8s.* resource attributes) wins over the name."""
    res = Resource({"service.name": "checkout-api", "k8s.namespace.name": "shop",
                    "k8s.deployment.name": "checkout", "k8s.pod.name": "checkout-7d9f8b6c5-q8w4z"})
    Pipeline(store).write(Batch(logs=[LogRecord(ts_ns=1714557600 * 10**9, body="ready", resource=res)]))
    path = tmp_path / "events.json"
    path.write_text(samples.kubectl_events_list(samples.CORE_EVENTS))
    ingest_local(store, [str(path)])
    rows = _events(store)
    crash = _by_reason(rows, "BackOff", "checkout-7d9f8b6c5-x2x7k")  # another pod of the same Deployment
    assert crash["service"] == "checkout-api" and crash["attributes"]["service.match"] == "resource"
    assert _by_reason(rows, "Evicted")["attributes"]["service.match"] == "name"


def test_watch_stream_and_v1_events(store: Store, tmp_path: Path) -> None:
    stream = samples.kubectl_watch_stream([samples.CORE_EVENTS[2], samples.EVENTS_V1])
    (tmp_path / "watch.json").write_text(stream)
    wrapped = samples.kubectl_watch_stream([samples.CORE_EVENTS[3], samples.CORE_EVENTS[6]], wrap=True)
    (tmp_path / "watch-events.json").write_text(wrapped)
    result = ingest_local(store, [str(tmp_path / "watch.json"), str(tmp_path / "watch-events.json")])
    assert result["errors"] == [] and result["events"] == 4
    rows = _events(store)
    sched = _by_reason(rows, "FailedScheduling")
    assert sched["count"] == 4 and sched["source"] == "default-scheduler"
    assert sched["message"].startswith("0/3 nodes are available")
    assert str(sched["ts"]) == "2024-05-01 10:04:00" and str(sched["first_ts"]) == "2024-05-01 10:01:00.123456"
    assert sched["attributes"]["signal"] == "FailedScheduling"
    assert sched["attributes"]["k8s.statefulset.name"] == "web" and sched["service"] == "web"


def test_reingesting_the_same_events_adds_nothing(store: Store, tmp_path: Path) -> None:
    path = tmp_path / "events.json"
    path.write_text(samples.kubectl_events_list(samples.CORE_EVENTS))
    ingest_local(store, [str(path)])
    again = ingest_local(store, [str(path)])
    assert again["errors"] == []
    assert store.scalar("SELECT count(*) FROM events") == len(samples.CORE_EVENTS)
    # a later observation of the same event (count went up) is kept
    bumped = dict(samples.CORE_EVENTS[2], count=15, lastTimestamp="2024-05-01T10:10:00Z")
    path.write_text(samples.kubectl_events_list([bumped]))
    ingest_local(store, [str(path)])
    assert store.scalar("SELECT count(*) FROM events") == len(samples.CORE_EVENTS) + 1


def test_not_an_event_list_is_refused_by_name(store: Store, tmp_path: Path) -> None:
    # pods are read for their status now: healthy ones hold no events, and are no error
    path = tmp_path / "pods.json"
    path.write_text(samples.PODS_LIST)
    result = ingest_local(store, [str(path)])
    assert result["events"] == 0 and result["logs"] == 0 and result["errors"] == []
    with pytest.raises(Exception, match="a Deployment"):
        kube.events_from_document({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "x"}})


@pytest.mark.parametrize(("reason", "message", "signal"), [
    ("BackOff", "Back-off restarting failed container app in pod app-1", "CrashLoopBackOff"),
    ("BackOff", 'Back-off pulling image "nginx:nope"', "ImagePullBackOff"),
    ("Failed", "Error: ImagePullBackOff", "ImagePullBackOff"),
    ("Failed", "Error: ErrImagePull", "ErrImagePull"),
    ("OOMKilling", "Memory cgroup out of memory: Killed process 4242 (java)", "OOMKilled"),
    ("OOMKilled", "Container app was OOMKilled", "OOMKilled"),
    ("Unhealthy", "Liveness probe failed: Get \"http://10.1.2.3:8080/healthz\": context deadline exceeded", "Unhealthy"),
    ("Evicted", "The node was low on resource: ephemeral-storage.", "Evicted"),
    ("FailedScheduling", "0/3 nodes are available: 3 node(s) had untolerated taint", "FailedScheduling"),
    ("Pulled", "Successfully pulled image \"nginx:1.27\"", ""),
    ("Started", "Started container app", ""),
])
def test_signals(reason: str, message: str, signal: str) -> None:
    assert kube.signal_for(reason, message) == signal
    assert signal == "" or signal in kube.SIGNAL_REASONS


def _otlp_logs(resource_attrs: dict[str, Any], records: list[dict[str, Any]]) -> bytes:
    def kv(d: dict[str, Any]) -> list[dict[str, Any]]:
        out = []
        for k, v in d.items():
            val = {"intValue": str(v)} if isinstance(v, int) else {"stringValue": v}
            out.append({"key": k, "value": val})
        return out

    return orjson.dumps({"resourceLogs": [{"resource": {"attributes": kv(resource_attrs)},
                                           "scopeLogs": [{"scope": {}, "logRecords": records}]}]})


def _kvlist(obj: Any) -> dict[str, Any]:
    """A JSON value as an OTLP AnyValue (how the collector sends a map body)."""
    if isinstance(obj, dict):
        return {"kvlistValue": {"values": [{"key": k, "value": _kvlist(v)} for k, v in obj.items()]}}
    if isinstance(obj, list):
        return {"arrayValue": {"values": [_kvlist(v) for v in obj]}}
    if isinstance(obj, bool):
        return {"boolValue": obj}
    if isinstance(obj, int):
        return {"intValue": str(obj)}
    if obj is None:
        return {}
    return {"stringValue": str(obj)}


def test_collector_k8sobjects_watch_logs_become_events(store: Store) -> None:
    body = {"type": "ADDED", "object": samples.CORE_EVENTS[2]}
    payload = _otlp_logs({"k8s.namespace.name": "shop"}, [
        {"observedTimeUnixNano": "1714557900000000000", "body": _kvlist(body),
         "attributes": [{"key": "k8s.resource.name", "value": {"stringValue": "events"}},
                        {"key": "event.domain", "value": {"stringValue": "k8s"}},
                        {"key": "event.name", "value": {"stringValue": "checkout-7d9f8b6c5-x2x7k.17c1a3"}}]},
        {"timeUnixNano": "1714557900000000000", "body": {"stringValue": "an ordinary app log line"}},
    ])
    batch = decode_logs(payload, "application/json")
    counts = Pipeline(store).write(batch)
    assert counts["events"] == 1 and counts["logs"] == 1
    ev = _events(store)[0]
    assert ev["reason"] == "BackOff" and ev["attributes"]["signal"] == "CrashLoopBackOff"
    assert ev["attributes"]["ingest"] == "k8sobjects" and ev["service"] == "checkout"
    assert store.query("SELECT body FROM logs") == [{"body": "an ordinary app log line"}]


def test_collector_k8s_events_receiver_logs_become_events(store: Store) -> None:
    payload = _otlp_logs(
        {"k8s.node.name": "node-a", "k8s.object.kind": "Pod", "k8s.object.name": "payments-5b8c9d7f6-w9tzq",
         "k8s.object.uid": "uid-p", "k8s.object.fieldpath": "spec.containers{payments}",
         "k8s.object.api_version": "v1", "k8s.object.resource_version": "4821"},
        [{"timeUnixNano": "1714557900000000000", "severityNumber": 13, "severityText": "Warning",
          "body": {"stringValue": 'Back-off pulling image "registry.shop/payments:1.9.0"'},
          "attributes": [{"key": "k8s.event.reason", "value": {"stringValue": "BackOff"}},
                         {"key": "k8s.event.action", "value": {"stringValue": ""}},
                         {"key": "k8s.event.start_time", "value": {"stringValue": "2024-05-01 09:58:00 +0000 UTC"}},
                         {"key": "k8s.event.name", "value": {"stringValue": "payments-5b8c9d7f6-w9tzq.17c"}},
                         {"key": "k8s.event.uid", "value": {"stringValue": "evt-uid-1"}},
                         {"key": "k8s.namespace.name", "value": {"stringValue": "shop"}},
                         {"key": "k8s.event.count", "value": {"intValue": "6"}}]}],
    )
    Pipeline(store).write(decode_logs(payload, "application/json"))
    assert store.scalar("SELECT count(*) FROM logs") == 0
    ev = _events(store)[0]
    assert (ev["reason"], ev["type"], ev["object_kind"], ev["namespace"], ev["count"]) == (
        "BackOff", "Warning", "Pod", "shop", 6)
    assert ev["attributes"]["signal"] == "ImagePullBackOff" and ev["attributes"]["k8s.container.name"] == "payments"
    assert ev["service"] == "payments" and str(ev["first_ts"]) == "2024-05-01 09:58:00"


def test_events_op_filters_by_signal(store: Store, tmp_path: Path) -> None:
    path = tmp_path / "events.json"
    path.write_text(samples.kubectl_events_list(samples.CORE_EVENTS))
    ingest_local(store, [str(path)])
    out = kube.list_events(store, signal="CrashLoopBackOff")
    assert [e["object"] for e in out["events"]] == ["Pod/checkout-7d9f8b6c5-x2x7k"]
    assert ops.run(store, "show", {"id": out["events"][0]["id"]})["object_name"] == "checkout-7d9f8b6c5-x2x7k"
    assert len(kube.list_events(store, service="checkout")["events"]) == 4
