"""Fixtures for the agent/eval tests: a Recorder of real SDK spans, and a few scenarios."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

from evals_otel import Recorder  # noqa: E402


@pytest.fixture
def rec() -> Recorder:
    return Recorder()
