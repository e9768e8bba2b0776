"""MCP `suspects`: the same ranking as the CLI, over the real MCP client; the repository is the server's own.

A tool call cannot name a repository (nothing a request names is read from disk): the tool
has no such argument, and the operation refuses one from any remote caller. The repository
is the one `runbrief mcp --repo PATH` was started with.
"""

from __future__ import annotations

import shutil
import sys
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from changes_fill import T0, Filler
from test_incidents import BASE_H, FAULT_AT, error_spans, ok_spans, quiet
from test_suspects import deploy, make_repo

from runbrief import ops
from runbrief.agent.shaping import unfence

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "mcp"))
from mcp_client import payload, run, stdio_session, text_of  # noqa: E402

pytestmark = pytest.mark.skipif(shutil.which("git") is None, reason="needs the git binary")


def _store_with_incident(tmp: Path) -> tuple[Path, dict[str, str], str]:
    from runbrief.store.duck import Store

    c = make_repo(tmp)
    path = tmp / "st"
    with Store.open(path) as s:
        f = Filler(s)
        quiet(f)
        ok_spans(s, "frontend", T0, BASE_H * 60 + 60)
        deploy(s, "frontend", T0 + timedelta(hours=1), "1.0", c["base"])
        deploy(s, "frontend", FAULT_AT - timedelta(minutes=5), "1.1", c["other"])
        error_spans(s, "frontend", FAULT_AT)
        (inc,) = ops.run(s, "incidents", {})
    return path, c, inc["id"]


def test_mcp_suspects_ranks_in_the_configured_repository(tmp_path: Path) -> None:
    path, c, inc = _store_with_incident(tmp_path)
    repo = tmp_path / "shop-repo"

    async def scenario() -> tuple[Any, Any, Any]:
        async with stdio_session(path, "--repo", str(repo)) as s:
            tools = {t.name: t for t in (await s.list_tools()).tools}
            ok = await s.call_tool("suspects", {"id": inc, "limit": 5})
            named = await s.call_tool("suspects", {"id": inc, "repo": "/etc"})
            return tools["suspects"], ok, named

    spec, ok, named = run(scenario)
    assert "repo" not in spec.input_schema["properties"] and spec.annotations.read_only_hint
    data = payload(ok)
    assert data["suspects"][0]["commit"] == c["bad"] and unfence(data["range"]) == f"{c['base']}..{c['other']}"
    assert any("get_cart" in unfence(w) for w in data["suspects"][0]["why"])
    # an argument the schema does not have is not passed through to the operation
    assert named.is_error or "/etc" not in text_of(named)


def test_mcp_suspects_without_a_repository_lists_the_locations(tmp_path: Path) -> None:
    path, _, inc = _store_with_incident(tmp_path)
    bare = tmp_path / "not-a-repo"
    bare.mkdir()

    async def scenario() -> Any:
        async with stdio_session(path, "--repo", str(bare)) as s:
            return await s.call_tool("suspects", {"id": inc})

    data = payload(run(scenario))
    assert data["suspects"] == [] and "not a git repository" in unfence(data["notes"][0])
    assert "shop/cart.py" in data["locations"][0]["file"]


def test_a_remote_caller_cannot_name_the_repository(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from runbrief import trust
    from runbrief.errors import Forbidden
    from runbrief.store.duck import Store

    path, c, inc = _store_with_incident(tmp_path)
    with Store.open(path) as s:
        with trust.remote("MCP"), pytest.raises(Forbidden, match="RUNBRIEF_REPO"):
            ops.run(s, "suspects", {"id": inc, "repo": str(tmp_path / "shop-repo")})
        monkeypatch.setenv("RUNBRIEF_REPO", str(tmp_path / "shop-repo"))
        with trust.remote("MCP"):
            assert ops.run(s, "suspects", {"id": inc})["suspects"][0]["commit"] == c["bad"]
