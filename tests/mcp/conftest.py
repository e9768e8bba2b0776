"""Fixtures of the MCP tests: one real store per session (see mcp_data), and private copies."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from mcp_data import Facts, build


@pytest.fixture(scope="session")
def facts(tmp_path_factory: pytest.TempPathFactory) -> Facts:
    return build(tmp_path_factory.mktemp("mcp") / "store")


@pytest.fixture
def store_copy(facts: Facts, tmp_path: Path) -> Path:
    """A private copy of the session's store (for a server that takes its lock, or writes)."""
    dest = tmp_path / "store"
    shutil.copytree(facts.path, dest, ignore=shutil.ignore_patterns("server.json"))
    return dest
