"""OTLP/HTTP receiver: POST /v1/logs, /v1/traces, /v1/metrics.

Status codes as the OTLP specification sets them: 200 with partial success when some
records were rejected, 400 with a Status message for an undecodable body, 413 for a body
over the limit (compressed or decompressed: a gzip bomb is cut off while inflating, never
inflated whole; every gzip member and zstd frame counts), 415 for an unsupported content type or encoding, 503 with Retry-After when
the write queue is full. Bodies may be gzip (what OTLP requires), zstd or deflate (what the
OpenTelemetry Collector also offers). The response uses the request's encoding.
"""

from __future__ import annotations

import asyncio

from google.protobuf import json_format
from google.rpc.status_pb2 import Status
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceResponse
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import ExportMetricsServiceResponse
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceResponse
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from runbrief.errors import IngestError, Overloaded, RunbriefError
from runbrief.ingest import otlp
from runbrief.ingest._decode import TooLarge, decompress
from runbrief.server.bodies import read_body

__all__ = ["routes"]

_RESPONSES = {
    "logs": (ExportLogsServiceResponse, "rejected_log_records"),
    "traces": (ExportTraceServiceResponse, "rejected_spans"),
    "metrics": (ExportMetricsServiceResponse, "rejected_data_points"),
}


def _encode(msg: object, json: bool) -> bytes:
    if json:
        return json_format.MessageToJson(msg, indent=None).encode()  # type: ignore[arg-type]
    return msg.SerializeToString()  # type: ignore[attr-defined]


# google.rpc.Code for the HTTP statuses we answer with.
_GRPC_CODE = {400: 3, 403: 7, 404: 5, 413: 8, 415: 3, 503: 14}


def _error(status: int, message: str, json: bool, headers: dict[str, str] | None = None) -> Response:
    body = _encode(Status(code=_GRPC_CODE.get(status, 2), message=message), json)
    return Response(body, status, media_type=otlp.JSON if json else otlp.PROTOBUF, headers=headers)


def _receiver(signal: str):  # noqa: ANN202 - a Starlette endpoint
    resp_cls, rejected_field = _RESPONSES[signal]

    async def receive(request: Request) -> Response:
        server = request.app.state.runbrief
        cfg = server.config
        ctype = request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
        json = ctype == otlp.JSON
        if ctype != otlp.JSON and ctype not in otlp.PROTOBUF_TYPES:
            return _error(415, f"unsupported content type {ctype or '(none)'!r}; send {otlp.PROTOBUF} or {otlp.JSON}",
                          False)
        declared = request.headers.get("content-length", "")
        try:
            # Refused before the body is read when its declared size cannot fit the queue.
            server.queue.admits(int(declared) if declared.isdigit() else 0)
        except Overloaded as exc:
            return _error(503, str(exc), json, {"Retry-After": str(exc.retry_after)})
        try:
            body = await read_body(request, cfg.max_body_bytes)
            encoding = request.headers.get("content-encoding", "").strip().lower()
            inflated = decompress(body, encoding, cfg.max_decompressed_bytes)
            if inflated is None:
                return _error(415, f"unsupported content encoding {encoding!r}; use gzip, zstd, deflate or none",
                              json)
            body = inflated
        except TooLarge:
            return _error(413, f"the body exceeds the limit ({cfg.max_body_bytes} bytes sent, "
                               f"{cfg.max_decompressed_bytes} decompressed); send smaller batches", json)
        except IngestError as exc:
            return _error(400, f"cannot decompress the body: {exc}", json)
        try:
            outcome = await asyncio.wrap_future(server.ingestor.submit_otlp(signal, body, ctype))
        except IngestError as exc:
            return _error(400, str(exc), json)
        except Overloaded as exc:
            return _error(503, str(exc), json, {"Retry-After": str(exc.retry_after)})
        except RunbriefError as exc:  # e.g. the disk full: its own (retryable) status
            retry = getattr(exc, "retry_after", None)
            return _error(exc.http_status, str(exc), json, {"Retry-After": str(retry)} if retry else None)
        resp = resp_cls()
        if outcome.rejected:
            setattr(resp.partial_success, rejected_field, outcome.rejected)
            resp.partial_success.error_message = outcome.error_message
        return Response(_encode(resp, json), 200, media_type=otlp.JSON if json else otlp.PROTOBUF)

    return receive


routes = [
    Route("/v1/logs", _receiver("logs"), methods=["POST"]),
    Route("/v1/traces", _receiver("traces"), methods=["POST"]),
    Route("/v1/metrics", _receiver("metrics"), methods=["POST"]),
]
