"""Fixtures of the close-the-loop tests (issue 21): the analyze tests' fillers and git helpers.

The incident timelines and the git repositories are the ones tests/analyze builds
(changes_fill, test_incidents, test_suspects); this directory reuses them rather than
inventing a second set.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "analyze"))

from changes_fill import Filler  # noqa: E402

from runbrief.store.duck import Store  # noqa: E402


@pytest.fixture
def filler(store: Store) -> Filler:
    return Filler(store)
