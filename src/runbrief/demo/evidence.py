"""Finding the evidence IDs in any operation's answer, and checking that they resolve.

The demo's claim is that every finding cites evidence an agent (or you) can open with
``runbrief show ID``; these helpers let the demo, its ``--json`` output and its test
check exactly that, whatever shape each operation's answer has.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable
from typing import Any

from runbrief.client import call
from runbrief.errors import RunbriefError
from runbrief.ids import KINDS

__all__ = ["EVIDENCE_RE", "collect_ids", "ids_in_text", "unresolved"]

EVIDENCE_RE = re.compile(rf"^(?:{'|'.join(KINDS)})_[0-9a-zA-Z]+$")
_IN_TEXT = re.compile(rf"\b(?:{'|'.join(KINDS)})_[0-9a-zA-Z]+\b")


def collect_ids(value: Any) -> set[str]:
    """Every string in ``value`` (nested dicts and lists) that is an evidence ID."""
    found: set[str] = set()
    stack = [value]
    while stack:
        v = stack.pop()
        if isinstance(v, str):
            if EVIDENCE_RE.match(v):
                found.add(v)
        elif isinstance(v, dict):
            stack.extend(v.values())
        elif isinstance(v, list | tuple):
            stack.extend(v)
    return found


def ids_in_text(value: Any) -> set[str]:
    """Evidence IDs written inside any string of ``value`` (a claim's sentence, a summary)."""
    found: set[str] = set()
    stack = [value]
    while stack:
        v = stack.pop()
        if isinstance(v, str):
            found.update(_IN_TEXT.findall(v))
        elif isinstance(v, dict):
            stack.extend(v.values())
        elif isinstance(v, list | tuple):
            stack.extend(v)
    return found


def unresolved(ids: Iterable[str], store: str | os.PathLike[str]) -> dict[str, str]:
    """The IDs that ``show`` cannot resolve, with the error it gave (empty when all resolve)."""
    bad: dict[str, str] = {}
    for eid in sorted(set(ids)):
        try:
            call("show", {"id": eid}, store=store)
        except RunbriefError as exc:
            bad[eid] = str(exc)
    return bad
