"""Hand-built spans for the cases an SDK will not produce: broken traces and thresholds."""

from __future__ import annotations

import itertools
from typing import Any

from runbrief.ingest.pipeline import Batch, Pipeline
from runbrief.records import Resource, Span, SpanEvent
from runbrief.store.duck import Store

MS = 1_000_000
T0 = 1_790_000_000_000_000_000
_ids = itertools.count(1)


def tid(n: int) -> str:
    return f"{n:032x}"


def sid() -> str:
    return f"{next(_ids):016x}"


def span(trace: str, name: str, start_ms: float, end_ms: float, parent: str = "", *, service: str = "app",
         kind: str = "INTERNAL", status: str = "UNSET", span_id: str | None = None, error: str | None = None,
         **attrs: Any) -> Span:
    events = [SpanEvent("exception", T0, {"exception.type": "ValueError", "exception.message": error})] if error else []
    return Span(trace_id=trace, span_id=span_id or sid(), name=name, start_ns=T0 + int(start_ms * MS),
                end_ns=T0 + int(end_ms * MS), resource=Resource({"service.name": service}), parent_span_id=parent,
                kind=kind, status_code=status, attributes={k.replace("__", "."): v for k, v in attrs.items()},
                events=events)


def db(trace: str, parent: str, sql: str, start_ms: float, dur_ms: float, **kw: Any) -> Span:
    return span(trace, sql.split()[0], start_ms, start_ms + dur_ms, parent, kind="CLIENT",
                db__system="postgresql", db__query__text=sql, **kw)


def write(store: Store, spans: list[Span]) -> None:
    Pipeline(store).write(Batch(spans=spans))
