"""Record model calls, tool calls and agent steps with the OpenTelemetry GenAI conventions.

Each helper is a context manager and a decorator (sync or async functions)::

    with model_call("gpt-4o", provider="openai") as call:
        reply = client.chat(...)
        call.usage(reply.usage.prompt_tokens, reply.usage.completion_tokens)
        call.response(model=reply.model, finish_reasons=[reply.finish_reason])

    @tool_call("search")             # records the call's arguments as JSON
    def search(query: str) -> list[str]: ...

    with agent_step("planner", conversation_id="c-42"):   # children inherit the conversation
        ...

Spans follow the GenAI semantic conventions (``chat gpt-4o``, ``execute_tool search``,
``invoke_agent planner``; ``gen_ai.*`` attributes), a failure sets ``error.type`` and the
ERROR status, and model calls also feed the GenAI client metrics
``gen_ai.client.operation.duration`` (s) and ``gen_ai.client.token.usage``.
"""

from __future__ import annotations

import functools
import inspect
import time
from collections.abc import Callable, Sequence
from contextvars import ContextVar, Token
from typing import Any, TypeVar

import orjson
from opentelemetry import metrics, trace
from opentelemetry.trace import SpanKind, Status, StatusCode

__all__ = ["model_call", "tool_call", "agent_step", "GenAISpan"]

F = TypeVar("F", bound=Callable[..., Any])
_conversation: ContextVar[str | None] = ContextVar("runbrief_conversation", default=None)
_SCOPE = "runbrief.instrument"
_instruments: dict[str, Any] = {}


def _histograms() -> tuple[Any, Any]:
    if not _instruments:
        meter = metrics.get_meter(_SCOPE)
        _instruments["duration"] = meter.create_histogram(
            "gen_ai.client.operation.duration", unit="s", description="GenAI operation duration",
            explicit_bucket_boundaries_advisory=[0.01, 0.02, 0.04, 0.08, 0.16, 0.32, 0.64, 1.28, 2.56, 5.12, 10.24,
                                                 20.48, 40.96, 81.92])
        _instruments["tokens"] = meter.create_histogram(
            "gen_ai.client.token.usage", unit="{token}", description="Number of input and output tokens used",
            explicit_bucket_boundaries_advisory=[1, 4, 16, 64, 256, 1024, 4096, 16384, 65536, 262144, 1048576,
                                                 4194304, 16777216, 67108864])
    return _instruments["duration"], _instruments["tokens"]


def _json(value: Any) -> str:
    if isinstance(value, str):
        return value
    return orjson.dumps(value, default=repr, option=orjson.OPT_NON_STR_KEYS).decode()


class GenAISpan:
    """One GenAI operation: a context manager, a decorator, and the handle to annotate it."""

    def __init__(self, kind: str, name: str, attributes: dict[str, Any], *, span_kind: SpanKind,
                 tracer: trace.Tracer | None = None, conversation: str | None = None,
                 capture_args: bool = False) -> None:
        self.kind, self.name, self._attrs = kind, name, attributes
        self._span_kind, self._tracer = span_kind, tracer
        self._conversation = conversation
        self._capture_args = capture_args
        self.span: trace.Span = trace.INVALID_SPAN
        self._cm: Any = None
        self._token: Token[str | None] | None = None
        self._t0 = 0.0
        self._usage: tuple[int | None, int | None] = (None, None)

    # ------------------------------------------------------------ annotate
    def usage(self, input_tokens: int | None = None, output_tokens: int | None = None) -> None:
        self._usage = (input_tokens, output_tokens)
        if input_tokens is not None:
            self.span.set_attribute("gen_ai.usage.input_tokens", int(input_tokens))
        if output_tokens is not None:
            self.span.set_attribute("gen_ai.usage.output_tokens", int(output_tokens))

    def response(self, model: str | None = None, finish_reasons: Sequence[str] | None = None,
                 response_id: str | None = None) -> None:
        if model:
            self.span.set_attribute("gen_ai.response.model", model)
            self._attrs["gen_ai.response.model"] = model
        if finish_reasons:
            self.span.set_attribute("gen_ai.response.finish_reasons", list(finish_reasons))
        if response_id:
            self.span.set_attribute("gen_ai.response.id", response_id)

    def result(self, value: Any) -> None:
        """A tool call's result (``gen_ai.tool.call.result``; mind what it contains)."""
        self.span.set_attribute("gen_ai.tool.call.result", _json(value)[:8192])

    def set(self, key: str, value: Any) -> None:
        self.span.set_attribute(key, value)

    # ------------------------------------------------------------ context manager
    def __enter__(self) -> GenAISpan:
        tracer = self._tracer or trace.get_tracer(_SCOPE)
        conv = self._conversation or _conversation.get()
        attrs = dict(self._attrs)
        if conv:
            attrs["gen_ai.conversation.id"] = conv
        if self.kind == "agent" and self._conversation:
            self._token = _conversation.set(self._conversation)
        self._cm = tracer.start_as_current_span(self.name, kind=self._span_kind, attributes=attrs,
                                                record_exception=True, set_status_on_exception=False)
        self.span = self._cm.__enter__()
        self._t0 = time.perf_counter()
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: Any) -> None:
        elapsed = time.perf_counter() - self._t0
        try:
            if exc_type is not None:
                self.span.set_attribute("error.type", exc_type.__qualname__)
                self.span.set_status(Status(StatusCode.ERROR, str(exc)[:1024]))
            if self.kind == "model":
                self._metrics(elapsed, exc_type)
        finally:
            if self._token is not None:
                _conversation.reset(self._token)
                self._token = None
            self._cm.__exit__(exc_type, exc, tb)

    def _metrics(self, elapsed: float, exc_type: type[BaseException] | None) -> None:
        duration, tokens = _histograms()
        keys = ("gen_ai.operation.name", "gen_ai.provider.name", "gen_ai.request.model", "gen_ai.response.model")
        attrs = {k: self._attrs[k] for k in keys if self._attrs.get(k)}
        if exc_type is not None:
            attrs["error.type"] = exc_type.__qualname__
        duration.record(elapsed, attrs)
        for kind, n in zip(("input", "output"), self._usage, strict=True):
            if n is not None:
                tokens.record(int(n), {**attrs, "gen_ai.token.type": kind})

    # ------------------------------------------------------------ decorator
    def _fresh(self) -> GenAISpan:
        return GenAISpan(self.kind, self.name, dict(self._attrs), span_kind=self._span_kind, tracer=self._tracer,
                         conversation=self._conversation, capture_args=self._capture_args)

    def _bind_args(self, fn: Callable[..., Any], call: GenAISpan, args: tuple, kwargs: dict) -> None:
        if not self._capture_args:
            return
        try:
            bound = inspect.signature(fn).bind_partial(*args, **kwargs)
            values = {k: v for k, v in bound.arguments.items() if k not in ("self", "cls")}
            call.span.set_attribute("gen_ai.tool.call.arguments", _json(values)[:8192])
        except (TypeError, ValueError):
            pass

    def __call__(self, fn: F) -> F:
        if inspect.iscoroutinefunction(fn):
            @functools.wraps(fn)
            async def awrapper(*args: Any, **kwargs: Any) -> Any:
                with self._fresh() as call:
                    self._bind_args(fn, call, args, kwargs)
                    return await fn(*args, **kwargs)
            return awrapper  # type: ignore[return-value]

        @functools.wraps(fn)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            with self._fresh() as call:
                self._bind_args(fn, call, args, kwargs)
                return fn(*args, **kwargs)
        return wrapper  # type: ignore[return-value]


def model_call(model: str, *, provider: str | None = None, operation: str = "chat",
               conversation_id: str | None = None, tracer: trace.Tracer | None = None,
               **attributes: Any) -> GenAISpan:
    """A model call (``chat``, ``text_completion``, ``embeddings``…) as a CLIENT span."""
    attrs = {"gen_ai.operation.name": operation, "gen_ai.request.model": model, **attributes}
    if provider:
        attrs["gen_ai.provider.name"] = provider
    return GenAISpan("model", f"{operation} {model}", attrs, span_kind=SpanKind.CLIENT, tracer=tracer,
                     conversation=conversation_id)


def tool_call(name: str, *, arguments: Any = None, call_id: str | None = None, record_arguments: bool = True,
              tracer: trace.Tracer | None = None, **attributes: Any) -> GenAISpan:
    """A tool call. Arguments are recorded (``gen_ai.tool.call.arguments``) so loops can be
    seen; pass ``record_arguments=False`` when they may hold secrets."""
    attrs: dict[str, Any] = {"gen_ai.operation.name": "execute_tool", "gen_ai.tool.name": name, **attributes}
    if call_id:
        attrs["gen_ai.tool.call.id"] = call_id
    if arguments is not None and record_arguments:
        attrs["gen_ai.tool.call.arguments"] = _json(arguments)[:8192]
    return GenAISpan("tool", f"execute_tool {name}", attrs, span_kind=SpanKind.INTERNAL, tracer=tracer,
                     capture_args=record_arguments and arguments is None)


def agent_step(name: str, *, conversation_id: str | None = None, agent_id: str | None = None,
               tracer: trace.Tracer | None = None, **attributes: Any) -> GenAISpan:
    """An agent step (``invoke_agent``); model and tool calls inside inherit its conversation."""
    attrs: dict[str, Any] = {"gen_ai.operation.name": "invoke_agent", "gen_ai.agent.name": name, **attributes}
    if agent_id:
        attrs["gen_ai.agent.id"] = agent_id
    return GenAISpan("agent", f"invoke_agent {name}", attrs, span_kind=SpanKind.INTERNAL, tracer=tracer,
                     conversation=conversation_id)
