"""The demo's front service, `shop`: products, carts and checkout, in two versions.

Version 1 is the code as it was. Version 2 is what a busy week of agent-written changes
shipped, each change plausible in review and wrong at runtime:

1. **N+1 on /cart.** The cart is loaded with one query, then one product lookup per item
   (instead of v1's join), by SKU with ``COLLATE NOCASE`` "so hand-typed SKUs match":
   the unique index on ``sku`` has binary collation, so every lookup scans the catalogue.
2. **A swallowed error.** Checkout now awards loyalty points, against a table whose
   migration never ran; the exception is caught and logged as "loyalty update failed",
   with no exception, order or user attached. The request still answers 200.
3. **A retry storm.** v1 reserved stock once and, on a 503 from `inventory`, deferred the
   order. v2 "makes reservations reliable": it retries at once, up to 12 times, ignoring
   ``Retry-After`` — and the warehouse being re-synced answers 503 every time.

Version 2.0.1 (``FIXED_VERSION``) is the fix: the three changes reverted, so the demo can
deploy it and show `runbrief verify` judge it ``fixed``.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
from pathlib import Path
from typing import Any

import httpx
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from runbrief.demo.catalog import CATEGORIES

__all__ = ["build_shop", "FIXED_VERSION"]

FIXED_VERSION = "2.0.1"

RETRY_ATTEMPTS_V2 = 12
PAGE_SIZE = 20

log_catalog = logging.getLogger("shop.catalog")
log_cart = logging.getLogger("shop.cart")
log_checkout = logging.getLogger("shop.checkout")


class _Db:
    """One SQLite connection per worker thread (sqlite3 connections are not shared across threads)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._local = threading.local()

    def cursor(self) -> sqlite3.Cursor:
        con = getattr(self._local, "con", None)
        if con is None:
            con = sqlite3.connect(str(self.path), timeout=10)  # the instrumented driver: a span per query
            con.execute("PRAGMA busy_timeout = 10000")
            self._local.con = con
        return con.cursor()

    def commit(self) -> None:
        self._local.con.commit()


def build_shop(version: str, db_path: Path, inventory_url: str) -> Starlette:
    v2 = version.split(".")[0] == "2" and version != FIXED_VERSION
    db = _Db(db_path)
    inventory = httpx.Client(base_url=inventory_url, timeout=5.0)

    def load_cart(user: int) -> list[dict[str, Any]]:
        cur = db.cursor()
        if not v2:
            cur.execute(
                "SELECT p.id, p.sku, p.name, p.price_cents, c.qty FROM cart_items c "
                "JOIN products p ON p.id = c.product_id WHERE c.user_id = ? ORDER BY c.added_at",
                (user,),
            )
            return [dict(zip(("id", "sku", "name", "price_cents", "qty"), r, strict=True)) for r in cur.fetchall()]
        # v2: one query for the cart, then one per item (N+1), by an index-defeating NOCASE match.
        cur.execute("SELECT sku, qty FROM cart_items WHERE user_id = ? ORDER BY added_at", (user,))
        items = []
        for sku, qty in cur.fetchall():
            cur.execute("SELECT id, name, price_cents FROM products WHERE sku = ? COLLATE NOCASE", (sku,))
            row = cur.fetchone()
            if row:
                items.append({"id": row[0], "sku": sku, "name": row[1], "price_cents": row[2], "qty": qty})
        return items

    def products(request: Request) -> JSONResponse:
        category = request.query_params.get("category", "books")
        page = int(request.query_params.get("page", "1"))
        if category not in CATEGORIES:
            log_catalog.warning("unknown category %r requested", category)
            return JSONResponse({"error": f"unknown category {category!r}"}, status_code=404)
        cur = db.cursor()
        cur.execute(
            "SELECT id, sku, name, price_cents FROM products WHERE category = ? ORDER BY id LIMIT ? OFFSET ?",
            (category, PAGE_SIZE, (page - 1) * PAGE_SIZE),
        )
        rows = cur.fetchall()
        skus = [r[1] for r in rows]
        stock = inventory.get("/stock", params={"skus": ",".join(skus)})
        levels = stock.json().get("stock", {}) if stock.status_code == 200 else {}
        log_catalog.info("listed %d products in %s page %d", len(rows), category, page)
        return JSONResponse({"products": [
            {"id": r[0], "sku": r[1], "name": r[2], "price_cents": r[3], "in_stock": levels.get(r[1], 0) > 0}
            for r in rows
        ]})

    def cart(request: Request) -> JSONResponse:
        user = int(request.query_params.get("user", "1"))
        items = load_cart(user)
        total = sum(i["price_cents"] * i["qty"] for i in items)
        log_cart.info("cart for user %d has %d items totalling %d cents", user, len(items), total)
        return JSONResponse({"user": user, "items": items, "total_cents": total})

    def reserve(order_id: int, skus: list[str]) -> str:
        attempts = RETRY_ATTEMPTS_V2 if v2 else 1
        for attempt in range(1, attempts + 1):
            resp = inventory.post("/reserve", json={"order_id": order_id, "skus": skus})
            if resp.status_code == 200:
                return "reserved"
            if resp.status_code != 503:
                break
            if v2 and attempt < attempts:
                # v2: immediate retry, no backoff, Retry-After ignored.
                log_checkout.warning("inventory reserve for order %d returned 503, retrying (attempt %d of %d)",
                                     order_id, attempt, attempts)
        if v2:
            log_checkout.error("could not reserve stock for order %d after %d attempts", order_id, attempts)
        else:
            log_checkout.warning("stock reservation for order %d deferred: inventory busy, will retry later",
                                 order_id)
        return "awaiting_stock"

    def award_loyalty_points(user: int, total_cents: int) -> None:
        cur = db.cursor()
        cur.execute("UPDATE loyalty_points SET points = points + ? WHERE user_id = ?", (total_cents // 100, user))
        db.commit()

    async def checkout(request: Request) -> JSONResponse:
        body = await request.json()
        return await run_in_threadpool(_checkout, int(body.get("user", 1)))

    def _checkout(user: int) -> JSONResponse:
        items = load_cart(user)
        if not items:
            log_checkout.warning("checkout with an empty cart for user %d", user)
            return JSONResponse({"error": "cart is empty"}, status_code=400)
        total = sum(i["price_cents"] * i["qty"] for i in items)
        cur = db.cursor()
        cur.execute("INSERT INTO orders (user_id, total_cents, status) VALUES (?, ?, 'new')", (user, total))
        order_id = int(cur.lastrowid or 0)
        cur.executemany("INSERT INTO order_items VALUES (?, ?, ?, ?)",
                        [(order_id, i["id"], i["qty"], i["price_cents"]) for i in items])
        db.commit()
        status = reserve(order_id, [i["sku"] for i in items])
        cur.execute("UPDATE orders SET status = ? WHERE id = ?", (status, order_id))
        db.commit()
        if v2:
            try:
                award_loyalty_points(user, total)
            except Exception:  # noqa: BLE001 - the v2 regression: swallowed, logged without context
                log_checkout.error("loyalty update failed")
        log_checkout.info("order %d placed for user %d: %d items, %d cents, %s",
                          order_id, user, len(items), total, status)
        return JSONResponse({"order_id": order_id, "status": status, "total_cents": total})

    def health(request: Request) -> JSONResponse:
        return JSONResponse({"ok": True, "service": "shop", "version": version})

    app = Starlette(routes=[
        Route("/health", health),
        Route("/products", products),
        Route("/cart", cart),
        Route("/checkout", checkout, methods=["POST"]),
    ])
    app.state.close = inventory.close
    return app
