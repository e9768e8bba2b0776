"""Store addresses that name a ClickHouse store (``chdb:PATH``), told apart without importing chdb.

Why here: the CLI's client decides where an operation runs before it opens anything; a
``chdb:`` address must not fall through to the DuckDB path (it would create an empty
DuckDB file named ``chdb:...``). Only the operations the ClickHouse store answers the same
as DuckDB are let through; the others say so instead of failing on a missing table.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from runbrief.errors import UsageError

__all__ = ["PREFIX", "UNSUPPORTED", "is_clickhouse", "chdb_path", "open_chstore", "run_op"]

PREFIX = "chdb:"
# The operations that do not run on a ClickHouse store yet, each with its reason. Every other
# operation does, and tests/store/test_clickhouse_ops.py compares each read operation's JSON
# on DuckDB and chdb (its cases come from the ops registry, so a new operation is covered).
UNSUPPORTED: dict[str, str] = {
    "retention": "deletes by DuckDB's retention plan; on ClickHouse retention is a table TTL (not built yet)",
}


def is_clickhouse(address: str | os.PathLike[str] | None) -> bool:
    return isinstance(address, str) and address.startswith(PREFIX)


def chdb_path(address: str) -> Path:
    """The folder of a ``chdb:PATH`` address."""
    raw = address.removeprefix(PREFIX)
    if not raw:
        raise UsageError("a chdb store address is chdb:PATH, the folder ClickHouse keeps its tables in")
    return Path(raw).expanduser().resolve()


@contextmanager
def open_chstore(address: str, *, read_only: bool = False) -> Iterator[Any]:
    from runbrief.store.clickhouse.chstore import ChStore

    s = ChStore.open(chdb_path(address), read_only=read_only)
    try:
        yield s
    finally:
        s.close()


def run_op(address: str, name: str, params: dict[str, Any]) -> Any:
    """Run operation ``name`` on the chdb store at ``address``, in this process."""
    from runbrief import ops

    if name in UNSUPPORTED:
        raise UsageError(f"{name} does not run on a ClickHouse store yet: {UNSUPPORTED[name]} (docs/clickhouse.md)")
    if not chdb_path(address).exists():  # opening would create an empty store: a false all-clear
        raise UsageError(f"no chdb store at {chdb_path(address)}: fill one with `runbrief store copy SRC {address}`")
    # Writable, as the DuckDB path opens: that is what applies a pending schema migration.
    with open_chstore(address) as s:
        return ops.run(s, name, params)
