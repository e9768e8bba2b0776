"""OTLP/gRPC receiver: the logs, trace and metrics collector services.

Same semantics as the HTTP receiver: partial success for rejected records (one bad
record never fails its request), INVALID_ARGUMENT for a request that cannot be decoded, and
UNAVAILABLE (retryable, per the OTLP spec) when the write queue is full. The reply is
sent only after the batch is committed.

The handlers take the request as raw bytes (no deserializer): the ingest workers decode
it, so the receiving process parses only what routing needs, as for OTLP/HTTP.
"""

from __future__ import annotations

from concurrent import futures
from typing import Any

import grpc
from opentelemetry.proto.collector.logs.v1 import logs_service_pb2
from opentelemetry.proto.collector.metrics.v1 import metrics_service_pb2
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2

from runbrief.errors import IngestError, Overloaded, RunbriefError
from runbrief.ingest import otlp
from runbrief.server.guard import bearer_ok
from runbrief.server.ingest import Ingestor

__all__ = ["start_grpc"]

# The SDK exporters send up to 4 MiB by default; allow generous headroom.
MAX_MESSAGE = 64 * 1024 * 1024

_SERVICES = {
    "logs": ("opentelemetry.proto.collector.logs.v1.LogsService",
             logs_service_pb2.ExportLogsServiceResponse, "rejected_log_records"),
    "traces": ("opentelemetry.proto.collector.trace.v1.TraceService",
               trace_service_pb2.ExportTraceServiceResponse, "rejected_spans"),
    "metrics": ("opentelemetry.proto.collector.metrics.v1.MetricsService",
                metrics_service_pb2.ExportMetricsServiceResponse, "rejected_data_points"),
}


def _handler(ingestor: Ingestor, signal: str, token: str | None) -> grpc.RpcMethodHandler:
    _, resp_cls, field = _SERVICES[signal]

    def export(request: bytes, context: grpc.ServicerContext) -> Any:
        if token:
            # The same bearer token as HTTP, in the `authorization` metadata (how the
            # Collector's and the SDKs' `headers` setting sends it).
            got = next((v for k, v in context.invocation_metadata() if k == "authorization"), None)
            if not bearer_ok(got, token):
                context.abort(grpc.StatusCode.UNAUTHENTICATED,
                              "missing or wrong bearer token (send metadata authorization: Bearer <token>)")
        try:
            outcome = ingestor.submit_otlp(signal, request, otlp.PROTOBUF).result()
        except IngestError as exc:
            context.abort(grpc.StatusCode.INVALID_ARGUMENT, str(exc))
        except Overloaded as exc:
            context.abort(grpc.StatusCode.UNAVAILABLE, str(exc))
        except RunbriefError as exc:  # the store unavailable (retryable) or refused data (not)
            code = grpc.StatusCode.UNAVAILABLE if exc.http_status == 503 else grpc.StatusCode.INVALID_ARGUMENT
            context.abort(code, str(exc))
        response = resp_cls()
        if outcome.rejected:
            setattr(response.partial_success, field, outcome.rejected)
            response.partial_success.error_message = outcome.error_message
        return response

    return grpc.unary_unary_rpc_method_handler(export, request_deserializer=None,
                                               response_serializer=resp_cls.SerializeToString)


def start_grpc(ingestor: Ingestor, host: str, port: int, *, token: str | None = None) -> tuple[grpc.Server, int]:
    """Start the gRPC server; returns it and the bound port (port 0 picks a free one).

    With ``token``, every call needs ``authorization: Bearer <token>`` metadata."""
    server = grpc.server(
        futures.ThreadPoolExecutor(max_workers=8, thread_name_prefix="otlp-grpc"),
        options=[("grpc.max_receive_message_length", MAX_MESSAGE)],
    )
    server.add_generic_rpc_handlers([
        grpc.method_handlers_generic_handler(_SERVICES[signal][0], {"Export": _handler(ingestor, signal, token)})
        for signal in _SERVICES
    ])
    addr = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
    bound = server.add_insecure_port(addr)
    if not bound:
        raise OSError(f"cannot bind OTLP/gRPC to {addr}")
    server.start()
    return server, bound
