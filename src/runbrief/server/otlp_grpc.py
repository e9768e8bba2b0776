"""OTLP/gRPC receiver: the logs, trace and metrics collector services.

Same semantics as the HTTP receiver: partial success for rejected records, and
UNAVAILABLE (retryable, per the OTLP spec) when the write queue is full. The reply is
sent only after the batch is committed.
"""

from __future__ import annotations

from concurrent import futures
from typing import Any

import grpc
from opentelemetry.proto.collector.logs.v1 import logs_service_pb2, logs_service_pb2_grpc
from opentelemetry.proto.collector.metrics.v1 import metrics_service_pb2, metrics_service_pb2_grpc
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2, trace_service_pb2_grpc

from runbrief.errors import Overloaded
from runbrief.ingest import otlp
from runbrief.server.write_queue import WriteQueue

__all__ = ["start_grpc"]

# The SDK exporters send up to 4 MiB by default; allow generous headroom.
MAX_MESSAGE = 64 * 1024 * 1024


def _handle(queue: WriteQueue, walker: Any, request: Any, response: Any, field: str, context: grpc.ServicerContext) -> Any:
    decoded = walker(request)
    try:
        queue.write_now(decoded.batch)
    except Overloaded as exc:
        context.abort(grpc.StatusCode.UNAVAILABLE, str(exc))
    if decoded.rejected:
        setattr(response.partial_success, field, decoded.rejected)
        response.partial_success.error_message = decoded.error_message
    return response


class _Logs(logs_service_pb2_grpc.LogsServiceServicer):
    def __init__(self, queue: WriteQueue) -> None:
        self.queue = queue

    def Export(self, request: Any, context: grpc.ServicerContext) -> Any:  # noqa: N802 - gRPC name
        return _handle(self.queue, otlp.walk_logs, request, logs_service_pb2.ExportLogsServiceResponse(),
                       "rejected_log_records", context)


class _Traces(trace_service_pb2_grpc.TraceServiceServicer):
    def __init__(self, queue: WriteQueue) -> None:
        self.queue = queue

    def Export(self, request: Any, context: grpc.ServicerContext) -> Any:  # noqa: N802
        return _handle(self.queue, otlp.walk_traces, request, trace_service_pb2.ExportTraceServiceResponse(),
                       "rejected_spans", context)


class _Metrics(metrics_service_pb2_grpc.MetricsServiceServicer):
    def __init__(self, queue: WriteQueue) -> None:
        self.queue = queue

    def Export(self, request: Any, context: grpc.ServicerContext) -> Any:  # noqa: N802
        return _handle(self.queue, otlp.walk_metrics, request, metrics_service_pb2.ExportMetricsServiceResponse(),
                       "rejected_data_points", context)


def start_grpc(queue: WriteQueue, host: str, port: int) -> tuple[grpc.Server, int]:
    """Start the gRPC server; returns it and the bound port (port 0 picks a free one)."""
    server = grpc.server(
        futures.ThreadPoolExecutor(max_workers=8, thread_name_prefix="otlp-grpc"),
        options=[("grpc.max_receive_message_length", MAX_MESSAGE)],
    )
    logs_service_pb2_grpc.add_LogsServiceServicer_to_server(_Logs(queue), server)
    trace_service_pb2_grpc.add_TraceServiceServicer_to_server(_Traces(queue), server)
    metrics_service_pb2_grpc.add_MetricsServiceServicer_to_server(_Metrics(queue), server)
    addr = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
    bound = server.add_insecure_port(addr)
    if not bound:
        raise OSError(f"cannot bind OTLP/gRPC to {addr}")
    server.start()
    return server, bound
