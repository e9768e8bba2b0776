"""Tables fit any terminal width without cutting an evidence ID, and print telemetry as
plain text (markup inert, control characters visible); show and stats read for a person."""

from __future__ import annotations

import io
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from rich.console import Console

from runbrief.cli._tables import fitted, plain

OPENSTACK = Path(__file__).parent / "data" / "loghub-2k" / "OpenStack" / "OpenStack_2k.log"
IDS = re.compile(r"\b(?:pat|log|dep|evt|trc|spn|inc)_[0-9a-f]+")


def _print(width: int, *args, **kw) -> str:
    buf = io.StringIO()
    con = Console(file=buf, width=width, highlight=False, color_system=None)
    con.print(fitted(con, *args, **kw))
    return buf.getvalue()


@pytest.mark.parametrize("width", [24, 40, 60, 80, 120, 200])
def test_ids_are_never_cut_at_any_width(width: int) -> None:
    rows = [(931, "steady", "INFO", "2017-05-16T00:00:00.008Z", "nova-api, nova-compute", f"pat_{i:016x}",
             "<*> \"GET <*>\" status: <*> len: <*> time: <*> " * 2, f"log_{i} spn_{i:016x}") for i in range(5)]
    out = _print(width, ["count", "trend", "severity", "first seen", "services", "pattern", "template", "evidence"],
                 rows, drop=["first seen", "services", "trend", "severity"])
    found = set(IDS.findall(out))
    for i in range(5):
        assert {f"pat_{i:016x}", f"log_{i}", f"spn_{i:016x}"} <= found, out
    if width < 120:  # something had to give: columns left out, or one row per block
        assert "left out to fit the terminal" in out or re.search(r"^\s+pattern\s+pat_", out, re.M)


def test_cells_are_plain_text() -> None:
    out = _print(80, ["pattern", "template"], [("pat_1", "GET [/admin] [bold]x[/bold] \x1b[31mred\x1b[0m \u202eevil")])
    assert "[/admin]" in out and "[bold]x[/bold]" in out
    assert "\x1b" not in out and "\\x1b[31m" in out and "\u202e" not in out
    assert plain("a\tb").plain == "a\tb"


def test_cli_tables_keep_ids_on_a_narrow_terminal(tmp_path: Path) -> None:
    env = {**os.environ, "COLUMNS": "40", "RUNBRIEF_STORE": str(tmp_path / "s")}
    run = [sys.executable, "-m", "runbrief"]
    subprocess.run([*run, "ingest", str(OPENSTACK)], env=env, check=True, capture_output=True, timeout=120)
    patterns = subprocess.run([*run, "patterns", "-n", "5"], env=env, capture_output=True, text=True, timeout=60)
    ids = IDS.findall(patterns.stdout)
    assert len(ids) == 5 and all(len(i) == len("pat_") + 16 for i in ids), patterns.stdout
    shown = subprocess.run([*run, "show", ids[0]], env=env, capture_output=True, text=True, timeout=60)
    assert shown.returncode == 0 and not shown.stdout.lstrip().startswith("{")
    assert ids[0] in shown.stdout and "template" in shown.stdout and IDS.search(shown.stdout.split("examples")[1])
    stats = subprocess.run([*run, "stats"], env=env, capture_output=True, text=True, timeout=60)
    assert "2,000" in stats.stdout and "MiB" in stats.stdout
