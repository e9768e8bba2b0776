"""`runbrief top`: the live terminal view (Textual).

One screen, refreshed every second from the ``top`` operation: the hour's patterns with
their count, rate, a sparkline and new/surged markers since the latest deploy, a severity
strip per minute, incidents (open ones first) and what changed since the deploy (those two every 5 s,
as they cost more). Enter drills into a pattern's lines, an incident's claims and
evidence, a trace's span tree; Escape goes back; ``/`` filters; ``s`` picks the service;
``q`` quits.

Refreshing is in place: each table row is keyed by its pattern (or incident) ID and only
the cells whose value changed are updated, so nothing is redrawn that did not change and
the cursor stays on its row. Textual writes only the changed cells to the terminal, in
synchronized-output frames, and degrades colours to what the terminal has (NO_COLOR too).

Telemetry is text: every string from the store becomes a rich ``Text`` built with
``safe`` (never a markup string, which Textual would parse, so ``[link=…]`` stays
brackets), with control characters shown as escapes (``runbrief.cli._common.visible``),
so a log line cannot move the cursor, retitle the window or clear the screen.
"""

from __future__ import annotations

from typing import Any, ClassVar

from rich.text import Text
from textual import on
from textual.app import App, ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, VerticalScroll
from textual.screen import ModalScreen, Screen
from textual.widgets import DataTable, Footer, Input, OptionList, Static, Tree
from textual.widgets.option_list import Option

from runbrief.cli._common import visible
from runbrief.errors import RunbriefError
from runbrief.tui.source import Source

__all__ = ["TopApp", "safe", "spark"]

BARS = " ▁▂▃▄▅▆▇█"
SEV_STYLE = {"ERROR": "bold red", "FATAL": "bold red", "WARN": "yellow", "WARNING": "yellow", "INFO": "",
             "DEBUG": "dim", "TRACE": "dim"}
SLOW_EVERY = 5  # incidents and changes: every 5th refresh


def safe(value: Any, style: str = "") -> Text:
    """Telemetry as a Text that shows and never acts: no markup read, controls escaped."""
    return Text(visible(value), style=style, no_wrap=True, end="")


def spark(values: list[int], cells: int, peak: int | None = None) -> str:
    """``values`` summed into ``cells`` buckets, each drawn as a bar (blank for none)."""
    if not values or cells <= 0:
        return ""
    size = -(-len(values) // cells)
    buckets = [sum(values[i:i + size]) for i in range(0, len(values), size)]
    top = peak if peak is not None else max(buckets)
    if top <= 0:
        return " " * len(buckets)
    return "".join(BARS[0] if n == 0 else BARS[max(1, min(8, round(8 * n / top)))] for n in buckets)


def human(n: int | float) -> str:
    n = float(n)
    for unit, div in (("M", 1e6), ("k", 1e3)):
        if abs(n) >= 10 * div:
            return f"{n / div:.0f}{unit}"
        if abs(n) >= div:
            return f"{n / div:.1f}{unit}"
    return f"{n:.0f}" if n == int(n) else f"{n:.1f}"


class Num(Text):
    """A right-aligned number cell that remembers its value, for sorting rows in place."""

    def __init__(self, value: float, shown: str | None = None, style: str = "") -> None:
        super().__init__(shown if shown is not None else human(value), style=style, justify="right", end="")
        self.value = value


def sync_rows(table: DataTable, rows: dict[str, list[Text]]) -> None:
    """Make ``table`` show ``rows`` (ordered, keyed) by changing only what differs.

    Cells are updated in place, missing rows removed, new rows added, and the order fixed
    by a stable in-place sort: the screen is never rebuilt and the cursor keeps its row.
    """
    columns = list(table.columns)
    present = {k.value for k in table.rows}
    for key in present - set(rows):
        table.remove_row(key)
    for key, cells in rows.items():
        if key in present:
            old = table.get_row(key)
            for col, new, was in zip(columns, cells, old, strict=False):
                if new.plain != was.plain or new.style != was.style or new.spans != was.spans:
                    table.update_cell(key, col, new)
        else:
            table.add_row(*cells, key=key)
    current = [table.coordinate_to_cell_key((i, 0)).row_key.value for i in range(table.row_count)]
    if current != list(rows):
        cursor = current[table.cursor_row] if current and 0 <= table.cursor_row < len(current) else None
        # DataTable sorts by cell values; each row's first cell object stands for its key.
        rank = {id(table.get_row(k)[0]): i for i, k in enumerate(rows)}
        table.sort(key=lambda cells: rank[id(cells[0])])
        if cursor in rows:
            table.move_cursor(row=table.get_row_index(cursor), animate=False)


class TopApp(App[None]):
    """The live view; ``source`` answers the operations, ``service`` narrows everything."""

    TITLE = "runbrief top"
    CSS = """
    #head { height: 1; background: $primary-background; color: $text; }
    #strip { height: 2; }
    #patterns { height: 1fr; }
    #bottom { height: 7; }
    #incidents { width: 1fr; }
    #changes { width: 1fr; }
    #filter { dock: bottom; height: 1; border: none; padding: 0 1; display: none; }
    #filter.shown { display: block; }
    DataTable { scrollbar-size-vertical: 1; }
    #patterns, #incidents, #changes { overflow-x: hidden; }
    """
    ENABLE_COMMAND_PALETTE = False
    BINDINGS: ClassVar[list[Any]] = [
        Binding("q", "quit", "quit"),
        Binding("ctrl+c", "quit", "quit", show=False, priority=True),
        Binding("slash", "filter", "filter"),
        Binding("s", "pick_service", "service"),
        Binding("escape", "back", "back", show=False),
        Binding("r", "refresh_now", "refresh", show=False),
    ]

    def __init__(self, source: Source, service: str | None = None, interval: float = 1.0) -> None:
        super().__init__()
        self.source = source
        self.service = service
        self.interval = interval
        self.filter_text = ""
        self.last: dict[str, Any] = {}
        self.refreshes = 0
        self.error: str | None = None
        self.known_services: set[str] = set()
        self._busy = False
        self._incidents: list[dict[str, Any]] = []
        self._changes: list[dict[str, Any]] = []
        self._change_note = ""

    # ------------------------------------------------------------------ layout
    def compose(self) -> ComposeResult:
        yield Static(id="head")
        yield Static(id="strip")
        table: DataTable = DataTable(id="patterns", cursor_type="row", zebra_stripes=False)
        yield table
        with Horizontal(id="bottom"):
            yield DataTable(id="incidents", cursor_type="row")
            yield DataTable(id="changes", cursor_type="row")
        yield Input(placeholder="filter patterns (Enter keeps it, Esc clears)", id="filter")
        yield Footer()

    def on_mount(self) -> None:
        wide = self.size.width
        self.spark_cells = 12 if wide < 110 else 30 if wide < 170 else 60
        pt = self.query_one("#patterns", DataTable)
        for key, label, width in (("mark", "", 3), ("count", "count", 6), ("rate", "/min", 6), ("sev", "sev", 5),
                                  ("spark", "last hour", self.spark_cells), ("pattern", "pattern", None)):
            pt.add_column(Text(label), key=key, width=width)
        it = self.query_one("#incidents", DataTable)
        it.add_column(Text("id"), key="id", width=6)
        it.add_column(Text("impact"), key="impact", width=6)
        it.add_column(Text("incidents (open first)"), key="title")
        ct = self.query_one("#changes", DataTable)
        ct.add_column(Text("change"), key="kind", width=9)
        ct.add_column(Text("since the deploy"), key="what")
        pt.focus()
        self.refresh_now(slow=True)
        self.set_interval(self.interval, self.refresh_now)

    # ------------------------------------------------------------------ data
    def refresh_now(self, slow: bool = False) -> None:
        """Start one refresh unless one is still running (a slow server never piles calls up)."""
        if self._busy:
            return
        self._busy = True
        self.run_worker(self._refresh(slow or self.refreshes % SLOW_EVERY == 0), exclusive=False, group="refresh")

    async def _refresh(self, slow: bool) -> None:
        try:
            top = await self.source.acall("top", {"service": self.service})
            if slow:
                await self._refresh_slow(top)
            self.error = None
        except RunbriefError as exc:
            self.error = str(exc)
            top = None
        finally:
            self._busy = False
        if top is not None:
            self.last = top
            if self.service is None:
                self.known_services.update(top.get("services") or [])
        self.render_all()
        self.refreshes += 1

    async def _refresh_slow(self, top: dict[str, Any]) -> None:
        # Open incidents first (by impact), then the latest others, marked with their status.
        inc = await self.source.acall("incidents", {"service": self.service, "all": True, "limit": 20})
        inc = inc if isinstance(inc, list) else inc.get("incidents", [])
        self._incidents = sorted(inc, key=lambda i: i.get("status") != "open")
        if not top.get("deploy"):
            self._changes, self._change_note = [], "no deploy recorded yet"
            return
        try:
            ch = await self.source.acall("changes", {"service": self.service, "since_deploy": True, "limit": 20})
            self._changes, self._change_note = ch.get("items", []), ""
        except RunbriefError as exc:
            self._changes, self._change_note = [], str(exc)

    def render_all(self) -> None:
        self.render_head()
        self.render_strip()
        self.render_patterns()
        self.render_incidents()
        self.render_changes()

    def render_head(self) -> None:
        t = self.last
        head = Text(" runbrief top ", style="bold", end="")
        head.append("│ ")
        head.append_text(safe(self.service or "all", "bold"))
        if self.filter_text:
            head.append(" /")
            head.append_text(safe(self.filter_text, "reverse"))
        dep = t.get("deploy")
        if dep:
            head.append(" │ ")
            head.append_text(safe(dep["id"], "green"))
            head.append(" ")
            head.append_text(safe(f"{dep['service']} {dep.get('version') or ''}".strip()))
            head.append_text(safe(f" {(dep.get('ts') or '')[11:16]}Z"))
        head.append(f" │ {human(t.get('lines', 0))} lines ")
        head.append(f"{human(t.get('errors', 0))} err", style="red" if t.get("errors") else "")
        if t.get("idle"):
            head.append_text(safe(f" │ idle, last data {(t.get('end') or '')[:16]}Z", "yellow"))
        if self.error:
            head.append(" │ ")
            head.append_text(safe(self.error[:200], "bold red"))
        self.query_one("#head", Static).update(head)

    def render_strip(self) -> None:
        sev = self.last.get("severity") or {}
        total, err, warn = sev.get("total") or [], sev.get("error") or [], sev.get("warn") or []
        cells = min(60, max(10, self.size.width - 20))
        peak = max(total) if total else 0
        strip = Text("lines  ", style="dim", end="")
        strip.append(spark(total, cells, peak), style="cyan")
        strip.append(f" {human(peak)}/min max\n", style="dim")
        strip.append("errors ", style="dim")
        worst = [e if e else 0 for e in err]
        bars = spark(worst, cells, max(worst) if worst and max(worst) else 1)
        warns = spark(warn, cells, max(warn) if warn and max(warn) else 1)
        for b, w in zip(bars, warns, strict=False):
            if b.strip() and b != BARS[0]:
                strip.append(b, style="bold red")
            elif w.strip() and w != BARS[0]:
                strip.append(w, style="yellow")
            else:
                strip.append(BARS[0] if total else " ", style="dim")
        strip.append(f" {human(sum(err))} err", style="red" if sum(err) else "dim")
        self.query_one("#strip", Static).update(strip)

    def visible_patterns(self) -> list[dict[str, Any]]:
        pats = self.last.get("patterns") or []
        if self.filter_text:
            f = self.filter_text.lower()
            pats = [p for p in pats if f in (p["template"] or "").lower() or f in p["pattern_id"]
                    or any(f in s.lower() for s in p.get("services") or [])]
        return pats

    def render_patterns(self) -> None:
        rows: dict[str, list[Text]] = {}
        for p in self.visible_patterns():
            mark = Text("new", style="bold magenta", end="") if p["new"] else \
                Text(" ▲ ", style="bold yellow", end="") if p["surged"] else Text("", end="")
            sev = p.get("severity") or ""
            style = SEV_STYLE.get(sev, "")
            rows[p["pattern_id"]] = [
                mark,
                Num(p["count"]),
                Num(p["rate_per_min"]),
                safe(sev[:5], style),
                Text(spark(p["series"], self.spark_cells), style="red" if p["errors"] else "cyan", end=""),
                safe(p["template"], "bold red" if p["errors"] else ""),
            ]
        sync_rows(self.query_one("#patterns", DataTable), rows)

    def render_incidents(self) -> None:
        rows: dict[str, list[Text]] = {}
        for i in self._incidents:
            is_open = i.get("status") == "open"
            title = Text("" if is_open else f"{i.get('status')} · ", style="dim", end="")
            title.append_text(safe(i.get("title") or "", "" if is_open else "dim"))
            rows[i["id"]] = [safe(i["id"], "bold red" if is_open else "green"),
                             Num(i.get("impact") or 0, f"{i.get('impact') or 0:.0f}"), title]
        if not rows:
            rows = {"-": [Text(""), Num(0, ""), Text("no incident", style="dim")]}
        sync_rows(self.query_one("#incidents", DataTable), rows)

    def render_changes(self) -> None:
        rows: dict[str, list[Text]] = {}
        for n, c in enumerate(self._changes):
            what = c.get("template") or c.get("summary") or ""
            rows[f"{n}:{c.get('evidence_id')}"] = [safe(c.get("kind") or "", "magenta" if c.get("kind") == "new"
                                                        else "yellow"), safe(what)]
        if not rows:
            rows = {"-": [Text(""), safe(self._change_note or "nothing changed since the deploy", "dim")]}
        sync_rows(self.query_one("#changes", DataTable), rows)

    # ------------------------------------------------------------------ actions
    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        """The filter and the service picker belong to the main screen (hidden elsewhere)."""
        return not (action in ("filter", "pick_service") and len(self.screen_stack) > 1)

    def action_refresh_now(self) -> None:
        self.refresh_now(slow=True)

    def action_filter(self) -> None:
        box = self.query_one("#filter", Input)
        box.add_class("shown")
        box.focus()

    @on(Input.Changed, "#filter")
    def _filter_changed(self, event: Input.Changed) -> None:
        self.filter_text = event.value
        self.render_head()
        self.render_patterns()

    @on(Input.Submitted, "#filter")
    def _filter_done(self, event: Input.Submitted) -> None:
        box = self.query_one("#filter", Input)
        if not box.value:
            box.remove_class("shown")
        self.query_one("#patterns", DataTable).focus()

    def action_back(self) -> None:
        """Escape: leave a drill-down, else close and clear the filter."""
        if len(self.screen_stack) > 1:
            self.pop_screen()
            return
        box = self.query_one("#filter", Input)
        if box.has_class("shown") or self.filter_text:
            box.value = ""
            self.filter_text = ""
            box.remove_class("shown")
            self.query_one("#patterns", DataTable).focus()
            self.render_head()
            self.render_patterns()

    def action_pick_service(self) -> None:
        if len(self.screen_stack) > 1:
            return
        self.run_worker(self._pick_service(), group="pick")

    async def _pick_service(self) -> None:
        names = set(self.known_services)
        try:
            listed = await self.source.acall("services", {})
            names.update(s["service"] for s in listed.get("services", []))
        except RunbriefError:
            pass
        self.push_screen(ServicePicker(sorted(names), self.service), self.set_service)

    def set_service(self, service: str | None | bool) -> None:
        if service is False:  # cancelled
            return
        self.service = service or None
        self.last = {}
        self.refresh_now(slow=True)

    @on(DataTable.RowSelected)
    def _selected(self, event: DataTable.RowSelected) -> None:
        key = event.row_key.value
        if key is None or key == "-" or self.screen is not self.screen_stack[0]:
            return
        table = event.data_table.id
        if table == "patterns":
            pat = next((p for p in self.last.get("patterns") or [] if p["pattern_id"] == key), None)
            self.push_screen(PatternScreen(self.source, key, pat))
        elif table == "incidents":
            self.push_screen(IncidentScreen(self.source, key))
        elif table == "changes":
            self.open_evidence(key.partition(":")[2])

    def open_evidence(self, eid: str) -> None:
        """Drill into any evidence ID: a pattern's lines, a trace's tree, an incident, or the object."""
        if eid.startswith("pat_"):
            self.push_screen(PatternScreen(self.source, eid, None))
        elif eid.startswith("trc_"):
            self.push_screen(TraceScreen(self.source, eid))
        elif eid.startswith("inc_"):
            self.push_screen(IncidentScreen(self.source, eid))
        elif eid:
            self.push_screen(DetailScreen(self.source, eid))

    async def on_unmount(self) -> None:
        self.source.close()


class Drill(Screen[None]):
    """A drill-down screen: Escape goes back, q quits."""

    BINDINGS: ClassVar[list[Any]] = [Binding("escape", "app.pop_screen", "back"), Binding("q", "app.quit", "quit")]
    DEFAULT_CSS = """
    Drill #title { height: auto; max-height: 4; background: $primary-background; }
    Drill DataTable { height: 1fr; }
    Drill Tree { height: 1fr; }
    """

    def __init__(self, source: Source) -> None:
        super().__init__()
        self.source = source
        self.loaded = False

    def say(self, text: Text) -> None:
        self.query_one("#title", Static).update(text)

    def failed(self, exc: Exception) -> None:
        self.say(safe(f"error: {exc}", "bold red"))
        self.loaded = True


class PatternScreen(Drill):
    """A pattern's latest lines; Enter on a line opens its trace (or the line)."""

    def __init__(self, source: Source, pattern_id: str, row: dict[str, Any] | None) -> None:
        super().__init__(source)
        self.pattern_id = pattern_id
        self.row = row
        self.lines: dict[str, dict[str, Any]] = {}

    def compose(self) -> ComposeResult:
        yield Static(id="title")
        yield DataTable(id="lines", cursor_type="row")
        yield Footer()

    def on_mount(self) -> None:
        t = self.query_one("#lines", DataTable)
        t.add_column(Text("time"), key="ts", width=12)
        t.add_column(Text("sev"), key="sev", width=5)
        t.add_column(Text("service"), key="service", width=10)
        t.add_column(Text("line"), key="body")
        t.focus()
        self.run_worker(self.load())
        self.set_interval(2.0, lambda: self.run_worker(self.load(), exclusive=True, group="lines"))

    async def load(self) -> None:
        try:
            res = await self.source.acall("logs", {"pattern_id": self.pattern_id, "limit": 200})
        except RunbriefError as exc:
            self.failed(exc)
            return
        title = Text(end="")
        title.append_text(safe(self.pattern_id, "green"))
        if self.row:
            title.append(f"  {human(self.row['count'])} lines in the hour, {human(self.row['errors'])} errors"
                         + ("  NEW since the deploy" if self.row.get("new") else ""))
        title.append("\n")
        title.append_text(safe((self.row or {}).get("template") or "", "bold"))
        title.append("\nEnter: the line's trace (or the line) · Esc: back", style="dim")
        self.say(title)
        rows: dict[str, list[Text]] = {}
        for line in res.get("logs", []):
            self.lines[line["id"]] = line
            sev = line.get("severity") or line.get("severity_inferred") or ""
            rows[line["id"]] = [safe((line.get("ts") or "")[11:23]), safe(sev[:5], SEV_STYLE.get(sev.upper(), "")),
                                safe(line.get("service") or ""), safe(line.get("body") or "")]
        sync_rows(self.query_one("#lines", DataTable), rows)
        self.loaded = True

    @on(DataTable.RowSelected, "#lines")
    def _open(self, event: DataTable.RowSelected) -> None:
        line = self.lines.get(str(event.row_key.value))
        if not line:
            return
        app = self.app
        assert isinstance(app, TopApp)
        app.open_evidence(f"trc_{line['trace_id']}" if line.get("trace_id") else line["id"])


class IncidentScreen(Drill):
    """An incident's claims, each with its evidence IDs; Enter opens the evidence."""

    def __init__(self, source: Source, incident_id: str) -> None:
        super().__init__(source)
        self.incident_id = incident_id

    def compose(self) -> ComposeResult:
        yield Static(id="title")
        yield DataTable(id="claims", cursor_type="row")
        yield Footer()

    def on_mount(self) -> None:
        t = self.query_one("#claims", DataTable)
        t.add_column(Text("claim"), key="kind", width=8)
        t.add_column(Text("evidence"), key="evidence", width=22)
        t.add_column(Text("what it says"), key="text")
        t.focus()
        self.run_worker(self.load())

    async def load(self) -> None:
        try:
            inc = await self.source.acall("incident", {"id": self.incident_id, "narrative": False})
        except RunbriefError as exc:
            self.failed(exc)
            return
        title = Text(end="")
        title.append_text(safe(inc["id"], "green"))
        title.append(" ")
        title.append_text(safe(inc.get("title") or "", "bold"))
        title.append(f"\n{inc.get('status')}, impact {inc.get('impact') or 0:.0f}, since "
                     f"{(inc.get('started_at') or '')[:19]}Z")
        for q in inc.get("quotes") or []:
            title.append("\nquote: ", style="dim")
            title.append_text(safe(q.get("text") or ""))
            break
        self.say(title)
        rows: dict[str, list[Text]] = {}
        for n, claim in enumerate(inc.get("claims") or []):
            evidence = claim.get("evidence") or [""]
            for j, eid in enumerate(evidence):
                rows[f"{n}.{j}:{eid}"] = [safe(claim.get("kind") or "" if j == 0 else ""), safe(eid, "green"),
                                          safe(claim.get("text") or "" if j == 0 else "")]
        sync_rows(self.query_one("#claims", DataTable), rows)
        self.loaded = True

    @on(DataTable.RowSelected, "#claims")
    def _open(self, event: DataTable.RowSelected) -> None:
        eid = str(event.row_key.value).partition(":")[2]
        app = self.app
        assert isinstance(app, TopApp)
        if eid.startswith("spn_"):
            self.run_worker(self._open_span(app, eid))
        else:
            app.open_evidence(eid)

    async def _open_span(self, app: TopApp, eid: str) -> None:
        try:
            span = await self.source.acall("show", {"id": eid})
        except RunbriefError as exc:
            self.failed(exc)
            return
        trace = span.get("trace_id")
        app.open_evidence(trace if str(trace).startswith("trc_") else f"trc_{trace}" if trace else eid)


class TraceScreen(Drill):
    """A trace as its span tree: name, service, duration, status; a span's logs under it."""

    def __init__(self, source: Source, trace_id: str) -> None:
        super().__init__(source)
        self.trace_id = trace_id

    def compose(self) -> ComposeResult:
        yield Static(id="title")
        yield Tree(Text(self.trace_id), id="tree")
        yield Footer()

    def on_mount(self) -> None:
        self.query_one("#tree", Tree).focus()
        self.run_worker(self.load())

    async def load(self) -> None:
        try:
            tr = await self.source.acall("trace_show", {"id": self.trace_id, "budget": 300})
        except RunbriefError as exc:
            self.failed(exc)
            return
        root = tr.get("root") or {}
        title = Text(end="")
        title.append_text(safe(tr.get("trace_id") or self.trace_id, "green"))
        title.append(" ")
        title.append_text(safe(root.get("name") or "", "bold"))
        title.append(f"  {tr.get('duration_ms') or 0:.1f} ms, {tr.get('spans') or 0} spans, "
                     f"{tr.get('failed_spans') or 0} failed")
        self.say(title)
        tree = self.query_one("#tree", Tree)
        tree.root.set_label(safe(root.get("name") or self.trace_id, "bold"))
        nodes: dict[str | None, Any] = {}
        for s in tr.get("tree") or []:
            label = safe(s.get("name") or "", "bold red" if s.get("status") == "ERROR" else "")
            label.append_text(safe(f"  {s.get('service') or ''}", "dim"))
            label.append(f"  {s.get('duration_ms') or 0:.2f} ms")
            if s.get("status") == "ERROR":
                label.append(" ERROR", style="bold red")
            parent = nodes.get(s.get("parent_span_id"), tree.root)
            node = parent.add(label, expand=True)
            nodes[s["span_id"]] = node
            for lg in s.get("logs") or []:
                leaf = safe(f"{lg.get('severity') or ''} ", SEV_STYLE.get((lg.get("severity") or "").upper(), ""))
                leaf.append_text(safe(lg.get("body") or ""))
                node.add_leaf(leaf)
        tree.root.expand_all()
        self.loaded = True


class DetailScreen(Drill):
    """Any other evidence ID (a log line, a deploy, a span), resolved by `show` and shown as fields."""

    def __init__(self, source: Source, evidence_id: str) -> None:
        super().__init__(source)
        self.evidence_id = evidence_id

    def compose(self) -> ComposeResult:
        yield Static(id="title")
        with VerticalScroll():
            yield Static(id="body")
        yield Footer()

    def on_mount(self) -> None:
        self.run_worker(self.load())

    async def load(self) -> None:
        try:
            obj = await self.source.acall("show", {"id": self.evidence_id})
        except RunbriefError as exc:
            self.failed(exc)
            return
        self.say(safe(f"{obj.get('id', self.evidence_id)} ({obj.get('kind', '')})", "green"))
        body = Text(end="")
        _fields(body, {k: v for k, v in obj.items() if k not in ("id", "kind")}, 0)
        self.query_one("#body", Static).update(body)
        self.loaded = True


def _fields(out: Text, value: Any, depth: int) -> None:
    pad = "  " * depth
    if isinstance(value, dict):
        for k, v in value.items():
            out.append(pad)
            out.append_text(safe(k, "bold"))
            out.append(":")
            if isinstance(v, dict | list) and v:
                out.append("\n")
                _fields(out, v, depth + 1)
            else:
                out.append(" ")
                out.append_text(safe("" if v is None else v))
                out.append("\n")
    elif isinstance(value, list):
        for v in value:
            if isinstance(v, dict | list):
                out.append(f"{pad}-\n")
                _fields(out, v, depth + 1)
            else:
                out.append(f"{pad}- ")
                out.append_text(safe(v))
                out.append("\n")


class ServicePicker(ModalScreen[str | None | bool]):
    """Choose the service every panel shows (or all of them); Escape keeps the current one."""

    BINDINGS: ClassVar[list[Any]] = [Binding("escape", "cancel", "cancel")]
    DEFAULT_CSS = """
    ServicePicker { align: center middle; }
    ServicePicker OptionList { width: 48; max-height: 16; border: round $accent; }
    """

    def __init__(self, services: list[str], current: str | None) -> None:
        super().__init__()
        self.services = services
        self.current = current

    def compose(self) -> ComposeResult:
        opts = [Option(Text("all services", style="bold"), id="\0all")]
        opts += [Option(safe(s, "bold" if s == self.current else ""), id=f"s:{s}") for s in self.services]
        yield OptionList(*opts, id="services")

    def on_mount(self) -> None:
        ol = self.query_one(OptionList)
        ol.focus()
        if self.current in self.services:
            ol.highlighted = self.services.index(self.current) + 1

    @on(OptionList.OptionSelected)
    def _chosen(self, event: OptionList.OptionSelected) -> None:
        oid = event.option.id or ""
        self.dismiss(None if oid == "\0all" else oid.removeprefix("s:"))

    def action_cancel(self) -> None:
        self.dismiss(False)
