"""``runbrief.instrument()``: point an app's OpenTelemetry at the local runbrief server.

    import runbrief
    rb = runbrief.instrument(service="shop")
    ...
    rb.shutdown()        # flushes; also registered with atexit

Configures the OpenTelemetry SDK for traces, metrics and logs (the standard ``logging``
module, bridged through an OpenTelemetry logging handler on the root logger), exporting
OTLP/HTTP to the server found by: ``endpoint=``, ``RUNBRIEF_URL``, the address ``runbrief
serve`` wrote to ``.runbrief/server.json``, else ``http://127.0.0.1:4318``. Installed
OpenTelemetry instrumentations (entry points ``opentelemetry_instrumentor``) are enabled.

Nothing is dropped silently: the SDK's batch processors drop records when their queue is
full, so the queues here are large (64k) and, when one fills anyway, the caller waits for
an export instead of losing the record (back-pressure instead of loss).
``RUNBRIEF_RUN_ID`` (e.g. a CI job ID) becomes the resource attribute ``test.run.id``, so
``runbrief gate --resource test.run.id=…`` can select exactly that run's traces.
"""

from __future__ import annotations

import atexit
import contextlib
import logging
import os
import sys
import types
import warnings
from collections.abc import Iterable
from dataclasses import dataclass, field
from importlib.metadata import entry_points
from typing import Any

from opentelemetry import metrics as otel_metrics
from opentelemetry import trace
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor

from runbrief.evals.record import agent_step, model_call, tool_call

__all__ = ["instrument", "Instrumented", "model_call", "tool_call", "agent_step", "resolve_endpoint"]

DEFAULT_ENDPOINT = "http://127.0.0.1:4318"
QUEUE = 65_536
BATCH = 2048
_log = logging.getLogger("runbrief.instrument")


class _NoDropSpanProcessor(BatchSpanProcessor):
    """A full queue makes the caller export (wait) rather than drop the span."""

    def __init__(self, exporter: Any, max_queue_size: int) -> None:
        super().__init__(exporter, max_queue_size=max_queue_size, max_export_batch_size=min(BATCH, max_queue_size),
                         schedule_delay_millis=1000)
        self._limit = max_queue_size

    def on_end(self, span: Any) -> None:
        queue = getattr(getattr(self, "_batch_processor", None), "_queue", None)
        if queue is not None and len(queue) >= self._limit - 1:
            self.force_flush()
        super().on_end(span)


def resolve_endpoint(endpoint: str | None = None) -> tuple[str, str | None]:
    """(base URL, bearer token) of the runbrief server to export to."""
    if endpoint:
        return endpoint.rstrip("/"), os.environ.get("RUNBRIEF_TOKEN")
    from runbrief.client import server_url

    found = server_url()
    if found is not None:
        return found
    return DEFAULT_ENDPOINT, os.environ.get("RUNBRIEF_TOKEN")


@dataclass
class Instrumented:
    """What ``instrument()`` set up; ``shutdown()`` flushes and undoes it."""

    service: str
    endpoint: str
    tracer_provider: TracerProvider
    meter_provider: Any = None
    logger_provider: Any = None
    log_handler: logging.Handler | None = None
    instrumentations: list[str] = field(default_factory=list)
    skipped: dict[str, str] = field(default_factory=dict)
    _instrumentors: list[Any] = field(default_factory=list, repr=False)
    _down: bool = False

    @property
    def tracer(self) -> trace.Tracer:
        return self.tracer_provider.get_tracer("runbrief.instrument")

    def model_call(self, model: str, **kw: Any) -> Any:
        return model_call(model, tracer=self.tracer, **kw)

    def tool_call(self, name: str, **kw: Any) -> Any:
        return tool_call(name, tracer=self.tracer, **kw)

    def agent_step(self, name: str, **kw: Any) -> Any:
        return agent_step(name, tracer=self.tracer, **kw)

    def force_flush(self, timeout_millis: int = 30_000) -> bool:
        ok = self.tracer_provider.force_flush(timeout_millis)
        if self.meter_provider is not None:
            ok = self.meter_provider.force_flush(timeout_millis) and ok
        if self.logger_provider is not None:
            ok = self.logger_provider.force_flush(timeout_millis) and ok
        return bool(ok)

    def shutdown(self) -> None:
        if self._down:
            return
        self._down = True
        for inst in self._instrumentors:
            # An instrumentor failing to undo itself must not stop the flush.
            with contextlib.suppress(Exception):
                inst.uninstrument()
        if self.log_handler is not None:
            logging.getLogger().removeHandler(self.log_handler)
        self.force_flush()
        self.tracer_provider.shutdown()
        if self.meter_provider is not None:
            self.meter_provider.shutdown()
        if self.logger_provider is not None:
            self.logger_provider.shutdown()


def _exporters(base: str, token: str | None) -> tuple[Any, Any, Any]:
    from opentelemetry.exporter.otlp.proto.http._log_exporter import OTLPLogExporter
    from opentelemetry.exporter.otlp.proto.http.metric_exporter import OTLPMetricExporter
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

    headers = {"Authorization": f"Bearer {token}"} if token else None
    return (OTLPSpanExporter(endpoint=f"{base}/v1/traces", headers=headers),
            OTLPMetricExporter(endpoint=f"{base}/v1/metrics", headers=headers),
            OTLPLogExporter(endpoint=f"{base}/v1/logs", headers=headers))


def _logging_bridge(logger_provider: Any, level: int) -> logging.Handler:
    try:  # the handler's current home; the SDK's copy is deprecated
        from opentelemetry.instrumentation.logging.handler import LoggingHandler
    except ImportError:
        from opentelemetry.sdk._logs import LoggingHandler  # type: ignore[no-redef]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        handler = LoggingHandler(level=level, logger_provider=logger_provider)
    root = logging.getLogger()
    root.addHandler(handler)
    if root.level > level or root.level == logging.NOTSET and level < logging.WARNING:
        root.setLevel(level)
    return handler


def _enable_instrumentations(tp: TracerProvider, mp: Any, include: Iterable[str] | None, exclude: set[str],
                             out: Instrumented) -> None:
    from opentelemetry.instrumentation.dependencies import get_dist_dependency_conflicts

    wanted = set(include) if include is not None else None
    for ep in entry_points(group="opentelemetry_instrumentor"):
        if ep.name in exclude or (wanted is not None and ep.name not in wanted):
            continue
        try:
            conflict = get_dist_dependency_conflicts(ep.dist) if ep.dist else None
            if conflict:
                out.skipped[ep.name] = str(conflict)
                continue
            inst = ep.load()()
            kwargs: dict[str, Any] = {"tracer_provider": tp, "meter_provider": mp}
            if ep.name == "logging":  # our own handler bridges logging; avoid a second one
                kwargs["enable_log_auto_instrumentation"] = False
            inst.instrument(**kwargs)
            out.instrumentations.append(ep.name)
            out._instrumentors.append(inst)
        except Exception as exc:  # noqa: BLE001 - one broken instrumentation must not stop the app
            out.skipped[ep.name] = f"{type(exc).__name__}: {exc}"


def instrument(
    service: str | None = None,
    endpoint: str | None = None,
    *,
    version: str | None = None,
    environment: str | None = None,
    resource_attributes: dict[str, Any] | None = None,
    traces: bool = True,
    metrics: bool = True,
    logs: bool = True,
    log_level: int = logging.INFO,
    instrumentations: Iterable[str] | bool | None = True,
    exclude: Iterable[str] = (),
    set_global: bool = True,
    max_queue_size: int = QUEUE,
    metric_interval_ms: int = 5000,
) -> Instrumented:
    """Configure OpenTelemetry to export traces, metrics and logs to the local runbrief server.

    ``instrumentations``: True enables every installed one, a list only those names, False none.
    Returns a handle with ``force_flush()``/``shutdown()`` and bound ``model_call``/``tool_call``/
    ``agent_step`` helpers. ``set_global`` installs the providers as the process-wide ones.
    """
    base, token = resolve_endpoint(endpoint)
    attrs: dict[str, Any] = dict(resource_attributes or {})
    attrs["service.name"] = service or os.environ.get("OTEL_SERVICE_NAME") or attrs.get("service.name") or "app"
    if version:
        attrs["service.version"] = version
    if environment:
        attrs["deployment.environment.name"] = environment
    if os.environ.get("RUNBRIEF_RUN_ID"):
        attrs.setdefault("test.run.id", os.environ["RUNBRIEF_RUN_ID"])
    resource = Resource.create(attrs)
    span_exp, metric_exp, log_exp = _exporters(base, token)

    tp = TracerProvider(resource=resource)
    if traces:
        tp.add_span_processor(_NoDropSpanProcessor(span_exp, max_queue_size))
    out = Instrumented(service=attrs["service.name"], endpoint=base, tracer_provider=tp)
    if metrics:
        from opentelemetry.sdk.metrics import MeterProvider
        from opentelemetry.sdk.metrics.export import PeriodicExportingMetricReader

        reader = PeriodicExportingMetricReader(metric_exp, export_interval_millis=metric_interval_ms)
        out.meter_provider = MeterProvider(resource=resource, metric_readers=[reader])
    if logs:
        from opentelemetry.sdk._logs import LoggerProvider
        from opentelemetry.sdk._logs.export import BatchLogRecordProcessor

        lp = LoggerProvider(resource=resource)
        lp.add_log_record_processor(BatchLogRecordProcessor(
            log_exp, max_queue_size=max_queue_size, max_export_batch_size=min(BATCH, max_queue_size),
            schedule_delay_millis=1000))
        out.logger_provider = lp
        out.log_handler = _logging_bridge(lp, log_level)
    if set_global:
        trace.set_tracer_provider(tp)
        if out.meter_provider is not None:
            otel_metrics.set_meter_provider(out.meter_provider)
        if out.logger_provider is not None:
            from opentelemetry._logs import set_logger_provider

            set_logger_provider(out.logger_provider)
    if instrumentations:
        include = None if instrumentations is True else list(instrumentations)  # type: ignore[arg-type]
        _enable_instrumentations(tp, out.meter_provider, include, set(exclude), out)
    atexit.register(out.shutdown)
    _log.debug("runbrief: exporting to %s; instrumentations %s", base, out.instrumentations)
    return out


class _CallableModule(types.ModuleType):
    """``runbrief.instrument`` is both this module and the function: importing the submodule
    rebinds the package attribute, so the module itself forwards calls to ``instrument``."""

    def __call__(self, *args: Any, **kwargs: Any) -> Instrumented:
        return instrument(*args, **kwargs)


sys.modules[__name__].__class__ = _CallableModule
