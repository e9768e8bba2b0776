"""Tell someone: Slack and generic JSON webhooks when an incident opens, regresses or is verified fixed.

Configured by ``[[notify]]`` tables in ``runbrief.toml`` (``config.py``); messages carry the
incident's claims, their evidence IDs and a link to its web page (``messages.py``); an
outbox in the store deduplicates, retries with exponential backoff and rate-limits
(``outbox.py``), run by ``runbrief serve``'s background loop in its own thread.
"""

from __future__ import annotations

__all__ = ["EVENTS"]

EVENTS = ("opened", "regressed", "fixed")
