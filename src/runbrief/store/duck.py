"""The embedded DuckDB store: one file, one owner process, batched Arrow writes.

Why this shape:
- DuckDB locks its file for one writer process, so whoever opens the store writable
  (``runbrief serve``, or a CLI command when no server runs) is its only owner. Inside
  that process every write goes through ``write()`` (one lock, one transaction) and
  readers take their own cursor, as DuckDB cursors are per-thread connections.
- Inserts go in as Arrow tables with ``INSERT ... SELECT``: measured here at ~300k rows/s,
  against ~700 rows/s for ``executemany``. The checkpoint threshold is raised well above
  its 16 MiB default, whose checkpoints stalled inserts for about a second each.
- The schema is a folder of numbered ``.sql`` files, read at open so a typo fails loudly;
  the highest number applied is stamped in ``meta`` and a store from a newer runbrief is
  refused with a message naming the file.
"""

from __future__ import annotations

import os
import re
import threading
import weakref
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any, TypeVar

import duckdb

from runbrief.errors import StoreError
from runbrief.store.damage import CommitLedger, StoreDamaged, classify, size_problem
from runbrief.store.paths import resolve_store_path, store_dir

__all__ = ["Store", "resolve_store_path", "store_dir", "migrations", "SCHEMA_VERSION"]

T = TypeVar("T")
_MIGRATION_RE = re.compile(r"^(\d{4})_[\w-]+\.sql$")


@dataclass(frozen=True)
class Migration:
    version: int
    name: str
    sql: str


def migrations() -> list[Migration]:
    """All schema files shipped with the package, in order."""
    found: list[Migration] = []
    for entry in resources.files("runbrief.store").joinpath("schema").iterdir():
        m = _MIGRATION_RE.match(entry.name)
        if m:
            found.append(Migration(int(m.group(1)), entry.name, entry.read_text()))
    found.sort(key=lambda mig: mig.version)
    return found


SCHEMA_VERSION = max((m.version for m in migrations()), default=0)


def _holder(message: str, db_path: Path) -> str:
    """Who holds the store, from server.json and DuckDB's lock message ("... (PID 1234)")."""
    import json
    import re

    try:
        addr = json.loads((db_path.parent / "server.json").read_text())
    except (OSError, ValueError):
        addr = {}
    m = re.search(r"PID (\d+)", message)
    pid = int(m.group(1)) if m else addr.get("pid")
    if not pid:
        return "another process; stop it, or point RUNBRIEF_URL at the runbrief server that has it"
    try:
        cmd = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace").strip()
    except OSError:
        cmd = ""
    what = f"process {pid}" + (f" ({cmd[:200]})" if cmd else "")
    if addr.get("pid") == pid and addr.get("url"):
        return (f"{what}, a runbrief server at {addr['url']}: use it (commands find it by themselves), "
                f"or stop it (`kill {pid}`) first")
    return f"{what}; stop it (`kill {pid}`) or wait for it to finish, then retry"


_CONNECT_CONFIG: dict[str, str] = {"checkpoint_threshold": "1GB"}
# Set on every connection and cursor (a session setting: cursors do not inherit it). DuckDB
# draws a progress bar on stdout once a query runs past 2 s: on a big store it would land in
# the middle of `--json` output and of piped text.
_SESSION_SQL = "SET enable_progress_bar = false"

# Every store open in this process, for Ctrl-C: DuckDB's own check for SIGINT during a query
# misses presses (one run in four went on past 60 of them), so the CLI's handler interrupts
# the queries itself (interrupt_queries).
_OPEN: weakref.WeakSet[Store] = weakref.WeakSet()


def interrupt_queries() -> None:
    """Interrupt every query running on a store of this process (a signal handler calls it)."""
    for store in list(_OPEN):
        store.interrupt()


class Store:
    """An open store. Thread-safe: writes serialize on one lock; reads use cursors."""

    def __init__(self, path: Path, con: duckdb.DuckDBPyConnection, read_only: bool) -> None:
        self.path = path
        self._con = con
        self.read_only = read_only
        self._write_lock = threading.RLock()
        self._local = threading.local()
        self._ids: dict[str, int] = {}
        self._id_lock = threading.Lock()
        self._cursors: weakref.WeakSet[duckdb.DuckDBPyConnection] = weakref.WeakSet()
        _OPEN.add(self)
        # Called before an operation reads (ops.run): the server's writer sets it to fold
        # the derived rows it holds back under load, so a read sees every acknowledged record.
        self.settle: Callable[[], None] | None = None
        # Write transactions committed (meta 'commits'), and the file that counts them beside
        # the database (store.damage.CommitLedger); ``lost`` says what a damaged WAL lost.
        self._commits = 0
        self._ledger: CommitLedger | None = None
        self.lost: str | None = None

    # ---------------------------------------------------------------- opening
    @classmethod
    def open(cls, path: str | os.PathLike[str] | None = None, *, read_only: bool = False) -> Store:
        if isinstance(path, str) and path.startswith("chdb:"):  # not a folder named "chdb:" (docs/clickhouse.md)
            raise StoreError(f"{path} is a ClickHouse store: only read operations run on it "
                             "(runbrief store copy fills it); ingest and serve write DuckDB stores")
        db_path = resolve_store_path(path)
        if read_only and not db_path.exists():
            raise StoreError(f"no store at {db_path}: ingest something first, or pass --store PATH")
        created = not db_path.exists()
        if not db_path.parent.exists():
            # Telemetry holds what the redactor missed: a folder we make is the user's alone
            # (the WAL and server.json live in it too).
            db_path.parent.mkdir(parents=True, mode=0o700)
        try:
            con = duckdb.connect(str(db_path), read_only=read_only, config=dict(_CONNECT_CONFIG))
            con.execute(_SESSION_SQL)
            if created:
                with suppress(OSError):
                    os.chmod(db_path, 0o600)
        except duckdb.Error as exc:
            if isinstance(exc, duckdb.IOException) and "lock" in str(exc).lower():
                raise StoreError(f"the store {db_path} is held by {_holder(str(exc), db_path)}") from exc
            raise classify(exc, db_path) or StoreError(f"cannot open the store {db_path}: {exc}") from exc
        store = cls(db_path, con, read_only)
        try:
            store._migrate()
            store._check()
            if not read_only:  # derived rows made by older rules, or before schema 0010: rebuilt from spans
                from runbrief.evals import genai

                genai.ensure(store)
        except duckdb.Error as exc:
            con.close()
            raise classify(exc, db_path) or StoreError(f"cannot open the store {db_path}: {exc}") from exc
        except Exception:
            con.close()
            raise
        return store

    def _check(self) -> None:
        """At open: a file shorter than its header says is refused; commits a damaged WAL lost
        are counted into ``self.lost`` (a warning the server and CLI show; see store.damage)."""
        row = self._con.execute("SELECT block_size, total_blocks FROM pragma_database_size()").fetchone()
        problem = size_problem(self.path, int(row[0]), int(row[1])) if row else None
        if problem:
            raise StoreDamaged(f"the store {self.path} is damaged ({problem}); runbrief leaves the file as it is: "
                               "restore it from a backup, or move its folder aside and start a new store with --store")
        got = self._con.execute("SELECT value FROM meta WHERE key = 'commits'").fetchone()
        self._commits = int(got[0]) if got else 0
        if self.read_only:
            return
        if got is None:
            self._con.execute("INSERT INTO meta VALUES ('commits', '0')")
        self._ledger = CommitLedger(self.path)
        recorded = self._ledger.load()
        if recorded is not None and recorded > self._commits:
            self.lost = (f"{recorded - self._commits} committed write transaction(s) are missing from the store "
                         f"{self.path}: its write-ahead log ({self.path.name}.wal) was deleted or cut short since "
                         "they were acknowledged. Records they held are gone; the store goes on with what it has.")
        self._ledger.save(self._commits)  # in step again: the loss is told once

    def _migrate(self) -> None:
        con = self._con
        has_meta = con.execute(
            "SELECT count(*) FROM information_schema.tables WHERE table_name = 'meta'"
        ).fetchone()[0]
        current = 0
        if has_meta:
            row = con.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()
            current = int(row[0]) if row else 0
        if current > SCHEMA_VERSION:
            raise StoreError(
                f"the store {self.path} has schema version {current}, newer than this runbrief "
                f"understands ({SCHEMA_VERSION}); upgrade runbrief or use another --store"
            )
        pending = [m for m in migrations() if m.version > current]
        if not pending:
            return
        if self.read_only:
            raise StoreError(
                f"the store {self.path} has schema version {current} and needs migrating to "
                f"{SCHEMA_VERSION}; open it once without a running server to upgrade it"
            )
        for mig in pending:
            try:
                con.execute("BEGIN")
                con.execute(mig.sql)
                con.execute(
                    "INSERT OR REPLACE INTO meta VALUES ('schema_version', ?)", [str(mig.version)]
                )
                con.execute("COMMIT")
            except duckdb.Error as exc:
                con.execute("ROLLBACK")
                raise StoreError(f"schema file {mig.name} failed on {self.path}: {exc}") from exc

    def close(self) -> None:
        with self._write_lock:
            with suppress(duckdb.Error):
                self._con.execute("CHECKPOINT")
            self._con.close()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ---------------------------------------------------------------- access
    def cursor(self) -> duckdb.DuckDBPyConnection:
        """A per-thread read cursor (DuckDB connections are not shared across threads)."""
        cur = getattr(self._local, "cursor", None)
        if cur is None:
            cur = self._con.cursor()
            cur.execute(_SESSION_SQL)
            self._local.cursor = cur
            self._cursors.add(cur)
        return cur

    def interrupt(self) -> None:
        """Interrupt the query running on the writer's connection and on every reader's cursor."""
        for con in [self._con, *list(self._cursors)]:
            with suppress(duckdb.Error, RuntimeError):
                con.interrupt()

    def query(self, sql: str, params: list[Any] | tuple[Any, ...] | None = None) -> list[dict[str, Any]]:
        """Run a read query and return rows as dicts."""
        cur = self.cursor()
        res = cur.execute(sql, params or [])
        cols = [d[0] for d in res.description]
        return [dict(zip(cols, row, strict=True)) for row in res.fetchall()]

    def scalar(self, sql: str, params: list[Any] | tuple[Any, ...] | None = None) -> Any:
        # fetchall, not fetchone: a half-read result left on the thread's cursor makes
        # DuckDB refuse the next relation built on it.
        rows = self.cursor().execute(sql, params or []).fetchall()
        return rows[0][0] if rows else None

    @contextmanager
    def write(self) -> Iterator[duckdb.DuckDBPyConnection]:
        """One write transaction. Commit on success; roll back and re-raise on error."""
        if self.read_only:
            raise StoreError(f"the store {self.path} is open read-only")
        with self._write_lock:
            con = self._con
            con.execute("BEGIN")
            try:
                yield con
                if self._ledger is not None:  # an UPDATE of the row _check made: half an upsert's cost
                    con.execute("UPDATE meta SET value = ? WHERE key = 'commits'", [str(self._commits + 1)])
            except BaseException:
                with suppress(duckdb.Error):  # a failed COMMIT has already ended the transaction
                    con.execute("ROLLBACK")
                raise
            try:
                con.execute("COMMIT")
            except duckdb.Error as exc:
                raise classify(exc, self.path) or exc from exc
            if self._ledger is not None:
                self._commits += 1
                self._ledger.save(self._commits)

    def set_threads(self, n: int) -> None:
        """How many threads DuckDB may use for every query and write of this store."""
        with self._write_lock:
            self._con.execute(f"SET threads = {int(n)}")

    def next_ids(self, table: str, n: int) -> int:
        """Reserve ``n`` consecutive integer IDs for ``table``; returns the first.

        Kept in memory after one max() at first use: only the store's owner allocates.
        """
        with self._id_lock:
            if table not in self._ids:
                self._ids[table] = int(self.scalar(f"SELECT coalesce(max(id), 0) FROM {table}")) + 1
            first = self._ids[table]
            self._ids[table] = first + n
            return first

    def meta_get(self, key: str) -> str | None:
        return self.scalar("SELECT value FROM meta WHERE key = ?", [key])

    def meta_set(self, key: str, value: str) -> None:
        with self.write() as con:
            con.execute("INSERT OR REPLACE INTO meta VALUES (?, ?)", [key, value])
