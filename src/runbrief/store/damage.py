"""A damaged or full store, told apart from a bug, and lost commits found at start (issue 16).

Why: DuckDB reports a full disk, a torn file and a checksum mismatch as generic errors. To
a sender, a 500 says "do not retry" and drops the batch; to a user, a traceback says
"runbrief is broken". Each of these is a state of the store with its own remedy:

- **full** (no space, quota, file size limit): nothing new can be stored until space is
  freed. The server answers 503 with Retry-After, so exporters keep their data and retry;
  what was acknowledged before is safe.
- **damaged** (a checksum mismatch, a file shorter than its own header says): some blocks
  cannot be read. runbrief says which file, that it leaves it untouched, and how to start
  over beside it.
- **commits lost**: a WAL deleted or cut short replays without complaint, and the store
  opens "healthy" with acknowledged records missing. Every write transaction counts itself
  in ``meta`` and, once committed, in a small file beside the database. At the next start,
  a file that is ahead of the database means commits were lost; runbrief says how many
  and carries on with what is there (the count is reset, so it says so once).
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

from runbrief.errors import StoreError

__all__ = ["StoreFull", "StoreDamaged", "classify", "CommitLedger"]

_FULL = ("no space left on device", "disk quota exceeded", "file too large", "disk is full")
_DAMAGED = ("corrupt database file", "checksum", "could not read enough bytes", "not a valid duckdb database",
            "the file is not a valid", "invalid database file", "block at location")


class StoreFull(StoreError):
    """The disk under the store is full: retry once space is freed."""

    http_status = 503

    def __init__(self, message: str, retry_after: int = 30) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class StoreDamaged(StoreError):
    """Part of the store's file cannot be read."""

    http_status = 500


def classify(exc: BaseException, path: str | os.PathLike[str]) -> StoreError | None:
    """The store state ``exc`` reveals, as an error that tells the user what to do; None
    when it is not about the store's files (a bug, a bad query)."""
    if isinstance(exc, StoreError):
        return exc
    text = str(exc)
    low = text.lower()
    if isinstance(exc, OSError) and exc.errno is not None:
        import errno

        if exc.errno in (errno.ENOSPC, errno.EDQUOT, errno.EFBIG):
            low = "no space left on device"
    where = f"the store {path}" if str(path) else "the store"
    if any(k in low for k in _FULL):
        return StoreFull(f"the disk holding {where} is full ({_first_line(text)}): nothing more can be "
                         "stored until space is freed (lower RUNBRIEF_RETENTION_DAYS or RUNBRIEF_MAX_STORE_MB, or free "
                         "the disk); what was acknowledged before is safe")
    if any(k in low for k in _DAMAGED):
        return StoreDamaged(f"{where} is damaged ({_first_line(text)}); runbrief leaves the file as it "
                            "is: restore it from a backup, or move its folder aside and start a new store with "
                            "--store (what can still be read may be exported with the duckdb CLI's "
                            "EXPORT DATABASE)")
    return None


def _first_line(text: str) -> str:
    return text.strip().splitlines()[0][:300] if text.strip() else "no detail"


def size_problem(db_path: Path, block_size: int, total_blocks: int) -> str | None:
    """A file shorter than the blocks its header counts (cut short by a copy or a full disk)."""
    try:
        size = db_path.stat().st_size
    except OSError:
        return None
    need = block_size * total_blocks
    if total_blocks and size < need:
        return f"the file is {size} bytes, shorter than the {total_blocks} blocks of {block_size} bytes it holds"
    return None


class CommitLedger:
    """Write transactions counted beside the database, to find commits a damaged WAL lost.

    The count in ``meta`` is written inside each transaction; the file is written after the
    commit. So the file can be behind the database (a crash between the two: harmless), but
    ahead of it only when committed transactions were lost.
    """

    def __init__(self, db_path: Path) -> None:
        self.path = db_path.with_name(db_path.name + ".commits")
        self.count = 0

    def load(self) -> int | None:
        try:
            return int(self.path.read_text().strip() or 0)
        except (OSError, ValueError):
            return None

    def save(self, count: int) -> None:
        """Record ``count`` committed transactions (atomically: write aside, then rename)."""
        self.count = count
        tmp = self.path.with_name(self.path.name + ".tmp")
        with contextlib.suppress(OSError):  # a full disk: the check is skipped, the commit stands
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(fd, "w") as f:
                f.write(str(count))
            os.replace(tmp, self.path)
