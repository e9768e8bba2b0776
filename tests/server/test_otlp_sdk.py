"""The real OpenTelemetry SDK exporters send to a real server over 127.0.0.1; records
come back with their resource, attributes, IDs and timestamps."""

from __future__ import annotations

import logging
import time

import pytest
from opentelemetry.instrumentation.logging.handler import LoggingHandler
from opentelemetry.sdk._logs import LoggerProvider
from opentelemetry.sdk._logs.export import BatchLogRecordProcessor
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import PeriodicExportingMetricReader
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor
from opentelemetry.trace import SpanKind, Status, StatusCode

from runbrief.client import call
from runbrief.testing import ServerProcess


def _exporters(kind: str, sp: ServerProcess):
    if kind == "http":
        from opentelemetry.exporter.otlp.proto.http._log_exporter import OTLPLogExporter
        from opentelemetry.exporter.otlp.proto.http.metric_exporter import OTLPMetricExporter
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

        return (OTLPSpanExporter(endpoint=f"{sp.url}/v1/traces"), OTLPLogExporter(endpoint=f"{sp.url}/v1/logs"),
                OTLPMetricExporter(endpoint=f"{sp.url}/v1/metrics"))
    from opentelemetry.exporter.otlp.proto.grpc._log_exporter import OTLPLogExporter
    from opentelemetry.exporter.otlp.proto.grpc.metric_exporter import OTLPMetricExporter
    from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter

    ep = sp.grpc_endpoint
    return (OTLPSpanExporter(endpoint=ep, insecure=True), OTLPLogExporter(endpoint=ep, insecure=True),
            OTLPMetricExporter(endpoint=ep, insecure=True))


@pytest.mark.parametrize("kind", ["http", "grpc"])
def test_sdk_exporters_round_trip(kind: str, server: ServerProcess, monkeypatch: pytest.MonkeyPatch) -> None:
    resource = Resource.create({"service.name": f"checkout-{kind}", "service.version": "1.4.2",
                                "deployment.environment.name": "prod", "k8s.pod.name": "checkout-7d9f-abcde"})
    span_exp, log_exp, metric_exp = _exporters(kind, server)
    tp = TracerProvider(resource=resource)
    # The SDK's default queue (2048) drops silently in a tight loop: size it.
    tp.add_span_processor(BatchSpanProcessor(span_exp, max_queue_size=100_000, max_export_batch_size=512))
    lp = LoggerProvider(resource=resource)
    lp.add_log_record_processor(BatchLogRecordProcessor(log_exp, max_queue_size=100_000, max_export_batch_size=512))
    reader = PeriodicExportingMetricReader(metric_exp, export_interval_millis=60_000)
    mp = MeterProvider(resource=resource, metric_readers=[reader])

    logger = logging.getLogger(f"test.{kind}")
    logger.propagate = False
    logger.setLevel(logging.INFO)
    logger.addHandler(LoggingHandler(logger_provider=lp))
    tracer = tp.get_tracer("test")
    meter = mp.get_meter("test")
    counter = meter.create_counter("orders", unit="1")
    hist = meter.create_histogram("latency", unit="ms")

    before = time.time_ns()
    with tracer.start_as_current_span("POST /checkout", kind=SpanKind.SERVER,
                                      attributes={"http.route": "/checkout", "http.request.method": "POST"}) as root:
        with tracer.start_as_current_span("SELECT orders", kind=SpanKind.CLIENT,
                                          attributes={"db.system": "sqlite", "db.statement": "SELECT 1"}) as child:
            child.add_event("exception", {"exception.type": "ValueError", "exception.message": "boom"})
            child.set_status(Status(StatusCode.ERROR, "boom"))
            logger.error("payment failed for order %s", 42, extra={"order.id": 42})
            trace_id = format(child.get_span_context().trace_id, "032x")
            span_id = format(child.get_span_context().span_id, "016x")
        root_id = format(root.get_span_context().span_id, "016x")
    for i in range(300):
        logger.info("heartbeat %d", i)
    counter.add(3, {"region": "eu"})
    hist.record(12.5)
    hist.record(40.0)
    after = time.time_ns()
    assert tp.force_flush(10_000) and lp.force_flush(10_000)
    assert reader.force_flush(10_000)
    tp.shutdown()
    lp.shutdown()
    mp.shutdown()

    monkeypatch.setenv("RUNBRIEF_URL", server.url)
    stats = call("stats")
    assert stats["spans"] == 2
    assert stats["logs"] == 301
    assert stats["metric_points"] >= 2

    svc = f"checkout-{kind}"
    services = {s["service"]: s for s in call("services")["services"]}
    assert services[svc]["versions"] == ["1.4.2"]

    err = call("logs", {"service": svc, "severity": "error"})["logs"]
    assert len(err) == 1
    rec = err[0]
    assert rec["body"] == "payment failed for order 42"
    assert rec["severity"] == "ERROR"
    assert rec["trace_id"] == trace_id and rec["span_id"] == span_id
    assert rec["attributes"]["order.id"] == 42
    from datetime import datetime

    ts = datetime.fromisoformat(rec["ts"].rstrip("Z")).timestamp() * 1e9
    assert before - 1e6 <= ts <= after + 1e6

    span = call("show", {"id": f"spn_{span_id}"})
    assert span["status"] == "ERROR" and span["status_message"] == "boom"
    assert span["parent_span_id"] == f"spn_{root_id}"
    assert span["span_kind"] == "CLIENT"
    assert span["attributes"]["db.statement"] == "SELECT 1"
    assert span["events"][0]["attributes"]["exception.type"] == "ValueError"
    trace = call("show", {"id": f"trc_{trace_id}"})
    assert trace["spans"] == 2 and trace["errors"] == 1 and trace["root"] == "POST /checkout"
