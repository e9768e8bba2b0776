"""The `runbrief` command line: one Typer app, commands contributed by area modules.

Each command makes one library call (through ``runbrief.client.call`` so it reaches the
server when one owns the store) and renders the result; no logic lives here.
"""


import importlib
import sys

import typer

from runbrief.errors import RunbriefError, UsageError

__all__ = ["app", "main", "load_commands"]

app = typer.Typer(
    # Plain help, as click prints it: agents read it as text, and rich's formatter costs
    # ~130 ms a start (it imports a markdown parser). Sub-apps say the same.
    rich_markup_mode=None,
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
    "runbrief.cli.verify",
    "runbrief.cli.promote",
    "runbrief.cli.notify",
    "runbrief.cli.top",
    "runbrief.cli.store_cmd",
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


# The module that adds each top-level command or group. `runbrief incidents --json` imports
# only `runbrief.cli.incidents` (and what it needs), not every area: an agent calls the CLI
# many times while it works, and building all commands costs ~0.1 s more per call.
# tests/test_cli_startup.py checks this table against what the modules register.
COMMANDS = {
    "logs": "core", "services": "core", "stats": "core", "show": "core",
    "parse": "distill", "patterns": "distill",
    "traces": "traces", "perf": "traces", "trace": "traces",
    "serve": "serve",
    "mcp": "mcp_cmd", "skills": "mcp_cmd",
    "changes": "changes",
    "agents": "agents", "eval": "agents", "gate": "agents",
    "ingest": "ingest", "deploy": "ingest",
    "incidents": "incidents", "incident": "incidents", "brief": "incidents", "resolve": "incidents",
    "demo": "demo",
    "verify": "verify", "suspects": "verify",
    "promote-check": "promote",
    "notify": "notify",
    "top": "top", "tail": "top",
    "store": "store_cmd",
}


def load_commands(args: list[str] | None = None) -> typer.Typer:
    """Register the commands ``args`` needs (all of them when ``args`` is None) and return the app.

    The first argument that is not an option names the command; when it names none we know
    (``--help``, a typo), every area is loaded so the help lists them all and a typo gets
    the usual "No such command" with the full list.
    """
    first = next((a for a in args if not a.startswith("-")), None) if args is not None else None
    if args is not None and first is None and "--version" in args:
        return app  # the root's eager --version answers before any command is looked at
    wanted = [f"runbrief.cli.{COMMANDS[first]}"] if first in COMMANDS else COMMAND_MODULES
    for mod in wanted:
        importlib.import_module(mod)
    return app


def _error(exc: Exception, argv: list[str]) -> None:
    """An error on stderr: a JSON object when the command was asked for JSON, else a line."""
    if "--json" in argv:
        import json

        sys.stderr.write(json.dumps({"error": {"type": type(exc).__name__, "message": str(exc)}}) + "\n")
    else:
        sys.stderr.write(f"error: {exc}\n")


def _interrupted(exc: BaseException) -> bool:
    """Whether ``exc`` is a Ctrl-C that the code it landed in turned into another error.

    DuckDB checks for signals during a query and reports the interrupt as its own error
    (``RuntimeError: Query interrupted``, ``duckdb.InterruptException``), so the
    ``KeyboardInterrupt`` the user meant never reaches this module.
    """
    seen: BaseException | None = exc
    for _ in range(8):
        if seen is None:
            return False
        if isinstance(seen, KeyboardInterrupt) or type(seen).__name__ == "InterruptException":
            return True
        if type(seen) is RuntimeError and str(seen) == "Query interrupted":
            return True
        seen = seen.__cause__ or seen.__context__
    return False


def _on_ctrl_c() -> None:
    """Ctrl-C interrupts a running store query at once, then raises KeyboardInterrupt as usual.

    DuckDB's own SIGINT check misses presses (a Python handler also silences it), so the
    handler asks every open store to interrupt its queries; the query then ends with
    DuckDB's interrupt error, which ``main`` reports as the interrupt it was (exit 130).
    """
    import signal
    import threading

    if threading.current_thread() is not threading.main_thread():
        return
    if signal.getsignal(signal.SIGINT) is not signal.default_int_handler:
        return  # someone else (an embedding program, a test harness) owns Ctrl-C

    def handler(signum: int, frame: object) -> None:
        duck = sys.modules.get("runbrief.store.duck")
        if duck is not None:
            duck.interrupt_queries()
        raise KeyboardInterrupt

    signal.signal(signal.SIGINT, handler)


def main(argv: list[str] | None = None) -> int:
    """Entry point: run the app and map errors to exit codes (2 usage, 1 failure, 130 Ctrl-C).

    Typer's standalone mode renders its own usage errors (exit 2); our library errors
    propagate out of it and are mapped here, once.
    """
    args = list(sys.argv[1:] if argv is None else argv)
    _on_ctrl_c()
    try:
        load_commands(args)(args=args, standalone_mode=True)
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
    except Exception as exc:
        if _interrupted(exc):
            return 130  # the interrupt, turned into another error by the code it landed in
        # A DuckDB or OS error that escaped: a damaged store or a full disk is
        # told as such (what to do), never as a traceback; anything else is a bug, shown whole.
        if not (isinstance(exc, OSError) or type(exc).__module__.lstrip("_").startswith("duckdb")):
            raise
        from runbrief.store.damage import classify

        err = classify(exc, "")
        if err is None:
            raise
        _error(err, args)
        return 1
    return 0
