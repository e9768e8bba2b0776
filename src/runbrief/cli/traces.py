"""Trace commands: `runbrief traces`, `runbrief trace show` (and summary, compare, diff), `runbrief perf`.

Each calls one operation and renders its result; ``--json`` prints the result unchanged.
Span names, SQL and log bodies are untrusted data: they are escaped, never read as markup.
"""


from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from runbrief.cli import app
from runbrief.cli._common import JsonOpt, StoreOpt, emit, esc
from runbrief.client import call

if TYPE_CHECKING:
    from rich.console import Console

trace_app = typer.Typer(rich_markup_mode=None, help="Look into one trace: show, summary, compare with a plan, diff.", no_args_is_help=True)
app.add_typer(trace_app, name="trace")

BudgetOpt = Annotated[int | None, typer.Option("--budget", help="At most this many items per list.")]
_STATUS = {"ERROR": "[bold red]ERROR[/]", "OK": "[green]OK[/]", "UNSET": ""}


def _ms(v: float | None) -> str:
    if v is None:
        return "-"
    return f"{v / 1000:.2f} s" if v >= 1000 else f"{v:.1f} ms"


# ---------------------------------------------------------------- traces
def _render_traces(con: "Console", result: dict[str, Any]) -> None:
    from runbrief.cli._tables import fitted

    rows = [(r["trace_id"], (r["start"] or "")[11:19], _ms(r["duration_ms"]), r["spans"], r["errors"],
             f"{r['root'] or '(missing root)'} [{r['service'] or ''}]") for r in result["traces"]]
    con.print(fitted(con, ["trace", "time", "duration", "spans", "err", "root"], rows, drop=["spans", "time", "err"],
                     pad_edge=False))
    if not result["traces"]:
        con.print("no trace matches; loosen the filters or check `runbrief services`")
    if result.get("truncated"):
        con.print("[dim]… more traces match; narrow the filter or raise --limit[/]")


@app.command("traces")
def traces_cmd(
    service: Annotated[str | None, typer.Option("--service", "-s", help="A span of this service.")] = None,
    route: Annotated[str | None, typer.Option("--route", "-r", help="http.route / url.path / span name, e.g. /cart.")] = None,
    name: Annotated[str | None, typer.Option("--name", help="A span whose name contains this.")] = None,
    status: Annotated[str | None, typer.Option("--status", help="error (a span failed) or ok.")] = None,
    min_duration_ms: Annotated[float | None, typer.Option("--min-duration", help="At least this many ms.")] = None,
    since: Annotated[str | None, typer.Option("--since", help="Window back from now (15m, 2h) or ISO time.")] = None,
    until: Annotated[str | None, typer.Option("--until", help="End of the window.")] = None,
    attribute: Annotated[str | None, typer.Option("--attribute", "-a", help="key=value on any span.")] = None,
    limit: Annotated[int, typer.Option("--limit", "-n", help="At most this many traces.")] = 20,
    store: StoreOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Find traces, latest first."""
    params = dict(service=service, route=route, name=name, status=status, min_duration_ms=min_duration_ms,
                  since=since, until=until, attribute=attribute, limit=limit)
    emit(call("traces", params, store=store), as_json, _render_traces)


# ---------------------------------------------------------------- show
def _header(con: "Console", r: dict[str, Any]) -> None:
    root = r.get("root") or {}
    con.print(f"[bold]{r['trace_id']}[/]  {esc(root.get('name') or '(missing root)')}  "
              f"{_ms(r['duration_ms'])}, {r['spans']} spans, {', '.join(map(esc, r['services']))}"
              + (f", [red]{r['failed_spans']} failed[/]" if r.get("failed_spans") else "") + f"  [dim]{r['start']}[/]")


def _integrity(con: "Console", r: dict[str, Any]) -> None:
    for i in r.get("integrity", []):
        con.print(f"[yellow]broken trace: {i['type']}[/] {esc(i.get('detail', ''))}")


def _render_show(con: "Console", r: dict[str, Any]) -> None:
    _header(con, r)
    _integrity(con, r)
    for row in r["tree"]:
        pad = "  " * row["depth"]
        crit = "[bold]*[/]" if row["critical"] else " "
        attrs = row["attributes"]
        detail = (attrs.get("db.query.text") or attrs.get("db.statement") or attrs.get("url.full")
                  or attrs.get("http.url") or attrs.get("http.route") or "")
        line = (f"{crit}{pad}{esc(row['name'])} [dim]{esc(row['service'])}[/] {_ms(row['duration_ms'])} "
                f"[dim](self {_ms(row['self_ms'])})[/] {_STATUS.get(row['status'], row['status'])} "
                f"[cyan]{row['span_id']}[/]")
        con.print(line, overflow="ellipsis", no_wrap=True)
        if detail:
            con.print(f" {pad}  [dim]{esc(str(detail))}[/]", overflow="ellipsis", no_wrap=True)
        for e in row.get("exceptions", []):
            con.print(f" {pad}  [red]{esc(e['type'])}: {esc(e['message'])}[/]", overflow="ellipsis", no_wrap=True)
        for lg in row.get("logs", []):
            con.print(f" {pad}  [magenta]log[/] {lg['severity']} {esc(lg['body'])} [dim]{lg['id']}[/]",
                      overflow="ellipsis", no_wrap=True)
        if row.get("hidden_children"):
            con.print(f" {pad}  [dim]… {row['hidden_children']} child span(s) not shown[/]")
    for lg in r.get("trace_logs", []):
        con.print(f"[magenta]log[/] {lg['severity']} {esc(lg['body'])} [dim]{lg['id']}[/]", overflow="ellipsis",
                  no_wrap=True)
    om = r["omitted"]
    if om["spans"] or om["logs"]:
        con.print(f"[dim]{om['spans']} span(s) and {om['logs']} log(s) not shown (raise --budget); "
                  "* marks the critical path[/]")


@trace_app.command("show")
def show_cmd(
    trace_id: Annotated[str, typer.Argument(help="Trace ID (trc_… or 32 hex).")],
    budget: Annotated[int, typer.Option("--budget", help="At most this many spans.")] = 100,
    store: StoreOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """A trace as a span tree with self times, key attributes and its logs."""
    emit(call("trace_show", {"id": trace_id, "budget": budget}, store=store), as_json, _render_show)


# ---------------------------------------------------------------- summary
def _render_problems(con: "Console", problems: list[dict[str, Any]]) -> None:
    for p in problems:
        ids = " ".join(p["span_ids"][:4]) + (" …" if len(p["span_ids"]) > 4 else "")
        con.print(f"  [bold yellow]{p['type']}[/] {p['count']}× {_ms(p['time_ms'])}: {esc(p['what'])}",
                  overflow="ellipsis", no_wrap=True)
        con.print(f"    [dim]{esc(p['cause'])}[/]")
        con.print(f"    [cyan]{ids}[/]" + (f" [dim]under {p['parent']}[/]" if p.get("parent") else ""))


def _render_summary(con: "Console", r: dict[str, Any]) -> None:
    _header(con, r)
    con.print(esc(r["headline"]))
    _integrity(con, r)
    con.print("[bold]time on the critical path[/]  " + ", ".join(
        f"{k['kind']} {_ms(k['ms'])} ({k['share']:.0%})" for k in r["time_by_kind"]))
    if len(r["time_by_service"]) > 1:
        con.print("  by service: " + ", ".join(f"{esc(s['service'])} {_ms(s['ms'])}" for s in r["time_by_service"]))
    con.print("[bold]critical path[/]")
    for c in r["critical_path"]:
        con.print(f"  +{_ms(c['offset_ms']):>9}  {_ms(c['on_path_ms']):>9}  {c['kind']:<12} [cyan]{c['span_id'] or ''}[/] "
                  f"{esc(c.get('what') or c['name'])}", overflow="ellipsis", no_wrap=True)
    if r["omitted"]["critical_path_spans"]:
        con.print(f"  [dim]… {r['omitted']['critical_path_spans']} more span(s), "
                  f"{_ms(r['omitted']['critical_path_ms'])}[/]")
    if r["errors"]:
        con.print("[bold red]errors[/]")
        for e in r["errors"]:
            exc = "; ".join(f"{x['type']}: {x['message']}" for x in e["exceptions"]) or e.get("status_message") or ""
            con.print(f"  {esc(e['name'])} [cyan]{e['span_id']}[/] {esc(exc)}", overflow="ellipsis", no_wrap=True)
    con.print(f"[bold]problems[/] ({len(r['problems'])})" if r["problems"] else "[green]no performance problem found[/]")
    _render_problems(con, r["problems"])


@trace_app.command("summary")
def summary_cmd(
    trace_id: Annotated[str | None, typer.Argument(help="Trace ID; or use --latest with --route/--service.")] = None,
    latest: Annotated[bool, typer.Option("--latest", help="The most recent trace of --route/--service.")] = False,
    route: Annotated[str | None, typer.Option("--route", "-r", help="With --latest: e.g. /cart.")] = None,
    service: Annotated[str | None, typer.Option("--service", "-s", help="With --latest: this service.")] = None,
    budget: BudgetOpt = None,
    store: StoreOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Where a trace's time went, what failed and which performance problems it shows."""
    params = dict(id=trace_id, latest=latest or None, route=route, service=service, budget=budget)
    emit(call("trace_summary", params, store=store), as_json, _render_summary)


# ---------------------------------------------------------------- compare
def _cite(item: dict[str, Any]) -> str:
    return f"[dim]line {item['line']}:[/] {esc(item['step'])}"


def _render_compare(con: "Console", r: dict[str, Any]) -> None:
    con.print(f"[bold]{r['trace_id']}[/] {_ms(r['duration_ms'])}: {esc(r['headline'])}")
    for s in r["steps"]:
        con.print(f"  [green]found[/]    {_cite(s)} [cyan]{' '.join(s['span_ids'][:3])}[/]", overflow="ellipsis",
                  no_wrap=True)
    for m in r["missing"]:
        con.print(f"  [bold red]missing[/]  {_cite(m)} [dim](looked for {esc(', '.join(m['looked_for']))})[/]")
    for o in r["order_violations"]:
        con.print(f"  [bold yellow]order[/]    {_cite(o)} ran before line {o['expected_after']['line']} "
                  f"[cyan]{' '.join(o['span_ids'])}[/]")
    for b in r["budget_violations"]:
        con.print(f"  [bold yellow]budget[/]   {_cite(b)} {_ms(b['actual_ms'])} > {_ms(b['budget_ms'])} "
                  f"[cyan]{' '.join(b['span_ids'][:3])}[/]")
    for c in r.get("count_violations", []):
        con.print(f"  [bold yellow]count[/]    {_cite(c)} {c['actual']} {esc(c['unit'])} span(s), promised "
                  f"{esc(c['promised'])} [cyan]{' '.join(c['span_ids'][:3])}[/]")
    for u in r["unexpected"]:
        con.print(f"  [magenta]unplanned[/] {u['count']}× {u['kind']} {esc(u['what'])} {_ms(u['total_ms'])} "
                  f"[cyan]{' '.join(u['span_ids'][:3])}[/]", overflow="ellipsis", no_wrap=True)
    for u in r["unverifiable"]:
        con.print(f"  [dim]unverifiable {_cite(u)}[/]")


@trace_app.command("compare")
def compare_cmd(
    trace_id: Annotated[str, typer.Argument(help="Trace ID (trc_…).")],
    plan: Annotated[str, typer.Option("--plan", "-p", help="The plan: a markdown file.")],
    budget: BudgetOpt = None,
    store: StoreOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Check a trace against a markdown plan: missing, unplanned, out-of-order and over-budget steps."""
    p = Path(plan).expanduser()
    # Read the file here: a server owning the store may run in another directory.
    text = p.read_text(encoding="utf-8", errors="replace") if p.is_file() else plan
    emit(call("trace_compare", {"id": trace_id, "plan": text, "budget": budget}, store=store), as_json,
         _render_compare)


# ---------------------------------------------------------------- diff
def _render_diff(con: "Console", r: dict[str, Any]) -> None:
    con.print(f"[bold]{esc(r['headline'])}[/]")
    for k in r["kind_shifts"]:
        if abs(k["delta_ms"]) >= 0.5:
            con.print(f"  {k['kind']:<14} {_ms(k['before_ms']):>9} → {_ms(k['after_ms']):>9} ({k['delta_ms']:+.1f} ms)")
    for o in r["new_spans"]:
        con.print(f"  [green]new[/]  {o['per_trace']}× {o['kind']} {esc(o['what'])} [cyan]{' '.join(o['span_ids'][:2])}[/]",
                  overflow="ellipsis", no_wrap=True)
    for o in r["gone_spans"]:
        con.print(f"  [red]gone[/] {o['per_trace']}× {o['kind']} {esc(o['what'])}", overflow="ellipsis", no_wrap=True)
    for c in r["changed"]:
        con.print(f"  [yellow]changed[/] {esc(c['what'])}: {c['per_trace_before']}× {_ms(c['avg_ms_before'])} → "
                  f"{c['per_trace_after']}× {_ms(c['avg_ms_after'])}", overflow="ellipsis", no_wrap=True)
    if r["new_problems"]:
        con.print("[bold]new problems[/]")
        _render_problems(con, [{**p, "parent": p.get("parent")} for p in r["new_problems"]])


@trace_app.command("diff")
def diff_cmd(
    a: Annotated[str | None, typer.Argument(help="The trace before (with B).")] = None,
    b: Annotated[str | None, typer.Argument(help="The trace after.")] = None,
    route: Annotated[str | None, typer.Option("--route", "-r", help="Compare this route's traces…")] = None,
    deploy: Annotated[str | None, typer.Option("--deploy", "-d", help="…before and after this deploy (dep_… or time).")] = None,
    service: Annotated[str | None, typer.Option("--service", "-s", help="Only spans of this service pick traces.")] = None,
    sample: Annotated[int, typer.Option("--sample", help="Traces per side.")] = 20,
    budget: BudgetOpt = None,
    store: StoreOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Before/after: spans new and gone, time per kind, new problems."""
    params = dict(a=a, b=b, route=route, deploy=deploy, service=service, sample=sample, budget=budget)
    emit(call("trace_diff", params, store=store), as_json, _render_diff)


# ---------------------------------------------------------------- perf
def _render_perf(con: "Console", r: dict[str, Any]) -> None:
    con.print(f"[bold]{r['traces_examined']} traces examined[/] over {len(r['routes'])} route(s)")
    if not r["problems"]:
        con.print("[green]no performance problem found[/]")
    from rich.table import Table

    t = Table(box=None)
    t.add_column("route", no_wrap=True, overflow="ellipsis")
    t.add_column("problem", no_wrap=True, min_width=16)
    for col in ("traces", "freq", "total", "per trace"):
        t.add_column(col, no_wrap=True, justify="right")
    for p in r["problems"]:
        t.add_row(esc(p["route"]), p["type"], f"{p['traces_affected']}/{p['traces_examined']}",
                  f"{p['frequency']:.0%}", _ms(p["total_time_ms"]), _ms(p["avg_time_ms_per_trace"]))
    con.print(t)
    for p in r["problems"]:
        for ex in p["examples"][:1]:
            con.print(f"  [bold]{esc(p['route'])} {p['type']}[/] {esc(ex['what'])}", overflow="ellipsis",
                      no_wrap=True)
            con.print(f"    [cyan]{ex['latest_trace_id']} {' '.join(ex['span_ids'][:3])}[/]")


@app.command("perf")
def perf_cmd(
    service: Annotated[str | None, typer.Option("--service", "-s", help="Traces of this service.")] = None,
    route: Annotated[str | None, typer.Option("--route", "-r", help="Traces of this route.")] = None,
    since: Annotated[str | None, typer.Option("--since", help="Window back from now (1h) or ISO time.")] = None,
    limit: Annotated[int, typer.Option("--limit", "-n", help="Examine at most this many recent traces.")] = 200,
    store: StoreOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Performance problems across recent traces, by route and type, with frequency and time cost."""
    emit(call("perf", dict(service=service, route=route, since=since, limit=limit), store=store), as_json, _render_perf)
