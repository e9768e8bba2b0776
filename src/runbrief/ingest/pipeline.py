"""The ingest pipeline: a batch of normalized records → distill → one store transaction.

Every source (OTLP over HTTP or gRPC, files, kubectl, CI hooks) ends here, so the rules
that must hold for all of them live here once: records of a batch commit together or not
at all (an acknowledged batch is durable), log lines get their pattern before they are
stored, and batch hooks (deploys inferred from ``service.version``, Kubernetes events
that arrive as OTLP logs) see every batch.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol

from runbrief.records import Deploy, Event, LogRecord, MetricPoint, Span
from runbrief.store import writer

if TYPE_CHECKING:
    import duckdb

    from runbrief.store.duck import Store

__all__ = ["Batch", "Pipeline", "batch_hook", "Distills"]


@dataclass
class Batch:
    logs: list[LogRecord] = field(default_factory=list)
    spans: list[Span] = field(default_factory=list)
    metrics: list[MetricPoint] = field(default_factory=list)
    events: list[Event] = field(default_factory=list)
    deploys: list[Deploy] = field(default_factory=list)

    def extend(self, other: Batch) -> None:
        self.logs.extend(other.logs)
        self.spans.extend(other.spans)
        self.metrics.extend(other.metrics)
        self.events.extend(other.events)
        self.deploys.extend(other.deploys)

    def counts(self) -> dict[str, int]:
        return {
            "logs": len(self.logs),
            "spans": len(self.spans),
            "metric_points": len(self.metrics),
            "events": len(self.events),
            "deploys": len(self.deploys),
        }

    def __len__(self) -> int:
        return len(self.logs) + len(self.spans) + len(self.metrics) + len(self.events) + len(self.deploys)


class Distills(Protocol):
    """What the pipeline needs from distill (runbrief.distill.distiller.Distiller)."""

    def process(self, records: list[LogRecord]) -> None:
        """Fill pattern_id, params and severity_inferred on each record, in place."""

    def flush(self, con: duckdb.DuckDBPyConnection) -> None:
        """Write pattern changes and per-minute counts inside the caller's transaction."""


BatchHook = Callable[["Store", Batch], None]
_HOOKS: list[BatchHook] = []


def batch_hook(fn: BatchHook) -> BatchHook:
    """Register a function that sees (and may add to) every batch before it is written."""
    _HOOKS.append(fn)
    return fn


def _default_distiller(store: Store) -> Distills:
    from runbrief.distill.distiller import Distiller

    return Distiller(store)


class Pipeline:
    """Owns the write path of one store. Thread-safe; one batch at a time."""

    def __init__(self, store: Store, distiller: Distills | None = None) -> None:
        self.store = store
        self._distiller = distiller
        self._lock = threading.Lock()
        self._load_hooks()

    @staticmethod
    def _load_hooks() -> None:
        # Modules that register batch hooks; imported here so every writer has them.
        import runbrief.ingest.hooks  # noqa: F401

    @property
    def distiller(self) -> Distills:
        # Built on first use: span- or metric-only writers never load the miner's state.
        if self._distiller is None:
            self._distiller = _default_distiller(self.store)
        return self._distiller

    def write(self, batch: Batch) -> dict[str, int]:
        with self._lock:
            for hook in _HOOKS:
                hook(self.store, batch)
            if batch.logs:
                self.distiller.process(batch.logs)
            store = self.store
            log_id = store.next_ids("logs", len(batch.logs)) if batch.logs else 0
            evt_id = store.next_ids("events", len(batch.events)) if batch.events else 0
            dep_id = store.next_ids("deploys", len(batch.deploys)) if batch.deploys else 0
            resources = [r.resource for r in batch.logs] + [s.resource for s in batch.spans] + [
                m.resource for m in batch.metrics
            ]
            ts = max((r.ts_ns for r in batch.logs), default=0) or max((s.end_ns for s in batch.spans), default=0)
            with store.write() as con:
                writer.upsert_resources(con, resources, ts)
                writer.insert_logs(con, batch.logs, log_id)
                writer.insert_spans(con, batch.spans)
                writer.insert_metrics(con, batch.metrics)
                writer.insert_events(con, batch.events, evt_id)
                writer.insert_deploys(con, batch.deploys, dep_id)
                if batch.logs:
                    if getattr(self.distiller, "takes_first_log_id", False):
                        self.distiller.flush(con, first_log_id=log_id)  # type: ignore[call-arg]
                    else:
                        self.distiller.flush(con)
            return batch.counts()
