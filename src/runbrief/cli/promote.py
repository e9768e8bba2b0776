"""`runbrief promote-check`: is the candidate in one environment safe to promote to another (exit 0 / 1 / 2)."""


from typing import TYPE_CHECKING, Annotated, Any

import typer

from runbrief.cli import app
from runbrief.cli._common import JsonOpt, StoreOpt, emit, esc
from runbrief.client import call

if TYPE_CHECKING:
    from rich.console import Console


def render(con: "Console", r: dict[str, Any]) -> None:
    style = "bold green" if r["verdict"] == "safe" else "bold red"
    con.print(f"[{style}]{r['verdict']}[/]  {esc(r['text'])}")
    c, b = r["candidate"], r["current"]
    con.print(f"[dim]candidate {esc(c['environment'])} {esc(c['version'] or '?')} {c['window'][0]} .. {c['window'][1]}; "
              f"current {esc(b['environment'])} {esc(b['version'] or '?')} {b['window'][0]} .. {b['window'][1]}[/]")
    for note in r.get("notes", []):
        con.print(f"[dim]note: {esc(note)}[/]")
    for i in r["items"]:
        where = i.get("route") or i.get("pattern_id") or i.get("of") or ""
        con.print(f"  {i['kind']:<14} {esc(where)}: {esc(i['summary'])} [dim](p={i['p_value']:.2g})[/] "
                  f"[green]{' '.join(i['evidence'])}[/]")


@app.command("promote-check")
def promote_check(
    service: Annotated[str, typer.Option("--service", "-s", help="The service to promote.")],
    source: Annotated[str, typer.Option("--from", help="The environment the candidate runs in "
                                        "(deployment.environment.name).")] = "staging",
    target: Annotated[str, typer.Option("--to", help="The environment it would replace the current version in.")]
    = "production",
    window: Annotated[str, typer.Option("--window", help="How far back each side is read (e.g. 6h, 24h).")] = "24h",
    store: StoreOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Is the candidate in --from safe to promote to --to: exit 0 safe, 1 not safe, 2 usage error."""
    result = call("promote_check", {"service": service, "source": source, "target": target, "window": window},
                  store=store)
    emit(result, as_json, render)
    raise typer.Exit(0 if result["verdict"] == "safe" else 1)
