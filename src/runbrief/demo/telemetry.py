"""OpenTelemetry for one demo service process: traces, logs and metrics over OTLP/HTTP.

Each service is its own process so it has its own Resource (``service.name``,
``service.version``), exactly as a deployed service would. The batch queues are sized
well above what the demo produces and flushed at shutdown, so nothing is dropped: the
demo's findings must come from what the code did, not from what a full queue lost.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable

from opentelemetry import metrics, trace
from opentelemetry._logs import set_logger_provider
from opentelemetry.exporter.otlp.proto.http._log_exporter import OTLPLogExporter
from opentelemetry.exporter.otlp.proto.http.metric_exporter import OTLPMetricExporter
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk._logs import LoggerProvider, LoggingHandler
from opentelemetry.sdk._logs.export import BatchLogRecordProcessor
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import PeriodicExportingMetricReader
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor

__all__ = ["setup_telemetry"]

QUEUE = 100_000  # far above a demo run's volume: never drop
BATCH = 2_048
DELAY_MS = 500


def setup_telemetry(service: str, version: str, endpoint: str) -> Callable[[], None]:
    """Configure the global providers and bridge ``logging``; returns a flush-and-shutdown function."""
    base = endpoint.rstrip("/")
    resource = Resource.create({
        "service.name": service,
        "service.version": version,
        "service.namespace": "runbrief-demo",
        "deployment.environment.name": "demo",
        "service.instance.id": f"{service}-{os.getpid()}",
    })
    tracer_provider = TracerProvider(resource=resource)
    tracer_provider.add_span_processor(BatchSpanProcessor(
        OTLPSpanExporter(endpoint=f"{base}/v1/traces", timeout=10),
        max_queue_size=QUEUE, max_export_batch_size=BATCH, schedule_delay_millis=DELAY_MS))
    trace.set_tracer_provider(tracer_provider)

    logger_provider = LoggerProvider(resource=resource)
    logger_provider.add_log_record_processor(BatchLogRecordProcessor(
        OTLPLogExporter(endpoint=f"{base}/v1/logs", timeout=10),
        max_queue_size=QUEUE, max_export_batch_size=BATCH, schedule_delay_millis=DELAY_MS))
    set_logger_provider(logger_provider)

    reader = PeriodicExportingMetricReader(OTLPMetricExporter(endpoint=f"{base}/v1/metrics", timeout=10),
                                           export_interval_millis=5_000)
    meter_provider = MeterProvider(resource=resource, metric_readers=[reader])
    metrics.set_meter_provider(meter_provider)

    root = logging.getLogger()
    root.setLevel(logging.INFO)
    root.addHandler(LoggingHandler(level=logging.INFO, logger_provider=logger_provider))

    def shutdown() -> None:
        # Order matters: spans and logs first (they carry the findings), metrics last.
        for flush in (tracer_provider.force_flush, logger_provider.force_flush, meter_provider.force_flush):
            try:
                flush(10_000)
            except Exception:  # noqa: BLE001 - a failed flush at exit must not hide the others
                pass
        tracer_provider.shutdown()
        logger_provider.shutdown()
        meter_provider.shutdown()

    return shutdown
