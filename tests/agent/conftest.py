"""Fixtures of the agent-safety tests: one store of hostile telemetry per session, and private copies."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from hostile_store import Seeded, build


@pytest.fixture(scope="session")
def hostile(tmp_path_factory: pytest.TempPathFactory) -> Seeded:
    return build(tmp_path_factory.mktemp("hostile") / "store")


@pytest.fixture
def hostile_copy(hostile: Seeded, tmp_path: Path) -> Path:
    """A private copy of the hostile store (the writing tools change it)."""
    dest = tmp_path / "store"
    shutil.copytree(hostile.path, dest, ignore=shutil.ignore_patterns("server.json"))
    return dest
