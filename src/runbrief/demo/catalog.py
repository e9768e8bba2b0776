"""The demo shop's data: a product catalogue, carts and a warehouse stock table, in SQLite.

Seeded by the orchestrator before the services start (so seeding leaves no telemetry),
deterministically (a fixed random seed), at a size where an unindexable lookup costs
what it costs in production: a full scan of 60k products takes a few milliseconds, so
the N+1 that v2 introduces on ``/cart`` shows up as real time in its trace, not as
microseconds of noise.
"""

from __future__ import annotations

import random
import sqlite3
from dataclasses import dataclass
from pathlib import Path

__all__ = ["Catalog", "seed_shop", "seed_inventory", "CATEGORIES", "SYNC_WAREHOUSE", "is_sync_locked"]

CATEGORIES = ["books", "garden", "kitchen", "toys", "outdoor", "office", "audio", "games"]
N_PRODUCTS = 60_000
N_USERS = 120
SYNC_WAREHOUSE = "EAST-2"  # the warehouse whose stock is mid-sync: reservations touching it get 503


def is_sync_locked(product_id: int) -> bool:
    """About 1 product in 37 lives in the warehouse being re-synced."""
    return product_id % 37 == 0


@dataclass(frozen=True)
class Catalog:
    """What the traffic driver needs to know about the seeded data."""

    users: list[int]
    big_cart_user: int  # the user with the largest cart: the demo's last /cart visit
    cart_sizes: dict[int, int]


_SHOP_SCHEMA = """
CREATE TABLE products (
    id INTEGER PRIMARY KEY,
    sku TEXT NOT NULL UNIQUE,          -- binary collation: a NOCASE lookup cannot use this index
    name TEXT NOT NULL,
    category TEXT NOT NULL,
    price_cents INTEGER NOT NULL
);
CREATE INDEX products_by_category ON products (category, id);
CREATE TABLE cart_items (
    user_id INTEGER NOT NULL,
    product_id INTEGER NOT NULL,
    sku TEXT NOT NULL,
    qty INTEGER NOT NULL,
    added_at INTEGER NOT NULL
);
CREATE INDEX cart_items_by_user ON cart_items (user_id, added_at);
CREATE TABLE orders (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    user_id INTEGER NOT NULL,
    total_cents INTEGER NOT NULL,
    status TEXT NOT NULL,
    created_at TEXT NOT NULL DEFAULT (datetime('now'))
);
CREATE TABLE order_items (
    order_id INTEGER NOT NULL,
    product_id INTEGER NOT NULL,
    qty INTEGER NOT NULL,
    price_cents INTEGER NOT NULL
);
"""

_INVENTORY_SCHEMA = """
CREATE TABLE stock (
    sku TEXT PRIMARY KEY,
    warehouse TEXT NOT NULL,
    on_hand INTEGER NOT NULL
);
"""

_ADJ = ["Compact", "Classic", "Deluxe", "Travel", "Eco", "Pro", "Mini", "Family", "Vintage", "Smart"]
_NOUN = ["Lamp", "Kettle", "Notebook", "Speaker", "Planter", "Puzzle", "Backpack", "Mug", "Chair", "Board Game"]


def _sku(product_id: int) -> str:
    return f"SKU-{product_id:06d}"


def _fresh(path: Path, schema: str) -> sqlite3.Connection:
    for p in (path, path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm")):
        p.unlink(missing_ok=True)
    con = sqlite3.connect(path)
    con.execute("PRAGMA journal_mode=WAL")  # readers and the checkout writer do not block each other
    con.executescript(schema)
    return con


def seed_shop(path: Path, seed: int = 7) -> Catalog:
    """Create the shop database: products, and a cart for every user (2 to 14 items, one of 30)."""
    rng = random.Random(seed)
    con = _fresh(path, _SHOP_SCHEMA)
    with con:
        con.executemany(
            "INSERT INTO products VALUES (?, ?, ?, ?, ?)",
            (
                (i, _sku(i), f"{rng.choice(_ADJ)} {rng.choice(_NOUN)} {i}", CATEGORIES[i % len(CATEGORIES)],
                 rng.randint(299, 14_999))
                for i in range(1, N_PRODUCTS + 1)
            ),
        )
        users = list(range(1, N_USERS + 1))
        big = users[-1]
        sizes: dict[int, int] = {}
        rows = []
        for u in users:
            n = 30 if u == big else rng.randint(2, 14)
            sizes[u] = n
            for k, pid in enumerate(rng.sample(range(1, N_PRODUCTS + 1), n)):
                rows.append((u, pid, _sku(pid), rng.randint(1, 3), k))
        con.executemany("INSERT INTO cart_items VALUES (?, ?, ?, ?, ?)", rows)
    con.close()
    return Catalog(users=users, big_cart_user=big, cart_sizes=sizes)


def seed_inventory(path: Path, seed: int = 11) -> None:
    """Create the inventory database: stock per SKU, some of it in the warehouse being re-synced."""
    rng = random.Random(seed)
    con = _fresh(path, _INVENTORY_SCHEMA)
    with con:
        con.executemany(
            "INSERT INTO stock VALUES (?, ?, ?)",
            (
                (_sku(i), SYNC_WAREHOUSE if is_sync_locked(i) else rng.choice(["WEST-1", "EAST-1", "NORTH-3"]),
                 rng.randint(0, 400))
                for i in range(1, N_PRODUCTS + 1)
            ),
        )
    con.close()
