"""Every command a message or a doc tells the user to run exists, with its options."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import typer

from runbrief.cli import load_commands

ROOT = Path(__file__).parents[1]
HINT = re.compile(r"`runbrief((?: [a-z][a-z0-9-]*)+)((?: [^`]*)?)`")


def _tree() -> Any:
    return typer.main.get_command(load_commands())


def _check(words: list[str], rest: str, root: Any, *, leaf: bool = True) -> str | None:
    cmd = root
    for w in words:
        group = getattr(cmd, "commands", None)
        if group is not None and w in group:
            cmd = group[w]
        elif group is not None:
            return f"no command {w!r} under {cmd.name!r}"
        else:
            break  # an argument of the command
    if leaf and getattr(cmd, "commands", None) and not getattr(cmd, "invoke_without_command", False):
        return f"{cmd.name!r} is a group: name one of its commands ({', '.join(sorted(cmd.commands))})"
    opts = {o for p in cmd.params for o in (*p.opts, *p.secondary_opts)}
    for opt in re.findall(r"(?<![\w-])(--[a-z][a-z0-9-]*)", rest + " " + " ".join(words)):
        if opt not in opts and opt != "--help":
            return f"{cmd.name} has no option {opt}"
    return None


def test_every_hinted_command_exists() -> None:
    root = _tree()
    bad = []
    files = [*sorted((ROOT / "src" / "runbrief").rglob("*.py")), ROOT / "README.md",
             *sorted((ROOT / "docs").glob("*.md")), *sorted((ROOT / "src" / "runbrief").rglob("*.md"))]
    for f in files:
        for m in HINT.finditer(f.read_text(encoding="utf-8")):
            # the reference (docs/cli.md) has a heading per group; a hint names a command to run
            problem = _check(m.group(1).split(), m.group(2), root, leaf=f.name != "cli.md")
            if problem:
                bad.append(f"{f.relative_to(ROOT)}: `runbrief{m.group(1)}{m.group(2)}`: {problem}")
    assert not bad, "\n".join(bad)
