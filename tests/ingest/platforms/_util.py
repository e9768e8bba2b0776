"""Shared by the platform tests: real stores, the in-process server, reading rows back."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from runbrief.ingest._file_sources import ingest_local
from runbrief.store.duck import Store

DATA = Path(__file__).resolve().parents[2] / "data" / "platforms"
TOKEN = "a-server-token-of-32-characters!!"


def ingest(store: Store, *paths: Path, service: str | None = None) -> dict[str, Any]:
    return ingest_local(store, [str(p) for p in paths], service=service)


def logs(store: Store) -> list[dict[str, Any]]:
    rows = store.query("""SELECT l.ts, epoch_ns(l.ts) ts_ns, l.service, l.severity_text, l.body, l.trace_id, l.span_id,
                                 l.attributes, l.source, r.attributes resource
                          FROM logs l LEFT JOIN resources r ON r.resource_id = l.resource_id ORDER BY l.id""")
    for r in rows:
        r["attributes"] = json.loads(r["attributes"]) if isinstance(r["attributes"], str) else r["attributes"] or {}
        res = r["resource"]
        r["resource"] = json.loads(res) if isinstance(res, str) else res or {}
    return rows


def deploys(store: Store) -> list[dict[str, Any]]:
    return store.query("SELECT service, version, commit, source, epoch_ns(ts) ts_ns FROM deploys ORDER BY id")


def services(store: Store) -> set[str]:
    from runbrief.queries import services as list_services

    return {s["service"] for s in list_services(store)["services"]}
