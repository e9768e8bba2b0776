"""The `runbrief` command line: one Typer app, commands contributed by area modules.

Each command makes one library call (through ``runbrief.client.call`` so it reaches the
server when one owns the store) and renders the result; no logic lives here.
"""

from __future__ import annotations

import importlib
import sys

import click
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

for _mod in COMMAND_MODULES:
    importlib.import_module(_mod)


def main(argv: list[str] | None = None) -> int:
    """Entry point: run the app and map errors to exit codes (2 usage, 1 failure)."""
    try:
        rv = app(args=argv, standalone_mode=False)
    except click.exceptions.Exit as exc:
        return exc.exit_code
    except click.exceptions.Abort:
        sys.stderr.write("aborted\n")
        return 130
    except click.ClickException as exc:
        exc.show()
        return 2 if isinstance(exc, click.UsageError) else exc.exit_code
    except UsageError as exc:
        sys.stderr.write(f"error: {exc}\n")
        return 2
    except RunbriefError as exc:
        sys.stderr.write(f"error: {exc}\n")
        return 1
    except KeyboardInterrupt:
        return 130
    return rv if isinstance(rv, int) else 0

