"""`runbrief top` driven headless by Textual's own pilot, against the real demo store.

It starts and shows the demo's patterns (marked new/surged as the `top` operation says),
its incidents and what changed since the latest deploy; Enter drills into a pattern's lines, then a line's trace,
and an incident's claims and evidence; Escape comes back; `/` filters; `s` picks a
service; refreshes change cells in place; `q` quits. A line holding terminal escape
sequences and Rich markup is shown as inert text.
"""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path
from typing import Any

import pytest
from textual.widgets import DataTable, OptionList, Tree

from runbrief import ops
from runbrief.ingest.pipeline import Batch, Pipeline
from runbrief.records import LogRecord, Resource
from runbrief.store.duck import Store
from runbrief.tui.app import IncidentScreen, PatternScreen, TopApp, TraceScreen, spark
from runbrief.tui.source import Source

HOSTILE = ("checkout note [bold red]x[/] [link=file:///etc/passwd]open[/link] title \x1b]0;pwned\x07 "
           "clear \x1b[2J\x1b[H csi \x9b31m done")


def screen_text(app: TopApp) -> str:
    return "\n".join("".join(seg.text for seg in strip) for strip in app.screen._compositor.render_strips())


def screen_segments(app: TopApp) -> list[Any]:
    return [seg for strip in app.screen._compositor.render_strips() for seg in strip]


async def until(pilot: Any, cond: Any, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not cond():
        assert time.monotonic() < deadline, "timed out waiting for the app"
        await pilot.pause(0.05)
    await pilot.pause(0.1)  # the widgets' refresh messages are handled: the screen shows the state


def table(app: TopApp, name: str) -> DataTable:
    return app.screen.query_one(f"#{name}", DataTable)


def keys(t: DataTable) -> list[str]:
    return [t.coordinate_to_cell_key((i, 0)).row_key.value for i in range(t.row_count)]


@pytest.fixture
def store(demo_store: dict[str, Any]) -> str:
    return str(demo_store["_store"])


def test_starts_and_shows_the_demos_patterns_incidents_and_changes(store: str) -> None:
    async def scenario() -> None:
        with _opened(store) as s:
            expected = ops.run(s, "top", {})
            incidents = ops.run(s, "incidents", {"all": True})
            changes = ops.run(s, "changes", {"since_deploy": True})
        app = TopApp(Source(store))
        async with app.run_test(size=(80, 24)) as pilot:
            await until(pilot, lambda: app.refreshes >= 1 and "inc_1" in keys(table(app, "incidents")))
            text = screen_text(app)
            assert "loyalty update failed" in text and expected["deploy"]["id"] in text.splitlines()[0]
            pats = table(app, "patterns")
            assert keys(pats) == [p["pattern_id"] for p in expected["patterns"]]
            for p in expected["patterns"]:
                row = pats.get_row(p["pattern_id"])
                assert row[0].plain.strip() == ("new" if p["new"] else "▲" if p["surged"] else "")
                assert row[1].plain == str(p["count"]) and row[3].plain == p["severity"][:5]
                assert row[4].plain == spark(p["series"], app.spark_cells) and row[5].plain == p["template"]
            loyalty = next(p for p in expected["patterns"] if p["template"] == "loyalty update failed")
            assert pats.get_row(loyalty["pattern_id"])[3].plain == "ERROR" and loyalty["count"] == 21
            shown = {k: " ".join(c.plain for c in table(app, "incidents").get_row(k))
                     for k in keys(table(app, "incidents"))}
            assert list(shown) == [i["id"] for i in sorted(incidents, key=lambda i: i["status"] != "open")]
            assert "New sqlite3.OperationalError in shop" in shown["inc_1"]
            change_rows = keys(table(app, "changes"))
            assert [k.partition(":")[2] for k in change_rows] == [c["evidence_id"] for c in changes["items"]] \
                or (not changes["items"] and change_rows == ["-"])
            await pilot.press("q")
            await pilot.pause(0.1)
        assert app.return_code == 0 and not app.is_running

    asyncio.run(scenario())


class _opened:
    """Open the demo store for one read in the test process (no server holds it)."""

    def __init__(self, path: str) -> None:
        self.path = path

    def __enter__(self) -> Store:
        self.s = Store.open(self.path)
        return self.s

    def __exit__(self, *exc: object) -> None:
        self.s.close()


def test_drills_into_lines_trace_and_incident_and_back(store: str) -> None:
    async def scenario() -> None:
        app = TopApp(Source(store))
        async with app.run_test(size=(80, 24)) as pilot:
            await until(pilot, lambda: app.refreshes >= 1)
            pats = table(app, "patterns")
            loyalty = next(k for k in keys(pats) if pats.get_row(k)[5].plain == "loyalty update failed")
            pats.move_cursor(row=pats.get_row_index(loyalty))
            await pilot.press("enter")
            await until(pilot, lambda: isinstance(app.screen, PatternScreen) and app.screen.loaded)
            lines = table(app, "lines")
            assert lines.row_count == 21 and all(lines.get_row(k)[3].plain == "loyalty update failed" for k in keys(lines))
            await pilot.press("enter")  # the first line's trace
            await until(pilot, lambda: isinstance(app.screen, TraceScreen) and app.screen.loaded)
            tree = app.screen.query_one(Tree)
            assert str(tree.root.label) == "POST /checkout" and "UPDATE" in screen_text(app)
            await pilot.press("escape")
            assert isinstance(app.screen, PatternScreen)
            await pilot.press("escape")
            assert len(app.screen_stack) == 1
            await pilot.press("tab")  # to the incidents
            assert app.focused is table(app, "incidents")
            await until(pilot, lambda: "inc_1" in keys(table(app, "incidents")))
            table(app, "incidents").move_cursor(row=table(app, "incidents").get_row_index("inc_1"))
            await pilot.press("enter")
            await until(pilot, lambda: isinstance(app.screen, IncidentScreen) and app.screen.loaded)
            claims = table(app, "claims")
            evidence = [k.partition(":")[2] for k in keys(claims)]
            assert "dep_1" in evidence and any(e.startswith("trc_") for e in evidence)
            assert "symptom" in screen_text(app) and "no such table: loyalty_points" in screen_text(app)
            trc = next(i for i, e in enumerate(evidence) if e.startswith("trc_"))
            claims.move_cursor(row=trc)
            await pilot.press("enter")
            await until(pilot, lambda: isinstance(app.screen, TraceScreen) and app.screen.loaded)
            await pilot.press("escape", "escape")
            assert len(app.screen_stack) == 1 and "loyalty update failed" in screen_text(app)

    asyncio.run(scenario())


def test_filter_and_service_picker(store: str) -> None:
    async def scenario() -> None:
        app = TopApp(Source(store))
        async with app.run_test(size=(80, 24)) as pilot:
            await until(pilot, lambda: app.refreshes >= 1)
            everything = table(app, "patterns").row_count
            await pilot.press("slash", *"loyalty")
            assert [table(app, "patterns").get_row(k)[5].plain for k in keys(table(app, "patterns"))] == \
                ["loyalty update failed"]
            await pilot.press("enter")  # keeps the filter, back to the table
            await pilot.pause(1.2)  # a refresh keeps it too
            assert table(app, "patterns").row_count == 1 and "loyalty" in screen_text(app).splitlines()[0]
            await pilot.press("escape")
            assert table(app, "patterns").row_count == everything
            await pilot.press("s")
            await until(pilot, lambda: app.screen.query(OptionList))
            picker = app.screen.query_one(OptionList)
            ids = [picker.get_option_at_index(i).id for i in range(picker.option_count)]
            assert ids == ["\0all", "s:inventory", "s:shop"]
            await pilot.press("down", "enter")
            await until(pilot, lambda: app.service == "inventory" and app.last.get("service") == "inventory")
            await pilot.pause(0.1)
            pats = app.last["patterns"]
            assert pats and all(p["services"] == ["inventory"] for p in pats)
            assert keys(table(app, "patterns")) == [p["pattern_id"] for p in pats]
            assert "inventory" in screen_text(app).splitlines()[0]

    asyncio.run(scenario())


def test_refresh_updates_cells_in_place(store: str, tmp_path: Path, copy_store: Any) -> None:
    async def scenario() -> None:
        path = str(copy_store(Path(store), tmp_path / "s"))
        app = TopApp(Source(path), interval=0.3)
        async with app.run_test(size=(80, 24)) as pilot:
            await until(pilot, lambda: app.refreshes >= 1)
            pats = table(app, "patterns")
            loyalty = next(k for k in keys(pats) if pats.get_row(k)[5].plain == "loyalty update failed")
            pats.move_cursor(row=3)
            at = keys(pats)[3]
            before = {k: pats.get_row(k) for k in keys(pats)}
            calls, ticks = app.source.calls, app.refreshes
            await until(pilot, lambda: app.refreshes >= ticks + 5)
            # an idle store is not reopened: its files are unchanged (a minute boundary may cost one round)
            assert app.source.calls - calls <= 3
            # more loyalty failures arrive (the store is free between refreshes: top never holds it)
            now = time.time_ns()
            for _ in range(50):
                try:
                    s = Store.open(path)
                    break
                except Exception:  # noqa: BLE001 - top's refresh has it open for a moment
                    await pilot.pause(0.05)
            try:
                Pipeline(s).write(Batch(logs=[LogRecord(ts_ns=now, body="loyalty update failed", observed_ns=now,
                                                         resource=Resource({"service.name": "shop"}),
                                                         severity_number=17, severity_text="ERROR")] * 4))
            finally:
                s.close()
            await until(pilot, lambda: pats.get_row(loyalty)[1].plain == "25")
            after = {k: pats.get_row(k) for k in keys(pats)}
            assert set(after) == set(before) and keys(pats)[pats.cursor_row] == at
            unchanged = [k for k in before if k != loyalty]
            # the other rows' cells are the very objects first added: nothing was rebuilt
            assert all(a is b for k in unchanged for a, b in zip(before[k], after[k], strict=True))

    asyncio.run(scenario())


def test_hostile_line_is_shown_as_inert_text(store: str, tmp_path: Path, copy_store: Any) -> None:
    async def scenario() -> None:
        path = str(copy_store(Path(store), tmp_path / "s"))
        now = time.time_ns()
        with _opened(path) as s:
            Pipeline(s).write(Batch(logs=[
                LogRecord(ts_ns=now - i * 10**6, body=HOSTILE, observed_ns=now, resource=Resource({"service.name": "shop"}),
                          severity_number=17, severity_text="ERROR") for i in range(400)]))
        app = TopApp(Source(path))
        async with app.run_test(size=(160, 40)) as pilot:
            await until(pilot, lambda: app.refreshes >= 1)
            pats = table(app, "patterns")
            first = keys(pats)[0]
            assert "checkout note" in pats.get_row(first)[5].plain
            for screen_check in (0, 1):
                if screen_check:
                    await pilot.press("enter")
                    await until(pilot, lambda: isinstance(app.screen, PatternScreen) and app.screen.loaded)
                    body = table(app, "lines").get_row(keys(table(app, "lines"))[0])[3].plain
                    assert body.startswith("checkout note [bold red]x[/] [link=file:///etc/passwd]open[/link]")
                    assert "\\x1b]0;pwned\\x07" in body and "\\x1b[2J" in body and "\\x9b31m" in body
                text = screen_text(app)
                segs = screen_segments(app)
                assert "\x1b" not in text and "\x07" not in text and "\x9b" not in text
                # the template (main screen) masks a part of the line; the line itself is whole
                shown = "[link=file:///etc/passwd]open[/link]" if screen_check else "[link=file:///etc/passwd]open["
                assert "[bold red]x[/]" in text and shown in text and "\\x1b]" in text
                assert not [s for s in segs if s.style and (s.style.link or s.style.meta.get("@click"))
                            and "passwd" in s.text]
                assert all(not (s.style and s.style.link) for s in segs)

    asyncio.run(scenario())


def test_top_and_tail_through_a_running_server(store: str, tmp_path: Path, copy_store: Any, Tail: Any) -> None:
    """With `runbrief serve` owning the store, both ask it over HTTP (server.json, --server): lines
    posted as OTLP/JSON come out of `tail` at once and their new pattern shows up in `top`."""
    import httpx

    from runbrief.testing import ServerProcess

    path = copy_store(Path(store), tmp_path / "s")
    with _opened(str(path)) as s:
        expected = [p["pattern_id"] for p in ops.run(s, "top", {})["patterns"]]
    with ServerProcess(path, grpc=False, jobs=False) as sp:
        tail = Tail("--server", sp.url, "--json", "-n", "1")
        tail.read(1)  # the backlog: it has polled once, so what is posted next is new to it

        async def scenario() -> None:
            app = TopApp(Source(str(path)), interval=0.3)
            async with app.run_test(size=(80, 24)) as pilot:
                await until(pilot, lambda: app.refreshes >= 1 and "inc_1" in keys(table(app, "incidents")))
                assert app.error is None and keys(table(app, "patterns")) == expected
                now = time.time_ns()
                body = {"resourceLogs": [{
                    "resource": {"attributes": [{"key": "service.name", "value": {"stringValue": "web"}}]},
                    "scopeLogs": [{"logRecords": [
                        {"timeUnixNano": str(now + i), "severityNumber": 17, "severityText": "ERROR",
                         "body": {"stringValue": f"upstream 10.0.0.{i} timed out after 30 s"}} for i in range(3)]}]}]}
                assert httpx.post(f"{sp.url}/v1/logs", json=body, timeout=10).status_code == 200
                got = [json.loads(x) for x in tail.read(3)]
                assert [g["body"] for g in got] == [f"upstream 10.0.0.{i} timed out after 30 s" for i in range(3)]
                assert len({g["pattern_id"] for g in got}) == 1 and all(g["service"] == "web" for g in got)
                await until(pilot, lambda: got[0]["pattern_id"] in keys(table(app, "patterns")))
                assert table(app, "patterns").get_row(got[0]["pattern_id"])[1].plain == "3"

        try:
            asyncio.run(scenario())
        finally:
            assert tail.interrupt() == 0


def test_top_needs_a_terminal(store: str, capsys: pytest.CaptureFixture[str]) -> None:
    from runbrief.cli import main

    assert main(["top", "--store", store]) == 2
    assert "needs a terminal" in capsys.readouterr().err
