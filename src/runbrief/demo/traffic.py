"""The demo's users: a deterministic, realistic mix of browsing, carts and checkouts.

About 45% catalogue pages (a few for a category that does not exist, so the baseline has
its normal 404s), 35% cart views and 20% checkouts, from a few concurrent clients. The
plan is drawn from a fixed seed so two runs send the same requests; the last request is
always a visit to the largest cart, so "the latest /cart trace" is a telling one.
"""

from __future__ import annotations

import random
import threading
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import httpx

from runbrief.demo.catalog import CATEGORIES, Catalog

__all__ = ["Request", "plan", "drive", "TrafficResult"]


@dataclass(frozen=True)
class Request:
    method: str
    path: str
    params: dict[str, Any] = field(default_factory=dict)
    body: dict[str, Any] | None = None

    @property
    def route(self) -> str:
        return self.path


@dataclass
class TrafficResult:
    requests: int = 0
    by_route: Counter[str] = field(default_factory=Counter)  # "GET /cart 200" -> count
    failures: int = 0  # transport errors (no HTTP answer)
    elapsed_s: float = 0.0

    def as_dict(self) -> dict[str, Any]:
        return {"requests": self.requests, "by_route": dict(sorted(self.by_route.items())),
                "failures": self.failures, "elapsed_s": round(self.elapsed_s, 2)}


def plan(catalog: Catalog, n: int, seed: int) -> list[Request]:
    rng = random.Random(seed)
    out: list[Request] = []
    for _ in range(n):
        r = rng.random()
        if r < 0.45:
            category = "clearance" if rng.random() < 0.03 else rng.choice(CATEGORIES)
            out.append(Request("GET", "/products", {"category": category, "page": rng.randint(1, 5)}))
        elif r < 0.80:
            out.append(Request("GET", "/cart", {"user": rng.choice(catalog.users)}))
        else:
            out.append(Request("POST", "/checkout", body={"user": rng.choice(catalog.users)}))
    out.append(Request("GET", "/cart", {"user": catalog.big_cart_user}))
    return out


def drive(base_url: str, requests: list[Request], *, concurrency: int = 4,
          on_progress: Any = None) -> TrafficResult:
    """Send ``requests`` (all but the last concurrently, the last one alone, at the end)."""
    import time

    result = TrafficResult()
    lock = threading.Lock()
    local = threading.local()
    clients: list[httpx.Client] = []

    def client() -> httpx.Client:
        c = getattr(local, "client", None)
        if c is None:
            c = local.client = httpx.Client(base_url=base_url, timeout=30.0)
            with lock:
                clients.append(c)
        return c

    def send(req: Request) -> None:
        try:
            resp = client().request(req.method, req.path, params=req.params or None, json=req.body)
            key = f"{req.method} {req.route} {resp.status_code}"
            failed = False
        except httpx.HTTPError:
            key, failed = f"{req.method} {req.route} error", True
        with lock:
            result.requests += 1
            result.by_route[key] += 1
            result.failures += failed
            if on_progress is not None:
                on_progress(1)

    start = time.perf_counter()
    try:
        with ThreadPoolExecutor(max_workers=concurrency, thread_name_prefix="demo-user") as pool:
            list(pool.map(send, requests[:-1]))
        if requests:
            send(requests[-1])
    finally:
        for c in clients:
            c.close()
    result.elapsed_s = time.perf_counter() - start
    return result
