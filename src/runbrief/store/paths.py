"""Where a store lives on disk, without opening it.

Kept apart from ``store.duck`` so that the CLI and the client can find a store (and the
address of the server holding it) without importing DuckDB, which costs ~0.2 s at start.
"""

from __future__ import annotations

import os
from pathlib import Path

__all__ = ["DEFAULT_DIR", "DB_NAME", "resolve_store_path", "store_dir"]

DEFAULT_DIR = ".runbrief"
DB_NAME = "runbrief.duckdb"


def resolve_store_path(path: str | os.PathLike[str] | None = None) -> Path:
    """Where the store lives: --store, else $RUNBRIEF_STORE, else ./.runbrief/.

    A directory (existing, or a path without a suffix) holds ``runbrief.duckdb``; a path
    ending in ``.duckdb``/``.db`` is the database file itself.
    """
    raw = path or os.environ.get("RUNBRIEF_STORE") or DEFAULT_DIR
    p = Path(raw).expanduser()
    if p.suffix in (".duckdb", ".db"):
        return p.resolve()
    return (p / DB_NAME).resolve()


def store_dir(db_path: Path) -> Path:
    """The folder beside the database that holds the server address and other state."""
    return db_path.parent
