"""The ingest pipeline: a batch of normalized records → prepared → one store transaction.

Every source (OTLP over HTTP or gRPC, files, kubectl, CI hooks) ends here, so the rules
that must hold for all of them live here once: records of a batch commit together or not
at all (an acknowledged batch is durable), secrets are redacted and log lines get their
pattern before they are stored, and hooks see every batch.

The work is split in two because only one process may write the store:

- ``Preparer.prepare(batch)`` needs no store: batch hooks (redaction, Kubernetes events
  carried as OTLP logs), distill, and the Arrow tables of the rows. The server runs it in
  ingest worker processes, in parallel, each owning the services routed to it.
- ``commit(store, prepared)`` is the store's writer: commit hooks that need the store
  (deploys inferred from ``service.version``, Kubernetes owner correlation), IDs, and the
  inserts, in one transaction per group of batches.

``Pipeline`` is both in one process, for file ingest and tests.
"""

from __future__ import annotations

import threading
import time
import weakref
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from operator import attrgetter
from typing import TYPE_CHECKING, Any, Protocol

import pyarrow as pa
import pyarrow.compute as pc

from runbrief.distill import persist
from runbrief.records import Deploy, Event, LogRecord, MetricPoint, ResourceSeen, Span
from runbrief.store import writer

if TYPE_CHECKING:
    from runbrief.distill.distiller import Distilled
    from runbrief.store.duck import Store

__all__ = ["Batch", "Prepared", "Preparer", "Pipeline", "commit", "unfolded", "forget_written", "batch_hook",
           "commit_hook", "Distills", "FOLD_S"]


@dataclass
class Batch:
    logs: list[LogRecord] = field(default_factory=list)
    spans: list[Span] = field(default_factory=list)
    metrics: list[MetricPoint] = field(default_factory=list)
    events: list[Event] = field(default_factory=list)
    deploys: list[Deploy] = field(default_factory=list)
    # Kubernetes objects (pods, replica sets) seen in the input, for owner correlation.
    objects: list[dict[str, Any]] = field(default_factory=list)

    def extend(self, other: Batch) -> None:
        self.logs.extend(other.logs)
        self.spans.extend(other.spans)
        self.metrics.extend(other.metrics)
        self.events.extend(other.events)
        self.deploys.extend(other.deploys)
        self.objects.extend(other.objects)

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


_TIMES = ((attrgetter("ts_ns"), attrgetter("ts_ns")), (attrgetter("start_ns"), attrgetter("end_ns")),
          (attrgetter("ts_ns"), attrgetter("ts_ns")))


def _resources_seen(batch: Batch) -> list[ResourceSeen]:
    """Each resource of the batch with the span of its records' times. This runs for every
    record; most batches come from one resource (an OTLP request from one SDK), which is
    read with C-level passes only."""
    seen: dict[int, ResourceSeen] = {}

    def note(res: Any, first: int, last: int) -> None:
        got = seen.get(id(res))
        if got is None:
            seen[id(res)] = ResourceSeen(res, first, last)
        else:
            got.first_ns, got.last_ns = min(got.first_ns, first), max(got.last_ns, last)

    for records, (first_of, last_of) in zip((batch.logs, batch.spans, batch.metrics), _TIMES, strict=True):
        if not records:
            continue
        resources = list(map(attrgetter("resource"), records))
        if resources.count(resources[0]) == len(resources):
            note(resources[0], min(map(first_of, records)), max(map(last_of, records)))
        else:
            for r, res in zip(records, resources, strict=True):
                note(res, first_of(r), last_of(r))
    return list(seen.values())


@dataclass
class Prepared:
    """A batch made ready for the store: rows as Arrow tables, plus what the commit hooks
    and the distill writes need. Plain data, so it can cross from a worker process."""

    logs: pa.Table | None = None  # the logs table's rows, IDs included
    spans: pa.Table | None = None
    metrics: pa.Table | None = None
    events: list[Event] = field(default_factory=list)
    deploys: list[Deploy] = field(default_factory=list)
    objects: list[dict[str, Any]] = field(default_factory=list)
    resources: list[ResourceSeen] = field(default_factory=list)
    patterns: dict[str, tuple[str, str | None]] = field(default_factory=dict)  # id -> (template, severity)
    aliases: dict[str, str] = field(default_factory=dict)
    states: dict[str, bytes] = field(default_factory=dict)  # miner_state key -> serialized miner
    rejected: int = 0  # records refused by the decoder (OTLP partial success)
    errors: list[str] = field(default_factory=list)

    def counts(self) -> dict[str, int]:
        return {
            "logs": self.logs.num_rows if self.logs is not None else 0,
            "spans": self.spans.num_rows if self.spans is not None else 0,
            "metric_points": self.metrics.num_rows if self.metrics is not None else 0,
            "events": len(self.events),
            "deploys": len(self.deploys),
        }

    def __len__(self) -> int:
        return sum(self.counts().values())

    @property
    def max_ts(self) -> int:
        return max((r.last_ns for r in self.resources), default=0)

    # Crossing from a worker: each table as one Arrow IPC stream. Pickle reduces a table
    # column by column in Python (0.70 ms for 2,000 log rows, against 0.16 ms as IPC), and
    # the reader maps the stream's buffers without copying them.
    _TABLES = ("logs", "spans", "metrics")

    def __getstate__(self) -> dict[str, Any]:
        state = dict(self.__dict__)
        for name in self._TABLES:
            tbl = state[name]
            if tbl is not None:
                sink = pa.BufferOutputStream()
                with pa.ipc.new_stream(sink, tbl.schema) as w:
                    w.write_table(tbl)
                state[name] = sink.getvalue().to_pybytes()
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        for name in self._TABLES:
            if state[name] is not None:
                state[name] = pa.ipc.open_stream(state[name]).read_all()
        self.__dict__.update(state)

    @classmethod
    def merge(cls, group: list[Prepared]) -> Prepared:
        """One Prepared for a group commit. Aliases apply in order; pattern rows keep the
        latest template per ID."""
        if len(group) == 1:
            return group[0]
        out = cls()  # also the empty group of a fold on its own
        for p in group:
            out.events.extend(p.events)
            out.deploys.extend(p.deploys)
            out.objects.extend(p.objects)
            out.resources.extend(p.resources)
            out.aliases.update(p.aliases)
            out.patterns.update(p.patterns)  # the latest template per ID
            out.states.update(p.states)
            out.rejected += p.rejected
            out.errors.extend(p.errors)
        out.logs = _concat([p.logs for p in group])
        out.spans = _concat([p.spans for p in group])
        out.metrics = _concat([p.metrics for p in group])
        return out


def _id_range(logs: pa.Table) -> tuple[int, int]:
    got = pc.min_max(logs["id"]).as_py()
    return got["min"], got["max"]


def _concat(tables: Iterable[pa.Table | None]) -> pa.Table | None:
    got = [t for t in tables if t is not None and t.num_rows]
    if not got:
        return None
    return got[0] if len(got) == 1 else pa.concat_tables(got)


class Distills(Protocol):
    """What the pipeline needs from distill (runbrief.distill.distiller.Distiller)."""

    def process(self, records: list[LogRecord]) -> None:
        """Fill pattern_id and severity_inferred on each record, in place."""

    def take(self, *, final: bool = False) -> Distilled:
        """The pattern rows, aliases and state changes since the last call (``final``: a
        state held back is handed over now)."""


PrepareHook = Callable[[Batch], None]
CommitHook = Callable[["Store", Prepared], None]
_PREPARE_HOOKS: list[PrepareHook] = []
_COMMIT_HOOKS: list[CommitHook] = []


def batch_hook(fn: PrepareHook) -> PrepareHook:
    """Register a function that sees (and may change) every batch before it is prepared.
    It gets no store: it may run in an ingest worker process."""
    _PREPARE_HOOKS.append(fn)
    return fn


def commit_hook(fn: CommitHook) -> CommitHook:
    """Register a function that sees every prepared batch on the store's writer, before
    its transaction; it may read the store and add events or deploys."""
    _COMMIT_HOOKS.append(fn)
    return fn


def _load_hooks() -> None:
    # Modules that register hooks; imported here so every preparer and writer has them.
    import runbrief.ingest.hooks  # noqa: F401


class Preparer:
    """Turns batches into ``Prepared``; owns a Distiller (built on first log batch)."""

    def __init__(self, distiller: Distills | None = None, *, make: Callable[[], Distills] | None = None) -> None:
        """``distiller``, or ``make`` to build one on the first log batch (default: a fresh
        Distiller)."""
        _load_hooks()
        self._distiller = distiller
        self._make = make

    @property
    def distiller(self) -> Distills:
        # Built on first use: span- or metric-only preparers never load the miner's state.
        if self._distiller is None:
            if self._make is None:
                from runbrief.distill.distiller import Distiller

                self._distiller = Distiller()
            else:
                self._distiller = self._make()
        return self._distiller

    def prepare(self, batch: Batch, first_log_id: int) -> Prepared:
        """``first_log_id`` starts a range of ``len(batch.logs)`` IDs reserved for its log
        records (``Store.next_ids``); records a hook drops leave their IDs unused.

        One record that breaks a step (a hook, distill, a column's type) must not cost the
        rest of its batch, nor the other requests of its group commit: the batch is then
        prepared in halves down to the record, which is left out and counted in
        ``rejected`` with the reason (OTLP partial success, the ingest summary)."""
        try:
            for hook in _PREPARE_HOOKS:
                hook(batch)
        except Exception:  # noqa: BLE001 - isolated below; re-raised for a single record
            return self._isolated(batch, first_log_id, hooks=True)
        try:
            return self._rows(batch, first_log_id)
        except Exception:  # noqa: BLE001 - as above
            return self._isolated(batch, first_log_id, hooks=False)

    def _rows(self, batch: Batch, first_log_id: int, resources: bool = True) -> Prepared:
        out = Prepared(events=batch.events, deploys=batch.deploys, objects=batch.objects,
                       resources=_resources_seen(batch) if resources else [])
        if batch.logs:
            d = self.distiller
            d.process(batch.logs)
            out.logs = writer.logs_table(batch.logs, first_log_id)
            taken = d.take()
            out.patterns, out.aliases = taken.patterns, taken.aliases
            if taken.state is not None:
                out.states[taken.state[0]] = taken.state[1]
        if batch.spans:
            out.spans = writer.spans_table(batch.spans)
        if batch.metrics:
            out.metrics = writer.metrics_table(batch.metrics)
        return out

    def _isolated(self, batch: Batch, first_log_id: int, *, hooks: bool) -> Prepared:
        parts: list[Prepared] = []
        kept = Batch()
        errors: list[str] = []

        def run(kind: str, recs: list[Any], offset: int) -> None:
            sub = Batch(**{kind: recs})
            try:
                if hooks:
                    for hook in _PREPARE_HOOKS:
                        hook(sub)
                parts.append(self._rows(sub, first_log_id + offset, resources=False))
                getattr(kept, kind).extend(getattr(sub, kind))
                kept.events.extend(sub.events)
            except Exception as exc:  # noqa: BLE001 - one record's failure, reported
                if len(recs) > 1:
                    mid = len(recs) // 2
                    run(kind, recs[:mid], offset)
                    run(kind, recs[mid:], offset + mid)
                    return
                noun = {"logs": "a log record", "spans": "a span", "metrics": "a metric point"}[kind]
                errors.append(f"{noun} could not be stored ({type(exc).__name__}: {str(exc)[:200]})")

        for kind in ("logs", "spans", "metrics"):
            recs = getattr(batch, kind)
            if recs:
                run(kind, list(recs), 0)
        kept.events.extend(batch.events)
        base = Prepared(events=batch.events, deploys=batch.deploys, objects=batch.objects,
                        resources=_resources_seen(kept))
        out = Prepared.merge([base, *parts])
        out.rejected += len(errors)
        out.errors.extend(errors)
        return out

    def final(self) -> Prepared:
        """What the distiller still holds back (a throttled miner state), for its owner's
        last commit before it stops."""
        out = Prepared()
        if self._distiller is not None:
            taken = self._distiller.take(final=True)
            out.patterns, out.aliases = taken.patterns, taken.aliases
            if taken.state is not None:
                out.states[taken.state[0]] = taken.state[1]
        return out


@dataclass
class _Written:
    """What this store's writer knows it committed, so a group does not rewrite rows that
    would not change (each such upsert costs milliseconds however few its rows), and what
    it holds back until the next fold (see ``commit``)."""

    resources: dict[str, int] = field(default_factory=dict)  # fingerprint -> last_seen written (ns)
    patterns: dict[str, tuple[str, str | None]] = field(default_factory=dict)  # id -> (template, severity)
    aliases: persist.AliasMap | None = None  # the store's retired pattern IDs (loaded on first commit)
    # Held until the next fold: resources whose last_seen moved on, the newest miner states.
    stale: dict[str, ResourceSeen] = field(default_factory=dict)
    states: dict[str, bytes] = field(default_factory=dict)
    unfolded: bool = True  # logs_unfolded may hold ranges (unknown at start: look)
    folded_at: float = float("-inf")  # time.monotonic() of the last fold (none yet: the first commit folds)

    RESOURCE_STEP_NS = 60 * 10**9  # a resource's last_seen is kept to within this (data time)

    def fold_due(self) -> bool:
        return time.monotonic() - self.folded_at >= FOLD_S

    def fresh_resources(self, seen: list[ResourceSeen], fold: bool) -> list[ResourceSeen]:
        """The resources to upsert now: new ones always; ones whose last_seen moved on by
        RESOURCE_STEP_NS at a fold (held in ``stale`` until then)."""
        out = []
        for s in seen:
            fp = s.resource.fingerprint
            last = self.resources.get(fp)
            if last is None:
                out.append(s)
            elif s.last_ns - last >= self.RESOURCE_STEP_NS:
                held = self.stale.get(fp)
                if held is None:
                    self.stale[fp] = ResourceSeen(s.resource, s.first_ns, s.last_ns)
                else:
                    held.first_ns, held.last_ns = min(held.first_ns, s.first_ns), max(held.last_ns, s.last_ns)
        if fold:
            out.extend(self.stale.values())
        return out

    def fresh_patterns(self, patterns: dict[str, tuple[str, str | None]]) -> dict[str, tuple[str, str | None]]:
        return {pid: row for pid, row in patterns.items() if self.patterns.get(pid) != row}

    def committed(self, resources: list[ResourceSeen], patterns: dict[str, tuple[str, str | None]],
                  aliases: dict[str, str], logs: bool, folded: bool) -> None:
        for s in resources:
            fp = s.resource.fingerprint
            self.resources[fp] = max(self.resources.get(fp, 0), s.last_ns)
        if folded:
            self.stale.clear()
            self.states.clear()
            self.unfolded = False
            self.folded_at = time.monotonic()
        elif logs:
            self.unfolded = True
        if len(self.patterns) > 200_000:
            self.patterns.clear()
        self.patterns.update(patterns)
        for old, new in aliases.items():  # rows moved or deleted: write them afresh next time
            self.patterns.pop(old, None)
            self.patterns.pop(new, None)


FOLD_S = 0.5  # under load, derived rows are folded into their tables at most this long apart

_WRITTEN: weakref.WeakKeyDictionary[Any, _Written] = weakref.WeakKeyDictionary()


def _written(store: Store) -> _Written:
    w = _WRITTEN.get(store)
    if w is None:
        w = _WRITTEN[store] = _Written()
    return w


def forget_written(store: Store) -> None:
    """Rows were deleted behind the writer's back (retention): drop what it remembers.
    Call it holding the store's write lock, as commits use these while they hold it."""
    w = _written(store)
    w.resources.clear()
    w.patterns.clear()


def unfolded(store: Store) -> bool:
    """Whether a deferred commit left derived rows for a fold (``commit(store, [])``)."""
    w = _written(store)
    return w.unfolded or bool(w.stale or w.states)


def commit(store: Store, group: list[Prepared], *, defer: bool = False) -> dict[str, int]:
    """Write prepared batches in one transaction (the store's single writer).

    Records are always written here, whatever ``defer`` says, with a note of their log IDs
    in logs_unfolded. What is derived from them (pattern_counts, each pattern's first/last
    seen and count, resources' last_seen, the miners' states) is written by a fold: at
    once by default; with ``defer`` (the server's writer), at most every FOLD_S seconds,
    or sooner when a reader asks (``Store.settle``) or the writer goes idle. A fold costs
    tens of milliseconds whatever its size, so under load this runs it twice a second
    instead of once a commit. A crash loses nothing: the notes are durable with their logs
    and the next writer folds them first; held resource times and miner states are
    refreshed by later records.
    """
    _load_hooks()
    ranges = [_id_range(p.logs) for p in group if p.logs is not None and p.logs.num_rows]
    prep = Prepared.merge(group)
    for hook in _COMMIT_HOOKS:
        hook(store, prep)
    evt_id = store.next_ids("events", len(prep.events)) if prep.events else 0
    dep_id = store.next_ids("deploys", len(prep.deploys)) if prep.deploys else 0
    known = _written(store)
    fold = not defer or known.fold_due()
    resources = known.fresh_resources(prep.resources, fold)
    patterns = prep.patterns if prep.aliases else known.fresh_patterns(prep.patterns)
    if fold:
        states = {**known.states, **prep.states}
    else:
        known.states.update(prep.states)
        states = {}
    with store.write() as con:
        if known.aliases is None:
            known.aliases = persist.AliasMap.load(con)
        aliases = persist.AliasMap(known.aliases)  # the committed map is updated only on success
        writer.upsert_resources(con, resources)
        if prep.aliases:
            persist.write_aliases(con, prep.aliases)
            aliases.add(prep.aliases)
        if prep.logs is not None:
            logs = prep.logs
            if aliases:
                i = logs.schema.get_field_index("pattern_id")
                logs = logs.set_column(i, "pattern_id", aliases.repoint(logs["pattern_id"]))
            writer.insert_table(con, "logs", logs)
        persist.note_unfolded(con, ranges)
        if fold:
            persist.fold(con)
        persist.write_templates(con, patterns, aliases)
        writer.insert_table(con, "spans", prep.spans)
        writer.insert_table(con, "metric_points", prep.metrics)
        writer.insert_events(con, prep.events, evt_id)
        writer.insert_deploys(con, prep.deploys, dep_id)
        for key, blob in states.items():
            persist.save_state(con, key, blob)
    known.aliases = aliases
    known.committed(resources, patterns, prep.aliases, bool(ranges), fold)
    return prep.counts()


class Pipeline:
    """Prepare and commit in this process. Thread-safe; one batch at a time."""

    def __init__(self, store: Store, distiller: Distills | None = None) -> None:
        self.store = store
        self.preparer = Preparer(distiller, make=self._from_store)
        self._lock = threading.Lock()

    def _from_store(self) -> Distills:
        from runbrief.distill.distiller import Distiller

        return Distiller.from_store(self.store)

    @property
    def distiller(self) -> Distills:
        return self.preparer.distiller

    def _first_id(self, batch: Batch) -> int:
        return self.store.next_ids("logs", len(batch.logs)) if batch.logs else 0

    def write(self, batch: Batch) -> dict[str, Any]:
        """Store ``batch``; the counts stored, plus ``rejected`` and ``errors`` when a
        record could not be (it is left out alone: the rest is committed)."""
        with self._lock:
            prep = self.preparer.prepare(batch, self._first_id(batch))
            out: dict[str, Any] = commit(self.store, [prep])
            if prep.rejected:
                out["rejected"], out["errors"] = prep.rejected, list(prep.errors)
            return out
