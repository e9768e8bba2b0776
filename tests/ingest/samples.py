"""Small realistic samples of formats the loghub set does not cover.

Written in the exact shapes the tools print: kubectl, the kubelet's CRI log files, nginx,
Python's logging, log4j/logback, pino, zap, Kubernetes events (core/v1 and
events.k8s.io/v1), GitHub webhooks.
"""

from __future__ import annotations

import json

JSON_LINES = "\n".join([
    '{"time":"2024-05-01T10:00:00.123456789Z","level":"info","msg":"listening","service":"checkout","port":8080}',
    '{"level":30,"time":1714557601000,"pid":7,"hostname":"web-1","msg":"request completed","req":{"url":"/cart"}}',
    '{"@timestamp":"2024-05-01T10:00:02.000Z","log":{"level":"error","logger":"db"},"message":"pool exhausted",'
    '"service":{"name":"checkout"},"trace":{"id":"4bf92f3577b34da6a3ce929d0e0e4736"},"span":{"id":"00f067aa0ba902b7"}}',
    '{"ts":1714557603.5,"level":"warn","caller":"cart/cart.go:42","msg":"slow query","duration":"1.2s",'
    '"trace_id":"4BF92F3577B34DA6A3CE929D0E0E4736","span_id":"00f067aa0ba902b7"}',
    '{"timestamp":"2024-05-01 10:00:04,250","levelname":"ERROR","name":"payments","message":"card declined"}',
])

LOGFMT = "\n".join([
    'time=2024-05-01T10:00:00Z level=info msg="starting server" addr=:8080 service=gateway',
    'time=2024-05-01T10:00:01.5Z level=warn msg="upstream slow" upstream=checkout latency=1.2s',
    'ts=2024-05-01T10:00:02Z lvl=error msg="request failed \\"POST /pay\\"" status=502 err="EOF"',
    'time=2024-05-01T10:00:03Z level=debug msg=tick',
])

KLOG = "\n".join([
    'I0501 10:00:00.123456       1 controller.go:120] "Starting controller" controller="replicaset"',
    "W0501 10:00:01.500000       1 reflector.go:324] watch of *v1.Pod ended with: too old resource version",
    'E0501 10:00:02.000001       1 pod_workers.go:951] "Error syncing pod, skipping" err="failed to StartContainer"',
])

NGINX_ACCESS = "\n".join([
    '10.0.0.1 - - [01/May/2024:10:00:00 +0000] "GET /cart HTTP/1.1" 200 512 "-" "Mozilla/5.0"',
    '10.0.0.2 - alice [01/May/2024:10:00:01 +0000] "POST /checkout HTTP/1.1" 502 157 "https://shop/cart" "curl/8.5"',
    '10.0.0.3 - - [01/May/2024:10:00:02 +0000] "GET /health HTTP/1.1" 200 2 "-" "kube-probe/1.29"',
])

PYTHON_TRACEBACK = """2024-05-01 10:00:00,001 INFO checkout.api: order 1001 received
2024-05-01 10:00:00,250 ERROR checkout.api: payment failed for order 1001
Traceback (most recent call last):
  File "/app/checkout/api.py", line 88, in pay
    resp = client.charge(order)
  File "/app/checkout/payments.py", line 31, in charge
    raise PaymentError("card declined")
checkout.payments.PaymentError: card declined
2024-05-01 10:00:01,000 INFO checkout.api: order 1002 received
"""

LOG4J_STACK = """2024-05-01 10:00:00.123 [http-nio-8080-exec-1] INFO  com.shop.cart.CartController - GET /cart user=42
2024-05-01 10:00:00.456 [http-nio-8080-exec-2] ERROR com.shop.cart.CartService - Failed to load cart 42
java.lang.IllegalStateException: Connection pool exhausted
\tat com.zaxxer.hikari.pool.HikariPool.getConnection(HikariPool.java:197)
\tat com.shop.cart.CartRepository.find(CartRepository.java:51)
\t... 42 more
Caused by: java.sql.SQLTransientConnectionException: timeout after 30000ms
\tat com.zaxxer.hikari.pool.HikariPool.createTimeoutException(HikariPool.java:696)
\t... 45 more
2024-05-01 10:00:01.000 [http-nio-8080-exec-3] WARN  com.shop.cart.CartService - retrying cart 42
"""

# `kubectl logs --timestamps deploy/checkout`: the app writes JSON and a plain line.
KUBECTL_TS_JSON = "\n".join([
    '2024-05-01T10:00:00.100000000Z {"level":"info","msg":"listening","port":8080}',
    "2024-05-01T10:00:00.200000000Z starting worker pool size=8",
    '2024-05-01T10:00:01.300000000Z {"level":"error","msg":"db timeout","ts":"2024-05-01T10:00:01.250Z"}',
])

# `kubectl logs --prefix --timestamps -l app=checkout` across two pods
KUBECTL_PREFIX = "\n".join([
    "2024-05-01T10:00:00.1Z [pod/checkout-7d9f8b6c5-x2x7k/checkout] INFO ready",
    "2024-05-01T10:00:00.2Z [pod/checkout-7d9f8b6c5-q8w4z/checkout] ERROR connection refused to payments:443",
    "2024-05-01T10:00:00.3Z [pod/checkout-7d9f8b6c5-x2x7k/checkout] WARN retrying",
])

# /var/log/pods/<ns>_<pod>_<uid>/<container>/0.log — CRI format; P = partial line
CRI = "\n".join([
    "2024-05-01T10:00:00.000000001Z stdout F listening on :8080",
    "2024-05-01T10:00:01.000000000Z stderr P panic: runtime error: index out of range ",
    "2024-05-01T10:00:01.000000100Z stderr F [5] with length 3",
    "2024-05-01T10:00:02.000000000Z stdout F shutting down",
])

UNKNOWN = "\n".join([
    "*** starting nightly batch ***",
    "processed 1200 records",
    "done.",
])


def _core_event(name: str, reason: str, message: str, kind: str, obj: str, *, etype: str = "Warning",
                count: int = 1, ns: str = "shop", first: str = "2024-05-01T10:00:00Z",
                last: str = "2024-05-01T10:05:00Z", component: str = "kubelet",
                field_path: str | None = None) -> dict:
    involved = {"apiVersion": "v1", "kind": kind, "name": obj, "namespace": ns,
                "resourceVersion": "48213", "uid": f"uid-{obj}"}
    if field_path:
        involved["fieldPath"] = field_path
    return {
        "apiVersion": "v1",
        "count": count,
        "eventTime": None,
        "firstTimestamp": first,
        "involvedObject": involved,
        "kind": "Event",
        "lastTimestamp": last,
        "message": message,
        "metadata": {"creationTimestamp": first, "name": f"{obj}.{name}", "namespace": ns,
                     "resourceVersion": "48290", "uid": f"evt-{name}"},
        "reason": reason,
        "reportingComponent": component,
        "reportingInstance": "node-a",
        "source": {"component": component, "host": "node-a"},
        "type": etype,
    }


CORE_EVENTS = [
    _core_event("17c1a1", "ScalingReplicaSet", "Scaled up replica set checkout-7d9f8b6c5 to 2", "Deployment",
                "checkout", etype="Normal", component="deployment-controller"),
    _core_event("17c1a2", "SuccessfulCreate", "Created pod: checkout-7d9f8b6c5-x2x7k", "ReplicaSet",
                "checkout-7d9f8b6c5", etype="Normal", component="replicaset-controller"),
    _core_event("17c1a3", "BackOff", "Back-off restarting failed container checkout in pod "
                "checkout-7d9f8b6c5-x2x7k_shop(5c2c0e8e-0f5e-4f0e-9a55-0b8f0d3c1a11)", "Pod",
                "checkout-7d9f8b6c5-x2x7k", count=14, field_path="spec.containers{checkout}"),
    _core_event("17c1a4", "Unhealthy", "Readiness probe failed: HTTP probe failed with statuscode: 503", "Pod",
                "checkout-7d9f8b6c5-x2x7k", count=31, field_path="spec.containers{checkout}"),
    _core_event("17c1a5", "Failed", 'Failed to pull image "registry.shop/payments:1.9.0": rpc error: code = '
                "NotFound desc = failed to pull and unpack image: not found", "Pod", "payments-5b8c9d7f6-w9tzq",
                field_path="spec.containers{payments}"),
    _core_event("17c1a6", "BackOff", 'Back-off pulling image "registry.shop/payments:1.9.0"', "Pod",
                "payments-5b8c9d7f6-w9tzq", count=6, field_path="spec.containers{payments}"),
    _core_event("17c1a7", "Evicted", "The node was low on resource: memory. Threshold quantity: 100Mi, available: "
                "91Mi. Container worker was using 1.2Gi, request is 256Mi, has larger consumption of memory.",
                "Pod", "worker-6f7c8d9b4-zz9k2"),
    _core_event("17c1a8", "NodeNotReady", "Node node-b status is now: NodeNotReady", "Node", "node-b",
                ns="", component="node-controller"),
]

# events.k8s.io/v1 as `kubectl get events.v1.events.k8s.io -o json` prints it
EVENTS_V1 = {
    "apiVersion": "events.k8s.io/v1",
    "kind": "Event",
    "metadata": {"name": "web-0.17c1b0", "namespace": "shop", "uid": "evt-17c1b0",
                 "creationTimestamp": "2024-05-01T10:01:00Z"},
    "eventTime": "2024-05-01T10:01:00.123456Z",
    "series": {"count": 4, "lastObservedTime": "2024-05-01T10:04:00.000000Z"},
    "reportingController": "default-scheduler",
    "reportingInstance": "default-scheduler-control-plane",
    "action": "Scheduling",
    "reason": "FailedScheduling",
    "regarding": {"kind": "Pod", "namespace": "shop", "name": "web-0", "uid": "uid-web-0", "apiVersion": "v1"},
    "note": "0/3 nodes are available: 3 Insufficient memory. preemption: 0/3 nodes are available.",
    "type": "Warning",
}


def kubectl_events_list(items: list[dict]) -> str:
    """`kubectl get events -A -o json` output (a v1 List, pretty-printed with 4 spaces)."""
    return json.dumps({"apiVersion": "v1", "items": items, "kind": "List",
                       "metadata": {"resourceVersion": ""}}, indent=4) + "\n"


def kubectl_watch_stream(items: list[dict], wrap: bool = False) -> str:
    """`kubectl get events -A --watch -o json`: concatenated pretty objects (wrap: --output-watch-events)."""
    out = []
    for i, item in enumerate(items):
        obj = {"type": "ADDED" if i == 0 else "MODIFIED", "object": item} if wrap else item
        out.append(json.dumps(obj, indent=4))
    return "\n".join(out) + "\n"


PODS_LIST = json.dumps({
    "apiVersion": "v1", "kind": "List", "metadata": {"resourceVersion": ""},
    "items": [
        {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "checkout-7d9f8b6c5-x2x7k", "namespace": "shop"}},
        {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "checkout-7d9f8b6c5-q8w4z", "namespace": "shop"}},
    ],
}, indent=4)

_REPO = {"id": 35129377, "name": "shop-checkout", "full_name": "acme/shop-checkout", "private": False,
         "owner": {"login": "acme", "id": 1}, "html_url": "https://github.com/acme/shop-checkout",
         "default_branch": "main"}
_SENDER = {"login": "octocat", "id": 583231, "type": "User"}
SHA = "9f2c1e0b7d4a3c5e6f708192a3b4c5d6e7f80912"

DEPLOYMENT_STATUS = {
    "action": "created",
    "deployment_status": {
        "url": "https://api.github.com/repos/acme/shop-checkout/deployments/1234/statuses/5678",
        "id": 5678, "state": "success", "creator": _SENDER, "description": "Deployment finished",
        "environment": "production", "target_url": "https://github.com/acme/shop-checkout/actions/runs/99",
        "created_at": "2024-05-01T10:00:00Z", "updated_at": "2024-05-01T10:00:00Z",
        "deployment_url": "https://api.github.com/repos/acme/shop-checkout/deployments/1234",
        "log_url": "https://github.com/acme/shop-checkout/actions/runs/99",
    },
    "deployment": {
        "url": "https://api.github.com/repos/acme/shop-checkout/deployments/1234", "id": 1234,
        "sha": SHA, "ref": "v1.4.2", "task": "deploy", "payload": {"service": "checkout"},
        "original_environment": "production", "environment": "production", "description": None,
        "creator": _SENDER, "created_at": "2024-05-01T09:58:00Z", "updated_at": "2024-05-01T10:00:00Z",
        "production_environment": True,
    },
    "repository": _REPO,
    "sender": _SENDER,
}

WORKFLOW_RUN = {
    "action": "completed",
    "workflow_run": {
        "id": 30433642, "name": "Deploy to production", "node_id": "MDEyOldvcmtmbG93IFJ1bjI2OTI4OQ==",
        "head_branch": "main", "head_sha": SHA, "path": ".github/workflows/deploy.yml",
        "display_title": "Bump cart limits", "run_number": 562, "event": "push", "status": "completed",
        "conclusion": "success", "workflow_id": 159038,
        "html_url": "https://github.com/acme/shop-checkout/actions/runs/30433642",
        "created_at": "2024-05-01T09:50:00Z", "updated_at": "2024-05-01T09:56:30Z",
        "run_started_at": "2024-05-01T09:50:05Z",
        "head_commit": {"id": SHA, "message": "Bump cart limits", "timestamp": "2024-05-01T09:49:00Z"},
    },
    "workflow": {"id": 159038, "name": "Deploy to production", "path": ".github/workflows/deploy.yml"},
    "repository": _REPO,
    "sender": _SENDER,
}
