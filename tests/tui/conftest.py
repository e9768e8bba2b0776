"""The demo's store, built once for the terminal-view tests by the real `runbrief demo`.

The demo runs a real server, the real shop and inventory services (OpenTelemetry) and a
bad deploy (~10 s); its store then holds an hour of patterns, a deploy, new error
patterns and open incidents: what `runbrief top` is for. Tests that write copy it.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest


@pytest.fixture(scope="session")
def demo_store(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    store = tmp_path_factory.mktemp("tui-demo") / "store"
    env = {k: v for k, v in os.environ.items() if k not in ("RUNBRIEF_URL", "RUNBRIEF_STORE")}
    proc = subprocess.run([sys.executable, "-m", "runbrief", "demo", "--store", str(store), "--json"],
                          capture_output=True, text=True, timeout=180, env=env)
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = json.loads(proc.stdout)
    out["_store"] = store
    return out


@pytest.fixture
def copy_store() -> Any:
    """Make a writable copy of a stopped store (its server's address file left behind)."""

    def copy(src: Path, dst: Path) -> Path:
        shutil.copytree(src, dst, ignore=shutil.ignore_patterns("server.json", "demo"))
        return dst

    return copy
