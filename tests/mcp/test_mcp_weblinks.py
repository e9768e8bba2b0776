"""An MCP answer links the web page of what it cites when a server owns the store (issue 22)."""

from __future__ import annotations

import os
from pathlib import Path

import httpx
from mcp_client import payload, run, stdio_session, text_of

from runbrief.testing import ServerProcess


def test_an_answer_through_a_running_server_carries_the_page_link(tmp_path: Path) -> None:
    store = tmp_path / "s"
    with ServerProcess(store, grpc=False, jobs=False) as sp:
        dep = httpx.post(f"{sp.url}/api/op/deploy_mark", json={"service": "shop", "version": "2.0.0"}).json()["id"]

        async def scenario():  # noqa: ANN202
            async with stdio_session(store, env=dict(os.environ)) as s:
                return await s.call_tool("show", {"id": dep})

        res = run(scenario)
    assert payload(res)["id"] == dep  # the answer itself is unchanged
    assert f"web page: {sp.url}/deploys/{dep}" in text_of(res)
