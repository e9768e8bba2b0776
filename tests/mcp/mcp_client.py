"""The official MCP client, as the tests drive it: stdio sessions and a deadline on every exchange.

Every exchange runs under a deadline, so a hang fails the test instead of stalling the suite.
"""

from __future__ import annotations

import json
import re
import sys
from collections.abc import Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import anyio
from mcp.client.session import ClientSession
from mcp.client.stdio import StdioServerParameters, stdio_client

RUNBRIEF = str(Path(sys.executable).with_name("runbrief"))
DEADLINE = 60.0
EVIDENCE = re.compile(r"\b(?:pat|log|dep|evt|trc|spn|inc)_[0-9a-f]+\b")


@asynccontextmanager
async def stdio_session(store: Path, *extra: str, env: dict[str, str] | None = None):  # noqa: ANN201
    params = StdioServerParameters(command=RUNBRIEF, args=["mcp", "--store", str(store), *extra], env=env)
    async with stdio_client(params) as (read, write), ClientSession(read, write) as session:
        await session.initialize()
        yield session


def run(scenario: Callable[[], Awaitable[Any]], deadline: float = DEADLINE) -> Any:
    """Run an async scenario under a deadline (a hang is a failure, not a stuck suite)."""

    async def bounded() -> Any:
        with anyio.fail_after(deadline):
            return await scenario()

    return anyio.run(bounded)


def text_of(result: Any) -> str:
    return "\n".join(c.text for c in result.content if getattr(c, "type", "") == "text")


def payload(result: Any) -> Any:
    """The JSON answer of a successful tool call (its first text block)."""
    assert not result.is_error, text_of(result)
    return json.loads(result.content[0].text)
