"""The server's way in for telemetry: OTLP payloads and batches → prepared → write queue.

Why worker processes: decoding, redaction, distill and building the Arrow rows are Python,
and under one interpreter they shared one core with the receivers and the writer. Here
they run in a pool of processes (one per core by default) and only the prepared rows
cross back to the store's single writer, whose DuckDB work runs outside the GIL.

Why routing by service: each worker owns a log miner, and a service's lines must always
meet the same miner for its patterns to stay one set. A request is split by resource
(``service.name``) before it is sent; a request from one service (what SDK exporters send)
goes whole, as it came. A service seen for the first time goes to the worker that has
been sent the fewest records, and stays there (the map is saved with the miners' state,
so a restart keeps it). Traces and metrics need no miner and go round robin.

With ``workers=0`` everything runs in the server process, as the in-process ``Pipeline``.
"""

from __future__ import annotations

import contextlib
import functools
import gc
import itertools
import logging
import multiprocessing
import os
import signal
import threading
import time
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, NamedTuple

import orjson

from runbrief.errors import IngestError, Overloaded
from runbrief.ingest import otlp
from runbrief.ingest.pipeline import Batch, Prepared, Preparer
from runbrief.records import Resource

if TYPE_CHECKING:
    from runbrief.server.write_queue import Reservation, WriteQueue
    from runbrief.store.duck import Store

__all__ = ["Ingestor", "Outcome", "cores", "default_workers", "shard_key"]

log = logging.getLogger("runbrief.server")

# A worker's miner hands over its state at most this often (and once more when it stops):
# see Distiller's ``state_every_s``.
STATE_EVERY_S = 2.0


def cores() -> int:
    """The cores this process may run on."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)


def default_workers() -> int:
    """One ingest worker per core (at most 8); none on a single core, where a second
    process would only add copying."""
    n = cores()
    return 0 if n < 2 else min(n, 8)


def shard_key(index: int, count: int) -> str:
    """The miner_state key of worker ``index`` of ``count``."""
    return f"miner:{index}/{count}"


def routes_key(count: int) -> str:
    """The miner_state key of the service -> worker map for ``count`` workers."""
    return f"routes/{count}"


@dataclass
class Outcome:
    """What the receiver answers with once a request is committed."""

    counts: dict[str, int] = field(default_factory=dict)
    rejected: int = 0
    errors: list[str] = field(default_factory=list)

    @property
    def error_message(self) -> str:
        return otlp.error_summary(self.errors)


# ------------------------------------------------------------------ worker side
_PREPARER: Preparer | None = None


def _worker_init(key: str, state: bytes | None) -> None:
    # Ctrl-C reaches the whole process group: the server decides when workers stop.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    # A worker holds both ends of its task queue, so a server that dies without closing it
    # (SIGKILL, a crash) would leave it waiting forever: it leaves when its parent does.
    parent = os.getppid()

    def watch_parent() -> None:
        while os.getppid() == parent:
            time.sleep(0.5)
        os._exit(0)

    threading.Thread(target=watch_parent, name="runbrief-parent-watch", daemon=True).start()
    global _PREPARER
    from runbrief.distill.distiller import Distiller

    _PREPARER = Preparer(make=lambda: Distiller(state, key, state_every_s=STATE_EVERY_S))


def _worker_ready() -> int:
    return os.getpid()


def _worker_final() -> Prepared:
    assert _PREPARER is not None
    return _PREPARER.final()


def _gc_paused(fn: Any) -> Any:
    """Run ``fn`` with the cyclic GC paused. A request allocates hundreds of thousands of
    small acyclic objects (records, dicts, strings) that reference counting frees; the
    young-generation collections they trigger cost ~1 us a record (measured) and find
    nothing. The collector runs as usual between requests."""

    @functools.wraps(fn)  # keeps the name, so the pool can pickle a reference to it
    def wrapper(*args: Any) -> Any:
        gc.disable()
        try:
            return fn(*args)
        finally:
            gc.enable()

    return wrapper


def _decode(signal_name: str, body: bytes, ctype: str) -> otlp.Decoded:
    """``otlp.decode``, with any failure of the request's data an IngestError (400): a
    decoder fault on some input must not answer 500, which a sender cannot tell from a
    server fault (the records were rejected, not lost in a crash)."""
    try:
        return otlp.decode(signal_name, body, ctype)
    except IngestError:
        raise
    except (RecursionError, ValueError, TypeError, OverflowError, UnicodeError, KeyError, IndexError) as exc:
        log.warning("an OTLP %s request failed to decode", signal_name, exc_info=True)
        raise IngestError(f"the OTLP {signal_name} request could not be decoded "
                          f"({type(exc).__name__}: {str(exc)[:200]})") from None


@_gc_paused
def _prepare_otlp(signal_name: str, body: bytes, ctype: str, first_log_id: int, reserved: int) -> Prepared:
    assert _PREPARER is not None
    decoded = _decode(signal_name, body, ctype)
    if len(decoded.batch.logs) > reserved:  # the router counted differently: never reuse an ID
        raise IngestError(f"the request holds {len(decoded.batch.logs)} log records where {reserved} were "
                          "counted; send it as OTLP protobuf, or report this shape of OTLP/JSON")
    prep = _PREPARER.prepare(decoded.batch, first_log_id)
    # the decoder's rejections first, then any record preparing left out
    prep.rejected += decoded.rejected
    prep.errors[:0] = decoded.errors or []
    return prep


@_gc_paused
def _prepare_batch(batch: Batch, first_log_id: int) -> Prepared:
    assert _PREPARER is not None
    return _PREPARER.prepare(batch, first_log_id)


# ------------------------------------------------------------------ routing
def _service_of(attrs: dict[str, Any]) -> str:
    return Resource(attrs).service


def _pb_service(resource: Any) -> str:
    """The service of a protobuf resource; "" when its attributes cannot be read (the
    worker then rejects its records with the reason)."""
    try:
        return _service_of(otlp._attrs(resource.attributes))
    except otlp.BadRecord:
        return ""


Part = tuple[str, bytes, int]  # (service, request body, records)


def _split_protobuf(signal_name: str, body: bytes, left_out: Outcome | None = None) -> tuple[list[Part], int]:
    """One part per service of a protobuf request, and its record count. Parsing is cheap
    (upb builds Python objects lazily); the walk over records happens in the worker.
    Records that do not parse (``otlp._parse`` salvages the rest) go in ``left_out``."""
    req: Any
    req, rejected, errors = otlp._parse(signal_name, body, otlp.PROTOBUF)
    if rejected and left_out is not None:
        body = req.SerializeToString()
        left_out.rejected += rejected
        left_out.errors.extend(errors)
    if signal_name == "logs":
        groups = req.resource_logs
        sizes = [sum(len(sl.log_records) for sl in g.scope_logs) for g in groups]
    elif signal_name == "traces":
        groups = req.resource_spans
        sizes = [sum(len(ss.spans) for ss in g.scope_spans) for g in groups]
    else:
        # a metric is as many records as it has data points: one metric can carry thousands
        groups = req.resource_metrics
        sizes = [sum(_pb_points(m) for sm in g.scope_metrics for m in sm.metrics) for g in groups]
    count = sum(sizes)
    if signal_name != "logs" or len(groups) < 2:
        svc = _pb_service(groups[0].resource) if len(groups) else ""
        return [(svc, body, count)], count
    by_service: dict[str, tuple[list[Any], list[int]]] = {}
    for g, n in zip(groups, sizes, strict=True):
        gs, ns = by_service.setdefault(_pb_service(g.resource), ([], []))
        gs.append(g)
        ns.append(n)
    if len(by_service) == 1:
        return [(next(iter(by_service)), body, count)], count
    cls = otlp.SIGNALS[signal_name]
    return [(svc, cls(resource_logs=gs).SerializeToString(), sum(ns)) for svc, (gs, ns) in by_service.items()], count


_POINT_KINDS = ("gauge", "sum", "histogram", "exponential_histogram", "summary")


def _pb_points(metric: Any) -> int:
    kind = metric.WhichOneof("data")
    return max(1, len(getattr(metric, kind).data_points)) if kind in _POINT_KINDS else 1


def _json_points(metric: Any) -> int:
    if not isinstance(metric, dict):
        return 1
    for kind in ("gauge", "sum", "histogram", "exponentialHistogram", "exponential_histogram", "summary"):
        body = metric.get(kind)
        if isinstance(body, dict):
            pts = body.get("dataPoints", body.get("data_points"))
            return max(1, len(pts)) if isinstance(pts, list) else 1
    return 1


def _json_attrs(res: Any) -> dict[str, Any]:
    out: dict[str, Any] = {}
    attrs = res.get("attributes") if isinstance(res, dict) else None
    for kv in attrs if isinstance(attrs, list) else []:
        if isinstance(kv, dict) and isinstance(kv.get("value"), dict):
            v = kv["value"]
            out[str(kv.get("key"))] = v.get("stringValue", v.get("string_value"))
    return out


def _split_json(signal_name: str, body: bytes) -> tuple[list[Part], int]:
    """As ``_split_protobuf`` for OTLP/JSON; a body that is not the expected shape goes
    whole to one worker, whose decoder says what is wrong with it."""
    try:
        data = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise IngestError(f"the body is not valid JSON: {exc}") from None
    f = _JSON_FIELDS[signal_name]
    groups = _get(data, f.groups) if isinstance(data, dict) else None
    if not isinstance(groups, list):
        return [("", body, 0)], 0
    count = 0
    by_service: dict[str, tuple[list[Any], list[int]]] = {}
    for g in groups:
        if not isinstance(g, dict):
            return [("", body, 0)], 0
        n = 0
        scopes = _get(g, f.scopes)
        if scopes is not None and not isinstance(scopes, list):
            return [("", body, 0)], 0
        for scope in scopes or []:
            records = _get(scope, f.records) if isinstance(scope, dict) else None
            if isinstance(records, list):
                n += sum(_json_points(m) for m in records) if signal_name == "metrics" else len(records)
        count += n
        gs, ns = by_service.setdefault(_service_of(_json_attrs(g.get("resource") or {})), ([], []))
        gs.append(g)
        ns.append(n)
    if signal_name != "logs" or len(by_service) < 2:
        return [(next(iter(by_service), ""), body, count)], count
    return [(svc, orjson.dumps({f.groups[0]: gs}), sum(ns)) for svc, (gs, ns) in by_service.items()], count


class _Fields(NamedTuple):
    """An OTLP/JSON level's key in both spellings the decoder accepts (lowerCamelCase first)."""

    groups: tuple[str, str]
    scopes: tuple[str, str]
    records: tuple[str, str]


_JSON_FIELDS = {
    "logs": _Fields(("resourceLogs", "resource_logs"), ("scopeLogs", "scope_logs"), ("logRecords", "log_records")),
    "traces": _Fields(("resourceSpans", "resource_spans"), ("scopeSpans", "scope_spans"), ("spans", "spans")),
    "metrics": _Fields(("resourceMetrics", "resource_metrics"), ("scopeMetrics", "scope_metrics"),
                       ("metrics", "metrics")),
}


def _get(obj: dict[str, Any], keys: tuple[str, str]) -> Any:
    return obj.get(keys[0], obj.get(keys[1]))


class Ingestor:
    """Routes telemetry to the ingest workers (or prepares in-process) and on to the
    write queue; answers with an ``Outcome`` once everything is committed."""

    def __init__(self, store: Store, queue: WriteQueue, workers: int | None = None) -> None:
        self.store = store
        self.queue = queue
        self.workers = default_workers() if workers is None else max(0, workers)
        self._pools: list[ProcessPoolExecutor | None] = [None] * self.workers
        self._lock = threading.Lock()
        self._rr = itertools.count()
        self._ctx = multiprocessing.get_context("spawn")
        self._routes: dict[str, int] = {}
        self._routes_changed = False
        self._sent = [0] * self.workers  # records sent to each worker since start
        if self.workers:
            from runbrief.distill.distiller import load_state

            saved = load_state(store, routes_key(self.workers))
            routes = orjson.loads(saved) if saved else {}
            self._routes = {str(k): int(v) for k, v in routes.items() if 0 <= int(v) < self.workers}
        for i in range(self.workers):
            self._pool(i).submit(_worker_ready)  # start now, not on the first request

    # ------------------------------------------------------------ pool
    def _pool(self, i: int) -> ProcessPoolExecutor:
        with self._lock:
            pool = self._pools[i]
            if pool is None:
                from runbrief.distill.distiller import STATE_KEY, load_state

                key = shard_key(i, self.workers)
                # A worker new to this layout starts from the in-process miner's state:
                # pattern IDs are template fingerprints, so both agree on settled patterns.
                state = load_state(self.store, key, STATE_KEY)
                pool = self._pools[i] = ProcessPoolExecutor(
                    max_workers=1, mp_context=self._ctx, initializer=_worker_init, initargs=(key, state))
            return pool

    def _broken(self, i: int, pool: ProcessPoolExecutor) -> None:
        with self._lock:
            if self._pools[i] is pool:
                log.error("ingest worker %d died; starting another from the saved state", i)
                self._pools[i] = None
        pool.shutdown(wait=False, cancel_futures=True)

    def _shard(self, service: str, records: int) -> int:
        with self._lock:
            i = self._routes.get(service)
            if i is None:
                i = self._routes[service] = min(range(self.workers), key=lambda k: (self._sent[k], k))
                self._routes_changed = True
            self._sent[i] += records
            return i

    def _mark_routes_changed(self) -> None:
        with self._lock:
            self._routes_changed = True

    def _routes_state(self) -> dict[str, bytes]:
        """The service map to save with the next commit, when it changed."""
        with self._lock:
            if not self._routes_changed:
                return {}
            self._routes_changed = False
            return {routes_key(self.workers): orjson.dumps(self._routes)}

    def _run(self, i: int, fn: Any, *args: Any) -> Future[Prepared]:
        pool = self._pool(i)
        try:
            fut = pool.submit(fn, *args)
        except BrokenProcessPool:
            self._broken(i, pool)
            pool = self._pool(i)
            fut = pool.submit(fn, *args)

        def check(f: Future[Prepared]) -> None:
            if isinstance(f.exception(), BrokenProcessPool):
                self._broken(i, pool)

        fut.add_done_callback(check)
        return fut

    # ------------------------------------------------------------ entry points
    def submit_otlp(self, signal_name: str, body: bytes, content_type: str) -> Future[Outcome]:
        """Decode, prepare and commit one OTLP export request. Raises IngestError for a body
        that cannot be decoded and Overloaded when the queue is full; the future's result
        comes once the request is committed."""
        ctype = (content_type or "").split(";", 1)[0].strip().lower()
        if not self.workers:
            decoded = _decode(signal_name, body, ctype)
            out = Outcome(rejected=decoded.rejected, errors=list(decoded.errors or []))
            res = self.queue.reserve(len(decoded.batch), nbytes=len(body), services=_services_of(decoded.batch))
            return _chain(self.queue.submit(decoded.batch, reserved=res), lambda counts: _set_counts(out, counts))
        left_out = Outcome()
        try:
            if ctype in otlp.PROTOBUF_TYPES:
                parts, count = _split_protobuf(signal_name, body, left_out)
            elif ctype == otlp.JSON:
                parts, count = _split_json(signal_name, body)
            else:
                raise IngestError(f"unsupported content type {content_type!r}; send {otlp.PROTOBUF} or {otlp.JSON}")
        except IngestError:
            raise
        except (RecursionError, ValueError, TypeError, AttributeError, KeyError, IndexError) as exc:
            # Routing reads only the request's shape; a shape it did not expect is the
            # request's fault (400), never a 500 the sender cannot tell from a crash.
            log.warning("an OTLP %s request could not be routed", signal_name, exc_info=True)
            raise IngestError(f"the OTLP {signal_name} request is not of the OTLP shape "
                              f"({type(exc).__name__}: {str(exc)[:200]})") from None
        shares: dict[str, int] = {}
        for svc, _, n in parts:
            shares[svc] = shares.get(svc, 0) + n
        reserved = self.queue.reserve(count, nbytes=len(body), services=shares)
        futs = []
        for svc, part, n in parts:
            if signal_name == "logs":  # log IDs are handed out here, so workers number their rows
                shard, first = self._shard(svc, n), self.store.next_ids("logs", n) if n else 0
            else:
                shard, first = next(self._rr) % self.workers, 0
            futs.append(self._run(shard, _prepare_otlp, signal_name, part, ctype, first, n if first else 0))
        return self._commit_when_prepared(futs, reserved, left_out=left_out)

    def submit_batch(self, batch: Batch) -> Future[dict[str, int]]:
        """Commit a batch of records from the server's other inputs (file ingest, deploy
        marks). Log records go to the worker that owns their service."""
        if not self.workers or not batch.logs:
            return self.queue.submit(batch, reserved=self.queue.reserve(
                len(batch), nbytes=_body_bytes(batch), services=_services_of(batch)))
        by_service: dict[str, list[Any]] = {}
        for r in batch.logs:
            by_service.setdefault(r.resource.service, []).append(r)
        shards: dict[int, Batch] = {}
        for svc, recs in by_service.items():
            shards.setdefault(self._shard(svc, len(recs)), Batch()).logs.extend(recs)
        # The rest (no miner needed) is prepared by the writer, in the same transaction.
        rest = Batch(spans=batch.spans, metrics=batch.metrics, events=batch.events, deploys=batch.deploys,
                     objects=batch.objects)
        reserved = self.queue.reserve(len(batch), nbytes=_body_bytes(batch),
                                      services={svc: len(recs) for svc, recs in by_service.items()})
        futs = [self._run(i, _prepare_batch, b, self.store.next_ids("logs", len(b.logs))) for i, b in shards.items()]
        return _chain(self._commit_when_prepared(futs, reserved, [rest] if len(rest) or rest.objects else []),
                      lambda o: o.counts)

    def _commit_when_prepared(self, futs: list[Future[Prepared]], reserved: Reservation,
                              extra: list[Batch] | None = None, left_out: Outcome | None = None) -> Future[Outcome]:
        result: Future[Outcome] = Future()
        left = [len(futs)]
        lock = threading.Lock()

        def one_done(_: Future[Prepared]) -> None:
            with lock:
                left[0] -= 1
                if left[0]:
                    return
            errs = [f.exception() for f in futs if f.exception() is not None]
            if errs:
                self.queue.release(reserved)
                exc = errs[0]
                if isinstance(exc, BrokenProcessPool):
                    exc = Overloaded("an ingest worker stopped; retry", retry_after=1)
                result.set_exception(exc)
                return
            preps = [f.result() for f in futs]
            routes = self._routes_state()
            preps[0].states.update(routes)
            out = Outcome(rejected=sum(p.rejected for p in preps), errors=[e for p in preps for e in p.errors])
            if left_out is not None and left_out.rejected:
                out.rejected += left_out.rejected
                out.errors[:0] = left_out.errors
            committed = self.queue.submit([*preps, *(extra or [])], reserved=reserved)
            if routes:  # not saved if this commit fails: save it with the next one
                committed.add_done_callback(lambda f: f.exception() is not None and self._mark_routes_changed())
            _chain(committed, lambda counts: _set_counts(out, counts), into=result)

        for f in futs:
            f.add_done_callback(one_done)
        return result

    def close(self) -> None:
        """Finish what the workers hold (their results still reach the queue), commit the
        miner states they held back, then stop them."""
        finals = []
        for pool in self._pools:
            if pool is not None:
                with contextlib.suppress(BrokenProcessPool, RuntimeError):  # a dead worker holds nothing more
                    finals.append(pool.submit(_worker_final))
        preps = []
        for f in finals:
            try:
                preps.append(f.result(timeout=30))
            except Exception:  # noqa: BLE001 - a worker that cannot answer loses only recent learning
                log.warning("an ingest worker did not hand over its miner state; it will relearn")
        if any(p.states or p.patterns or p.aliases for p in preps):
            try:
                self.queue.submit(preps).result(timeout=60)
            except Exception:  # noqa: BLE001 - as above
                log.warning("the ingest workers' last miner states were not saved; they will relearn")
        for pool in self._pools:
            if pool is not None:
                pool.shutdown(wait=True)


def _services_of(batch: Batch) -> dict[str, int]:
    """Records per service (for the write queue's fair share); records share few resources."""
    out: dict[str, int] = {}
    for recs in (batch.logs, batch.spans, batch.metrics):
        last, svc = None, ""
        for r in recs:
            if r.resource is not last:
                last, svc = r.resource, r.resource.service
            out[svc] = out.get(svc, 0) + 1
    return out or {"": len(batch)}


def _body_bytes(batch: Batch) -> int:
    """About what a batch of records from a file or the API weighs: its log bodies."""
    return sum(len(r.body) if isinstance(r.body, str) else 64 for r in batch.logs) + 256 * len(batch.spans)


def _set_counts(out: Outcome, counts: dict[str, int]) -> Outcome:
    counts = dict(counts)
    left = counts.pop("rejected", 0)  # left out by the writer's own preparer (no workers)
    if left:
        out.rejected += left
        out.errors.append(f"{left} record(s) could not be stored and were left out")
    out.counts = counts
    return out


def _chain(fut: Future[Any], fn: Any, into: Future[Any] | None = None) -> Future[Any]:
    """A future of ``fn(fut.result())``, or of its exception."""
    result: Future[Any] = into if into is not None else Future()

    def done(f: Future[Any]) -> None:
        exc = f.exception()
        if exc is not None:
            result.set_exception(exc)
        else:
            try:
                result.set_result(fn(f.result()))
            except Exception as e:  # noqa: BLE001 - handed to the waiter
                result.set_exception(e)

    fut.add_done_callback(done)
    return result
