"""Fixtures for ingest tests: real stores in tmp dirs, the loghub samples."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from runbrief.store.duck import Store

LOGHUB = Path(__file__).resolve().parents[1] / "data" / "loghub-2k"


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    s = Store.open(tmp_path / "store")
    yield s
    s.close()
