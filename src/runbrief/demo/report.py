"""The demo in the terminal: progress while it runs, then what runbrief saw and what to try next.

Each answer is drawn by the renderer of the command that owns it (``runbrief changes``,
``incidents``, ``trace summary``, ``perf``), so the demo shows exactly what those commands
print; an answer this build does not have yet is one "not available" line.
"""

from __future__ import annotations

import importlib
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.rule import Rule

from runbrief.demo.scenario import Progress as DemoProgress

__all__ = ["RichProgress", "render", "next_steps"]

# (result key, section title, (module, renderer) candidates: public name first)
SECTIONS: list[tuple[str, str, list[tuple[str, str]]]] = [
    ("changes", "What changed in shop since the deploy",
     [("runbrief.cli.changes", "render")]),
    ("changes_inventory", "…and in inventory, which did not deploy",
     [("runbrief.cli.changes", "render")]),
    ("incidents", "Incidents, with their evidence",
     [("runbrief.cli.incidents", "render_list"), ("runbrief.cli.incidents", "_render_list")]),
    ("trace_summary", "The latest /cart trace",
     [("runbrief.cli.traces", "render_summary"), ("runbrief.cli.traces", "_render_summary")]),
    ("perf", "Performance problems across shop's traces since the deploy",
     [("runbrief.cli.traces", "render_perf"), ("runbrief.cli.traces", "_render_perf")]),
]


class RichProgress(DemoProgress):
    """Steps as check-marked lines with their time; traffic as a bar (on stderr, so --json stays clean)."""

    def __init__(self, console: Console) -> None:
        self.con = console

    @contextmanager
    def step(self, text: str) -> Iterator[None]:
        t0 = time.perf_counter()
        with self.con.status(escape(text)):
            yield
        self.con.print(f"[green]✓[/] {escape(text)} [dim]{time.perf_counter() - t0:.1f} s[/]")

    @contextmanager
    def bar(self, text: str, total: int) -> Iterator[Callable[[int], None]]:
        t0 = time.perf_counter()
        cols = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
        with Progress(*cols, console=self.con, transient=True) as prog:
            task = prog.add_task(escape(text), total=total)
            yield lambda n: prog.advance(task, n)
        self.con.print(f"[green]✓[/] {escape(text)}: {total} requests [dim]{time.perf_counter() - t0:.1f} s[/]")

    def note(self, text: str) -> None:
        self.con.print(f"  [yellow]![/] {escape(text)}")


def _renderer(candidates: list[tuple[str, str]]) -> Callable[[Console, Any], None] | None:
    for mod, name in candidates:
        try:
            fn = getattr(importlib.import_module(mod), name, None)
        except ImportError:
            continue
        if callable(fn):
            return fn
    return None


def _section(con: Console, title: str, result: Any, why: str | None, candidates: list[tuple[str, str]]) -> None:
    con.print(Rule(f"[bold]{escape(title)}[/]", align="left"))
    if result is None:
        con.print(f"[dim]not available: {escape(why or 'no answer')}[/]")
        return
    fn = _renderer(candidates)
    if fn is not None:
        try:
            fn(con, result)
            return
        except Exception as exc:  # noqa: BLE001 - a renderer out of step with its op must not end the demo
            con.print(f"[dim](its renderer failed: {escape(repr(exc))}; the evidence IDs follow)[/]")
    from runbrief.demo.evidence import collect_ids

    ids = sorted(collect_ids(result))
    con.print(f"{len(ids)} evidence ID(s): " + escape(" ".join(ids[:12])) + (" …" if len(ids) > 12 else ""))


def _section_body(con: Console, loop: dict[str, Any]) -> None:
    """The verify verdict (drawn by `runbrief verify`'s renderer) and what memory now holds."""
    if "verify" not in loop:
        con.print(f"[dim]not available: {escape(str(loop.get('unavailable') or 'no answer'))}[/]")
        return
    fn = _renderer([("runbrief.cli.verify", "render")])
    if fn is not None:
        fn(con, loop["verify"])
    for m in loop.get("memory") or []:
        for f in m["fixes"]:
            con.print(f"  memory: [green]{escape(m['id'])}[/] \"{escape(str(f.get('fix')))}\" → outcome "
                      f"[bold]{escape(str(f.get('outcome')))}[/], incident {escape(str(m['status']))}")


def next_steps(out: dict[str, Any]) -> list[str]:
    """Commands to try next, for this run's store (and server, when kept)."""
    store = out.get("store", ".runbrief")
    s = f" --store {store}"
    dep = (out.get("deploy") or {}).get("evidence_id")
    steps = [
        f"runbrief changes --service shop --since-deploy{s}",
        f"runbrief incidents{s}",
        f"runbrief trace summary --latest --route /cart{s}",
        f"runbrief perf --service shop{s}",
        f"runbrief verify{s}   # did the fix deploy fix the incidents? (the demo asked it)",
        f"runbrief incidents --all{s}   # the fix's outcome, recorded in memory",
        f"runbrief show <ID>{s}     # any evidence ID above: " + (dep or "dep_…, pat_…, spn_…, inc_…"),
        "runbrief mcp install --client claude-code   # then ask your agent: \"what changed in shop since the deploy?\"",
    ]
    server = out.get("server") or {}
    if server.get("kept"):
        steps.append(f"the server is still running at {server.get('url')} (pid {server.get('pid')}); "
                     f"stop it with: kill {server.get('pid')}")
    else:
        steps.append(f"runbrief serve{s}   # explore with the web page and MCP; or rerun: runbrief demo --keep")
    steps.append("point your own app's OTLP exporter at runbrief serve (http://127.0.0.1:4318)")
    return steps


def render(con: Console, out: dict[str, Any]) -> None:
    results, unavailable = out.get("results", {}), out.get("unavailable", {})
    con.print()
    con.print(Rule("[bold]runbrief demo: what shop 2.0.0 shipped[/]", align="left"))
    for reg in out.get("regressions", []):
        con.print(f"  • {escape(reg['what'])}")
    t = out.get("traffic", {})
    if t:
        b, a = t["baseline"], t["after_deploy"]
        dep = out.get("deploy") or {}
        con.print(f"[dim]{b['requests']} requests over {b['minutes']} minutes on 1.0.0, deploy "
                  f"{dep.get('evidence_id') or ''} at {dep.get('ts')}, {a['requests']} requests over "
                  f"{a['minutes']} minutes on 2.0.0 (time fast-forwarded: a burst of requests per minute)[/]")
    for key, title, candidates in SECTIONS:
        if key in results or key in unavailable:
            _section(con, title, results.get(key), unavailable.get(key), candidates)
    loop = out.get("loop")
    if loop:
        con.print(Rule(f"[bold]Closing the loop: did shop {escape(str(loop['deploy'].get('version')))} fix it?[/]",
                       align="left"))
        _section_body(con, loop)
    rows = out.get("findings") or []
    if rows:
        con.print(Rule("[bold]Did runbrief find what the deploy broke?[/]", align="left"))
        for r in rows:
            mark = "[green]found[/]" if r["found"] else "[red]not found[/]"
            by = ", ".join(sorted({h["answer"] for h in r["by"]}))
            ev = " ".join(r["evidence"][:4]) + (" …" if len(r["evidence"]) > 4 else "")
            con.print(f"  {mark}  {escape(r['key'].replace('_', ' '))}"
                      + (f" [dim]by {escape(by)}:[/] [cyan]{escape(ev)}[/]" if r["found"] else ""))
    con.print(Rule("[bold]Try next[/]", align="left"))
    for step in next_steps(out):
        con.print(f"  {escape(step)}", soft_wrap=True)
    con.print(f"[dim]store: {escape(str(out.get('store')))} · finished in {out.get('elapsed_s')} s[/]")
