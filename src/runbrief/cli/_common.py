"""Options and output helpers shared by every command."""


import sys
from collections.abc import Callable
from typing import Annotated, Any

import orjson
import typer
from rich.console import Console

__all__ = ["StoreOpt", "JsonOpt", "emit", "console", "err_console"]

StoreOpt = Annotated[
    str | None,
    typer.Option("--store", envvar="RUNBRIEF_STORE", help="Store folder or .duckdb file (default ./.runbrief)."),
]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print the result as JSON (the same shape as the HTTP API).")]

console = Console(highlight=False, soft_wrap=False)
err_console = Console(stderr=True, highlight=False)


def emit(result: Any, as_json: bool, human: Callable[[Console, Any], None] | None = None) -> None:
    """Print ``result`` as JSON, or through its human renderer."""
    if as_json or human is None:
        sys.stdout.write(orjson.dumps(result, option=orjson.OPT_INDENT_2 | orjson.OPT_NON_STR_KEYS, default=str).decode())
        sys.stdout.write("\n")
        sys.stdout.flush()
        return
    human(console, result)
