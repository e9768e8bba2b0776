"""Options and output helpers shared by every command."""


import re
import sys
from collections.abc import Callable
from typing import TYPE_CHECKING, Annotated, Any

import orjson
import typer

if TYPE_CHECKING:  # rich loads on first human output: --json never pays for it (~50 ms)
    from rich.console import Console

__all__ = ["StoreOpt", "JsonOpt", "emit", "console", "err_console", "esc", "esc_block", "visible"]

StoreOpt = Annotated[
    str | None,
    typer.Option("--store", envvar="RUNBRIEF_STORE", help="Store folder or .duckdb file (default ./.runbrief)."),
]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print the result as JSON (the same shape as the HTTP API).")]

class LazyConsole:
    """A rich Console made on first use; ``get()`` is the Console itself (to pass to rich)."""

    def __init__(self, **options: Any) -> None:
        self._options = options
        self._console: Console | None = None

    def get(self) -> "Console":
        if self._console is None:
            from rich.console import Console

            self._console = Console(**self._options)
        return self._console

    def __getattr__(self, name: str) -> Any:
        return getattr(self.get(), name)


# emoji=False: ":warning:" in a log line is text, not an emoji code to replace.
console = LazyConsole(highlight=False, soft_wrap=False, emoji=False)
err_console = LazyConsole(stderr=True, highlight=False, emoji=False)

# What a terminal would act on or hide: C0 controls but tab (ESC starts the sequences that
# move the cursor, retitle the window or rewrite the screen; CR overwrites a line), DEL,
# C1 controls (0x9b is a one-byte CSI), bidi overrides and isolates, zero-width and tag
# characters. Each is shown as its Python escape, so the reader sees that it was there.
_CONTROL = re.compile("[\x00-\x08\x0a-\x1f\x7f-\x9f\u200b-\u200f\u202a-\u202e\u2060-\u2069\ufeff\U000e0000-\U000e007f]")
_CONTROL_BLOCK = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u200b-\u200f\u202a-\u202e\u2060-\u2069\ufeff\U000e0000-\U000e007f]")


def _shown(m: re.Match[str]) -> str:
    n = ord(m.group())
    return f"\\x{n:02x}" if n < 0x100 else f"\\u{n:04x}" if n < 0x10000 else f"\\U{n:08x}"


def visible(value: Any, *, newlines: bool = False) -> str:
    """``value`` as text a terminal shows and never acts on: every control character escaped.

    ``newlines`` keeps line breaks (a rendered multi-line text); otherwise they are shown
    as ``\\x0a`` too, so one record prints as one line and cannot fake the next.
    """
    s = "" if value is None else str(value)
    return (_CONTROL_BLOCK if newlines else _CONTROL).sub(_shown, s)


def esc(value: Any) -> str:
    """Telemetry text to put inside a rich markup string: markup inert, controls escaped."""
    from rich.markup import escape

    return escape(visible(value))


def esc_block(value: Any) -> str:
    """``esc`` for a rendered multi-line text: its line breaks kept."""
    from rich.markup import escape

    return escape(visible(value, newlines=True))


def emit(result: Any, as_json: bool, human: "Callable[[Console, Any], None] | None" = None) -> None:
    """Print ``result`` as JSON, or through its human renderer."""
    if as_json or human is None:
        sys.stdout.write(orjson.dumps(result, option=orjson.OPT_INDENT_2 | orjson.OPT_NON_STR_KEYS, default=str).decode())
        sys.stdout.write("\n")
        sys.stdout.flush()
        return
    human(console.get(), result)
    from runbrief import client
    from runbrief.weblinks import links

    # A server runs: where a human sees each cited item. On stderr, so that a script reading
    # stdout (`DEP=$(runbrief deploy mark …)`) gets the answer alone.
    for url in links(result, client.last_url):
        sys.stderr.write(f"web: {url}\n")
