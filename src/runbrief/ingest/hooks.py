"""Batch hooks every writer runs (see ``Pipeline``); each module registers its own.

Import order is the order hooks run in.
"""

from __future__ import annotations
