"""Railway: ``railway logs --json`` lines, their drain, and project webhooks (deploys).

``railway logs --json`` prints each log as one JSON object: ``timestamp`` (RFC 3339),
``message``, ``severity``, the ``tags`` of the GraphQL ``LogFields`` fragment
(``deploymentId``, ``deploymentInstanceId``, ``serviceId``, ``environmentId``,
``projectId``) and the log's ``attributes`` (the keys of the app's structured line, as a
``[{key, value}]`` list whose values are JSON-encoded, or flattened into the object by newer
CLIs). The deployment is the service's version (a new deployment's first lines mark a
deploy) and the deployment instance its instance. Railway names no service in a log line:
the service is the file's name, ``--service`` or the drain's ``?service=``.

A project webhook (``{"type": "DEPLOY", "project", "environment", "deployment", "status"}``)
is a deploy of ``deployment.id``; ``CRASHED``/``FAILED`` also give an error line.
"""

from __future__ import annotations

from typing import Any

import orjson

from runbrief.ingest._times import to_ns
from runbrief.ingest.platforms._common import Out, clean, inner_message, json_values
from runbrief.records import Deploy

__all__ = ["NAME", "EXPECTED", "sniff_value", "from_value", "from_drain"]

NAME = "railway"
EXPECTED = ('Railway log objects ({"timestamp", "message", "severity", "tags", "attributes"}, a JSON array or '
            'NDJSON, as `railway logs --json` prints them) or a project webhook ({"type": "DEPLOY", …})')
_TAGS = {"deploymentId": "service.version", "deploymentInstanceId": "service.instance.id",
         "serviceId": "railway.service.id", "environmentId": "railway.environment.id",
         "projectId": "railway.project.id", "pluginId": "railway.plugin.id", "snapshotId": "railway.snapshot.id"}
_NOT_YET = {"BUILDING", "DEPLOYING", "INITIALIZING", "QUEUED", "WAITING", "REMOVED", "REMOVING", "SKIPPED"}
_BASE = {"timestamp", "message", "severity", "tags", "attributes"}


def _is_log(o: Any) -> bool:
    if not (isinstance(o, dict) and "message" in o and "timestamp" in o):
        return False
    tags, attrs = o.get("tags"), o.get("attributes")
    # Railway's own tags, or its [{key, value}] attributes: a logger's "tags" alone is no Railway line
    return (isinstance(tags, dict) and not _TAGS.keys().isdisjoint(tags)) or (
        isinstance(attrs, list) and bool(attrs) and all(isinstance(a, dict) and "key" in a for a in attrs))


def _is_hook(o: Any) -> bool:
    return (isinstance(o, dict) and o.get("type") == "DEPLOY" and isinstance(o.get("deployment"), dict)
            and isinstance(o.get("project"), dict))


def sniff_value(obj: Any) -> bool:
    o = obj[0] if isinstance(obj, list) and obj else obj
    return _is_log(o) or _is_hook(o)


def from_value(obj: Any, out: Out) -> None:
    items = obj if isinstance(obj, list) else [obj]
    for i, item in enumerate(items):
        try:
            if _is_hook(item):
                _deploy(item, out)
            elif isinstance(item, dict) and "message" in item:
                _log(item, out)
            else:
                out.bad_record(f"item {i}", "not a Railway log object")
        except Exception as exc:  # noqa: BLE001 - one object never sinks the batch
            out.bad_record(f"item {i}", exc)


def from_drain(body: bytes, out: Out, headers: dict[str, str]) -> None:
    json_values(body, out, from_value)


def _value(v: Any) -> Any:
    """An attribute value as Railway sends it: JSON text (``"\\"info\\""``, ``"123"``) when it can be."""
    if isinstance(v, str):
        try:
            return orjson.loads(v)
        except orjson.JSONDecodeError:
            return v
    return v


def _log(o: dict[str, Any], out: Out) -> None:
    attrs: dict[str, Any] = {}
    raw = o.get("attributes")
    if isinstance(raw, list):
        for kv in raw:
            if isinstance(kv, dict) and "key" in kv:
                attrs[str(kv["key"])] = _value(kv.get("value"))
    elif isinstance(raw, dict):
        attrs.update(raw)
    attrs.update({k: v for k, v in o.items() if k not in _BASE})  # newer CLIs flatten the attributes
    level = str(o.get("severity") or attrs.pop("level", "") or attrs.pop("lvl", "") or "")
    attrs.pop("level", None)
    body, inner_level, extra, trace, span = inner_message(clean(o.get("message")))
    attrs.update(extra)
    tags = o.get("tags") if isinstance(o.get("tags"), dict) else {}
    res_attrs: dict[str, Any] = {"cloud.provider": "railway"}
    for k, name in _TAGS.items():
        if tags.get(k):
            res_attrs[name] = tags[k]
    named = attrs.pop("service.name", None) or attrs.pop("service", None)
    res = out.resource(out.service(named if isinstance(named, str) else None), res_attrs)
    trace = trace or str(attrs.pop("trace_id", "") or attrs.pop("traceId", "") or "")
    out.log(to_ns(o.get("timestamp")), body, res, attrs=attrs, level=level or inner_level,
            trace_id=trace if len(trace) == 32 else "", span_id=span, source="railway")


def _deploy(o: dict[str, Any], out: Out) -> None:
    status = str(o.get("status") or "SUCCESS").upper()
    if status in _NOT_YET:
        return
    dep, project = o["deployment"], o["project"]
    env = o.get("environment") if isinstance(o.get("environment"), dict) else {}
    svc = o.get("service") if isinstance(o.get("service"), dict) else {}
    service = out.service(svc.get("name") or project.get("name"))
    version = str(dep.get("id") or "")
    if not version:
        out.bad_record("webhook", "deployment.id is missing")
        return
    meta = dep.get("meta") if isinstance(dep.get("meta"), dict) else {}
    ts = out.time(to_ns(o.get("timestamp")))
    attrs: dict[str, Any] = {"cloud.provider": "railway", "railway.deployment.status": status,
                             "railway.project.id": project.get("id")}
    failed = status in ("CRASHED", "FAILED")
    if failed:
        attrs["deploy.failed"] = True
    out.deploys.append(Deploy(ts_ns=ts, service=service, version=version,
                              commit=str(meta.get("commitHash") or ""), environment=str(env.get("name") or ""),
                              source="railway", attributes={k: v for k, v in attrs.items() if v is not None}))
    if failed:
        res = out.resource(service, {"cloud.provider": "railway", "service.version": version})
        out.log(ts, f"deployment {version} {status}", res, level="ERROR",
                attrs={"error.type": f"railway.deployment_{status.lower()}"}, source="railway")
