"""The MCP endpoint of `runbrief serve` (streamable HTTP at /mcp), with the official client."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
from mcp.client.session import ClientSession
from mcp.client.streamable_http import streamable_http_client
from mcp_client import payload, run, stdio_session, text_of
from mcp_data import Facts

from runbrief.agent.shaping import fence, unfence
from runbrief.agent.tools import TOOLS
from runbrief.testing import ServerProcess


async def _session_calls(url: str, calls: list[tuple[str, dict[str, Any]]]) -> tuple[list[Any], list[Any]]:
    async with streamable_http_client(f"{url}/mcp") as (read, write), ClientSession(read, write) as s:
        await s.initialize()
        tools = (await s.list_tools()).tools
        return tools, [await s.call_tool(name, args) for name, args in calls]


def test_serve_answers_mcp_over_streamable_http(facts: Facts, store_copy: Path) -> None:
    calls = [
        ("list_services", {}),
        ("summarize_trace", {"latest": True, "route": "/cart"}),
        ("search_logs", {"service": "hdfs", "severity": "warn", "limit": 5}),
        ("show", {"id": "dep_1"}),
        ("mark_deploy", {"service": "shop", "version": "2.0.1", "commit": "def5678"}),
        ("list_deploys", {"service": "shop"}),
        ("search_logs", {"limit": -3}),
    ]
    with ServerProcess(store_copy, grpc=False, jobs=False) as srv:
        tools, results = run(lambda: _session_calls(srv.url, calls))
        health = httpx.get(f"{srv.url}/api/health").json()
        stdio = run(lambda: _stdio_while_served(store_copy))
    assert {t.name for t in tools} == {t.name for t in TOOLS}
    services, summary, logs, dep, marked, deploys, bad = results
    assert [unfence(s["service"]) for s in payload(services)["services"]] == facts.services
    assert any(p["type"] == "n_plus_one_db" for p in payload(summary)["problems"])
    assert all(r["body"].startswith("<untrusted-data") for r in payload(logs)["logs"])
    assert payload(dep)["service"] == fence("hdfs")  # a service name is telemetry: fenced
    new_dep = payload(marked)["id"]
    assert new_dep.startswith("dep_")
    assert new_dep in text_of(deploys) and "2.0.1" in text_of(deploys)
    assert bad.is_error and "limit" in text_of(bad)
    assert health["ok"]
    # `runbrief mcp` (stdio) cannot open a store the server holds: it must have asked the server
    assert new_dep in text_of(stdio) and "2.0.1" in text_of(stdio)


async def _stdio_while_served(store: Path) -> Any:
    async with stdio_session(store) as s:
        return await s.call_tool("list_deploys", {"service": "shop"})


def test_mcp_endpoint_refuses_foreign_hosts_and_missing_tokens(store_copy: Path, tmp_path: Path) -> None:
    init = {"jsonrpc": "2.0", "id": 1, "method": "initialize",
            "params": {"protocolVersion": "2025-06-18", "capabilities": {},
                       "clientInfo": {"name": "probe", "version": "0"}}}
    headers = {"Accept": "application/json, text/event-stream", "Content-Type": "application/json"}
    with ServerProcess(store_copy, grpc=False, jobs=False) as srv:
        # a web page the user visits cannot reach the tools through DNS rebinding
        foreign = httpx.post(f"{srv.url}/mcp", json=init, headers={**headers, "Host": "evil.example:80"})
        ok = httpx.post(f"{srv.url}/mcp", json=init, headers=headers)
    assert foreign.status_code in (403, 421), foreign.text
    assert ok.status_code == 200, ok.text
    with ServerProcess(tmp_path / "tokened", grpc=False, jobs=False, extra_args=["--token", "s3cret-token-0123456789"]) as srv:
        anonymous = httpx.post(f"{srv.url}/mcp", json=init, headers=headers)
        allowed = httpx.post(f"{srv.url}/mcp", json=init, headers={**headers, "Authorization": "Bearer s3cret-token-0123456789"})
    assert anonymous.status_code == 401
    assert allowed.status_code == 200, allowed.text
