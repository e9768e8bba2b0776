"""The server's single writer: a bounded queue of batches drained by one thread.

Why: DuckDB wants one writer, and a commit per request would cap throughput at the
commit rate. The writer takes every batch waiting (up to ``max_group`` records), writes
them in one transaction (group commit) and only then resolves each request's future, so
a 200 means committed: a SIGKILL after the answer loses nothing acknowledged. When more
than ``max_pending`` records wait, ``submit`` refuses at once with ``Overloaded`` and the
receiver answers 503/UNAVAILABLE with Retry-After, as the OTLP spec asks, instead of
buffering without bound.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from concurrent.futures import Future

from runbrief.errors import Overloaded
from runbrief.ingest.pipeline import Batch, Pipeline

__all__ = ["WriteQueue"]

log = logging.getLogger("runbrief.server")


class WriteQueue:
    def __init__(self, pipeline: Pipeline, *, max_pending: int = 500_000, max_group: int = 100_000) -> None:
        self.pipeline = pipeline
        self.max_pending = max_pending
        self.max_group = max_group
        self._items: deque[tuple[Batch, Future[dict[str, int]]]] = deque()
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

    def submit(self, batch: Batch) -> Future[dict[str, int]]:
        fut: Future[dict[str, int]] = Future()
        n = len(batch)
        with self._cv:
            if self._closed:
                raise Overloaded("the server is shutting down; retry against the next instance", retry_after=5)
            if self._pending and self._pending + n > self.max_pending:
                raise Overloaded(f"the write queue is full ({self._pending} records waiting); retry shortly")
            self._items.append((batch, fut))
            self._pending += n
            self._cv.notify()
        return fut

    def write_now(self, batch: Batch) -> dict[str, int]:
        """Submit and wait: for callers on a worker thread (gRPC)."""
        return self.submit(batch).result()

    def _take(self) -> list[tuple[Batch, Future[dict[str, int]]]]:
        with self._cv:
            while not self._items and not self._closed:
                self._cv.wait()
            group: list[tuple[Batch, Future[dict[str, int]]]] = []
            size = 0
            while self._items and (not group or size + len(self._items[0][0]) <= self.max_group):
                item = self._items.popleft()
                group.append(item)
                size += len(item[0])
            return group

    def _run(self) -> None:
        while True:
            group = self._take()
            if not group:
                return  # closed and drained
            merged = Batch()
            for batch, _ in group:
                merged.extend(batch)
            t0 = time.perf_counter()
            try:
                self.pipeline.write(merged)
            except Exception as exc:  # the requests fail, the server keeps serving
                log.exception("write failed")
                self.last_error = str(exc)
                for _, fut in group:
                    fut.set_exception(exc)
            else:
                self.committed += len(merged)
                self.commits += 1
                for batch, fut in group:
                    fut.set_result(batch.counts())
            finally:
                with self._cv:
                    self._pending -= len(merged)
            log.debug("committed %d records in %.1f ms", len(merged), (time.perf_counter() - t0) * 1e3)

    def close(self, timeout: float = 30.0) -> None:
        """Stop accepting, write what is queued, and stop the thread."""
        with self._cv:
            self._closed = True
            self._cv.notify_all()
        self._thread.join(timeout)
