"""Shared fixtures: a real store in a temp dir, and a real `runbrief serve` process."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

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
