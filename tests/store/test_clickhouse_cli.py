"""The CLI and MCP on a chdb store, each its own process, as a user runs them: `runbrief store
copy` fills it, then `--store chdb:PATH --json` commands and an MCP stdio session answer as
they do on the DuckDB store they were copied from. (The operations themselves are compared
one by one in test_clickhouse_ops.py; this checks the layers in front of them.)"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("chdb")
pytest.importorskip("sqlglot")
pytest.importorskip("mcp")

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "mcp"))
from ch_fill import batch  # noqa: E402
from mcp_client import payload, run, stdio_session  # noqa: E402

from runbrief.ingest.pipeline import Pipeline  # noqa: E402
from runbrief.store.duck import Store  # noqa: E402


def _cli(*args: str) -> tuple[int, Any, str]:
    proc = subprocess.run([sys.executable, "-m", "runbrief", *args], capture_output=True, text=True, timeout=120)
    return proc.returncode, (json.loads(proc.stdout) if proc.stdout.strip() else None), proc.stderr


def _no_wall_clock(value: Any) -> Any:
    """Each process detects incidents at its own wall-clock time (detected_at): not compared."""
    if isinstance(value, dict):
        return {k: _no_wall_clock(v) for k, v in value.items() if k != "detected_at"}
    if isinstance(value, list):
        return [_no_wall_clock(v) for v in value]
    return value


@pytest.fixture(scope="module")
def stores(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, str]:
    base = tmp_path_factory.mktemp("chcli")
    with Store.open(base / "duck") as duck:
        Pipeline(duck).write(batch())
    rc, out, err = _cli("store", "copy", str(base / "duck"), f"chdb:{base / 'ch'}", "--json")
    assert rc == 0, err
    assert out["copied"]["otel_logs"] == 4080
    return str(base / "duck"), f"chdb:{base / 'ch'}"


@pytest.mark.parametrize("args", [("incidents", "--all"), ("changes", "--service", "nova-api", "--since-deploy")],
                         ids=["incidents", "changes"])
def test_cli_json_same_on_both(stores: tuple[str, str], args: tuple[str, ...]) -> None:
    duck, ch = stores
    rc, want, err = _cli(*args, "--store", duck, "--json")
    assert rc == 0, err
    rc, got, err = _cli(*args, "--store", ch, "--json")
    assert rc == 0, err
    assert want and _no_wall_clock(got) == _no_wall_clock(want)


def test_mcp_tools_same_on_both(stores: tuple[str, str]) -> None:
    calls = {"list_incidents": {"all": True}, "what_changed": {"service": "nova-api"}, "list_services": {}}

    async def answers(store: str) -> dict[str, Any]:
        async with stdio_session(store) as s:  # type: ignore[arg-type]
            return {name: payload(await s.call_tool(name, args)) for name, args in calls.items()}

    duck, ch = stores
    want = run(lambda: answers(duck))
    got = run(lambda: answers(ch))
    assert want["list_incidents"] and _no_wall_clock(got) == _no_wall_clock(want)
