"""Whole-process start-up of the CLI and the MCP server (issue 15).

Prints medians of N runs: `python -c pass` (the baseline), `runbrief --help`,
`runbrief --version`, `runbrief services --json` and `runbrief incidents --json` on a store,
the same two and `changes --json` while a server holds a copy of the store, and the time
from spawning `runbrief mcp` to its answer to `initialize` and to a first
`tools/call`, measured with the real MCP client over stdio.

    .venv/bin/python bench/startup.py --store /tmp/demo-store [--runs 11]
    # the same against another checkout (e.g. a baseline commit in a git worktree):
    .venv/bin/python bench/startup.py --store /tmp/demo-store --src /tmp/base/src
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path


def _wall(cmd: list[str], runs: int) -> float:
    times = []
    for _ in range(runs):
        t = time.perf_counter()
        subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False)
        times.append(time.perf_counter() - t)
    return statistics.median(times)


async def _mcp_once(runbrief: list[str], store: str) -> tuple[float, float]:
    from mcp.client.stdio import stdio_client

    from mcp import ClientSession, StdioServerParameters

    t = time.perf_counter()
    params = StdioServerParameters(command=runbrief[0], args=[*runbrief[1:], "mcp", "--store", store],
                                   env=dict(os.environ))
    async with stdio_client(params) as (r, w), ClientSession(r, w) as session:
        await session.initialize()
        t_init = time.perf_counter() - t
        await session.call_tool("list_services", {})
        t_call = time.perf_counter() - t
    return t_init, t_call


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--store", required=True, help="an existing store (e.g. the one `runbrief demo` leaves)")
    ap.add_argument("--runs", type=int, default=11)
    ap.add_argument("--src", help="run the runbrief package found in this source folder instead (PYTHONPATH)")
    args = ap.parse_args()
    if args.src:
        os.environ["PYTHONPATH"] = str(Path(args.src).resolve())
        runbrief = [sys.executable, "-m", "runbrief"]
    else:
        runbrief = [shutil.which("runbrief", path=str(Path(sys.executable).parent)) or "runbrief"]
    rows = {
        "python -c pass": _wall([sys.executable, "-c", "pass"], args.runs),
        "runbrief --help": _wall([*runbrief, "--help"], args.runs),
        "runbrief --version": _wall([*runbrief, "--version"], args.runs),
        "runbrief services --json": _wall([*runbrief, "services", "--json", "--store", args.store], args.runs),
        "runbrief incidents --json": _wall([*runbrief, "incidents", "--json", "--store", args.store], args.runs),
    }
    # The same store held by a running server: the CLI asks it over HTTP.
    import tempfile

    from runbrief.testing import ServerProcess

    with tempfile.TemporaryDirectory() as tmp:
        copy = Path(tmp) / "store"
        shutil.copytree(Path(args.store) if Path(args.store).is_dir() else Path(args.store).parent, copy,
                        ignore=shutil.ignore_patterns("server.json", "demo"))
        with ServerProcess(copy, grpc=False, jobs=False):
            for cmd in (["changes", "--json"], ["services", "--json"]):
                rows[f"runbrief {' '.join(cmd)} (server running)"] = _wall([*runbrief, *cmd, "--store", str(copy)],
                                                                           args.runs)
    inits, calls = [], []
    for _ in range(max(3, args.runs // 2)):
        i, c = asyncio.run(_mcp_once(runbrief, args.store))
        inits.append(i)
        calls.append(c)
    rows["runbrief mcp: initialize answered"] = statistics.median(inits)
    rows["runbrief mcp: first tools/call answered"] = statistics.median(calls)
    base = rows["python -c pass"]
    for name, secs in rows.items():
        print(f"{name:42s} {secs:6.3f} s  {secs / base:5.1f}x")


if __name__ == "__main__":
    main()
