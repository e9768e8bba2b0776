"""Who is asking: the user's own command line, or a request from the network or an agent.

An operation's parameters may name things that would be dangerous to honour for a caller
we do not trust: a file to read (a config, a plan) or code to run (an evaluator in
``path/file.py:fn`` or ``pkg.mod:fn``). The CLI run in-process is the user asking; the
HTTP API and the MCP tools are anyone who can reach them — a web page, a prompt-injected
agent — so there such parameters are refused and documents travel as text.

The caller is a context variable set at each boundary (``remote("the HTTP API")``), so the
checks sit once at the points that read or import (``evals.config.load``,
``evals.evaluators.resolve``, ``traces.plan.read_plan``), whichever operation reached
them. What the server loads from its own configuration is trusted again (``local()``).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar

from runbrief.errors import Forbidden

__all__ = ["remote", "local", "origin", "refuse_file", "refuse_code", "LOCAL_HEADER"]

# The header that carries server.json's secret (0600): a request with it is the local
# user's own CLI. Here, not in the server's guard, so the client sends it without
# importing the server.
LOCAL_HEADER = "x-runbrief-local"

_ORIGIN: ContextVar[str | None] = ContextVar("runbrief_caller", default=None)


@contextmanager
def remote(where: str) -> Iterator[None]:
    """Everything inside runs for a caller reached through ``where`` (e.g. "the HTTP API")."""
    token = _ORIGIN.set(where)
    try:
        yield
    finally:
        _ORIGIN.reset(token)


@contextmanager
def local() -> Iterator[None]:
    """Everything inside comes from the process's own configuration, not from the caller."""
    token = _ORIGIN.set(None)
    try:
        yield
    finally:
        _ORIGIN.reset(token)


def origin() -> str | None:
    """Where the current request came from; None when it is the user's own command line."""
    return _ORIGIN.get()


def refuse_file(what: str, instead: str) -> None:
    """Raise Forbidden when a remote caller names a file for this process to read.

    The message names neither the file's content nor whether it exists."""
    where = _ORIGIN.get()
    if where is not None:
        raise Forbidden(f"over {where}, {what} cannot name a file on the server; {instead}")


def refuse_code(spec: str) -> None:
    """Raise Forbidden when a remote caller names code for this process to import and run."""
    where = _ORIGIN.get()
    if where is not None:
        raise Forbidden(
            f"over {where}, the evaluator {spec!r} cannot be loaded: code is run only when the server's own "
            "runbrief.toml names it ([[gate.check]] evaluator = …) or from `runbrief eval` in-process "
            "(with no server holding the store); built-in and installed entry-point evaluators work everywhere"
        )
