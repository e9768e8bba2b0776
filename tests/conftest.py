"""Shared fixtures: a real store in a temp dir, and a real `runbrief serve` process."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from runbrief.store.duck import Store
from runbrief.testing import ServerProcess

# Real samples the tests use live in the repository (tests/data, each with its source).
LOGHUB = Path(__file__).resolve().parent / "data" / "loghub-2k"


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    s = Store.open(tmp_path / "store")
    yield s
    s.close()


@pytest.fixture
def server(tmp_path: Path) -> Iterator[ServerProcess]:
    """A real server on 127.0.0.1 with free ports, background jobs off for determinism."""
    with ServerProcess(tmp_path / "served", jobs=False) as sp:
        yield sp


@pytest.fixture(scope="session")
def demo_run(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """The real `runbrief demo`, run once for the whole suite (~15 s): its JSON, with the store
    it filled at ``["_store"]``. Tests read that store; a test that writes copies it first."""
    store = tmp_path_factory.mktemp("demo") / "store"
    env = {k: v for k, v in os.environ.items() if k not in ("RUNBRIEF_URL", "RUNBRIEF_STORE")}
    proc = subprocess.run([sys.executable, "-m", "runbrief", "demo", "--store", str(store), "--json"],
                          capture_output=True, text=True, timeout=180, env=env)
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = json.loads(proc.stdout)
    out["_store"] = store
    return out
