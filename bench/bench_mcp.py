"""MCP: what an agent's tool call costs on top of the operation it wraps, and what bounding saves.

Builds the MCP tests' store (2,002 Loghub HDFS lines, OpenTelemetry SDK spans, deploys, one
incident), then times each tool call (median of ``--runs``) four ways:

- **op**: the operation called directly on an open store (the baseline, same run);
- **stdio**: `runbrief mcp --store S` over stdio with no server (the store opened per call);
- **stdio→serve**: the same stdio server while `runbrief serve` owns the store (one HTTP hop);
- **http**: the streamable HTTP endpoint of `runbrief serve` at /mcp.

And for `search_logs` with a large limit: tokens of the operation's raw JSON against the
bounded answer an agent gets.

    .venv/bin/python bench/bench_mcp.py --runs 9
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import anyio
import orjson
from mcp.client.session import ClientSession
from mcp.client.stdio import StdioServerParameters, stdio_client
from mcp.client.streamable_http import streamable_http_client

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "mcp"))
from mcp_data import build  # noqa: E402

from runbrief import ops  # noqa: E402
from runbrief.agent.shaping import estimate_tokens, shape  # noqa: E402
from runbrief.store.duck import Store  # noqa: E402
from runbrief.testing import ServerProcess  # noqa: E402

RUNBRIEF = str(Path(sys.executable).with_name("runbrief"))
CALLS = [
    ("list_services", "services", {}, {}),
    ("search_logs", "logs", {"service": "hdfs", "limit": 30}, {"service": "hdfs", "limit": 30}),
    ("summarize_trace", "trace_summary", {"latest": True, "route": "/cart"}, {"latest": True, "route": "/cart"}),
    ("what_changed", "changes", {"service": "shop"}, {"service": "shop", "since_deploy": True}),
    ("list_incidents", "incidents", {}, {}),
]


def med_ms(samples: list[float]) -> float:
    return round(statistics.median(samples) * 1000, 1)


def time_ops(store_path: Path, runs: int) -> dict[str, float]:
    out = {}
    with Store.open(store_path) as store:
        for tool, op, _, params in CALLS:
            ops.run(store, op, params)  # warm
            samples = []
            for _ in range(runs):
                t = time.perf_counter()
                ops.run(store, op, params)
                samples.append(time.perf_counter() - t)
            out[tool] = med_ms(samples)
    return out


async def time_session(session: ClientSession, runs: int) -> dict[str, float]:
    out = {}
    for tool, _, args, _ in CALLS:
        await session.call_tool(tool, args)  # warm (tokenizer, imports)
        samples = []
        for _ in range(runs):
            t = time.perf_counter()
            res = await session.call_tool(tool, args)
            samples.append(time.perf_counter() - t)
            assert not res.is_error, res.content[0].text
        out[tool] = med_ms(samples)
    return out


async def stdio(store_path: Path, runs: int) -> dict[str, float]:
    params = StdioServerParameters(command=RUNBRIEF, args=["mcp", "--store", str(store_path)])
    async with stdio_client(params) as (r, w), ClientSession(r, w) as s:
        await s.initialize()
        return await time_session(s, runs)


async def http(url: str, runs: int) -> dict[str, float]:
    async with streamable_http_client(f"{url}/mcp") as (r, w), ClientSession(r, w) as s:
        await s.initialize()
        return await time_session(s, runs)


def bounding(store_path: Path) -> dict[str, Any]:
    with Store.open(store_path) as store:
        raw = ops.run(store, "logs", {"service": "hdfs", "limit": 2000})
    t = time.perf_counter()
    shaped = shape(raw, 3000)
    ms = (time.perf_counter() - t) * 1000
    return {"raw_tokens": estimate_tokens(orjson.dumps(raw).decode()), "bounded_tokens": shaped.tokens,
            "kept": len(shaped.value["logs"]), "of": len(raw["logs"]), "shape_ms": round(ms, 1)}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=9)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        base = build(Path(tmp) / "store").path
        rows: dict[str, dict[str, float]] = {"op": time_ops(base, args.runs)}
        rows["stdio"] = anyio.run(stdio, base, args.runs)
        served = Path(tmp) / "served"
        shutil.copytree(base, served)
        with ServerProcess(served, grpc=False, jobs=False) as srv:
            rows["stdio→serve"] = anyio.run(stdio, served, args.runs)
            rows["http"] = anyio.run(http, srv.url, args.runs)
        bound = bounding(base)
    print(f"median ms per call (runs={args.runs})")
    print("| tool | " + " | ".join(rows) + " |")
    print("|---|" + "---:|" * len(rows))
    for tool, *_ in CALLS:
        print(f"| {tool} | " + " | ".join(str(rows[k][tool]) for k in rows) + " |")
    print("bounding search_logs(limit=2000) to 3000 tokens:", bound)


if __name__ == "__main__":
    main()
