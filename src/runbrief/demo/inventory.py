"""The demo's downstream service, `inventory`: stock levels and reservations.

It does not change across the demo's deploy; what changes is how `shop` calls it. One
warehouse is being re-synced, so a reservation touching its stock waits briefly for the
sync, then is refused with 503 and ``Retry-After`` — the correct answer, which v1 of the
shop honours and v2 hammers.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
from pathlib import Path

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from runbrief.demo.catalog import SYNC_WAREHOUSE

__all__ = ["build_inventory"]

log = logging.getLogger("inventory.reservations")

SYNC_WAIT_S = 0.025  # how long a reservation waits for the warehouse sync before refusing


def build_inventory(version: str, db_path: Path) -> Starlette:
    local = threading.local()
    sync_done = threading.Event()  # the re-sync of SYNC_WAREHOUSE does not finish during the demo

    def con() -> sqlite3.Connection:
        c = getattr(local, "con", None)
        if c is None:
            c = sqlite3.connect(str(db_path), timeout=10)
            local.con = c
        return c

    def stock(request: Request) -> JSONResponse:
        skus = [s for s in request.query_params.get("skus", "").split(",") if s]
        cur = con().cursor()
        cur.execute(f"SELECT sku, on_hand FROM stock WHERE sku IN ({', '.join('?' * len(skus)) or 'NULL'})", skus)
        return JSONResponse({"stock": dict(cur.fetchall())})

    def _reserve(order_id: int, skus: list[str]) -> JSONResponse:
        c = con()
        cur = c.cursor()
        cur.execute(
            f"SELECT sku, warehouse, on_hand FROM stock WHERE sku IN ({', '.join('?' * len(skus)) or 'NULL'})", skus
        )
        rows = cur.fetchall()
        locked = [r for r in rows if r[1] == SYNC_WAREHOUSE]
        if locked and not sync_done.wait(SYNC_WAIT_S):
            log.warning("reservation for order %d rejected: %s is locked by the %s stock sync",
                        order_id, locked[0][0], SYNC_WAREHOUSE)
            return JSONResponse({"error": f"warehouse {SYNC_WAREHOUSE} is re-syncing stock; retry later"},
                                status_code=503, headers={"Retry-After": "2"})
        cur.executemany("UPDATE stock SET on_hand = max(on_hand - 1, 0) WHERE sku = ?", [(s,) for s in skus])
        c.commit()
        log.info("reserved %d skus for order %d", len(skus), order_id)
        return JSONResponse({"order_id": order_id, "reserved": len(skus)})

    async def reserve(request: Request) -> JSONResponse:
        body = await request.json()
        return await run_in_threadpool(_reserve, int(body.get("order_id", 0)), list(body.get("skus", [])))

    def health(request: Request) -> JSONResponse:
        return JSONResponse({"ok": True, "service": "inventory", "version": version})

    return Starlette(routes=[
        Route("/health", health),
        Route("/stock", stock),
        Route("/reserve", reserve, methods=["POST"]),
    ])
