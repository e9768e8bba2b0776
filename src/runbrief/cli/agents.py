"""Agent and evaluation commands: ``agents``, ``eval``, ``gate``.

Paths (``--config``, ``--plan``, evaluator files) are made absolute here, because the
operation may run in the server process, whose working directory is not this one.
"""


from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from runbrief.cli import app
from runbrief.cli._common import JsonOpt, StoreOpt, emit, err_console, esc
from runbrief.client import call

if TYPE_CHECKING:
    from rich.console import Console

SinceOpt = Annotated[str | None, typer.Option("--since", help="Window back from now (15m, 2h) or ISO time.")]
UntilOpt = Annotated[str | None, typer.Option("--until", help="End of the window.")]
ServiceOpt = Annotated[str | None, typer.Option("--service", "-s", help="Only this service.")]
ConfigOpt = Annotated[str | None, typer.Option("--config", help="runbrief.toml (default ./runbrief.toml if present).")]
ResourceOpt = Annotated[list[str] | None, typer.Option(
    "--resource", help="Traces of a run by resource attribute, e.g. test.run.id=abc (repeatable).")]
TraceIdsOpt = Annotated[list[str] | None, typer.Option("--trace-id", help="Only these traces (repeatable).")]
DeployOpt = Annotated[str | None, typer.Option("--deploy", help="Since a deploy: dep_… or a service's latest.")]


def _abs_config(config: str | None) -> str | None:
    if config:
        return str(Path(config).expanduser().resolve())
    from runbrief.evals.config import find_default

    found = find_default()
    return str(found.resolve()) if found else None


def _abs_spec(spec: str) -> str:
    """``path/file.py:fn`` → absolute path; other specs unchanged."""
    target, sep, fn = spec.rpartition(":")
    if sep and (target.endswith(".py") or "/" in target):
        return f"{Path(target).expanduser().resolve()}:{fn}"
    return spec


def _money(v: Any) -> str:
    return "-" if v is None else f"${v:.4f}"


def _render_agents(con: "Console", r: dict[str, Any]) -> None:
    t = r["totals"]
    con.print(f"[bold]{t['model_calls']}[/] model calls, [bold]{t['tool_calls']}[/] tool calls, "
              f"{t['agent_steps']} agent steps in {t['conversations']} conversations; "
              f"tokens {t['input_tokens']} in / {t['output_tokens']} out, cost {_money(t['cost'])}, {t['errors']} errors")
    fm = t.get("from_metrics")
    if fm:  # spans absent or sampled: the totals above include what only the GenAI metrics counted
        con.print(f"  of which from GenAI metrics (no spans): {fm['model_calls']} model calls, "
                  f"tokens {fm['input_tokens']} in / {fm['output_tokens']} out, cost {_money(fm['cost'])}")
    if t.get("unpriced_models"):
        con.print(f"[yellow]no price for[/] {esc(', '.join(t['unpriced_models']))} (add them under [prices])")
    from runbrief.cli._tables import fitted

    def first(ids: list[str]) -> str:
        return ids[0] if ids else ""

    sections = []
    if r.get("models"):
        sections.append(("models", ["model", "calls", "in", "out", "cost", "p50 ms", "p95 ms", "err %", "finish",
                                    "evidence"],
                         [(m["model"], m["calls"], m["input_tokens"], m["output_tokens"], _money(m["cost"]),
                           f"{m['p50_ms']:.0f}", f"{m['p95_ms']:.0f}", f"{100 * m['error_rate']:.1f}",
                           ", ".join(f"{k}:{v}" for k, v in m["finish_reasons"].items()), first(m["span_ids"]))
                          for m in r["models"]], ["finish", "p50 ms", "in", "out"]))
    if r.get("metrics"):
        def mean(v: Any) -> str:
            return "" if v is None else f"{v:.0f}"

        sections.append(("GenAI metrics (per model and operation)",
                         ["model", "operation", "calls", "in", "out", "cost", "mean ms"],
                         [(m["model"] or "-", m["operation"] or "-", m["operations"] or 0,
                           m["input_tokens"] if m["input_tokens"] is not None else "",
                           m["output_tokens"] if m["output_tokens"] is not None else "",
                           _money(m.get("cost")) if m.get("cost") is not None or m["input_tokens"] else "",
                           mean(m["mean_ms"])) for m in r["metrics"]], ["mean ms", "in", "out"]))
    if r.get("tools"):
        sections.append(("tools", ["tool", "calls", "success", "p50 ms", "p95 ms", "evidence"],
                         [(m["tool"], m["calls"], f"{100 * m['success_rate']:.1f}%", f"{m['p50_ms']:.0f}",
                           f"{m['p95_ms']:.0f}", first(m["span_ids"])) for m in r["tools"]], ["p50 ms"]))
    if r.get("agents"):
        sections.append(("agents", ["agent", "steps", "model calls", "tool calls", "tokens in", "cost", "p95 ms",
                                    "err %", "evidence"],
                         [(m["agent"], m["steps"], m["model_calls"], m["tool_calls"], m["input_tokens"],
                           _money(m["cost"]), f"{m['p95_ms']:.0f}", f"{100 * m['error_rate']:.1f}",
                           first(m["span_ids"])) for m in r["agents"]], ["tokens in", "model calls", "tool calls"]))
    if r.get("conversations"):
        sections.append(("conversations (latest first)", ["conversation", "start", "model", "tool", "tokens in",
                                                          "cost", "errors", "trace"],
                         [(c["conversation"], c["start"], c["model_calls"], c["tool_calls"], c["input_tokens"],
                           _money(c["cost"]), c["errors"], first(c["trace_ids"])) for c in r["conversations"][:20]],
                         ["start", "tokens in", "model", "tool"]))
    for title, headers, rows, drop in sections:
        con.print(fitted(con, headers, rows, drop=drop, title=title, title_justify="left"))


def _render_problems(con: "Console", r: dict[str, Any]) -> None:
    if not r["problems"]:
        con.print("no agent behaviour problems found")
        return
    for p in r["problems"]:
        con.print(f"[bold red]{p['type']}[/] {esc(p['summary'])}  [dim]({esc(p['conversation'])})[/]")
        con.print(f"    [dim]{' '.join(p['span_ids'][:8])}{' …' if len(p['span_ids']) > 8 else ''}[/]")


@app.command()
def agents(
    since: SinceOpt = None,
    until: UntilOpt = None,
    service: ServiceOpt = None,
    conversation: Annotated[str | None, typer.Option("--conversation", help="Only this conversation ID.")] = None,
    group_by: Annotated[list[str] | None, typer.Option(
        "--group-by", help="Sections: model, tool, agent, conversation, time (repeatable; default all).")] = None,
    problems: Annotated[bool, typer.Option("--problems", help="Show behaviour problems (loops, retries…).")] = False,
    config: ConfigOpt = None,
    store: StoreOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """LLM and agent activity: tokens, cost, latency and errors per model, tool, agent and conversation."""
    params: dict[str, Any] = dict(since=since, until=until, service=service, conversation=conversation,
                                  config=_abs_config(config))
    if problems:
        emit(call("agent_problems", params, store=store), as_json, _render_problems)
        return
    params["group_by"] = group_by or None
    emit(call("agents", params, store=store), as_json, _render_agents)


def _render_checks(con: "Console", r: dict[str, Any], title: str) -> None:
    colour = {"pass": "green", "fail": "red", "error": "yellow"}[r["status"]]
    scope = ", ".join(f"{k} {v}" for k, v in r["scope"].items() if v)
    con.print(f"[bold {colour}]{title} {r['status'].upper()}[/]  {len(r['checks'])} checks over "
              f"{r['traces']} traces ({esc(scope or 'all')})")
    for c in r["checks"]:
        mark = {"pass": "[green]✓[/]", "fail": "[red]✗[/]", "error": "[yellow]![/]"}[c["status"]]
        con.print(f"  {mark} {esc(c['name'])}: {esc(c['error'] or c['detail'])}")
        if c["status"] != "pass" and c["evidence"]:
            con.print(f"      [dim]evidence: {' '.join(c['evidence'][:10])}[/]")


@app.command("eval")
def eval_cmd(
    trace_id: Annotated[str | None, typer.Argument(help="A trace to score (trc_…); or select with options.")] = None,
    evaluator: Annotated[list[str] | None, typer.Option(
        "--evaluator", "-e", help="Built-in (name or name:key=value,…), pkg.mod:fn, file.py:fn or entry point.")] = None,
    assertion: Annotated[list[str] | None, typer.Option(
        "--assert", "-a", help='An assertion, e.g. \'span("startup").duration < 800ms\' (docs/gate.md).')] = None,
    plan: Annotated[str | None, typer.Option("--plan", help="Score plan adherence against this markdown plan.")] = None,
    since: SinceOpt = None,
    until: UntilOpt = None,
    service: ServiceOpt = None,
    deploy: DeployOpt = None,
    resource: ResourceOpt = None,
    trace_ids: TraceIdsOpt = None,
    whole_run: Annotated[bool, typer.Option("--whole-run", help="Score the traces together, not one by one.")] = False,
    no_save: Annotated[bool, typer.Option("--no-save", help="Do not store the scores.")] = False,
    config: ConfigOpt = None,
    store: StoreOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Score traces with evaluators and store the scores with the traces; exit 1 if one fails."""
    params = dict(trace_id=trace_id, trace_ids=trace_ids or None, since=since, until=until, service=service,
                  deploy=deploy, resource=resource or None, evaluators=[_abs_spec(e) for e in evaluator or []] or None,
                  assertions=assertion or None, plan=str(Path(plan).resolve()) if plan else None,
                  config=_abs_config(config), per_trace=not whole_run, save=not no_save)
    result = call("eval", params, store=store)
    emit(result, as_json, lambda con, r: _render_checks(con, r, "eval"))
    raise typer.Exit({"pass": 0, "fail": 1, "error": 2}[result["status"]])


gate_app = typer.Typer(rich_markup_mode=None, name="gate", invoke_without_command=True, no_args_is_help=False,
                       help="Check the traces of a run against runbrief.toml thresholds: exit 0 pass, 1 fail, 2 "
                            "config error (`runbrief gate suggest` proposes checks).")
app.add_typer(gate_app, name="gate")


@gate_app.callback()
def gate(
    ctx: typer.Context,
    config: Annotated[str | None, typer.Option("--config", help="runbrief.toml with [gate] checks.")] = None,
    junit: Annotated[str | None, typer.Option("--junit", help="Also write JUnit XML to this file.")] = None,
    since: SinceOpt = None,
    until: UntilOpt = None,
    service: ServiceOpt = None,
    deploy: DeployOpt = None,
    resource: ResourceOpt = None,
    trace_ids: TraceIdsOpt = None,
    store: StoreOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Check the traces of a run against runbrief.toml thresholds: exit 0 pass, 1 fail, 2 config error."""
    if ctx.invoked_subcommand is not None:
        return
    cfg = _abs_config(config)
    if cfg is None:
        err_console.print("error: no runbrief.toml here; pass --config FILE (see docs/gate.md)")
        raise typer.Exit(2)
    params = dict(config=cfg, since=since, until=until, service=service, deploy=deploy,
                  resource=resource or None, trace_ids=trace_ids or None)
    result = call("gate", params, store=store)
    target = junit or (str(Path(cfg).parent / result["junit"]) if result.get("junit") else None)
    if target:
        from runbrief.evals.junit import write_junit

        path = write_junit(result, target)
        if not as_json:
            err_console.print(f"JUnit XML written to {path}")
    emit(result, as_json, lambda con, r: _render_checks(con, r, "gate"))
    raise typer.Exit(result["exit_code"])



@gate_app.command("suggest")
def gate_suggest(
    service: Annotated[str, typer.Option("--service", "-s", help="The service whose baselines set the budgets.")],
    since: Annotated[str, typer.Option("--since", help="The baseline: its traces of this window.")] = "7d",
    margin: Annotated[float, typer.Option("--margin", help="Each budget is the baseline times this.")] = 1.5,
    store: StoreOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Latency (p95 per route), error, token and cost budgets from the service's baselines, as [[gate.check]] TOML."""
    import sys

    result = call("gate_suggest", {"service": service, "since": since, "margin": margin}, store=store)
    if as_json:
        emit(result, True, lambda con, r: None)
        return
    for note in result["notes"]:
        err_console.print(f"note: {esc(note)}")
    sys.stdout.write(result["toml"])
