"""Core commands: logs, services, stats, show."""


from typing import TYPE_CHECKING, Annotated, Any

import typer

from runbrief.cli import app
from runbrief.cli._common import JsonOpt, StoreOpt, emit, esc
from runbrief.client import call

if TYPE_CHECKING:
    from rich.console import Console


def _render_logs(con: "Console", result: dict[str, Any]) -> None:
    for row in reversed(result["logs"]):
        sev = row["severity"] or (row["severity_inferred"] and f"~{row['severity_inferred']}") or "-"
        con.print(f"[dim]{row['ts']}[/] [bold]{esc(row['service'])}[/] {esc(sev):6} {esc(row['body'])}  "
                  f"[dim]{row['id']}[/]", markup=True)
    if result.get("truncated"):
        con.print("[dim]… more records match; narrow the filter or raise --limit[/]")


@app.command()
def logs(
    service: Annotated[str | None, typer.Option("--service", "-s", help="Only this service.")] = None,
    severity: Annotated[str | None, typer.Option("--severity", help="Minimum severity (debug, info, warn, error).")] = None,
    since: Annotated[str | None, typer.Option("--since", help="Window back from now (15m, 2h) or ISO time.")] = None,
    until: Annotated[str | None, typer.Option("--until", help="End of the window (ISO time or duration ago).")] = None,
    contains: Annotated[str | None, typer.Option("--contains", "-c", help="Case-insensitive text match.")] = None,
    trace_id: Annotated[str | None, typer.Option("--trace-id", help="Only records of this trace.")] = None,
    pattern_id: Annotated[str | None, typer.Option("--pattern", help="Only records of this pattern (drill-down).")] = None,
    limit: Annotated[int, typer.Option("--limit", "-n", help="At most this many records.")] = 100,
    store: StoreOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Show log records, newest last in the terminal (newest first in JSON)."""
    params = dict(service=service, severity=severity, since=since, until=until, contains=contains,
                  trace_id=trace_id, pattern_id=pattern_id, limit=limit)
    emit(call("logs", params, store=store), as_json, _render_logs)


def _render_services(con: "Console", result: dict[str, Any]) -> None:
    from runbrief.cli._tables import fitted

    rows = [(r["service"], r["logs"], r["spans"], r["metric_points"], r["deploys"], ", ".join(r["versions"]),
             r["last_seen"]) for r in result["services"]]
    con.print(fitted(con, ["service", "logs", "spans", "metric points", "deploys", "versions", "last seen"], rows,
                     drop=["versions", "metric points", "last seen", "deploys"]))


@app.command()
def services(store: StoreOpt = None, as_json: JsonOpt = False) -> None:
    """List the services seen, with record counts and versions."""
    emit(call("services", {}, store=store), as_json, _render_services)


def _render_stats(con: "Console", result: dict[str, Any]) -> None:
    from runbrief.cli._tables import render_object

    render_object(con, result)


@app.command()
def stats(store: StoreOpt = None, as_json: JsonOpt = False) -> None:
    """Records by signal, store size, ingest rate and compression."""
    emit(call("stats", {}, store=store), as_json, _render_stats)


@app.command()
def show(
    evidence_id: Annotated[str, typer.Argument(help="Any evidence ID: pat_…, log_…, dep_…, evt_…, trc_…, spn_…, inc_…")],
    store: StoreOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Resolve an evidence ID to the object it names."""
    emit(call("show", {"id": evidence_id}, store=store), as_json, _render_show)


def _render_show(con: "Console", result: dict[str, Any]) -> None:
    from runbrief.cli._tables import render_object

    render_object(con, {k: v for k, v in result.items() if k not in ("id", "kind")},
                  title=f"{result.get('id')} ({result.get('kind')})")
