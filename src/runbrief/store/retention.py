"""Retention by age and by size, on by default.

Age counts back from the newest record in the store (see ``apply_retention``). Raw records
go first (logs, spans, metric points, events); the per-minute pattern counts
that baselines rest on are kept much longer because they are tiny. Deploys and incidents
are never dropped: they are the memory. Size is enforced by dropping the oldest day of
raw records at a time until the store is under its limit (DuckDB reuses freed blocks
after a checkpoint, so the file stops growing rather than shrinking).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from runbrief import settings
from runbrief.ops import operation
from runbrief.server.background import job
from runbrief.store.duck import Store

__all__ = ["apply_retention"]

_RAW = (("logs", "ts"), ("spans", "start_ts"), ("metric_points", "ts"), ("events", "ts"))


def _size(store: Store) -> int:
    total = 0
    for p in (store.path, store.path.with_suffix(store.path.suffix + ".wal")):
        if p.exists():
            total += p.stat().st_size
    return total


def _delete_before(store: Store, cutoff: datetime) -> dict[str, int]:
    deleted: dict[str, int] = {}
    with store.write() as con:
        for table, col in _RAW:
            n = con.execute(f"DELETE FROM {table} WHERE {col} < ?", [cutoff]).fetchone()[0]
            if n:
                deleted[table] = deleted.get(table, 0) + int(n)
    return deleted


def _newest(store: Store) -> datetime | None:
    return store.scalar("SELECT greatest((SELECT max(ts) FROM logs), (SELECT max(start_ts) FROM spans), "
                        "(SELECT max(ts) FROM metric_points))")


def apply_retention(store: Store, now: datetime | None = None) -> dict[str, Any]:
    """Drop what is older than the retention window, counted back from the newest record.

    Anchored on the newest record rather than the wall clock, so a log file imported from
    last year is not wiped by the next run: the window keeps the last N days *of data*.
    """
    if now is None:
        wall = datetime.now(UTC).replace(tzinfo=None)
        newest = _newest(store)
        now = min(wall, newest) if newest is not None else wall
    deleted: dict[str, int] = {}
    days = settings.get("retention_days")
    if days > 0:
        for k, v in _delete_before(store, now - timedelta(days=days)).items():
            deleted[k] = deleted.get(k, 0) + v
    rollup_days = settings.get("rollup_retention_days")
    if rollup_days > 0:
        with store.write() as con:
            n = con.execute("DELETE FROM pattern_counts WHERE minute < ?", [now - timedelta(days=rollup_days)]).fetchone()[0]
            if n:
                deleted["pattern_counts"] = int(n)
                from runbrief.ingest.pipeline import forget_written

                forget_written(store)  # the writer must not take a deleted row for one it holds
    limit = settings.get("max_store_mb") * 1024 * 1024
    if limit > 0 and _size(store) > limit:
        store.cursor().execute("CHECKPOINT")
        oldest = store.scalar("SELECT min(ts) FROM logs") or store.scalar("SELECT min(start_ts) FROM spans")
        rounds = 0
        while oldest is not None and _size(store) > limit and rounds < 30:
            for k, v in _delete_before(store, oldest + timedelta(days=1)).items():
                deleted[k] = deleted.get(k, 0) + v
            store.cursor().execute("CHECKPOINT")
            oldest = store.scalar("SELECT min(ts) FROM logs") or store.scalar("SELECT min(start_ts) FROM spans")
            rounds += 1
    return {"deleted": deleted, "store_bytes": _size(store)}


@operation("retention", read_only=False)
def retention(store: Store) -> dict[str, Any]:
    """Apply retention now (age and size limits from RUNBRIEF_RETENTION_DAYS / RUNBRIEF_MAX_STORE_MB)."""
    return apply_retention(store)


@job("retention", every_s=settings.get("retention_every_s"))
def _retention_job(store: Store) -> None:
    apply_retention(store)
