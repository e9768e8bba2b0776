"""`runbrief verify` (did the deploy fix the incident?) and `runbrief suspects` (which commit did it?)."""


from typing import TYPE_CHECKING, Annotated, Any

import typer

from runbrief.cli import app
from runbrief.cli._common import JsonOpt, StoreOpt, emit, esc
from runbrief.client import call

if TYPE_CHECKING:
    from rich.console import Console

_STYLE = {"fixed": "bold green", "not_fixed": "bold red", "regressed": "bold magenta", "too_early": "bold yellow"}


def render(con: "Console", result: dict[str, Any]) -> None:
    for inc in result.get("incidents") or [result]:
        style = _STYLE.get(inc["verdict"], "bold")
        con.print(f"[green]{inc['id']}[/] after [green]{inc['deploy']}[/]: [{style}]{inc['verdict']}[/]  "
                  f"{esc(inc['text'])}")
        w = inc["window"]
        con.print(f"[dim]before {w['before'][0]} .. {w['before'][1]}; after {w['after'][0]} .. {w['after'][1]}[/]")
        for s in inc["symptoms"]:
            con.print(f"   {s['state']:<10} {esc(s['key'] or s['kind'] or '')}: {s['before']['count']} in "
                      f"{s['before']['minutes']:.0f} min -> {s['after']['count']} in {s['after']['minutes']:.0f} min  "
                      f"[green]{' '.join(s['evidence'])}[/]")
        for n in inc["new_errors"]:
            con.print(f"   [bold magenta]new error[/] {esc(n['pattern_id'])}: {n['count']} line(s)  "
                      f"[green]{' '.join(n['evidence'])}[/]")
        con.print(f"[dim]evidence: {' '.join(inc['evidence'])}[/]")


@app.command()
def verify(
    deploy: Annotated[str | None, typer.Option("--deploy", "-d", help="The fix deploy (dep_…); default: the "
                                               "latest deploy of the incident's service after it started.")] = None,
    incident: Annotated[str | None, typer.Option("--incident", "-i", help="The incident (inc_…); default: the "
                                                 "incidents before --deploy, or the latest open one.")] = None,
    store: StoreOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Did a deploy fix an incident: fixed, not_fixed, regressed or too_early, citing evidence; recorded in memory."""
    emit(call("verify", {"deploy": deploy, "incident": incident}, store=store), as_json, render)


def render_suspects(con: "Console", result: dict[str, Any]) -> None:
    head = f"{result['id']}: suspects in {result['range']}" if result.get("range") else f"{result['id']}: code locations"
    con.print(f"[bold]{esc(head)}[/]")
    for note in result.get("notes", []):
        con.print(f"[dim]note: {esc(note)}[/]")
    for n, s in enumerate(result["suspects"], 1):
        con.print(f"{n:>2}. [bold]{s['commit'][:12]}[/] [dim]score {s['score']}[/] {esc(s['subject'])} "
                  f"[dim]({esc(s['author'])})[/]")
        for why in s["why"]:
            con.print(f"      {esc(why)}")
    if result["locations"]:
        con.print("[dim]code in the evidence:[/]")
    for loc in result["locations"]:
        where = ":".join(x for x in (loc["file"], loc["function"]) if x)
        con.print(f"   {esc(where)}  [dim]{loc['count']} span(s) via {loc['via']}[/] [green]{' '.join(loc['evidence'])}[/]")


@app.command()
def suspects(
    incident: Annotated[str, typer.Argument(help="The incident (inc_…).")],
    repo: Annotated[str, typer.Option("--repo", help="The service's git repository.")] = ".",
    limit: Annotated[int, typer.Option("--limit", "-n", help="At most this many commits.")] = 10,
    store: StoreOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Commits in the incident's deploy range ranked by how they touch the code its evidence names."""
    from pathlib import Path

    params = {"id": incident, "repo": str(Path(repo).expanduser().resolve()), "limit": limit}
    emit(call("suspects", params, store=store), as_json, render_suspects)
