"""The server's single writer: a bounded queue of batches drained by one thread.

Why: DuckDB wants one writer, and a commit per request would cap throughput at the
commit rate. The writer takes every request waiting (up to ``max_group`` records), writes
them in one transaction (group commit) and only then resolves each request's future, so
a 200 means committed: a SIGKILL after the answer loses nothing acknowledged.

Admission: records count as pending from the moment a receiver reserves them (before the
ingest workers decode them) until they are committed. When more than ``max_pending``
records are pending, ``reserve`` refuses at once with ``Overloaded`` and the receiver
answers 503/UNAVAILABLE with Retry-After, as the OTLP spec asks, instead of buffering
without bound.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from concurrent.futures import Future

from runbrief.errors import Overloaded
from runbrief.ingest.pipeline import FOLD_S, Batch, Prepared, Preparer, commit, unfolded
from runbrief.store.duck import Store

__all__ = ["WriteQueue"]

log = logging.getLogger("runbrief.server")

Item = Batch | Prepared


class _Request:
    __slots__ = ("items", "size", "reserved", "future", "fold")

    def __init__(self, items: list[Item], reserved: int, future: Future[dict[str, int]], fold: bool = False) -> None:
        self.items = items
        self.size = sum(len(x) for x in items)
        self.reserved = reserved
        self.future = future
        self.fold = fold  # fold derived rows with this group (a reader is waiting for them)


class WriteQueue:
    def __init__(self, store: Store, preparer: Preparer, *, max_pending: int = 500_000,
                 max_group: int = 100_000, min_group: int = 50_000, linger_s: float = 0.02) -> None:
        self.store = store
        # Prepares what arrives as plain batches (everything, when there are no ingest workers).
        self.preparer = preparer
        self.max_pending = max_pending
        self.max_group = max_group
        self.min_group = min_group
        self.linger_s = linger_s
        self._items: deque[_Request] = deque()
        self._pending = 0
        self._cv = threading.Condition()
        self._closed = False
        self._thread = threading.Thread(target=self._run, name="runbrief-writer", daemon=True)
        self.committed = 0
        self.commits = 0
        self.last_error: str | None = None
        self._thread.start()

    @property
    def pending(self) -> int:
        return self._pending

    def reserve(self, n: int) -> None:
        """Count ``n`` records as pending, or refuse with Overloaded when full."""
        with self._cv:
            if self._closed:
                raise Overloaded("the server is shutting down; retry against the next instance", retry_after=5)
            if self._pending and self._pending + n > self.max_pending:
                raise Overloaded(f"the write queue is full ({self._pending} records waiting); retry shortly")
            self._pending += n

    def release(self, n: int) -> None:
        """Give back a reservation whose records will not be submitted."""
        with self._cv:
            self._pending -= n
            self._cv.notify_all()

    def submit(self, items: Item | list[Item], *, reserved: int | None = None) -> Future[dict[str, int]]:
        """Queue records for one transaction. Without ``reserved``, they are admitted here
        (Overloaded when full); with it, they were reserved before."""
        fut: Future[dict[str, int]] = Future()
        req = _Request(items if isinstance(items, list) else [items], 0, fut)
        if reserved is None:
            self.reserve(req.size)
            req.reserved = req.size
        else:
            req.reserved = reserved
        if not req.size and not any(_writes_without_rows(x) for x in req.items):
            self.release(req.reserved)
            fut.set_result(_counts(req.items))
            return fut
        with self._cv:
            if self._closed and reserved is None:
                self._pending -= req.reserved
                raise Overloaded("the server is shutting down; retry against the next instance", retry_after=5)
            self._items.append(req)
            self._cv.notify_all()
        return fut

    def settle(self, timeout: float = 30.0) -> None:
        """Fold what deferred commits held back, now, and wait for it: a read that follows
        sees everything acknowledged (``Store.settle``). A no-op when nothing is held."""
        if not unfolded(self.store) or threading.current_thread() is self._thread:
            return
        fut: Future[dict[str, int]] = Future()
        with self._cv:
            if self._closed:
                return
            # First in line: the read waits for the commit under way and one fold, not for
            # the queue (what is queued behind is not acknowledged yet).
            self._items.appendleft(_Request([], 0, fut, fold=True))
            self._cv.notify_all()
        fut.result(timeout)

    def _take(self) -> list[_Request] | None:
        """The next group; None when a deferred fold is due and nothing else is."""
        with self._cv:
            while not self._items and not self._closed:
                if not self._cv.wait(FOLD_S if unfolded(self.store) else None) and not self._items:
                    return None
            # Linger: a commit has a near-fixed cost (~10-20 ms of statements and the WAL
            # flush), so while more requests are already on their way (reserved, still in
            # the ingest workers) waiting briefly for them makes a cheaper, bigger group.
            # Nothing in flight: commit at once, a lone request never waits.
            deadline = time.monotonic() + self.linger_s
            while not self._closed:
                queued = sum(r.reserved for r in self._items)
                if queued >= self.min_group or self._pending - queued <= 0:
                    break
                left = deadline - time.monotonic()
                if left <= 0:
                    break
                self._cv.wait(left)
            group: list[_Request] = []
            size = 0
            while self._items and (not group or size + self._items[0].size <= self.max_group):
                req = self._items.popleft()
                group.append(req)
                size += req.size
            return group

    def _run(self) -> None:
        while True:
            group = self._take()
            if not group:
                self._fold()
                if group is None:
                    continue
                return  # closed and drained
            t0 = time.perf_counter()
            reserved = sum(r.reserved for r in group)
            try:
                # Prepared here when no worker did: what the preparer left out is then known
                # only now, and reported with the counts (OTLP partial success).
                per_request = [[x if isinstance(x, Prepared) else self._prepare(x) for x in r.items] for r in group]
                preps = [p for ps in per_request for p in ps]
                # Derived rows wait for a fold at most FOLD_S away (pipeline.commit), or
                # until a reader asks (settle); an idle writer folds on its own.
                commit(self.store, preps, defer=not any(r.fold for r in group))
            except Exception as exc:  # the requests fail, the server keeps serving
                log.exception("write failed")
                self.last_error = str(exc)
                for r in group:
                    r.future.set_exception(exc)
            else:
                self.committed += sum(r.size for r in group)
                self.commits += 1
                for r, ps in zip(group, per_request, strict=True):
                    counts = _counts(ps)
                    # only what was prepared here: a worker's leavings are reported by the worker
                    rejected = sum(p.rejected for x, p in zip(r.items, ps, strict=True) if isinstance(x, Batch))
                    if rejected:
                        counts["rejected"] = rejected
                    r.future.set_result(counts)
            finally:
                with self._cv:
                    self._pending -= reserved
            log.debug("committed %d records in %.1f ms", sum(r.size for r in group), (time.perf_counter() - t0) * 1e3)

    def _fold(self) -> None:
        if not unfolded(self.store):
            return
        try:
            commit(self.store, [])
        except Exception as exc:  # retried at the next commit; the records are safe
            log.exception("fold failed")
            self.last_error = str(exc)

    def _prepare(self, batch: Batch) -> Prepared:
        first = self.store.next_ids("logs", len(batch.logs)) if batch.logs else 0
        return self.preparer.prepare(batch, first)

    def close(self, timeout: float = 30.0) -> None:
        """Stop accepting, write what is queued, and stop the thread."""
        with self._cv:
            self._closed = True
            self._cv.notify_all()
        self._thread.join(timeout)


def _writes_without_rows(item: Item) -> bool:
    """Something to store though no record came: k8s objects, state (e.g. a new route)."""
    if isinstance(item, Batch):
        return bool(item.objects)
    return bool(item.objects or item.states or item.aliases or item.patterns)


def _counts(items: list[Item]) -> dict[str, int]:
    total: dict[str, int] = {"logs": 0, "spans": 0, "metric_points": 0, "events": 0, "deploys": 0}
    for x in items:
        for k, v in x.counts().items():
            total[k] += v
    return total
