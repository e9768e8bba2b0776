"""Batch hooks every writer runs (see ``Pipeline``); each module registers its own.

Import order is the order hooks run in.
"""

from __future__ import annotations

import runbrief.redact  # noqa: E402,F401  (secrets out before anything else sees the batch)
