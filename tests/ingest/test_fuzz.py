"""Property-based fuzzing of what reads untrusted input: the OTLP decoders (protobuf and
JSON, whole messages and mangled bytes), the body decompressors and the log file reader.

The property everywhere: input is either taken (records kept plus records rejected add up
to what was sent, every kept value fits its column) or refused with an ``IngestError``
(a 400 / INVALID_ARGUMENT, a message for the user) — never any other exception, which a
receiver would answer with 500. Bounded for CI (a fixed seed, 35-100 examples a property, ~15 s in all);
``bench/fuzz_ingest.py`` runs the same generators for as long as you let it, against a
real server.
"""

from __future__ import annotations

import gzip
import math
import zlib
from pathlib import Path
from typing import Any

import orjson
import zstandard
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import ExportMetricsServiceRequest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, ArrayValue, KeyValue, KeyValueList
from opentelemetry.proto.logs.v1.logs_pb2 import LogRecord, ResourceLogs, ScopeLogs
from opentelemetry.proto.metrics.v1.metrics_pb2 import (
    ExponentialHistogram,
    ExponentialHistogramDataPoint,
    Gauge,
    Histogram,
    HistogramDataPoint,
    Metric,
    NumberDataPoint,
    ResourceMetrics,
    ScopeMetrics,
    Sum,
    Summary,
    SummaryDataPoint,
)
from opentelemetry.proto.resource.v1.resource_pb2 import Resource
from opentelemetry.proto.trace.v1.trace_pb2 import ResourceSpans, ScopeSpans, Span, Status

from runbrief.distill.distiller import Distiller
from runbrief.errors import IngestError
from runbrief.ingest import otlp
from runbrief.ingest._decode import decompress
from runbrief.ingest._wire import _len_field
from runbrief.ingest.logfiles import LogStream
from runbrief.ingest.pipeline import Batch, Preparer
from runbrief.testing import otlp_json

from . import samples

_HC = [HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.large_base_example]
FUZZ = settings(max_examples=100, deadline=None, derandomize=True, database=None, suppress_health_check=_HC)
# Whole requests are costly to draw (~0.1 s each): fewer of them; bench/fuzz_ingest.py draws millions.
FUZZ_REQUESTS = settings(FUZZ, max_examples=35)
MAX_NS = (1 << 63) - 1

# Edges first: the values that broke the receivers (issue 16) and their neighbours.
u64 = st.one_of(st.sampled_from([0, 1, MAX_NS, MAX_NS + 1, 2**64 - 1, 1_714_557_600_000_000_000]),
                st.integers(0, 2**64 - 1))
i32 = st.one_of(st.sampled_from([0, 1, 2, 5, 6, 24, 25, 127, 128, -1, -(2**31), 2**31 - 1]),
                st.integers(-(2**31), 2**31 - 1))
text = st.text(max_size=12) | st.sampled_from(["key" + "=" * 1000, "[/admin]", "\x00\x1b[31m", "a" * 300])
ids = st.binary(max_size=20) | st.binary(min_size=16, max_size=16) | st.binary(min_size=8, max_size=8)


def _any_value() -> st.SearchStrategy[AnyValue]:
    scalar = st.one_of(
        text.map(lambda s: AnyValue(string_value=s)),
        st.integers(-(2**63), 2**63 - 1).map(lambda i: AnyValue(int_value=i)),
        st.floats().map(lambda f: AnyValue(double_value=f)),
        st.booleans().map(lambda b: AnyValue(bool_value=b)),
        st.binary(max_size=20).map(lambda b: AnyValue(bytes_value=b)),
        st.just(AnyValue()),
    )
    return st.recursive(scalar, lambda kids: st.one_of(
        st.lists(kids, max_size=3).map(lambda vs: AnyValue(array_value=ArrayValue(values=vs))),
        st.lists(st.tuples(text, kids), max_size=3).map(
            lambda kvs: AnyValue(kvlist_value=KeyValueList(values=[KeyValue(key=k, value=v) for k, v in kvs]))),
    ), max_leaves=4)


any_value = _any_value()
attrs = st.lists(st.tuples(text, any_value).map(lambda kv: KeyValue(key=kv[0], value=kv[1])), max_size=2)
resource = st.builds(Resource, attributes=attrs)


@st.composite
def deep_value(draw: Any) -> AnyValue:
    """A value nested to a drawn depth, past MAX_NESTING at times (built in place: the
    message constructors would reparse it)."""
    root = AnyValue()
    cur = root
    levels = 0  # message levels: the parser's limit (100) is for the whole request
    while levels < draw(st.integers(0, 80)):
        if draw(st.booleans()):
            cur, levels = cur.array_value.values.add(), levels + 2
        else:
            cur, levels = cur.kvlist_value.values.add(key="k").value, levels + 3
    cur.string_value = "leaf"
    return root


log_record = st.builds(
    LogRecord, time_unix_nano=u64, observed_time_unix_nano=u64, severity_number=i32, severity_text=text,
    body=any_value | deep_value(), attributes=attrs, trace_id=ids, span_id=ids, event_name=text,
    flags=st.integers(0, 2**32 - 1))
logs_request = st.builds(ExportLogsServiceRequest, resource_logs=st.lists(st.builds(
    ResourceLogs, resource=resource, scope_logs=st.lists(st.builds(ScopeLogs, log_records=st.lists(
        log_record, max_size=4)), max_size=2)), max_size=2))

span = st.builds(
    Span, trace_id=ids, span_id=ids, parent_span_id=ids, name=text, kind=i32, start_time_unix_nano=u64,
    end_time_unix_nano=u64, attributes=attrs, status=st.builds(Status, code=i32, message=text),
    events=st.lists(st.builds(Span.Event, name=text, time_unix_nano=u64, attributes=attrs), max_size=1),
    links=st.lists(st.builds(Span.Link, trace_id=ids, span_id=ids, attributes=attrs), max_size=1))
traces_request = st.builds(ExportTraceServiceRequest, resource_spans=st.lists(st.builds(
    ResourceSpans, resource=resource, scope_spans=st.lists(st.builds(ScopeSpans, spans=st.lists(
        span, max_size=4)), max_size=2)), max_size=2))

number_point = st.builds(NumberDataPoint, time_unix_nano=u64, start_time_unix_nano=u64, attributes=attrs,
                         as_double=st.floats()) | st.builds(NumberDataPoint, time_unix_nano=u64,
                                                            as_int=st.integers(-(2**63), 2**63 - 1))
counts = st.lists(u64, max_size=4)
metric = st.one_of(
    st.builds(Metric, name=text, unit=text, gauge=st.builds(Gauge, data_points=st.lists(number_point, max_size=3))),
    st.builds(Metric, name=text, sum=st.builds(Sum, data_points=st.lists(number_point, max_size=3),
                                               aggregation_temporality=i32, is_monotonic=st.booleans())),
    st.builds(Metric, name=text, histogram=st.builds(Histogram, aggregation_temporality=i32, data_points=st.lists(
        st.builds(HistogramDataPoint, time_unix_nano=u64, count=u64, sum=st.floats(), bucket_counts=counts,
                  explicit_bounds=st.lists(st.floats(), max_size=3), min=st.floats(), max=st.floats(),
                  attributes=attrs), max_size=3))),
    st.builds(Metric, name=text, exponential_histogram=st.builds(ExponentialHistogram, data_points=st.lists(
        st.builds(ExponentialHistogramDataPoint, time_unix_nano=u64, count=u64, scale=st.integers(-(2**31), 2**31 - 1),
                  zero_count=u64, positive=st.builds(ExponentialHistogramDataPoint.Buckets, offset=i32,
                                                     bucket_counts=counts)), max_size=3))),
    st.builds(Metric, name=text, summary=st.builds(Summary, data_points=st.lists(st.builds(
        SummaryDataPoint, time_unix_nano=u64, count=u64, sum=st.floats(), quantile_values=st.lists(st.builds(
            SummaryDataPoint.ValueAtQuantile, quantile=st.floats(), value=st.floats()), max_size=2)), max_size=3))),
    st.builds(Metric, name=text),  # no data at all
)
metrics_request = st.builds(ExportMetricsServiceRequest, resource_metrics=st.lists(st.builds(
    ResourceMetrics, resource=resource, scope_metrics=st.lists(st.builds(ScopeMetrics, metrics=st.lists(
        metric, max_size=4)), max_size=2)), max_size=2))

REQUESTS = {"logs": logs_request, "traces": traces_request, "metrics": metrics_request}
_PREPARER = Preparer(make=lambda: Distiller(None, "fuzz"))


def _sent(signal: str, req: Any) -> int:
    if signal == "logs":
        return sum(len(sl.log_records) for rl in req.resource_logs for sl in rl.scope_logs)
    if signal == "traces":
        return sum(len(ss.spans) for rs in req.resource_spans for ss in rs.scope_spans)
    return sum(len(getattr(m, m.WhichOneof("data")).data_points) for rm in req.resource_metrics
               for sm in rm.scope_metrics for m in sm.metrics if m.WhichOneof("data"))


def _kept(batch: Batch) -> int:
    return len(batch.logs) + len(batch.spans) + len(batch.metrics)


def _check_stored(batch: Batch) -> None:
    """Every kept value fits its column, and preparing the batch for the store works."""
    for r in batch.logs:
        assert 0 <= r.ts_ns <= MAX_NS and 0 <= r.observed_ns <= MAX_NS and 0 <= r.severity_number <= 24
    for s in batch.spans:
        assert 0 <= s.start_ns <= s.end_ns <= MAX_NS
        assert s.kind in ("UNSPECIFIED", "INTERNAL", "SERVER", "CLIENT", "PRODUCER", "CONSUMER")
    for p in batch.metrics:
        assert 0 <= p.ts_ns <= MAX_NS and (p.count is None or 0 <= p.count <= MAX_NS)
    prep = _PREPARER.prepare(batch, 1)
    assert prep.rejected == 0, prep.errors  # the decoder's checks leave nothing to isolate


def _decode_or_refuse(signal: str, body: bytes, ctype: str = otlp.PROTOBUF) -> otlp.Decoded | None:
    try:
        return otlp.decode(signal, body, ctype)
    except IngestError:
        return None


def _protobuf_property(signal: str, req: Any) -> None:
    body = req.SerializeToString()
    d = otlp.decode(signal, body)  # the SDK's own serialization always parses
    assert _kept(d.batch) + d.rejected == _sent(signal, req)
    assert bool(d.rejected) == bool(d.errors)
    _check_stored(d.batch)


@FUZZ_REQUESTS
@given(logs_request)
def test_fuzz_otlp_logs_protobuf(req: ExportLogsServiceRequest) -> None:
    _protobuf_property("logs", req)


@FUZZ_REQUESTS
@given(traces_request)
def test_fuzz_otlp_traces_protobuf(req: ExportTraceServiceRequest) -> None:
    _protobuf_property("traces", req)


@FUZZ_REQUESTS
@given(metrics_request)
def test_fuzz_otlp_metrics_protobuf(req: ExportMetricsServiceRequest) -> None:
    _protobuf_property("metrics", req)


json_junk = st.recursive(st.none() | st.booleans() | st.integers(-(2**63), 2**64 - 1) | st.floats(allow_nan=False) | st.text(max_size=8),
                         lambda kids: st.lists(kids, max_size=3) | st.dictionaries(st.text(max_size=6), kids,
                                                                                   max_size=3), max_leaves=6)


@st.composite
def json_body(draw: Any) -> tuple[str, bytes]:
    """A real OTLP/JSON request, sometimes with a value replaced by junk at a drawn path."""
    signal = draw(st.sampled_from(sorted(REQUESTS)))
    data = otlp_json(draw(REQUESTS[signal]))
    if draw(st.booleans()):
        node: Any = data
        for _ in range(draw(st.integers(0, 8))):
            if isinstance(node, dict) and node:
                key = draw(st.sampled_from(sorted(node)))
                if not isinstance(node[key], dict | list) or draw(st.booleans()):
                    node[key] = draw(json_junk)
                    break
                node = node[key]
            elif isinstance(node, list) and node:
                node = node[draw(st.integers(0, len(node) - 1))]
            else:
                break
    return signal, orjson.dumps(data, option=orjson.OPT_NON_STR_KEYS)


@FUZZ_REQUESTS
@given(json_body())
def test_fuzz_otlp_json(case: tuple[str, bytes]) -> None:
    signal, body = case
    d = _decode_or_refuse(signal, body, otlp.JSON)
    if d is not None:
        _check_stored(d.batch)


@st.composite
def mangled(draw: Any) -> tuple[str, bytes]:
    """The bytes of a real request, flipped, cut, spliced or repeated."""
    signal = draw(st.sampled_from(sorted(REQUESTS)))
    body = bytearray(draw(REQUESTS[signal]).SerializeToString())
    for _ in range(draw(st.integers(1, 4))):
        op = draw(st.sampled_from(["flip", "cut", "insert", "repeat", "deep"]))
        at = draw(st.integers(0, len(body)))
        if op == "flip" and body:
            at = min(at, len(body) - 1)
            body[at] ^= draw(st.integers(1, 255))
        elif op == "cut":
            del body[at:]
        elif op == "insert":
            body[at:at] = draw(st.binary(min_size=1, max_size=8))
        elif op == "repeat":
            body += body[at:]
        else:  # a group with a record nested past the parser's limit, as raw wire bytes
            body += _len_field(1, _len_field(2, _len_field(2, _TOO_DEEP[signal])))
    return signal, bytes(body)


def _too_deep(levels: int) -> bytes:
    v = AnyValue()
    cur = v
    for _ in range(levels):
        cur = cur.array_value.values.add()
    cur.string_value = "x"
    return v.SerializeToString()


_DEEP = _too_deep(60)  # 120 message levels
_TOO_DEEP = {"logs": _len_field(5, _DEEP),  # LogRecord.body
             "traces": _len_field(9, _len_field(2, _DEEP)),  # Span.attributes[].value
             "metrics": _len_field(5, _len_field(1, _len_field(7, _len_field(2, _DEEP))))}  # gauge point attr


@FUZZ_REQUESTS
@given(mangled())
def test_fuzz_otlp_protobuf_bytes(case: tuple[str, bytes]) -> None:
    signal, body = case
    d = _decode_or_refuse(signal, body)
    if d is not None:
        _check_stored(d.batch)


@FUZZ
@given(st.binary(max_size=300), st.sampled_from(["gzip", "zstd", "deflate", "identity", "br"]),
       st.booleans())
def test_fuzz_decompress(data: bytes, encoding: str, real: bool) -> None:
    if real:  # a real stream of the encoding, then mangled at its end
        data = {"gzip": gzip.compress, "zstd": zstandard.ZstdCompressor().compress, "deflate": zlib.compress}.get(
            encoding, bytes)(data) + data[:3]
    try:
        out = decompress(data, encoding, 1 << 16)
    except IngestError:
        return
    assert out is None or len(out) <= 1 << 16


# ------------------------------------------------------------------ the file reader
def _real_lines() -> list[str]:
    root = Path(__file__).resolve().parents[1] / "data" / "loghub-2k"
    out = []
    for path in sorted(root.glob("*/*.log")):
        out.extend(path.read_text(errors="replace").splitlines()[:40])
    for name in ("JSON_LINES", "LOGFMT", "KLOG", "NGINX_ACCESS", "PYTHON_TRACEBACK", "LOG4J_STACK", "KUBECTL_TS_JSON",
                 "KUBECTL_PREFIX", "CRI", "UNKNOWN"):
        out.extend(getattr(samples, name).splitlines())
    return out


REAL_LINES = _real_lines()
junk_line = st.one_of(
    st.text(max_size=60),
    st.sampled_from(['{"time":"9999-12-31T23:59:59Z","msg":"x"}', '{"ts":1e19,"msg":"x"}', "key" + "=" * 1000,
                     "[/admin] denied", '{"a":' * 300 + "1" + "}" * 300, "2024-13-45T99:99:99Z bad date",
                     "9999-12-31T23:59:59.999999999Z stdout F far", "\x00\x00\x00", "\ufeff{}"]),
    st.dictionaries(st.sampled_from(["time", "ts", "level", "msg", "message", "service", "trace_id", "@timestamp"]),
                    json_junk, max_size=4).map(lambda d: orjson.dumps(d).decode()),
)


@st.composite
def log_file(draw: Any) -> tuple[list[bytes], str]:
    """A file of real lines with junk among them, as raw bytes cut into drawn chunks."""
    lines = draw(st.lists(st.sampled_from(REAL_LINES) | junk_line, min_size=1, max_size=40))
    data = "\n".join(lines).encode("utf-8", "surrogatepass")
    if draw(st.booleans()):
        data = data.replace(b"e", draw(st.sampled_from([b"\xff", b"\r\n", b"\x00", b"e"])), draw(st.integers(0, 3)))
    cuts = sorted(draw(st.lists(st.integers(0, len(data)), max_size=5)))
    chunks = [data[a:b] for a, b in zip([0, *cuts], [*cuts, len(data)], strict=True)]
    return chunks, draw(st.sampled_from(["auto", "auto", "json", "logfmt", "text"]))


@FUZZ
@given(log_file())
def test_fuzz_log_file_reader(case: tuple[list[bytes], str]) -> None:
    chunks, fmt = case
    stream = LogStream("fuzz.log", fmt=fmt)
    batches = []
    try:
        for c in chunks:
            batches.extend(stream.feed(c))
        batches.extend(stream.close())
    except IngestError:
        return  # e.g. a Kubernetes object that is not an event: refused with a reason
    logs = [r for b in batches for r in b.logs]
    assert stream.stats.bad_lines == 0, stream.stats.errors  # no parser broke on any line
    for r in logs:
        assert 0 < r.ts_ns <= MAX_NS and isinstance(r.body, str) and not math.isnan(r.ts_ns)
    if logs:
        _check_stored(Batch(logs=logs))
