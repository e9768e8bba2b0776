"""The server's single writer: a bounded queue of batches drained by one thread.

Why: DuckDB wants one writer, and a commit per request would cap throughput at the
commit rate. The writer takes every request waiting (up to ``max_group`` records), writes
them in one transaction (group commit) and only then resolves each request's future, so
a 200 means committed: a SIGKILL after the answer loses nothing acknowledged.

Admission: records count as pending from the moment a receiver reserves them (before the
ingest workers decode them) until they are committed. When more than ``max_pending``
records, or more than ``max_pending_bytes`` of request bodies, are pending, ``reserve``
refuses at once with ``Overloaded`` and the receiver answers 503/UNAVAILABLE with
Retry-After, as the OTLP spec asks, instead of buffering without bound. Bytes count as well
as records because a record's cost is its size: 48 senders of 14 MB bodies hold few
records but gigabytes once decoded, and a metric "record" can carry thousands of points.

Wait: past ``min_group`` records pending, a request is refused when the queue would take more
than ``max_wait_s`` to drain at the rate it has been committing: a sender's exporter gives up
after its timeout (10 s by default in the OpenTelemetry SDKs) and resends, so an answer that
comes later than that is work wasted twice. A quick 503 is what it can act on.

Fair share: once the queue is half full, a service may hold at most its share of it
(the limit over the number of services with something pending), so one noisy source gets
the 503s while the others keep being admitted.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from concurrent.futures import Future
from dataclasses import dataclass

from runbrief.errors import Overloaded
from runbrief.ingest.pipeline import FOLD_S, Batch, Prepared, Preparer, commit, unfolded
from runbrief.store.damage import StoreFull, classify
from runbrief.store.duck import Store

__all__ = ["WriteQueue", "Reservation"]

log = logging.getLogger("runbrief.server")

Item = Batch | Prepared


@dataclass(frozen=True)
class Reservation:
    """What one request holds of the queue until it is committed or given back."""

    records: int
    nbytes: int = 0
    # records per service, for the fair share ("" when the sender named none)
    services: tuple[tuple[str, int], ...] = ()


NOTHING = Reservation(0)


class _Request:
    __slots__ = ("items", "size", "reserved", "future", "fold")

    def __init__(self, items: list[Item], reserved: Reservation, future: Future[dict[str, int]],
                 fold: bool = False) -> None:
        self.items = items
        self.size = sum(len(x) for x in items)
        self.reserved = reserved
        self.future = future
        self.fold = fold  # fold derived rows with this group (a reader is waiting for them)


class WriteQueue:
    def __init__(self, store: Store, preparer: Preparer, *, max_pending: int = 500_000,
                 max_pending_bytes: int = 256 * 1024 * 1024,
                 max_group: int = 100_000, min_group: int = 50_000, linger_s: float = 0.02,
                 max_wait_s: float = 4.0) -> None:
        self.store = store
        # Prepares what arrives as plain batches (everything, when there are no ingest workers).
        self.preparer = preparer
        self.max_pending = max_pending
        self.max_pending_bytes = max_pending_bytes
        self._pending_bytes = 0
        self._by_service: dict[str, list[int]] = {}  # service -> [records, bytes] pending
        self.refused = 0
        self.max_wait_s = max_wait_s
        self._commits_seen: deque[tuple[float, int]] = deque(maxlen=64)  # (when, records committed so far)
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

    @property
    def pending_bytes(self) -> int:
        return self._pending_bytes

    def admits(self, nbytes: int) -> None:
        """Refuse, before a body is even read, a request whose declared size cannot fit."""
        with self._cv:
            if self._pending_bytes and self._pending_bytes + nbytes > self.max_pending_bytes:
                self.refused += 1
                raise Overloaded(f"the write queue is full ({self._pending_bytes} bytes waiting); retry shortly")

    def reserve(self, n: int, *, nbytes: int = 0, services: dict[str, int] | None = None) -> Reservation:
        """Hold ``n`` records (``nbytes`` of body, ``services`` its records per service) as
        pending, or refuse with Overloaded when the queue, or the sender's share of it, is full."""
        shares = tuple((services or {"": n}).items())
        with self._cv:
            if self._closed:
                raise Overloaded("the server is shutting down; retry against the next instance", retry_after=5)
            if self._pending and self._pending + n > self.max_pending:
                self.refused += 1
                raise Overloaded(f"the write queue is full ({self._pending} records waiting); retry shortly")
            if self._pending_bytes and self._pending_bytes + nbytes > self.max_pending_bytes:
                self.refused += 1
                raise Overloaded(f"the write queue is full ({self._pending_bytes} bytes waiting); retry shortly")
            self._soft_limits(n, nbytes, shares)
            self._pending += n
            self._pending_bytes += nbytes
            for svc, k in shares:
                held = self._by_service.setdefault(svc, [0, 0])
                held[0] += k
                held[1] += nbytes * k // max(1, n)
        return Reservation(n, nbytes, shares)

    def drain_rate(self) -> float | None:
        """Records committed per second over the last few seconds of commits (None: too few)."""
        seen = self._commits_seen
        if len(seen) < 2:
            return None
        (t0, c0), (t1, c1) = seen[0], seen[-1]
        if t1 - t0 < 0.2 or time.monotonic() - t1 > 5.0:
            return None  # too short to tell, or the writer has been idle since
        return (c1 - c0) / (t1 - t0)

    def _wait_s(self, n: int) -> tuple[float, float] | None:
        """(Under the lock.) Seconds the queue would take to drain with ``n`` more, and the rate."""
        if self._pending <= self.min_group:
            return None
        rate = self.drain_rate()
        return ((self._pending + n) / rate, rate) if rate else None

    def _soft_limits(self, n: int, nbytes: int, shares: tuple[tuple[str, int], ...]) -> None:
        """(Under the lock.) Past half full, or past ``max_wait_s`` of work, refuse the services
        holding more than their share; the others are admitted up to the hard limits, so a
        noisy source gets the 503s and a quiet one keeps its latency. A lone sender is held
        to the wait limit only (it may fill the queue, not make its own answers come late)."""
        half_records = self._pending + n > self.max_pending // 2
        half_bytes = self._pending_bytes + nbytes > self.max_pending_bytes // 2
        waiting = self._wait_s(n)
        slow = waiting is not None and waiting[0] > self.max_wait_s
        if not (half_records or half_bytes or slow):
            return
        active = {s for s, (r, b) in self._by_service.items() if r or b} | {s for s, _ in shares}
        lone = len(active) < 2
        for svc, k in shares:
            held_r, held_b = self._by_service.get(svc, (0, 0))
            share_b = nbytes * k // max(1, n)
            if lone:
                # Alone it may use most of the queue, not all: a service that starts sending
                # meanwhile must find room below the hard limits.
                over_wait = slow
                over_half = bool(self._pending) and (
                    self._pending + n > self.max_pending * 4 // 5
                    or self._pending_bytes + nbytes > self.max_pending_bytes * 4 // 5)
            else:
                if held_r == 0 and held_b == 0:
                    continue  # a service with nothing pending is always let in (up to the hard limits)
                over_wait = slow and held_r + k > (self._pending + n) / len(active)
                over_half = (half_records and held_r + k > self.max_pending // len(active)) or \
                    (half_bytes and held_b + share_b > self.max_pending_bytes // len(active))
            if over_wait and waiting is not None:
                wait, rate = waiting
                self.refused += 1
                raise Overloaded(f"the write queue holds {wait:.1f} s of work at the current rate "
                                 f"({rate:,.0f} records/s), most of it from service {svc or '(unnamed)'!r}; "
                                 "retry shortly", retry_after=max(1, round(wait - self.max_wait_s)))
            if over_half:
                self.refused += 1
                raise Overloaded(f"service {svc or '(unnamed)'!r} holds more than its share of the write queue "
                                 f"({held_r} records, {held_b} bytes waiting, {len(active)} services sending); "
                                 "retry shortly")

    def release(self, res: Reservation | int) -> None:
        """Give back a reservation whose records will not be submitted."""
        with self._cv:
            self._give_back(res if isinstance(res, Reservation) else Reservation(res))
            self._cv.notify_all()

    def _give_back(self, res: Reservation) -> None:
        """(Under the lock.) Take ``res`` off the pending counts."""
        self._pending -= res.records
        self._pending_bytes -= res.nbytes
        for svc, k in res.services:
            held = self._by_service.get(svc)
            if held is not None:
                held[0] -= k
                held[1] -= res.nbytes * k // max(1, res.records)
                if held[0] <= 0 and held[1] <= 0:
                    del self._by_service[svc]

    def submit(self, items: Item | list[Item], *, reserved: Reservation | int | None = None,
               nbytes: int = 0, service: str = "") -> Future[dict[str, int]]:
        """Queue records for one transaction. Without ``reserved``, they are admitted here
        (Overloaded when full; ``nbytes`` and ``service`` count toward the limits); with it,
        they were reserved before."""
        fut: Future[dict[str, int]] = Future()
        req = _Request(items if isinstance(items, list) else [items], NOTHING, fut)
        if reserved is None:
            req.reserved = self.reserve(req.size, nbytes=nbytes, services={service: req.size})
        else:
            req.reserved = reserved if isinstance(reserved, Reservation) else Reservation(reserved)
        if not req.size and not any(_writes_without_rows(x) for x in req.items):
            self.release(req.reserved)
            fut.set_result(_counts(req.items))
            return fut
        with self._cv:
            if self._closed and reserved is None:
                self._give_back(req.reserved)
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
            self._items.appendleft(_Request([], NOTHING, fut, fold=True))
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
                queued = sum(r.reserved.records for r in self._items)
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
            try:
                # Prepared here when no worker did: what the preparer left out is then known
                # only now, and reported with the counts (OTLP partial success).
                per_request = [[x if isinstance(x, Prepared) else self._prepare(x) for x in r.items] for r in group]
                preps = [p for ps in per_request for p in ps]
                # Derived rows wait for a fold at most FOLD_S away (pipeline.commit), or
                # until a reader asks (settle); an idle writer folds on its own.
                commit(self.store, preps, defer=not any(r.fold for r in group))
            except Exception as exc:  # the requests fail, the server keeps serving
                err = classify(exc, self.store.path) or exc  # a full disk is a 503 the sender retries
                if isinstance(err, StoreFull):
                    log.error("%s", err)
                else:
                    log.exception("write failed")
                self.last_error = str(err)
                for r in group:
                    r.future.set_exception(err)
            else:
                self.committed += sum(r.size for r in group)
                self.commits += 1
                now = time.monotonic()
                with self._cv:
                    if self._commits_seen and now - self._commits_seen[-1][0] > 5.0:
                        self._commits_seen.clear()  # after an idle spell, the rate starts afresh
                    while self._commits_seen and now - self._commits_seen[0][0] > 5.0:
                        self._commits_seen.popleft()
                    self._commits_seen.append((now, self.committed))
                for r, ps in zip(group, per_request, strict=True):
                    counts = _counts(ps)
                    # only what was prepared here: a worker's leavings are reported by the worker
                    rejected = sum(p.rejected for x, p in zip(r.items, ps, strict=True) if isinstance(x, Batch))
                    if rejected:
                        counts["rejected"] = rejected
                    r.future.set_result(counts)
            finally:
                with self._cv:
                    for r in group:
                        self._give_back(r.reserved)
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
