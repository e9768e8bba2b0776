"""Fixtures for ingest tests: real stores in tmp dirs, the loghub samples."""

from __future__ import annotations

import importlib.util
from collections.abc import Iterator
from pathlib import Path

import pytest

from runbrief.store.duck import Store

LOGHUB = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "loghub-2k"
HAVE_DISTILLER = importlib.util.find_spec("runbrief.distill.distiller") is not None


class _Passthrough:
    """Stand-in only while runbrief.distill.distiller is not in the tree (see HAVE_DISTILLER)."""

    def process(self, records: list) -> None:
        pass

    def flush(self, con: object) -> None:
        pass


@pytest.fixture(autouse=True)
def _distiller_until_merged(monkeypatch: pytest.MonkeyPatch) -> None:
    if not HAVE_DISTILLER:
        import runbrief.ingest.pipeline as pipeline

        monkeypatch.setattr(pipeline, "_default_distiller", lambda store: _Passthrough())


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    s = Store.open(tmp_path / "store")
    yield s
    s.close()
