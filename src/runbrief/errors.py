"""The exceptions runbrief raises, mapped once at each boundary.

    RunbriefError            base; its message is shown to the user as is
    ├── UsageError           bad arguments or config (CLI exit 2, HTTP 400, MCP error)
    ├── Forbidden            a remote caller asked for a file or code (CLI exit 2, HTTP 403)
    ├── NotFound             an unknown ID (CLI exit 1, HTTP 404)
    ├── StoreError           the store cannot be opened, migrated or written
    ├── IngestError          input that cannot be decoded (HTTP 400)
    └── Overloaded           the write queue is full (HTTP 429/503 with Retry-After)

Messages say what to do next, not only what went wrong.
"""

from __future__ import annotations

__all__ = ["RunbriefError", "UsageError", "Forbidden", "NotFound", "StoreError", "IngestError", "Overloaded"]


class RunbriefError(Exception):
    """Base of every error runbrief reports to a user."""

    http_status = 500


class UsageError(RunbriefError):
    http_status = 400


class Forbidden(UsageError):
    """A request asked for something only the local user may (read a file, run code)."""

    http_status = 403


class NotFound(RunbriefError):
    http_status = 404


class StoreError(RunbriefError):
    http_status = 503


class IngestError(RunbriefError):
    http_status = 400


class Overloaded(RunbriefError):
    http_status = 503

    def __init__(self, message: str, retry_after: int = 1) -> None:
        super().__init__(message)
        self.retry_after = retry_after
