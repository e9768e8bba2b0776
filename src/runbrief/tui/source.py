"""Where `runbrief top` gets its answers: the operations, through the client like every command.

``runbrief.client.call`` reaches the server that owns the store when one runs (its
``server.json``, or ``RUNBRIEF_URL`` / ``--server``) and otherwise opens the store for
the one call and closes it, so `top` never holds DuckDB's lock between refreshes: an
ingest or a server can still start while it watches. All calls run on one thread, so
the client's kept-alive HTTP connection is reused (a new one per call cost ~50 ms).

Opening the store and asking costs ~30-60 ms a refresh, so with no server an answer is
reused while the store's files are unchanged (size and mtime of the database and its
WAL) within the same minute: an idle store costs a `stat` a second, not a DuckDB open.
"""

from __future__ import annotations

import asyncio
import json
import os
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

__all__ = ["Source"]


class Source:
    """Runs operations off the UI thread, one at a time, against a store or a server."""

    def __init__(self, store: str | None = None) -> None:
        self.store = store
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="runbrief-top")
        self._cache: dict[str, tuple[Any, Any]] = {}
        self.calls = 0  # operations actually run (not answered from the cache)

    def _stamp(self) -> Any:
        """What changes when the local store does, or None when a server answers."""
        from runbrief.client import server_url
        from runbrief.store.paths import resolve_store_path

        if server_url(self.store) is not None:
            return None
        db = resolve_store_path(self.store)
        out: list[Any] = [int(time.time() // 60)]
        for path in (db, db.with_name(db.name + ".wal")):
            try:
                st = os.stat(path)
                out += [st.st_size, st.st_mtime_ns]
            except OSError:
                out += [None, None]
        return tuple(out)

    def call(self, name: str, params: dict[str, Any] | None = None) -> Any:
        from runbrief.client import call

        key = json.dumps([name, params or {}], sort_keys=True, default=str)
        stamp = self._stamp()
        hit = self._cache.get(key)
        if stamp is not None and hit is not None and hit[0] == stamp:
            return hit[1]
        result = call(name, params or {}, store=self.store)
        self.calls += 1
        if stamp is not None:
            self._cache[key] = (stamp, result)
        return result

    async def acall(self, name: str, params: dict[str, Any] | None = None) -> Any:
        return await asyncio.get_running_loop().run_in_executor(self._pool, self.call, name, params)

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)
