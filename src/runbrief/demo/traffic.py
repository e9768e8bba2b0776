"""The demo's users: a deterministic, realistic mix of browsing, carts and checkouts.

About 45% catalogue pages (a few for a category that does not exist, so the baseline has
its normal 404s), 35% cart views and 20% checkouts, from a few concurrent clients, in
bursts of one fast-forwarded minute each (see ``clock``). The plan is drawn from a fixed
seed so two runs send the same requests; the last request is always a visit to the
largest cart, so "the latest /cart trace" is a telling one.
"""

from __future__ import annotations

import random
import threading
import time
from collections import Counter
from collections.abc import Callable
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


@dataclass
class TrafficResult:
    requests: int = 0
    minutes: int = 0
    by_route: Counter[str] = field(default_factory=Counter)  # "GET /cart 200" -> count
    failures: int = 0  # transport errors (no HTTP answer)
    elapsed_s: float = 0.0

    def as_dict(self) -> dict[str, Any]:
        return {"requests": self.requests, "minutes": self.minutes, "by_route": dict(sorted(self.by_route.items())),
                "failures": self.failures, "elapsed_s": round(self.elapsed_s, 2)}


def _one(rng: random.Random, catalog: Catalog) -> Request:
    r = rng.random()
    if r < 0.45:
        category = "clearance" if rng.random() < 0.03 else rng.choice(CATEGORIES)
        return Request("GET", "/products", {"category": category, "page": rng.randint(1, 5)})
    if r < 0.80:
        return Request("GET", "/cart", {"user": rng.choice(catalog.users)})
    return Request("POST", "/checkout", body={"user": rng.choice(catalog.users)})


def plan(catalog: Catalog, minutes: int, per_minute: int, seed: int) -> list[list[Request]]:
    """``minutes`` bursts of ``per_minute`` requests; the very last one visits the largest cart."""
    rng = random.Random(seed)
    out = [[_one(rng, catalog) for _ in range(per_minute)] for _ in range(minutes)]
    if out:
        out[-1].append(Request("GET", "/cart", {"user": catalog.big_cart_user}))
    return out


def drive(base_url: str, minutes: list[list[Request]], begin_minute: Callable[[int], Any], *,
          concurrency: int = 4, on_progress: Callable[[int], None] | None = None) -> TrafficResult:
    """Send each minute's requests concurrently, then wait for all of them before the next minute.

    ``begin_minute(i)`` is called before minute ``i`` starts (the fast-forward clock). The
    final request of the final minute is sent alone, after every other one has returned.
    """
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
            key, failed = f"{req.method} {req.path} {resp.status_code}", False
        except httpx.HTTPError:
            key, failed = f"{req.method} {req.path} error", True
        with lock:
            result.requests += 1
            result.by_route[key] += 1
            result.failures += failed
        if on_progress is not None:
            on_progress(1)

    start = time.perf_counter()
    try:
        with ThreadPoolExecutor(max_workers=concurrency, thread_name_prefix="demo-user") as pool:
            for i, reqs in enumerate(minutes):
                begin_minute(i)
                last = i == len(minutes) - 1
                list(pool.map(send, reqs[:-1] if last else reqs))  # returns once every request has
                if last and reqs:
                    send(reqs[-1])
                result.minutes += 1
    finally:
        for c in clients:
            c.close()
    result.elapsed_s = time.perf_counter() - start
    return result
