"""`runbrief top` (the live terminal view) and `runbrief tail` (new lines as they arrive)."""


import os
import signal
import sys
import threading
from typing import Annotated, Any

import typer

from runbrief.cli import app
from runbrief.cli._common import JsonOpt, StoreOpt, visible
from runbrief.errors import RunbriefError

ServiceOpt = Annotated[str | None, typer.Option("--service", "-s", help="Only this service.")]
ServerOpt = Annotated[str | None, typer.Option("--server", help="A running runbrief server's URL (default: the "
                                               "server that owns --store, else the store itself).")]


def _use_server(server: str | None) -> None:
    """--server: every call of this process goes to that server (as RUNBRIEF_URL would)."""
    if server:
        os.environ["RUNBRIEF_URL"] = server


@app.command()
def top(
    service: ServiceOpt = None,
    store: StoreOpt = None,
    server: ServerOpt = None,
    interval: Annotated[float, typer.Option("--interval", help="Seconds between refreshes.")] = 1.0,
) -> None:
    """Live terminal view: patterns with counts, rates and sparklines, severity by minute, incidents, changes.

    Enter drills into a pattern's lines, an incident's claims and evidence, a trace's span
    tree; Esc goes back; / filters; s picks the service; q quits.
    """
    _use_server(server)
    if not sys.stdout.isatty():
        raise typer.BadParameter("runbrief top needs a terminal; for a snapshot use `runbrief patterns` or "
                                 "`runbrief changes --since-deploy`")
    from runbrief.tui.app import TopApp
    from runbrief.tui.source import Source

    source = Source(store)
    source.call("top", {"service": service, "limit": 1})  # a missing store fails here, as a plain error
    TopApp(source, service=service, interval=max(0.2, interval)).run()


def _line(row: dict[str, Any]) -> str:
    """One tail line: time, service, severity, pattern, body; telemetry escaped."""
    mark = "NEW " if row["new_pattern"] else ""
    return (f"{(row['ts'] or '')[11:23]} {visible(row['service'])} {visible(row['severity'] or '-'):<5} "
            f"{mark}{row['pattern_id'] or '-'} {visible(row['body'])}")


def _styled(con: Any, row: dict[str, Any]) -> None:
    from rich.text import Text

    sev = (row["severity"] or "").lstrip("~").upper()
    t = Text(f"{(row['ts'] or '')[11:23]} ", style="dim")
    t.append(visible(row["service"]), style="bold")
    t.append(f" {visible(row['severity'] or '-'):<5} ", style="red" if sev in ("ERROR", "FATAL") else
             "yellow" if sev.startswith("WARN") else "")
    if row["new_pattern"]:
        t.append("NEW ", style="bold magenta")
    t.append(f"{row['pattern_id'] or '-'} ", style="green")
    t.append(visible(row["body"]))
    con.print(t, soft_wrap=True)


def _num(log_id: str | None) -> int:
    return int(str(log_id).removeprefix("log_")) if log_id else -1


@app.command()
def tail(
    service: ServiceOpt = None,
    store: StoreOpt = None,
    server: ServerOpt = None,
    lines: Annotated[int, typer.Option("--lines", "-n", help="Lines of backlog to print first.")] = 10,
    interval: Annotated[float, typer.Option("--interval", help="Seconds between polls.")] = 0.5,
    as_json: JsonOpt = False,
) -> None:
    """Stream new log lines as they arrive, each with its pattern ID; NEW marks patterns new since the deploy.

    Ctrl-C stops. With --json each line is one JSON object (JSON lines); when more lines
    arrive between two polls than one poll returns, the oldest are skipped and counted.
    """
    import orjson

    from runbrief.client import call

    _use_server(server)
    con = None
    if not as_json and sys.stdout.isatty():
        from runbrief.cli._common import console

        con = console.get()

    def emit(row: dict[str, Any]) -> None:
        if as_json:
            sys.stdout.write(orjson.dumps(row).decode() + "\n")
        elif con is not None:
            _styled(con, row)
        else:
            sys.stdout.write(_line(row) + "\n")

    # Ctrl-C (or SIGTERM) stops between polls: raised inside a DuckDB query it would come
    # out as "Query interrupted", so the handler only asks the loop to end.
    stop = threading.Event()
    previous = {sig: signal.signal(sig, lambda *_: stop.set()) for sig in (signal.SIGINT, signal.SIGTERM)}
    # A commit can land after a later one (workers prepare in parallel), so each poll asks
    # again from the cursor of two polls back and drops the lines already printed.
    seen: dict[int, None] = {}
    floors: list[str | None] = []
    cursor: str | None = None
    skipped_below: int | None = None
    first = True
    try:
        while not stop.is_set():
            after = floors[0] if floors else cursor
            if after is not None and skipped_below is not None and _num(after) < skipped_below:
                after = f"log_{skipped_below}"  # never ask again for lines already counted as skipped
            params = {"service": service, "limit": max(0, lines)} if first else \
                {"service": service, "after": after, "limit": 2000}
            try:
                res = call("tail", params, store=store)
            except RunbriefError as exc:
                if first:
                    raise
                sys.stderr.write(f"warning: {exc}; retrying\n")
                stop.wait(max(interval, 1.0))
                continue
            skipped = res.get("skipped") or 0
            if skipped and res["lines"]:  # the re-asked lines already printed were not skipped
                lo, low = _num(params.get("after")), _num(res["lines"][0]["id"])
                skipped -= sum(1 for n in seen if lo < n < low)
            if res.get("skipped") and res["lines"]:
                skipped_below = _num(res["lines"][0]["id"]) - 1
            if skipped > 0:
                if as_json:
                    sys.stdout.write(orjson.dumps({"skipped": skipped}).decode() + "\n")
                else:
                    sys.stdout.write(f"… {skipped} line(s) skipped (arriving faster than shown)\n")
            for row in res["lines"]:
                n = _num(row["id"])
                if n in seen:
                    continue
                seen[n] = None
                emit(row)
            sys.stdout.flush()
            first = False
            cursor = res.get("last_id") or cursor
            floors = [*floors, cursor][-2:]
            if len(seen) > 20_000:
                for key in list(seen)[:10_000]:
                    del seen[key]
            stop.wait(max(0.05, interval))
    except BrokenPipeError:  # `runbrief tail | head`: the reader left
        sys.stderr.close()
        raise typer.Exit(0) from None
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
