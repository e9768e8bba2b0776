"""Real OpenTelemetry SDK spans for the tests: recorded with a TracerProvider, exported to an
InMemorySpanExporter, encoded as OTLP protobuf and decoded by runbrief's own OTLP decoder
into the store, exactly the path a span takes from an app to ``runbrief serve``."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from opentelemetry import trace
from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import Status, StatusCode

from runbrief.ingest.otlp import decode_traces
from runbrief.ingest.pipeline import Batch, Pipeline
from runbrief.store.duck import Store

MS = 1_000_000


class Recorder:
    """Spans on an explicit clock (``at`` ms after a base 10 minutes ago), so durations are exact."""

    def __init__(self, service: str = "agent-app", **resource: Any) -> None:
        self.exporter = InMemorySpanExporter()
        self.provider = TracerProvider(resource=Resource.create({"service.name": service, **resource}))
        self.provider.add_span_processor(SimpleSpanProcessor(self.exporter))
        self.tracer = self.provider.get_tracer("tests.evals")
        self.base_ns = time.time_ns() - 10 * 60 * 1000 * MS

    @contextmanager
    def span(self, name: str, attrs: dict[str, Any] | None = None, *, at: float = 0, ms: float = 10,
             error: str | None = None, kind: trace.SpanKind = trace.SpanKind.INTERNAL) -> Iterator[trace.Span]:
        start = self.base_ns + int(at * MS)
        span = self.tracer.start_span(name, kind=kind, attributes=attrs or {}, start_time=start)
        with trace.use_span(span, end_on_exit=False):
            yield span
        if error:
            span.set_status(Status(StatusCode.ERROR, error))
        span.end(end_time=start + int(ms * MS))

    def write(self, store: Store) -> int:
        spans = self.exporter.get_finished_spans()
        body = encode_spans(spans).SerializeToString()
        batch = decode_traces(body, "application/x-protobuf")
        Pipeline(store).write(Batch(spans=batch.spans))
        self.exporter.clear()
        return len(spans)


def genai_chat(model: str, inp: int, out: int, **extra: object) -> dict[str, object]:
    """Attributes of an OpenTelemetry GenAI chat span (current names)."""
    return {"gen_ai.operation.name": "chat", "gen_ai.provider.name": "openai", "gen_ai.request.model": model,
            "gen_ai.usage.input_tokens": inp, "gen_ai.usage.output_tokens": out, **extra}


def genai_tool(name: str, args: dict[str, object] | str, **extra: object) -> dict[str, object]:
    return {"gen_ai.operation.name": "execute_tool", "gen_ai.tool.name": name,
            "gen_ai.tool.call.arguments": args if isinstance(args, str) else json.dumps(args), **extra}


def genai_agent(name: str, conversation: str) -> dict[str, object]:
    return {"gen_ai.operation.name": "invoke_agent", "gen_ai.agent.name": name, "gen_ai.conversation.id": conversation}
