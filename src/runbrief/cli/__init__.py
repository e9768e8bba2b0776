"""The `runbrief` command line: one Typer app, commands contributed by area modules.

Each command makes one library call (through ``runbrief.client.call`` so it reaches the
server when one owns the store) and renders the result; no logic lives here.
"""

from __future__ import annotations

import importlib
import sys

import typer

from runbrief.errors import RunbriefError, UsageError

__all__ = ["app", "main"]

app = typer.Typer(
    name="runbrief",
    help="Distilled, cited runtime telemetry for coding agents and the humans auditing them.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

# Area modules that add commands to `app`. Each area adds its own line.
COMMAND_MODULES = [
    "runbrief.cli.core",
    "runbrief.cli.distill",
    "runbrief.cli.traces",
    "runbrief.cli.serve",
    "runbrief.cli.mcp_cmd",
    "runbrief.cli.changes",
    "runbrief.cli.agents",
    "runbrief.cli.ingest",
    "runbrief.cli.incidents",
    "runbrief.cli.demo",
]


def _version(value: bool) -> None:
    if value:
        from importlib.metadata import PackageNotFoundError, version

        try:
            typer.echo(f"runbrief {version('runbrief')}")
        except PackageNotFoundError:  # running from a source tree that was never installed
            typer.echo("runbrief (not installed)")
        raise typer.Exit(0)


@app.callback()
def _root(
    show_version: bool = typer.Option(False, "--version", callback=_version, is_eager=True,
                                      help="Print runbrief's version and exit."),
) -> None:
    """Distilled, cited runtime telemetry for coding agents and the humans auditing them."""


for _mod in COMMAND_MODULES:
    importlib.import_module(_mod)


def _error(exc: Exception, argv: list[str]) -> None:
    """An error on stderr: a JSON object when the command was asked for JSON, else a line."""
    if "--json" in argv:
        import json

        sys.stderr.write(json.dumps({"error": {"type": type(exc).__name__, "message": str(exc)}}) + "\n")
    else:
        sys.stderr.write(f"error: {exc}\n")


def main(argv: list[str] | None = None) -> int:
    """Entry point: run the app and map errors to exit codes (2 usage, 1 failure).

    Typer's standalone mode renders its own usage errors (exit 2); our library errors
    propagate out of it and are mapped here, once.
    """
    args = list(sys.argv[1:] if argv is None else argv)
    try:
        app(args=args, standalone_mode=True)
    except SystemExit as exc:
        code = exc.code
        return code if isinstance(code, int) else (0 if code is None else 1)
    except UsageError as exc:
        _error(exc, args)
        return 2
    except RunbriefError as exc:
        _error(exc, args)
        return 1
    except KeyboardInterrupt:
        return 130
    return 0
