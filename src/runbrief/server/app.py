"""`runbrief serve`: the one process that owns the store.

It receives OTLP over HTTP and gRPC, answers the API (`/api/op/<name>`), the MCP endpoint
and the web page, and runs the background jobs (incident detection, retention). Route
modules are listed in ``runbrief.server.routes``; each handler reaches this object as
``request.app.state.runbrief``.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib
import logging
import secrets
import threading
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse

from runbrief.ingest.pipeline import Batch, Preparer
from runbrief.server import background
from runbrief.server.guard import Guard
from runbrief.server.ingest import Ingestor, cores
from runbrief.server.routes import ROUTE_MODULES
from runbrief.server.write_queue import WriteQueue
from runbrief.store.duck import Store

__all__ = ["ServerConfig", "RunbriefServer", "build_app"]

log = logging.getLogger("runbrief.server")


@dataclass
class ServerConfig:
    host: str = "127.0.0.1"
    http_port: int = 4318
    grpc_port: int = 4317
    token: str | None = None
    max_body_bytes: int = 16 * 1024 * 1024
    max_decompressed_bytes: int = 64 * 1024 * 1024
    max_pending_records: int = 500_000
    # Request bodies (decompressed) waiting to be committed; decoded, a body weighs ~5-10x this.
    max_pending_bytes: int = 256 * 1024 * 1024
    jobs: bool = True
    ingest_workers: int | None = None  # None: one per core (runbrief.server.ingest.default_workers)
    duckdb_threads: int | None = None  # None: the cores the ingest workers leave; 0: DuckDB's default


class RunbriefServer:
    """State shared by every route: the store, the write queue and the jobs."""

    def __init__(self, store: Store, config: ServerConfig | None = None) -> None:
        self.store = store
        self.config = config or ServerConfig()
        self.queue = WriteQueue(store, Preparer(make=self._distiller), max_pending=self.config.max_pending_records,
                                max_pending_bytes=self.config.max_pending_bytes)
        self.ingestor = Ingestor(store, self.queue, self.config.ingest_workers)
        store.settle = self.queue.settle
        threads = self.config.duckdb_threads
        if threads is None and self.ingestor.workers:
            # The cores are shared with the ingest workers: DuckDB's own parallelism then
            # costs more CPU (measured: +1-3 us a record on commits) than it saves time.
            threads = max(1, cores() - self.ingestor.workers)
        if threads:
            store.set_threads(threads)
        # Written to server.json (0600) beside the store: a request carrying it comes from
        # the local user's own CLI, which may name its files (runbrief.trust).
        self.local_secret = secrets.token_urlsafe(32)
        self._stop = threading.Event()
        self._job_threads: list[threading.Thread] = []

    async def submit(self, batch: Batch) -> dict[str, int]:
        """Queue a batch for the writer and wait until it is committed."""
        if not len(batch) and not batch.objects:
            return batch.counts()
        return await asyncio.wrap_future(self.ingestor.submit_batch(batch))

    def _distiller(self) -> Any:
        # The writer mines logs itself only when there are no ingest workers.
        from runbrief.distill.distiller import Distiller

        return Distiller.from_store(self.store)

    def start_jobs(self) -> None:
        if not self.config.jobs:
            return
        for j in background.jobs():
            t = threading.Thread(target=self._run_job, args=(j,), name=f"job-{j.name}", daemon=True)
            t.start()
            self._job_threads.append(t)

    def _run_job(self, j: background.Job) -> None:
        while not self._stop.wait(j.every_s):
            try:
                j.fn(self.store)
            except Exception:
                log.exception("background job %s failed", j.name)

    def close(self) -> None:
        self._stop.set()
        self.ingestor.close()
        self.queue.close()
        self.store.settle = None
        for t in self._job_threads:
            t.join(timeout=5)


def build_app(server: RunbriefServer) -> Starlette:
    routes: list[Any] = []
    modules = [importlib.import_module(mod) for mod in ROUTE_MODULES]
    for module in modules:
        routes.extend(module.routes)
    # `/api/<op>` as a short alias of `/api/op/<op>`, last so specific routes win.
    from runbrief.server.api import alias_routes

    routes.extend(alias_routes)

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        async with contextlib.AsyncExitStack() as stack:
            # A route module may need the app's lifetime too (the MCP session manager).
            for module in modules:
                if hasattr(module, "lifespan"):
                    await stack.enter_async_context(module.lifespan(server))
            yield

    app = Starlette(routes=routes, lifespan=lifespan,
                    middleware=[Middleware(Guard, token=server.config.token, bind_host=server.config.host)])
    app.state.runbrief = server
    return app


async def health(request: Request) -> JSONResponse:
    srv: RunbriefServer = request.app.state.runbrief
    return JSONResponse({"ok": True, "store": str(srv.store.path), "pending": srv.queue.pending,
                         "ingest_workers": srv.ingestor.workers,
                         "committed": srv.queue.committed, "commits": srv.queue.commits,
                         "pending_bytes": srv.queue.pending_bytes, "refused": srv.queue.refused,
                         "last_write_error": srv.queue.last_error, "store_warning": srv.store.lost})
