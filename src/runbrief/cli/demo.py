"""`runbrief demo`: a real instrumented shop, a bad deploy, and runbrief's answers, in one command."""


from typing import Annotated

import typer

from runbrief.cli import app
from runbrief.cli._common import JsonOpt, emit, err_console


@app.command()
def demo(
    store: Annotated[str | None, typer.Option(
        "--store", help="Store folder to use (default: a new temporary folder, kept for you to explore).")] = None,
    keep: Annotated[bool, typer.Option(
        "--keep", help="Leave the runbrief server running afterwards (its URL and pid are printed).")] = False,
    as_json: JsonOpt = False,
) -> None:
    """Run a two-service shop instrumented with OpenTelemetry, ship a bad version, and show what runbrief finds.

    Starts `runbrief serve` and the shop (Starlette, SQLite, logging, httpx, all exporting
    OTLP), drives baseline traffic, deploys shop 2.0.0 with an N+1 query, a swallowed error
    and a retry storm, drives traffic again, then prints what changed, the incidents, the
    latest /cart trace and what to try next; then deploys the fix (2.0.1) and shows
    `runbrief verify`'s verdict, recorded in memory. Nothing is left running unless --keep.
    """
    from runbrief.demo.report import RichProgress, render
    from runbrief.demo.scenario import DemoConfig, run_demo

    result = run_demo(DemoConfig(store=store, keep=keep, progress=RichProgress(err_console.get())))
    if not keep:
        from runbrief import client

        client.last_url = None  # the demo's server has stopped: no page link to a server gone
    emit(result, as_json, render)
