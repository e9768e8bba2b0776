"""OpenTelemetry for one demo service process: traces and logs over OTLP/HTTP.

Each service is its own process so it has its own Resource (``service.name``,
``service.version``), exactly as a deployed service would. The batch queues are sized
well above what the demo produces and flushed at shutdown, so nothing is dropped: the
demo's findings must come from what the code did, not from what a full queue lost.

The exporters are the SDK's OTLP/HTTP ones, wrapped to apply the demo's fast-forward
(``runbrief.demo.clock``). That wrapping is why the demo configures the SDK itself rather
than through ``runbrief.instrument``. No metrics: their collection times could not follow
the fast-forward, and the demo's findings rest on traces and logs.
"""

from __future__ import annotations

import contextlib
import logging
import os
from collections.abc import Callable
from pathlib import Path

from opentelemetry import trace
from opentelemetry._logs import set_logger_provider
from opentelemetry.exporter.otlp.proto.http._log_exporter import OTLPLogExporter
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.instrumentation.logging.handler import LoggingHandler
from opentelemetry.sdk._logs import LoggerProvider
from opentelemetry.sdk._logs.export import BatchLogRecordProcessor, LogRecordExporter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter

from runbrief.demo.clock import ClockMap, ShiftedLogExporter, ShiftedSpanExporter

__all__ = ["setup_telemetry"]

QUEUE = 100_000  # far above a demo run's volume: never drop
BATCH = 2_048
DELAY_MS = 500


def setup_telemetry(service: str, version: str, endpoint: str, clock_file: Path | None = None) -> Callable[[], None]:
    """Configure the global providers and bridge ``logging``; returns a flush-and-shutdown function."""
    base = endpoint.rstrip("/")
    resource = Resource.create({
        "service.name": service,
        "service.version": version,
        "service.namespace": "runbrief-demo",
        "deployment.environment.name": "demo",
        "service.instance.id": f"{service}-{os.getpid()}",
    })
    spans: SpanExporter = OTLPSpanExporter(endpoint=f"{base}/v1/traces", timeout=10)
    logs: LogRecordExporter = OTLPLogExporter(endpoint=f"{base}/v1/logs", timeout=10)
    if clock_file is not None:
        clock = ClockMap(clock_file)
        spans, logs = ShiftedSpanExporter(spans, clock), ShiftedLogExporter(logs, clock)

    tracer_provider = TracerProvider(resource=resource)
    tracer_provider.add_span_processor(BatchSpanProcessor(
        spans, max_queue_size=QUEUE, max_export_batch_size=BATCH, schedule_delay_millis=DELAY_MS))
    trace.set_tracer_provider(tracer_provider)

    logger_provider = LoggerProvider(resource=resource)
    logger_provider.add_log_record_processor(BatchLogRecordProcessor(
        logs, max_queue_size=QUEUE, max_export_batch_size=BATCH, schedule_delay_millis=DELAY_MS))
    set_logger_provider(logger_provider)

    root = logging.getLogger()
    root.setLevel(logging.INFO)
    root.addHandler(LoggingHandler(level=logging.INFO, logger_provider=logger_provider))

    def shutdown() -> None:
        # Spans and logs carry the findings: flush both even if one fails.
        for flush in (tracer_provider.force_flush, logger_provider.force_flush):
            with contextlib.suppress(Exception):  # a failed flush at exit must not hide the other
                flush(10_000)
        tracer_provider.shutdown()
        logger_provider.shutdown()

    return shutdown
