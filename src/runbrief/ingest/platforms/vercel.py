"""Vercel: log drains (a JSON array or NDJSON of log objects) and deployment webhooks.

A drain object (https://vercel.com/docs/drains/reference/logs) carries ``projectName``
(the service), ``deploymentId`` (the service's version: a new deployment is inferred as a
deploy when its logs start), ``source`` (build, lambda, edge, static, external, firewall,
redirect), ``level``, ``timestamp`` (ms), ``requestId``, ``statusCode``, ``traceId``/
``spanId`` and a ``proxy`` object with the request. ``statusCode: -1`` means the function
crashed without answering (an error, ``error.type`` ``vercel.no_response``); older drains
have no ``level`` and say ``type: stderr``. A webhook ``deployment.succeeded`` /
``deployment.error`` (same signature) is a deploy with its commit.
"""

from __future__ import annotations

from typing import Any

from runbrief.ingest.platforms._common import Out, clean, epoch_ns, inner_message, json_values
from runbrief.records import Deploy

__all__ = ["NAME", "EXPECTED", "sniff_value", "from_value", "from_drain"]

NAME = "vercel"
EXPECTED = ("a JSON array or NDJSON of Vercel log objects ({\"id\", \"deploymentId\", \"source\", \"timestamp\", "
            "\"projectId\", \"message\", …}) or a deployment webhook")
_SOURCES = {"build", "edge", "lambda", "static", "external", "firewall", "redirect"}
_DEPLOY_EVENTS = {"deployment.succeeded", "deployment.ready", "deployment.promoted", "deployment.error",
                  "deployment.created", "deployment.canceled"}


def _first(obj: Any) -> Any:
    return obj[0] if isinstance(obj, list) and obj else obj


def _is_log(o: Any) -> bool:
    if not isinstance(o, dict):
        return False
    source = o.get("source")
    return isinstance(source, str) and source in _SOURCES and ("deploymentId" in o or "projectId" in o)


def _is_hook(o: Any) -> bool:
    return (isinstance(o, dict) and str(o.get("type", "")).startswith("deployment.")
            and isinstance(o.get("payload"), dict) and "deployment" in o["payload"])


def sniff_value(obj: Any) -> bool:
    o = _first(obj)
    return _is_log(o) or _is_hook(o)


# projectId -> projectName as seen: Vercel leaves the name out of some objects (the docs'
# lambda example), and one service must not split in two by which field came.
_NAMES: dict[str, str] = {}


def _learn(items: list[Any]) -> None:
    for o in items:
        if isinstance(o, dict) and o.get("projectId") and o.get("projectName"):
            if len(_NAMES) > 10_000:
                _NAMES.clear()
            _NAMES[str(o["projectId"])] = str(o["projectName"])


def from_value(obj: Any, out: Out) -> None:
    items = obj if isinstance(obj, list) else [obj]
    _learn(items)
    for i, item in enumerate(items):
        try:
            if _is_hook(item):
                _deploy(item, out)
            elif isinstance(item, dict) and ("message" in item or "source" in item or "proxy" in item):
                _log(item, out)
            else:
                out.bad_record(f"item {i}", "not a Vercel log object")
        except Exception as exc:  # noqa: BLE001 - one object never sinks the batch
            out.bad_record(f"item {i}", exc)


def from_drain(body: bytes, out: Out, headers: dict[str, str]) -> None:
    json_values(body, out, from_value)


def _log(o: dict[str, Any], out: Out) -> None:
    proxy = o.get("proxy") if isinstance(o.get("proxy"), dict) else {}
    pid = str(o.get("projectId") or "")
    service = out.service(o.get("projectName") or _NAMES.get(pid) or pid)
    source = str(o.get("source") or "")
    status = o.get("statusCode", proxy.get("statusCode"))
    raw = o.get("message")
    if raw is None:  # a request record (static, external, redirect, firewall): the request is the line
        raw = " ".join(str(x) for x in (proxy.get("method"), proxy.get("path"), status) if x not in (None, ""))
    body, level, extra, trace, span = inner_message(clean(raw))
    given = str(o.get("level") or "")
    level = given or level or ("ERROR" if o.get("type") == "stderr" else "")
    attrs: dict[str, Any] = {
        "vercel.source": source, "vercel.log.id": o.get("id"), "vercel.request_id": o.get("requestId"),
        "vercel.entrypoint": o.get("entrypoint"), "vercel.build_id": o.get("buildId"),
        "vercel.output.type": o.get("type"), "url.path": o.get("path") or proxy.get("path"),
        "http.request.method": proxy.get("method"), "server.address": proxy.get("host") or o.get("host"),
        "client.address": proxy.get("clientIp"), "vercel.cache": proxy.get("vercelCache"),
        "vercel.waf.action": proxy.get("wafAction"), "vercel.waf.rule_id": proxy.get("wafRuleId"),
        "cloud.region": o.get("executionRegion") or proxy.get("region"),
    }
    if isinstance(proxy.get("userAgent"), list) and proxy["userAgent"]:
        attrs["user_agent.original"] = str(proxy["userAgent"][0])
    if isinstance(status, int) and not isinstance(status, bool):
        if status == -1:
            attrs["error.type"] = "vercel.no_response"  # the function crashed before answering
            level = "ERROR"
        else:
            attrs["http.response.status_code"] = status
            if status >= 500 and level.lower() in ("", "info"):
                level = "ERROR"
    if proxy.get("wafAction") == "deny" and not given:
        level = "WARN"
    attrs.update(extra)
    trace = trace or str(o.get("traceId") or o.get("trace.id") or "")
    span = span or str(o.get("spanId") or o.get("span.id") or "")
    res = out.resource(service, {
        "cloud.provider": "vercel", "service.version": o.get("deploymentId"),
        "deployment.environment.name": o.get("environment"), "vercel.project.id": o.get("projectId"),
        "faas.name": o.get("entrypoint") if source in ("lambda", "edge") else None,
    })
    out.log(epoch_ns(o.get("timestamp")), body, res, attrs=attrs, level=level, trace_id=_hex(trace, 32),
            span_id=_hex(span, 16), source="vercel")


def _hex(value: str, width: int) -> str:
    v = value.strip().lower()
    return v if len(v) == width and all(c in "0123456789abcdef" for c in v) else ""


def _deploy(o: dict[str, Any], out: Out) -> None:
    kind = str(o.get("type"))
    if kind not in _DEPLOY_EVENTS or kind in ("deployment.created", "deployment.canceled"):
        return  # not a deploy that happened (yet)
    p = o["payload"]
    dep = p.get("deployment") if isinstance(p.get("deployment"), dict) else {}
    project = p.get("project") if isinstance(p.get("project"), dict) else {}
    meta = dep.get("meta") if isinstance(dep.get("meta"), dict) else {}
    service = out.service(project.get("name") or dep.get("name") or project.get("id"))
    version = str(dep.get("id") or "")
    if not version:
        out.bad_record("deployment webhook", "payload.deployment.id is missing")
        return
    attrs = {"cloud.provider": "vercel", "vercel.event": kind, "vercel.deployment.url": dep.get("url"),
             "vcs.ref.head.name": meta.get("githubCommitRef")}
    if kind == "deployment.error":
        attrs["deploy.failed"] = True
    out.deploys.append(Deploy(
        ts_ns=out.time(epoch_ns(o.get("createdAt"))), service=service, version=version,
        commit=str(meta.get("githubCommitSha") or meta.get("gitlabCommitSha") or meta.get("bitbucketCommitSha") or ""),
        environment=str(p.get("target") or ""), source="vercel",
        attributes={k: v for k, v in attrs.items() if v is not None}))
