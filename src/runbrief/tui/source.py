"""Where `runbrief top` gets its answers: the operations, through the client like every command.

``runbrief.client.call`` reaches the server that owns the store when one runs (its
``server.json``, or ``RUNBRIEF_URL`` / ``--server``) and otherwise opens the store for
the one call and closes it, so `top` never holds DuckDB's lock between refreshes: an
ingest or a server can still start while it watches. All calls run on one thread, so
the client's kept-alive HTTP connection is reused (a new one per call cost ~50 ms).
"""

from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor
from typing import Any

__all__ = ["Source"]


class Source:
    """Runs operations off the UI thread, one at a time, against a store or a server."""

    def __init__(self, store: str | None = None) -> None:
        self.store = store
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="runbrief-top")

    def call(self, name: str, params: dict[str, Any] | None = None) -> Any:
        from runbrief.client import call

        return call(name, params or {}, store=self.store)

    async def acall(self, name: str, params: dict[str, Any] | None = None) -> Any:
        return await asyncio.get_running_loop().run_in_executor(self._pool, self.call, name, params)

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)
