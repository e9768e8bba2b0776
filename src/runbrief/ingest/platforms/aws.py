"""AWS: CloudWatch Logs subscriptions (also through Firehose), ``aws logs`` output, Lambda lines.

Shapes read:

- a subscription's data, decoded (``{"messageType": "DATA_MESSAGE", "logGroup", "logStream",
  "owner", "logEvents": [{"id", "timestamp", "message"}]}``) or as a Lambda receives it
  (``{"awslogs": {"data": base64(gzip(json))}}``); ``CONTROL_MESSAGE`` is skipped;
- a Firehose HTTP endpoint request (``{"requestId", "timestamp", "records": [{"data":
  base64}]}``), each record's data a gzipped subscription (Firehose's default), JSON, or
  text lines (with Firehose's decompression and message extraction on);
- ``aws logs filter-log-events`` / ``get-log-events`` output (``{"events": [...]}``);
- Lambda log text (``START``/``END``/``REPORT`` lines and what comes between, also as
  ``aws logs tail`` prints it).

The service is the function for ``/aws/lambda/<fn>`` groups (``faas.name``), else the
group's last segment, else the file's name; the stream is the instance. Lambda's own lines
become fields: ``REPORT`` gives duration, billed duration, memory size, max memory used and
init duration (a cold start); every line between ``START`` and ``END`` carries the request
ID (``faas.invocation_id``). Timeouts (``Task timed out``, ``Status: timeout``), ``Runtime
exited`` and init-phase failures (``INIT_REPORT … Status: error``,
``Runtime.ImportModuleError``) are errors with an ``error.type``. JSON-format Lambda logs
(``{"level", "message", "requestId"}`` and ``platform.*`` events) are read the same way.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from typing import Any

import orjson

from runbrief.errors import IngestError
from runbrief.ingest._decode import decompress
from runbrief.ingest._structured import from_mapping
from runbrief.ingest._times import parse_iso
from runbrief.ingest.formats import split_header
from runbrief.ingest.platforms._common import Out, clean, epoch_ns, inner_message
from runbrief.records import Resource

__all__ = ["NAME", "EXPECTED", "sniff", "sniff_value", "sniff_partial", "from_value", "from_line", "from_drain"]

NAME = "aws"
EXPECTED = ('a Firehose HTTP endpoint request ({"requestId", "timestamp", "records": [{"data": base64}]}) '
            "of CloudWatch Logs subscription data")
MAX_RECORD_BYTES = 64 * 1024 * 1024

_LAMBDA_LINE = re.compile(r"(?:START|END|REPORT) RequestId: [0-9a-zA-Z-]{8,}")
_TAIL = re.compile(r"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d+)?(?:Z|[+-]\d\d:?\d\d)) (\S*[/\[]\S*) (.*)$", re.S)
_START = re.compile(r"START RequestId: (\S+)(?:\s+Version: (\S+))?")
_END = re.compile(r"END RequestId: (\S+)")
_REPORT = re.compile(r"REPORT RequestId: (\S+)")
_METRIC = re.compile(r"(Billed Duration|Init Duration|Restore Duration|Max Memory Used|Memory Size|Duration): "
                     r"([\d.]+) (?:ms|MB)")
_STATUS = re.compile(r"\bStatus: (\w+)")
_ERROR_TYPE = re.compile(r"Error Type: (\S+)")
_XRAY = re.compile(r"XRAY TraceId: 1-([0-9a-f]{8})-([0-9a-f]{24})(?:\s+SegmentId: ([0-9a-f]{16}))?")
_INIT_REPORT = re.compile(r"INIT_REPORT Init Duration: ([\d.]+) ms")
_TIMEOUT = re.compile(r"Task timed out after ([\d.]+) seconds")
_RUNTIME_EXIT = re.compile(r"Runtime exited with error: ([^\n]*)")
_RUNTIME_ERR = re.compile(r"\b(Runtime\.[A-Z]\w+)")
_PY = re.compile(r"\[(ERROR|WARNING|INFO|DEBUG|CRITICAL)\]\s+(?:(\d{4}-\d\d-\d\dT\S+)\s+([0-9a-f-]{36})\s+)?(.*)$",
                 re.S)
_NODE = re.compile(r"(\d{4}-\d\d-\d\dT[\d:.]+Z)\t([0-9a-f-]{36}|undefined)\t([A-Z]+)\t(.*)$", re.S)
_STREAM_VERSION = re.compile(r"\d{4}/\d\d/\d\d/\[([^\]]+)\]")
_METRIC_KEYS = {"Duration": "aws.lambda.duration_ms", "Billed Duration": "aws.lambda.billed_duration_ms",
                "Memory Size": "aws.lambda.memory_size_mb", "Max Memory Used": "aws.lambda.max_memory_used_mb",
                "Init Duration": "aws.lambda.init_duration_ms", "Restore Duration": "aws.lambda.restore_duration_ms"}
_JSON_METRICS = {"durationMs": "aws.lambda.duration_ms", "billedDurationMs": "aws.lambda.billed_duration_ms",
                 "memorySizeMB": "aws.lambda.memory_size_mb", "maxMemoryUsedMB": "aws.lambda.max_memory_used_mb",
                 "initDurationMs": "aws.lambda.init_duration_ms"}


# ---------------------------------------------------------------- detection
def _is_subscription(o: Any) -> bool:
    return isinstance(o, dict) and "logEvents" in o and ("logGroup" in o or "messageType" in o)


def _is_events(o: Any) -> bool:
    if not isinstance(o, dict) or not isinstance(o.get("events"), list):
        return False
    first = o["events"][0] if o["events"] else None
    return (first is None and ("nextForwardToken" in o or "searchedLogStreams" in o)) or (
        isinstance(first, dict) and "message" in first and "timestamp" in first
        and ("ingestionTime" in first or "logStreamName" in first or "eventId" in first))


def _is_firehose(o: Any) -> bool:
    return isinstance(o, dict) and isinstance(o.get("records"), list) and "requestId" in o


def _is_awslogs(o: Any) -> bool:
    return isinstance(o, dict) and isinstance(o.get("awslogs"), dict) and "data" in o["awslogs"]


def sniff_value(obj: Any) -> bool:
    o = obj[0] if isinstance(obj, list) and obj else obj
    return _is_subscription(o) or _is_events(o) or _is_firehose(o) or _is_awslogs(o)


def sniff_partial(item: Any, prefix: str) -> bool:
    """A document longer than the sample: its first event, and the keys before it."""
    head = prefix[:300]
    if isinstance(item, dict) and "message" in item and "timestamp" in item:
        return '"events"' in head or ('"logEvents"' in head and '"logGroup"' in prefix)
    return '"records"' in head and '"requestId"' in prefix and isinstance(item, dict) and "data" in item


def sniff(lines: list[str]) -> bool:
    """Lambda's own lines among the sample (its START/END/REPORT name a request)."""
    return sum(1 for s in lines if _LAMBDA_LINE.search(s[:200])) >= 1


# ---------------------------------------------------------------- readers
def from_value(obj: Any, out: Out) -> None:
    if isinstance(obj, list):
        for item in obj:
            from_value(item, out)
        return
    if _is_subscription(obj):
        _subscription(obj, out)
    elif _is_awslogs(obj):
        _record_data(obj["awslogs"]["data"], out, "awslogs.data")
    elif _is_firehose(obj):
        _firehose(obj, out)
    elif _is_events(obj):
        for i, e in enumerate(obj["events"]):
            try:
                stream = str(e.get("logStreamName") or "")
                _event(epoch_ns(e.get("timestamp")), clean(e.get("message")), _resource(out, "", stream, ""),
                       stream, out, {"aws.log.event.id": e.get("eventId")})
            except Exception as exc:  # noqa: BLE001 - one event never sinks the rest
                out.bad_record(f"events[{i}]", exc)
    elif isinstance(obj, dict):
        _plain_json(obj, out, out.resource(out.service(None), {"cloud.provider": "aws"}))
    else:
        out.bad_record("document", f"not a CloudWatch Logs shape: {str(obj)[:60]!r}")


def from_line(line: str, out: Out) -> bool:
    """A line of Lambda log text (``aws logs tail`` adds the time and stream in front)."""
    m = _TAIL.match(line)
    if m:
        ts, stream, msg = parse_iso(m.group(1)), m.group(2), m.group(3)
    else:
        ts, stream, msg = 0, "", line
        if not _NODE.match(line) and not line.startswith(("START ", "END ", "REPORT ", "INIT_", "XRAY ", "[")):
            h = split_header(line)
            if h.ts_ns:
                ts = h.ts_ns  # an app's own timestamped line between Lambda's
    res = _resource(out, "", stream, "")
    if not ts and out.logs:
        ts = out.logs[-1].ts_ns
    _event(ts, msg, res, stream, out, {})
    return True


def from_drain(body: bytes, out: Out, headers: dict[str, str]) -> None:
    try:
        obj = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        out.bad_record("body", f"not JSON ({exc})")
        return
    if not (_is_firehose(obj) or _is_subscription(obj) or _is_awslogs(obj)):
        out.bad_record("body", "no records[] (not a Firehose request) and no logEvents[] (not a subscription)")
        return
    if _is_firehose(obj):
        out.state["firehose.request_id"] = str(obj.get("requestId") or "")
    from_value(obj, out)


def _firehose(obj: dict[str, Any], out: Out) -> None:
    out.state.setdefault("firehose.request_id", str(obj.get("requestId") or ""))
    for i, rec in enumerate(obj["records"]):
        if not isinstance(rec, dict) or not isinstance(rec.get("data"), str):
            out.bad_record(f"records[{i}]", "no data field")
            continue
        _record_data(rec["data"], out, f"records[{i}]", default_ts=epoch_ns(obj.get("timestamp")))


def _record_data(data: str, out: Out, where: str, default_ts: int = 0) -> None:
    try:
        raw = base64.b64decode(data, validate=True)
    except (binascii.Error, ValueError):
        out.bad_record(where, "data is not base64")
        return
    if raw[:2] == b"\x1f\x8b":
        try:
            raw = decompress(raw, "gzip", MAX_RECORD_BYTES) or b""
        except IngestError as exc:
            out.bad_record(where, f"data is damaged gzip ({exc})")
            return
    text = raw.decode("utf-8", "replace")
    dec = json.JSONDecoder()
    pos = 0
    s = text.strip()
    if not s.startswith(("{", "[")):
        res = out.resource(out.service(None), {"cloud.provider": "aws"})
        for line in s.splitlines():  # Firehose's message extraction: the messages, one a line
            if line.strip():
                _event(default_ts, line, res, "", out, {})
        return
    while pos < len(s):
        try:
            value, pos = dec.raw_decode(s, pos)
        except json.JSONDecodeError as exc:
            out.bad_record(where, f"data is not JSON ({exc.msg})")
            return
        try:
            from_value(value, out)
        except Exception as exc:  # noqa: BLE001
            out.bad_record(where, exc)
        while pos < len(s) and s[pos] in " \t\r\n":
            pos += 1


def _service_of(group: str) -> str:
    if group.startswith("/aws/lambda/"):
        return group[len("/aws/lambda/"):]
    return [p for p in group.split("/") if p][-1] if group.strip("/") else ""


def _resource(out: Out, group: str, stream: str, owner: str) -> Resource:
    fn = group[len("/aws/lambda/"):] if group.startswith("/aws/lambda/") else ""
    v = _STREAM_VERSION.match(stream)
    version = v.group(1) if v else ""
    is_lambda = bool(fn or v)
    attrs: dict[str, Any] = {
        "cloud.provider": "aws", "cloud.account.id": owner or None,
        "aws.log.group.names": group or None, "aws.log.stream.names": stream or None,
        "service.instance.id": stream or None,
        "cloud.platform": "aws_lambda" if is_lambda else None, "faas.name": fn or None,
        "faas.version": version or None,
        # a published version changes on each deploy; $LATEST does not say anything
        "service.version": version if version and version != "$LATEST" else None,
    }
    return out.resource(out.service(_service_of(group)), attrs)


def _subscription(o: dict[str, Any], out: Out) -> None:
    if o.get("messageType") == "CONTROL_MESSAGE":
        return
    group, stream, owner = str(o.get("logGroup") or ""), str(o.get("logStream") or ""), str(o.get("owner") or "")
    res = _resource(out, group, stream, owner)
    events = o.get("logEvents")
    if not isinstance(events, list):
        out.bad_record("logEvents", "not a list")
        return
    for i, e in enumerate(events):
        try:
            if not isinstance(e, dict):
                raise ValueError("a log event is not an object")
            _event(epoch_ns(e.get("timestamp")), clean(e.get("message")), res, stream, out,
                   {"aws.log.event.id": e.get("id")})
        except Exception as exc:  # noqa: BLE001 - one event never sinks the rest
            out.bad_record(f"logEvents[{i}]", exc)


# ---------------------------------------------------------------- one message
def _event(ts: int, msg: str, res: Resource, stream: str, out: Out, attrs: dict[str, Any]) -> None:
    msg = clean(msg)
    key = f"aws.request:{stream}"
    current = out.state.get(key, "")
    level = ""
    trace = span = ""
    body = msg
    a: dict[str, Any] = {k: v for k, v in attrs.items() if v is not None}
    s = msg.lstrip()
    if s.startswith("{"):
        body, level, extra, trace, span = _json_message(s, a, out, key)
        a.update(extra)
    elif s.startswith("START RequestId:"):
        m = _START.match(s)
        if m:
            out.state[key] = current = m.group(1)
            a["faas.invocation_id"] = current
            if m.group(2):
                a["faas.version"] = m.group(2)
        level = "INFO"
    elif s.startswith("END RequestId:"):
        m = _END.match(s)
        a["faas.invocation_id"] = m.group(1) if m else current
        level = "INFO"
    elif s.startswith("REPORT RequestId:"):
        m = _REPORT.match(s)
        a["faas.invocation_id"] = m.group(1) if m else current
        level = _report(s, a)
        out.state.pop(key, None)
        x = _XRAY.search(s)
        if x:
            trace, span = x.group(1) + x.group(2), x.group(3) or ""
    elif s.startswith("INIT_REPORT"):
        m = _INIT_REPORT.match(s)
        if m:
            a["aws.lambda.init_duration_ms"] = float(m.group(1))
        st = _STATUS.search(s)
        level = "INFO"
        if st and st.group(1) != "success":
            et = _ERROR_TYPE.search(s)
            a["error.type"] = "lambda.init_" + st.group(1)
            a["aws.lambda.error_type"] = et.group(1) if et else None
            level = "ERROR"
    elif s.startswith("XRAY TraceId:"):
        x = _XRAY.search(s)
        if x:
            trace, span = x.group(1) + x.group(2), x.group(3) or ""
        level = "INFO"
    else:
        node = _NODE.match(s)
        py = _PY.match(s) if node is None and s.startswith("[") else None
        if node:
            ts = ts or parse_iso(node.group(1))
            if node.group(2) != "undefined":
                current = node.group(2)
            level, body = node.group(3), node.group(4)
        elif py:
            level = py.group(1)
            if py.group(3):
                current = py.group(3)
            body = py.group(4) if py.group(2) else s
        else:
            body, level, extra, trace, span = inner_message(msg)
            a.update(extra)
    if current and "faas.invocation_id" not in a and not s.startswith(("XRAY", "INIT_")):
        a["faas.invocation_id"] = current  # a line between START and END belongs to that request
    _signals(msg, a)
    if "error.type" in a:
        level = "ERROR"
    out.log(ts, body, res, attrs=a, level=level, trace_id=_hex(trace, 32), span_id=_hex(span, 16), source="aws")


def _hex(value: str, width: int) -> str:
    v = (value or "").lower()
    return v if len(v) == width and all(c in "0123456789abcdef" for c in v) else ""


def _report(s: str, a: dict[str, Any]) -> str:
    for name, value in _METRIC.findall(s):
        a[_METRIC_KEYS[name]] = float(value)
    if "aws.lambda.init_duration_ms" in a:
        a["faas.coldstart"] = True
    st = _STATUS.search(s)
    if st:
        a["aws.lambda.status"] = st.group(1)
        if st.group(1) != "success":
            a["error.type"] = "lambda." + st.group(1)
            et = _ERROR_TYPE.search(s)
            if et:
                a["aws.lambda.error_type"] = et.group(1)
    used, size = a.get("aws.lambda.max_memory_used_mb"), a.get("aws.lambda.memory_size_mb")
    if used and size and used >= size:
        a["aws.lambda.memory_exhausted"] = True
        return "WARN"
    return "INFO"


def _signals(msg: str, a: dict[str, Any]) -> None:
    """Lambda's failure lines, named: a timeout, the runtime exiting, an init-phase error."""
    if "error.type" in a:
        return
    t = _TIMEOUT.search(msg)
    if t:
        a["error.type"] = "lambda.timeout"
        a["aws.lambda.timeout_s"] = float(t.group(1))
        return
    r = _RUNTIME_EXIT.search(msg)
    if r:
        a["error.type"] = "lambda.runtime_exited"
        a["aws.lambda.exit"] = r.group(1).strip()
        return
    e = _RUNTIME_ERR.search(msg)
    if e:
        a["error.type"] = e.group(1)  # Runtime.ImportModuleError, Runtime.HandlerNotFound, Runtime.ExitError…


def _json_message(s: str, a: dict[str, Any], out: Out, key: str) -> tuple[str, str, dict[str, Any], str, str]:
    try:
        obj = orjson.loads(s)
    except orjson.JSONDecodeError:
        return s, "", {}, "", ""
    if not isinstance(obj, dict):
        return s, "", {}, "", ""
    kind = str(obj.get("type") or "")
    rec = obj.get("record")
    if kind.startswith("platform.") and isinstance(rec, dict):
        rid = str(rec.get("requestId") or "")
        if rid:
            a["faas.invocation_id"] = rid
        level = "INFO"
        if kind == "platform.start" and rid:
            out.state[key] = rid
        metrics = rec.get("metrics") if isinstance(rec.get("metrics"), dict) else {}
        for k, name in _JSON_METRICS.items():
            if isinstance(metrics.get(k), int | float):
                a[name] = float(metrics[k])
        status = rec.get("status")
        if status:
            a["aws.lambda.status"] = status
            if status != "success":
                a["error.type"] = ("lambda.init_" if kind.startswith("platform.init") else "lambda.") + str(status)
                if rec.get("errorType"):
                    a["aws.lambda.error_type"] = rec["errorType"]
                level = "ERROR"
        if kind == "platform.report":
            out.state.pop(key, None)
        trace = ""
        tr = rec.get("tracing") if isinstance(rec.get("tracing"), dict) else {}
        x = re.match(r"Root=1-([0-9a-f]{8})-([0-9a-f]{24})", str(tr.get("value") or ""))
        if x:
            trace = x.group(1) + x.group(2)
        return f"{kind} {rid}".strip(), level, {"aws.lambda.event": kind}, trace, ""
    f = from_mapping(obj, s)
    extra = dict(f.attributes)
    rid = extra.pop("requestId", None) or extra.pop("AWSRequestId", None)
    if rid:
        a["faas.invocation_id"] = str(rid)
    return f.body, f.severity_text, extra, f.trace_id, f.span_id


def _plain_json(obj: dict[str, Any], out: Out, res: Resource) -> None:
    f = from_mapping(obj, orjson.dumps(obj).decode())
    out.log(f.ts_ns, f.body, res, attrs=f.attributes, level=f.severity_text, trace_id=f.trace_id,
            span_id=f.span_id, source="aws")
