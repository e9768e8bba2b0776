"""Retention by age and by size, on by default.

Age counts back from the newest record *of each kind* (see ``cutoffs``): an imported
month of logs is kept while no newer log arrives, whatever traces flow meanwhile. Raw
records go first (logs, spans, metric points, events); the per-minute pattern counts
that baselines rest on are kept much longer because they are tiny. Deploys and incidents
are never dropped: they are the memory. Size is enforced by dropping the oldest day of
raw records at a time until the store is under its limit (DuckDB reuses freed blocks
after a checkpoint, so the file stops growing rather than shrinking).
"""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta
from typing import Any

from runbrief import settings
from runbrief.ops import operation
from runbrief.server.background import job
from runbrief.store.duck import Store

__all__ = ["apply_retention", "cutoffs", "preview", "warnings"]

_RAW = (("logs", "ts"), ("spans", "start_ts"), ("metric_points", "ts"), ("events", "ts"))
_NOUN = {"logs": "log lines", "spans": "spans", "metric_points": "metric points", "events": "events"}


def _size(store: Store) -> int:
    total = 0
    for p in (store.path, store.path.with_suffix(store.path.suffix + ".wal")):
        if p.exists():
            total += p.stat().st_size
    return total


def _delete_before(store: Store, cutoff: datetime | dict[str, datetime]) -> dict[str, int]:
    """Delete raw records older than ``cutoff`` (one for all kinds, or one per table)."""
    deleted: dict[str, int] = {}
    with store.write() as con:
        for table, col in _RAW:
            at = cutoff.get(table) if isinstance(cutoff, dict) else cutoff
            if at is None:
                continue
            n = con.execute(f"DELETE FROM {table} WHERE {col} < ?", [at]).fetchone()[0]
            if table == "spans":  # the GenAI rows derived from them (schema 0010) go with them
                con.execute("DELETE FROM genai_calls WHERE start_ts < ?", [at])
            if n:
                deleted[table] = deleted.get(table, 0) + int(n)
    return deleted


def _wall() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


def cutoffs(store: Store, now: datetime | None = None) -> dict[str, datetime]:
    """Per raw table, the time before which its records are dropped.

    Each kind counts back from its own newest record (never from a future one: the wall
    clock caps it), so history imported from last month is kept until newer records of
    the same kind arrive. ``now`` pins one anchor for every kind (tests, explicit runs).
    Empty when retention by age is off (RUNBRIEF_RETENTION_DAYS=0)."""
    days = settings.get("retention_days")
    if days <= 0:
        return {}
    out: dict[str, datetime] = {}
    for table, col in _RAW:
        if now is not None:
            anchor = now
        else:
            newest = store.scalar(f"SELECT max({col}) FROM {table}")
            if newest is None:
                continue
            anchor = min(_wall(), newest)
        out[table] = anchor - timedelta(days=days)
    return out


def preview(store: Store) -> dict[str, Any]:
    """What the next retention run would drop by age, per kind, and the days that keep it."""
    days = settings.get("retention_days")
    kinds: dict[str, Any] = {}
    keep = 0
    cuts = cutoffs(store)
    for table, col in _RAW:
        cut = cuts.get(table)
        if cut is None:
            continue
        n, oldest = store.query(f"SELECT count(*) FILTER (WHERE {col} < ?) n, min({col}) oldest FROM {table}",
                                [cut])[0].values()
        if n:
            anchor = cut + timedelta(days=days)
            keep = max(keep, math.ceil((anchor - oldest) / timedelta(days=1)) + 1)
            kinds[table] = {"rows": int(n), "oldest": oldest.isoformat() + "Z", "cutoff": cut.isoformat() + "Z"}
    return {"retention_days": days, "every_s": settings.get("retention_every_s"), "would_delete": kinds,
            "keep_days": keep or None}


def warnings(p: dict[str, Any]) -> list[str]:
    """Sentences for a ``preview``: what will go, when, and the setting that keeps it."""
    out = []
    for table, k in p["would_delete"].items():
        out.append(
            f"{k['rows']} {_NOUN[table]} are older than the retention window ({p['retention_days']:g} days back "
            f"from the newest, i.e. before {k['cutoff']}; the oldest is {k['oldest']}) and will be deleted when "
            f"retention next runs (every {p['every_s'] / 60:g} min in `runbrief serve`); to keep them, set "
            f"RUNBRIEF_RETENTION_DAYS={p['keep_days']} (0 keeps everything) where the server runs")
    return out


def apply_retention(store: Store, now: datetime | None = None) -> dict[str, Any]:
    """Drop what is older than the retention window, counted back from the newest record
    of each kind (``cutoffs``).

    Anchored on the data rather than the wall clock, so a log file imported from last
    year is not wiped by the next run: the window keeps the last N days *of data*.
    """
    deleted: dict[str, int] = {}
    cut = cutoffs(store, now)
    if now is None:  # the counts are of log lines: they count back from their own newest minute
        newest = store.scalar("SELECT max(minute) FROM pattern_counts")
        now = min(_wall(), newest) if newest is not None else _wall()
    if cut:
        for k, v in _delete_before(store, cut).items():
            deleted[k] = deleted.get(k, 0) + v
    rollup_days = settings.get("rollup_retention_days")
    days = settings.get("retention_days")
    # Counts never go before the lines they count (nor at all when lines are kept forever).
    rollup_days = 0 if days <= 0 else max(rollup_days, days) if rollup_days > 0 else 0
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


@operation("retention_preview")
def retention_preview(store: Store) -> dict[str, Any]:
    """What retention would drop by age now, per kind, with the RUNBRIEF_RETENTION_DAYS that keeps it."""
    p = preview(store)
    return {**p, "warnings": warnings(p)}


@job("retention", every_s=settings.get("retention_every_s"))
def _retention_job(store: Store) -> None:
    apply_retention(store)
