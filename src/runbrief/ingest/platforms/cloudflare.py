"""Cloudflare Workers: Logpush ``workers_trace_events`` and ``wrangler tail --format json``.

One trace event is one invocation of a Worker: its ``Logs[]`` (``console.*`` calls, each
with its level and time) and ``Exceptions[]`` become records of their own, and the
invocation itself is one record (``GET https://host/path 503``) carrying the outcome, the
status, CPU and wall time. An ``Outcome`` other than ``ok`` (``exception``,
``exceededCpu``, ``exceededMemory``, ``canceled``, …) is an error named in ``error.type``
(``cloudflare.exceededCpu``). The script is the service and its version ID the
``service.version`` (a new version's first events mark a deploy). Logpush writes
``PascalCase`` fields (``ScriptName``, ``Logs[].Level``, ``Event.Request.URL``); wrangler
prints the same event in ``camelCase`` (``scriptName``, ``logs[].level``,
``event.request.url``), as a stream of pretty-printed JSON objects. A URL's query string is
left out (it holds tokens more often than not).
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

import orjson

from runbrief.ingest.platforms._common import Out, epoch_ns, inner_message, json_values

__all__ = ["NAME", "EXPECTED", "sniff_value", "from_value", "from_drain"]

NAME = "cloudflare"
EXPECTED = ("Workers Trace Events (NDJSON of {\"ScriptName\", \"Outcome\", \"Logs\", \"Exceptions\", "
            "\"EventTimestampMs\", …}) as Logpush sends them, or wrangler tail's JSON")
_LEVELS = {"log": "INFO", "info": "INFO", "debug": "DEBUG", "warn": "WARN", "error": "ERROR", "trace": "TRACE"}


def _get(o: dict[str, Any], *names: str) -> Any:
    for n in names:
        if n in o and o[n] is not None:
            return o[n]
    return None


def _is_event(o: Any) -> bool:
    if not isinstance(o, dict):
        return False
    if "ScriptName" in o and ("Outcome" in o or "Logs" in o or "EventTimestampMs" in o):
        return True
    return "scriptName" in o and "outcome" in o and ("logs" in o or "exceptions" in o or "eventTimestamp" in o)


def sniff_value(obj: Any) -> bool:
    o = obj[0] if isinstance(obj, list) and obj else obj
    return _is_event(o)


def from_value(obj: Any, out: Out) -> None:
    items = obj if isinstance(obj, list) else [obj]
    for i, item in enumerate(items):
        if not _is_event(item):
            if not (isinstance(item, dict) and set(item) <= {"content"}):  # Logpush's destination test
                out.bad_record(f"item {i}", "not a Workers trace event")
            continue
        try:
            _event(item, out)
        except Exception as exc:  # noqa: BLE001 - one event never sinks the batch
            out.bad_record(f"item {i}", exc)


def from_drain(body: bytes, out: Out, headers: dict[str, str]) -> None:
    def take(value: Any, out: Out) -> None:
        if isinstance(value, dict) and set(value) <= {"content"}:
            out.state["ack"] = "a Logpush destination test"  # Logpush checks a new destination with a test object
            return
        from_value(value, out)

    json_values(body, out, take)  # one document, or Logpush's NDJSON batches


def _message(parts: Any) -> str:
    if isinstance(parts, list):
        return " ".join(p if isinstance(p, str) else orjson.dumps(p).decode() for p in parts)
    return parts if isinstance(parts, str) else orjson.dumps(parts).decode()


def _event(o: dict[str, Any], out: Out) -> None:
    script = str(_get(o, "ScriptName", "scriptName") or "")
    version = _get(o, "ScriptVersion", "scriptVersion")
    version_id = str(_get(version, "Id", "id") or "") if isinstance(version, dict) else ""
    ev = _get(o, "Event", "event") or {}
    req = _get(ev, "Request", "request") or {} if isinstance(ev, dict) else {}
    resp = _get(ev, "Response", "response") or {} if isinstance(ev, dict) else {}
    outcome = str(_get(o, "Outcome", "outcome") or "")
    ts = epoch_ns(_get(o, "EventTimestampMs", "eventTimestamp"))
    res = out.resource(out.service(script), {
        "cloud.provider": "cloudflare", "cloud.platform": "cloudflare_workers", "faas.name": script or None,
        "service.version": version_id or None,
        "service.instance.id": _get(o, "durableObjectId", "DurableObjectId"),
        "cloudflare.dispatch_namespace": _get(o, "DispatchNamespace", "dispatchNamespace") or None,
    })
    url = str(_get(req, "URL", "url") or "") if isinstance(req, dict) else ""
    parts = urlsplit(url) if url else None
    method = _get(req, "Method", "method") if isinstance(req, dict) else None
    status = _get(resp, "Status", "status") if isinstance(resp, dict) else None
    headers = _get(req, "headers", "Headers") if isinstance(req, dict) else None
    ray = (_get(ev, "RayID", "rayId") if isinstance(ev, dict) else None) or (
        headers.get("cf-ray") if isinstance(headers, dict) else None) or _get(o, "requestId")
    common = {"cloudflare.ray_id": ray, "faas.invocation_id": ray,
              "cloudflare.event_type": _get(o, "EventType", "eventType") or _kind(ev),
              "cloudflare.entrypoint": _get(o, "Entrypoint", "entrypoint") or None}
    for log in _get(o, "Logs", "logs") or []:
        if not isinstance(log, dict):
            continue
        body, lvl, extra, trace, span = inner_message(_message(_get(log, "Message", "message")))
        word = str(_get(log, "Level", "level") or "")
        out.log(epoch_ns(_get(log, "TimestampMs", "timestamp")) or ts, body, res, attrs={**common, **extra},
                level=_LEVELS.get(word.lower(), word) or lvl, trace_id=trace, span_id=span, source="cloudflare")
    for exc in _get(o, "Exceptions", "exceptions") or []:
        if not isinstance(exc, dict):
            continue
        name, msg = str(_get(exc, "Name", "name") or "Error"), str(_get(exc, "Message", "message") or "")
        stack = _get(exc, "stack", "Stack")
        body = f"{name}: {msg}" + (f"\n{stack}" if stack else "")
        out.log(epoch_ns(_get(exc, "TimestampMs", "timestamp")) or ts, body, res,
                attrs={**common, "error.type": name, "exception.type": name, "exception.message": msg},
                level="ERROR", source="cloudflare")
    where = f"{parts.scheme}://{parts.netloc}{parts.path}" if parts and parts.netloc else ""
    line = " ".join(str(x) for x in (method, where, status) if x not in (None, ""))
    attrs: dict[str, Any] = {
        **common, "cloudflare.outcome": outcome, "http.request.method": method, "url.full": where or None,
        "http.response.status_code": status if isinstance(status, int) else None,
        "cloudflare.cpu_time_ms": _get(o, "CPUTimeMs", "cpuTime", "cpuTimeMs"),
        "cloudflare.wall_time_ms": _get(o, "WallTimeMs", "wallTime", "wallTimeMs"),
    }
    level = "INFO"
    if outcome and outcome != "ok":
        attrs["error.type"] = f"cloudflare.{outcome}"
        level = "WARN" if outcome == "canceled" else "ERROR"
    elif isinstance(status, int) and status >= 500:
        level = "ERROR"
    body = f"{line or common['cloudflare.event_type'] or 'invocation'} outcome={outcome or 'unknown'}"
    out.log(ts, body, res, attrs=attrs, level=level, source="cloudflare")


def _kind(ev: Any) -> str | None:
    if not isinstance(ev, dict):
        return None
    if "request" in ev or "Request" in ev:
        return "fetch"
    if "cron" in ev or "Cron" in ev or "scheduledTime" in ev:
        return "scheduled"
    if "rpcMethod" in ev:
        return "rpc"
    return next(iter(ev), None)
