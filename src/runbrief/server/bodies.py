"""Request bodies read within a limit, for every route that reads one.

Why one helper: ``await request.body()`` buffers whatever a sender streams, so any route
that used it was a way to fill the server's memory (and a 3 MB gzip could inflate to
3 GB). Here a declared ``Content-Length`` over the limit is refused before reading, and a
chunked body is cut off as soon as it passes the limit; either way the caller answers
413 with the limit in the message.
"""

from __future__ import annotations

from starlette.requests import Request

from runbrief.ingest._decode import TooLarge

__all__ = ["read_body", "TooLarge", "too_large_message"]


def too_large_message(limit: int, what: str = "the body") -> str:
    return f"{what} is over the server's limit of {limit} bytes; send less at a time"


async def read_body(request: Request, limit: int) -> bytes:
    """The whole body, or TooLarge once it passes ``limit`` bytes."""
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > limit:
        raise TooLarge(too_large_message(limit))
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > limit:
            raise TooLarge(too_large_message(limit))
    return bytes(body)
