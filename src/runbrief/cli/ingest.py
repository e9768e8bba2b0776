"""Commands `ingest` (log files, stdin, kubectl events) and `deploy mark|list`."""


import sys
from contextlib import nullcontext
from typing import TYPE_CHECKING, Annotated, Any

import typer

from runbrief.cli import app
from runbrief.cli._common import JsonOpt, StoreOpt, emit, err_console, esc
from runbrief.client import call, open_store, server_url
from runbrief.errors import UsageError

if TYPE_CHECKING:
    from rich.console import Console

# The names `ingest.logfiles.FORMATS` accepts, repeated here so that `--help` does not import
# the ingest stack (tests/test_cli_startup.py checks that the two agree).
FORMATS = ("auto", "json", "logfmt", "text", "k8s-events", "sentry")

deploy_app = typer.Typer(rich_markup_mode=None, help="Record and list deploys (the 'since' of `runbrief changes`).", no_args_is_help=True)
app.add_typer(deploy_app, name="deploy")


def _render_ingest(con: "Console", r: dict[str, Any]) -> None:
    for f in r["files"]:
        what = f"{f.get('logs', 0):,} log records"
        if f.get("events"):
            what += f", {f['events']:,} Kubernetes events"
        fmt = f" [dim]({esc(f['format'])})[/]" if f.get("format") else ""
        con.print(f"{esc(f['name'])}{fmt}: {f.get('lines', 0):,} lines → {what}", markup=True, highlight=False, soft_wrap=True)
        notes = []
        if f.get("multiline_records"):
            notes.append(f"{f['multiline_records']:,} multi-line records joined")
        if f.get("invalid_utf8_lines"):
            notes.append(f"{f['invalid_utf8_lines']:,} lines with invalid UTF-8 kept with \\x escapes")
        if f.get("split_lines"):
            notes.append(f"{f['split_lines']:,} over-long lines split at 1 MiB")
        if f.get("skipped_objects"):
            notes.append(f"{f['skipped_objects']:,} JSON objects skipped (not events or log records)")
        for n in notes:
            con.print(f"  [dim]{n}[/]", markup=True, highlight=False, soft_wrap=True)
    rate = f" ({r['lines_per_s']:,.0f} lines/s)" if r.get("lines_per_s") else ""
    con.print(f"[bold]{r['logs']:,}[/] log records, [bold]{r['events']:,}[/] events in {r['seconds']} s{rate}",
              markup=True, highlight=False, soft_wrap=True)


@app.command()
def ingest(
    paths: Annotated[list[str] | None, typer.Argument(help="Files, globs ('logs/*.log.gz') or - for stdin.")] = None,
    service: Annotated[str | None, typer.Option("--service", "-s", help="Service name for these records "
                                                "(default: from the records, else the file name).")] = None,
    fmt: Annotated[str, typer.Option("--format", help=f"Input format: {', '.join(FORMATS)}.")] = "auto",
    store: StoreOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Ingest log files (plain text, JSON lines, logfmt, kubectl logs, gzip) or kubectl events JSON."""
    if not paths and sys.stdin.isatty():
        raise UsageError("nothing to ingest: pass files or globs, or pipe data in (`kubectl logs … | runbrief ingest -`)")
    if fmt not in FORMATS:
        raise UsageError(f"unknown --format {fmt!r}: use one of {', '.join(FORMATS)}")
    from runbrief.ingest import _file_sources as sources

    paths = paths or ["-"]
    srcs = sources.expand(paths)  # fail on a bad path before anything is read
    total = sum(s.size for s in srcs)
    show = err_console.is_terminal and not as_json
    progress = None
    if show:
        from rich.progress import (
            BarColumn,
            DownloadColumn,
            Progress,
            TextColumn,
            TimeRemainingColumn,
            TransferSpeedColumn,
        )

        progress = Progress(TextColumn("ingesting"), BarColumn(), DownloadColumn(), TransferSpeedColumn(),
                            TimeRemainingColumn(), console=err_console.get(), transient=True)
    with progress or nullcontext():
        tick = None
        if progress is not None:
            task = progress.add_task("ingest", total=total or None)

            def tick(n: int) -> None:
                progress.advance(task, n)

        addr = server_url(store)
        if addr is not None:
            result = sources.ingest_remote(addr[0], addr[1], paths, service=service, fmt=fmt, progress=tick)
        else:
            with open_store(store) as s:
                result = sources.ingest_local(s, paths, service=service, fmt=fmt, progress=tick)
    emit(result, as_json, _render_ingest)
    for err in result["errors"]:
        err_console.print(f"[yellow]warning:[/] {esc(err)}", markup=True, highlight=False, soft_wrap=True)
    for note in result.get("warnings", []):
        err_console.print(f"[yellow]retention:[/] {esc(note)}", markup=True, highlight=False, soft_wrap=True)
    if result["errors"]:
        raise typer.Exit(1)


def _render_mark(con: "Console", r: dict[str, Any]) -> None:
    con.print(r["id"], markup=False, highlight=False, soft_wrap=True)


@deploy_app.command("mark")
def deploy_mark(
    service: Annotated[str, typer.Option("--service", "-s", help="The service deployed.")],
    version: Annotated[str, typer.Option("--version", "-v", help="Version, tag or build deployed.")],
    commit: Annotated[str | None, typer.Option("--commit", help="Commit SHA.")] = None,
    environment: Annotated[str | None, typer.Option("--environment", "-e", help="Environment (prod, staging…).")] = None,
    at: Annotated[str | None, typer.Option("--at", help="When (ISO time, or 10m for ten minutes ago); default now.")] = None,
    store: StoreOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Record a deploy; prints its evidence ID (dep_<n>)."""
    params = dict(service=service, version=version, commit=commit, environment=environment, at=at)
    emit(call("deploy_mark", params, store=store), as_json, _render_mark)


def _render_deploys(con: "Console", r: dict[str, Any]) -> None:
    if not r["deploys"]:
        con.print("no deploys recorded; `runbrief deploy mark --service S --version V` adds one")
        return
    for d in r["deploys"]:
        extra = " ".join(x for x in (d.get("environment") or "", (d.get("commit") or "")[:12]) if x)
        con.print(f"{d['ts']}  {esc(d['service'])} {esc(d['version'])}  {esc(extra)}  "
                  f"[dim]{esc(d['source'])} {d['id']}[/]",
                  markup=True, highlight=False, soft_wrap=True)


@deploy_app.command("list")
def deploy_list(
    service: Annotated[str | None, typer.Option("--service", "-s", help="Only this service.")] = None,
    since: Annotated[str | None, typer.Option("--since", help="Window back from now (2h, 7d) or ISO time.")] = None,
    limit: Annotated[int, typer.Option("--limit", "-n", help="At most this many.")] = 50,
    store: StoreOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """List deploys, newest first."""
    emit(call("deploys", dict(service=service, since=since, limit=limit), store=store), as_json, _render_deploys)
