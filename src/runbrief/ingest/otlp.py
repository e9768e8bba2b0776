"""Decode OTLP export requests (protobuf or JSON) into a ``Batch`` of normalized records.

Follows the OTLP specification: OTLP/JSON uses hex trace/span IDs and lowerCamelCase
field names (both spellings accepted) and integer enums; unknown fields are ignored.
Records that cannot be accepted (an ID of the wrong length) are rejected one by one and
reported through partial success, so one bad record never costs the rest of its batch.
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

from runbrief.errors import IngestError
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

__all__ = ["Decoded", "error_summary", "decode_logs", "decode_traces", "decode_metrics", "parse_request", "SIGNALS", "any_value"]

PROTOBUF = "application/x-protobuf"
# The IANA-registered spelling, sent by some newer clients; read as the same encoding.
PROTOBUF_TYPES = (PROTOBUF, "application/protobuf")
JSON = "application/json"


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


def any_value(v: Any) -> Any:
    """An OTLP AnyValue as a plain Python value."""
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
    if which == "array_value":
        return [any_value(x) for x in v.array_value.values]
    if which == "kvlist_value":
        return {kv.key: any_value(kv.value) for kv in v.kvlist_value.values}
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
    """OTLP/JSON writes IDs as hex; protobuf's JSON mapping expects base64 for bytes."""
    if isinstance(node, dict):
        for key in _ID_KEYS:
            if key in node:
                _hex_to_b64(node, key)
        for val in node.values():
            if isinstance(val, (dict, list)):
                _fix_json_ids(val)
    elif isinstance(node, list):
        for item in node:
            _fix_json_ids(item)


SIGNALS: dict[str, type[Message]] = {
    "logs": ExportLogsServiceRequest,
    "traces": ExportTraceServiceRequest,
    "metrics": ExportMetricsServiceRequest,
}


def parse_request(signal: str, body: bytes, content_type: str) -> Message:
    """Parse a request body of the given content type; IngestError says why it failed."""
    cls = SIGNALS[signal]
    msg = cls()
    ctype = (content_type or "").split(";", 1)[0].strip().lower()
    if ctype in PROTOBUF_TYPES:
        try:
            msg.ParseFromString(body)
        except (DecodeError, RuntimeError, ValueError) as exc:
            raise IngestError(f"the body is not a valid OTLP {signal} protobuf message: {exc}") from None
        return msg
    if ctype == JSON:
        try:
            data = orjson.loads(body)
        except orjson.JSONDecodeError as exc:
            raise IngestError(f"the body is not valid JSON: {exc}") from None
        if not isinstance(data, dict):
            raise IngestError(f"an OTLP/JSON {signal} request is an object, got {type(data).__name__}")
        _fix_json_ids(data)
        try:
            json_format.ParseDict(data, msg, ignore_unknown_fields=True)
        except (json_format.ParseError, ValueError, TypeError) as exc:
            raise IngestError(f"the JSON is not an OTLP {signal} request: {exc}") from None
        return msg
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
        resource = _resource(rl.resource, cache)
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
                sev = lr.severity_number
                attrs = lr.attributes
                rec = LogRecord(
                    lr.time_unix_nano or observed,
                    body.string_value if body.WhichOneof("value") == "string_value" else _body_text(body),
                    resource,
                    observed,
                    sev,
                    lr.severity_text or (_SEVERITY_NAME[sev] if 0 <= sev < 25 else severity_name(sev)),
                    _attrs(attrs) if attrs else {},
                    trace_id.hex() if trace_id else "",
                    span_id.hex() if span_id else "",
                    scope,
                )
                if lr.event_name:
                    rec.attributes["event.name"] = lr.event_name
                append(rec)
    return Decoded(Batch(logs=out), rejected, errors)


def walk_traces(req: ExportTraceServiceRequest) -> Decoded:
    out: list[Span] = []
    errors: list[str] = []
    rejected = 0
    cache: dict[bytes, Resource] = {}
    for rs in req.resource_spans:
        resource = _resource(rs.resource, cache)
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
                out.append(
                    Span(
                        trace_id=trace_id,
                        span_id=span_id,
                        parent_span_id=parent,
                        name=sp.name,
                        kind=SPAN_KINDS[sp.kind] if sp.kind < len(SPAN_KINDS) else "UNSPECIFIED",
                        start_ns=sp.start_time_unix_nano,
                        end_ns=max(sp.end_time_unix_nano, sp.start_time_unix_nano),
                        status_code=STATUS_CODES[sp.status.code] if sp.status.code < 3 else "UNSET",
                        status_message=sp.status.message,
                        attributes=_attrs(sp.attributes),
                        events=[SpanEvent(e.name, e.time_unix_nano, _attrs(e.attributes)) for e in sp.events],
                        links=[
                            SpanLink(binascii.hexlify(lk.trace_id).decode(), binascii.hexlify(lk.span_id).decode(),
                                     _attrs(lk.attributes))
                            for lk in sp.links
                        ],
                        resource=resource,
                        scope=scope,
                    )
                )
    return Decoded(Batch(spans=out), rejected, errors)


_TEMPORALITY = {0: "", 1: "delta", 2: "cumulative"}


def walk_metrics(req: ExportMetricsServiceRequest) -> Decoded:
    out: list[MetricPoint] = []
    cache: dict[bytes, Resource] = {}
    for rm in req.resource_metrics:
        resource = _resource(rm.resource, cache)
        for sm in rm.scope_metrics:
            scope = sm.scope.name
            for m in sm.metrics:
                which = m.WhichOneof("data")
                base = {"name": m.name, "unit": m.unit, "description": m.description, "resource": resource,
                        "scope": scope}
                if which in ("gauge", "sum"):
                    data = getattr(m, which)
                    for dp in data.data_points:
                        v = dp.as_double if dp.WhichOneof("value") == "as_double" else float(dp.as_int)
                        out.append(MetricPoint(
                            type=which, ts_ns=dp.time_unix_nano, start_ns=dp.start_time_unix_nano,
                            attributes=_attrs(dp.attributes), value=v,
                            is_monotonic=data.is_monotonic if which == "sum" else None,
                            temporality=_TEMPORALITY.get(data.aggregation_temporality, "") if which == "sum" else "",
                            **base))
                elif which == "histogram":
                    data = m.histogram
                    for dp in data.data_points:
                        out.append(MetricPoint(
                            type="histogram", ts_ns=dp.time_unix_nano, start_ns=dp.start_time_unix_nano,
                            attributes=_attrs(dp.attributes), count=dp.count,
                            sum=dp.sum if dp.HasField("sum") else None,
                            min=dp.min if dp.HasField("min") else None,
                            max=dp.max if dp.HasField("max") else None,
                            temporality=_TEMPORALITY.get(data.aggregation_temporality, ""),
                            buckets={"bounds": list(dp.explicit_bounds), "counts": list(dp.bucket_counts)},
                            **base))
                elif which == "exponential_histogram":
                    data = m.exponential_histogram
                    for dp in data.data_points:
                        out.append(MetricPoint(
                            type="exponential_histogram", ts_ns=dp.time_unix_nano, start_ns=dp.start_time_unix_nano,
                            attributes=_attrs(dp.attributes), count=dp.count,
                            sum=dp.sum if dp.HasField("sum") else None,
                            min=dp.min if dp.HasField("min") else None,
                            max=dp.max if dp.HasField("max") else None,
                            temporality=_TEMPORALITY.get(data.aggregation_temporality, ""),
                            buckets={
                                "scale": dp.scale, "zero_count": dp.zero_count,
                                "positive": {"offset": dp.positive.offset, "counts": list(dp.positive.bucket_counts)},
                                "negative": {"offset": dp.negative.offset, "counts": list(dp.negative.bucket_counts)},
                            },
                            **base))
                elif which == "summary":
                    for dp in m.summary.data_points:
                        out.append(MetricPoint(
                            type="summary", ts_ns=dp.time_unix_nano, start_ns=dp.start_time_unix_nano,
                            attributes=_attrs(dp.attributes), count=dp.count, sum=dp.sum,
                            buckets={"quantiles": [[q.quantile, q.value] for q in dp.quantile_values]},
                            **base))
    return Decoded(Batch(metrics=out))


_WALKERS = {"logs": walk_logs, "traces": walk_traces, "metrics": walk_metrics}


def decode(signal: str, body: bytes, content_type: str = PROTOBUF) -> Decoded:
    return _WALKERS[signal](parse_request(signal, body, content_type))


def decode_logs(body: bytes, content_type: str = PROTOBUF) -> Batch:
    return decode("logs", body, content_type).batch


def decode_traces(body: bytes, content_type: str = PROTOBUF) -> Batch:
    return decode("traces", body, content_type).batch


def decode_metrics(body: bytes, content_type: str = PROTOBUF) -> Batch:
    return decode("metrics", body, content_type).batch
