"""`runbrief changes`: what changed since a deploy or a time, ranked, with evidence IDs."""


from typing import TYPE_CHECKING, Annotated, Any

import typer

from runbrief.cli import app
from runbrief.cli._common import JsonOpt, StoreOpt, emit, esc
from runbrief.client import call

if TYPE_CHECKING:
    from rich.console import Console

_KIND_STYLE = {"new": "bold magenta", "rate_up": "bold yellow", "rate_down": "cyan", "stopped": "bold cyan",
               "error_share": "bold red", "k8s_event": "bold red"}


def _what(item: dict[str, Any]) -> str:
    if item["kind"] == "k8s_event":
        return item.get("message") or item["reason"]
    if item["kind"] == "error_share":
        return "; ".join(f"{d['evidence_id']} {d['template'] or ''}" for d in item["drivers"])
    return item.get("template") or item.get("pattern_id") or ""


def render(con: "Console", result: dict[str, Any]) -> None:
    w, dep, base = result["window"], result["deploy"], result["baseline"]
    who = result["service"] or "all services"
    if dep:
        prev = f" (from {dep['previous_version']})" if dep.get("previous_version") else ""
        head = f"{who}: changes since deploy {dep['evidence_id']} {dep['version'] or ''}{prev} at {dep['ts']}"
    else:
        head = f"{who}: changes since {w['start']}"
    con.print(f"[bold]{esc(head)}[/]")
    seasonal = f", + same hours {len(base['seasonal_days'])} earlier day(s)" if base["seasonal_days"] else ""
    con.print(f"[dim]after: {w['minutes']:.0f} min to {w['end']}; baseline: {base['minutes']:.0f} min{seasonal}[/]")
    for note in result.get("notes", []):
        con.print(f"[dim]note: {esc(note)}[/]")
    if not result["items"]:
        con.print("no significant change found")
    for n, item in enumerate(result["items"], 1):
        style = _KIND_STYLE.get(item["kind"], "bold")
        con.print(f"{n:>2}. [{style}]{item['kind']:<11}[/] [green]{item['evidence_id']}[/]  "
                  f"[dim]score {item['score']:<6}[/] {esc(item['summary'])}")
        what = _what(item)
        if what:
            con.print(f"      {esc(what)}", markup=True, overflow="ellipsis", no_wrap=True)
        ex = item.get("example")
        if ex and ex.get("body") and ex["body"] != what:
            con.print(f"      [dim]e.g. {esc(ex['body'])}  {ex.get('id') or ''}[/]", overflow="ellipsis",
                      no_wrap=True)
    s = result["summary"]
    extra = []
    if s["truncated"]:
        extra.append(f"{s['total'] - len(result['items'])} more (raise --limit)")
    if s["new_below_threshold"]:
        cited = ", ".join(f"{q['evidence_id']} ({q['count']} line(s))" for q in s.get("also_new", []))
        extra.append(f"{s['new_below_threshold']} new pattern(s) too sparse to rank: {cited}")
    if s["routine_k8s_events"]:
        extra.append(f"{s['routine_k8s_events']} routine k8s event(s)")
    if extra:
        con.print(f"[dim]{'; '.join(extra)}[/]")


@app.command()
def changes(
    service: Annotated[str | None, typer.Option("--service", "-s", help="The service to examine.")] = None,
    since_deploy: Annotated[bool, typer.Option("--since-deploy", help="Compare around the service's latest deploy.")] = False,
    since: Annotated[str | None, typer.Option("--since", help="Compare [TIME, now] with the window before it (1h or ISO).")] = None,
    deploy: Annotated[str | None, typer.Option("--deploy", help="Compare around this deploy (dep_…).")] = None,
    baseline: Annotated[str | None, typer.Option("--baseline", help="Baseline length before the split (e.g. 24h).")] = None,
    limit: Annotated[int, typer.Option("--limit", "-n", help="At most this many items.")] = 20,
    store: StoreOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """What changed since a deploy or a time: new patterns, rate shifts, stopped ones, error share, k8s events."""
    params = dict(service=service, since_deploy=since_deploy or None, since=since, deploy=deploy,
                  baseline=baseline, limit=limit)
    emit(call("changes", params, store=store), as_json, render)
