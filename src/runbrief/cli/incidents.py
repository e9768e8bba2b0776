"""Incident commands: `incidents`, `incident`, `brief`, `resolve`."""


from typing import TYPE_CHECKING, Annotated, Any

import typer

from runbrief.cli import app
from runbrief.cli._common import JsonOpt, StoreOpt, emit, esc, esc_block
from runbrief.client import call

if TYPE_CHECKING:
    from rich.console import Console


def _render_list(con: "Console", result: list[dict[str, Any]]) -> None:
    if not result:
        con.print("no open incidents (`runbrief incidents --all` lists history)")
        return
    for inc in result:
        style = "bold red" if inc["status"] == "open" else "dim"
        con.print(f"[{style}]{inc['id']:<8}[/] [bold]{esc(inc['title'])}[/]  [dim]impact {inc['impact']} · "
                  f"{inc['status']} · since {inc['started_at']} · {esc(', '.join(inc['affected_services']))}[/]")
        if inc["claims"]:
            c = inc["claims"][0]
            con.print(f"         {esc(c['text'])} [green]{esc(', '.join(c['evidence'][:3]))}[/]")
        if inc.get("cause") and inc["cause"].get("fix"):
            con.print(f"         [yellow]fix:[/] {esc(inc['cause']['fix'])}")
        for s in inc.get("similar") or []:
            fx = "; ".join(f"{f['fix']} ({f['outcome']})" for f in s["fixes"]) or "no fix recorded"
            con.print(f"         [dim]seen before: {s['id']} similarity {s['similarity']} — {esc(fx)}[/]")


@app.command()
def incidents(
    all_: Annotated[bool, typer.Option("--all", help="History too: resolved and closed incidents.")] = False,
    service: Annotated[str | None, typer.Option("--service", "-s", help="Only incidents touching this service.")] = None,
    status: Annotated[str | None, typer.Option("--status", help="open, resolved or closed.")] = None,
    limit: Annotated[int, typer.Option("--limit", "-n", help="At most this many.")] = 20,
    store: StoreOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """List incidents ranked by impact, each with its first claim, fix and similar past incidents."""
    result = call("incidents", {"all": all_, "service": service, "status": status, "limit": limit}, store=store)
    emit(result, as_json, _render_list)


def _render_one(con: "Console", result: dict[str, Any]) -> None:
    from runbrief.brief import render_incident

    con.print(esc_block(render_incident(result)), soft_wrap=True)


@app.command()
def incident(
    incident_id: Annotated[str, typer.Argument(help="Incident ID, e.g. inc_3.")],
    narrative: Annotated[bool, typer.Option("--narrative/--no-narrative",
                                            help="Add a model-written narrative when a model is configured.")] = True,
    store: StoreOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """One incident: diagnosis claims with evidence, timeline, quotes (fenced), similar incidents, fixes."""
    emit(call("incident", {"id": incident_id, "narrative": narrative}, store=store), as_json, _render_one)


def _render_brief(con: "Console", result: dict[str, Any]) -> None:
    con.print(esc_block(result["text"]), soft_wrap=True)
    con.print(f"[dim]{result['tokens']} tokens of {result['budget']} ({result['tokenizer']})[/]")


@app.command()
def brief(
    service: Annotated[str | None, typer.Option("--service", "-s", help="Only this service.")] = None,
    budget: Annotated[int, typer.Option("--budget", "-b", help="Token budget of the brief.")] = 2000,
    store: StoreOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """The first thing an agent reads: open incidents ranked and what changed since the last deploy."""
    emit(call("brief", {"service": service, "budget": budget}, store=store), as_json, _render_brief)


@app.command()
def resolve(
    incident_id: Annotated[str, typer.Argument(help="Incident ID, e.g. inc_3.")],
    fix: Annotated[str, typer.Option("--fix", help="What was changed, in a sentence.")],
    commit: Annotated[str | None, typer.Option("--commit", help="The commit that carries the fix.")] = None,
    outcome: Annotated[str, typer.Option("--outcome", help="worked (resolves the incident) or failed.")] = "worked",
    store: StoreOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Record the fix of an incident; later similar incidents show it."""
    result = call("resolve", {"id": incident_id, "fix": fix, "commit": commit, "outcome": outcome}, store=store)
    emit(result, as_json, lambda con, r: con.print(f"{r['id']} {r['status']}: {esc(fix)} ({outcome})"))
