"""Decode OTLP export requests (protobuf or JSON) into a ``Batch`` of normalized records.

Follows the OTLP specification: OTLP/JSON uses hex trace/span IDs and lowerCamelCase
field names (both spellings accepted) and integer enums; unknown fields are ignored.
Records that cannot be accepted are rejected one by one and reported through partial
success, so one bad record never costs the rest of its batch: an ID of the wrong length, a
time the store cannot hold (>= 2^63 ns, past the year 2262), an enum outside its range (a
negative or unknown ``severity_number``, span kind or status code: an open enum must not
wrap to a valid value), a count beyond int64, or an AnyValue nested deeper than
``MAX_NESTING``. Each reason names the field and the value, so the sender can find it.
"""

from __future__ import annotations

import base64
import binascii
import time
from dataclasses import dataclass
from typing import Any

import orjson
from google.protobuf import json_format
from google.protobuf.message import DecodeError, Message
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import ExportMetricsServiceRequest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.logs.v1.logs_pb2 import LogRecord as LogRecordMsg
from opentelemetry.proto.metrics.v1.metrics_pb2 import Metric as MetricMsg
from opentelemetry.proto.trace.v1.trace_pb2 import Span as SpanMsg

from runbrief.errors import IngestError
from runbrief.ingest import _wire
from runbrief.ingest._decode import json_depth
from runbrief.ingest.pipeline import Batch
from runbrief.records import (
    SPAN_KINDS,
    STATUS_CODES,
    LogRecord,
    MetricPoint,
    Resource,
    Span,
    SpanEvent,
    SpanLink,
    severity_name,
)

__all__ = ["Decoded", "BadRecord", "MAX_NESTING", "error_summary", "decode_logs", "decode_traces", "decode_metrics", "parse_request", "SIGNALS", "any_value"]

PROTOBUF = "application/x-protobuf"
# The IANA-registered spelling, sent by some newer clients; read as the same encoding.
PROTOBUF_TYPES = (PROTOBUF, "application/protobuf")
JSON = "application/json"

# int64 nanoseconds (the store's time columns) end in 2262; OTLP times are fixed64.
MAX_NS = (1 << 63) - 1
# AnyValue levels a record may nest: deeper ones are rejected (protobuf's parser stops at
# 100 message levels, and every value walk here is recursive).
MAX_NESTING = 32


class BadRecord(ValueError):
    """One record that cannot be stored; the message says which field and why."""


@dataclass
class Decoded:
    batch: Batch
    rejected: int = 0
    errors: list[str] | None = None

    @property
    def error_message(self) -> str:
        return error_summary(self.errors or [])


def error_summary(errors: list[str]) -> str:
    """The partial-success message: the first few reasons and how many more."""
    head = "; ".join(errors[:3])
    return head + (f" (and {len(errors) - 3} more)" if len(errors) > 3 else "")


def any_value(v: Any, depth: int = 0) -> Any:
    """An OTLP AnyValue as a plain Python value; BadRecord past ``MAX_NESTING`` levels."""
    which = v.WhichOneof("value")
    if which is None:
        return None
    if which == "string_value":
        return v.string_value
    if which == "int_value":
        return v.int_value
    if which == "double_value":
        return v.double_value
    if which == "bool_value":
        return v.bool_value
    if which in ("array_value", "kvlist_value"):
        if depth >= MAX_NESTING:
            raise BadRecord(f"a value is nested deeper than {MAX_NESTING} levels")
        if which == "array_value":
            return [any_value(x, depth + 1) for x in v.array_value.values]
        return {kv.key: any_value(kv.value, depth + 1) for kv in v.kvlist_value.values}
    if which == "bytes_value":
        return base64.b64encode(v.bytes_value).decode()
    return None


_SCALARS = frozenset(("string_value", "int_value", "double_value", "bool_value"))


def _attrs(kvs: Any) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for kv in kvs:
        v = kv.value
        which = v.WhichOneof("value")
        # Scalars (nearly every attribute) are read directly; the rest by any_value.
        out[kv.key] = getattr(v, which) if which in _SCALARS else any_value(v)
    return out


def _body_text(v: Any) -> str:
    if v.WhichOneof("value") == "string_value":
        return v.string_value
    val = any_value(v)
    if val is None:
        return ""
    if isinstance(val, str):
        return val
    return orjson.dumps(val, option=orjson.OPT_SORT_KEYS).decode()


# ------------------------------------------------------------------ request parsing
def _hex_to_b64(obj: dict[str, Any], key: str) -> None:
    val = obj.get(key)
    if isinstance(val, str) and val:
        try:
            obj[key] = base64.b64encode(bytes.fromhex(val)).decode()
        except ValueError:
            raise IngestError(f"{key} {val!r} is not hex; OTLP/JSON trace and span IDs are hex strings") from None


_ID_KEYS = ("traceId", "spanId", "parentSpanId", "trace_id", "span_id", "parent_span_id")


def _fix_json_ids(node: Any) -> None:
    """OTLP/JSON writes IDs as hex; protobuf's JSON mapping expects base64 for bytes.
    Iterative: a body nested a thousand levels deep must not exhaust the stack."""
    stack = [node]
    while stack:
        node = stack.pop()
        if isinstance(node, dict):
            for key in _ID_KEYS:
                if key in node:
                    _hex_to_b64(node, key)
            stack.extend(v for v in node.values() if isinstance(v, (dict, list)))
        elif isinstance(node, list):
            stack.extend(v for v in node if isinstance(v, (dict, list)))


_WHAT = {"logs": "a log record", "traces": "a span", "metrics": "a metric"}

# A record's JSON levels: an AnyValue level is 3 (array) or 4 (kvlist) JSON levels, so this
# admits MAX_NESTING levels of values in any record; deeper ones are rejected before parsing.
MAX_JSON_DEPTH = 4 * MAX_NESTING + 8

# (groups, scopes, records) keys of each signal, lowerCamelCase then snake_case, and the
# message a record parses as.
_JSON_LEVELS: dict[str, tuple[tuple[str, str], tuple[str, str], tuple[str, str], type[Message]]] = {
    "logs": (("resourceLogs", "resource_logs"), ("scopeLogs", "scope_logs"), ("logRecords", "log_records"),
             LogRecordMsg),
    "traces": (("resourceSpans", "resource_spans"), ("scopeSpans", "scope_spans"), ("spans", "spans"), SpanMsg),
    "metrics": (("resourceMetrics", "resource_metrics"), ("scopeMetrics", "scope_metrics"), ("metrics", "metrics"),
                MetricMsg),
}


def _json_records(signal: str, data: dict[str, Any]) -> list[tuple[list[Any], int]]:
    """Every (record list, index) of an OTLP/JSON request of the expected shape."""
    groups_k, scopes_k, records_k, _ = _JSON_LEVELS[signal]
    out = []
    groups = data.get(groups_k[0], data.get(groups_k[1]))
    for g in groups if isinstance(groups, list) else []:
        scopes = g.get(scopes_k[0], g.get(scopes_k[1])) if isinstance(g, dict) else None
        for sc in scopes if isinstance(scopes, list) else []:
            records = sc.get(records_k[0], sc.get(records_k[1])) if isinstance(sc, dict) else None
            if isinstance(records, list):
                out.extend((records, i) for i in range(len(records)))
    return out


def _json_weed(signal: str, data: dict[str, Any], errors: list[str], *, parse: bool) -> int:
    """Remove the records of an OTLP/JSON request that cannot be parsed, so the rest of
    the request still parses; how many. First pass: records nested past MAX_JSON_DEPTH or
    with an ID that is not hex (the others' IDs are made base64 here); with ``parse``,
    those that fail to parse on their own (a wrong type, an unknown enum name)."""
    what = _WHAT[signal]
    cls = _JSON_LEVELS[signal][3]
    bad: list[tuple[list[Any], int]] = []
    for records, i in _json_records(signal, data):
        rec = records[i]
        if not parse:
            if json_depth(rec, MAX_JSON_DEPTH) > MAX_JSON_DEPTH:
                errors.append(f"{what}: nested deeper than {MAX_JSON_DEPTH} JSON levels")
                bad.append((records, i))
                continue
            try:
                _fix_json_ids(rec)
            except IngestError as exc:
                errors.append(f"{what}: {exc}")
                bad.append((records, i))
        else:
            try:
                json_format.ParseDict(rec, cls(), ignore_unknown_fields=True)
            except (json_format.ParseError, ValueError, TypeError, RecursionError) as exc:
                errors.append(f"{what}: {exc}")
                bad.append((records, i))
    for records, i in reversed(bad):  # indexes of one list descend, so each stays valid
        del records[i]
    return len(bad)


SIGNALS: dict[str, type[Message]] = {
    "logs": ExportLogsServiceRequest,
    "traces": ExportTraceServiceRequest,
    "metrics": ExportMetricsServiceRequest,
}


def parse_request(signal: str, body: bytes, content_type: str) -> Message:
    """Parse a request body of the given content type; IngestError says why it failed."""
    return _parse(signal, body, content_type)[0]


def _parse(signal: str, body: bytes, content_type: str) -> tuple[Message, int, list[str]]:
    """The request, and the records left out of it (count, reasons): an OTLP/JSON record
    too deep or of the wrong shape is weeded out so the rest of its request is kept."""
    cls = SIGNALS[signal]
    msg = cls()
    ctype = (content_type or "").split(";", 1)[0].strip().lower()
    if ctype in PROTOBUF_TYPES:
        try:
            msg.ParseFromString(body)
        except (DecodeError, RuntimeError, ValueError) as exc:
            # One record that does not parse (invalid UTF-8, nested past the parser's
            # limit) fails the whole parse: keep the records that parse on their own.
            try:
                got = _wire.salvage(cls, body, _WHAT[signal])
            except (_wire.WireError, DecodeError, RuntimeError, ValueError):
                got = None
            if got is None or not got[1]:
                raise IngestError(f"the body is not a valid OTLP {signal} protobuf message: {exc}") from None
            return got
        return msg, 0, []
    if ctype == JSON:
        try:
            data = orjson.loads(body)
        except orjson.JSONDecodeError as exc:
            raise IngestError(f"the body is not valid JSON: {exc}") from None
        if not isinstance(data, dict):
            raise IngestError(f"an OTLP/JSON {signal} request is an object, got {type(data).__name__}")
        errors: list[str] = []
        rejected = _json_weed(signal, data, errors, parse=False)
        try:
            json_format.ParseDict(data, msg, ignore_unknown_fields=True)
        except (json_format.ParseError, ValueError, TypeError, RecursionError) as exc:
            # One record of the wrong shape fails the whole parse: weed out those that fail
            # alone and parse the rest; what still fails is the request's own shape.
            rejected += _json_weed(signal, data, errors, parse=True)
            msg = cls()
            try:
                json_format.ParseDict(data, msg, ignore_unknown_fields=True)
            except (json_format.ParseError, ValueError, TypeError, RecursionError):
                raise IngestError(f"the JSON is not an OTLP {signal} request: {exc}") from None
        return msg, rejected, errors
    raise IngestError(f"unsupported content type {content_type!r}; send {PROTOBUF} or {JSON}")


# ------------------------------------------------------------------ walking
def _hex_id(raw: bytes, size: int, what: str, errors: list[str]) -> str | None:
    if not raw:
        return ""
    if len(raw) != size:
        errors.append(f"{what} has {len(raw)} bytes, expected {size}")
        return None
    return binascii.hexlify(raw).decode()


def _resource(res: Any, cache: dict[bytes, Resource]) -> Resource:
    key = res.SerializeToString(deterministic=True)
    r = cache.get(key)
    if r is None:
        r = cache[key] = Resource(_attrs(res.attributes))
    return r


_SEVERITY_NAME = tuple(severity_name(n) for n in range(25))


def walk_logs(req: ExportLogsServiceRequest) -> Decoded:
    now = time.time_ns()
    out: list[LogRecord] = []
    errors: list[str] = []
    rejected = 0
    cache: dict[bytes, Resource] = {}
    append = out.append
    for rl in req.resource_logs:
        try:
            resource = _resource(rl.resource, cache)
        except BadRecord as exc:
            errors.append(f"a resource's attributes: {exc}")
            rejected += sum(len(sl.log_records) for sl in rl.scope_logs)
            continue
        for sl in rl.scope_logs:
            scope = sl.scope.name
            for lr in sl.log_records:
                # The walk is the per-record cost of every OTLP log, so the common case
                # (IDs of the right length or absent, a string body) is read inline.
                trace_id = lr.trace_id
                span_id = lr.span_id
                if (trace_id and len(trace_id) != 16) or (span_id and len(span_id) != 8):
                    _hex_id(trace_id, 16, "trace_id", errors)
                    _hex_id(span_id, 8, "span_id", errors)
                    rejected += 1
                    continue
                body = lr.body
                observed = lr.observed_time_unix_nano or now
                ts = lr.time_unix_nano or observed
                sev = lr.severity_number
                attrs = lr.attributes
                try:
                    if ts > MAX_NS or observed > MAX_NS:
                        raise BadRecord(_time_error("observed_time_unix_nano" if observed > MAX_NS
                                                    else "time_unix_nano", max(ts, observed)))
                    if not 0 <= sev < 25:
                        raise BadRecord(f"severity_number {sev} is not an OTLP SeverityNumber (0-24)")
                    rec = LogRecord(
                        ts,
                        body.string_value if body.WhichOneof("value") == "string_value" else _body_text(body),
                        resource,
                        observed,
                        sev,
                        lr.severity_text or _SEVERITY_NAME[sev],
                        _attrs(attrs) if attrs else {},
                        trace_id.hex() if trace_id else "",
                        span_id.hex() if span_id else "",
                        scope,
                    )
                except BadRecord as exc:
                    errors.append(f"a log record: {exc}")
                    rejected += 1
                    continue
                if lr.event_name:
                    rec.attributes["event.name"] = lr.event_name
                append(rec)
    return Decoded(Batch(logs=out), rejected, errors)


def _time_error(field: str, value: int) -> str:
    return f"{field} {value} is past the year 2262 (>= 2^63 ns); send nanoseconds since the epoch"


def _check_ns(field: str, value: int) -> int:
    if value > MAX_NS:
        raise BadRecord(_time_error(field, value))
    return value


def _span(sp: Any, trace_id: str, span_id: str, parent: str, resource: Resource, scope: str) -> Span:
    """One span, or BadRecord. Kind and status code are open enums on the wire: a value
    outside them (-1, INT32_MIN) is refused, never indexed (a negative index would wrap
    to a valid kind)."""
    kind, code = sp.kind, sp.status.code
    if not 0 <= kind < len(SPAN_KINDS):
        raise BadRecord(f"kind {kind} is not an OTLP SpanKind (0-{len(SPAN_KINDS) - 1})")
    if not 0 <= code < len(STATUS_CODES):
        raise BadRecord(f"status.code {code} is not an OTLP StatusCode (0-{len(STATUS_CODES) - 1})")
    start, end = sp.start_time_unix_nano, sp.end_time_unix_nano
    if start > MAX_NS or end > MAX_NS:
        raise BadRecord(_time_error("start_time_unix_nano" if start > MAX_NS else "end_time_unix_nano",
                                    max(start, end)))
    events = [SpanEvent(e.name, e.time_unix_nano, _attrs(e.attributes)) for e in sp.events]
    if events and max(e.ts_ns for e in events) > MAX_NS:
        raise BadRecord(_time_error("events.time_unix_nano", max(e.ts_ns for e in events)))
    return Span(
        trace_id=trace_id,
        span_id=span_id,
        parent_span_id=parent,
        name=sp.name,
        kind=SPAN_KINDS[kind],
        start_ns=start,
        end_ns=max(end, start),
        status_code=STATUS_CODES[code],
        status_message=sp.status.message,
        attributes=_attrs(sp.attributes),
        events=events,
        links=[
            SpanLink(binascii.hexlify(lk.trace_id).decode(), binascii.hexlify(lk.span_id).decode(),
                     _attrs(lk.attributes))
            for lk in sp.links
        ],
        resource=resource,
        scope=scope,
    )


def walk_traces(req: ExportTraceServiceRequest) -> Decoded:
    out: list[Span] = []
    errors: list[str] = []
    rejected = 0
    cache: dict[bytes, Resource] = {}
    for rs in req.resource_spans:
        try:
            resource = _resource(rs.resource, cache)
        except BadRecord as exc:
            errors.append(f"a resource's attributes: {exc}")
            rejected += sum(len(ss.spans) for ss in rs.scope_spans)
            continue
        for ss in rs.scope_spans:
            scope = ss.scope.name
            for sp in ss.spans:
                trace_id = _hex_id(sp.trace_id, 16, "trace_id", errors)
                span_id = _hex_id(sp.span_id, 8, "span_id", errors)
                parent = _hex_id(sp.parent_span_id, 8, "parent_span_id", errors)
                if not trace_id or not span_id or parent is None:
                    if trace_id == "" or span_id == "":
                        errors.append("a span without trace_id or span_id")
                    rejected += 1
                    continue
                try:
                    out.append(_span(sp, trace_id, span_id, parent, resource, scope))
                except BadRecord as exc:
                    errors.append(f"span {span_id}: {exc}")
                    rejected += 1
    return Decoded(Batch(spans=out), rejected, errors)


_TEMPORALITY = {0: "", 1: "delta", 2: "cumulative"}


def _point(which: str, data: Any, dp: Any, base: dict[str, Any]) -> MetricPoint:
    """One data point of a metric of kind ``which``, or BadRecord."""
    ts = _check_ns("time_unix_nano", dp.time_unix_nano)
    start = _check_ns("start_time_unix_nano", dp.start_time_unix_nano)
    attrs = _attrs(dp.attributes)
    if which in ("gauge", "sum"):
        v = dp.as_double if dp.WhichOneof("value") == "as_double" else float(dp.as_int)
        return MetricPoint(type=which, ts_ns=ts, start_ns=start, attributes=attrs, value=v,
                           is_monotonic=data.is_monotonic if which == "sum" else None,
                           temporality=_TEMPORALITY.get(data.aggregation_temporality, "") if which == "sum" else "",
                           **base)
    if dp.count > MAX_NS:
        raise BadRecord(f"count {dp.count} is beyond int64")
    if which == "summary":
        return MetricPoint(type="summary", ts_ns=ts, start_ns=start, attributes=attrs, count=dp.count, sum=dp.sum,
                           buckets={"quantiles": [[q.quantile, q.value] for q in dp.quantile_values]}, **base)
    if which == "histogram":
        buckets: dict[str, Any] = {"bounds": list(dp.explicit_bounds), "counts": list(dp.bucket_counts)}
    else:
        buckets = {
            "scale": dp.scale, "zero_count": dp.zero_count,
            "positive": {"offset": dp.positive.offset, "counts": list(dp.positive.bucket_counts)},
            "negative": {"offset": dp.negative.offset, "counts": list(dp.negative.bucket_counts)},
        }
    return MetricPoint(type=which, ts_ns=ts, start_ns=start, attributes=attrs, count=dp.count,
                       sum=dp.sum if dp.HasField("sum") else None,
                       min=dp.min if dp.HasField("min") else None,
                       max=dp.max if dp.HasField("max") else None,
                       temporality=_TEMPORALITY.get(data.aggregation_temporality, ""), buckets=buckets, **base)


_POINT_KINDS = ("gauge", "sum", "histogram", "exponential_histogram", "summary")


def walk_metrics(req: ExportMetricsServiceRequest) -> Decoded:
    out: list[MetricPoint] = []
    errors: list[str] = []
    rejected = 0
    cache: dict[bytes, Resource] = {}
    for rm in req.resource_metrics:
        try:
            resource = _resource(rm.resource, cache)
        except BadRecord as exc:
            n = sum(len(getattr(m, m.WhichOneof("data")).data_points) for sm in rm.scope_metrics for m in sm.metrics
                    if m.WhichOneof("data") in _POINT_KINDS)
            errors.append(f"a resource's attributes: {exc}")
            rejected += n
            continue
        for sm in rm.scope_metrics:
            scope = sm.scope.name
            for m in sm.metrics:
                which = m.WhichOneof("data")
                if which not in _POINT_KINDS:
                    continue
                base = {"name": m.name, "unit": m.unit, "description": m.description, "resource": resource,
                        "scope": scope}
                data = getattr(m, which)
                for dp in data.data_points:
                    try:
                        out.append(_point(which, data, dp, base))
                    except BadRecord as exc:
                        errors.append(f"a data point of {m.name!r}: {exc}")
                        rejected += 1
    return Decoded(Batch(metrics=out), rejected, errors)


_WALKERS = {"logs": walk_logs, "traces": walk_traces, "metrics": walk_metrics}


def decode(signal: str, body: bytes, content_type: str = PROTOBUF) -> Decoded:
    """The records of one export request, with those rejected (partial success)."""
    msg, rejected, errors = _parse(signal, body, content_type)
    out = _WALKERS[signal](msg)
    if rejected:
        out.rejected += rejected
        out.errors = errors + list(out.errors or [])
    return out


def decode_logs(body: bytes, content_type: str = PROTOBUF) -> Batch:
    return decode("logs", body, content_type).batch


def decode_traces(body: bytes, content_type: str = PROTOBUF) -> Batch:
    return decode("traces", body, content_type).batch


def decode_metrics(body: bytes, content_type: str = PROTOBUF) -> Batch:
    return decode("metrics", body, content_type).batch
