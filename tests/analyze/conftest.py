"""Fixtures of the analyze tests (helpers live in changes_fill.py)."""

from __future__ import annotations

import pytest
from changes_fill import Filler

from runbrief.store.duck import Store


@pytest.fixture
def filler(store: Store) -> Filler:
    return Filler(store)
