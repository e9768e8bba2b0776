"""Distill commands: ``runbrief parse`` (offline) and ``runbrief patterns``."""


import sys
from collections import Counter
from typing import TYPE_CHECKING, Annotated, Any

import typer

from runbrief.cli import app
from runbrief.cli._common import JsonOpt, StoreOpt, emit
from runbrief.client import call
from runbrief.errors import UsageError

if TYPE_CHECKING:
    from rich.console import Console


def _read_lines(path: str):
    """Lines of a file or stdin, decoded leniently (invalid UTF-8 becomes U+FFFD)."""
    if path == "-":
        stream = sys.stdin.buffer
    else:
        try:
            stream = open(path, "rb")  # noqa: SIM115 - closed below
        except OSError as exc:
            raise UsageError(f"cannot read {path}: {exc.strerror}; pass a readable file or - for stdin") from None
    try:
        for raw in stream:
            if raw.endswith(b"\n"):
                raw = raw[:-1]
            if raw.endswith(b"\r"):
                raw = raw[:-1]
            yield raw.decode("utf-8", "replace")
    finally:
        if stream is not sys.stdin.buffer:
            stream.close()


@app.command()
def parse(
    file: Annotated[str, typer.Argument(help="Log file to parse, or - for stdin.")],
    summary: Annotated[bool, typer.Option("--summary", help="Print the patterns with their counts instead.")] = False,
    messages: Annotated[bool, typer.Option("--messages", help="Lines are bare messages: do not look for headers.")] = False,
    batch: Annotated[int, typer.Option("--batch", help="Lines mined before their templates are reported.")] = 100_000,
) -> None:
    """Parse a log offline (no store, no server): one JSON object per line, in order.

    Each object has ``line``, ``pattern_id``, ``template`` (variables as ``<*>``),
    ``params`` (the values, in order), ``content_template`` (the message part) and the
    header fields that were recognized.
    """
    if not summary:  # the fast path: whole chunks, one JSON dump per batch (distill.jsonl)
        from runbrief.distill.jsonl import parse_file

        parse_file(file, sys.stdout.buffer, messages=messages, batch=batch)
        return
    from runbrief.distill.parse import Parser

    parser = Parser(headers=not messages)
    out = sys.stdout.buffer
    counts: Counter[str] = Counter()
    for chunk in parser.iter_batches(_read_lines(file), batch=max(1, batch)):
        counts.update(chunk.pattern_ids())
    # aliases: a pattern reported under an old ID in an earlier batch is folded in
    final: Counter[str] = Counter()
    for pid, n in counts.items():
        final[parser.miner.aliases.get(pid, pid)] += n
    tpl = {c.pattern_id: c.template for c in parser.miner.clusters.values()}
    from rich.console import Console

    from runbrief.cli._tables import fitted

    con = Console(highlight=False)
    con.print(fitted(con, ["count", "pattern", "template"],
                     [(n, f"pat_{pid}", tpl.get(pid, "")) for pid, n in final.most_common()]))
    con.print(f"[dim]{sum(final.values())} lines, {len(final)} patterns[/]")
    out.flush()


def _render_patterns(con: "Console", result: dict[str, Any]) -> None:
    from runbrief.cli._tables import fitted

    rows = [(p["count"], p.get("trend"), p.get("severity"), p.get("first_seen"), ", ".join(p.get("services") or []),
             p["pattern_id"], p["template"]) for p in result["patterns"]]
    con.print(fitted(con, ["count", "trend", "severity", "first seen", "services", "pattern", "template"], rows,
                     drop=["first seen", "services", "trend", "severity"]))


@app.command()
def patterns(
    service: Annotated[str | None, typer.Option("--service", "-s", help="Only this service.")] = None,
    since: Annotated[str | None, typer.Option("--since", help="Window back from now (15m, 2h) or ISO time.")] = None,
    until: Annotated[str | None, typer.Option("--until", help="End of the window.")] = None,
    severity: Annotated[str | None, typer.Option("--severity", help="Minimum severity (warn, error...).")] = None,
    limit: Annotated[int, typer.Option("--limit", "-n", help="At most this many patterns.")] = 50,
    store: StoreOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Top log patterns by count, with trend, first seen and severity."""
    params = dict(service=service, since=since, until=until, severity=severity, limit=limit)
    emit(call("patterns", params, store=store), as_json, _render_patterns)
